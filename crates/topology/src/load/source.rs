//! Where a sysfs tree is read from: a live root or snapshot folder ([`DirSource`]), or an
//! archive read into memory ([`ArchiveSource`]). The sysfs loader only sees the [`Source`] trait,
//! so it reads all three the same way, symlinks included.
//!
//! Paths are relative to the root (`sys/bus/pci/devices`), `/`-separated. Both sources keep
//! every read inside the tree: symlinks are resolved by [`Source::resolve`] as if the tree's
//! root were `/` (an absolute target starts again at the root, `..` above the root is an
//! error), never by the operating system, so a link to `/etc/passwd` or to `/` names a path of
//! the tree, not of the host. Only regular files are read (a FIFO or `/dev/zero` in a folder
//! is an error, not a hang), and each read is capped ([`crate::limits`]).

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use super::LoadError;
use crate::limits::{self, SizeLimit};

/// What a path is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (not followed).
    Symlink,
    /// Anything else: a named pipe, a device, a socket. Never read.
    Special,
}

/// A tree holding `sys/` and `proc/`.
pub trait Source {
    /// What `path` is, without following a final symlink; `None` if it does not exist.
    fn kind(&self, path: &str) -> Result<Option<EntryKind>, LoadError>;
    /// The contents of a regular file, at most `limit` bytes (more is
    /// [`LoadError::TooLarge`]; anything but a regular file is an error); `None` if it does not
    /// exist.
    fn read(&self, path: &str, limit: &SizeLimit) -> Result<Option<Vec<u8>>, LoadError>;
    /// The target of a symlink, as stored; `None` if `path` is not a symlink.
    fn read_link(&self, path: &str) -> Result<Option<String>, LoadError>;
    /// The names in a directory, sorted; `None` if it does not exist.
    fn list(&self, path: &str) -> Result<Option<Vec<String>>, LoadError>;
    /// The names in a directory, sorted, asked only to know which names it lacks (so that they
    /// are not looked for one by one), not for the names themselves; `None` if it does not
    /// exist. [`Source::list`] unless a source says otherwise: a snapshot's recording keeps
    /// only the entries then looked at.
    fn list_for_lookups(&self, path: &str) -> Result<Option<Vec<String>>, LoadError> {
        self.list(path)
    }
    /// How to name `path` in an error message.
    fn display(&self, path: &str) -> String;

    /// Resolves every symlink in `path` (but not the final component if `follow_last` is
    /// false) inside the tree, giving a path without links. A chain of more than 40 links is
    /// an error (a cycle), as are a link that leaves the root and a path longer than
    /// [`limits::MAX_PATH_BYTES`].
    fn resolve(&self, path: &str, follow_last: bool) -> Result<String, LoadError> {
        resolve_with(self, path, follow_last, &mut |here: &str| {
            Ok(match self.kind(here)? {
                Some(EntryKind::Symlink) => Some(self.read_link(here)?.unwrap_or_default()),
                _ => None,
            })
        })
    }
}

