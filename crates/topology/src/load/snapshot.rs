//! Saving a machine's sysfs tree as an archive that [`load_sysfs`](super::load_sysfs) reads back
//! into the same machine (`dmabuf-ic snapshot OUT.tar.gz`).
//!
//! # What is saved
//! Exactly what the sysfs loader reads, and nothing else: the snapshot runs the loader on the
//! tree through a [`Source`] that records every answer it gives (each file read with its
//! contents, each symlink with its target, each folder with its entries, each path found
//! missing), then writes those answers into a `.tar`, `.tar.gz` or `.tar.bz2` with one top
//! folder. Loading the archive asks the same questions and gets the same answers, so it gives
//! the machine the live tree gave at that moment: the PCI functions' attributes and `config`
//! spaces, the `bus/pci/devices`, `physfn`, `driver` and `iommu_group` links, the IOMMU groups,
//! and `proc/cpuinfo`. Whatever the loader learns to read later is saved by the same rule.
//!
//! # Without root
//! The kernel gives an unprivileged reader only the first 64 bytes of a `config` file, so ACS and
//! the PCIe port type are unknown in a snapshot taken without root (as in every loader, unknown,
//! not off). The [`SnapshotReport`] names the functions concerned, and the files that exist but
//! could not be read.
//!
//! Cost: one pass of the loader (linear in the functions and their attributes) plus the
//! archive's compression.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use super::source::{DirSource, EntryKind, Source};
use super::{LoadError, load_from_source};
use crate::limits::{self, SizeLimit};
use crate::machine::Machine;
use crate::pci::Bdf;

/// How the archive is compressed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Compression {
    /// A plain `.tar`.
    None,
    /// `.tar.gz`.
    Gzip,
    /// `.tar.bz2`.
    Bzip2,
}

impl Compression {
    /// The compression a file name asks for (`.tar.gz` or `.tgz`, `.tar.bz2`, `.tar`), and the
    /// name without that suffix (the archive's top folder); `None` for another suffix.
    pub fn from_file_name(name: &str) -> Option<(Compression, &str)> {
        [
            (".tar.gz", Compression::Gzip),
            (".tgz", Compression::Gzip),
            (".tar.bz2", Compression::Bzip2),
            (".tar", Compression::None),
        ]
        .into_iter()
        .find_map(|(suffix, c)| name.strip_suffix(suffix).map(|stem| (c, stem)))
    }
}

/// What a snapshot saved, and what it could not read.
#[derive(Clone, Debug)]
pub struct SnapshotReport {
    /// The machine as the loader read it while saving: loading the archive gives this machine.
    pub machine: Machine,
    /// Files, symlinks and folders written.
    pub entries: usize,
    /// Functions whose `config` held only its first 64 bytes (read without root): their ACS and
    /// PCIe port type are unknown in the snapshot.
    pub short_configs: Vec<Bdf>,
    /// Files that exist but could not be read (paths below the root).
    pub unreadable: Vec<String>,
}

/// One recorded answer.
#[derive(Clone, Debug)]
enum Entry {
    File(Vec<u8>),
    Dir(Vec<String>),
    Symlink(String),
    /// Present, but the kernel refused the read.
    Unreadable,
}

/// A [`Source`] that answers from another and remembers every answer.
struct Recorder<'a> {
    inner: &'a DirSource,
    seen: RefCell<BTreeMap<String, Entry>>,
}

impl Recorder<'_> {
    /// Remembers an answer about `path`, under the path with every symlink before its last
    /// component resolved, so that nothing is written below a symlink in the archive.
    fn note(&self, path: &str, e: Entry) -> Result<(), LoadError> {
        let key = self.inner.resolve(path, false)?;
        let mut seen = self.seen.borrow_mut();
        // A folder seen first by `kind` keeps its listing once `list` gives it.
        match (seen.get(&key), &e) {
            (Some(Entry::Dir(old)), Entry::Dir(new)) if new.is_empty() && !old.is_empty() => {}
            _ => {
                seen.insert(key, e);
            }
        }
        Ok(())
    }

    fn knows(&self, path: &str) -> bool {
        self.seen.borrow().contains_key(path)
    }
}

