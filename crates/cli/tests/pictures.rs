//! Pictures of every fixture machine and of machines built by hand: the SVG is well-formed XML
//! and shows every function and every private link; a highlighted route is marked; the DOT has
//! one node per function and the tree's edges (and Graphviz accepts it, where installed).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod picture_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use dmabuf_ic::picture::graph::{GraphOptions, MachineGraph};
use dmabuf_ic::picture::highlight::{Highlight, Role};
use dmabuf_ic::picture::names::{NoNames, PciIds};
use dmabuf_ic::picture::{dot, svg};
use dmabuf_negotiate::{DeviceId, FabricId, Initiator, Memory, RouteKind};
use pci_topology::load::load_sysfs;
use pci_topology::synth::{SynthSpec, generate};
use pci_topology::{FunctionId, Machine, Upstream};
use quick_xml::Reader;
use quick_xml::events::Event;

/// What an SVG says, read back with an XML parser.
#[derive(Default, Debug)]
struct SvgFacts {
    /// `data-bdf` of every element.
    bdfs: BTreeSet<String>,
    /// `data-link` of every private link.
    links: BTreeSet<usize>,
    /// `data-fn` of boxes and ports carrying the class `route`.
    route_fns: BTreeSet<u32>,
    /// `data-to-fn` of tree lines carrying the class `route`.
    route_edges: BTreeSet<u32>,
    /// `data-link` of private links carrying the class `route`.
    route_links: BTreeSet<usize>,
    /// Number of elements per class word.
    classes: BTreeMap<String, usize>,
}

fn read_svg(svg: &str) -> SvgFacts {
    let mut r = Reader::from_str(svg);
    r.config_mut().check_end_names = true;
    let mut facts = SvgFacts::default();
    let mut depth = 0i32;
    let mut saw_root = false;
    loop {
        let ev = r
            .read_event()
            .unwrap_or_else(|e| panic!("SVG is not well-formed at {}: {e}", r.buffer_position()));
        let (start, empty) = match &ev {
            Event::Start(s) => (Some(s.clone()), false),
            Event::Empty(s) => (Some(s.clone()), true),
            Event::End(_) => {
                depth -= 1;
                (None, false)
            }
            Event::Eof => break,
            Event::Text(t) => {
                t.decode().expect("text decodes");
                (None, false)
            }
            _ => (None, false),
        };
        if let Some(s) = start {
            if depth == 0 {
                assert_eq!(s.name().as_ref(), b"svg", "the root element is <svg>");
                assert!(!saw_root, "one root element");
                saw_root = true;
            }
            if !empty {
                depth += 1;
            }
            let mut attrs: BTreeMap<String, String> = BTreeMap::new();
            for a in s.attributes() {
                let a = a.expect("attribute parses");
                let key = String::from_utf8(a.key.as_ref().to_vec()).unwrap();
                let value = a
                    .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                    .expect("attribute unescapes")
                    .into_owned();
                attrs.insert(key, value);
            }
            let class = attrs.get("class").cloned().unwrap_or_default();
            let words: BTreeSet<&str> = class.split_whitespace().collect();
            for w in &words {
                *facts.classes.entry((*w).to_owned()).or_default() += 1;
            }
            if let Some(b) = attrs.get("data-bdf") {
                facts.bdfs.insert(b.clone());
            }
            if let Some(l) = attrs.get("data-link") {
                let l: usize = l.parse().unwrap();
                facts.links.insert(l);
                if words.contains("route") {
                    facts.route_links.insert(l);
                }
            }
            if words.contains("route") {
                if let Some(f) = attrs.get("data-fn") {
                    facts.route_fns.insert(f.parse().unwrap());
                }
                if let Some(f) = attrs.get("data-to-fn") {
                    facts.route_edges.insert(f.parse().unwrap());
                }
            }
        }
    }
    assert!(saw_root, "an <svg> element");
    assert_eq!(depth, 0, "every element is closed");
    facts
}

/// The SVG of `m` shows every function and every private link.
fn check_svg_complete(name: &str, m: &Machine, svg: &str) -> SvgFacts {
    let facts = read_svg(svg);
    for f in m.functions() {
        assert!(
            facts.bdfs.contains(&f.bdf.to_string()),
            "{name}: {} is not in the SVG",
            f.bdf
        );
    }
    let links: BTreeSet<usize> = (0..m.links().len()).collect();
    assert_eq!(
        facts.links, links,
        "{name}: every private link is drawn once"
    );
    facts
}

