//! The JSON vocabulary: the fixed strings and number conventions of the contract
//! (docs/json-output.md). Internal types map onto these here and nowhere else, so a change
//! inside the crates cannot change the output by accident.

use dmabuf_negotiate::{Bandwidth, HostBridgeCause, HostBridgeRefusal, RouteKind, Tier, Trust};
use pci_topology::{Acs, Bdf, CpuVendor, LinkSpeed, MapType, NvClass, PortType};
use serde::Serialize;

/// A bus id as text: `0000:03:00.0`.
pub fn bdf(b: Bdf) -> String {
    b.to_string()
}

/// `"bus-addr"`, `"thru-host-bridge"`, `"not-supported"`.
pub const fn map_type(t: MapType) -> &'static str {
    match t {
        MapType::BusAddr => "bus-addr",
        MapType::ThruHostBridge => "thru-host-bridge",
        MapType::NotSupported => "not-supported",
    }
}

/// `"X"`, `"PIX"`, `"PXB"`, `"PHB"`, `"NODE"`, `"SYS"`.
pub const fn class(c: NvClass) -> &'static str {
    match c {
        NvClass::X => "X",
        NvClass::Pix => "PIX",
        NvClass::Pxb => "PXB",
        NvClass::Phb => "PHB",
        NvClass::Node => "NODE",
        NvClass::Sys => "SYS",
    }
}

/// `"redirect"`, `"no-redirect"`, `"unknown"`.
pub const fn acs(a: Acs) -> &'static str {
    match a.redirect() {
        Some(true) => "redirect",
        Some(false) => "no-redirect",
        None => "unknown",
    }
}

/// The PCIe port type in kebab case.
pub const fn port_type(p: PortType) -> &'static str {
    match p {
        PortType::Endpoint => "endpoint",
        PortType::LegacyEndpoint => "legacy-endpoint",
        PortType::RootPort => "root-port",
        PortType::SwitchUpstream => "switch-upstream",
        PortType::SwitchDownstream => "switch-downstream",
        PortType::PcieToPciBridge => "pcie-to-pci-bridge",
        PortType::PciToPcieBridge => "pci-to-pcie-bridge",
        PortType::RcIntegratedEndpoint => "rc-integrated-endpoint",
        PortType::RcEventCollector => "rc-event-collector",
        PortType::Reserved(_) => "reserved",
    }
}

/// Gigabytes (10^9 bytes) per second from the core's megabytes per second.
pub fn gbps(b: Bandwidth) -> f64 {
    f64::from(b.0) / 1000.0
}

/// Gigatransfers per second from a lane rate.
pub fn gts(s: LinkSpeed) -> f64 {
    f64::from(s.0) / 1000.0
}

/// A CPU vendor: `intel`, `amd`, `hygon`, another vendor's string as the source gives it, or
/// null when unknown. The same in `topo` and `explain`.
pub fn cpu_vendor(v: &CpuVendor) -> Option<String> {
    match v {
        CpuVendor::Intel => Some("intel".to_owned()),
        CpuVendor::Amd => Some("amd".to_owned()),
        CpuVendor::Hygon => Some("hygon".to_owned()),
        CpuVendor::Other(s) => Some(s.clone()),
        CpuVendor::Unknown => None,
    }
}

/// An address or an offset as a hex string (`"0x39e004000000"`): they do not all fit a JSON
/// number exactly. Lengths and sizes stay integers.
pub fn address(v: u64) -> String {
    format!("{v:#x}")
}

/// A 16-bit ID as four hex digits.
pub fn hex16(v: u16) -> String {
    format!("{v:04x}")
}

/// The kind of a route.
pub const fn route_kind(k: RouteKind) -> &'static str {
    match k {
        RouteKind::SameDevice => "same-device",
        RouteKind::PrivateLink(_) => "private-link",
        RouteKind::PciBusAddr { .. } => "pci-bus-addr",
        RouteKind::PciThroughHostBridge { .. } => "pci-thru-host-bridge",
        RouteKind::SystemMemory => "system-memory",
        RouteKind::CpuThroughHostBridge => "cpu-thru-host-bridge",
    }
}

/// The quality tier of a route.
pub const fn tier(t: Tier) -> &'static str {
    match t {
        Tier::SameDevice => "same-device",
        Tier::PrivateLink => "private-link",
        Tier::PciBusAddr => "pci-bus-addr",
        Tier::PciThroughHostBridge => "pci-thru-host-bridge",
        Tier::SystemMemory => "system-memory",
    }
}

/// Why traffic has to cross the host bridge.
pub const fn host_bridge_cause(c: HostBridgeCause) -> &'static str {
    match c {
        HostBridgeCause::NoCommonUpstreamBridge => "no-common-upstream-bridge",
        HostBridgeCause::AcsRedirect => "acs-redirect",
    }
}

/// Why the host bridge refuses.
pub const fn host_bridge_refusal(r: HostBridgeRefusal) -> &'static str {
    match r {
        HostBridgeRefusal::NotWhitelisted => "not-whitelisted",
        HostBridgeRefusal::RequiresSameHostBridge => "requires-same-host-bridge",
        HostBridgeRefusal::NoHostBridgeDevice => "no-host-bridge-device",
    }
}

/// Who a `phys` importer is.
pub const fn trust(t: Trust) -> &'static str {
    match t {
        Trust::Untrusted => "untrusted",
        Trust::Iommufd => "iommufd",
        Trust::Kvm => "kvm",
        Trust::Vfio => "vfio",
    }
}

/// Where the machine came from.
#[derive(Serialize, Debug)]
pub struct Source {
    /// `sysfs`, `hwloc`, `nccl` or `machine`.
    pub kind: &'static str,
    /// The path as given (relative paths stay relative), or null for the live system.
    pub path: Option<String>,
}

impl Source {
    /// From the CLI's source.
    pub fn of(s: &crate::source::MachineSource) -> Self {
        Self {
            kind: s.kind(),
            path: s.path().map(|p| p.display().to_string()),
        }
    }
}
