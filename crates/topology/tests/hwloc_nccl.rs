//! Evidence for the hwloc XML and NCCL loaders over the shared fixtures (`hwloc-xml/`, `nccl/`,
//! `hwloc-sysfs/`): every file loads; the DGX-2 shows 16 GPUs under two levels of switches; on
//! the 8×A100 NCCL machine a GPU and a NIC meet below the host bridge (PXB) and two GPUs prefer
//! their NVLink to PCIe in a negotiation; a real machine loaded from its sysfs snapshot and from
//! hwloc's XML of it gives the same tree.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use dmabuf_negotiate::{
    Bandwidth, Candidate, DeviceId, ExporterOffer, ImporterOffer, Memory, Negotiator, PRIVATE_IOVA,
    Policy, RouteKind,
};
use pci_topology::load::{self, Format, LoadError};
use pci_topology::{Bdf, FunctionId, LinkEnd, LinkKind, Machine, MapType, NvClass, Upstream};

fn bdf(s: &str) -> Bdf {
    s.parse().unwrap()
}

fn find(m: &Machine, s: &str) -> FunctionId {
    m.find(bdf(s)).unwrap_or_else(|| panic!("{s} not loaded"))
}

fn fixture_files(sub: &str, suffix: &str) -> Option<Vec<PathBuf>> {
    let fx = common::fixtures()?;
    let files = common::files_with_suffix(&fx.join(sub), suffix);
    assert!(
        !files.is_empty(),
        "no {suffix} files in {}",
        fx.join(sub).display()
    );
    Some(files)
}