/// DOT node names of every function, and the edges `tail -> head`.
fn read_dot(dot: &str) -> (BTreeMap<String, usize>, BTreeSet<(String, String)>) {
    let mut nodes: BTreeMap<String, usize> = BTreeMap::new();
    let mut edges = BTreeSet::new();
    for line in dot.lines() {
        let t = line.trim();
        if let Some((lhs, _)) = t.split_once(" [") {
            if let Some((a, b)) = lhs.split_once(" -> ") {
                edges.insert((a.to_owned(), b.to_owned()));
            } else if !lhs.contains(' ') && lhs != "graph" && lhs != "node" && lhs != "edge" {
                *nodes.entry(lhs.to_owned()).or_default() += 1;
            }
        }
    }
    (nodes, edges)
}

fn dot_name(m: &Machine, f: FunctionId) -> String {
    let b = m.function(f).unwrap().bdf;
    format!(
        "fn_{:04x}_{:02x}_{:02x}_{:x}",
        b.domain, b.bus, b.device, b.function
    )
}

/// The DOT of `m` has one node per function and an edge from each function's PCI parent (or
/// host bridge) to it.
fn check_dot(name: &str, m: &Machine, text: &str) {
    assert!(text.starts_with("digraph machine {\n") && text.ends_with("}\n"));
    let (nodes, edges) = read_dot(text);
    for f in m.function_ids() {
        let n = dot_name(m, f);
        assert_eq!(nodes.get(&n), Some(&1), "{name}: one DOT node for {n}");
        let tail = match m.function(f).unwrap().upstream {
            Upstream::Bridge(p) => dot_name(m, p),
            Upstream::HostBridge(h) => {
                let hb = m.host_bridge(h).unwrap();
                format!("hb_{:04x}_{:02x}", hb.domain, hb.root_bus)
            }
        };
        assert!(
            edges.contains(&(tail.clone(), n.clone())),
            "{name}: DOT edge {tail} -> {n}"
        );
    }
    let tree_edges = edges
        .iter()
        .filter(|(a, b)| !a.starts_with("cpu") && !b.starts_with("cpu"))
        .count();
    assert!(tree_edges >= m.functions().len(), "{name}: tree edges");
    graphviz_accepts(name, text);
}