/// The resolution of [`Source::resolve`], asking `link_target` whether a path (whose parents
/// are all real folders) is a symlink, and to what.
fn resolve_with<S: Source + ?Sized>(
    src: &S,
    path: &str,
    follow_last: bool,
    link_target: &mut dyn FnMut(&str) -> Result<Option<String>, LoadError>,
) -> Result<String, LoadError> {
    let components = |p: &str| -> Vec<String> {
        p.split('/')
            .filter(|c| !c.is_empty())
            .rev()
            .map(str::to_owned)
            .collect()
    };
    let mut todo = components(path);
    // `done` is the resolved path so far; `ends` the length of it before each component.
    let mut done = String::new();
    let mut ends: Vec<usize> = Vec::new();
    let mut links = 0u32;
    while let Some(comp) = todo.pop() {
        match comp.as_str() {
            "." => continue,
            ".." => {
                let Some(end) = ends.pop() else {
                    return Err(LoadError::Malformed {
                        path: src.display(path),
                        expected: "a link that stays inside the tree".into(),
                        found: "a link above the root".into(),
                    });
                };
                done.truncate(end);
                continue;
            }
            _ => {}
        }
        ends.push(done.len());
        if !done.is_empty() {
            done.push('/');
        }
        done.push_str(&comp);
        if done.len() > limits::MAX_PATH_BYTES {
            return Err(LoadError::Malformed {
                path: src.display(path),
                expected: format!(
                    "a path of at most {} bytes once links are resolved (PATH_MAX)",
                    limits::MAX_PATH_BYTES
                ),
                found: "a longer one".into(),
            });
        }
        if todo.is_empty() && !follow_last {
            break;
        }
        if let Some(target) = link_target(&done)? {
            links += 1;
            if links > 40 {
                return Err(LoadError::SymlinkLoop {
                    path: src.display(path),
                });
            }
            let end = ends.pop().unwrap_or(0);
            done.truncate(end);
            if target.starts_with('/') {
                done.clear();
                ends.clear();
            }
            todo.extend(components(&target));
        }
    }
    Ok(done)
}

/// How much room a read starts with: a page and one byte, so that a file of a page (a whole
/// configuration space) is read in one call.
const FIRST_READ: usize = 4097;

/// Reads at most `limit` bytes of `reader`; more is [`LoadError::TooLarge`] for `path`.
pub(crate) fn read_capped(
    reader: impl Read,
    limit: &SizeLimit,
    path: impl FnOnce() -> String,
) -> Result<Result<Vec<u8>, std::io::Error>, LoadError> {
    // The end is then seen by the second read, without a first small probe read.
    let first =
        usize::try_from(limit.bytes.saturating_add(1)).map_or(FIRST_READ, |l| l.min(FIRST_READ));
    let mut data = Vec::with_capacity(first);
    if let Err(e) = reader
        .take(limit.bytes.saturating_add(1))
        .read_to_end(&mut data)
    {
        return Ok(Err(e));
    }
    if data.len() as u64 > limit.bytes {
        return Err(LoadError::TooLarge {
            path: path(),
            limit: *limit,
        });
    }
    Ok(Ok(data))
}

/// Opens a file for reading without blocking on a named pipe, and without following a final
/// symlink unless `follow_link`; what it is is not checked ([`open_regular`] does).
fn open_nonblocking(path: &Path, follow_link: bool) -> Result<std::fs::File, std::io::Error> {
    use std::os::unix::fs::OpenOptionsExt;
    let nofollow = if follow_link { 0 } else { libc::O_NOFOLLOW };
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nofollow | libc::O_NONBLOCK)
        .open(path)
}

/// What a file that is not a regular file is, in words.
pub(crate) fn special_kind(t: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_dir() {
        "a folder"
    } else if t.is_symlink() {
        "a symbolic link"
    } else if t.is_fifo() {
        "a named pipe (FIFO)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// Opens a regular file for reading, without blocking on a named pipe, and without following a
/// final symlink unless `follow_link`; anything but a regular file is an error naming what it
/// is.
pub(crate) fn open_regular(
    path: &Path,
    follow_link: bool,
) -> Result<std::fs::File, std::io::Error> {
    let file = open_nonblocking(path, follow_link)?;
    let t = file.metadata()?.file_type();
    if !t.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("expected a regular file, found {}", special_kind(&t)),
        ));
    }
    Ok(file)
}

/// A directory on disk: the live root `/` or an extracted snapshot.
#[derive(Clone, Debug)]
pub struct DirSource {
    root: PathBuf,
    /// What the paths already looked at are (paths whose folders are all real, reached
    /// without a link), from `lstat`: each folder of a path is looked at once however many
    /// attributes are read below it.
    kinds: RefCell<HashMap<String, EntryKind>>,
    /// The folders listed so far (real paths), with what each entry is, sorted by name: the
    /// listing gives each entry's type (`d_type`) without a `stat` of its own, so a listed
    /// file is opened without asking again what it is.
    listings: RefCell<HashMap<String, Vec<(String, EntryKind)>>>,
}

