//! What a verdict depends on that the source does not give: every outcome is shown, never a
//! definite refusal made of a missing fact. The two machines of the issue (an NCCL file, whose
//! host bridges' devices are not in it, and an hwloc export without a CPU vendor), a sysfs
//! machine that knows everything, and the agreement of the fast verdict with the explained one
//! on every fixture machine.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use pci_topology::load;
use pci_topology::{Bdf, FunctionId, Machine, MapType, MapTypes, RootDeviceUnknown, UnknownFact};

fn find(m: &Machine, s: &str) -> FunctionId {
    m.find(s.parse::<Bdf>().unwrap()).unwrap()
}

fn types(m: MapTypes) -> Vec<MapType> {
    m.iter().collect()
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn an_nccl_file_without_host_bridge_devices_gives_both_outcomes_with_the_inferred_one() {
    let Some(fx) = common::fixtures() else { return };
    let m = load::load_nccl_xml(fx.join("nccl/topo_8A100_4CX6.xml")).unwrap();
    let (p, c) = (find(&m, "0000:48:00.0"), find(&m, "0000:13:00.0"));
    let v = m.p2p_verdict(p, c).unwrap();
    // What the file shows: no device on the host bridge, so the kernel would refuse.
    assert_eq!(v.map_type, MapType::NotSupported);
    // But that device is unknown, not absent: both outcomes.
    assert!(!v.is_known());
    assert_eq!(
        types(v.possible()),
        [MapType::ThruHostBridge, MapType::NotSupported]
    );
    assert_eq!(v.unknowns.len(), 1, "{:?}", v.unknowns);
    let UnknownFact::HostBridgeDevice { why, inferred, .. } = &v.unknowns[0] else {
        panic!("{:?}", v.unknowns)
    };
    assert!(matches!(why, RootDeviceUnknown::NotListed { .. }));
    // The file names the CPU (Intel family 6 model 106, Ice Lake-SP): its root complex is
    // most likely 8086:09a2, which the whitelist lists.
    let i = inferred.as_ref().unwrap();
    assert_eq!((i.vendor, i.device, i.allows), (0x8086, 0x09a2, true));
    assert!(i.from_cpu.contains("Ice Lake-SP"), "{}", i.from_cpu);
    let thru = &v.outcomes[0];
    assert_eq!(thru.map_type, MapType::ThruHostBridge);
    assert!(thru.is_inferred(&v.unknowns));
    assert!(!v.outcomes[1].is_inferred(&v.unknowns));
    // The fast verdict, the matrix's, agrees.
    let f = m.p2p_fast(p, c).unwrap();
    assert_eq!(f.possible(), v.possible());
    assert!(!f.is_known());
    // The sentences say so.
    let reasons = v.reasons(&m).join("\n");
    assert!(
        reasons.contains("verdict not known from the source"),
        "{reasons}"
    );
    assert!(reasons.contains("09a2"), "{reasons}");
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn an_hwloc_export_without_a_cpu_vendor_gives_the_amd_zen_outcome_too() {
    let Some(fx) = common::fixtures() else { return };
    let m = load::load_hwloc_xml(fx.join("hwloc-xml/96em64t-4n4d3ca2co-pci.xml")).unwrap();
    let (p, c) = (find(&m, "0000:02:00.0"), find(&m, "0000:04:00.0"));
    let v = m.p2p_verdict(p, c).unwrap();
    assert_eq!(v.map_type, MapType::NotSupported);
    assert_eq!(
        types(v.possible()),
        [MapType::ThruHostBridge, MapType::NotSupported]
    );
    // The client's host bridge checks 03:00.0 (listed at devfn 00.0), not whitelisted: only
    // the CPU rule could allow it, and the file gives no vendor.
    assert_eq!(v.unknowns, [UnknownFact::AmdZenCpu]);
    assert!(v.outcomes[0].when[0][0].holds);
    assert_eq!(m.p2p_fast(p, c).unwrap().possible(), v.possible());
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn kernel_oracle_machines_know_every_fact() {
    let Some(fx) = common::fixtures() else { return };
    for f in common::files_with_suffix(&fx.join("kernel-oracle"), ".tar.gz") {
        let m = load::load_sysfs(&f).unwrap();
        for p in m.endpoints() {
            for c in m.endpoints() {
                let v = m.p2p_verdict(p, c).unwrap();
                assert!(v.is_known(), "{}: {:?}", f.display(), v.unknowns);
                assert_eq!(types(v.possible()), [v.map_type]);
                assert!(m.p2p_fast(p, c).unwrap().is_known());
            }
        }
    }
}

/// Every fixture machine of every source: the fast verdict's possible map types are the
/// explained verdict's, which hold the computed map type.
#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn fast_and_explained_verdicts_agree_on_what_is_possible() {
    let Some(fx) = common::fixtures() else { return };
    let mut files = Vec::new();
    for (dir, suffix) in [
        ("hwloc-xml", ".xml"),
        ("nccl", ".xml"),
        ("kernel-oracle", ".tar.gz"),
        ("real/aws", ".xml"),
        ("real/nccl/azure", ".xml"),
        ("real/nccl/simllm", ".xml"),
        ("real/hwloc-xml/psmgmt", ".xml"),
        ("real/sysfs-ghw", ".tar.gz"),
    ] {
        files.extend(common::files_with_suffix(&fx.join(dir), suffix));
    }
    let mut unknown = 0;
    for f in &files {
        let Ok(m) = load::load(f) else { continue };
        let ends: Vec<FunctionId> = m.endpoints().take(40).collect();
        let matrix = m.p2p_matrix(&ends, &ends);
        for (i, &p) in ends.iter().enumerate() {
            for (j, &c) in ends.iter().enumerate() {
                let v = m.p2p_verdict(p, c).unwrap();
                let fast = matrix.get(i, j).unwrap();
                assert_eq!(fast.possible(), v.possible(), "{} {p} {c}", f.display());
                assert_eq!(fast.map_type(), v.map_type);
                assert!(v.possible().contains(v.map_type));
                unknown += usize::from(!v.is_known());
            }
        }
    }
    assert!(unknown > 1000, "{unknown} verdicts with unknown facts");
}
