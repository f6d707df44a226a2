//! Every hwloc sysfs fixture loads, and its PCI tree agrees with hwloc's own expected output
//! next to it (`*.console` from `lstopo -v`, or `*.xml`): the same bridges and functions, each
//! under the same parent, compared in both directions.
//!
//! hwloc hides "unimportant" PCI objects unless `--whole-io` is given (the `.test` file says).
//! Its rule (`hwloc_filter_check_pcidev_subtype_important()` in `include/hwloc/plugins.h` and
//! `hwloc__filter_bridges()` in `hwloc/topology.c`, read in open-mpi/hwloc): a PCI device is
//! kept if its class is display (0x03), network (0x02), storage (0x01), unclassified (0x00),
//! processor (0x0b), processing accelerator (0x12), fibre channel (0x0c04), InfiniBand (0x0c06),
//! CXL memory (0x0502) or a bridge class (0x06); then, bottom-up, a bridge (class 0x0604 with a
//! type-1 header) without children and a class-0x06 device without children (no OS device
//! children either; not an NVSwitch) are removed. hwloc places a class-0x06 device's OS devices
//! below it; no fixture has any, so "without children" here means without PCI children.
//! hwloc also drops, whatever the filter, a bridge whose configuration header has an invalid bus
//! range (secondary or subordinate bus not above its own bus, or secondary above subordinate:
//! `hwloc_pcidisc_find_bridge_buses()`), as an unconfigured bridge has. The kernel, and so
//! this crate, keeps such a function; the comparison removes it from our side like hwloc does.
//! And hwloc only reads `bus/pci/devices`: a bridge that appears only in a device's path (as
//! `0000:5f:03.0` in `32intel64-2p8co2t+8ve`) is unknown to it, and it places the functions below
//! on the nearest listed bridge by bus ranges. This crate keeps such bridges (the kernel's
//! chain goes through them); the comparison lifts their children to the nearest listed ancestor.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use pci_topology::load::load_sysfs;
use pci_topology::{Function, FunctionId, Machine, Upstream};
use quick_xml::Reader;
use quick_xml::events::Event;

/// Where an object sits: under a host bridge (domain, first bus) or under a bridge (busid).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Parent {
    Host(u32, u8),
    Bridge(String),
}

/// busid → (is a bridge, parent).
type Tree = BTreeMap<String, (bool, Parent)>;

fn parse_buses(s: &str) -> (u32, u8) {
    // "0000:[00-01]" or "10000:[00-00]"
    let (d, rest) = s.split_once(':').unwrap();
    let b = rest.trim_start_matches('[').split('-').next().unwrap();
    (
        u32::from_str_radix(d, 16).unwrap(),
        u8::from_str_radix(b, 16).unwrap(),
    )
}

fn norm_busid(s: &str) -> String {
    s.parse::<pci_topology::Bdf>().unwrap().to_string()
}

/// The tree of an `lstopo -v` console output.
fn tree_from_console(text: &str) -> Tree {
    let mut tree = Tree::new();
    // (indent, parent this line provides)
    let mut stack: Vec<(usize, Parent)> = Vec::new();
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        let l = line.trim_start();
        let kind = if l.starts_with("HostBridge") {
            0
        } else if l.starts_with("PCIBridge") {
            1
        } else if l.starts_with("PCI ") {
            2
        } else {
            continue;
        };
        while stack.last().is_some_and(|(i, _)| *i >= indent) {
            stack.pop();
        }
        let attr = |name: &str| {
            l.split(['(', ' ', ')'])
                .find_map(|w| w.strip_prefix(&format!("{name}=")[..]))
                .map(str::to_owned)
        };
        match kind {
            0 => {
                let (d, b) = parse_buses(&attr("buses").unwrap());
                stack.push((indent, Parent::Host(d, b)));
            }
            _ => {
                let busid = norm_busid(&attr("busid").unwrap());
                let parent = stack.last().map(|(_, p)| p.clone()).unwrap();
                tree.insert(busid.clone(), (kind == 1, parent));
                if kind == 1 {
                    stack.push((indent, Parent::Bridge(busid)));
                }
            }
        }
    }
    tree
}

