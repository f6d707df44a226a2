//! The predicted P2P verdict equals the running kernel's for every line of every kernel-oracle
//! snapshot: the shared ones and this crate's own (`tests/oracle/*.tar.gz`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use pci_topology::load::{ArchiveSource, load_from_source};
use pci_topology::{Bdf, MapType};

/// Checks one snapshot; returns the number of verdict lines compared.
fn check(path: &Path) -> usize {
    let src = ArchiveSource::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let m = load_from_source(&src).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let verdicts = String::from_utf8_lossy(
        src.file("verdicts")
            .unwrap_or_else(|| panic!("{}: no verdicts file", path.display())),
    )
    .into_owned();
    let mut n = 0;
    for line in verdicts.lines().filter(|l| !l.trim().is_empty()) {
        let parts: Vec<&str> = line.split_whitespace().collect();
        assert!(parts.len() >= 3, "{}: bad line {line:?}", path.display());
        let p: Bdf = parts[0].parse().unwrap();
        let c: Bdf = parts[1].parse().unwrap();
        let kernel_ok = match parts[2] {
            "ok" => true,
            "refused" => false,
            other => panic!(
                "{}: the oracle could not decide ({other}): {line}",
                path.display()
            ),
        };
        let pid = m
            .find(p)
            .unwrap_or_else(|| panic!("{}: {p} not loaded", path.display()));
        let cid = m
            .find(c)
            .unwrap_or_else(|| panic!("{}: {c} not loaded", path.display()));
        let v = m.p2p_verdict(pid, cid).unwrap();
        let fast = m.p2p_fast(pid, cid).unwrap();
        assert_eq!(v.map_type, fast.map_type(), "{}: {line}", path.display());
        assert_eq!(v.distance, fast.distance(), "{}: {line}", path.display());
        assert!(
            v.acs_known,
            "{}: full configs, ACS must be known: {line}",
            path.display()
        );
        let predicted_ok = v.map_type != MapType::NotSupported;
        assert_eq!(
            predicted_ok,
            kernel_ok,
            "{}: {line}\npredicted {} distance {}\n{}",
            path.display(),
            v.map_type,
            v.distance,
            v.reasons(&m).join("\n")
        );
        n += 1;
    }
    n
}

#[test]
fn every_oracle_verdict_matches_the_kernel() {
    let mut total = 0;
    let mut snapshots = 0;
    if let Some(fx) = common::fixtures() {
        let shared = common::files_with_suffix(&fx.join("kernel-oracle"), ".tar.gz");
        assert!(
            !shared.is_empty(),
            "no kernel-oracle snapshots in {}",
            fx.display()
        );
        for p in shared {
            let n = check(&p);
            assert!(n > 0, "{}: no verdicts", p.display());
            total += n;
            snapshots += 1;
        }
    }
    for p in common::files_with_suffix(&common::own_oracle_dir(), ".tar.gz") {
        let n = check(&p);
        assert!(n > 0, "{}: no verdicts", p.display());
        total += n;
        snapshots += 1;
    }
    eprintln!("{total} kernel verdicts in {snapshots} snapshots agree");
}
