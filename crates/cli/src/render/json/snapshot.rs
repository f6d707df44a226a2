//! `snapshot --format json` (docs/json-output.md, "snapshot").

use serde::Serialize;

use crate::commands::snapshot::Saved;
use crate::error::CliError;

/// What was saved.
#[derive(Serialize, Debug)]
pub struct Snapshot {
    /// The tree saved: `/` or the folder `--sysfs` named.
    pub root: String,
    /// The archive written.
    pub archive: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// Whether it was taken as root (whole configuration spaces).
    pub as_root: bool,
    /// PCI functions in it.
    pub functions: usize,
    /// Host bridges in it.
    pub host_bridges: usize,
    /// Files, symlinks and folders written.
    pub entries: usize,
    /// Functions whose configuration space holds only its first 64 bytes (taken without root):
    /// ACS and PCIe port type unknown.
    pub short_configs: Vec<String>,
    /// Files that exist but the kernel refused to read (paths below the root).
    pub unreadable: Vec<String>,
}

/// Renders the document.
pub fn render(x: &Saved) -> Result<String, CliError> {
    let m = &x.report.machine;
    crate::output::to_json(&Snapshot {
        root: x.root.display().to_string(),
        archive: x.archive.display().to_string(),
        bytes: x.bytes,
        as_root: x.as_root,
        functions: m.functions().len(),
        host_bridges: m.host_bridges().len(),
        entries: x.report.entries,
        short_configs: x
            .report
            .short_configs
            .iter()
            .map(|b| b.to_string())
            .collect(),
        unreadable: x.report.unreadable.clone(),
    })
}
