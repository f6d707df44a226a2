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
