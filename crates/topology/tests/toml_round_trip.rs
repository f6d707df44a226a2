//! The TOML machine description says everything the model holds: for every fixture (all
//! hwloc-sysfs and kernel-oracle snapshots, all hwloc XML and NCCL files), for generated
//! machines and for a machine using every attribute, writing the machine as TOML and reading it
//! back gives an equal machine (`Machine: Eq` compares everything the model holds), and the
//! text is a fixed point (writing the reloaded machine gives the same text). Also: the short
//! forms people write by hand, and the example of `docs/machine-format.md`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use dmabuf_negotiate::{Bandwidth, FabricId, Latency};
use pci_topology::load::{self, LoadError, parse_toml, to_toml};
use pci_topology::synth::{SynthSpec, generate};
use pci_topology::{
    Acs, Bar, Bdf, ClassCode, CpuArch, CpuInfo, CpuVendor, Function, HostBridge, LinkEnd, LinkKind,
    LinkSpeed, LinkStatus, Machine, NvClass, P2pMem, PortType, PrivateFabric, PrivateLink,
    Upstream, Whitelist, WhitelistEntry,
};

/// Says which part differs, for a readable failure.
fn first_difference(a: &Machine, b: &Machine) -> String {
    if a.functions().len() != b.functions().len() {
        return format!(
            "{} functions against {}",
            a.functions().len(),
            b.functions().len()
        );
    }
    for (x, y) in a.functions().iter().zip(b.functions()) {
        if x != y {
            return format!("function {}:\n{x:#?}\nagainst\n{y:#?}", x.bdf);
        }
    }
    if a.host_bridges() != b.host_bridges() {
        return format!(
            "host bridges {:?} against {:?}",
            a.host_bridges(),
            b.host_bridges()
        );
    }
    if a.cpu() != b.cpu() {
        return format!("cpu {:?} against {:?}", a.cpu(), b.cpu());
    }
    if a.fabrics() != b.fabrics() || a.links() != b.links() {
        return format!(
            "fabrics/links {:?} {:?} against {:?} {:?}",
            a.fabrics(),
            a.links(),
            b.fabrics(),
            b.links()
        );
    }
    format!(
        "flags or whitelist: {} {} {:?} against {} {} {:?}",
        a.switches_collapsed(),
        a.iommu_groups_known(),
        a.whitelist().release,
        b.switches_collapsed(),
        b.iommu_groups_known(),
        b.whitelist().release
    )
}

fn round_trip(name: &str, m: &Machine) {
    let text = to_toml(m);
    let back = parse_toml(name, &text).unwrap_or_else(|e| panic!("{name}: {e}\n{text}"));
    assert!(
        *m == back,
        "{name}: the machine read back differs: {}",
        first_difference(m, &back)
    );
    assert_eq!(
        to_toml(&back),
        text,
        "{name}: the text is not a fixed point"
    );
}

fn fixture_files(sub: &str, suffix: &str) -> Vec<PathBuf> {
    let Some(fx) = common::fixtures() else {
        return Vec::new();
    };
    let files = common::files_with_suffix(&fx.join(sub), suffix);
    assert!(!files.is_empty(), "no {suffix} in {sub}");
    files
}