impl Source for Recorder<'_> {
    fn kind(&self, path: &str) -> Result<Option<EntryKind>, LoadError> {
        let k = self.inner.kind(path)?;
        match k {
            Some(EntryKind::Dir) => self.note(path, Entry::Dir(Vec::new()))?,
            Some(EntryKind::Symlink) => {
                if let Some(t) = self.inner.read_link(path)? {
                    self.note(path, Entry::Symlink(t))?;
                }
            }
            // A file's contents are saved when the loader reads it; nothing else is read.
            Some(EntryKind::File | EntryKind::Special) | None => {}
        }
        Ok(k)
    }

    fn read(&self, path: &str, limit: &SizeLimit) -> Result<Option<Vec<u8>>, LoadError> {
        let r = self.inner.read(path, limit)?;
        match &r {
            Some(data) => self.note(path, Entry::File(data.clone()))?,
            None if self.inner.kind(path)? == Some(EntryKind::File) => {
                self.note(path, Entry::Unreadable)?;
            }
            None => {}
        }
        Ok(r)
    }

    fn read_link(&self, path: &str) -> Result<Option<String>, LoadError> {
        let r = self.inner.read_link(path)?;
        if let Some(t) = &r {
            self.note(path, Entry::Symlink(t.clone()))?;
        }
        Ok(r)
    }

    fn list(&self, path: &str) -> Result<Option<Vec<String>>, LoadError> {
        let r = self.inner.list(path)?;
        if let Some(names) = &r {
            self.note(path, Entry::Dir(names.clone()))?;
        }
        Ok(r)
    }

    fn display(&self, path: &str) -> String {
        self.inner.display(path)
    }
}

