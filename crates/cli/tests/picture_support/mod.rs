//! Helpers of the picture tests: fixture files by kind, and machines built by hand (the
//! fixtures folder itself is `common::fixtures`).

#![allow(dead_code, clippy::panic, clippy::expect_used, clippy::unwrap_used)]

pub mod machines;

use std::path::{Path, PathBuf};

/// Files in `dir` whose names end with `suffix`, sorted.
pub fn files_with_suffix(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.to_string_lossy().ends_with(suffix))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Every sysfs snapshot among the fixtures (hwloc-sysfs and kernel-oracle tarballs) and the
/// topology crate's own oracle snapshots.
pub fn sysfs_snapshots(fixtures: &Path) -> Vec<PathBuf> {
    let mut v = files_with_suffix(&fixtures.join("hwloc-sysfs"), ".tar.bz2");
    v.extend(files_with_suffix(
        &fixtures.join("kernel-oracle"),
        ".tar.gz",
    ));
    v.extend(files_with_suffix(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../topology/tests/oracle"),
        ".tar.gz",
    ));
    v
}
