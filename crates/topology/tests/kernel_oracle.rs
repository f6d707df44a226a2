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
    n + check_distances(path, &src, &m)
}

/// Archives made by `kernel/run` also hold `distances`: what `pci_p2pdma_distance_many()`
/// answered, inside the booted kernel, for every (p2pmem provider, PCI function that is not a
/// bridge), -1 when it refused. The prediction must be the same number. Returns the lines
/// compared (0 without the file).
fn check_distances(path: &Path, src: &ArchiveSource, m: &pci_topology::Machine) -> usize {
    let Some(bytes) = src.file("distances") else {
        return 0;
    };
    let mut n = 0;
    for line in String::from_utf8_lossy(bytes)
        .lines()
        .filter(|l| !l.trim().is_empty())
    {
        let parts: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            parts.len(),
            3,
            "{}: bad distances line {line:?}",
            path.display()
        );
        let find = |s: &str| {
            let bdf: Bdf = s.parse().unwrap();
            m.find(bdf)
                .unwrap_or_else(|| panic!("{}: {bdf} not loaded", path.display()))
        };
        let kernel: i64 = parts[2].parse().unwrap();
        let v = m.p2p_verdict(find(parts[0]), find(parts[1])).unwrap();
        let predicted = if v.map_type == MapType::NotSupported {
            -1
        } else {
            i64::from(v.distance)
        };
        assert_eq!(
            predicted,
            kernel,
            "{}: {line}\npredicted {} distance {}\n{}",
            path.display(),
            v.map_type,
            v.distance,
            v.reasons(m).join("\n")
        );
        n += 1;
    }
    n
}