/// The tree of an hwloc XML export.
fn tree_from_xml(text: &str) -> Tree {
    let mut tree = Tree::new();
    let mut reader = Reader::from_str(text);
    // For each open <object>: the parent it provides (None if it is not a PCI object).
    let mut stack: Vec<Option<Parent>> = Vec::new();
    loop {
        let ev = reader.read_event().unwrap();
        let (e, empty) = match &ev {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::End(e) => {
                if e.name().as_ref() == b"object" {
                    stack.pop();
                }
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        if e.name().as_ref() != b"object" {
            continue;
        }
        let mut attrs = BTreeMap::new();
        for a in e.attributes() {
            let a = a.unwrap();
            attrs.insert(
                String::from_utf8_lossy(a.key.as_ref()).into_owned(),
                String::from_utf8_lossy(&a.value).into_owned(),
            );
        }
        let ty = attrs.get("type").cloned().unwrap_or_default();
        let parent = stack.iter().rev().find_map(|p| p.clone());
        let provides = match ty.as_str() {
            "Bridge" if attrs.get("bridge_type").map(String::as_str) == Some("0-1") => {
                let (d, b) = parse_buses(&attrs["bridge_pci"]);
                Some(Parent::Host(d, b))
            }
            "Bridge" | "PCIDev" => {
                let busid = norm_busid(&attrs["pci_busid"]);
                tree.insert(busid.clone(), (ty == "Bridge", parent.unwrap()));
                (ty == "Bridge").then_some(Parent::Bridge(busid))
            }
            _ => None,
        };
        if !empty {
            stack.push(provides);
        }
    }
    tree
}

fn important(f: &Function) -> bool {
    let Some(c) = f.class else { return false };
    let base = c.base();
    matches!(base, 0x00 | 0x01 | 0x02 | 0x03 | 0x0b | 0x12 | 0x06)
        || matches!(c.class_id(), 0x0c04 | 0x0c06 | 0x0502)
}

fn hwloc_bridge(f: &Function) -> bool {
    f.class.is_some_and(|c| c.class_id() == 0x0604) && f.header_type == Some(1)
}

/// hwloc discards a bridge whose bus range is invalid.
fn hwloc_discards(f: &Function) -> bool {
    hwloc_bridge(f)
        && f.bus_range
            .is_none_or(|(sec, sub)| sec <= f.bdf.bus || sub <= f.bdf.bus || sec > sub)
}

/// Whether a kept function is below `id`, looking through unlisted bridges.
fn kept_below(m: &Machine, keep: &[bool], id: FunctionId) -> bool {
    m.children(id)
        .iter()
        .any(|&c| keep[c.index()] || (!m.function(c).unwrap().listed && kept_below(m, keep, c)))
}

/// Our tree, filtered as hwloc does unless `whole_io`.
fn tree_from_machine(m: &Machine, whole_io: bool) -> Tree {
    let n = m.functions().len();
    let mut keep: Vec<bool> = m
        .functions()
        .iter()
        .map(|f| f.listed && !hwloc_discards(f) && (whole_io || (important(f) && !hwloc_bridge(f))))
        .collect();
    if !whole_io {
        // Bottom-up: children have higher indices than their parents.
        for i in (0..n).rev() {
            let f = &m.functions()[i];
            let has_kept_child = kept_below(m, &keep, FunctionId(i as u32));
            let class06 = f.class.is_some_and(|c| c.base() == 0x06);
            keep[i] = if !f.listed || hwloc_discards(f) {
                false
            } else if hwloc_bridge(f) || class06 {
                has_kept_child
            } else {
                keep[i] || has_kept_child
            };
        }
    }
    let mut tree = Tree::new();
    for (i, f) in m.functions().iter().enumerate() {
        if !keep[i] {
            continue;
        }
        let mut up = f.upstream;
        while let Upstream::Bridge(b) = up {
            if m.function(b).unwrap().listed {
                break;
            }
            up = m.function(b).unwrap().upstream;
        }
        let parent = match up {
            Upstream::Bridge(b) => Parent::Bridge(m.name(b)),
            Upstream::HostBridge(h) => {
                let hb = m.host_bridge(h).unwrap();
                Parent::Host(hb.domain, hb.root_bus)
            }
        };
        tree.insert(f.bdf.to_string(), (hwloc_bridge(f), parent));
    }
    tree
}

fn check(test: &Path) -> usize {
    let dir = test.parent().unwrap();
    let spec = std::fs::read_to_string(test).unwrap();
    let field = |k: &str| {
        spec.lines()
            .find_map(|l| l.strip_prefix(k))
            .map(|v| v.trim().to_owned())
    };
    let source = dir.join(field("source:").unwrap());
    let target = dir.join(field("target:").unwrap());
    let whole_io = field("options:").is_some_and(|o| o.contains("--whole-io"));
    let m = load_sysfs(&source).unwrap_or_else(|e| panic!("{}: {e}", source.display()));
    let text = std::fs::read_to_string(&target).unwrap();
    let expected = if target.extension().is_some_and(|e| e == "xml") {
        tree_from_xml(&text)
    } else {
        tree_from_console(&text)
    };
    let ours = tree_from_machine(&m, whole_io);
    let missing: Vec<_> = expected
        .iter()
        .filter(|(k, v)| ours.get(*k) != Some(v))
        .collect();
    let extra: Vec<_> = ours
        .iter()
        .filter(|(k, v)| expected.get(*k) != Some(v))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{}: hwloc has, we lack or differ: {missing:#?}\nwe have, hwloc lacks or differs: {extra:#?}",
        test.display()
    );
    assert!(
        !expected.is_empty(),
        "{}: empty expected tree",
        target.display()
    );
    expected.len()
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn every_hwloc_fixture_agrees_with_hwloc() {
    let Some(fx) = common::fixtures() else { return };
    let tests = common::files_with_suffix(&fx.join("hwloc-sysfs"), ".test");
    assert!(!tests.is_empty());
    let mut objects = 0;
    for t in &tests {
        objects += check(t);
    }
    eprintln!(
        "{} fixtures, {objects} PCI objects agree with hwloc",
        tests.len()
    );
}

#[test]
fn the_tree_parsers_read_both_formats() {
    let console = "  HostBridge L#0 (buses=0000:[00-01])\n    PCIBridge L#1 (busid=0000:00:03.0 id=8086:340a class=0604(PCIBridge) buses=0000:[01-01])\n      PCI L#0 (busid=0000:01:00.0 id=1000:0079 class=0104(RAID))\n  HostBridge L#2 (buses=10000:[00-00])\n    PCI L#3 (busid=10000:00:04.0 id=1af4:1001 class=0100(SCSI))\n";
    let t = tree_from_console(console);
    assert_eq!(t["0000:00:03.0"], (true, Parent::Host(0, 0)));
    assert_eq!(
        t["0000:01:00.0"],
        (false, Parent::Bridge("0000:00:03.0".into()))
    );
    assert_eq!(t["10000:00:04.0"], (false, Parent::Host(0x10000, 0)));
    let xml = r#"<topology><object type="Machine"><object type="Bridge" bridge_type="0-1" bridge_pci="0000:[00-09]"><object type="PCIDev" pci_busid="0000:00:00.0"/><object type="Bridge" bridge_type="1-1" pci_busid="0000:00:03.0"><object type="PCIDev" pci_busid="0000:01:00.0"><object type="OSDev" name="sda"/></object></object></object></object></topology>"#;
    let t = tree_from_xml(xml);
    assert_eq!(t.len(), 3);
    assert_eq!(
        t["0000:01:00.0"],
        (false, Parent::Bridge("0000:00:03.0".into()))
    );
    assert_eq!(t["0000:00:00.0"], (false, Parent::Host(0, 0)));
}
