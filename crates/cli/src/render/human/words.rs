//! Phrases the human renderers share: how a link, an ACS state, a NUMA node, a route or a
//! size reads, with "unknown" wherever the source did not say.

use dmabuf_negotiate::{Bandwidth, Route, RouteKind};
use pci_topology::{
    Acs, CpuInfo, CpuVendor, Function, FunctionId, HostBridgeId, LinkStatus, Machine, MapType,
    P2pMem,
};

use crate::counts::count;
use crate::names::FunctionNames;
use crate::style::{self, BAD, DIM, FAIR, GOOD};

/// `15.8 GB/s` (by the one rounding rule, [`dmabuf_negotiate::Gbps`]), or `bandwidth unknown`.
pub fn bandwidth(b: Option<Bandwidth>) -> String {
    b.map_or_else(|| "bandwidth unknown".to_owned(), |b| b.to_string())
}

/// A size in bytes as people read it (`16 MiB`).
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes;
    let mut u = 0;
    while v >= 1024 && v % 1024 == 0 && u + 1 < UNITS.len() {
        v /= 1024;
        u += 1;
    }
    format!("{v} {}", UNITS[u])
}

/// `8 GT/s x16`, with `?` for an unknown part; `None` when nothing is known.
pub fn link_status(l: &LinkStatus) -> Option<String> {
    if l.is_unknown() {
        return None;
    }
    let speed = l
        .speed
        .map_or_else(|| "? GT/s".to_owned(), |s| s.to_string());
    let width = l.width.map_or_else(|| "?".to_owned(), |w| w.to_string());
    Some(format!("{speed} x{width}"))
}

/// The link of a function: `link 8 GT/s x16 (max 16 GT/s x16)`, `link unknown`, or
/// `conventional PCI`.
pub fn link(f: &Function) -> String {
    if f.is_pcie == Some(false) {
        return "conventional PCI".to_owned();
    }
    let cur = link_status(&f.current_link);
    let max = link_status(&f.max_link);
    match (cur, max) {
        (Some(c), Some(m)) if c != m => format!("link {c} (max {m})"),
        (Some(c), _) => format!("link {c}"),
        (None, Some(m)) => format!("link unknown (max {m})"),
        (None, None) => style::paint(DIM, "link unknown"),
    }
}

/// The PCIe port type, or why there is none.
pub fn port_type(f: &Function) -> String {
    match f.port_type {
        Some(p) => p.name().to_owned(),
        None if f.is_pcie == Some(false) => "conventional PCI".to_owned(),
        None => style::paint(DIM, "port type unknown"),
    }
}

/// What a bridge is, for sentences: `switch downstream port`, or `bridge` when its port type
/// is unknown.
pub fn port_name(m: &Machine, id: FunctionId) -> String {
    match m.function(id).and_then(|f| f.port_type) {
        Some(p) => p.name().to_owned(),
        None => "bridge".to_owned(),
    }
}

/// A function's ACS state, styled.
pub fn acs(a: Acs) -> String {
    match a {
        Acs::Unknown => style::paint(DIM, "ACS unknown"),
        Acs::Absent => "no ACS".to_owned(),
        Acs::Present { control } if a.redirect() == Some(true) => {
            style::paint(FAIR, format!("ACS redirect (ctrl {control:#06x})"))
        }
        Acs::Present { control } => format!("ACS no redirect (ctrl {control:#06x})"),
    }
}

/// `NUMA 0` or `NUMA unknown`.
pub fn numa(n: Option<u32>) -> String {
    n.map_or_else(
        || style::paint(DIM, "NUMA unknown"),
        |n| format!("NUMA {n}"),
    )
}

/// The IOMMU group, or whether there is none.
pub fn iommu(m: &Machine, f: &Function) -> String {
    match (f.iommu_group, &f.iommu_domain) {
        (Some(g), Some(d)) => format!("IOMMU group {g} ({d} domain)"),
        (Some(g), None) => format!("IOMMU group {g}"),
        (None, _) if m.iommu_groups_known() => "no IOMMU group".to_owned(),
        (None, _) => style::paint(DIM, "IOMMU group unknown"),
    }
}

/// The bound driver.
pub fn driver(f: &Function) -> String {
    f.driver.as_ref().map_or_else(
        || style::paint(DIM, "no driver known"),
        |d| format!("driver {d}"),
    )
}

