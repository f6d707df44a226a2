//! Helpers of the picture tests: where the fixtures are, and machines built by hand.

#![allow(dead_code, clippy::panic, clippy::expect_used, clippy::unwrap_used)]

pub mod machines;

use std::path::{Path, PathBuf};

/// The shared fixtures folder: `$DMABUF_IC_FIXTURES`, else `../../../shared/fixtures` from
/// this crate. When it is missing, `None` (the caller skips, saying so), unless `CI=true`,
/// where a missing folder fails the test.
pub fn fixtures() -> Option<PathBuf> {
    let dir = std::env::var_os("DMABUF_IC_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
        });
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "fixtures folder {} is missing (set DMABUF_IC_FIXTURES); CI=true requires it",
            dir.display()
        );
    }
    eprintln!(
        "SKIPPED: fixtures folder {} is missing (set DMABUF_IC_FIXTURES to run this test)",
        dir.display()
    );
    None
}

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