/// Runs `dot -Tsvg` on the text when Graphviz is installed (a test helper only).
fn graphviz_accepts(name: &str, text: &str) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let Ok(mut child) = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
    else {
        return;
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{name}: Graphviz rejects the DOT: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Endpoints that are not bridges, in order.
fn endpoints(m: &Machine) -> Vec<FunctionId> {
    m.endpoints().collect()
}

/// No two boxes overlap, every line of text fits its box, and every line of the tree runs
/// from its upper box's right side to its lower box's left side, inside both boxes' rows.
fn check_layout(name: &str, m: &Machine) {
    use dmabuf_ic::picture::layout::layout;
    use dmabuf_ic::picture::text::width;
    let g = MachineGraph::new(m, &PciIds, &GraphOptions::default(), None);
    let lay = layout(&g);
    let rects: Vec<_> = lay.boxes.iter().map(|b| b.rect).collect();
    // Boxes sorted by left edge, then compared with those that can overlap horizontally.
    let mut order: Vec<usize> = (0..rects.len()).collect();
    order.sort_by(|&a, &b| rects[a].x.total_cmp(&rects[b].x));
    for (i, &a) in order.iter().enumerate() {
        for &b in &order[i + 1..] {
            let (ra, rb) = (rects[a], rects[b]);
            if rb.x >= ra.right() {
                break;
            }
            let apart = ra.bottom() <= rb.y || rb.bottom() <= ra.y;
            assert!(apart, "{name}: boxes {a} and {b} overlap: {ra:?} {rb:?}");
        }
    }
    for (k, b) in lay.boxes.iter().enumerate() {
        for t in &b.text {
            let w = width(&t.text, t.face, t.size);
            assert!(
                t.x >= b.rect.x && t.x + w <= b.rect.right() + 0.01,
                "{name}: text {:?} of box {k} does not fit ({w} px in {:?})",
                t.text,
                b.rect
            );
            assert!(
                t.y > b.rect.y && t.y <= b.rect.bottom(),
                "{name}: text inside vertically"
            );
        }
    }
    for (e, p) in g.edges.iter().zip(&lay.edges) {
        let (up, down) = (rects[e.parent.index()], rects[e.child.index()]);
        assert!(
            p.x1 == up.right() && p.x2 == down.x && p.x1 < p.x2,
            "{name}: edge ends"
        );
        assert!(
            p.y >= up.y && p.y <= up.bottom(),
            "{name}: edge leaves its upper box"
        );
        assert!(
            p.y >= down.y && p.y <= down.bottom(),
            "{name}: edge enters its lower box"
        );
    }
    for s in &lay.stubs {
        assert!(
            s.x1 <= s.x2 + 0.01 || matches!(s.end, dmabuf_ic::picture::graph::PrivateEnd::Cpu(_))
        );
    }
    assert!(lay.width > 0.0 && lay.height >= 0.0);
}

/// Draws `m` plain and with a route between two of its endpoints (a p2pmem provider first,
/// when there is one), and checks both pictures.
fn check_machine(name: &str, m: &Machine) {
    check_layout(name, m);
    let s = svg::machine(m, &PciIds, None);
    let facts = check_svg_complete(name, m, &s);
    assert!(facts.route_fns.is_empty() && facts.route_edges.is_empty());
    check_dot(name, m, &dot::machine(m, &PciIds, None));

    let eps = endpoints(m);
    let provider = m.p2pmem_providers().next().or(eps.first().copied());
    let client = eps.iter().rev().copied().find(|&c| Some(c) != provider);
    let (Some(p), Some(c)) = (provider, client) else {
        return;
    };
    let v = m.p2p_verdict(p, c).unwrap();
    let h = Highlight::from_verdict(m, &v).with_caption(format!("{name}: route"));
    let s = svg::machine(m, &PciIds, Some(&h));
    let facts = check_svg_complete(name, m, &s);
    assert!(
        facts.route_fns.contains(&p.0),
        "{name}: the provider is marked"
    );
    assert!(
        facts.route_fns.contains(&c.0),
        "{name}: the client is marked"
    );
    for f in v.provider_chain.iter().chain(&v.client_chain) {
        let crossed = h.crosses_uplink(*f);
        if crossed {
            assert!(
                facts.route_edges.contains(&f.0) || !has_own_box(m, *f),
                "{name}: the link above {} is marked",
                m.name(*f)
            );
        }
    }
    assert!(s.contains(&format!("{name}: route")), "{name}: the caption");
    if v.map_type == pci_topology::MapType::NotSupported {
        assert!(facts.classes.contains_key("refused"), "{name}: refused");
    }
    let d = dot::machine(m, &PciIds, Some(&h));
    check_dot(name, m, &d);
    assert!(d.contains("class=\"route"), "{name}: DOT marks the route");
}

/// Whether the function has a box of its own (ports of host bridges and switches do not: the
/// line above a root port or a downstream port is inside its box).
fn has_own_box(m: &Machine, f: FunctionId) -> bool {
    let g = MachineGraph::new(m, &NoNames, &GraphOptions::default(), None);
    g.node_of(f)
        .and_then(|n| g.node(n))
        .is_some_and(|n| n.function == Some(f))
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn every_sysfs_fixture() {
    let Some(dir) = common::fixtures() else {
        return;
    };
    let snapshots = picture_support::sysfs_snapshots(&dir);
    assert!(snapshots.len() >= 10, "fixtures found: {snapshots:?}");
    for path in snapshots {
        let name = file_name(&path);
        let m = load_sysfs(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        check_machine(&name, &m);
    }
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn every_hwloc_xml_and_nccl_fixture() {
    let Some(dir) = common::fixtures() else {
        return;
    };
    let mut files = picture_support::files_with_suffix(&dir.join("hwloc-xml"), ".xml");
    files.extend(picture_support::files_with_suffix(
        &dir.join("nccl"),
        ".xml",
    ));
    assert!(files.len() >= 9, "fixtures found: {files:?}");
    for path in files {
        let name = file_name(&path);
        let m = pci_topology::load::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        check_machine(&name, &m);
        if name == "nvidiaDGX2.xml" || name.starts_with("topo_8A100") {
            // Every NVLink is drawn, and a route between two GPUs over it is marked.
            let g = MachineGraph::new(&m, &PciIds, &GraphOptions::default(), None);
            assert!(g.private_links.len() >= 48, "{name}: NVLinks");
            let gpus: Vec<FunctionId> = m
                .function_ids()
                .filter(|&f| m.function(f).unwrap().class.is_some_and(|c| c.base() == 3))
                .collect();
            let (a, b) = (gpus[0], gpus[1]);
            let fabric = m
                .links()
                .iter()
                .find_map(|l| (l.a == pci_topology::LinkEnd::Function(a)).then_some(l.fabric));
            let h = Highlight::private(&m, fabric.unwrap(), a, b).unwrap();
            let facts = read_svg(&svg::machine(&m, &PciIds, Some(&h)));
            assert!(!facts.route_links.is_empty(), "{name}: NVLink route marked");
        }
    }
}

fn file_name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn hand_built_machines() {
    for (name, m) in [
        ("small", picture_support::machines::small()),
        ("dgx2-like", picture_support::machines::dgx2_like()),
        ("power8-like", picture_support::machines::power8_like()),
    ] {
        check_machine(name, &m);
    }
}

#[test]
fn generated_machines_and_a_deep_chain() {
    for (name, spec) in [
        ("synth-default", SynthSpec::default()),
        ("synth-deep-60", SynthSpec::deep(60)),
        (
            "synth-2x3x2",
            SynthSpec {
                host_bridges: 2,
                root_ports: 3,
                switch_levels: 2,
                downstream_ports: 3,
                functions_per_device: 2,
                acs_on_downstream_ports: true,
                ..SynthSpec::default()
            },
        ),
    ] {
        let m = generate(&spec).unwrap();
        check_machine(name, &m);
    }
}

#[test]
fn a_chain_as_deep_as_the_model_allows() {
    // The deepest chain a machine may hold: a function below MAX_BRIDGE_DEPTH bridges (one
    // more is refused when the machine is built).
    let chain = |n: u32| {
        let mut b = pci_topology::MachineBuilder::new();
        let hb = b.host_bridge(pci_topology::HostBridge::new(0, 0));
        let mut up = Upstream::HostBridge(hb);
        for i in 0..n {
            let mut f = pci_topology::Function::new(
                pci_topology::Bdf::new(i / 256, (i % 256) as u8, 0, 0),
                up,
            );
            f.header_type = Some(u8::from(i + 1 < n));
            up = Upstream::Bridge(b.function(f));
        }
        b.build()
    };
    let n = pci_topology::limits::MAX_BRIDGE_DEPTH as u32 + 1;
    assert!(matches!(
        chain(n + 1),
        Err(pci_topology::BuildError::TooDeep(_))
    ));
    let m = chain(n).unwrap();
    let s = svg::machine(&m, &PciIds, None);
    check_svg_complete("chain", &m, &s);
    let (nodes, _) = read_dot(&dot::machine(&m, &PciIds, None));
    assert_eq!(nodes.len(), n as usize + 1);
}

#[test]
fn private_route_through_nvswitches() {
    let m = picture_support::machines::dgx2_like();
    let gpus: Vec<FunctionId> = m
        .function_ids()
        .filter(|&f| m.function(f).unwrap().class.is_some_and(|c| c.base() == 3))
        .collect();
    assert_eq!(gpus.len(), 16);
    // Same baseboard: through all six switches, in parallel.
    let h = Highlight::private(&m, FabricId(0), gpus[0], gpus[1]).unwrap();
    let used: Vec<usize> = (0..m.links().len())
        .filter(|&i| h.uses_private_link(i))
        .collect();
    assert_eq!(used.len(), 12);
    // Other baseboard: a path through two switches.
    let h = Highlight::private(&m, FabricId(0), gpus[0], gpus[9]).unwrap();
    let used = (0..m.links().len())
        .filter(|&i| h.uses_private_link(i))
        .count();
    assert_eq!(used, 3);
    assert_eq!(h.role_of(gpus[0]), Some(Role::Memory));
    assert_eq!(h.role_of(gpus[9]), Some(Role::Initiator));
    let facts = read_svg(&svg::machine(&m, &PciIds, Some(&h)));
    assert_eq!(facts.route_links.len(), 3);
    assert!(facts.route_fns.contains(&gpus[0].0) && facts.route_fns.contains(&gpus[9].0));
    // No such fabric.
    assert!(Highlight::private(&m, FabricId(7), gpus[0], gpus[1]).is_none());
}

#[test]
fn routes_of_every_kind() {
    let m = picture_support::machines::small();
    let eps = endpoints(&m);
    let (gpu0, nvme, nic) = (eps[0], eps[1], eps[2]);
    let dev = |f: FunctionId| DeviceId(f.0);
    let cases = [
        (
            Initiator::Device(dev(nic)),
            Memory::Device(dev(nvme)),
            RouteKind::PciBusAddr { distance: 4 },
        ),
        (
            Initiator::Device(dev(gpu0)),
            Memory::Device(dev(nvme)),
            RouteKind::PciThroughHostBridge { distance: 6 },
        ),
        (
            Initiator::Device(dev(gpu0)),
            Memory::Device(dev(eps[3])),
            RouteKind::PrivateLink(FabricId(0)),
        ),
        (
            Initiator::Device(dev(gpu0)),
            Memory::System { numa_node: None },
            RouteKind::SystemMemory,
        ),
        (
            Initiator::Cpu,
            Memory::Device(dev(nvme)),
            RouteKind::CpuThroughHostBridge,
        ),
        (
            Initiator::Device(dev(gpu0)),
            Memory::Device(dev(gpu0)),
            RouteKind::SameDevice,
        ),
    ];
    for (i, mem, kind) in cases {
        let h = Highlight::for_route(&m, i, mem, kind)
            .unwrap_or_else(|| panic!("{kind:?}: a highlight"));
        let s = svg::machine(&m, &PciIds, Some(&h));
        let facts = check_svg_complete(&format!("{kind:?}"), &m, &s);
        assert!(!facts.route_fns.is_empty(), "{kind:?}: something is marked");
        check_dot(
            &format!("{kind:?}"),
            &m,
            &dot::machine(&m, &PciIds, Some(&h)),
        );
    }
    // Through the host bridge: both root ports and the host bridge are on the route.
    let h = Highlight::pci(&m, nvme, gpu0, true).unwrap();
    assert_eq!(h.host_bridges().len(), 1);
    // A device that is not in the machine.
    assert!(
        Highlight::for_route(
            &m,
            Initiator::Device(DeviceId(999)),
            Memory::Device(dev(nvme)),
            RouteKind::PciBusAddr { distance: 2 }
        )
        .is_none()
    );
}

#[test]
fn names_that_need_escaping() {
    let mut b = pci_topology::MachineBuilder::new();
    let hb = b.host_bridge(pci_topology::HostBridge::new(0, 0));
    let mut f =
        pci_topology::Function::new(pci_topology::Bdf::new(0, 0, 2, 0), Upstream::HostBridge(hb));
    f.driver = Some("<&>\"'\u{1}drv\\".to_owned());
    f.os_devices = vec!["a\"b".to_owned(), "<eth0>".to_owned(), "x\ny".to_owned()];
    b.function(f);
    let m = b.build().unwrap();
    let s = svg::machine(&m, &PciIds, None);
    check_svg_complete("escaping", &m, &s);
    check_dot("escaping", &m, &dot::machine(&m, &PciIds, None));
}

#[test]
fn an_empty_machine() {
    let m = pci_topology::MachineBuilder::new().build().unwrap();
    read_svg(&svg::machine(&m, &PciIds, None));
    check_dot("empty", &m, &dot::machine(&m, &PciIds, None));
}

#[test]
fn dot_snapshot_of_the_small_machine() {
    let m = picture_support::machines::small();
    insta::assert_snapshot!("small_machine_dot", dot::machine(&m, &NoNames, None));
    let eps = endpoints(&m);
    let h = Highlight::pci(&m, eps[1], eps[2], false)
        .unwrap()
        .with_caption("NVMe p2pmem to the NIC, below the switch");
    insta::assert_snapshot!(
        "small_machine_dot_route",
        dot::machine(&m, &NoNames, Some(&h))
    );
}
