//! `topo` and `matrix` on this very machine (the live `/sys`), when it has a PCI tree: the main
//! job of the README. Skipped, saying so, where `/sys/bus/pci/devices` does not exist.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::run;
use serde_json::Value;

fn live_functions() -> Option<BTreeSet<String>> {
    let dir = Path::new("/sys/bus/pci/devices");
    if !dir.is_dir() {
        eprintln!("SKIPPED: this machine has no /sys/bus/pci/devices");
        return None;
    }
    Some(
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
    )
}

#[test]
fn topo_on_this_machine() {
    let Some(sys) = live_functions() else { return };
    let r = run(&["topo"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("live system"));
    for bdf in &sys {
        assert!(r.stdout.contains(bdf.as_str()), "{bdf} is in the tree");
    }
    let r = run(&["topo", "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let d: Value = serde_json::from_str(&r.stdout).unwrap();
    let listed: BTreeSet<String> = d["functions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["listed"] == true)
        .map(|f| f["bdf"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        listed, sys,
        "every function of /sys/bus/pci/devices, and only those"
    );
    assert!(d["source"]["path"].is_null());
}

#[test]
fn matrix_on_this_machine() {
    let Some(_) = live_functions() else { return };
    let r = run(&["matrix"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("P2P verdict") || r.stdout.contains("No devices to compare"));
    let r = run(&["matrix", "--all", "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let pairs: Value = serde_json::from_str(&r.stdout).unwrap();
    let topo: Value = serde_json::from_str(&run(&["topo", "--format", "json"]).stdout).unwrap();
    let endpoints = topo["functions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["bridge"] == false)
        .count();
    assert_eq!(pairs.as_array().unwrap().len(), endpoints * endpoints);
}
