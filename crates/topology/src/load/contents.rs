//! What a file is, from its first bytes: a folder, a gzip, bzip2 or tar archive, XML with its
//! root element, TOML, other text, or binary data. The loaders use it to recognise a format
//! ([`Format::detect`]) and to refuse a file of another kind than the one asked for with what it
//! is and which format reads it ([`LoadError::WrongKind`]), rather than with the complaint of a
//! parser that was never meant for it (a tar checksum error quoting an XML file).

use std::fmt;
use std::io::Read as _;
use std::path::Path;

use super::{Format, LoadError};

/// How many bytes of a file are looked at.
const HEAD: u64 = 4096;

/// What a file is.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Contents {
    /// A folder.
    Folder,
    /// gzip-compressed data (magic `1f 8b`).
    Gzip,
    /// bzip2-compressed data (magic `BZh`).
    Bzip2,
    /// A tar archive (`ustar` at offset 257).
    Tar,
    /// XML, with the name of its root element.
    Xml(String),
    /// TOML: its first line that is neither blank nor a comment is a `[table]` header or a
    /// `key = value` pair.
    Toml,
    /// UTF-8 text that is none of the above.
    Text,
    /// Bytes that are none of the above and not UTF-8 text.
    Binary,
    /// A file with nothing in it.
    Empty,
}

impl Contents {
    /// Looks at a path: a folder, or the first bytes of a file.
    pub fn of_path(path: &Path) -> Result<Contents, LoadError> {
        let io = |e| LoadError::Io {
            path: path.display().to_string(),
            source: e,
        };
        if super::kind_of_path(path)?.is_dir() {
            return Ok(Contents::Folder);
        }
        let mut head = Vec::new();
        super::source::open_regular(path, true)
            .map_err(io)?
            .take(HEAD)
            .read_to_end(&mut head)
            .map_err(io)?;
        Ok(Contents::of_bytes(&head))
    }

    /// Looks at the first bytes of a file (4096 are enough).
    pub fn of_bytes(head: &[u8]) -> Contents {
        if head.is_empty() {
            return Contents::Empty;
        }
        if head.starts_with(&[0x1f, 0x8b]) {
            return Contents::Gzip;
        }
        if head.starts_with(b"BZh") {
            return Contents::Bzip2;
        }
        if head.get(257..262) == Some(b"ustar".as_slice()) {
            return Contents::Tar;
        }
        // The head may end inside a multi-byte character.
        let text = match std::str::from_utf8(head) {
            Ok(t) => t,
            Err(e) if e.error_len().is_none() => {
                std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or_default()
            }
            Err(_) => return Contents::Binary,
        };
        if let Some(root) = first_element(text) {
            return Contents::Xml(root);
        }
        if looks_like_toml(text) {
            Contents::Toml
        } else {
            Contents::Text
        }
    }

    /// The format that reads such a file, if any.
    pub fn format(&self) -> Option<Format> {
        match self {
            Contents::Folder | Contents::Gzip | Contents::Bzip2 | Contents::Tar => {
                Some(Format::Sysfs)
            }
            Contents::Xml(root) if root == "topology" => Some(Format::HwlocXml),
            Contents::Xml(root) if root == "system" => Some(Format::NcclXml),
            Contents::Toml => Some(Format::Toml),
            Contents::Xml(_) | Contents::Text | Contents::Binary | Contents::Empty => None,
        }
    }

    /// Whether `format` can read such a file, or at least should try and say where it fails: a
    /// sysfs tree is a folder or an archive (and a binary file may be an old tar without the
    /// `ustar` mark); the XML formats need XML, and the other's root element is refused here;
    /// TOML takes any text, so that its parser can point at the line.
    pub fn suits(&self, format: Format) -> bool {
        match format {
            Format::Sysfs => matches!(
                self,
                Contents::Folder
                    | Contents::Gzip
                    | Contents::Bzip2
                    | Contents::Tar
                    | Contents::Binary
            ),
            Format::HwlocXml => matches!(self, Contents::Xml(r) if r != "system"),
            Format::NcclXml => matches!(self, Contents::Xml(r) if r != "topology"),
            Format::Toml => matches!(self, Contents::Toml | Contents::Text | Contents::Empty),
        }
    }
}

impl fmt::Display for Contents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Contents::Folder => f.write_str("a folder"),
            Contents::Gzip => f.write_str("a gzip-compressed file"),
            Contents::Bzip2 => f.write_str("a bzip2-compressed file"),
            Contents::Tar => f.write_str("a tar archive"),
            Contents::Xml(root) if root == "topology" => {
                f.write_str("an hwloc XML export (root element <topology>)")
            }
            Contents::Xml(root) if root == "system" => {
                f.write_str("an NCCL topology file (root element <system>)")
            }
            Contents::Xml(root) => write!(f, "an XML file with root element <{root}>"),
            Contents::Toml => f.write_str("a TOML file"),
            Contents::Text => f.write_str("a text file that is neither XML nor TOML"),
            Contents::Binary => f.write_str("binary data of no known kind"),
            Contents::Empty => f.write_str("an empty file"),
        }
    }
}