/// Checks every snapshot in `dir`; returns the verdict lines compared.
fn check_dir(dir: &Path) -> usize {
    let snapshots = common::files_with_suffix(dir, ".tar.gz");
    assert!(
        !snapshots.is_empty(),
        "no kernel-oracle snapshots in {}",
        dir.display()
    );
    let mut total = 0;
    for p in &snapshots {
        let n = check(p);
        assert!(n > 0, "{}: no verdicts", p.display());
        total += n;
    }
    eprintln!(
        "{total} kernel verdicts in {} snapshots of {} agree",
        snapshots.len(),
        dir.display()
    );
    total
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn every_shared_oracle_verdict_matches_the_kernel() {
    let Some(fx) = common::fixtures() else { return };
    check_dir(&fx.join("kernel-oracle"));
}

#[test]
fn every_own_oracle_verdict_matches_the_kernel() {
    check_dir(&common::own_oracle_dir());
}

fn own(name: &str) -> pci_topology::Machine {
    let p = common::own_oracle_dir().join(format!("{name}.tar.gz"));
    pci_topology::load::load_sysfs(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn id(m: &pci_topology::Machine, s: &str) -> pci_topology::FunctionId {
    m.find(s.parse().unwrap()).unwrap()
}

/// What this crate's own snapshots were made to show, beyond ok/refused.
#[test]
fn own_snapshots_explain_what_they_were_made_for() {
    // ACS forced on the root port that is the common ancestor of two functions.
    let m = own("acs-common-ancestor");
    let v = m
        .p2p_verdict(id(&m, "0000:01:00.0"), id(&m, "0000:01:00.1"))
        .unwrap();
    assert_eq!(v.common_ancestor, Some(id(&m, "0000:00:10.0")));
    assert_eq!(v.acs_redirect, vec![id(&m, "0000:00:10.0")]);
    assert_eq!(v.distance, 2);
    assert_eq!(
        v.disable_acs_redir.as_deref(),
        Some("pci=disable_acs_redir=0000:00:10.0")
    );
    assert_eq!(v.map_type, MapType::NotSupported);
    let m = own("acs-common-ancestor-zen");
    let v = m
        .p2p_verdict(id(&m, "0000:01:00.0"), id(&m, "0000:01:00.1"))
        .unwrap();
    assert_eq!(v.map_type, MapType::ThruHostBridge);
    assert!(v.cpu_rule_applied());
    // Provider side and client side, each through a port with ACS forced on.
    let m = own("nested-ports-acs");
    let v = m
        .p2p_verdict(id(&m, "0000:04:00.0"), id(&m, "0000:08:00.0"))
        .unwrap();
    assert_eq!(
        v.acs_redirect,
        vec![id(&m, "0000:03:00.0")],
        "provider side"
    );
    assert_eq!(v.common_ancestor, Some(id(&m, "0000:01:00.0")));
    assert_eq!(v.distance, 5);
    let v = m
        .p2p_verdict(id(&m, "0000:07:00.0"), id(&m, "0000:06:00.0"))
        .unwrap();
    assert_eq!(v.acs_redirect, vec![id(&m, "0000:05:00.0")], "client side");
    let v = m
        .p2p_verdict(id(&m, "0000:07:00.0"), id(&m, "0000:08:00.0"))
        .unwrap();
    assert_eq!((v.map_type, v.distance), (MapType::BusAddr, 4));
    // An IOMMU: the kernel turned ACS on at the root ports, and IOMMU groups exist.
    let m = own("iommu");
    assert!(m.iommu_groups_known());
    let rp = m.function(id(&m, "0000:00:11.0")).unwrap();
    assert_eq!(rp.acs.redirect(), Some(true));
    assert!(
        m.function(id(&m, "0000:05:00.1"))
            .unwrap()
            .iommu_group
            .is_some()
    );
    let (p, c) = (id(&m, "0000:05:00.0"), id(&m, "0000:05:00.1"));
    assert_eq!(
        m.p2p_verdict(p, c).unwrap().acs_redirect,
        vec![id(&m, "0000:00:11.0")]
    );
    // The snapshot does not hold the groups' `type`: whether the IOMMU translates (a DMA
    // domain) or passes through (identity) is not known.
    let q = m.path_quality(p, c, true).unwrap();
    assert_eq!(q.iommu_translates, None);
    // A second host bridge on NUMA node 1.
    let m = own("pxb-numa");
    assert_eq!(m.host_bridges().len(), 2);
    let far = id(&m, "0000:81:00.0");
    assert_eq!(m.numa_node(far), Some(1));
    assert_ne!(
        m.host_bridge_of(far),
        m.host_bridge_of(id(&m, "0000:01:00.0"))
    );
    let v = m.p2p_verdict(id(&m, "0000:01:00.0"), far).unwrap();
    let hb = v.host_bridge.unwrap();
    assert!(!hb.same_host_bridge);
    assert_eq!(hb.client.unwrap().device, Some(id(&m, "0000:80:00.0")));
    let m = own("pxb-numa-zen");
    let v = m
        .p2p_verdict(id(&m, "0000:01:00.0"), id(&m, "0000:81:00.0"))
        .unwrap();
    assert_eq!((v.map_type, v.distance), (MapType::ThruHostBridge, 4));
}

/// SR-IOV, from kernel/run's archives: a virtual function is treated as its physical function
/// (its upstream bridge is the PF's), so VFs below the CMB's switch reach it with bus addresses,
/// and those on another root port cross the host bridge, refused on Intel, allowed on Zen.
#[test]
fn sriov_virtual_functions_reach_as_their_physical_function() {
    let m = own("sriov-igb");
    let cmb = id(&m, "0000:03:00.0");
    let near_vf = id(&m, "0000:04:10.0");
    assert_eq!(
        m.function(near_vf).unwrap().physfn,
        Some(id(&m, "0000:04:00.0"))
    );
    let v = m.p2p_verdict(cmb, near_vf).unwrap();
    assert_eq!((v.map_type, v.distance), (MapType::BusAddr, 4));
    let far_vf = id(&m, "0000:05:10.0");
    assert_eq!(
        m.p2p_verdict(cmb, far_vf).unwrap().map_type,
        MapType::NotSupported
    );
    let m = own("sriov-igb-zen");
    let v = m
        .p2p_verdict(id(&m, "0000:03:00.0"), id(&m, "0000:05:10.0"))
        .unwrap();
    assert_eq!(v.map_type, MapType::ThruHostBridge);
    assert!(v.cpu_rule_applied());
}
