//! Loaders: sources turned into a [`crate::Machine`] through the
//! [`MachineBuilder`](crate::MachineBuilder). Nothing past a loader knows which source a machine
//! came from.
//!
//! - [`sysfs`]: a live root (`/`), a snapshot folder, or a `.tar`/`.tar.gz`/`.tar.bz2` archive
//!   holding `sys/` and `proc/`, at its top or in one top folder ([`load_sysfs`] picks by what
//!   the path is). A source without PCI functions is refused ([`LoadError::NoPci`]), by every
//!   loader alike, saying how to get one with them.
//! - [`hwloc`]: hwloc XML (`lstopo --of xml`), [`load_hwloc_xml`].
//! - [`nccl`]: NCCL topology XML (`NCCL_TOPO_DUMP_FILE`), [`load_nccl_xml`].
//! - [`toml`]: the project's own machine description, [`load_toml`]; [`to_toml`] writes any
//!   machine in it.
//! - [`snapshot`]: saves a sysfs tree (this machine's `/`) as an archive that [`load_sysfs`]
//!   reads back into the same machine.
//! - [`load`] takes any of them, recognising the format from the path and the contents
//!   ([`Format::detect`]), or as told ([`load_as`]).
//!
//! Errors name the file (for archives: `archive:top/path`) and what was expected; for the text
//! formats also the line and column.

pub mod contents;
pub mod hwloc;
pub mod nccl;
pub mod snapshot;
pub mod source;
pub mod sysfs;
pub mod toml;
pub mod toml_writer;

mod cpuset;
mod links;
mod xml;

use std::fmt;
use std::path::Path;

pub use self::toml::{load_toml, parse_toml};
pub use contents::Contents;
pub use hwloc::{load_hwloc_xml, parse_hwloc_xml, parse_hwloc_xml_with_warnings};
pub use nccl::{load_nccl_xml, parse_nccl_xml, parse_nccl_xml_with_warnings};
pub use source::{ArchiveSource, DirSource, EntryKind, Source};
pub use sysfs::load_from_source;
pub use toml_writer::to_toml;

use crate::limits::{self, SizeLimit};
use crate::machine::{BuildError, Machine};

/// Why a source could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Reading failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file's contents are not what the format requires.
    #[error("{path}: expected {expected}, found {found}")]
    Malformed {
        /// The file.
        path: String,
        /// What was expected.
        expected: String,
        /// What was there (quoted, shortened).
        found: String,
    },
    /// A file's contents are not what the format requires, at a known place in it.
    #[error("{path}:{line}:{column}: expected {expected}, found {found}")]
    MalformedAt {
        /// The file.
        path: String,
        /// Line, from 1.
        line: usize,
        /// Column, from 1, in characters.
        column: usize,
        /// What was expected.
        expected: String,
        /// What was there (quoted, shortened).
        found: String,
    },
    /// A parser rejected the file at a known place; its message says what it expected.
    #[error("{path}:{line}:{column}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// Line, from 1.
        line: usize,
        /// Column, from 1, in characters.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// A required file or folder is missing.
    #[error("{path}: missing; expected {expected}")]
    Missing {
        /// The path.
        path: String,
        /// What was expected there.
        expected: String,
    },
    /// A chain of symlinks that does not end (a cycle).
    #[error("{path}: symlink cycle (more than 40 links followed)")]
    SymlinkLoop {
        /// Where resolution started.
        path: String,
    },
    /// The archive itself is unusable.
    #[error("{path}: {message}")]
    Archive {
        /// The archive.
        path: String,
        /// What was wrong, with what was expected.
        message: String,
    },
    /// An input larger than one of the [`crate::limits`].
    #[error("{path}: larger than {}, the limit for {}", limit.size(), limit.what)]
    TooLarge {
        /// The file (for archives: `archive:top/path`).
        path: String,
        /// The limit it reached.
        limit: SizeLimit,
    },
    /// The file is of another kind than the format asked for (an hwloc XML export given as a
    /// sysfs snapshot), found by its first bytes ([`Contents`]).
    #[error("{path}: expected {expected}, found {found}")]
    WrongKind {
        /// The file.
        path: String,
        /// What the format reads.
        expected: String,
        /// What the file is.
        found: String,
        /// The format that reads such a file, if any.
        detected: Option<Format>,
    },
    /// The source holds no PCI function at all, so there is nothing to answer about: every
    /// loader refuses such a source the same way, saying how to get one that has them.
    #[error("{path}: no PCI functions in it; {hint}")]
    NoPci {
        /// The source.
        path: String,
        /// Why there are none, as far as the source tells, and how to get a source with them.
        hint: String,
    },
    /// The data was read but does not form a consistent machine.
    #[error("{path}: inconsistent machine: {source}")]
    Build {
        /// The source.
        path: String,
        /// The model error.
        #[source]
        source: BuildError,
    },
}

