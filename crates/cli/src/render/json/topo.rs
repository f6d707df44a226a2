//! `topo --format json`: the machine (docs/json-output.md, "topo").

use pci_topology::{Function, FunctionId, HostBridgeId, LinkEnd, LinkStatus, Machine};
use serde::Serialize;

use super::vocab::{self, Source};
use crate::error::CliError;
use crate::kind::Kind;
use crate::names::FunctionNames;
use crate::source::MachineSource;

/// The document.
#[derive(Serialize, Debug)]
pub struct Topo {
    /// Where the machine came from.
    pub source: Source,
    /// The CPU, as far as the P2P rules care.
    pub cpu: Cpu,
    /// Whether the source collapsed PCIe switches into single nodes (NCCL files).
    pub switches_collapsed: bool,
    /// Whether the source shows IOMMU groups.
    pub iommu_groups_known: bool,
    /// What says the machine is a virtual machine's guest (whose PCI tree is not the host's);
    /// empty when nothing does.
    pub guest: Vec<String>,
    /// The host-bridge whitelist's kernel release.
    pub whitelist: String,
    /// Host bridges.
    pub host_bridges: Vec<HostBridgeOut>,
    /// Every function, in the source's order (parents before children).
    pub functions: Vec<FunctionOut>,
    /// Private fabrics.
    pub private_fabrics: Vec<FabricOut>,
}

/// The CPU.
#[derive(Serialize, Debug)]
pub struct Cpu {
    /// `intel`, `amd`, `hygon`, another vendor string, or null.
    pub vendor: Option<String>,
    /// `cpu family`, or null.
    pub family: Option<u32>,
    /// `model`, or null.
    pub model: Option<u32>,
    /// `model name`, or null.
    pub model_name: Option<String>,
    /// Whether Linux's AMD Zen rule allows P2P through any host bridge (false when not known).
    pub zen_rule: bool,
    /// Whether the source tells whether the rule applies.
    pub zen_rule_known: bool,
    /// `x86`, `arm`, `power`, `s390`, another architecture name, or null.
    pub arch: Option<String>,
}

/// A host bridge.
#[derive(Serialize, Debug)]
pub struct HostBridgeOut {
    /// `pciDDDD:BB`.
    pub name: String,
    /// PCI domain.
    pub domain: u32,
    /// Root bus number.
    pub root_bus: u8,
    /// NUMA node, or null.
    pub numa_node: Option<u32>,
    /// The device checked against the whitelist, or null.
    pub whitelist_device: Option<String>,
    /// The matching whitelist entry as text, or null.
    pub whitelist_entry: Option<String>,
    /// Whether P2P may go through this host bridge (within it): whitelisted or the Zen rule,
    /// with what the source shows.
    pub p2p_through: bool,
    /// Whether the source tells `p2p_through` (it may not give the device Linux checks, or
    /// the CPU vendor).
    pub p2p_through_known: bool,
    /// Whether the source lists every function on the root bus (false: NCCL files, `lstopo`
    /// without `--whole-io`; the device Linux checks is then unknown unless one is at 00.0).
    pub root_bus_complete: bool,
}

/// A link's state.
#[derive(Serialize, Debug)]
pub struct LinkOut {
    /// Lane rate in GT/s, or null.
    pub speed_gts: Option<f64>,
    /// Lanes, or null.
    pub width: Option<u8>,
    /// Bandwidth per direction after line encoding, GB/s, or null.
    pub bandwidth_gbps: Option<f64>,
}

impl LinkOut {
    fn of(l: &LinkStatus) -> Self {
        Self {
            speed_gts: l.speed.map(vocab::gts),
            width: l.width,
            bandwidth_gbps: l.bandwidth_mb_s().map(|b| f64::from(b) / 1000.0),
        }
    }
}

/// p2pmem published by a function.
#[derive(Serialize, Debug)]
pub struct P2pMemOut {
    /// Bytes.
    pub size: u64,
    /// Bytes available, or null.
    pub available: Option<u64>,
    /// Whether published, or null.
    pub published: Option<bool>,
}

/// One BAR.
#[derive(Serialize, Debug)]
pub struct BarOut {
    /// Index (6: expansion ROM).
    pub index: u8,
    /// Start address, hex text.
    pub start: String,
    /// Size in bytes.
    pub size: u64,
    /// Memory (else I/O).
    pub memory: bool,
    /// Prefetchable.
    pub prefetchable: bool,
}

