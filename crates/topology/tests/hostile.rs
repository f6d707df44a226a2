//! Hostile and huge input: every loader ends in bounded time and memory with a correct machine
//! or an error that names the file and the limit it reached (`pci_topology::limits`). Each test
//! is one of the reproducers of the "hostile and huge input" issue, scaled to run in seconds.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use dmabuf_negotiate::{DeviceId, Fabric, FabricId, Initiator, Memory, RouteKind};
use pci_topology::limits::{self, MAX_BRIDGE_DEPTH};
use pci_topology::load::{self, ArchiveSource, LoadError, load_from_source, load_sysfs};
use pci_topology::{Bdf, BuildError, Machine};

static N: AtomicU32 = AtomicU32::new(0);

/// A fresh empty folder under the system temp dir.
fn scratch() -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "pci-topology-hostile-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The address of the `i`-th function of a long chain: unique, one bus each.
fn nth(i: usize) -> Bdf {
    Bdf::new((i / 256) as u32, (i % 256) as u8, 0, 0)
}

/// A machine TOML of a chain of `n` functions, each below the previous, listed from the root
/// down or from the bottom up.
fn toml_chain(n: usize, bottom_up: bool) -> String {
    let mut order: Vec<usize> = (0..n).collect();
    if bottom_up {
        order.reverse();
    }
    let mut t = String::new();
    for i in order {
        t.push_str(&format!("[[function]]\nbdf = \"{}\"\n", nth(i)));
        if i > 0 {
            t.push_str(&format!("parent = \"{}\"\n", nth(i - 1)));
        }
    }
    t
}

#[test]
fn a_chain_at_the_depth_limit_loads_and_one_more_is_refused_at_its_line() {
    let deepest = MAX_BRIDGE_DEPTH + 1;
    let m = load::parse_toml("chain.toml", &toml_chain(deepest, false)).unwrap();
    let bottom = m.find(nth(deepest - 1)).unwrap();
    assert_eq!(m.chain(bottom).len(), deepest);
    for bottom_up in [false, true] {
        let text = toml_chain(deepest + 1, bottom_up);
        let e = load::parse_toml("chain.toml", &text).unwrap_err();
        let s = e.to_string();
        assert!(
            matches!(e, LoadError::MalformedAt { .. })
                && s.contains(&format!("at most {MAX_BRIDGE_DEPTH} bridges")),
            "{s}"
        );
    }
}

#[test]
fn a_chain_of_twenty_thousand_bridges_is_an_error_in_every_text_format() {
    // The reproducer: 20 000 bridges from a machine TOML overflowed `topo`'s stack.
    let e = load::parse_toml("deep.toml", &toml_chain(20_000, true)).unwrap_err();
    assert!(
        e.to_string()
            .contains(&format!("at most {MAX_BRIDGE_DEPTH} bridges")),
        "{e}"
    );
    // hwloc: PCI bridges nested inside one host bridge (fewer than the XML nesting limit).
    let depth = MAX_BRIDGE_DEPTH + 10;
    let mut xml = String::from(
        "<topology><object type=\"Machine\"><object type=\"Bridge\" bridge_type=\"0-1\" \
         bridge_pci=\"0000:[00-ff]\">",
    );
    for i in 0..depth {
        xml.push_str(&format!(
            "<object type=\"Bridge\" bridge_type=\"1-1\" pci_busid=\"{}\" \
             pci_type=\"0604 [8086:1234] [0000:0000] 00 00\">",
            nth(i)
        ));
    }
    xml.push_str(&"</object>".repeat(depth + 2));
    xml.push_str("</topology>");
    let e = load::parse_hwloc_xml("deep.xml", &xml).unwrap_err();
    assert!(
        matches!(e, LoadError::MalformedAt { .. })
            && e.to_string()
                .contains(&format!("at most {MAX_BRIDGE_DEPTH} bridges")),
        "{e}"
    );
    // NCCL: <pci> inside <pci>.
    let mut xml = String::from("<system version=\"1\"><cpu numaid=\"0\">");
    for i in 0..depth {
        xml.push_str(&format!(
            "<pci busid=\"{}\" class=\"0x060400\">",
            nth(i + 1)
        ));
    }
    xml.push_str(&"</pci>".repeat(depth));
    xml.push_str("</cpu></system>");
    let e = load::parse_nccl_xml("deep.xml", &xml).unwrap_err();
    assert!(
        matches!(e, LoadError::MalformedAt { .. })
            && e.to_string()
                .contains(&format!("at most {MAX_BRIDGE_DEPTH} bridges")),
        "{e}"
    );
}

