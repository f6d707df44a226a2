//! Listing-driven reads of the sysfs loader, on every sysfs snapshot among the fixtures (as
//! archives, and extracted into folders): each function's folder is listed once, so that the
//! attributes it lacks are not looked for one by one; a folder that cannot be listed gives the
//! same machine (every name is then tried); and what is taken from a whole configuration space
//! rather than from the attribute files (the IDs, the current and maximum link) is what the
//! kernel's own attribute files say, wherever a snapshot has both.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::cell::Cell;
use std::path::{Path, PathBuf};

use pci_topology::limits::SizeLimit;
use pci_topology::load::{
    ArchiveSource, DirSource, EntryKind, LoadError, Source, load_from_source,
};
use pci_topology::{Bdf, Machine};

/// A source that counts the names looked for and not found inside a function's folder, and
/// that can refuse to list folders for lookups (as a copy with odd permissions does), or hide
/// every `config` file.
struct Probe<'a> {
    inner: &'a dyn Source,
    unlistable: bool,
    hide_config: bool,
    absent: Cell<usize>,
}

impl<'a> Probe<'a> {
    fn new(inner: &'a dyn Source) -> Self {
        Self {
            inner,
            unlistable: false,
            hide_config: false,
            absent: Cell::new(0),
        }
    }

    fn hidden(&self, path: &str) -> bool {
        self.hide_config && path.rsplit('/').next() == Some("config")
    }

    /// Counts `path` if it is missing and its folder is a function's.
    fn note(&self, path: &str) -> Result<(), LoadError> {
        let parent_is_function = path
            .rsplit('/')
            .nth(1)
            .is_some_and(|c| c.parse::<Bdf>().is_ok());
        if parent_is_function && self.kind(path)?.is_none() {
            self.absent.set(self.absent.get() + 1);
        }
        Ok(())
    }
}

impl Source for Probe<'_> {
    fn kind(&self, path: &str) -> Result<Option<EntryKind>, LoadError> {
        if self.hidden(path) {
            return Ok(None);
        }
        self.inner.kind(path)
    }

    fn read(&self, path: &str, limit: &SizeLimit) -> Result<Option<Vec<u8>>, LoadError> {
        if self.hidden(path) {
            self.note(path)?;
            return Ok(None);
        }
        let r = self.inner.read(path, limit)?;
        if r.is_none() {
            self.note(path)?;
        }
        Ok(r)
    }

    fn read_link(&self, path: &str) -> Result<Option<String>, LoadError> {
        let r = self.inner.read_link(path)?;
        if r.is_none() {
            self.note(path)?;
        }
        Ok(r)
    }

    fn list(&self, path: &str) -> Result<Option<Vec<String>>, LoadError> {
        Ok(self
            .inner
            .list(path)?
            .map(|names| names.into_iter().filter(|n| !self.hidden(n)).collect()))
    }

    fn list_for_lookups(&self, path: &str) -> Result<Option<Vec<String>>, LoadError> {
        if self.unlistable {
            return Err(LoadError::Io {
                path: self.display(path),
                source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
            });
        }
        Ok(self
            .inner
            .list_for_lookups(path)?
            .map(|names| names.into_iter().filter(|n| !self.hidden(n)).collect()))
    }

    fn display(&self, path: &str) -> String {
        self.inner.display(path)
    }

    fn resolve(&self, path: &str, follow_last: bool) -> Result<String, LoadError> {
        self.inner.resolve(path, follow_last)
    }
}

/// Every sysfs snapshot archive among the fixtures.
fn archives(fx: &Path) -> Vec<PathBuf> {
    let mut all = Vec::new();
    for (dir, suffix) in [
        ("hwloc-sysfs", ".tar.bz2"),
        ("real/hwloc-sysfs", ".tar.bz2"),
        ("real/sysfs-ghw", ".tar.gz"),
        ("kernel-oracle", ".tar.gz"),
    ] {
        all.extend(common::files_with_suffix(&fx.join(dir), suffix));
    }
    assert!(all.len() > 40, "{} archives", all.len());
    all
}

