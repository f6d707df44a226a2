//! The sysfs loader: snapshot folders and archives read the same way, what real snapshots
//! contain (64-byte configs, bridges only in paths, `numa_node` -1, "Unknown" link speeds, both
//! speed spellings), errors that name the file and what was expected, and the live root.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use pci_topology::load::{
    ArchiveSource, DirSource, LoadError, Source, load_from_source, load_sysfs,
};
use pci_topology::{Acs, Bdf, LinkSpeed, PortType};

static N: AtomicU32 = AtomicU32::new(0);

/// A fresh empty folder under the system temp dir.
fn scratch() -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "pci-topology-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A snapshot tree: files (path, bytes) and symlinks (path, target).
#[derive(Clone)]
struct Tree {
    files: Vec<(String, Vec<u8>)>,
    links: Vec<(String, String)>,
}

const RP: &str = "sys/devices/pci0000:00/0000:00:01.0";
const HIDDEN: &str = "sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0";
const EP: &str = "sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0/0000:02:00.0";

fn config(len: usize, bridge: bool, caps: bool) -> Vec<u8> {
    let mut c = vec![0u8; len];
    c[0..2].copy_from_slice(&0x8086u16.to_le_bytes());
    c[2..4].copy_from_slice(&0x1234u16.to_le_bytes());
    if caps {
        c[6] = 0x10;
        c[0x34] = 0x40;
    }
    if bridge {
        c[0x0e] = 1;
        c[0x0b] = 0x06;
        c[0x0a] = 0x04;
    }
    c
}

fn pcie_config(port_type: u8, acs_control: Option<u16>) -> Vec<u8> {
    let mut c = config(4096, port_type == 4 || port_type == 6, true);
    c[0x40] = 0x10;
    c[0x41] = 0;
    c[0x42] = port_type << 4;
    if let Some(ctrl) = acs_control {
        // An unrelated extended capability at 0x100 (AER), then ACS at 0x148.
        c[0x100..0x104].copy_from_slice(&(0x0001u32 | (0x148 << 20)).to_le_bytes());
        c[0x148..0x14c].copy_from_slice(&0x000du32.to_le_bytes());
        c[0x14e..0x150].copy_from_slice(&ctrl.to_le_bytes());
    }
    c
}

fn base_tree() -> Tree {
    let mut files = Vec::new();
    let mut attr =
        |dir: &str, name: &str, v: &[u8]| files.push((format!("{dir}/{name}"), v.to_vec()));
    attr(RP, "vendor", b"0x8086\n");
    attr(RP, "device", b"0x2030\n");
    attr(RP, "class", b"0x060400\n");
    attr(RP, "numa_node", b"-1\n");
    attr(RP, "current_link_speed", b"16.0 GT/s PCIe\n");
    attr(RP, "current_link_width", b"16\n");
    attr(RP, "config", &pcie_config(4, Some(0x001d)));
    // The switch port is only in the path: a folder with a few files, not in bus/pci/devices.
    attr(HIDDEN, "class", b"0x060400\n");
    attr(EP, "vendor", b"0x15b3\n");
    attr(EP, "device", b"0x1017\n");
    attr(EP, "class", b"0x020000\n");
    attr(EP, "numa_node", b"1\n");
    attr(EP, "current_link_speed", b"8 GT/s\n");
    attr(EP, "current_link_width", b"8\n");
    attr(EP, "max_link_speed", b"Unknown\n");
    attr(EP, "local_cpus", b"00000000,0000000f\n");
    attr(EP, "config", &config(64, false, true));
    attr(EP, "resource", b"0x00000000fb000000 0x00000000fbffffff 0x000000000014220c\n0x0000000000000000 0x0000000000000000 0x0000000000000000\n");
    attr(&format!("{EP}/net/eth0"), "ifindex", b"2\n");
    files.push(("proc/cpuinfo".into(), b"processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 17\nmodel name\t: AMD EPYC\n".to_vec()));
    Tree {
        files,
        links: vec![
            (
                "sys/bus/pci/devices/0000:00:01.0".into(),
                "../../../devices/pci0000:00/0000:00:01.0".into(),
            ),
            (
                "sys/bus/pci/devices/0000:02:00.0".into(),
                "../../../devices/pci0000:00/0000:00:01.0/0000:01:00.0/0000:02:00.0".into(),
            ),
            (
                format!("{EP}/driver"),
                "../../../../../bus/pci/drivers/mlx5_core".into(),
            ),
        ],
    }
}

