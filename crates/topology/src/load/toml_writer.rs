//! Writes any [`Machine`] as the project's TOML machine description (see [`super::toml`] and
//! `docs/machine-format.md`); [`parse_toml`](super::parse_toml) reads the text back to an equal
//! machine (`==`, which compares everything the model holds).
//!
//! The writer is explicit where the format allows short forms: every function names its parent,
//! every host bridge is declared, and functions come parents first in [`FunctionId`](crate::FunctionId) order, so
//! that reading the text back gives every function and host bridge the same index. Identifiers
//! and addresses are written in hexadecimal; what is unknown is left out.

use std::collections::HashSet;
use std::fmt::Write as _;

use ::toml::Value;

use super::toml::{FORMAT_VERSION, PORT_TYPES};
use crate::machine::{CpuVendor, Function, LinkEnd, LinkKind, Machine, Upstream};
use crate::pci::{Acs, LinkStatus, PortType};
use crate::whitelist::Whitelist;

/// A TOML string literal.
fn s(text: &str) -> String {
    Value::String(text.to_owned()).to_string()
}

/// A 64-bit value: a hexadecimal integer, or a string above TOML's `i64` range.
fn u64_lit(v: u64) -> String {
    if i64::try_from(v).is_ok() {
        format!("{v:#x}")
    } else {
        s(&format!("{v:#x}"))
    }
}

fn link_lit(l: &LinkStatus) -> Option<String> {
    match (l.speed, l.width) {
        (None, None) => None,
        (Some(sp), Some(w)) => Some(s(&format!("{sp} x{w}"))),
        (Some(sp), None) => Some(s(&sp.to_string())),
        (None, Some(w)) => Some(s(&format!("x{w}"))),
    }
}

fn port_type_lit(p: PortType) -> String {
    match PORT_TYPES.iter().find(|(_, t)| *t == p) {
        Some((name, _)) => s(name),
        None => p.field().to_string(),
    }
}

fn vendor_lit(v: &CpuVendor) -> Option<String> {
    match v {
        CpuVendor::Intel => Some(s("GenuineIntel")),
        CpuVendor::Amd => Some(s("AuthenticAMD")),
        CpuVendor::Hygon => Some(s("HygonGenuine")),
        CpuVendor::Other(o) => Some(s(o)),
        CpuVendor::Unknown => None,
    }
}

fn kind_lit(k: &LinkKind) -> String {
    match k {
        LinkKind::NvLink => s("nvlink"),
        LinkKind::Xgmi => s("xgmi"),
        LinkKind::Other(o) => s(o),
    }
}