/// One function.
#[derive(Serialize, Debug)]
pub struct FunctionOut {
    /// Bus id.
    pub bdf: String,
    /// Bus id of the bridge above, or null on a root bus.
    pub parent: Option<String>,
    /// The host bridge's name.
    pub host_bridge: Option<String>,
    /// Whether the source listed the function (else it is only known from a path).
    pub listed: bool,
    /// Vendor ID (4 hex digits), or null.
    pub vendor: Option<String>,
    /// Vendor name from the PCI ID database, or null.
    pub vendor_name: Option<&'static str>,
    /// Device ID, or null.
    pub device: Option<String>,
    /// Device name from the PCI ID database, or null.
    pub device_name: Option<&'static str>,
    /// Subsystem vendor ID, or null.
    pub subsystem_vendor: Option<String>,
    /// Subsystem device ID, or null.
    pub subsystem_device: Option<String>,
    /// Class code (6 hex digits), or null.
    pub class: Option<String>,
    /// Class name, or null.
    pub class_name: Option<&'static str>,
    /// Coarse kind: gpu, nic, infiniband, nvme, storage, accelerator, host-bridge, bridge,
    /// other, unknown.
    pub kind: &'static str,
    /// Whether it is a PCI-to-PCI bridge.
    pub bridge: bool,
    /// PCIe port type, or null when unknown or not PCIe.
    pub port_type: Option<&'static str>,
    /// Whether PCI Express (null: unknown).
    pub pcie: Option<bool>,
    /// `redirect`, `no-redirect` or `unknown`.
    pub acs: &'static str,
    /// The ACS Control register when the capability is present, else null.
    pub acs_control: Option<u16>,
    /// IOMMU group, or null.
    pub iommu_group: Option<u32>,
    /// The IOMMU group's default domain type (`identity`, `DMA`, `DMA-FQ`, `blocked`,
    /// `unmanaged`, or another word), or null.
    pub iommu_domain: Option<String>,
    /// NUMA node (own, else the host bridge's), or null.
    pub numa_node: Option<u32>,
    /// Current link.
    pub link: LinkOut,
    /// Maximum link.
    pub max_link: LinkOut,
    /// Bandwidth the link to its upstream port can do (the lower of both ends' maxima), GB/s,
    /// or null when unknown or when the function has no such link.
    pub capable_bandwidth_gbps: Option<f64>,
    /// Whether that link runs below what it can do now (an idle GPU trains down), or null.
    pub trained_down: Option<bool>,
    /// Bound driver, or null.
    pub driver: Option<String>,
    /// Whom an importer acting for this function speaks for, when the machine says
    /// (`untrusted`, `iommufd`, `kvm`, `vfio`; a function bound to vfio-pci is `vfio`), or null.
    pub trust: Option<&'static str>,
    /// p2pmem, or null.
    pub p2pmem: Option<P2pMemOut>,
    /// The physical function, when a virtual function.
    pub physfn: Option<String>,
    /// VFs enabled, or null.
    pub sriov_numvfs: Option<u32>,
    /// OS device names.
    pub os_devices: Vec<String>,
    /// BARs.
    pub bars: Vec<BarOut>,
}

/// A private fabric and its links.
#[derive(Serialize, Debug)]
pub struct FabricOut {
    /// Name.
    pub name: String,
    /// Technology: `NVLink`, `xGMI`, or another name.
    pub kind: String,
    /// Its links.
    pub links: Vec<PrivateLinkOut>,
}

/// A bundle of private links.
#[derive(Serialize, Debug)]
pub struct PrivateLinkOut {
    /// One end: a bus id, or `cpu` / `cpu:N` (NUMA node).
    pub a: String,
    /// The other end.
    pub b: String,
    /// Parallel links.
    pub count: u16,
    /// Per link, per direction, GB/s: the hardware's figure, or null.
    pub bandwidth_gbps: Option<f64>,
    /// Whole bundle, or null.
    pub total_bandwidth_gbps: Option<f64>,
    /// NCCL's own figure per link, per direction (what NCCL plans with), when the source is an
    /// NCCL file; null otherwise.
    pub nccl_bandwidth_gbps: Option<f64>,
    /// Latency in ns, or null.
    pub latency_ns: Option<u32>,
    /// Up.
    pub up: bool,
}

const fn kind_code(k: Kind) -> &'static str {
    match k {
        Kind::Gpu => "gpu",
        Kind::Nic => "nic",
        Kind::InfiniBand => "infiniband",
        Kind::Nvme => "nvme",
        Kind::Storage => "storage",
        Kind::Accelerator => "accelerator",
        Kind::HostBridge => "host-bridge",
        Kind::Bridge => "bridge",
        Kind::Other => "other",
        Kind::Unknown => "unknown",
    }
}

/// The stable kind code of a function (shared with other documents).
pub fn kind_of(f: &Function) -> &'static str {
    kind_code(Kind::of(f))
}

