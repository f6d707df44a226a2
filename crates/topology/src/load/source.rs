//! Where a sysfs tree is read from: a live root or snapshot folder ([`DirSource`]), or an
//! archive read into memory ([`ArchiveSource`]). The sysfs loader only sees the [`Source`] trait,
//! so it reads all three the same way, symlinks included.
//!
//! Paths are relative to the root (`sys/bus/pci/devices`), `/`-separated, without `.` or `..`.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::LoadError;

/// What a path is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (not followed).
    Symlink,
}

/// A tree holding `sys/` and `proc/`.
pub trait Source {
    /// What `path` is, without following a final symlink; `None` if it does not exist.
    fn kind(&self, path: &str) -> Result<Option<EntryKind>, LoadError>;
    /// The contents of a regular file; `None` if it does not exist.
    fn read(&self, path: &str) -> Result<Option<Vec<u8>>, LoadError>;
    /// The target of a symlink, as stored; `None` if `path` is not a symlink.
    fn read_link(&self, path: &str) -> Result<Option<String>, LoadError>;
    /// The names in a directory, sorted; `None` if it does not exist.
    fn list(&self, path: &str) -> Result<Option<Vec<String>>, LoadError>;
    /// How to name `path` in an error message.
    fn display(&self, path: &str) -> String;

    /// Resolves every symlink in `path` (which must not need the final component followed if
    /// `follow_last` is false), giving a canonical path. A chain of more than 40 links is an
    /// error (a cycle), as is a link that leaves the root.
    fn resolve(&self, path: &str, follow_last: bool) -> Result<String, LoadError> {
        let mut todo: Vec<String> = path
            .split('/')
            .filter(|c| !c.is_empty())
            .rev()
            .map(str::to_owned)
            .collect();
        let mut done: Vec<String> = Vec::new();
        let mut links = 0u32;
        while let Some(comp) = todo.pop() {
            match comp.as_str() {
                "." => continue,
                ".." => {
                    if done.pop().is_none() {
                        return Err(LoadError::Malformed {
                            path: self.display(path),
                            expected: "a link that stays inside the tree".into(),
                            found: "a link above the root".into(),
                        });
                    }
                    continue;
                }
                _ => {}
            }
            done.push(comp);
            let is_last = todo.is_empty();
            if is_last && !follow_last {
                break;
            }
            let here = done.join("/");
            if self.kind(&here)? == Some(EntryKind::Symlink) {
                links += 1;
                if links > 40 {
                    return Err(LoadError::SymlinkLoop {
                        path: self.display(path),
                    });
                }
                let target = self.read_link(&here)?.unwrap_or_default();
                done.pop();
                if target.starts_with('/') {
                    done.clear();
                }
                todo.extend(
                    target
                        .split('/')
                        .filter(|c| !c.is_empty())
                        .rev()
                        .map(str::to_owned),
                );
            }
        }
        Ok(done.join("/"))
    }
}

/// A directory on disk: the live root `/` or an extracted snapshot.
#[derive(Clone, Debug)]
pub struct DirSource {
    root: PathBuf,
}

impl DirSource {
    /// A tree rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn full(&self, path: &str) -> PathBuf {
        if path.is_empty() {
            self.root.clone()
        } else {
            self.root.join(path)
        }
    }

    fn io(&self, path: &str, e: std::io::Error) -> LoadError {
        LoadError::Io {
            path: self.display(path),
            source: e,
        }
    }
}

fn not_found(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
    )
}

impl Source for DirSource {
    fn kind(&self, path: &str) -> Result<Option<EntryKind>, LoadError> {
        match std::fs::symlink_metadata(self.full(path)) {
            Ok(m) if m.file_type().is_symlink() => Ok(Some(EntryKind::Symlink)),
            Ok(m) if m.is_dir() => Ok(Some(EntryKind::Dir)),
            Ok(_) => Ok(Some(EntryKind::File)),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(self.io(path, e)),
        }
    }

    fn read(&self, path: &str) -> Result<Option<Vec<u8>>, LoadError> {
        match std::fs::read(self.full(path)) {
            Ok(v) => Ok(Some(v)),
            Err(e) if not_found(&e) => Ok(None),
            // Live sysfs: some attributes exist but cannot be read (EIO, EINVAL, EACCES).
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(5) | Some(13) | Some(22) | Some(19) | Some(1)
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(self.io(path, e)),
        }
    }

    fn read_link(&self, path: &str) -> Result<Option<String>, LoadError> {
        match std::fs::read_link(self.full(path)) {
            Ok(t) => Ok(Some(t.to_string_lossy().into_owned())),
            Err(e) if not_found(&e) || e.kind() == std::io::ErrorKind::InvalidInput => Ok(None),
            Err(e) => Err(self.io(path, e)),
        }
    }