/// Saves the sysfs tree under `root` (`/` for this machine) into the archive file `out`,
/// compressed as its name says ([`Compression::from_file_name`]), with the name less its
/// suffix as the top folder. The file is written whole or not at all.
pub fn snapshot(root: &Path, out: &Path) -> Result<SnapshotReport, LoadError> {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Some((compression, stem)) = Compression::from_file_name(&name) else {
        return Err(LoadError::Malformed {
            path: out.display().to_string(),
            expected: "an archive name ending in .tar.gz, .tgz, .tar.bz2 or .tar".into(),
            found: super::quote(name.as_bytes()),
        });
    };
    let top = if stem.is_empty() { "snapshot" } else { stem };
    let io = |e: std::io::Error| LoadError::Io {
        path: out.display().to_string(),
        source: e,
    };
    let partial = out.with_file_name(format!(".{name}.partial"));
    let file = std::fs::File::create(&partial).map_err(io)?;
    let written = snapshot_to(root, top, compression, std::io::BufWriter::new(file)).and_then(
        |(report, w)| {
            w.into_inner()
                .map_err(|e| io(e.into_error()))?
                .sync_all()
                .map_err(io)?;
            Ok(report)
        },
    );
    match written {
        Ok(report) => {
            std::fs::rename(&partial, out).map_err(io)?;
            Ok(report)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

/// Saves the sysfs tree under `root` into `w` as an archive with the top folder `top`; gives
/// back the report and the writer.
pub fn snapshot_to<W: Write>(
    root: &Path,
    top: &str,
    compression: Compression,
    w: W,
) -> Result<(SnapshotReport, W), LoadError> {
    let dir = DirSource::new(root);
    let rec = Recorder {
        inner: &dir,
        seen: RefCell::new(BTreeMap::new()),
    };
    let machine = load_from_source(&rec)?;
    // Entries of listed folders that the loader did not look into: their kinds (and a link's
    // target), so that the archive lists the same names.
    let listed: Vec<(String, Vec<String>)> = rec
        .seen
        .borrow()
        .iter()
        .filter_map(|(p, e)| match e {
            Entry::Dir(names) if !names.is_empty() => Some((p.clone(), names.clone())),
            _ => None,
        })
        .collect();
    for (dir_path, names) in listed {
        for n in names {
            let child = format!("{dir_path}/{n}");
            if rec.knows(&child) {
                continue;
            }
            if rec.kind(&child)? == Some(EntryKind::File) {
                match rec.read(&child, &limits::SYSFS_ATTRIBUTE) {
                    // Larger than any attribute the loader reads (a ROM image): left out.
                    Err(LoadError::TooLarge { .. }) => {}
                    r => {
                        r?;
                    }
                }
            }
        }
    }
    let seen = rec.seen.into_inner();
    let mut short_configs = Vec::new();
    let mut unreadable = Vec::new();
    for (p, e) in &seen {
        match e {
            Entry::File(data) if p.ends_with("/config") && data.len() == 64 => {
                if let Some(b) = p
                    .rsplit('/')
                    .nth(1)
                    .and_then(|c| c.parse::<Bdf>().ok())
                    .filter(|b| machine.find(*b).is_some())
                {
                    if !short_configs.contains(&b) {
                        short_configs.push(b);
                    }
                }
            }
            Entry::Unreadable => unreadable.push(p.clone()),
            _ => {}
        }
    }
    short_configs.sort();
    let archive_err = |e: std::io::Error| LoadError::Archive {
        path: format!("{top} (being written)"),
        message: format!("could not write the archive: {e}"),
    };
    let entries = seen
        .values()
        .filter(|e| !matches!(e, Entry::Unreadable))
        .count();
    let w = match compression {
        Compression::None => write_tar(top, &seen, w).map_err(archive_err)?,
        Compression::Gzip => {
            let gz = flate2::write::GzEncoder::new(w, flate2::Compression::default());
            write_tar(top, &seen, gz)
                .and_then(|gz| gz.finish())
                .map_err(archive_err)?
        }
        Compression::Bzip2 => {
            let bz = bzip2::write::BzEncoder::new(w, bzip2::Compression::default());
            write_tar(top, &seen, bz)
                .and_then(|bz| bz.finish())
                .map_err(archive_err)?
        }
    };
    Ok((
        SnapshotReport {
            machine,
            entries,
            short_configs,
            unreadable,
        },
        w,
    ))
}

/// Writes the recorded tree below `top/`, folders first (in path order, so parents precede
/// children), then files and links.
fn write_tar<W: Write>(top: &str, seen: &BTreeMap<String, Entry>, w: W) -> std::io::Result<W> {
    let mut b = tar::Builder::new(w);
    let header = |ty: tar::EntryType, mode: u32, size: u64| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(ty);
        h.set_mode(mode);
        h.set_size(size);
        h.set_mtime(0);
        h
    };
    let mut h = header(tar::EntryType::Directory, 0o755, 0);
    b.append_data(&mut h, top, std::io::empty())?;
    for (p, e) in seen {
        if matches!(e, Entry::Dir(_)) && !p.is_empty() {
            let mut h = header(tar::EntryType::Directory, 0o755, 0);
            b.append_data(&mut h, format!("{top}/{p}"), std::io::empty())?;
        }
    }
    for (p, e) in seen {
        match e {
            Entry::File(data) => {
                let mut h = header(tar::EntryType::Regular, 0o644, data.len() as u64);
                b.append_data(&mut h, format!("{top}/{p}"), data.as_slice())?;
            }
            Entry::Symlink(target) => {
                let mut h = header(tar::EntryType::Symlink, 0o777, 0);
                b.append_link(&mut h, format!("{top}/{p}"), target)?;
            }
            Entry::Dir(_) | Entry::Unreadable => {}
        }
    }
    b.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_choose_the_compression() {
        assert_eq!(
            Compression::from_file_name("m.tar.gz"),
            Some((Compression::Gzip, "m"))
        );
        assert_eq!(
            Compression::from_file_name("m.tgz"),
            Some((Compression::Gzip, "m"))
        );
        assert_eq!(
            Compression::from_file_name("node7.tar.bz2"),
            Some((Compression::Bzip2, "node7"))
        );
        assert_eq!(
            Compression::from_file_name("x.tar"),
            Some((Compression::None, "x"))
        );
        assert_eq!(Compression::from_file_name("x.zip"), None);
    }
}