impl DirSource {
    /// A tree rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            kinds: RefCell::default(),
            listings: RefCell::default(),
        }
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

    /// Whether `path` is a plain name in a folder already seen to be real (reached without a
    /// link), so that only its last component can be a link.
    fn below_real_dir(&self, path: &str) -> bool {
        path.rsplit_once('/').is_some_and(|(parent, name)| {
            !matches!(name, "" | "." | "..") && self.known(parent) == Some(EntryKind::Dir)
        })
    }

    /// What a path whose folders are real is, when already known: looked at, or listed in
    /// its folder.
    fn known(&self, path: &str) -> Option<EntryKind> {
        if let Some(&kind) = self.kinds.borrow().get(path) {
            return Some(kind);
        }
        let (parent, name) = path.rsplit_once('/')?;
        let listings = self.listings.borrow();
        let entries = listings.get(parent)?;
        let i = entries
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .ok()?;
        entries.get(i).map(|&(_, kind)| kind)
    }

    /// What a path whose parents are real folders is, without following it.
    fn lstat(&self, path: &str) -> Result<Option<EntryKind>, LoadError> {
        if let Some(kind) = self.known(path) {
            return Ok(Some(kind));
        }
        let kind = match std::fs::symlink_metadata(self.full(path)) {
            Ok(m) => kind_of(&m.file_type()),
            Err(e) if not_found(&e) => return Ok(None),
            Err(e) => return Err(self.io(path, e)),
        };
        self.kinds.borrow_mut().insert(path.to_owned(), kind);
        Ok(Some(kind))
    }
}

/// What a file type (not followed) is.
fn kind_of(t: &std::fs::FileType) -> EntryKind {
    if t.is_symlink() {
        EntryKind::Symlink
    } else if t.is_dir() {
        EntryKind::Dir
    } else if t.is_file() {
        EntryKind::File
    } else {
        EntryKind::Special
    }
}

fn not_found(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
    )
}

/// Live sysfs: some attributes exist but cannot be read (EIO, EACCES, EINVAL, ENODEV, EPERM).
fn unreadable(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EIO | libc::EACCES | libc::EINVAL | libc::ENODEV | libc::EPERM)
    )
}

impl Source for DirSource {
    fn kind(&self, path: &str) -> Result<Option<EntryKind>, LoadError> {
        let real = self.resolve(path, false)?;
        self.lstat(&real)
    }

    fn read(&self, path: &str, limit: &SizeLimit) -> Result<Option<Vec<u8>>, LoadError> {
        // An attribute of a folder already seen to be real is opened as it is, without
        // following a link; only if it is one is it resolved. One already seen to be a
        // regular file (its folder was listed) is not asked again what it is: were it
        // replaced since, `O_NOFOLLOW`, `O_NONBLOCK` and the cap on the read still hold.
        let below_real = self.below_real_dir(path);
        let known = below_real.then(|| self.known(path)).flatten();
        let mut opened = match known {
            Some(EntryKind::File) => open_nonblocking(&self.full(path), false),
            Some(EntryKind::Symlink) => Err(std::io::Error::from_raw_os_error(libc::ELOOP)),
            _ if below_real => open_regular(&self.full(path), false),
            _ => Err(std::io::Error::from_raw_os_error(libc::ELOOP)),
        };
        if opened
            .as_ref()
            .is_err_and(|e| e.raw_os_error() == Some(libc::ELOOP))
        {
            let real = self.resolve(path, true)?;
            opened = open_regular(&self.full(&real), false);
        }
        let file = match opened {
            Ok(f) => f,
            Err(e) if not_found(&e) || unreadable(&e) => return Ok(None),
            Err(e) => return Err(self.io(path, e)),
        };
        match read_capped(file, limit, || self.display(path))? {
            Ok(data) => Ok(Some(data)),
            Err(e) if unreadable(&e) => Ok(None),
            Err(e) => Err(self.io(path, e)),
        }
    }