    fn list(&self, path: &str) -> Result<Option<Vec<String>>, LoadError> {
        let rd = match std::fs::read_dir(self.full(path)) {
            Ok(rd) => rd,
            Err(e) if not_found(&e) => return Ok(None),
            Err(e) => return Err(self.io(path, e)),
        };
        let mut names = Vec::new();
        for ent in rd {
            let ent = ent.map_err(|e| self.io(path, e))?;
            names.push(ent.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(Some(names))
    }

    fn display(&self, path: &str) -> String {
        self.full(path).display().to_string()
    }
}

#[derive(Clone, Debug)]
enum Node {
    File(Vec<u8>),
    Dir(Vec<String>),
    Symlink(String),
}

/// A `.tar`, `.tar.gz` or `.tar.bz2` archive (detected by content) holding `sys/` and `proc/`,
/// either at its top (as ghw's snapshots do) or in one top folder (as `hwloc-gather-topology`
/// and `dmabuf-ic snapshot` write them), read into memory with its symlinks.
#[derive(Clone, Debug)]
pub struct ArchiveSource {
    name: String,
    top: String,
    nodes: HashMap<String, Node>,
}

impl ArchiveSource {
    /// Reads an archive file.
    pub fn open(path: &Path) -> Result<Self, LoadError> {
        let bytes = std::fs::read(path).map_err(|e| LoadError::Io {
            path: path.display().to_string(),
            source: e,
        })?;
        Self::from_bytes(&path.display().to_string(), &bytes)
    }

    /// Reads an archive from memory; `name` names it in errors.
    pub fn from_bytes(name: &str, bytes: &[u8]) -> Result<Self, LoadError> {
        let err = |message: String| LoadError::Archive {
            path: name.to_owned(),
            message,
        };
        let mut raw = Vec::new();
        if bytes.starts_with(&[0x1f, 0x8b]) {
            flate2::read::MultiGzDecoder::new(bytes)
                .read_to_end(&mut raw)
                .map_err(|e| err(format!("expected gzip data: {e}")))?;
        } else if bytes.starts_with(b"BZh") {
            bzip2::read::MultiBzDecoder::new(bytes)
                .read_to_end(&mut raw)
                .map_err(|e| err(format!("expected bzip2 data: {e}")))?;
        } else {
            raw = bytes.to_vec();
        }
        let mut archive = tar::Archive::new(raw.as_slice());
        let entries = archive
            .entries()
            .map_err(|e| err(format!("expected a tar archive: {e}")))?;
        let mut files: Vec<(String, Node)> = Vec::new();
        let mut hardlinks: Vec<(String, String)> = Vec::new();
        // The first component of every entry, in order of appearance.
        let mut tops: Vec<String> = Vec::new();
        for entry in entries {
            let mut entry = entry.map_err(|e| err(format!("expected a tar entry: {e}")))?;
            let path = entry
                .path()
                .map_err(|e| err(format!("expected a valid entry name: {e}")))?;
            let path = normalize(&path.to_string_lossy());
            if path.is_empty() {
                continue;
            }
            let first = path.split_once('/').map_or(path.as_str(), |(f, _)| f);
            if !tops.iter().any(|t| t == first) {
                tops.push(first.to_owned());
            }
            let ty = entry.header().entry_type();
            let link = || -> Result<String, LoadError> {
                Ok(entry
                    .link_name()
                    .map_err(|e| err(format!("expected a link target in {path}: {e}")))?
                    .map(|l| l.to_string_lossy().into_owned())
                    .unwrap_or_default())
            };
            if ty.is_symlink() {
                let t = link()?;
                files.push((path, Node::Symlink(t)));
            } else if ty.is_hard_link() {
                let t = normalize(&link()?);
                hardlinks.push((path, t));
            } else if ty.is_dir() {
                files.push((path, Node::Dir(Vec::new())));
            } else if ty.is_file() || ty == tar::EntryType::Continuous {
                let mut data = Vec::new();
                entry
                    .read_to_end(&mut data)
                    .map_err(|e| err(format!("expected readable data for {path}: {e}")))?;
                files.push((path, Node::File(data)));
            }
        }
        // `sys/` and `proc/` at the top (ghw's snapshots), or one top folder holding them.
        let top = if tops.iter().any(|t| t == "sys") {
            String::new()
        } else {
            match tops.as_slice() {
                [] => {
                    return Err(err(
                        "expected sys/ and proc/, or one top folder holding them, found an empty \
                         archive"
                            .into(),
                    ));
                }
                [t] => t.clone(),
                [a, b, ..] => {
                    return Err(err(format!(
                        "expected sys/ and proc/, or one top folder holding them, found `{a}` and \
                         `{b}` at the top"
                    )));
                }
            }
        };
        let prefix = if top.is_empty() {
            String::new()
        } else {
            format!("{top}/")
        };
        let strip = |p: &str| -> Option<String> {
            if top.is_empty() {
                Some(p.to_owned())
            } else if p == top {
                Some(String::new())
            } else {
                p.strip_prefix(&prefix).map(str::to_owned)
            }
        };
        let mut nodes: HashMap<String, Node> = HashMap::with_capacity(files.len() * 2);
        nodes.insert(String::new(), Node::Dir(Vec::new()));
        for (p, n) in files {
            match strip(&p) {
                Some(rest) if rest.is_empty() && matches!(n, Node::Dir(_)) => {}
                Some(rest) if rest.is_empty() => {
                    return Err(err(format!(
                        "expected one top folder holding sys/ and proc/, found the file `{p}` \
                         at the top"
                    )));
                }
                Some(rest) => {
                    nodes.insert(rest, n);
                }
                None => {}
            }
        }
        for (p, target) in hardlinks {
            let Some(p) = strip(&p).filter(|p| !p.is_empty()) else {
                continue;
            };
            let t = target.strip_prefix(&prefix).unwrap_or(&target).to_owned();
            let data = match nodes.get(&t) {
                Some(Node::File(d)) => d.clone(),
                _ => {
                    return Err(err(format!(
                        "expected hard link {p} to name a file in the archive, found `{target}`"
                    )));
                }
            };
            nodes.insert(p, Node::File(data));
        }
        // Directory listings, including folders only implied by their contents.
        let paths: Vec<String> = nodes.keys().filter(|p| !p.is_empty()).cloned().collect();
        let mut children: HashMap<String, Vec<String>> = HashMap::new();
        for p in paths {
            let mut cur = p.as_str();
            loop {
                let (parent, name) = match cur.rsplit_once('/') {
                    Some((a, b)) => (a, b),
                    None => ("", cur),
                };
                let list = children.entry(parent.to_owned()).or_default();
                let fresh = !list.iter().any(|x| x == name);
                if fresh {
                    list.push(name.to_owned());
                }
                if parent.is_empty() || !fresh {
                    break;
                }
                cur = parent;
            }
        }
        for (dir, mut names) in children {
            names.sort();
            match nodes.get_mut(&dir) {
                Some(Node::Dir(list)) => *list = names,
                Some(_) => {
                    return Err(err(format!(
                        "expected {dir} to be a folder, found a file or link with entries below it"
                    )));
                }
                None => {
                    nodes.insert(dir, Node::Dir(names));
                }
            }
        }
        if !matches!(nodes.get("sys"), Some(Node::Dir(_))) {
            return Err(err(format!(
                "expected the top folder `{top}` to hold sys/ (and proc/), or sys/ and proc/ at the \
                 top"
            )));
        }
        Ok(Self {
            name: name.to_owned(),
            top,
            nodes,
        })
    }

    /// The name of the archive's top folder; empty when `sys/` and `proc/` are at the top.
    pub fn top_folder(&self) -> &str {
        &self.top
    }

    /// The contents of a file anywhere in the archive (such as a snapshot's `verdicts`).
    pub fn file(&self, path: &str) -> Option<&[u8]> {
        match self.nodes.get(path) {
            Some(Node::File(d)) => Some(d),
            _ => None,
        }
    }
}

fn normalize(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out.join("/")
}

impl Source for ArchiveSource {
    fn kind(&self, path: &str) -> Result<Option<EntryKind>, LoadError> {
        Ok(self.nodes.get(path).map(|n| match n {
            Node::File(_) => EntryKind::File,
            Node::Dir(_) => EntryKind::Dir,
            Node::Symlink(_) => EntryKind::Symlink,
        }))
    }

    fn read(&self, path: &str) -> Result<Option<Vec<u8>>, LoadError> {
        match self.nodes.get(path) {
            Some(Node::File(d)) => Ok(Some(d.clone())),
            Some(Node::Symlink(_)) => {
                let real = self.resolve(path, true)?;
                match self.nodes.get(&real) {
                    Some(Node::File(d)) => Ok(Some(d.clone())),
                    _ => Ok(None),
                }
            }
            _ => Ok(None),
        }
    }

    fn read_link(&self, path: &str) -> Result<Option<String>, LoadError> {
        Ok(match self.nodes.get(path) {
            Some(Node::Symlink(t)) => Some(t.clone()),
            _ => None,
        })
    }

    fn list(&self, path: &str) -> Result<Option<Vec<String>>, LoadError> {
        match self.nodes.get(path) {
            Some(Node::Dir(l)) => Ok(Some(l.clone())),
            Some(Node::Symlink(_)) => {
                let real = self.resolve(path, true)?;
                Ok(match self.nodes.get(&real) {
                    Some(Node::Dir(l)) => Some(l.clone()),
                    _ => None,
                })
            }
            _ => Ok(None),
        }
    }

    fn display(&self, path: &str) -> String {
        match (self.top.is_empty(), path.is_empty()) {
            (true, true) => self.name.clone(),
            (true, false) => format!("{}:{path}", self.name),
            (false, true) => format!("{}:{}", self.name, self.top),
            (false, false) => format!("{}:{}/{path}", self.name, self.top),
        }
    }
}
