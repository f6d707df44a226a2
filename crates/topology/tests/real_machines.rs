//! Evidence for the loaders on the current real machines of `../shared/fixtures/real/`
//! (`real/SOURCES.md` says where each file comes from). Every file there is covered:
//!
//! - NCCL topology files (AWS p4d/p4de/p5/g5, Azure NDv2/v4/v5/NCv4, HGX H200 and B200, a
//!   Perlmutter A100 node): each `<pci>` is a function under its enclosing `<pci>` (or the
//!   host bridge of its `<cpu>`), a bridge exactly when it holds `<pci>` elements; every pair
//!   of endpoints gets the nvidia-smi class the file's nesting gives; the NVLinks are the file's.
//! - hwloc XML exports (cluster nodes, hwloc's tests): each PCI object under its enclosing
//!   PCI object or host bridge, classes from that nesting; files without PCI are refused.
//! - sysfs snapshots (ghw's, `sys/` and `proc/` at the top of the archive): each function under
//!   its parent folder in `sys/devices`, as the kernel places it; snapshots without PCI refused.
//! - hwloc's sysfs snapshots (gathered without `--io`, none holds PCI) and the XML beside them:
//!   refused, saying how to gather PCI.
//!
//! The expectations are computed here from each file's own structure, read independently of
//! the loaders (quick-xml events, tar entries), not from the loaders' output.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use pci_topology::load::{self, Format, LoadError, Loaded};
use pci_topology::{Bdf, FunctionId, Machine, NvClass, Upstream};
use quick_xml::Reader;
use quick_xml::events::Event;

/// One XML element as the file has it.
#[derive(Debug, Default)]
struct Node {
    name: String,
    attrs: BTreeMap<String, String>,
    children: Vec<Node>,
}

impl Node {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.get(name).map(String::as_str)
    }

    fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }
}