fn open(path: &Path) -> load::Loaded {
    load::open(path, None).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn every_hwloc_and_nccl_file_loads() {
    let Some(hwloc) = fixture_files("hwloc-xml", ".xml") else {
        return;
    };
    let Some(nccl) = fixture_files("nccl", ".xml") else {
        return;
    };
    for p in &hwloc {
        let l = open(p);
        assert_eq!(l.format, Format::HwlocXml, "{}", p.display());
        let m = &l.machine;
        assert!(!m.functions().is_empty(), "{}: no functions", p.display());
        assert!(!m.host_bridges().is_empty(), "{}", p.display());
        assert!(!m.switches_collapsed());
        // Every function hwloc lists is listed; ACS is unknown (no config space in XML).
        for f in m.functions() {
            assert!(f.listed);
            assert_eq!(f.acs, pci_topology::Acs::Unknown);
        }
        // hwloc's own test file with a duplicated address says so; the files exported without
        // --whole-io (no function of a class lstopo drops by default, no empty bridge) say
        // that, and their root buses are incomplete.
        let name = p.file_name().unwrap().to_string_lossy();
        let mut expected = 0;
        if name == "32em64t-2n8c2t-pci-wholeio.xml" {
            assert!(l.warnings[0].message.contains("0000:04:00.0"));
            assert_eq!(l.warnings[0].line, 247);
            expected += 1;
        }
        let filtered = name != "32em64t-2n8c2t-pci-wholeio.xml";
        if filtered {
            assert!(
                l.warnings.iter().any(|w| w.message.contains("--whole-io")),
                "{name}: {:?}",
                l.warnings
            );
            expected += 1;
        }
        assert!(
            m.host_bridges()
                .iter()
                .all(|h| h.root_bus_complete != filtered),
            "{name}"
        );
        assert_eq!(l.warnings.len(), expected, "{name}: {:?}", l.warnings);
    }
    for p in &nccl {
        let l = open(p);
        assert_eq!(l.format, Format::NcclXml, "{}", p.display());
        let m = &l.machine;
        assert!(m.switches_collapsed(), "{}", p.display());
        let gpus = m
            .functions()
            .iter()
            .filter(|f| f.class.is_some_and(|c| c.base() == 0x03))
            .count();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let expected: usize = name["topo_".len()..name.find('A').unwrap()]
            .parse()
            .unwrap();
        assert_eq!(gpus, expected, "{name}: GPUs");
        // Six NVSwitches, each a function known only from the NVLinks.
        let switches: Vec<_> = m.functions().iter().filter(|f| f.fabric_switch).collect();
        assert_eq!(switches.len(), 6, "{name}");
        for s in switches {
            assert!(!s.listed);
            assert_eq!(s.class.map(|c| c.0), Some(0x068000));
        }
        // Every GPU has two NVLinks to each switch.
        for l in m.links() {
            assert_eq!(l.count, 2);
            assert_eq!(
                l.bandwidth,
                Some(Bandwidth(25_000)),
                "SM80, NVLink 3: 25 GB/s per link and direction"
            );
            assert_eq!(
                l.nccl_bandwidth,
                Some(Bandwidth(20_000)),
                "NCCL's SM80 figure"
            );
        }
        assert_eq!(m.links().len(), 6 * expected, "{name}");
    }
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn dgx2_has_16_gpus_under_two_levels_of_switches() {
    let Some(fx) = common::fixtures() else { return };
    let m = load::load_hwloc_xml(fx.join("hwloc-xml/nvidiaDGX2.xml")).unwrap();
    let gpus: Vec<FunctionId> = m
        .function_ids()
        .filter(|&id| {
            let f = m.function(id).unwrap();
            f.class.is_some_and(|c| c.class_id() == 0x0302) && f.vendor == Some(0x10de)
        })
        .collect();
    assert_eq!(gpus.len(), 16);
    for &g in &gpus {
        let chain = m.chain(g);
        let names: Vec<String> = chain.iter().map(|&c| m.name(c)).collect();
        // GPU, downstream port, upstream port, downstream port, upstream port, root port.
        assert_eq!(chain.len(), 6, "{names:?}");
        for &b in &chain[1..5] {
            let f = m.function(b).unwrap();
            assert!(f.is_bridge(), "{names:?}");
            assert_eq!(f.vendor, Some(0x10b5), "a PLX switch port: {names:?}");
        }
        let root = m.function(chain[5]).unwrap();
        assert_eq!(root.vendor, Some(0x8086), "an Intel root port: {names:?}");
        assert!(matches!(root.upstream, Upstream::HostBridge(_)));
        // The GPU reports its Gen3 x16 link as hwloc computed it.
        assert_eq!(
            m.function(g).unwrap().current_bandwidth(),
            Some(Bandwidth(15_753))
        );
        assert!(
            m.function(g)
                .unwrap()
                .os_devices
                .iter()
                .any(|d| d.starts_with("nvml"))
        );
    }
    // Two GPUs on one second-level switch cross one switch; on two, several.
    let (a, b, c) = (
        find(&m, "0000:34:00.0"),
        find(&m, "0000:36:00.0"),
        find(&m, "0000:39:00.0"),
    );
    assert_eq!(m.nv_class(a, b), Some(NvClass::Pix));
    assert_eq!(m.nv_class(a, c), Some(NvClass::Pxb));
    assert_eq!(
        m.host_bridge_of(a)
            .and_then(|h| m.host_bridge(h))
            .unwrap()
            .numa_node,
        Some(0)
    );
    // NVLink: six NVSwitch functions per baseboard; GPUs reach each other through all six.
    let switches = m.functions().iter().filter(|f| f.fabric_switch).count();
    assert_eq!(switches, 12);
    assert!(m.fabrics().iter().all(|f| f.kind == LinkKind::NvLink));
    let fabric = m
        .links()
        .iter()
        .find(|l| l.a == LinkEnd::Function(a) || l.b == LinkEnd::Function(a))
        .unwrap()
        .fabric;
    let r = dmabuf_negotiate::Fabric::private_route(&m, fabric, a.into(), b.into()).unwrap();
    assert_eq!(r.bandwidth, Some(Bandwidth(6 * 25_000)));
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn a100_gpu_and_nic_meet_below_the_host_bridge() {
    let Some(fx) = common::fixtures() else { return };
    let m = load::load_nccl_xml(fx.join("nccl/topo_8A100_4CX6.xml")).unwrap();
    let gpu = find(&m, "0000:13:00.0");
    let nic = find(&m, "0000:1a:00.0");
    assert_eq!(m.nv_class(gpu, nic), Some(NvClass::Pxb));
    let q = m.route_quality(nic, gpu).unwrap();
    assert!(!q.via_host_bridge);
    assert_eq!(
        q.bandwidth,
        Some(Bandwidth(31_507)),
        "Gen4 x16 after encoding"
    );
    // The verdict: bus addresses if ACS is off on the path, which NCCL cannot say, and the
    // explanation says that the source collapsed the switches.
    let v = m.p2p_verdict(gpu, nic).unwrap();
    assert_eq!(v.map_type, MapType::BusAddr);
    assert!(!v.acs_known);
    assert_eq!(v.if_acs_on, Some(MapType::NotSupported));
    assert!(v.switches_collapsed);
    assert!(
        v.reasons(&m)
            .iter()
            .any(|r| r.contains("collapsed each PCIe switch")),
        "{:?}",
        v.reasons(&m)
    );
    // Different top-level switches of one CPU meet at the CPU; across CPUs, SYS.
    let other_switch_gpu = find(&m, "0000:48:00.0");
    let other_cpu_gpu = find(&m, "0000:89:00.0");
    assert_eq!(m.nv_class(gpu, other_switch_gpu), Some(NvClass::Phb));
    assert_eq!(m.nv_class(gpu, other_cpu_gpu), Some(NvClass::Sys));
    assert_eq!(
        m.function(nic).unwrap().os_devices,
        vec!["mlx5_bond_1".to_owned()]
    );
    assert_eq!(
        m.function(gpu).unwrap().os_devices,
        vec!["nvml0".to_owned()]
    );
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn a100_gpus_prefer_their_nvlink_to_pcie() {
    let Some(fx) = common::fixtures() else { return };
    let m = load::load_nccl_xml(fx.join("nccl/topo_8A100_4CX6.xml")).unwrap();
    let gpu0: DeviceId = find(&m, "0000:13:00.0").into();
    let gpu1: DeviceId = find(&m, "0000:19:00.0").into();
    let nvlink = dmabuf_negotiate::FabricId(
        m.fabrics()
            .iter()
            .position(|f| f.kind == LinkKind::NvLink)
            .unwrap() as u32,
    );
    let exporter = [
        ExporterOffer::dma_addr(Memory::Device(gpu0)),
        ExporterOffer::private_iova(nvlink, gpu0),
    ];
    let importer = [
        ImporterOffer::dma_addr(gpu1, true),
        ImporterOffer::private_iova(nvlink, gpu1),
    ];
    let mut table = [Candidate::VACANT; 4];
    let agreement = Negotiator::new(&m)
        .with_policy(Policy::BestRoute)
        .negotiate(&exporter, &importer, &mut table)
        .unwrap();
    assert!(agreement.chosen().interconnect.is(&PRIVATE_IOVA));
    assert_eq!(agreement.route().kind, RouteKind::PrivateLink(nvlink));
    // Through six NVSwitches, two links each at 25 GB/s (A100: 12 links, 300 GB/s a way).
    assert_eq!(agreement.route().bandwidth, Some(Bandwidth(6 * 2 * 25_000)));
    // PCIe was a real alternative: the dma-addr candidate was accepted too, over bus addresses.
    let pci = agreement
        .candidates()
        .iter()
        .filter_map(|c| c.verdict.accepted_route())
        .find(|r| matches!(r.kind, RouteKind::PciBusAddr { .. }))
        .expect("a PCI candidate");
    assert_eq!(pci.bandwidth, Some(Bandwidth(31_507)));
}

/// Each function's parent, by address: a bridge, or a host bridge (domain, root bus).
fn tree(m: &Machine) -> BTreeMap<Bdf, Result<Bdf, (u32, u8)>> {
    m.function_ids()
        .map(|id| {
            let f = m.function(id).unwrap();
            let up = match f.upstream {
                Upstream::Bridge(b) => Ok(m.function(b).unwrap().bdf),
                Upstream::HostBridge(h) => {
                    let h = m.host_bridge(h).unwrap();
                    Err((h.domain, h.root_bus))
                }
            };
            (f.bdf, up)
        })
        .collect()
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn sysfs_snapshot_and_hwloc_xml_of_one_machine_give_the_same_tree() {
    let Some(fx) = common::fixtures() else { return };
    let dir = fx.join("hwloc-sysfs");
    let mut pairs = 0;
    for xml in common::files_with_suffix(&dir, ".xml") {
        let tarball = xml.with_extension("tar.bz2");
        if !tarball.exists() {
            continue;
        }
        let from_sysfs = load::load_sysfs(&tarball).unwrap();
        let from_xml = load::load_hwloc_xml(&xml).unwrap();
        let (mut a, b) = (tree(&from_sysfs), tree(&from_xml));
        // hwloc leaves out a bridge whose secondary bus was never configured (0, or not above
        // its own bus) when nothing is below it; the sysfs loader keeps every function.
        a.retain(|k, _| {
            let id = from_sysfs.find(*k).unwrap();
            let f = from_sysfs.function(id).unwrap();
            let unconfigured = f.is_bridge()
                && f.bus_range.is_some_and(|(sec, _)| sec <= k.bus)
                && from_sysfs.children(id).is_empty();
            !unconfigured || b.contains_key(k)
        });
        let only_sysfs: Vec<_> = a.iter().filter(|(k, v)| b.get(k) != Some(v)).collect();
        let only_xml: Vec<_> = b.iter().filter(|(k, v)| a.get(k) != Some(v)).collect();
        assert!(
            only_sysfs.is_empty() && only_xml.is_empty(),
            "{}: sysfs only {only_sysfs:?}\nxml only {only_xml:?}",
            xml.display()
        );
        // Identifiers agree too.
        for id in from_xml.function_ids() {
            let x = from_xml.function(id).unwrap();
            let s = from_sysfs
                .function(from_sysfs.find(x.bdf).unwrap())
                .unwrap();
            assert_eq!(
                (x.vendor, x.device, x.class),
                (s.vendor, s.device, s.class),
                "{}",
                x.bdf
            );
        }
        pairs += 1;
    }
    assert!(
        pairs >= 3,
        "expected at least three snapshot/XML pairs, found {pairs}"
    );
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn format_detection() {
    let Some(fx) = common::fixtures() else { return };
    let cases = [
        ("hwloc-xml/nvidiaDGX2.xml", Format::HwlocXml),
        ("nccl/topo_1A100_1CX6.xml", Format::NcclXml),
        ("hwloc-sysfs/fakepcilocalities.tar.bz2", Format::Sysfs),
        ("kernel-oracle/rciep.tar.gz", Format::Sysfs),
    ];
    for (p, f) in cases {
        assert_eq!(Format::detect(fx.join(p)).unwrap(), f, "{p}");
    }
    assert_eq!(Format::detect_bytes(b"format = 1\n"), Format::Toml);
    assert_eq!(
        Format::detect_bytes(b"<?xml version=\"1.0\"?>\n<!-- x -->\n<topology>"),
        Format::HwlocXml
    );
    assert!(matches!(
        load::load(fx.join("no-such-file")),
        Err(LoadError::Io { .. })
    ));
}
