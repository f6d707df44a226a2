//! `dmabuf-ic snapshot OUT`: this machine's sysfs tree saved as an archive that `--sysfs OUT`
//! loads back into the same machine (pci-topology's [`snapshot`](pci_topology::load::snapshot)).

use std::path::{Path, PathBuf};

use pci_topology::load::snapshot::{Compression, SnapshotReport, snapshot};

use crate::cli::SnapshotArgs;
use crate::commands::Outcome;
use crate::error::CliError;
use crate::output::OutputFormat;
use crate::render;
use crate::source::MachineSource;

/// What was saved, where, and by whom.
#[derive(Debug)]
pub struct Saved {
    /// The tree that was saved: `/`, or the folder `--sysfs` named.
    pub root: PathBuf,
    /// The archive written.
    pub archive: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Whether the process ran as root (its effective user id is 0).
    pub as_root: bool,
    /// What the snapshot holds and what it could not read.
    pub report: SnapshotReport,
}

/// Whether this process's effective user id is 0, from `/proc/self/status`.
fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// Saves the machine and renders what was saved.
pub fn run(
    source: Option<MachineSource>,
    format: OutputFormat,
    args: &SnapshotArgs,
) -> Result<Outcome, CliError> {
    if !matches!(format, OutputFormat::Human | OutputFormat::Json) {
        return Err(super::unsupported("snapshot", format));
    }
    let root = match source {
        None | Some(MachineSource::Live) => PathBuf::from("/"),
        Some(MachineSource::Sysfs(p)) if p.is_dir() => p,
        Some(other) => {
            return Err(CliError::usage(format!(
                "`snapshot` saves a sysfs tree in a folder (this machine's /, or a folder --sysfs \
                 names), not {}",
                other.describe()
            ))
            .note("an archive, an hwloc or NCCL file, or a TOML description is already saved"));
        }
    };
    let name = args
        .out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if Compression::from_file_name(&name).is_none() {
        return Err(CliError::usage(format!(
            "{}: the archive's name ends in .tar.gz, .tgz, .tar.bz2 or .tar",
            args.out.display()
        )));
    }
    let report = snapshot(&root, &args.out)
        .map_err(|e| CliError::input(format!("cannot save {}: {e}", describe(&root))))?;
    let bytes = std::fs::metadata(&args.out).map(|m| m.len()).unwrap_or(0);
    let saved = Saved {
        root,
        archive: args.out.clone(),
        bytes,
        as_root: running_as_root(),
        report,
    };
    let text = match format {
        OutputFormat::Json => render::json::snapshot::render(&saved)?,
        _ => render::human::snapshot::render(&saved),
    };
    Ok(Outcome::ok(text))
}

/// `this machine (/sys, /proc)` or the folder.
pub fn describe(root: &Path) -> String {
    if root == Path::new("/") {
        "this machine (/sys, /proc)".to_owned()
    } else {
        format!("the sysfs tree in {}", root.display())
    }
}
