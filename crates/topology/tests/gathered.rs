//! The machines of `tests/gathered/` (this project's development VM, saved at one moment by
//! `hwloc-gather-topology` with and without `--io`, `dmabuf-ic snapshot` and `lstopo`): each
//! loads into the same machine as far as its tool records it, or is refused with the fix.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use pci_topology::load::{self, LoadError};
use pci_topology::{Bdf, Machine};

fn gathered(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/gathered")
        .join(name)
}

fn snapshot() -> Machine {
    load::load_sysfs(gathered("vm-snapshot.tar.gz")).unwrap()
}

fn bdfs(m: &Machine) -> Vec<Bdf> {
    m.functions().iter().map(|f| f.bdf).collect()
}

#[test]
fn hwloc_gather_topology_with_io_gives_the_snapshot_s_machine() {
    let ours = snapshot();
    let gathered = load::load_sysfs(gathered("vm-io.tar.bz2")).unwrap();
    assert_eq!(bdfs(&gathered), bdfs(&ours));
    for (g, o) in gathered.functions().iter().zip(ours.functions()) {
        // hwloc-gather-topology copies the function folders whole (as root: whole configs),
        // but not sys/kernel/iommu_groups.
        assert_eq!(g, o, "{}", g.bdf);
    }
    assert_eq!(gathered.host_bridges(), ours.host_bridges());
    assert_eq!(gathered.cpu(), ours.cpu());
    assert!(ours.iommu_groups_known() && !gathered.iommu_groups_known());
}

#[test]
fn hwloc_gather_topology_without_io_is_refused_saying_to_add_it() {
    match load::open(gathered("vm-noio.tar.bz2"), None) {
        Err(e @ LoadError::NoPci { .. }) => {
            let s = e.to_string();
            assert!(
                s.contains("without --io") && s.contains("hwloc-gather-topology --io"),
                "{s}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn lstopo_without_whole_io_warns_and_leaves_the_host_bridge_device_unknown() {
    let ours = snapshot();
    let whole = load::open(gathered("vm-lstopo-whole-io.xml"), None).unwrap();
    assert!(whole.warnings.is_empty(), "{:?}", whole.warnings);
    assert_eq!(bdfs(&whole.machine), bdfs(&ours));
    assert!(
        whole
            .machine
            .host_bridges()
            .iter()
            .all(|h| h.root_bus_complete)
    );
    let filtered = load::open(gathered("vm-lstopo.xml"), None).unwrap();
    assert_eq!(filtered.warnings.len(), 1, "{:?}", filtered.warnings);
    assert!(filtered.warnings[0].message.contains("--whole-io"));
    let m = &filtered.machine;
    // Only the storage and network functions are kept: the host bridge's 00.0 is missing.
    assert_eq!(
        bdfs(m),
        [
            "0000:00:02.0".parse().unwrap(),
            "0000:00:03.0".parse().unwrap()
        ]
    );
    assert!(m.host_bridges().iter().all(|h| !h.root_bus_complete));
    // So the whitelist device is unknown, not absent. (This CPU is an AMD Zen, which allows
    // P2P through any host bridge: the verdict is known all the same.)
    let l = m.whitelist_lookup(pci_topology::HostBridgeId(0), true);
    assert!(matches!(
        l.unknown,
        Some(pci_topology::RootDeviceUnknown::NotListed { .. })
    ));
    let (a, b) = (m.find(bdfs(m)[0]).unwrap(), m.find(bdfs(m)[1]).unwrap());
    assert!(m.p2p_verdict(a, b).unwrap().is_known());
}