    fn read_link(&self, path: &str) -> Result<Option<String>, LoadError> {
        let real = self.resolve(path, false)?;
        match std::fs::read_link(self.full(&real)) {
            Ok(t) => Ok(Some(t.to_string_lossy().into_owned())),
            Err(e) if not_found(&e) || e.kind() == std::io::ErrorKind::InvalidInput => Ok(None),
            Err(e) => Err(self.io(path, e)),
        }
    }

    fn list(&self, path: &str) -> Result<Option<Vec<String>>, LoadError> {
        let real = self.resolve(path, true)?;
        let rd = match std::fs::read_dir(self.full(&real)) {
            Ok(rd) => rd,
            Err(e) if not_found(&e) => return Ok(None),
            Err(e) => return Err(self.io(path, e)),
        };
        let mut names = Vec::new();
        let mut entries = Vec::new();
        for ent in rd {
            let ent = ent.map_err(|e| self.io(path, e))?;
            let name = ent.file_name();
            // The entry's type comes with the listing (`d_type`) on most file systems.
            if let (Some(n), Ok(t)) = (name.to_str(), ent.file_type()) {
                entries.push((n.to_owned(), kind_of(&t)));
            }
            names.push(name.to_string_lossy().into_owned());
        }
        names.sort();
        if !real.is_empty() {
            entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            self.listings.borrow_mut().insert(real, entries);
        }
        Ok(Some(names))
    }

    fn display(&self, path: &str) -> String {
        self.full(path).display().to_string()
    }

    fn resolve(&self, path: &str, follow_last: bool) -> Result<String, LoadError> {
        if self.below_real_dir(path)
            && (!follow_last || self.lstat(path)? != Some(EntryKind::Symlink))
        {
            return Ok(path.to_owned());
        }
        resolve_with(self, path, follow_last, &mut |here: &str| {
            if self.lstat(here)? != Some(EntryKind::Symlink) {
                return Ok(None);
            }
            match std::fs::read_link(self.full(here)) {
                Ok(t) => Ok(Some(t.to_string_lossy().into_owned())),
                Err(e) if not_found(&e) => Ok(None),
                Err(e) => Err(self.io(here, e)),
            }
        })
    }
}

#[derive(Clone, Debug)]
enum Node {
    /// A file's contents, shared with its hard links.
    File(Arc<[u8]>),
    Dir(Vec<String>),
    Symlink(String),
}

/// Counts what a reader gives, and refuses to give more than [`limits::ARCHIVE`]: the tar
/// reader above it sees an error, and `hit` says why.
struct Capped<R> {
    inner: R,
    left: u64,
    hit: Rc<std::cell::Cell<bool>>,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            // One more byte would be over the limit: see whether there is one.
            let mut probe = [0u8; 1];
            if self.inner.read(&mut probe)? == 0 {
                return Ok(0);
            }
            self.hit.set(true);
            return Err(std::io::Error::other("the archive is over its size limit"));
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// A `.tar`, `.tar.gz` or `.tar.bz2` archive (detected by content) holding `sys/` and `proc/`,
/// either at its top (as ghw's snapshots do) or in one top folder (as `hwloc-gather-topology`
/// and `dmabuf-ic snapshot` write them), read into memory with its symlinks.
///
/// The archive is decompressed as it is read, one member at a time, within
/// [`limits::ARCHIVE`] in all and [`limits::ARCHIVE_MEMBER`] per member; reaching either is an
/// error that names it.
#[derive(Clone, Debug)]
pub struct ArchiveSource {
    name: String,
    top: String,
    nodes: HashMap<String, Node>,
}

impl ArchiveSource {
    /// Reads an archive file.
    pub fn open(path: &Path) -> Result<Self, LoadError> {
        let io = |e| LoadError::Io {
            path: path.display().to_string(),
            source: e,
        };
        let file = open_regular(path, true).map_err(io)?;
        Self::from_reader(&path.display().to_string(), BufReader::new(file))
    }

