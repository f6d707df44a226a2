//! `load::snapshot`: an archive of a sysfs tree that loads back into the same machine, for this
//! machine's own `/sys` (whoever runs the tests: as root the `config` spaces are whole, without
//! root 64 bytes, and the snapshot says so) and for a kernel-oracle machine extracted to a folder.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};

use pci_topology::load::snapshot::{Compression, snapshot, snapshot_to};
use pci_topology::load::{ArchiveSource, load_from_source, load_live, load_sysfs};

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "pci-topology-snapshot-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn running_as_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1).map(|euid| euid == "0"))
        .unwrap_or(false)
}

#[test]
fn the_live_machine_loads_back_from_its_snapshot() {
    if !Path::new("/sys/bus/pci/devices").is_dir() {
        eprintln!("SKIPPED: no /sys/bus/pci on this machine");
        return;
    }
    let live = load_live().unwrap();
    let dir = scratch("live");
    for name in ["this.tar.gz", "this.tar.bz2", "this.tar"] {
        let out = dir.join(name);
        let report = snapshot(Path::new("/"), &out).unwrap();
        let back = load_sysfs(&out).unwrap();
        assert_eq!(back, live, "{name}: the archive gives the live machine");
        assert_eq!(report.machine, back, "{name}");
        let src = ArchiveSource::open(&out).unwrap();
        assert_eq!(src.top_folder(), "this");
        // Without root, the kernel gives 64 bytes of every config; the report names them.
        let listed = back.functions().iter().filter(|f| f.listed).count();
        if running_as_root() {
            assert!(
                report.short_configs.is_empty(),
                "{:?}",
                report.short_configs
            );
        } else {
            assert_eq!(report.short_configs.len(), listed, "{name}");
        }
        // Nothing is left beside the archive.
        let left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(
            left.iter()
                .all(|n| !n.to_string_lossy().ends_with(".partial")),
            "{left:?}"
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn a_saved_folder_loads_back_into_the_same_machine() {
    let Some(fx) = common::fixtures() else { return };
    let files = common::files_with_suffix(&fx.join("kernel-oracle"), ".tar.gz");
    assert!(!files.is_empty());
    for f in &files {
        let dir = scratch("oracle");
        let top = common::extract_gz(f, &dir);
        let from_folder = load_sysfs(&top).unwrap();
        let (report, bytes) = snapshot_to(&top, "again", Compression::Gzip, Vec::new()).unwrap();
        let back =
            load_from_source(&ArchiveSource::from_bytes("again.tar.gz", &bytes).unwrap()).unwrap();
        assert_eq!(back, from_folder, "{}", f.display());
        assert!(
            report.short_configs.is_empty(),
            "the oracle saved whole configs"
        );
        assert!(report.entries > 10);
        // Only what the loader reads is saved: not the other files of a function's folder
        // (which its listing names), such as `enable` and `irq` there.
        let mut tar_bytes = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes.as_slice())
            .read_to_end(&mut tar_bytes)
            .unwrap();
        let mut saved = tar::Archive::new(tar_bytes.as_slice());
        for entry in saved.entries().unwrap() {
            let path = entry.unwrap().path().unwrap().display().to_string();
            assert!(
                !path.ends_with("/enable") && !path.ends_with("/irq"),
                "{}: {path} saved",
                f.display()
            );
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}

#[test]
fn a_name_that_is_not_an_archive_is_refused_and_nothing_is_written() {
    let dir = scratch("bad");
    let e = snapshot(Path::new("/"), &dir.join("machine.zip"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("machine.zip") && e.contains(".tar.gz"), "{e}");
    // A tree without sys/: the loader's own error, and no file left behind.
    let e = snapshot(&dir, &dir.join("x.tar.gz"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("sys"), "{e}");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    std::fs::remove_dir_all(dir).unwrap();
}
