//! `dmabuf-ic snapshot`: run on this machine as the user running the tests and, when that is
//! root, as the unprivileged user `nobody` too (with `setpriv`); each archive loads with
//! `--sysfs` into the machine its taker sees live (`topo`), and the report says which
//! configuration spaces were short without root.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::run;

const SETPRIV: &str = "/usr/bin/setpriv";

fn scratch_dir(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("dmabuf-ic-snapshot-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    // World-writable, for the unprivileged run.
    let _ = Command::new("chmod").arg("0777").arg(&d).status();
    d
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Runs the binary in `dir`, as `nobody` when asked (with `setpriv`); it must succeed.
fn run_as(nobody: bool, args: &[&str], dir: &Path) -> String {
    let mut cmd = if nobody {
        let mut c = Command::new(SETPRIV);
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_dmabuf-ic"));
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_dmabuf-ic"))
    };
    let o = cmd.args(args).current_dir(dir).output().unwrap();
    assert!(o.status.success(), "{args:?}: {o:?}");
    String::from_utf8(o.stdout).unwrap()
}

/// Whether `nobody` may run the binary (its folders may be closed to others).
fn nobody_can_run_the_binary() -> bool {
    Path::new(SETPRIV).exists()
        && Command::new(SETPRIV)
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_dmabuf-ic"))
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
}

/// `topo --format json` of a source, without the line naming the source.
fn topo(nobody: bool, source: &[&str], dir: &Path) -> serde_json::Value {
    let mut args = source.to_vec();
    args.extend(["topo", "--format", "json"]);
    let mut v = json(&run_as(nobody, &args, dir));
    v.as_object_mut().unwrap().remove("source");
    v
}

/// Takes a snapshot (as `nobody` when asked) and checks it: it loads into the machine its
/// taker sees live (root sees whole configs, others their first 64 bytes), and the report
/// names the short configs.
fn snapshot_and_check(dir: &Path, name: &str, nobody: bool) -> serde_json::Value {
    let out = dir.join(name);
    let a = out.to_str().unwrap();
    let report = json(&run_as(nobody, &["snapshot", a, "--format", "json"], dir));
    assert_eq!(
        topo(nobody, &["--sysfs", a], dir),
        topo(nobody, &[], dir),
        "{name}: the archive gives the live machine"
    );
    let functions = report["functions"].as_u64().unwrap();
    let short = report["short_configs"].as_array().unwrap().len() as u64;
    if report["as_root"] == true {
        assert_eq!(short, 0, "{report}");
    } else {
        assert_eq!(
            short, functions,
            "without root every config is short: {report}"
        );
    }
    report
}

#[test]
fn snapshots_of_this_machine_load_back_as_root_and_not() {
    if !Path::new("/sys/bus/pci/devices").is_dir() {
        eprintln!("SKIPPED: no /sys/bus/pci on this machine");
        return;
    }
    let dir = scratch_dir("live");
    let report = snapshot_and_check(&dir, "mine.tar.gz", false);
    let root = report["as_root"].as_bool().unwrap();
    // The human report says where it went, how to use it, and what root would add.
    let out = dir.join("mine.tar.gz");
    let human = run(&["snapshot", out.to_str().unwrap()]);
    assert_eq!(human.code, 0, "{human:?}");
    assert!(human.stdout.contains("mine.tar.gz") && human.stdout.contains("--sysfs"));
    assert_eq!(
        human.stdout.contains("Not saved"),
        !root,
        "{}",
        human.stdout
    );
    if root && nobody_can_run_the_binary() {
        let report = snapshot_and_check(&dir, "nobody.tar.bz2", true);
        assert_eq!(report["as_root"], false);
    } else {
        eprintln!(
            "SKIPPED: the unprivileged run needs root, setpriv, and a binary that nobody may run"
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn wrong_names_and_sources_are_usage_errors() {
    let dir = scratch_dir("usage");
    let zip = dir.join("m.zip");
    let r = run(&["snapshot", zip.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains(".tar.gz"), "{}", r.stderr);
    let tar = dir.join("m.tar");
    let r = run(&["--machine", "x.toml", "snapshot", tar.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("folder"), "{}", r.stderr);
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "nothing written"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