#[test]
fn the_model_refuses_a_deeper_chain_whatever_built_it() {
    let mut b = Machine::builder();
    let hb = b.host_bridge(pci_topology::HostBridge::new(0, 0));
    let mut up = pci_topology::Upstream::HostBridge(hb);
    for i in 0..=MAX_BRIDGE_DEPTH + 1 {
        up = pci_topology::Upstream::Bridge(b.function(pci_topology::Function::new(nth(i), up)));
    }
    assert_eq!(
        b.build().unwrap_err(),
        BuildError::TooDeep(nth(MAX_BRIDGE_DEPTH + 1))
    );
}

// ---- sysfs archives ---------------------------------------------------------------------

/// A tar archive builder for hand-made entries.
struct Tar(tar::Builder<Vec<u8>>);

impl Tar {
    fn new() -> Self {
        Self(tar::Builder::new(Vec::new()))
    }

    fn header(kind: tar::EntryType, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(0o644);
        h.set_size(size);
        h
    }

    fn file(mut self, path: &str, data: &[u8]) -> Self {
        let mut h = Self::header(tar::EntryType::Regular, data.len() as u64);
        self.0.append_data(&mut h, path, data).unwrap();
        self
    }

    fn link(mut self, path: &str, target: &str) -> Self {
        let mut h = Self::header(tar::EntryType::Symlink, 0);
        self.0.append_link(&mut h, path, target).unwrap();
        self
    }

    fn bytes(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

/// A function folder's minimal attributes.
fn minimal(t: Tar, dir: &str) -> Tar {
    t.file(&format!("{dir}/vendor"), b"0x8086\n")
        .file(&format!("{dir}/device"), b"0x1234\n")
        .file(&format!("{dir}/class"), b"0x060400\n")
}

fn bz2(bytes: &[u8]) -> Vec<u8> {
    let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn a_member_larger_than_its_limit_is_refused_before_it_is_read() {
    // The bzip2 bomb: a tiny archive whose member says 16 GB of zeros. Only its header
    // (and the first of its data, compressed) is given: nothing past the header is needed.
    let mut header = Tar::header(tar::EntryType::Regular, 16 << 30);
    header.set_path("top/sys/config").unwrap();
    header.set_cksum();
    let mut archive = header.as_bytes().to_vec();
    archive.extend_from_slice(&[0u8; 1 << 20]);
    for (name, bytes) in [
        ("bomb.tar", archive.clone()),
        ("bomb.tar.bz2", bz2(&archive)),
        ("bomb.tar.gz", gz(&archive)),
    ] {
        let e = ArchiveSource::from_bytes(name, &bytes).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "{name}:top/sys/config: larger than 16 MiB, the limit for one member of a sysfs archive"
            )
        );
    }
    // A real member one byte over the limit.
    let big = vec![b'x'; limits::ARCHIVE_MEMBER.bytes as usize + 1];
    let t = Tar::new().file("top/sys/big", &big).bytes();
    let e = ArchiveSource::from_bytes("big.tar", &t).unwrap_err();
    assert!(
        matches!(&e, LoadError::TooLarge { limit, .. } if *limit == limits::ARCHIVE_MEMBER),
        "{e}"
    );
}

/// An endless tar stream of named pipes, each with 1 MiB of data the loader skips: only the
/// archive's total limit stops it.
struct EndlessTar {
    block: Vec<u8>,
    at: usize,
    n: u64,
}

impl Read for EndlessTar {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.block.len() {
            self.n += 1;
            let mut h = Tar::header(tar::EntryType::Fifo, 1 << 20);
            h.set_path(format!("top/sys/fifo{}", self.n)).unwrap();
            h.set_cksum();
            self.block = h.as_bytes().to_vec();
            self.block.resize(512 + (1 << 20), 0);
            self.at = 0;
        }
        let k = buf.len().min(self.block.len() - self.at);
        buf[..k].copy_from_slice(&self.block[self.at..self.at + k]);
        self.at += k;
        Ok(k)
    }
}

#[test]
fn an_archive_stops_at_its_total_limit_and_says_so() {
    let endless = EndlessTar {
        block: Vec::new(),
        at: 0,
        n: 0,
    };
    let e =
        ArchiveSource::from_reader("endless.tar", std::io::BufReader::new(endless)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "endless.tar: larger than 256 MiB, the limit for a sysfs archive once decompressed"
    );
}

/// An archive of one function at the end of a chain of `depth` bridges.
fn deep_archive(depth: usize) -> Vec<u8> {
    let mut dir = String::from("top/sys/devices/pci0000:00");
    for i in 0..depth {
        dir.push_str(&format!("/{}", nth(i + 1)));
    }
    let end = nth(depth + 1);
    dir.push_str(&format!("/{end}"));
    let target = format!("../../..{}", &dir["top/sys".len()..]);
    let t = minimal(Tar::new(), &dir)
        .link(&format!("top/sys/bus/pci/devices/{end}"), &target)
        .file("top/proc/cpuinfo", b"vendor_id\t: GenuineIntel\n");
    t.bytes()
}