/// The document's root element (comments, declarations and text are skipped).
fn parse_xml(text: &str) -> Node {
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Node> = vec![Node::default()];
    loop {
        let ev = reader.read_event().unwrap();
        let (e, empty) = match &ev {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::End(_) => {
                let done = stack.pop().unwrap();
                stack.last_mut().unwrap().children.push(done);
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        let mut n = Node {
            name: String::from_utf8_lossy(e.name().as_ref()).into_owned(),
            ..Node::default()
        };
        for a in e.attributes() {
            let a = a.unwrap();
            n.attrs.insert(
                String::from_utf8_lossy(a.key.as_ref()).into_owned(),
                String::from_utf8_lossy(&a.value).into_owned(),
            );
        }
        if empty {
            stack.last_mut().unwrap().children.push(n);
        } else {
            stack.push(n);
        }
    }
    assert_eq!(stack.len(), 1, "unbalanced XML");
    stack.pop().unwrap().children.pop().unwrap()
}

fn bdf(s: &str) -> Bdf {
    s.trim().to_ascii_lowercase().parse().unwrap()
}

/// Files below `real/<sub>` (recursively) whose names end with `suffix`, sorted.
fn real_files(sub: &str, suffix: &str) -> Option<Vec<PathBuf>> {
    let dir = common::fixtures()?.join("real").join(sub);
    let mut out = Vec::new();
    let mut todo = vec![dir.clone()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else if p.to_string_lossy().ends_with(suffix) {
                out.push(p);
            }
        }
    }
    out.sort();
    assert!(!out.is_empty(), "no {suffix} files in {}", dir.display());
    Some(out)
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

fn open(p: &Path) -> Loaded {
    load::open(p, None).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn find(m: &Machine, b: Bdf, file: &str) -> FunctionId {
    m.find(b)
        .unwrap_or_else(|| panic!("{file}: {b} not loaded"))
}

/// Where the file puts a PCI object: under a host bridge (a key naming it), or a bridge.
#[derive(Clone, PartialEq, Eq, Debug)]
enum Place {
    /// A host bridge, by what identifies it in the file, with its NUMA node if known.
    Host(String, Option<u32>),
    Under(Bdf),
}

/// What the file says about each function: its place and its ancestors (nearest first).
#[derive(Default, Debug)]
struct Expected {
    place: BTreeMap<Bdf, Place>,
    bridge: BTreeSet<Bdf>,
}

impl Expected {
    fn ancestors(&self, b: Bdf) -> Vec<Bdf> {
        let mut out = Vec::new();
        let mut cur = b;
        while let Some(Place::Under(p)) = self.place.get(&cur) {
            out.push(*p);
            cur = *p;
        }
        out
    }

    fn host(&self, b: Bdf) -> &Place {
        let top = self.ancestors(b).last().copied().unwrap_or(b);
        &self.place[&top]
    }

    /// The class the nesting gives two functions: the same host bridge and a common bridge:
    /// PIX when both sit directly below it, else PIX or PXB (`None`: either, as switch units
    /// are inferred); the same host bridge without one: PHB; different host bridges: SYS on
    /// known different NUMA nodes, else NODE.
    fn class(&self, a: Bdf, b: Bdf) -> Option<NvClass> {
        let (ha, hb) = (self.host(a), self.host(b));
        match (ha, hb) {
            (Place::Host(ka, na), Place::Host(kb, nb)) if ka != kb => {
                return Some(match (na, nb) {
                    (Some(x), Some(y)) if x != y => NvClass::Sys,
                    _ => NvClass::Node,
                });
            }
            _ => {}
        }
        let pa = self.ancestors(a);
        let pb = self.ancestors(b);
        let common = pa.iter().find(|x| pb.contains(x));
        match common {
            None => Some(NvClass::Phb),
            Some(c) if pa.first() == Some(c) && pb.first() == Some(c) => Some(NvClass::Pix),
            Some(_) => None,
        }
    }
}

/// Checks a loaded machine against the file's places and classes, for every listed function
/// and every pair of endpoints.
fn check_tree_and_classes(m: &Machine, x: &Expected, file: &str, collapsed: bool) {
    let mut hosts: BTreeMap<String, pci_topology::HostBridgeId> = BTreeMap::new();
    for (&b, place) in &x.place {
        let id = find(m, b, file);
        let f = m.function(id).unwrap();
        assert!(f.listed, "{file}: {b} is in the file");
        assert_eq!(f.is_bridge(), x.bridge.contains(&b), "{file}: {b} bridge");
        match (place, f.upstream) {
            (Place::Under(p), Upstream::Bridge(up)) => {
                assert_eq!(m.function(up).unwrap().bdf, *p, "{file}: parent of {b}");
            }
            (Place::Host(key, numa), Upstream::HostBridge(h)) => {
                // One host bridge per key, distinct keys on distinct host bridges.
                let seen = *hosts.entry(key.clone()).or_insert(h);
                assert_eq!(seen, h, "{file}: {b} on the host bridge of {key}");
                if numa.is_some() {
                    assert_eq!(m.host_bridge(h).unwrap().numa_node, *numa, "{file}: {b}");
                }
            }
            (p, u) => panic!("{file}: {b} is {p:?} in the file, {u:?} in the machine"),
        }
    }
    let distinct: BTreeSet<_> = hosts.values().collect();
    assert_eq!(distinct.len(), hosts.len(), "{file}: host bridges");
    assert_eq!(m.switches_collapsed(), collapsed, "{file}");
    let ends: Vec<Bdf> = x
        .place
        .keys()
        .copied()
        .filter(|b| !x.bridge.contains(b))
        .collect();
    for &a in &ends {
        for &b in &ends {
            if a == b {
                continue;
            }
            let got = m.nv_class(find(m, a, file), find(m, b, file)).unwrap();
            match x.class(a, b) {
                Some(want) => assert_eq!(got, want, "{file}: class of {a} and {b}"),
                None => assert!(
                    matches!(got, NvClass::Pix | NvClass::Pxb),
                    "{file}: {a} and {b} share a bridge, class {got}"
                ),
            }
        }
    }
}

/// The places an NCCL file gives: `<pci>` below `<pci>`, top ones on the host bridge of their
/// `<cpu>` and PCI domain.
fn nccl_expected(root: &Node) -> Expected {
    let mut x = Expected::default();
    for (ci, cpu) in root.named("cpu").enumerate() {
        let numa = cpu
            .attr("numaid")
            .and_then(|n| n.parse::<i64>().ok())
            .and_then(|n| u32::try_from(n).ok());
        let mut todo: Vec<(&Node, Option<Bdf>)> = cpu.named("pci").map(|p| (p, None)).collect();
        while let Some((p, parent)) = todo.pop() {
            let b = bdf(p.attr("busid").unwrap());
            let place = match parent {
                Some(up) => Place::Under(up),
                None => Place::Host(format!("cpu{ci}:{:04x}", b.domain), numa),
            };
            x.place.insert(b, place);
            if p.named("pci").next().is_some() {
                x.bridge.insert(b);
            }
            todo.extend(p.named("pci").map(|c| (c, Some(b))));
        }
    }
    x
}

/// Every element named `name` in the tree, depth first.
fn all<'a>(n: &'a Node, name: &str, out: &mut Vec<&'a Node>) {
    for c in &n.children {
        if c.name == name {
            out.push(c);
        }
        all(c, name, out);
    }
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn nccl_files_load_with_their_tree_classes_and_nvlinks() {
    let Some(mut files) = real_files("nccl", ".xml") else {
        return;
    };
    files.extend(real_files("aws", ".xml").unwrap_or_default());
    assert_eq!(files.len(), 12, "{files:?}");
    for p in &files {
        let file = name(p);
        let text = std::fs::read_to_string(p).unwrap();
        let root = parse_xml(&text);
        let l = open(p);
        assert_eq!(l.format, Format::NcclXml, "{file}");
        let m = &l.machine;
        let x = nccl_expected(&root);
        check_tree_and_classes(m, &x, &file, true);

        // NVLinks: one bundle per GPU-switch target, one per GPU pair, none to the GPU itself.
        let mut gpus = Vec::new();
        all(&root, "pci", &mut gpus);
        let mut self_links = 0;
        let mut switch_bundles = 0;
        let mut gpu_pairs = BTreeSet::new();
        for g in &gpus {
            let me = bdf(g.attr("busid").unwrap());
            for nv in g.named("gpu").flat_map(|gpu| gpu.named("nvlink")) {
                let t = nv.attr("target").unwrap();
                if t.parse::<Bdf>().is_ok_and(|t| t == me) {
                    self_links += 1;
                } else if nv.attr("tclass") == Some("0x030200") {
                    let t = bdf(t);
                    gpu_pairs.insert((me.min(t), me.max(t)));
                } else {
                    switch_bundles += 1;
                }
            }
        }
        let bundles = m.links().len();
        assert_eq!(
            bundles,
            switch_bundles + gpu_pairs.len(),
            "{file}: NVLink bundles"
        );
        let mut nics_under_cpu = Vec::new();
        for cpu in root.named("cpu") {
            nics_under_cpu.extend(cpu.named("nic"));
        }
        let self_warnings = l
            .warnings
            .iter()
            .filter(|w| w.message.contains("to itself"))
            .count();
        assert_eq!(self_warnings, self_links, "{file}: {:?}", l.warnings);
        assert_eq!(
            l.warnings.len(),
            self_links + nics_under_cpu.len(),
            "{file}: {:?}",
            l.warnings
        );
    }
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn the_origins_statements_about_the_nccl_machines_hold() {
    let Some(fx) = common::fixtures() else { return };
    let real = fx.join("real");
    let class_of = |m: &Machine, f: FunctionId| m.function(f).unwrap().class.map(|c| c.class_id());
    let below = |m: &Machine, sw: FunctionId, class: u16| {
        m.children(sw)
            .iter()
            .filter(|&&c| class_of(m, c) == Some(class))
            .count()
    };
    // AWS p4d and p4de: "2 groups of PCIe hierarchy under each socket. Each group has 2 GPUs
    // and 1 NIC behind a PCIe switch".
    for f in ["aws/p4d-24xl-topo.xml", "aws/p4de-24xl-topo.xml"] {
        let m = open(&real.join(f)).machine;
        let switches: Vec<FunctionId> = m
            .function_ids()
            .filter(|&s| m.function(s).unwrap().is_bridge())
            .collect();
        assert_eq!(switches.len(), 4, "{f}");
        for &s in &switches {
            assert_eq!((below(&m, s, 0x0302), below(&m, s, 0x0200)), (2, 1), "{f}");
            let kids = m.children(s);
            assert_eq!(m.nv_class(kids[0], kids[2]), Some(NvClass::Pix), "{f}");
        }
        let per_socket: BTreeSet<Option<u32>> = switches.iter().map(|&s| m.numa_node(s)).collect();
        assert_eq!(per_socket, BTreeSet::from([Some(0), Some(1)]), "{f}");
    }
    // AWS p5 (2023): "4 groups ... under each socket. Each group has 1 GPUs and 4 NIC behind a
    // PCIe switch. GPUs are not reported" — switches without a class are still switches.
    let m = open(&real.join("aws/p5.48xl-topo.2023.xml")).machine;
    let switches: Vec<FunctionId> = m
        .function_ids()
        .filter(|&s| m.function(s).unwrap().is_bridge())
        .collect();
    assert_eq!(switches.len(), 8);
    for &s in &switches {
        assert_eq!(m.function(s).unwrap().class, None, "no class in the file");
        let nics = m.children(s);
        assert_eq!(nics.len(), 4);
        assert_eq!(m.nv_class(nics[0], nics[3]), Some(NvClass::Pix));
    }
    assert_eq!(m.endpoints().count(), 32);
    // The p5 of pull request 1226: a GPU and four NICs per class-0x060400 switch.
    let m = open(&real.join("aws/p5.48xl-topo.pr1226.xml")).machine;
    for s in m
        .function_ids()
        .filter(|&s| m.function(s).unwrap().is_bridge())
    {
        assert_eq!((below(&m, s, 0x0302), below(&m, s, 0x0200)), (1, 4));
    }
    // Azure NDv4: two GPUs and two InfiniBand NICs per virtual switch ffff:ff:0N.0; NDv5: one
    // of each.
    for (f, gpus, nics) in [
        ("nccl/azure/ndv4-topo.xml", 2, 2),
        ("nccl/azure/ndv5-topo.xml", 1, 1),
    ] {
        let m = open(&real.join(f)).machine;
        let sw: Vec<FunctionId> = m
            .function_ids()
            .filter(|&s| m.function(s).unwrap().is_bridge())
            .collect();
        assert!(!sw.is_empty(), "{f}");
        for s in sw {
            assert_eq!(m.function(s).unwrap().bdf.domain, 0xffff, "{f}");
            let n = m.children(s).len();
            assert_eq!(
                (below(&m, s, 0x0302), n - below(&m, s, 0x0302)),
                (gpus, nics),
                "{f}"
            );
        }
    }
    // HGX B200 (NCCL 2.27): every GPU has 18 NVLinks to the NVSwitch the container hides.
    let m = open(&real.join("nccl/simllm/vastai_hgx_b200_8x.nccl_topo.xml")).machine;
    let hidden = m.find(load::nccl::HIDDEN_NVSWITCH).unwrap();
    assert_eq!(m.links().len(), 8);
    for l in m.links() {
        assert_eq!(
            (l.count, l.b),
            (18, pci_topology::LinkEnd::Function(hidden))
        );
    }
    // HGX H200: 18 NVLinks per GPU over four NVSwitches (4 + 5 + 5 + 4).
    let m = open(&real.join("nccl/simllm/vastai_hgx_h200_8x.nccl_topo.xml")).machine;
    let switches: Vec<FunctionId> = m
        .function_ids()
        .filter(|&f| m.function(f).unwrap().fabric_switch)
        .collect();
    assert_eq!(switches.len(), 4);
    for g in m
        .function_ids()
        .filter(|&f| class_of(&m, f) == Some(0x0302))
    {
        let n: u16 = m
            .links()
            .iter()
            .filter(|l| l.a == pci_topology::LinkEnd::Function(g))
            .map(|l| l.count)
            .sum();
        assert_eq!(n, 18, "{}", m.name(g));
    }
    // Perlmutter: four A100s, four NVLinks between every pair.
    let m = open(&real.join("nccl/simllm/perlmutter_a100_nid001056.nccl_topo.xml")).machine;
    assert_eq!(m.links().len(), 6);
    assert!(m.links().iter().all(|l| l.count == 4));
    // Azure NCv4: each GPU's NVLink names the GPU itself; nothing is linked.
    let l = open(&real.join("nccl/azure/ncv4-topo.xml"));
    assert!(l.machine.links().is_empty());
}

/// The places an hwloc XML export gives: PCI objects below PCI objects, top ones on their host
/// bridge (domain and first bus), whose NUMA node is the single node of the nearest CPU-side
/// object's nodeset.
fn hwloc_expected(root: &Node) -> Expected {
    let mut x = Expected::default();
    let single_node = |nodeset: &str| -> Option<u32> {
        // "0x00000001" or "0x00000000,0x00000004": one bit set.
        let mut bit = None;
        for (i, word) in nodeset.rsplit(',').enumerate() {
            let w = u64::from_str_radix(word.trim_start_matches("0x"), 16).ok()?;
            if w == 0 {
                continue;
            }
            if w.count_ones() != 1 || bit.is_some() {
                return None;
            }
            bit = Some(i as u32 * 32 + w.trailing_zeros());
        }
        bit
    };
    // (node, parent PCI bdf or host key, nodeset of the nearest CPU-side object)
    let mut todo: Vec<(&Node, Option<Place>, Option<&str>)> = vec![(root, None, None)];
    let mut seen = BTreeSet::new();
    while let Some((n, up, nodeset)) = todo.pop() {
        let mut provides = up.clone();
        let mut ns = nodeset;
        if n.name == "object" {
            let ty = n.attr("type").unwrap_or("");
            match (ty, n.attr("bridge_type")) {
                ("Bridge", Some("0-1")) => {
                    let key = n.attr("bridge_pci").unwrap();
                    let key = key.split('-').next().unwrap().replace('[', "");
                    provides = Some(Place::Host(key, ns.and_then(single_node)));
                }
                ("Bridge", _) | ("PCIDev", _) => {
                    let b = bdf(n.attr("pci_busid").unwrap());
                    if !seen.insert(b) {
                        // A second object at one address: the loader keeps the first.
                        continue;
                    }
                    let place = up.clone().unwrap_or_else(|| {
                        Place::Host(format!("{:04x}:{:02x}", b.domain, b.bus), None)
                    });
                    x.place.insert(b, place);
                    if ty == "Bridge" {
                        x.bridge.insert(b);
                    }
                    provides = Some(Place::Under(b));
                }
                _ => {
                    if let Some(s) = n.attr("nodeset") {
                        ns = Some(s);
                    }
                }
            }
        }
        for c in n.children.iter().rev() {
            todo.push((c, provides.clone(), ns));
        }
    }
    x
}

fn has_pci(root: &Node) -> bool {
    let mut objs = Vec::new();
    all(root, "object", &mut objs);
    objs.iter()
        .any(|o| matches!(o.attr("type"), Some("PCIDev" | "Bridge")))
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn hwloc_xml_files_load_with_their_tree_and_classes_or_are_refused_without_pci() {
    let Some(files) = real_files("hwloc-xml", ".xml") else {
        return;
    };
    let beside = real_files("hwloc-sysfs", ".xml").unwrap_or_default();
    let (mut loaded, mut refused) = (0, 0);
    for p in files.iter().chain(&beside) {
        let file = name(p);
        let root = parse_xml(&std::fs::read_to_string(p).unwrap());
        if !has_pci(&root) {
            match load::open(p, None) {
                Err(LoadError::NoPci { hint, .. }) => {
                    assert!(hint.contains("lstopo --whole-io"), "{file}: {hint}");
                }
                other => panic!("{file}: no PCI objects, yet {other:?}"),
            }
            refused += 1;
            continue;
        }
        let l = open(p);
        assert_eq!(l.format, Format::HwlocXml);
        check_tree_and_classes(&l.machine, &hwloc_expected(&root), &file, false);
        loaded += 1;
    }
    // SOURCES.md: 8 files of hwloc's with PCI objects, 11 without; 28 cluster nodes, all with.
    assert_eq!((loaded, refused), (8 + 28, 11 + beside.len()));
}

/// An archive's entries: path → symlink target (`None` for other entries), paths relative to
/// the root holding `sys/`.
fn archive_links(p: &Path) -> BTreeMap<String, Option<String>> {
    let bytes = std::fs::read(p).unwrap();
    let mut raw = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes.as_slice())
        .read_to_end(&mut raw)
        .unwrap();
    let mut out = BTreeMap::new();
    for e in tar::Archive::new(raw.as_slice()).entries().unwrap() {
        let e = e.unwrap();
        let path = e
            .path()
            .unwrap()
            .to_string_lossy()
            .trim_start_matches("./")
            .to_owned();
        let target = e
            .link_name()
            .unwrap()
            .filter(|_| e.header().entry_type().is_symlink())
            .map(|t| t.to_string_lossy().into_owned());
        out.insert(path.trim_end_matches('/').to_owned(), target);
    }
    out
}

/// The places the kernel's folders give: each `sys/bus/pci/devices/X` link points into
/// `sys/devices/.../pciDDDD:BB/.../X`; the component before `X` is its parent.
fn sysfs_expected(entries: &BTreeMap<String, Option<String>>) -> Expected {
    let mut x = Expected::default();
    for (path, target) in entries {
        let Some(name) = path.strip_prefix("sys/bus/pci/devices/") else {
            continue;
        };
        let target = target.as_ref().unwrap();
        let mut comps: Vec<&str> = vec!["sys", "bus", "pci", "devices"];
        for c in target.split('/') {
            match c {
                "" | "." => {}
                ".." => {
                    comps.pop();
                }
                c => comps.push(c),
            }
        }
        let me = bdf(name);
        let parent = comps[comps.len() - 2];
        let place = match parent.parse::<Bdf>() {
            Ok(p) => Place::Under(p),
            Err(_) => Place::Host(parent.to_owned(), None),
        };
        x.place.insert(me, place);
    }
    let parents: Vec<Bdf> = x
        .place
        .values()
        .filter_map(|p| match p {
            Place::Under(b) => Some(*b),
            Place::Host(..) => None,
        })
        .collect();
    x.bridge.extend(parents);
    x
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn ghw_snapshots_without_a_top_folder_load_as_the_kernel_placed_their_functions() {
    let Some(files) = real_files("sysfs-ghw", ".tar.gz") else {
        return;
    };
    let mut loaded = 0;
    for p in &files {
        let file = name(p);
        let entries = archive_links(p);
        assert!(
            entries.keys().any(|k| k == "sys") || entries.keys().any(|k| k.starts_with("sys/")),
            "{file}: sys/ at the top"
        );
        let x = sysfs_expected(&entries);
        if x.place.is_empty() {
            match load::open(p, None) {
                Err(LoadError::NoPci { hint, .. }) => {
                    assert!(hint.contains("dmabuf-ic snapshot"), "{file}: {hint}");
                }
                other => panic!("{file}: no PCI, yet {other:?}"),
            }
            continue;
        }
        let l = open(p);
        assert_eq!(l.format, Format::Sysfs);
        let m = &l.machine;
        // Bridges are the functions something sits below, and every one of them is a bridge
        // by its class; endpoints may be bridges too (a root port with nothing below).
        for b in &x.bridge {
            assert!(
                m.function(find(m, *b, &file)).unwrap().is_bridge(),
                "{file}: {b}"
            );
        }
        let mut x = x;
        x.bridge = m
            .functions()
            .iter()
            .filter(|f| f.is_bridge())
            .map(|f| f.bdf)
            .collect();
        check_tree_and_classes(m, &x, &file, false);
        loaded += 1;
    }
    // Six of ghw's eight snapshots hold PCI (SOURCES.md: offlineCPUs and s390x do not).
    assert_eq!((files.len(), loaded), (8, 6));
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn hwloc_sysfs_snapshots_without_pci_are_refused_saying_how_to_gather_it() {
    let Some(files) = real_files("hwloc-sysfs", ".tar.bz2") else {
        return;
    };
    assert_eq!(files.len(), 35);
    let mut gathered = 0;
    for p in &files {
        let file = name(p);
        let marker = {
            let mut raw = Vec::new();
            bzip2::read::MultiBzDecoder::new(std::fs::File::open(p).unwrap())
                .read_to_end(&mut raw)
                .unwrap();
            tar::Archive::new(raw.as_slice())
                .entries()
                .unwrap()
                .any(|e| {
                    e.unwrap()
                        .path()
                        .unwrap()
                        .ends_with("proc/hwloc-nofile-info")
                })
        };
        match load::open(p, None) {
            Err(e @ LoadError::NoPci { .. }) => {
                let text = e.to_string();
                assert!(text.contains(&file), "{text}");
                if marker {
                    assert!(
                        text.contains("hwloc-gather-topology without --io")
                            && text.contains("hwloc-gather-topology --io"),
                        "{text}"
                    );
                    gathered += 1;
                } else {
                    assert!(text.contains("sys/bus/pci/devices is missing"), "{text}");
                }
            }
            other => panic!("{file}: {other:?}"),
        }
    }
    assert_eq!(gathered, 14, "files marked by hwloc-gather-topology");
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn every_file_of_the_real_folder_is_covered() {
    let Some(fx) = common::fixtures() else { return };
    let real = fx.join("real");
    let covered = |p: &Path| {
        let rel = p
            .strip_prefix(&real)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let top = rel.split('/').next().unwrap().to_owned();
        let n = name(p);
        // Licences, READMEs, hwloc's expected outputs and test descriptions are not machines.
        let not_a_machine = n.starts_with("LICENSE")
            || n.starts_with("COPYING")
            || n.starts_with("README")
            || n == "ReadMe"
            || n.ends_with(".md")
            || n.ends_with(".test")
            || n.ends_with(".console");
        not_a_machine
            || match top.as_str() {
                "nccl" | "aws" => n.ends_with(".xml"),
                "hwloc-xml" => n.ends_with(".xml"),
                "hwloc-sysfs" => n.ends_with(".tar.bz2") || n.ends_with(".xml"),
                "sysfs-ghw" => n.ends_with(".tar.gz"),
                _ => false,
            }
    };
    let mut todo = vec![real.clone()];
    let mut n = 0;
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                assert!(covered(&p), "{} is not covered by a test", p.display());
                n += 1;
            }
        }
    }
    assert!(n > 200, "{n} files");
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn virtual_machines_are_told_from_bare_metal() {
    let Some(fx) = common::fixtures() else { return };
    let real = fx.join("real");
    // SOURCES.md: ghw's two accel snapshots are QEMU/KVM guests; Azure's NDv4 and NDv5 and
    // AWS's p4d/p4de files write the hypervisor's virtual switches (ffff:ff:NN.0).
    for (f, guest) in [
        ("sysfs-ghw/linux-amd64-accel.tar.gz", true),
        ("sysfs-ghw/linux-amd64-accel-nvidia.tar.gz", true),
        (
            "sysfs-ghw/linux-amd64-415ee03b8c4d1c4f07ae2e9d8b3d3d6d.tar.gz",
            false,
        ),
        (
            "sysfs-ghw/linux-amd64-61797caf7c0b6bca1725ad7975ed4773.tar.gz",
            false,
        ),
        (
            "sysfs-ghw/linux-amd64-8581cf3a529e5d8b97ea876eade2f60d.tar.gz",
            false,
        ),
        ("nccl/azure/ndv4-topo.xml", true),
        ("nccl/azure/ndv5-topo.xml", true),
        ("aws/p4d-24xl-topo.xml", true),
        ("aws/p4de-24xl-topo.xml", true),
        ("nccl/simllm/perlmutter_a100_nid001056.nccl_topo.xml", false),
    ] {
        let m = open(&real.join(f)).machine;
        assert_eq!(m.is_guest(), guest, "{f}: {:?}", m.guest_evidence());
    }
    let m = open(&real.join("sysfs-ghw/linux-amd64-accel-nvidia.tar.gz")).machine;
    let why = m.guest_evidence().join("; ");
    assert!(
        why.contains("hypervisor flag") && why.contains("QEMU"),
        "{why}"
    );
}