/// The p2pmem a provider publishes.
pub fn p2pmem(p: &P2pMem) -> String {
    let mut s = format!("p2pmem {}", size(p.size));
    if let Some(a) = p.available {
        s.push_str(&format!(", {} free", size(a)));
    }
    match p.published {
        Some(true) => s.push_str(", published"),
        Some(false) => s.push_str(", not published"),
        None => {}
    }
    s
}

/// `Vendor Device [vvvv:dddd]`.
pub fn function_label(f: &Function) -> String {
    format!("{} [{}]", FunctionNames::of(f).label(), f.id_string())
}

/// A function's bus id, or its index if it has vanished (never for a valid id).
pub fn bdf(m: &Machine, id: FunctionId) -> String {
    m.name(id)
}

/// The host bridge's sysfs name.
pub fn host_bridge(m: &Machine, h: HostBridgeId) -> String {
    m.host_bridge(h)
        .map_or_else(|| format!("host bridge #{}", h.0), |hb| hb.sysfs_name())
}

/// The CPU in a few words: `AMD family 25 (0x19) model 17, AMD EPYC`.
pub fn cpu(c: &CpuInfo) -> String {
    let mut s = match c.vendor {
        CpuVendor::Unknown => style::paint(DIM, "vendor unknown"),
        ref v => v.to_string(),
    };
    match c.family {
        Some(f) => s.push_str(&format!(" family {f} ({f:#x})")),
        None => s.push_str(&format!(" {}", style::paint(DIM, "family unknown"))),
    }
    if let Some(m) = c.model {
        s.push_str(&format!(" model {m}"));
    }
    if let Some(n) = &c.model_name {
        s.push_str(&format!(", {n}"));
    }
    s
}

/// A map type, styled by how good it is.
pub fn map_type(t: MapType) -> String {
    let st = match t {
        MapType::BusAddr => GOOD,
        MapType::ThruHostBridge => FAIR,
        MapType::NotSupported => BAD,
    };
    style::paint(st, t.as_str())
}

/// A map type with the kernel's distance: `bus-addr, distance 4` or
/// `not-supported (pci_p2pdma_distance = -1)`.
pub fn verdict(t: MapType, distance: u32) -> String {
    match t {
        MapType::NotSupported => format!("{} (pci_p2pdma_distance = -1)", map_type(t)),
        _ => format!("{}, distance {distance}", map_type(t)),
    }
}

/// A route kind in words, with fabric names given by `fabric`.
pub fn route_kind(k: RouteKind, fabric: &dyn Fn(dmabuf_negotiate::FabricId) -> String) -> String {
    match k {
        RouteKind::SameDevice => "same device".to_owned(),
        RouteKind::PrivateLink(f) => format!("private link {}", fabric(f)),
        RouteKind::PciBusAddr { distance } => {
            format!("PCI P2P, bus addresses, distance {distance}")
        }
        RouteKind::PciThroughHostBridge { distance } => {
            format!("PCI P2P through the host bridge, distance {distance}")
        }
        RouteKind::SystemMemory => "system memory".to_owned(),
        RouteKind::CpuThroughHostBridge => "CPU through the host bridge".to_owned(),
    }
}

/// A route in one line: kind · bandwidth · latency · hops.
pub fn route(r: &Route, fabric: &dyn Fn(dmabuf_negotiate::FabricId) -> String) -> String {
    let mut s = route_kind(r.kind, fabric);
    s.push_str(" · ");
    s.push_str(&bandwidth(r.bandwidth));
    if let Some(l) = r.latency {
        s.push_str(&format!(" · {} ns", l.0));
    }
    s.push_str(&format!(" · {}", count(r.hops, "hop")));
    s
}

/// When the machine is a virtual machine's guest: what that means for its verdicts, and what
/// says so.
pub fn guest_note(m: &Machine) -> Option<String> {
    m.is_guest().then(|| {
        style::paint(
            FAIR,
            format!(
                "a virtual machine: this is the guest's PCI tree, not the host's, so verdicts are \
                 the guest kernel's; the host's switches, ACS and IOMMU decide what P2P between \
                 passed-through devices really does ({})",
                m.guest_evidence().join("; ")
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_bandwidths() {
        assert_eq!(size(16 << 20), "16 MiB");
        assert_eq!(size(1000), "1000 bytes");
        assert_eq!(bandwidth(Some(Bandwidth(15_753))), "15.8 GB/s");
        assert_eq!(bandwidth(None), "bandwidth unknown");
    }
}