fn function(m: &Machine, id: FunctionId, f: &Function) -> FunctionOut {
    let names = FunctionNames::of(f);
    FunctionOut {
        bdf: vocab::bdf(f.bdf),
        parent: m.parent(id).map(|p| m.name(p)),
        host_bridge: m
            .host_bridge_of(id)
            .and_then(|h| m.host_bridge(h))
            .map(|h| h.sysfs_name()),
        listed: f.listed,
        vendor: f.vendor.map(vocab::hex16),
        vendor_name: names.vendor,
        device: f.device.map(vocab::hex16),
        device_name: names.device,
        subsystem_vendor: f.subsystem_vendor.map(vocab::hex16),
        subsystem_device: f.subsystem_device.map(vocab::hex16),
        class: f.class.map(|c| c.to_string()),
        class_name: names.class,
        kind: kind_of(f),
        bridge: f.is_bridge(),
        port_type: f.port_type.map(vocab::port_type),
        pcie: f.is_pcie,
        acs: vocab::acs(f.acs),
        acs_control: match f.acs {
            pci_topology::Acs::Present { control } => Some(control),
            _ => None,
        },
        iommu_group: f.iommu_group,
        iommu_domain: f.iommu_domain.as_ref().map(|d| d.name().to_owned()),
        numa_node: m.numa_node(id),
        link: LinkOut::of(&f.current_link),
        max_link: LinkOut::of(&f.max_link),
        capable_bandwidth_gbps: m.uplink(id).and_then(|u| u.capable).map(vocab::gbps),
        trained_down: m.uplink(id).and_then(|u| u.trained_down()),
        driver: f.driver.clone(),
        trust: f.trust.map(vocab::trust),
        p2pmem: f.p2pmem.map(|p| P2pMemOut {
            size: p.size,
            available: p.available,
            published: p.published,
        }),
        physfn: f.physfn.map(|p| m.name(p)),
        sriov_numvfs: f.sriov_numvfs,
        os_devices: f.os_devices.clone(),
        bars: f
            .bars
            .iter()
            .map(|b| BarOut {
                index: b.index,
                start: vocab::address(b.start),
                size: b.size(),
                memory: b.is_memory(),
                prefetchable: b.is_prefetchable(),
            })
            .collect(),
    }
}

fn end(m: &Machine, e: LinkEnd) -> String {
    match e {
        LinkEnd::Function(f) => m.name(f),
        LinkEnd::Cpu { numa_node: Some(n) } => format!("cpu:{n}"),
        LinkEnd::Cpu { numa_node: None } => "cpu".to_owned(),
    }
}

/// Builds the document.
pub fn build(m: &Machine, source: &MachineSource) -> Topo {
    let cpu = m.cpu();
    Topo {
        source: Source::of(source),
        cpu: Cpu {
            vendor: vocab::cpu_vendor(&cpu.vendor),
            family: cpu.family,
            model: cpu.model,
            model_name: cpu.model_name.clone(),
            zen_rule: cpu.supports_p2pdma(),
            zen_rule_known: cpu.p2pdma_rule().is_some(),
            arch: cpu.arch.as_ref().map(|a| a.name().to_owned()),
        },
        switches_collapsed: m.switches_collapsed(),
        iommu_groups_known: m.iommu_groups_known(),
        guest: m.guest_evidence().to_vec(),
        whitelist: m.whitelist().release.to_string(),
        host_bridges: m
            .host_bridges()
            .iter()
            .enumerate()
            .map(|(i, hb)| {
                let l = m.whitelist_lookup(HostBridgeId(i as u32), true);
                HostBridgeOut {
                    name: hb.sysfs_name(),
                    domain: hb.domain,
                    root_bus: hb.root_bus,
                    numa_node: hb.numa_node,
                    whitelist_device: l.device.map(|d| m.name(d)),
                    whitelist_entry: l.entry.as_ref().map(ToString::to_string),
                    p2p_through: cpu.supports_p2pdma() || l.whitelisted,
                    p2p_through_known: m.host_bridge_allows(HostBridgeId(i as u32))
                        != pci_topology::Tristate::Unknown,
                    root_bus_complete: hb.root_bus_complete,
                }
            })
            .collect(),
        functions: m
            .function_ids()
            .filter_map(|id| m.function(id).map(|f| function(m, id, f)))
            .collect(),
        private_fabrics: m
            .fabrics()
            .iter()
            .enumerate()
            .map(|(i, fab)| FabricOut {
                name: fab.name.clone(),
                kind: fab.kind.to_string(),
                links: m
                    .links()
                    .iter()
                    .filter(|l| l.fabric.0 as usize == i)
                    .map(|l| PrivateLinkOut {
                        a: end(m, l.a),
                        b: end(m, l.b),
                        count: l.count,
                        bandwidth_gbps: l.bandwidth.map(vocab::gbps),
                        total_bandwidth_gbps: l.total_bandwidth().map(vocab::gbps),
                        nccl_bandwidth_gbps: l.nccl_bandwidth.map(vocab::gbps),
                        latency_ns: l.latency.map(|x| x.0),
                        up: l.up,
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// Renders the document.
pub fn render(m: &Machine, source: &MachineSource) -> Result<String, CliError> {
    crate::output::to_json(&build(m, source))
}