/// The machine as TOML.
pub fn to_toml(m: &Machine) -> String {
    let mut o = String::new();
    let w = &mut o;
    let _ = writeln!(
        w,
        "# A machine for dmabuf-ic: pci-topology's TOML machine description (docs/machine-format.md)."
    );
    let _ = writeln!(w, "format = {FORMAT_VERSION}");
    if m.switches_collapsed() {
        let _ = writeln!(w, "switches_collapsed = true");
    }
    if m.iommu_groups_known() {
        let _ = writeln!(w, "iommu_groups_known = true");
    }
    if m.is_guest() {
        let items: Vec<String> = m.guest_evidence().iter().map(|e| s(e)).collect();
        let _ = writeln!(w, "guest = [{}]", items.join(", "));
    }
    let cpu = m.cpu();
    if *cpu != crate::machine::CpuInfo::default() {
        let _ = writeln!(w, "\n[cpu]");
        if let Some(a) = &cpu.arch {
            let _ = writeln!(w, "arch = {}", s(a.name()));
        }
        if let Some(v) = vendor_lit(&cpu.vendor) {
            let _ = writeln!(w, "vendor = {v}");
        }
        if let Some(f) = cpu.family {
            let _ = writeln!(w, "family = {f:#x}");
        }
        if let Some(x) = cpu.model {
            let _ = writeln!(w, "model = {x:#x}");
        }
        if let Some(n) = &cpu.model_name {
            let _ = writeln!(w, "model_name = {}", s(n));
        }
    }
    if *m.whitelist() != Whitelist::default() {
        let wl = m.whitelist();
        let _ = writeln!(
            w,
            "\n[whitelist]\nrelease = {}\nentries = [",
            s(&wl.release)
        );
        for e in wl.entries.iter() {
            let _ = write!(w, "  {{ vendor = {:#06x}", e.vendor);
            if let Some(d) = e.device {
                let _ = write!(w, ", device = {d:#06x}");
            }
            let _ = writeln!(
                w,
                ", same_host_bridge = {}, note = {} }},",
                e.requires_same_host_bridge,
                s(&e.note)
            );
        }
        let _ = writeln!(w, "]");
    }
    for hb in m.host_bridges() {
        let _ = writeln!(w, "\n[[host_bridge]]\nname = {}", s(&hb.sysfs_name()));
        if let Some(n) = hb.numa_node {
            let _ = writeln!(w, "numa_node = {n}");
        }
        if !hb.root_bus_complete {
            let _ = writeln!(w, "root_bus_complete = false");
        }
    }
    for f in m.functions() {
        function(w, m, f);
    }
    let mut names = HashSet::new();
    let unique = m.fabrics().iter().all(|f| names.insert(f.name.as_str()));
    for f in m.fabrics() {
        let _ = writeln!(
            w,
            "\n[[fabric]]\nname = {}\nkind = {}",
            s(&f.name),
            kind_lit(&f.kind)
        );
    }
    let end = |e: &LinkEnd| match e {
        LinkEnd::Function(f) => s(&m.name(*f)),
        LinkEnd::Cpu { numa_node: None } => s("cpu"),
        LinkEnd::Cpu { numa_node: Some(n) } => s(&format!("cpu:{n}")),
    };
    for l in m.links() {
        let fabric = match m.fabrics().get(l.fabric.0 as usize) {
            Some(f) if unique => s(&f.name),
            _ => l.fabric.0.to_string(),
        };
        let _ = writeln!(
            w,
            "\n[[link]]\nfabric = {fabric}\na = {}\nb = {}\ncount = {}",
            end(&l.a),
            end(&l.b),
            l.count
        );
        if let Some(bw) = l.bandwidth {
            let _ = writeln!(w, "bandwidth = {}  # MB/s, one link, one direction", bw.0);
        }
        if let Some(bw) = l.nccl_bandwidth {
            let _ = writeln!(w, "nccl_bandwidth = {}  # MB/s, NCCL's figure", bw.0);
        }
        if let Some(lat) = l.latency {
            let _ = writeln!(w, "latency_ns = {}", lat.0);
        }
        if !l.up {
            let _ = writeln!(w, "up = false");
        }
    }
    o
}