pub use crate::limits::MAX_HOST_BRIDGES;

/// Refuses a machine without PCI functions ([`LoadError::NoPci`]), with the loader's `hint`.
pub(crate) fn require_pci(machine: Machine, path: &str, hint: &str) -> Result<Machine, LoadError> {
    if machine.functions().is_empty() {
        Err(LoadError::NoPci {
            path: path.to_owned(),
            hint: hint.to_owned(),
        })
    } else {
        Ok(machine)
    }
}

/// Something a loader left out of the machine, or could not represent as the file says it,
/// with where it is in the file. Loading still succeeds; the CLI shows these.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct LoadWarning {
    /// The file.
    pub path: String,
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1, in characters.
    pub column: usize,
    /// What was left out, and why.
    pub message: String,
}

impl fmt::Display for LoadWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.path, self.line, self.column, self.message
        )
    }
}

/// Loads a sysfs tree from a folder (the live root `/`, or an extracted snapshot) or from an
/// archive file (`.tar`, `.tar.gz`, `.tar.bz2`, recognised by content).
pub fn load_sysfs(path: impl AsRef<Path>) -> Result<Machine, LoadError> {
    let path = path.as_ref();
    if kind_of_path(path)?.is_dir() {
        load_from_source(&DirSource::new(path))
    } else {
        load_from_source(&ArchiveSource::open(path)?)
    }
}

/// What a path names (links followed): a folder or a regular file; anything else (a named pipe,
/// `/dev/zero`) is an error, so that nothing waits on it or reads it without end.
fn kind_of_path(path: &Path) -> Result<std::fs::FileType, LoadError> {
    let meta = std::fs::metadata(path).map_err(|e| LoadError::Io {
        path: path.display().to_string(),
        source: e,
    })?;
    let t = meta.file_type();
    if t.is_dir() || t.is_file() {
        Ok(t)
    } else {
        Err(LoadError::Malformed {
            path: path.display().to_string(),
            expected: "a file or a folder".into(),
            found: source::special_kind(&t).into(),
        })
    }
}

/// Loads the running machine (`/`).
pub fn load_live() -> Result<Machine, LoadError> {
    load_from_source(&DirSource::new("/"))
}

/// The kinds of source a machine can be loaded from.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Format {
    /// A sysfs tree: a folder holding `sys/` (the live root, an extracted snapshot), or a
    /// `.tar`, `.tar.gz` or `.tar.bz2` archive of one.
    Sysfs,
    /// hwloc XML (`lstopo --of xml`).
    HwlocXml,
    /// NCCL topology XML (`<system version="1">`).
    NcclXml,
    /// The project's TOML machine description.
    Toml,
}

impl Format {
    /// All formats.
    pub const ALL: [Format; 4] = [
        Format::Sysfs,
        Format::HwlocXml,
        Format::NcclXml,
        Format::Toml,
    ];

    /// `sysfs`, `hwloc`, `nccl` or `toml`.
    pub const fn name(self) -> &'static str {
        match self {
            Format::Sysfs => "sysfs",
            Format::HwlocXml => "hwloc",
            Format::NcclXml => "nccl",
            Format::Toml => "toml",
        }
    }

    /// The format named `sysfs`, `hwloc`, `nccl` or `toml`.
    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Recognises the format of a path: a folder is a sysfs tree; a file starting with a
    /// gzip, bzip2 or tar header is a sysfs archive; an XML file is hwloc's if its root
    /// element is `<topology>`, NCCL's if it is `<system>`; anything else is TOML (see
    /// [`Contents`]).
    pub fn detect(path: impl AsRef<Path>) -> Result<Format, LoadError> {
        Ok(Contents::of_path(path.as_ref())?
            .format()
            .unwrap_or(Format::Toml))
    }

    /// Recognises the format from the first bytes of a file (see [`Format::detect`]).
    pub fn detect_bytes(head: &[u8]) -> Format {
        Contents::of_bytes(head).format().unwrap_or(Format::Toml)
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A loaded machine, the format it was read as, and what the loader left out.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The machine.
    pub machine: Machine,
    /// The format it was read as.
    pub format: Format,
    /// What the loader left out or could not represent (see [`LoadWarning`]).
    pub warnings: Vec<LoadWarning>,
}

