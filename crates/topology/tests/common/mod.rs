//! Shared test helpers: where the fixtures are, and extracting them.

#![allow(dead_code)]

pub mod hand;

use std::io::Read;
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
pub fn files_with_suffix(dir: &std::path::Path, suffix: &str) -> Vec<PathBuf> {
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

/// This crate's own oracle snapshots.
pub fn own_oracle_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oracle")
}

/// Extracts the `.tar.gz` `archive` into `into`, keeping symlinks; gives the folder holding
/// `sys/` (`into` itself when the archive has no top folder, else that top folder).
pub fn extract_gz(archive: &Path, into: &Path) -> PathBuf {
    let mut raw = Vec::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(archive).unwrap())
        .read_to_end(&mut raw)
        .unwrap();
    tar::Archive::new(raw.as_slice()).unpack(into).unwrap();
    if into.join("sys").is_dir() {
        return into.to_path_buf();
    }
    std::fs::read_dir(into)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
}