impl Format {
    /// What a source of this format is, for error messages.
    pub const fn describe(self) -> &'static str {
        match self {
            Format::Sysfs => {
                "a sysfs tree: a folder, or a .tar, .tar.gz or .tar.bz2 archive of one"
            }
            Format::HwlocXml => "an hwloc XML export (root element <topology>)",
            Format::NcclXml => "an NCCL topology file (root element <system>)",
            Format::Toml => "a TOML machine description",
        }
    }
}

/// Refuses a path whose contents `format` cannot read, saying what it is and which format
/// would read it.
pub fn check(path: &Path, format: Format) -> Result<(), LoadError> {
    let contents = Contents::of_path(path)?;
    if contents.suits(format) {
        return Ok(());
    }
    Err(LoadError::WrongKind {
        path: path.display().to_string(),
        expected: format.describe().to_owned(),
        detected: contents.format(),
        found: contents.to_string(),
    })
}

/// The name of the first element of an XML text, skipping the declaration, comments and the
/// document type; `None` if the text does not start like XML.
fn first_element(text: &str) -> Option<String> {
    let mut t = text.trim_start_matches('\u{feff}').trim_start();
    loop {
        let rest = t.strip_prefix('<')?;
        if let Some(r) = rest.strip_prefix("!--") {
            t = r.split_once("-->")?.1.trim_start();
        } else if rest.starts_with('?') || rest.starts_with('!') {
            t = rest.split_once('>')?.1.trim_start();
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '>' && *c != '/')
                .collect();
            return (!name.is_empty()).then_some(name);
        }
    }
}

/// Whether the first line of `text` that is neither blank nor a comment opens a table
/// (`[name]`, `[[name]]`) or sets a key (`name = `, `"quoted name" =`, `a.b =`).
fn looks_like_toml(text: &str) -> bool {
    let Some(line) = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
    else {
        // Only comments: TOML's parser takes it (and says what is missing).
        return true;
    };
    if line.starts_with('[') {
        return line.contains(']');
    }
    let Some((key, _)) = line.split_once('=') else {
        return false;
    };
    let key = key.trim();
    !key.is_empty()
        && key.split('.').all(|part| {
            let part = part.trim();
            let quoted = part.len() >= 2
                && ((part.starts_with('"') && part.ends_with('"'))
                    || (part.starts_with('\'') && part.ends_with('\'')));
            quoted
                || (!part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_from_the_first_bytes() {
        assert_eq!(Contents::of_bytes(&[0x1f, 0x8b, 8, 0]), Contents::Gzip);
        assert_eq!(Contents::of_bytes(b"BZh91AY&SY"), Contents::Bzip2);
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(Contents::of_bytes(&tar), Contents::Tar);
        assert_eq!(
            Contents::of_bytes(
                b"<?xml version=\"1.0\"?>\n<!DOCTYPE topology SYSTEM \"hwloc2.dtd\">\n<topology version=\"3.0\">"
            ),
            Contents::Xml("topology".into())
        );
        assert_eq!(
            Contents::of_bytes(b"<!-- dump -->\n<system version=\"1\">"),
            Contents::Xml("system".into())
        );
        assert_eq!(
            Contents::of_bytes(b"# a machine\n\nformat = 1\n"),
            Contents::Toml
        );
        assert_eq!(
            Contents::of_bytes(b"[[function]]\nbdf = 1\n"),
            Contents::Toml
        );
        assert_eq!(Contents::of_bytes(b"machine.cpu = \"x\"\n"), Contents::Toml);
        assert_eq!(
            Contents::of_bytes(b"root:x:0:0:root:/root:/bin/bash\n"),
            Contents::Text
        );
        assert_eq!(Contents::of_bytes(b"import os\n"), Contents::Text);
        assert_eq!(
            Contents::of_bytes(&[0xff, 0xfe, 0x00, 0x01]),
            Contents::Binary
        );
        assert_eq!(Contents::of_bytes(b""), Contents::Empty);
        // A head cut inside a character is still text.
        assert_eq!(Contents::of_bytes("é = 1 é".as_bytes()), Contents::Text);
        assert_eq!(
            Contents::of_bytes(&"x = \"é\"".as_bytes()[..6]),
            Contents::Toml
        );
    }

    #[test]
    fn which_format_suits_what() {
        let hwloc = Contents::Xml("topology".into());
        let nccl = Contents::Xml("system".into());
        assert!(Contents::Gzip.suits(Format::Sysfs) && !hwloc.suits(Format::Sysfs));
        assert!(!Contents::Text.suits(Format::Sysfs) && !Contents::Toml.suits(Format::Sysfs));
        assert!(hwloc.suits(Format::HwlocXml) && !nccl.suits(Format::HwlocXml));
        assert!(nccl.suits(Format::NcclXml) && !hwloc.suits(Format::NcclXml));
        assert!(!Contents::Text.suits(Format::HwlocXml));
        assert!(Contents::Text.suits(Format::Toml) && !hwloc.suits(Format::Toml));
        assert!(!Contents::Gzip.suits(Format::Toml) && !Contents::Folder.suits(Format::Toml));
        assert_eq!(hwloc.format(), Some(Format::HwlocXml));
        assert_eq!(Contents::Bzip2.format(), Some(Format::Sysfs));
        assert_eq!(Contents::Text.format(), None);
    }
}