fn write_dir(t: &Tree) -> PathBuf {
    let root = scratch();
    for (p, v) in &t.files {
        let full = root.join(p);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, v).unwrap();
    }
    for (p, target) in &t.links {
        let full = root.join(p);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, full).unwrap();
    }
    root
}

fn write_tar(t: &Tree, top: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut dirs = std::collections::BTreeSet::new();
    for p in t
        .files
        .iter()
        .map(|(p, _)| p)
        .chain(t.links.iter().map(|(p, _)| p))
    {
        let mut d = Path::new(p).parent();
        while let Some(x) = d.filter(|x| !x.as_os_str().is_empty()) {
            dirs.insert(x.to_path_buf());
            d = x.parent();
        }
    }
    for d in dirs {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        b.append_data(&mut h, Path::new(top).join(d), std::io::empty())
            .unwrap();
    }
    for (p, v) in &t.files {
        let mut h = tar::Header::new_gnu();
        h.set_size(v.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, Path::new(top).join(p), v.as_slice())
            .unwrap();
    }
    for (p, target) in &t.links {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, Path::new(top).join(p), target)
            .unwrap();
    }
    b.into_inner().unwrap()
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn bz2(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn bdf(s: &str) -> Bdf {
    s.parse().unwrap()
}

#[test]
fn a_snapshot_folder_with_what_real_snapshots_contain() {
    let root = write_dir(&base_tree());
    let m = load_sysfs(&root).unwrap();
    assert_eq!(m.functions().len(), 3);
    let rp = m.find(bdf("0000:00:01.0")).unwrap();
    let hidden = m.find(bdf("0000:01:00.0")).unwrap();
    let ep = m.find(bdf("0000:02:00.0")).unwrap();
    let (frp, fh, fep) = (
        m.function(rp).unwrap(),
        m.function(hidden).unwrap(),
        m.function(ep).unwrap(),
    );
    // Full config: port type and ACS read from the capability lists.
    assert_eq!(frp.port_type, Some(PortType::RootPort));
    assert_eq!(frp.acs, Acs::Present { control: 0x001d });
    assert_eq!(frp.numa_node, None, "numa_node -1 is none");
    assert_eq!(frp.current_link.speed, Some(LinkSpeed::GEN4));
    // The bridge only in the path: there, not listed, under the root port.
    assert!(!fh.listed && fep.listed);
    assert_eq!(m.parent(hidden), Some(rp));
    assert_eq!(m.parent(ep), Some(hidden));
    assert_eq!(fh.vendor, None);
    assert_eq!(fh.acs, Acs::Unknown);
    // 64-byte config: unknown, not off.
    assert_eq!(fep.acs, Acs::Unknown);
    assert_eq!(fep.port_type, None);
    assert_eq!(fep.current_link.speed, Some(LinkSpeed::GEN3), "\"8 GT/s\"");
    assert_eq!(fep.max_link.speed, None, "\"Unknown\"");
    assert_eq!(fep.numa_node, Some(1));
    assert_eq!(fep.local_cpulist.as_deref(), Some("0-3"));
    assert_eq!(fep.driver.as_deref(), Some("mlx5_core"));
    assert_eq!(fep.os_devices, vec!["eth0".to_owned()]);
    assert_eq!(fep.bars.len(), 1);
    assert_eq!(fep.bars[0].size(), 0x0100_0000);
    assert_eq!(m.cpu().family, Some(25));
    assert!(m.cpu().supports_p2pdma());
    // The verdict knows that ACS is unknown on the path.
    let v = m.p2p_verdict(ep, ep).unwrap();
    assert!(!v.acs_known);
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn folder_and_archives_load_the_same_machine() {
    let t = base_tree();
    let root = write_dir(&t);
    let from_dir = load_from_source(&DirSource::new(&root)).unwrap();
    let tar = write_tar(&t, "some-other-name");
    for (kind, bytes) in [
        ("tar", tar.clone()),
        ("tar.gz", gz(&tar)),
        ("tar.bz2", bz2(&tar)),
    ] {
        let src = ArchiveSource::from_bytes(kind, &bytes).unwrap();
        assert_eq!(src.top_folder(), "some-other-name");
        let m = load_from_source(&src).unwrap();
        assert_eq!(m.functions(), from_dir.functions(), "{kind}");
        assert_eq!(m.host_bridges(), from_dir.host_bridges(), "{kind}");
        assert_eq!(m.cpu(), from_dir.cpu(), "{kind}");
    }
    // sys/ and proc/ at the top of the archive (ghw's snapshots), beside other folders.
    let mut bare = t.clone();
    bare.files
        .push(("etc/os-release".into(), b"ID=debian\n".to_vec()));
    let src = ArchiveSource::from_bytes("bare.tar.gz", &gz(&write_tar(&bare, ""))).unwrap();
    assert_eq!(src.top_folder(), "");
    assert_eq!(src.display("sys"), "bare.tar.gz:sys");
    let m = load_from_source(&src).unwrap();
    assert_eq!(m.functions(), from_dir.functions(), "no top folder");
    // And through the path-taking entry point.
    let file = root.with_extension("tar.gz");
    std::fs::write(&file, gz(&tar)).unwrap();
    assert_eq!(load_sysfs(&file).unwrap().functions(), from_dir.functions());
    std::fs::remove_file(file).unwrap();
    std::fs::remove_dir_all(root).unwrap();
}

fn err_of(t: &Tree) -> String {
    let root = write_dir(t);
    let dir_err = load_sysfs(&root).map(|_| ()).unwrap_err().to_string();
    let ar_err =
        load_from_source(&ArchiveSource::from_bytes("x.tar", &write_tar(t, "top")).unwrap())
            .map(|_| ())
            .unwrap_err()
            .to_string();
    std::fs::remove_dir_all(root).unwrap();
    assert!(ar_err.starts_with("x.tar:top/"), "{ar_err}");
    // Both name the same file inside the tree.
    let tail = |s: &str| {
        s.split("/sys/")
            .nth(1)
            .map(str::to_owned)
            .unwrap_or_default()
    };
    assert_eq!(tail(&dir_err), tail(&ar_err));
    dir_err
}

fn with_file(path: &str, v: &[u8]) -> Tree {
    let mut t = base_tree();
    t.files.retain(|(p, _)| p != path);
    t.files.push((path.into(), v.to_vec()));
    t
}

#[test]
fn the_iommu_group_s_domain_type_is_read() {
    let mut t = base_tree();
    t.links.push((
        format!("{EP}/iommu_group"),
        "../../../../../kernel/iommu_groups/7".into(),
    ));
    t.files.push((
        "sys/kernel/iommu_groups/7/type".into(),
        b"DMA-FQ\n".to_vec(),
    ));
    let root = write_dir(&t);
    let m = load_sysfs(&root).unwrap();
    std::fs::remove_dir_all(root).unwrap();
    let ep = m.find(bdf("0000:02:00.0")).unwrap();
    let f = m.function(ep).unwrap();
    assert_eq!(f.iommu_group, Some(7));
    assert_eq!(f.iommu_domain, Some(pci_topology::IommuDomain::DmaFq));
    assert!(m.iommu_groups_known());
    // Through the host bridge, a DMA-FQ domain translates; bus addresses bypass it.
    let rp = m.find(bdf("0000:00:01.0")).unwrap();
    assert_eq!(
        m.path_quality(rp, ep, true).unwrap().iommu_translates,
        Some(true)
    );
    assert_eq!(
        m.path_quality(rp, ep, false).unwrap().iommu_translates,
        Some(false)
    );
    let why = m
        .iommu_reason(ep, pci_topology::MapType::ThruHostBridge)
        .unwrap();
    assert!(why.contains("IOVA"), "{why}");
}

#[test]
fn empty_attribute_files_are_unknown() {
    // hwloc-gather-topology copies with `cat > file`, which leaves an empty file when the read
    // fails: unknown, like a missing file, not malformed.
    let mut t = with_file(&format!("{EP}/current_link_speed"), b"");
    t.files
        .retain(|(p, _)| *p != format!("{EP}/config") && *p != format!("{EP}/vendor"));
    t.files.push((format!("{EP}/config"), Vec::new()));
    t.files.push((format!("{EP}/vendor"), b"\n".to_vec()));
    let root = write_dir(&t);
    let m = load_sysfs(&root).unwrap();
    std::fs::remove_dir_all(root).unwrap();
    let f = m.function(m.find(bdf("0000:02:00.0")).unwrap()).unwrap();
    assert_eq!(f.current_link.speed, None);
    assert_eq!((f.vendor, f.header_type, f.acs), (None, None, Acs::Unknown));
    assert_eq!(f.device, Some(0x1017));
}

#[test]
fn malformed_files_are_errors_naming_the_file_and_the_expectation() {
    let e = err_of(&with_file(&format!("{EP}/vendor"), b"0xzz15\n"));
    assert!(
        e.contains("0000:02:00.0/vendor") && e.contains("expected a hexadecimal number"),
        "{e}"
    );
    let e = err_of(&with_file(&format!("{EP}/config"), &[0u8; 63]));
    assert!(
        e.contains("0000:02:00.0/config")
            && e.contains("64, 256 or 4096 bytes")
            && e.contains("63 bytes"),
        "{e}"
    );
    let e = err_of(&with_file(&format!("{EP}/config"), &[0u8; 300]));
    assert!(e.contains("300 bytes"), "{e}");
    let e = err_of(&with_file(&format!("{EP}/numa_node"), b"near\n"));
    assert!(e.contains("numa_node") && e.contains("decimal"), "{e}");
    let e = err_of(&with_file(&format!("{EP}/current_link_speed"), b"fast\n"));
    assert!(
        e.contains("current_link_speed") && e.contains("GT/s"),
        "{e}"
    );
    let e = err_of(&with_file(&format!("{EP}/resource"), b"0x1 0x2\n"));
    assert!(
        e.contains("resource") && e.contains("three hexadecimal"),
        "{e}"
    );
    let e = err_of(&with_file(
        "proc/cpuinfo",
        b"vendor_id : AuthenticAMD\ncpu family : zen\n",
    ));
    assert!(
        e.contains("proc/cpuinfo") && e.contains("cpu family"),
        "{e}"
    );
}

#[test]
fn broken_links_and_names_are_errors() {
    // A symlink cycle.
    let mut t = base_tree();
    t.links.push((
        "sys/bus/pci/devices/0000:03:00.0".into(),
        "../../x/a".into(),
    ));
    t.links.push(("sys/bus/x/a".into(), "b".into()));
    t.links.push(("sys/bus/x/b".into(), "a".into()));
    let e = err_of(&t);
    assert!(
        e.contains("symlink cycle") && e.contains("0000:03:00.0"),
        "{e}"
    );
    // A link to something that is not a PCI function folder.
    let mut t = base_tree();
    t.links.push((
        "sys/bus/pci/devices/0000:04:00.0".into(),
        "../../../devices/platform/foo".into(),
    ));
    let e = err_of(&t);
    assert!(
        e.contains("0000:04:00.0") && e.contains("expected a link to a PCI function folder"),
        "{e}"
    );
    // An entry that is not a PCI address.
    let mut t = base_tree();
    t.links.push((
        "sys/bus/pci/devices/eth0".into(),
        "../../../devices/pci0000:00/0000:00:01.0".into(),
    ));
    let e = err_of(&t);
    assert!(
        e.contains("devices/eth0") && e.contains("PCI address"),
        "{e}"
    );
    // A link to the wrong function.
    let mut t = base_tree();
    t.links.push((
        "sys/bus/pci/devices/0000:09:00.0".into(),
        "../../../devices/pci0000:00/0000:00:01.0".into(),
    ));
    let e = err_of(&t);
    assert!(
        e.contains("expected a link to the folder of 0000:09:00.0"),
        "{e}"
    );
}

#[test]
fn unusable_archives_are_errors() {
    let t = base_tree();
    // Two top folders.
    let mut a = write_tar(&t, "one");
    a.truncate(a.len() - 1024);
    let b = write_tar(&t, "two");
    a.extend_from_slice(&b);
    let e = ArchiveSource::from_bytes("two.tar", &a)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("two.tar")
            && e.contains("one top folder")
            && e.contains("`one`")
            && e.contains("`two`"),
        "{e}"
    );
    // Not an archive at all, truncated compressed data, an empty archive.
    for (name, bytes) in [
        (
            "garbage.tar",
            b"this is not a tar archive at all, not even close".repeat(20),
        ),
        ("cut.tar.gz", gz(&write_tar(&t, "x"))[..100].to_vec()),
        ("cut.tar.bz2", bz2(&write_tar(&t, "x"))[..100].to_vec()),
        ("empty.tar", vec![0u8; 1024]),
    ] {
        let e = ArchiveSource::from_bytes(name, &bytes)
            .map(|_| ())
            .unwrap_err();
        let s = e.to_string();
        assert!(s.starts_with(name) && s.contains("expected"), "{s}");
        assert!(matches!(e, LoadError::Archive { .. }), "{e:?}");
    }
    // A top folder without sys/.
    let mut t2 = Tree {
        files: vec![("proc/cpuinfo".into(), b"x".to_vec())],
        links: vec![],
    };
    t2.links.clear();
    let e = ArchiveSource::from_bytes("nosys.tar", &write_tar(&t2, "top"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("sys/"), "{e}");
    // A folder that is no sysfs tree.
    let empty = scratch();
    let e = load_sysfs(&empty).unwrap_err().to_string();
    assert!(e.contains("sys") && e.contains("expected"), "{e}");
    std::fs::remove_dir_all(empty).unwrap();
}

#[test]
fn a_file_of_another_kind_is_named_with_the_format_that_reads_it() {
    use pci_topology::load::{Format, open};
    let dir = scratch();
    let tree = base_tree();
    let files: [(&str, Vec<u8>); 5] = [
        (
            "hwloc.xml",
            b"<?xml version=\"1.0\"?>\n<!DOCTYPE topology SYSTEM \"hwloc2.dtd\">\n<topology version=\"3.0\">\n</topology>\n".to_vec(),
        ),
        ("nccl.xml", b"<system version=\"1\">\n</system>\n".to_vec()),
        ("snapshot.tar.gz", gz(&write_tar(&tree, "top"))),
        ("machine.toml", b"# a machine\nformat = 1\n".to_vec()),
        ("passwd", b"root:x:0:0:root:/root:/bin/bash\n".to_vec()),
    ];
    for (name, bytes) in &files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    for (name, asked, found, detected) in [
        (
            "hwloc.xml",
            Format::Sysfs,
            "an hwloc XML export",
            Some(Format::HwlocXml),
        ),
        (
            "hwloc.xml",
            Format::Toml,
            "an hwloc XML export",
            Some(Format::HwlocXml),
        ),
        (
            "hwloc.xml",
            Format::NcclXml,
            "an hwloc XML export",
            Some(Format::HwlocXml),
        ),
        (
            "nccl.xml",
            Format::HwlocXml,
            "an NCCL topology file",
            Some(Format::NcclXml),
        ),
        (
            "snapshot.tar.gz",
            Format::Toml,
            "a gzip-compressed file",
            Some(Format::Sysfs),
        ),
        (
            "snapshot.tar.gz",
            Format::HwlocXml,
            "a gzip-compressed file",
            Some(Format::Sysfs),
        ),
        (
            "machine.toml",
            Format::Sysfs,
            "a TOML file",
            Some(Format::Toml),
        ),
        (
            "machine.toml",
            Format::NcclXml,
            "a TOML file",
            Some(Format::Toml),
        ),
        ("passwd", Format::Sysfs, "a text file", None),
        ("passwd", Format::HwlocXml, "a text file", None),
    ] {
        let path = dir.join(name);
        let e = open(&path, Some(asked)).map(|_| ()).unwrap_err();
        let LoadError::WrongKind {
            detected: d,
            found: f,
            ..
        } = &e
        else {
            panic!("{name} as {asked}: {e:?}");
        };
        assert_eq!(*d, detected, "{name} as {asked}");
        assert!(f.starts_with(found), "{name} as {asked}: {f}");
        let text = e.to_string();
        assert!(text.starts_with(&path.display().to_string()), "{text}");
        // What is said is what the file is, not a quote of it or a parser's complaint.
        assert!(
            !text.contains("root:x") && !text.contains("cksum"),
            "{text}"
        );
    }
    // The right format still reads it.
    assert!(open(dir.join("snapshot.tar.gz"), Some(Format::Sysfs)).is_ok());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_live_root_loads() {
    if !Path::new("/sys/bus/pci/devices").is_dir() {
        eprintln!("SKIPPED: no /sys/bus/pci on this machine");
        return;
    }
    let m = pci_topology::load::load_live().unwrap();
    let listed = std::fs::read_dir("/sys/bus/pci/devices").unwrap().count();
    assert_eq!(m.functions().iter().filter(|f| f.listed).count(), listed);
    assert!(!m.host_bridges().is_empty() || listed == 0);
    for id in m.function_ids() {
        assert!(m.host_bridge_of(id).is_some());
        let chain = m.chain(id);
        assert_eq!(chain[0], id);
        let f = m.function(id).unwrap();
        // Every listed function has a vendor: sysfs always provides one.
        if f.listed {
            assert!(f.vendor.is_some(), "{}", f.bdf);
        }
    }
    let all: Vec<_> = m.function_ids().collect();
    let mx = m.p2p_matrix(&all, &all);
    for (i, &p) in all.iter().enumerate() {
        assert_eq!(mx.get(i, i).unwrap().kernel_distance().unwrap_or(0), 0);
        let _ = m.nv_class(p, p);
    }
}