#[test]
fn deep_sysfs_paths_are_true_errors() {
    // Deeper than the model allows, within PATH_MAX: the depth is the error.
    let a = ArchiveSource::from_bytes("deep.tar", &deep_archive(MAX_BRIDGE_DEPTH + 20)).unwrap();
    let e = load_from_source(&a).unwrap_err().to_string();
    assert!(
        e.contains(&format!(
            "at most {MAX_BRIDGE_DEPTH} bridges below its root bus"
        )) && e.contains(&format!("{} bridges in its path", MAX_BRIDGE_DEPTH + 20))
            && !e.contains("cycle"),
        "{e}"
    );
    // The 20 000-deep path: longer than any path of a real sysfs (PATH_MAX), no cycle.
    let e = ArchiveSource::from_bytes("deeper.tar", &deep_archive(20_000))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("deeper.tar: ") && e.contains("at most 4096 bytes (PATH_MAX)"),
        "{e}"
    );
    // At the limit it loads, with every bridge of the path.
    let a = ArchiveSource::from_bytes("ok.tar", &deep_archive(MAX_BRIDGE_DEPTH)).unwrap();
    let m = load_from_source(&a).unwrap();
    assert_eq!(m.functions().len(), MAX_BRIDGE_DEPTH + 1);
    let bottom = m.find(nth(MAX_BRIDGE_DEPTH + 1)).unwrap();
    assert_eq!(m.chain(bottom).len(), MAX_BRIDGE_DEPTH + 1);
}

// ---- sysfs folders ----------------------------------------------------------------------

const EP: &str = "sys/devices/pci0000:00/0000:00:01.0";
const EP_BDF: &str = "0000:00:01.0";

/// A snapshot folder with one function; `extra` adds to it.
fn folder(extra: impl FnOnce(&Path)) -> PathBuf {
    let root = scratch();
    let dir = root.join(EP);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("class"), "0x020000\n").unwrap();
    let mut cfg = vec![0u8; 64];
    cfg[0..2].copy_from_slice(&0x15b3u16.to_le_bytes());
    cfg[2..4].copy_from_slice(&0x1017u16.to_le_bytes());
    std::fs::write(dir.join("config"), cfg).unwrap();
    std::fs::create_dir_all(root.join("sys/bus/pci/devices")).unwrap();
    std::os::unix::fs::symlink(
        "../../../devices/pci0000:00/0000:00:01.0",
        root.join("sys/bus/pci/devices/0000:00:01.0"),
    )
    .unwrap();
    extra(&dir);
    root
}

fn mkfifo(path: &Path) {
    let ok = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap()
        .success();
    assert!(ok, "mkfifo {}", path.display());
}