    /// Reads an archive from memory; `name` names it in errors.
    pub fn from_bytes(name: &str, bytes: &[u8]) -> Result<Self, LoadError> {
        Self::from_reader(name, bytes)
    }

    /// Reads an archive from a stream; `name` names it in errors.
    pub fn from_reader(name: &str, mut reader: impl BufRead) -> Result<Self, LoadError> {
        let err = |message: String| LoadError::Archive {
            path: name.to_owned(),
            message,
        };
        let head = reader
            .fill_buf()
            .map_err(|e| err(format!("expected a readable archive: {e}")))?;
        let (gzip, bzip2) = (head.starts_with(&[0x1f, 0x8b]), head.starts_with(b"BZh"));
        let (compression, decoder): (&str, Box<dyn Read + '_>) = if gzip {
            (
                "gzip",
                Box::new(flate2::bufread::MultiGzDecoder::new(reader)),
            )
        } else if bzip2 {
            (
                "bzip2",
                Box::new(bzip2::bufread::MultiBzDecoder::new(reader)),
            )
        } else {
            ("tar", Box::new(reader))
        };
        let hit = Rc::new(std::cell::Cell::new(false));
        let capped = Capped {
            inner: decoder,
            left: limits::ARCHIVE.bytes,
            hit: Rc::clone(&hit),
        };
        // An error while reading is the size limit if the limit was hit, else bad data.
        let failed = |what: &str, e: std::io::Error| {
            if hit.get() {
                LoadError::TooLarge {
                    path: name.to_owned(),
                    limit: limits::ARCHIVE,
                }
            } else if compression == "tar" {
                err(format!("expected {what}: {e}"))
            } else {
                err(format!("expected {what} in {compression} data: {e}"))
            }
        };
        let mut archive = tar::Archive::new(capped);
        let entries = archive.entries().map_err(|e| failed("a tar archive", e))?;
        let mut nodes: HashMap<String, Node> = HashMap::new();
        let mut hardlinks: Vec<(String, String)> = Vec::new();
        // The first component of every entry, in order of appearance.
        let mut tops: Vec<String> = Vec::new();
        let mut tops_seen: HashSet<String> = HashSet::new();
        // Every entry by its path in the archive, before the top folder is known.
        let mut files: Vec<(String, Node)> = Vec::new();
        for entry in entries {
            let mut entry = entry.map_err(|e| failed("a tar entry", e))?;
            let path = entry
                .path()
                .map_err(|e| err(format!("expected a valid entry name: {e}")))?;
            let path = normalize(&path.to_string_lossy());
            if path.is_empty() {
                continue;
            }
            if path.len() > limits::MAX_PATH_BYTES {
                return Err(err(format!(
                    "expected member names of at most {} bytes (PATH_MAX), found one of {} bytes",
                    limits::MAX_PATH_BYTES,
                    path.len()
                )));
            }
            let first = path.split_once('/').map_or(path.as_str(), |(f, _)| f);
            if !tops_seen.contains(first) {
                tops_seen.insert(first.to_owned());
                tops.push(first.to_owned());
            }
            let ty = entry.header().entry_type();
            let link = |entry: &tar::Entry<'_, _>| -> Result<String, LoadError> {
                Ok(entry
                    .link_name()
                    .map_err(|e| err(format!("expected a link target in {path}: {e}")))?
                    .map(|l| l.to_string_lossy().into_owned())
                    .unwrap_or_default())
            };
            if ty.is_symlink() {
                let t = link(&entry)?;
                files.push((path, Node::Symlink(t)));
            } else if ty.is_hard_link() {
                let t = normalize(&link(&entry)?);
                hardlinks.push((path, t));
            } else if ty.is_dir() {
                files.push((path, Node::Dir(Vec::new())));
            } else if ty.is_file() || ty == tar::EntryType::Continuous {
                let member = || format!("{name}:{path}");
                if entry.size() > limits::ARCHIVE_MEMBER.bytes {
                    return Err(LoadError::TooLarge {
                        path: member(),
                        limit: limits::ARCHIVE_MEMBER,
                    });
                }
                let data = read_capped(&mut entry, &limits::ARCHIVE_MEMBER, member)?
                    .map_err(|e| failed(&format!("readable data for {path}"), e))?;
                files.push((path, Node::File(data.into())));
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
            let t = target.strip_prefix(&prefix).unwrap_or(&target);
            let data = match nodes.get(t) {
                Some(Node::File(d)) => Arc::clone(d),
                _ => {
                    return Err(err(format!(
                        "expected hard link {p} to name a file in the archive, found `{target}`"
                    )));
                }
            };
            nodes.insert(p, Node::File(data));
        }
        // Directory listings, including folders only implied by their contents.
        let mut children: HashMap<String, Vec<String>> = HashMap::new();
        let mut listed: HashSet<&str> = HashSet::new();
        for p in nodes.keys().filter(|p| !p.is_empty()) {
            let mut cur = p.as_str();
            // Each path is entered in its parent's list once; a parent already entered has its
            // own parents entered too.
            while listed.insert(cur) {
                let (parent, name) = cur.rsplit_once('/').unwrap_or(("", cur));
                children
                    .entry(parent.to_owned())
                    .or_default()
                    .push(name.to_owned());
                if parent.is_empty() {
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

impl ArchiveSource {
    /// The node at `path`, links resolved inside the archive (the final one only if
    /// `follow_last`).
    fn node(&self, path: &str, follow_last: bool) -> Result<Option<&Node>, LoadError> {
        match self.nodes.get(path) {
            Some(Node::Symlink(_)) if follow_last => {}
            Some(n) => return Ok(Some(n)),
            None => {
                // Every folder above an entry of the archive is a folder, not a link: if the
                // parent is one, the path does not exist; otherwise a folder on the way may be
                // a link.
                let parent = path.rsplit_once('/').map_or("", |(p, _)| p);
                if matches!(self.nodes.get(parent), Some(Node::Dir(_))) {
                    return Ok(None);
                }
            }
        }
        let real = self.resolve(path, follow_last)?;
        Ok(match self.nodes.get(&real) {
            Some(Node::Symlink(_)) if follow_last => None,
            n => n,
        })
    }
}

impl Source for ArchiveSource {
    fn kind(&self, path: &str) -> Result<Option<EntryKind>, LoadError> {
        Ok(self.node(path, false)?.map(|n| match n {
            Node::File(_) => EntryKind::File,
            Node::Dir(_) => EntryKind::Dir,
            Node::Symlink(_) => EntryKind::Symlink,
        }))
    }

    fn read(&self, path: &str, limit: &SizeLimit) -> Result<Option<Vec<u8>>, LoadError> {
        let Some(Node::File(data)) = self.node(path, true)? else {
            return Ok(None);
        };
        if data.len() as u64 > limit.bytes {
            return Err(LoadError::TooLarge {
                path: self.display(path),
                limit: *limit,
            });
        }
        Ok(Some(data.to_vec()))
    }

    fn read_link(&self, path: &str) -> Result<Option<String>, LoadError> {
        Ok(match self.node(path, false)? {
            Some(Node::Symlink(t)) => Some(t.clone()),
            _ => None,
        })
    }

    fn list(&self, path: &str) -> Result<Option<Vec<String>>, LoadError> {
        Ok(match self.node(path, true)? {
            Some(Node::Dir(l)) => Some(l.clone()),
            _ => None,
        })
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
