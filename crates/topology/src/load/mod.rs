//! Loaders: sources turned into a [`crate::Machine`] through the
//! [`MachineBuilder`](crate::MachineBuilder).
//!
//! - [`sysfs`]: a live root (`/`), a snapshot folder, or a `.tar`/`.tar.gz`/`.tar.bz2` archive
//!   with one top folder holding `sys/` and `proc/` ([`load_sysfs`] picks by what the path is).
//!
//! Errors name the file (for archives: `archive:top/path`) and what was expected.

pub mod source;
pub mod sysfs;

use std::path::Path;

pub use source::{ArchiveSource, DirSource, EntryKind, Source};
pub use sysfs::load_from_source;

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

/// Loads a sysfs tree from a folder (the live root `/`, or an extracted snapshot) or from an
/// archive file (`.tar`, `.tar.gz`, `.tar.bz2`, recognised by content).
pub fn load_sysfs(path: impl AsRef<Path>) -> Result<Machine, LoadError> {
    let path = path.as_ref();
    let meta = std::fs::metadata(path).map_err(|e| LoadError::Io {
        path: path.display().to_string(),
        source: e,
    })?;
    if meta.is_dir() {
        load_from_source(&DirSource::new(path))
    } else {
        load_from_source(&ArchiveSource::open(path)?)
    }
}

/// Loads the running machine (`/`).
pub fn load_live() -> Result<Machine, LoadError> {
    load_from_source(&DirSource::new("/"))
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