/// The single entry point for any source: loads `path` as `format`, or as the format
/// [`Format::detect`] recognises when `format` is `None`, with the loader's warnings. A file
/// that is plainly of another kind than `format` reads (an XML export given as a sysfs
/// archive) is refused with what it is ([`LoadError::WrongKind`]).
pub fn open(path: impl AsRef<Path>, format: Option<Format>) -> Result<Loaded, LoadError> {
    let path = path.as_ref();
    let format = match format {
        Some(f) => {
            contents::check(path, f)?;
            f
        }
        None => Format::detect(path)?,
    };
    let (machine, warnings) = match format {
        Format::Sysfs => (load_sysfs(path)?, Vec::new()),
        Format::HwlocXml => {
            let text = read_text(path)?;
            parse_hwloc_xml_with_warnings(&path.display().to_string(), &text)?
        }
        Format::NcclXml => {
            let text = read_text(path)?;
            parse_nccl_xml_with_warnings(&path.display().to_string(), &text)?
        }
        Format::Toml => (load_toml(path)?, Vec::new()),
    };
    Ok(Loaded {
        machine,
        format,
        warnings,
    })
}

/// Loads a machine from any source, recognising its [`Format`] ([`Format::detect`]); warnings
/// are dropped (use [`open`] to see them).
pub fn load(path: impl AsRef<Path>) -> Result<Machine, LoadError> {
    open(path, None).map(|l| l.machine)
}

/// Loads a machine from a source of a given format; warnings are dropped (use [`open`] to see
/// them).
pub fn load_as(path: impl AsRef<Path>, format: Format) -> Result<Machine, LoadError> {
    open(path, Some(format)).map(|l| l.machine)
}

/// Reads a machine from text in one of the text formats (hwloc XML, NCCL XML, TOML; e.g. from
/// standard input); `name` names it in errors. A sysfs tree is not text: it is an error.
pub fn parse_as(name: &str, text: &str, format: Format) -> Result<Machine, LoadError> {
    match format {
        Format::Sysfs => Err(LoadError::Malformed {
            path: name.to_owned(),
            expected: "a folder or an archive for a sysfs tree".into(),
            found: "text".into(),
        }),
        Format::HwlocXml => parse_hwloc_xml(name, text),
        Format::NcclXml => parse_nccl_xml(name, text),
        Format::Toml => parse_toml(name, text),
    }
}

/// A hexadecimal number as sysfs and NCCL write them: `0x15b3`, `0X15B3` or `15b3`, at most 16
/// digits; `None` if the text is not one.
pub(crate) fn parse_hex(t: &str) -> Option<u64> {
    let t = t.trim();
    let d = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    if d.is_empty() || d.len() > 16 || !d.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(d, 16).ok()
}

/// Reads a regular file whole (a link to one is followed), at most `limit`: a named pipe or a
/// device is an error, not a wait or an endless read, and so is a larger file
/// ([`LoadError::TooLarge`]).
pub fn read_file(path: &Path, limit: &SizeLimit) -> Result<Vec<u8>, LoadError> {
    let io = |e| LoadError::Io {
        path: path.display().to_string(),
        source: e,
    };
    let file = source::open_regular(path, true).map_err(io)?;
    source::read_capped(file, limit, || path.display().to_string())?.map_err(io)
}

/// Reads a text file whole, within [`limits::MACHINE_FILE`]: an I/O error names the file, and
/// bytes that are not UTF-8 are an error at their line and column.
pub(crate) fn read_text(path: &Path) -> Result<String, LoadError> {
    let bytes = read_file(path, &limits::MACHINE_FILE)?;
    String::from_utf8(bytes).map_err(|e| {
        let good = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let text = String::from_utf8_lossy(&bytes[..good]);
        let (line, column) = line_column(&text, good);
        LoadError::MalformedAt {
            path: path.display().to_string(),
            line,
            column,
            expected: "UTF-8 text".into(),
            found: format!("the byte {:#04x}", bytes.get(good).copied().unwrap_or(0)),
        }
    })
}

/// Line and column (both from 1; the column in characters) of byte offset `pos` in `text`. An
/// offset past the end is the position just after the last character.
pub(crate) fn line_column(text: &str, pos: usize) -> (usize, usize) {
    let mut pos = pos.min(text.len());
    while !text.is_char_boundary(pos) {
        pos -= 1;
    }
    let before = &text[..pos];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Shortens a value for an error message.
pub(crate) fn quote(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    let s = s.trim();
    if s.chars().count() > 40 {
        let short: String = s.chars().take(40).collect();
        format!("{short:?}...")
    } else {
        format!("{s:?}")
    }
}