fn function(w: &mut String, m: &Machine, f: &Function) {
    let _ = writeln!(w, "\n[[function]]\nbdf = {}", s(&f.bdf.to_string()));
    let parent = match f.upstream {
        Upstream::HostBridge(h) => m.host_bridge(h).map(|h| h.sysfs_name()),
        Upstream::Bridge(b) => Some(m.name(b)),
    };
    if let Some(p) = parent {
        let _ = writeln!(w, "parent = {}", s(&p));
    }
    if !f.listed {
        let _ = writeln!(w, "listed = false");
    }
    match (f.vendor, f.device) {
        (Some(v), Some(d)) => {
            let _ = writeln!(w, "id = {}", s(&format!("{v:04x}:{d:04x}")));
        }
        (v, d) => {
            if let Some(v) = v {
                let _ = writeln!(w, "vendor = {v:#06x}");
            }
            if let Some(d) = d {
                let _ = writeln!(w, "device = {d:#06x}");
            }
        }
    }
    match (f.subsystem_vendor, f.subsystem_device) {
        (Some(v), Some(d)) => {
            let _ = writeln!(w, "subsystem = {}", s(&format!("{v:04x}:{d:04x}")));
        }
        (v, d) => {
            if let Some(v) = v {
                let _ = writeln!(w, "subsystem_vendor = {v:#06x}");
            }
            if let Some(d) = d {
                let _ = writeln!(w, "subsystem_device = {d:#06x}");
            }
        }
    }
    if let Some(r) = f.revision {
        let _ = writeln!(w, "revision = {r:#04x}");
    }
    if let Some(c) = f.class {
        let _ = writeln!(w, "class = {:#08x}", c.0);
    }
    if let Some(h) = f.header_type {
        let _ = writeln!(w, "header_type = {h}");
    }
    if let Some((a, b)) = f.bus_range {
        let _ = writeln!(w, "bus_range = [{a:#04x}, {b:#04x}]");
    }
    if let Some(p) = f.port_type {
        let _ = writeln!(w, "port_type = {}", port_type_lit(p));
    }
    if let Some(p) = f.is_pcie {
        let _ = writeln!(w, "pcie = {p}");
    }
    match f.acs {
        Acs::Unknown => {}
        Acs::Absent => {
            let _ = writeln!(w, "acs = \"absent\"");
        }
        Acs::Present { control } => {
            let _ = writeln!(w, "acs = {control:#06x}");
        }
    }
    if let Some(pf) = f.physfn {
        let _ = writeln!(w, "physfn = {}", s(&m.name(pf)));
    }
    if let Some(n) = f.sriov_numvfs {
        let _ = writeln!(w, "sriov_numvfs = {n}");
    }
    if let Some(g) = f.iommu_group {
        let _ = writeln!(w, "iommu_group = {g}");
    }
    if let Some(d) = &f.iommu_domain {
        let _ = writeln!(w, "iommu_domain = {}", s(d.name()));
    }
    if let Some(n) = f.numa_node {
        let _ = writeln!(w, "numa_node = {n}");
    }
    if let Some(c) = &f.local_cpulist {
        let _ = writeln!(w, "local_cpus = {}", s(c));
    }
    if let Some(l) = link_lit(&f.current_link) {
        let _ = writeln!(w, "link = {l}");
    }
    if let Some(l) = link_lit(&f.max_link) {
        let _ = writeln!(w, "max_link = {l}");
    }
    if let Some(bw) = f.link_bandwidth {
        let _ = writeln!(w, "link_bandwidth = {}  # MB/s", bw.0);
    }
    if let Some(p) = f.p2pmem {
        let _ = write!(w, "p2pmem = {{ size = {}", u64_lit(p.size));
        if let Some(a) = p.available {
            let _ = write!(w, ", available = {}", u64_lit(a));
        }
        if let Some(p) = p.published {
            let _ = write!(w, ", published = {p}");
        }
        let _ = writeln!(w, " }}");
    }
    if let Some(d) = &f.driver {
        let _ = writeln!(w, "driver = {}", s(d));
    }
    if let Some(t) = f.trust {
        let _ = writeln!(w, "trust = {}", s(&t.to_string()));
    }
    if !f.bars.is_empty() {
        let _ = writeln!(w, "bars = [");
        for b in &f.bars {
            let _ = writeln!(
                w,
                "  {{ index = {}, start = {}, end = {}, flags = {} }},",
                b.index,
                u64_lit(b.start),
                u64_lit(b.end),
                u64_lit(b.flags)
            );
        }
        let _ = writeln!(w, "]");
    }
    if !f.os_devices.is_empty() {
        let list: Vec<String> = f.os_devices.iter().map(|d| s(d)).collect();
        let _ = writeln!(w, "os_devices = [{}]", list.join(", "));
    }
    if f.fabric_switch {
        let _ = writeln!(w, "fabric_switch = true");
    }
}