fn check_all(files: &[PathBuf]) -> usize {
    for p in files {
        let m = load::load(p).unwrap_or_else(|e| panic!("{e}"));
        round_trip(&p.display().to_string(), &m);
    }
    files.len()
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn every_shared_sysfs_snapshot_round_trips() {
    let n = check_all(&fixture_files("hwloc-sysfs", ".tar.bz2"))
        + check_all(&fixture_files("kernel-oracle", ".tar.gz"));
    eprintln!("{n} sysfs snapshots round-trip");
}

#[test]
fn every_own_oracle_snapshot_round_trips() {
    let own = common::files_with_suffix(&common::own_oracle_dir(), ".tar.gz");
    assert!(!own.is_empty(), "no snapshots in tests/oracle");
    check_all(&own);
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn every_hwloc_xml_round_trips() {
    let n = check_all(&fixture_files("hwloc-xml", ".xml"))
        + check_all(&fixture_files("hwloc-sysfs", ".xml"));
    eprintln!("{n} hwloc XML files round-trip");
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn every_nccl_file_round_trips() {
    let n = check_all(&fixture_files("nccl", ".xml"));
    eprintln!("{n} NCCL files round-trip");
}

#[test]
fn generated_machines_round_trip() {
    for (name, spec) in [
        ("default", SynthSpec::default()),
        (
            "acs-on",
            SynthSpec {
                acs_on_downstream_ports: true,
                functions_per_device: 4,
                ..SynthSpec::default()
            },
        ),
        (
            "acs-unknown",
            SynthSpec {
                acs_unknown: true,
                host_bridges: 2,
                ..SynthSpec::default()
            },
        ),
        ("deep", SynthSpec::deep(6)),
    ] {
        round_trip(name, &generate(&spec).unwrap());
    }
}

/// A machine using every attribute the model has, with values at the edges of their ranges.
fn everything() -> Machine {
    let mut b = Machine::builder();
    let mut hb = HostBridge::new(0x1_0000, 0x00);
    hb.numa_node = Some(3);
    let h0 = b.host_bridge(hb);
    let mut hb1 = HostBridge::new(0, 0x80);
    hb1.root_bus_complete = false;
    let h1 = b.host_bridge(hb1);
    let mut rp = Function::new(Bdf::new(0x1_0000, 0, 1, 0), Upstream::HostBridge(h0));
    rp.vendor = Some(0x8086);
    rp.device = Some(0x2030);
    rp.class = Some(ClassCode(0x060400));
    rp.header_type = Some(1);
    rp.bus_range = Some((1, 0xff));
    rp.port_type = Some(PortType::RootPort);
    rp.is_pcie = Some(true);
    rp.acs = Acs::Present { control: 0x005d };
    rp.current_link = LinkStatus::new(LinkSpeed::GEN1, 4);
    rp.max_link = LinkStatus {
        speed: Some(LinkSpeed(2_501)),
        width: None,
    };
    let rp = b.function(rp);
    let mut pf = Function::new(Bdf::new(0x1_0000, 1, 0, 0), Upstream::Bridge(rp));
    pf.vendor = Some(0x15b3);
    pf.subsystem_vendor = Some(0xffff);
    pf.revision = Some(0xff);
    pf.class = Some(ClassCode(0x020000));
    pf.port_type = Some(PortType::Reserved(0xe));
    pf.is_pcie = Some(false);
    pf.acs = Acs::Absent;
    pf.sriov_numvfs = Some(2);
    pf.iommu_group = Some(0);
    pf.numa_node = Some(0);
    pf.local_cpulist = Some("0-7,16-23".into());
    pf.current_link = LinkStatus {
        speed: None,
        width: Some(16),
    };
    pf.link_bandwidth = Some(Bandwidth(u32::MAX));
    pf.p2pmem = Some(P2pMem {
        size: u64::MAX,
        available: Some(0),
        published: Some(false),
    });
    pf.driver = Some("mlx5_core \"quoted\" \\ back".into());
    pf.trust = Some(dmabuf_negotiate::Trust::Iommufd);
    pf.bars = vec![
        Bar {
            index: 0,
            start: 0xffff_ffff_0000_0000,
            end: u64::MAX,
            flags: 0x0014_220c,
        },
        Bar {
            index: 6,
            start: 0,
            end: 0x7fff,
            flags: 0,
        },
    ];
    pf.os_devices = vec!["mlx5_0".into(), "ib0".into(), "ünïcode".into()];
    let pf = b.function(pf);
    let mut vf = Function::new(Bdf::new(0x1_0000, 1, 0, 2), Upstream::Bridge(rp));
    vf.listed = false;
    vf.device = Some(0x101e);
    vf.subsystem_device = Some(0);
    let vf = b.function(vf);
    b.function_mut(vf).unwrap().physfn = Some(pf);
    let mut sw = Function::new(Bdf::new(0, 0x80, 0x1f, 7), Upstream::HostBridge(h1));
    sw.fabric_switch = true;
    sw.port_type = Some(PortType::RcIntegratedEndpoint);
    let sw = b.function(sw);
    b.cpu(CpuInfo {
        arch: Some(CpuArch::Arm),
        vendor: CpuVendor::Other("ARM Neoverse".into()),
        family: Some(0),
        model: None,
        model_name: Some(String::new()),
    });
    b.whitelist(Whitelist {
        release: Cow::Borrowed("vendor tree"),
        entries: Cow::Owned(vec![
            WhitelistEntry {
                vendor: 0x1022,
                device: None,
                requires_same_host_bridge: true,
                note: Cow::Borrowed("AMD, any"),
            },
            WhitelistEntry {
                vendor: 0x8086,
                device: Some(0),
                requires_same_host_bridge: false,
                note: Cow::Borrowed(""),
            },
        ]),
    });
    b.switches_collapsed(true);
    b.iommu_groups_known(true);
    // Two fabrics of one name: links must then name fabrics by index.
    let f0 = b.fabric(PrivateFabric {
        name: "link".into(),
        kind: LinkKind::Other("UALink".into()),
    });
    let f1 = b.fabric(PrivateFabric {
        name: "link".into(),
        kind: LinkKind::Xgmi,
    });
    b.link(PrivateLink {
        fabric: f0,
        a: LinkEnd::Function(pf),
        b: LinkEnd::Function(sw),
        bandwidth: Some(Bandwidth(40_100)),
        latency: Some(Latency(250)),
        nccl_bandwidth: Some(Bandwidth(20_600)),
        count: 18,
        up: false,
    });
    b.link(PrivateLink {
        fabric: f1,
        a: LinkEnd::Cpu { numa_node: None },
        b: LinkEnd::Cpu { numa_node: Some(7) },
        bandwidth: None,
        latency: None,
        nccl_bandwidth: None,
        count: 1,
        up: true,
    });
    b.link(PrivateLink {
        fabric: FabricId(1),
        a: LinkEnd::Function(vf),
        b: LinkEnd::Cpu { numa_node: Some(0) },
        bandwidth: Some(Bandwidth(0)),
        latency: Some(Latency(0)),
        nccl_bandwidth: None,
        count: 0,
        up: true,
    });
    b.build().unwrap()
}

#[test]
fn a_machine_using_every_attribute_round_trips() {
    let m = everything();
    round_trip("everything", &m);
    // And the text says it plainly.
    let text = to_toml(&m);
    for needle in [
        "bdf = \"10000:00:01.0\"",
        "parent = \"pci10000:00\"",
        "acs = 0x005d",
        "acs = \"absent\"",
        "port_type = \"root-port\"",
        "port_type = 14",
        "physfn = \"10000:01:00.0\"",
        "link = \"2.5 GT/s x4\"",
        "max_link = \"2.501 GT/s\"",
        "link = \"x16\"",
        "size = \"0xffffffffffffffff\"",
        "listed = false",
        "fabric_switch = true",
        "fabric = 0",
        "a = \"cpu\"",
        "b = \"cpu:7\"",
        "up = false",
        "latency_ns = 250",
        "switches_collapsed = true",
        "iommu_groups_known = true",
        "release = \"vendor tree\"",
        "arch = \"arm\"",
        "nccl_bandwidth = 20600",
        "root_bus_complete = false",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}

#[test]
fn the_default_whitelist_is_not_written_and_an_empty_one_is() {
    let m = generate(&SynthSpec::default()).unwrap();
    assert!(!to_toml(&m).contains("[whitelist]"));
    let mut b = Machine::builder();
    b.whitelist(Whitelist {
        release: Cow::Borrowed("Linux 7.2"),
        entries: Cow::Owned(Vec::new()),
    });
    let hb = b.host_bridge(HostBridge::new(0, 0));
    b.function(Function::new(
        Bdf::new(0, 0, 0, 0),
        Upstream::HostBridge(hb),
    ));
    let m = b.build().unwrap();
    assert!(to_toml(&m).contains("entries = [\n]"));
    round_trip("empty whitelist", &m);
}

const HAND: &str = r#"
# A machine written by hand, with the short forms.
[cpu]
vendor = "amd"
family = 0x19

[[host_bridge]]
name = "pci0000:00"
numa_node = 1

[[function]]            # a switch upstream port, listed before the root port above it
bdf = "0000:01:00.0"
class = 0x060400
bus_range = [2, 3]
link = { speed = "16 GT/s", width = 16 }

[[function]]
bdf = "0000:00:01.0"    # on the root bus: found by its bus
class = 0x060400
bus_range = [1, 3]
port_type = "root-port"

[[function]]
bdf = "0000:02:00.0"
parent = "0000:01:00.0"
class = 0x060400
bus_range = [3, 3]

[[function]]
bdf = "0000:03:00.0"    # below the bridge whose secondary bus is 03
id = "10de:20b2"
class = 0x030200
link = "16.0 GT/s PCIe x16"
p2pmem = { size = 0x10000000 }

[[function]]
bdf = "0000:03:00.1"
physfn = "0000:03:00.0"
vendor = 0x10de

[[function]]
bdf = "0000:40:00.0"    # a root bus of its own: an implied host bridge
id = "15b3:101d"
link_bandwidth = "24 GB/s"

[[fabric]]
name = "nv"
kind = "NVLink"

[[link]]
fabric = "nv"
a = "0000:03:00.0"
b = "cpu:1"
bandwidth = "20.6 GB/s"
"#;

#[test]
fn short_forms_people_write_by_hand() {
    let m = parse_toml("hand.toml", HAND).unwrap();
    let id = |s: &str| m.find(s.parse().unwrap()).unwrap();
    let (usp, rp, dsp, gpu, vf, nic) = (
        id("0000:01:00.0"),
        id("0000:00:01.0"),
        id("0000:02:00.0"),
        id("0000:03:00.0"),
        id("0000:03:00.1"),
        id("0000:40:00.0"),
    );
    assert_eq!(m.parent(usp), Some(rp));
    assert_eq!(m.parent(dsp), Some(usp));
    assert_eq!(m.parent(gpu), Some(dsp));
    assert_eq!(m.parent(rp), None);
    // Parents are added before children whatever the order in the file.
    assert!(rp < usp);
    assert_eq!(m.function(vf).unwrap().physfn, Some(gpu));
    assert_eq!(m.host_bridges().len(), 2);
    assert_eq!(m.host_bridges()[0].numa_node, Some(1));
    assert_eq!(m.numa_node(gpu), Some(1));
    let g = m.function(gpu).unwrap();
    assert_eq!((g.vendor, g.device), (Some(0x10de), Some(0x20b2)));
    assert_eq!(g.current_link, LinkStatus::new(LinkSpeed::GEN4, 16));
    assert_eq!(
        m.function(nic).unwrap().link_bandwidth,
        Some(Bandwidth(24_000))
    );
    assert_eq!(m.cpu().vendor, CpuVendor::Amd);
    assert!(m.cpu().supports_p2pdma());
    assert_eq!(m.links()[0].bandwidth, Some(Bandwidth(20_600)));
    assert_eq!(m.links()[0].b, LinkEnd::Cpu { numa_node: Some(1) });
    assert_eq!(m.fabrics()[0].kind, LinkKind::NvLink);
    assert_eq!(m.nv_class(gpu, nic), Some(NvClass::Node));
    round_trip("hand.toml written back", &m);
}

#[test]
fn the_documented_examples_load() {
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/machine-format.md");
    let text = std::fs::read_to_string(&doc).unwrap();
    let mut blocks = Vec::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find("```toml\n") {
        let body = &rest[start + 8..];
        let end = body.find("```").unwrap();
        blocks.push(&body[..end]);
        rest = &body[end + 3..];
    }
    assert!(blocks.len() >= 3, "```toml blocks in {}", doc.display());
    for (i, b) in blocks.iter().enumerate() {
        let name = format!("docs/machine-format.md block {i}");
        if !b.contains("[[function]]") {
            // A fragment showing one table: refused as a machine without PCI functions.
            assert!(matches!(parse_toml(&name, b), Err(LoadError::NoPci { .. })));
            continue;
        }
        let m = parse_toml(&name, b).unwrap_or_else(|e| panic!("{e}"));
        round_trip(&format!("block {i}"), &m);
    }
    let complete = blocks.iter().max_by_key(|b| b.len()).unwrap();
    let m = parse_toml("docs/machine-format.md", complete).unwrap_or_else(|e| panic!("{e}"));
    assert!(m.functions().len() >= 5);
    assert!(!m.links().is_empty());
    round_trip("the documented example", &m);
}

/// A TOML error at a line and column.
fn error_at(text: &str) -> (usize, usize, String) {
    match parse_toml("bad.toml", text) {
        Err(LoadError::MalformedAt {
            line,
            column,
            expected,
            ..
        }) => (line, column, expected),
        Err(LoadError::Parse {
            line,
            column,
            message,
            ..
        }) => (line, column, message),
        other => panic!("{text:?}: {other:?}"),
    }
}

#[test]
fn errors_name_the_line_and_column_and_what_was_expected() {
    let cases: [(&str, usize, usize, &str); 15] = [
        ("[[function]]\nbdf = \"0000:00:1f\"\n", 2, 7, "PCI address"),
        (
            "[[function]]\nbdf = \"0000:00:01.0\"\ntrust = \"root\"\n",
            3,
            9,
            "\"iommufd\"",
        ),
        (
            "[[function]]\nbdf = \"0000:00:01.0\"\nvendr = 1\n",
            3,
            1,
            "unknown field",
        ),
        (
            "[[function]]\nbdf = \"0000:00:01.0\"\nvendor = 70000\n",
            3,
            10,
            "u16",
        ),
        (
            "[[function]]\nbdf = \"0000:00:01.0\"\nparent = \"0000:09:00.0\"\n",
            3,
            10,
            "a function of this file",
        ),
        (
            "[[function]]\nbdf = \"0000:00:01.0\"\nacs = \"on\"\n",
            3,
            7,
            "absent",
        ),
        (
            "[[function]]\nbdf = \"0000:00:01.0\"\nlink = \"fast\"\n",
            3,
            8,
            "16 GT/s",
        ),
        (
            "[[function]]\nbdf = \"0000:00:01.0\"\nport_type = \"root\"\n",
            3,
            13,
            "root-port",
        ),
        (
            "[[function]]\nbdf = \"0000:00:01.0\"\nclass = 0x1000000\n",
            3,
            9,
            "24-bit",
        ),
        (
            "[[function]]\nbdf = \"0000:00:01.0\"\n[[function]]\nbdf = \"0000:00:01.0\"\n",
            4,
            7,
            "each function once",
        ),
        (
            "[[link]]\nfabric = \"x\"\na = \"cpu\"\nb = \"cpu\"\n",
            2,
            10,
            "[[fabric]]",
        ),
        ("format = 2\n", 1, 10, "format = 1"),
        ("[[host_bridge]]\nname = \"pci0:00\"\n", 2, 8, "pciDDDD:BB"),
        (
            "[[function]]\nbdf = \"0000:00:01.0\"\nbus_range = [1, 1]\nparent = \"0000:01:00.0\"\n[[function]]\nbdf = \"0000:01:00.0\"\nparent = \"0000:00:01.0\"\n",
            7,
            10,
            "tree",
        ),
        ("[[function]\n", 1, 12, ""),
    ];
    for (text, line, column, needle) in cases {
        let (l, c, what) = error_at(text);
        assert_eq!((l, c), (line, column), "{text:?}: {what}");
        assert!(what.contains(needle), "{text:?}: {what:?} lacks {needle:?}");
    }
    // The message names the file.
    let e = parse_toml("bad.toml", "format = 2\n")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("bad.toml:1:10: expected format = 1"), "{e}");
}