/// The machine, or the error's message (some snapshots hold no PCI function at all).
fn outcome(r: Result<Machine, LoadError>) -> Result<Machine, String> {
    r.map_err(|e| e.to_string())
}

/// Loads through a [`Probe`] both ways, and checks that they agree and that the listing spared
/// every lookup of a missing name; gives the lookups the unlistable load made.
fn same_when_unlistable(src: &dyn Source, what: &str) -> usize {
    let listed = Probe::new(src);
    let normal = outcome(load_from_source(&listed));
    assert_eq!(listed.absent.get(), 0, "{what}: missing names looked for");
    let unlistable = Probe {
        unlistable: true,
        ..Probe::new(src)
    };
    assert_eq!(
        outcome(load_from_source(&unlistable)),
        normal,
        "{what}: folders that cannot be listed"
    );
    unlistable.absent.get()
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn every_archive_loads_the_same_machine_whether_its_folders_can_be_listed_or_not() {
    let Some(fx) = common::fixtures() else { return };
    let mut tried = 0;
    for a in archives(&fx) {
        let src = ArchiveSource::open(&a).unwrap();
        tried += same_when_unlistable(&src, &a.display().to_string());
    }
    // Without the listings, the loader does look for the attributes a folder lacks.
    assert!(tried > 1000, "{tried} missing names tried");
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn every_extracted_folder_loads_the_machine_of_its_archive_listed_or_not() {
    let Some(fx) = common::fixtures() else { return };
    let mut files = common::files_with_suffix(&fx.join("kernel-oracle"), ".tar.gz");
    files.extend(common::files_with_suffix(
        &fx.join("real/sysfs-ghw"),
        ".tar.gz",
    ));
    assert!(files.len() > 10);
    for (i, a) in files.iter().enumerate() {
        let dir =
            std::env::temp_dir().join(format!("pci-topology-listing-{}-{i}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let top = common::extract_gz(a, &dir);
        let folder = DirSource::new(&top);
        same_when_unlistable(&folder, &top.display().to_string());
        // The same machine, or the same refusal (each naming its own source first).
        let archive = ArchiveSource::open(a).unwrap();
        let unnamed = |r: Result<Machine, String>| {
            r.map_err(|e| e.split_once(": ").map(|(_, m)| m.to_owned()))
        };
        assert_eq!(
            unnamed(outcome(load_from_source(&DirSource::new(&top)))),
            unnamed(outcome(load_from_source(&archive))),
            "{}: folder and archive",
            a.display()
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn what_a_config_gives_is_what_the_attribute_files_say() {
    let Some(fx) = common::fixtures() else { return };
    let (mut ids, mut links) = (0, 0);
    for a in archives(&fx) {
        let src = ArchiveSource::open(&a).unwrap();
        let Ok(with_config) = load_from_source(&src) else {
            continue;
        };
        let without = Probe {
            hide_config: true,
            ..Probe::new(&src)
        };
        let from_files = load_from_source(&without).unwrap();
        for f in from_files.functions() {
            let c = with_config
                .function(with_config.find(f.bdf).unwrap())
                .unwrap();
            let what = format!("{}: {}", a.display(), f.bdf);
            // Only what the attribute files hold (old snapshots lack some).
            for (file, config) in [
                (f.vendor, c.vendor),
                (f.device, c.device),
                (f.subsystem_vendor, c.subsystem_vendor),
                (f.subsystem_device, c.subsystem_device),
                (f.revision.map(u16::from), c.revision.map(u16::from)),
            ] {
                if file.is_some() {
                    assert_eq!(config, file, "{what}: IDs");
                    ids += 1;
                }
            }
            // Read from the config when its PCI Express capability was in it.
            if c.port_type.is_some()
                && (f.max_link.speed.is_some() || f.current_link.speed.is_some())
            {
                assert_eq!(c.current_link, f.current_link, "{what}: current link");
                assert_eq!(c.max_link, f.max_link, "{what}: maximum link");
                links += 1;
            }
        }
    }
    assert!(
        ids > 1000 && links > 20,
        "{ids} IDs, {links} links compared"
    );
}
