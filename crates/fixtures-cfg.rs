//! Build script of the crates whose tests read the shared fixtures (pci-topology, and dmabuf-ic
//! through its own `build.rs`).
//!
//! Tests find the fixtures in `$DMABUF_IC_FIXTURES`, else in `../shared/fixtures` beside the
//! repository. When the folder is missing, this sets `cfg(no_fixtures)`, under which every test
//! that reads it is compiled as ignored (`#[cfg_attr(no_fixtures, ignore = "...")]`), so that
//! the test summary counts them (`N ignored`) instead of passing them silently. Under
//! `CI=true` the cfg is never set: there a missing folder fails those tests.

use std::path::PathBuf;

/// Sets `cfg(no_fixtures)` when the fixtures are missing outside CI.
pub fn main() {
    println!("cargo::rustc-check-cfg=cfg(no_fixtures)");
    println!("cargo::rerun-if-env-changed=DMABUF_IC_FIXTURES");
    println!("cargo::rerun-if-env-changed=CI");
    let dir = match std::env::var_os("DMABUF_IC_FIXTURES") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default())
            .join("../../../shared/fixtures"),
    };
    // A folder that appears or goes away re-runs this script (a missing path always does).
    println!("cargo::rerun-if-changed={}", dir.display());
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    if !ci && !dir.is_dir() {
        println!("cargo::rustc-cfg=no_fixtures");
    }
}