#[test]
fn a_named_pipe_is_an_error_not_a_hang() {
    let root = folder(|dir| {
        std::fs::remove_file(dir.join("class")).unwrap();
        mkfifo(&dir.join("class"));
    });
    let e = load_sysfs(&root).unwrap_err().to_string();
    assert!(
        e.contains("0000:00:01.0/class")
            && e.contains("expected a regular file, found a named pipe"),
        "{e}"
    );
    // The same as the machine source itself (a scenario's `sysfs = "..."`), and as a text file.
    let fifo = root.join("fifo");
    mkfifo(&fifo);
    for e in [
        load_sysfs(&fifo).unwrap_err(),
        load::load(&fifo).unwrap_err(),
        load::load_toml(&fifo).unwrap_err(),
    ] {
        assert!(e.to_string().contains("named pipe"), "{e}");
    }
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn a_device_file_as_the_machine_is_an_error_not_endless_reading() {
    // The issue's `[machine] sysfs = "/dev/zero"`.
    for e in [
        load_sysfs("/dev/zero").unwrap_err(),
        load::load("/dev/zero").unwrap_err(),
        load::load_hwloc_xml("/dev/zero").unwrap_err(),
    ] {
        assert!(e.to_string().contains("a character device"), "{e}");
    }
}

#[test]
fn attributes_and_files_have_size_limits() {
    let root = folder(|dir| {
        std::fs::write(dir.join("resource"), vec![b'0'; 100 << 10]).unwrap();
    });
    let e = load_sysfs(&root).unwrap_err().to_string();
    assert!(
        e.contains("0000:00:01.0/resource: larger than 64 KiB, the limit for a sysfs attribute"),
        "{e}"
    );
    let root2 = folder(|dir| {
        std::fs::write(dir.join("config"), vec![0u8; 8192]).unwrap();
    });
    let e = load_sysfs(&root2).unwrap_err().to_string();
    assert!(
        e.contains("larger than 4 KiB, the limit for a configuration space"),
        "{e}"
    );
    let big = root.join("big.toml");
    std::fs::write(&big, vec![b'#'; limits::MACHINE_FILE.bytes as usize + 1]).unwrap();
    let e = load::load_toml(&big).unwrap_err().to_string();
    assert!(
        e.contains("larger than 16 MiB, the limit for a machine file"),
        "{e}"
    );
    std::fs::remove_dir_all(root).unwrap();
    std::fs::remove_dir_all(root2).unwrap();
}

#[test]
fn attribute_links_stay_inside_the_tree() {
    let secret = scratch().join("secret");
    std::fs::write(&secret, "0xdead\n").unwrap();
    let root = folder(|dir| {
        // `vendor` to a file outside the tree, `config` to /dev/zero, `net` to the root.
        std::os::unix::fs::symlink(&secret, dir.join("vendor")).unwrap();
        std::fs::remove_file(dir.join("config")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", dir.join("config")).unwrap();
        std::os::unix::fs::symlink("/", dir.join("net")).unwrap();
    });
    // What the links name is looked up inside the snapshot: no such vendor file, no config,
    // and the tree's own root (proc, sys) rather than the host's.
    let m = load_sysfs(&root).unwrap();
    let f = m
        .function(m.find(EP_BDF.parse().unwrap()).unwrap())
        .unwrap();
    assert_eq!(f.vendor, None, "the link outside the tree was not followed");
    assert_eq!(f.header_type, None, "no config inside the tree");
    assert_eq!(f.os_devices, ["sys"]);
    // A link inside the tree is followed.
    std::fs::write(root.join("vendor-inside"), "0x10de\n").unwrap();
    let dir = root.join(EP);
    std::fs::remove_file(dir.join("vendor")).unwrap();
    std::os::unix::fs::symlink("/vendor-inside", dir.join("vendor")).unwrap();
    let m = load_sysfs(&root).unwrap();
    let f = m
        .function(m.find(EP_BDF.parse().unwrap()).unwrap())
        .unwrap();
    assert_eq!(f.vendor, Some(0x10de));
    std::fs::remove_dir_all(root).unwrap();
    std::fs::remove_dir_all(secret.parent().unwrap()).unwrap();
}

#[test]
fn a_bad_link_speed_says_expected_once() {
    let root = folder(|dir| std::fs::write(dir.join("current_link_speed"), "fast\n").unwrap());
    let e = load_sysfs(&root).unwrap_err().to_string();
    assert!(
        e.contains(": expected a link speed such as") && !e.contains("expected expected"),
        "{e}"
    );
    std::fs::remove_dir_all(root).unwrap();
}

// ---- private fabrics --------------------------------------------------------------------

/// An NCCL dump of `gpus` GPUs below one PCIe switch, each with 12 NVLinks to one NVSwitch.
fn nvswitch_machine(gpus: usize) -> String {
    let mut x = String::from(
        "<system version=\"1\"><cpu numaid=\"0\" arch=\"x86_64\" vendor=\"GenuineIntel\">\
         <pci busid=\"0000:00:01.0\" class=\"0x060400\">",
    );
    for i in 0..gpus {
        let bdf = Bdf::new(0, (1 + i / 256) as u8, ((i % 256) / 8) as u8, (i % 8) as u8);
        x.push_str(&format!(
            "<pci busid=\"{bdf}\" class=\"0x030200\"><gpu dev=\"{i}\" sm=\"90\">\
             <nvlink target=\"0000:ff:00.0\" count=\"12\" tclass=\"0x068000\"/></gpu></pci>"
        ));
    }
    x.push_str("</pci></cpu></system>");
    x
}

#[test]
fn eight_thousand_gpus_on_one_nvswitch_route_without_a_table_of_pairs() {
    // The reproducer: 4000 GPUs took 18 s and 2.4 GB; 8000 aborted.
    let text = nvswitch_machine(8000);
    let m = load::parse_nccl_xml("nvswitch.xml", &text).unwrap();
    let gpu = |i: usize| {
        let bdf = Bdf::new(0, (1 + i / 256) as u8, ((i % 256) / 8) as u8, (i % 8) as u8);
        DeviceId(m.find(bdf).unwrap().0)
    };
    for (a, b) in [(0, 1), (0, 7999), (4321, 17)] {
        let r = m.private_route(FabricId(0), gpu(a), gpu(b)).unwrap();
        assert_eq!((r.kind, r.hops), (RouteKind::PrivateLink(FabricId(0)), 2));
        assert!(r.bandwidth.is_some());
    }
    // P2P over PCIe below the one switch, for a sample.
    assert!(
        m.reach(Initiator::Device(gpu(3)), Memory::Device(gpu(4000)))
            .is_ok()
    );
}
