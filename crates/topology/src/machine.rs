//! The machine model and the builder every loader uses.
//!
//! A [`Machine`] is built once through a [`MachineBuilder`] and is immutable afterwards; building
//! validates the model and precomputes what the P2P rules and the route model recompute (see
//! [`crate::p2pdma`]). Nothing in a `Machine` says which source it came from: the sysfs loader,
//! hwloc XML, NCCL XML and TOML loaders all produce the same model.
//!
//! Functions and host bridges are addressed by dense indices, [`FunctionId`] and
//! [`HostBridgeId`], in the order they were added. A function's index is stable for a given
//! source (the sysfs loader adds functions in address order) and is the
//! [`DeviceId`] handed to the negotiation core.

use std::collections::HashMap;
use std::fmt;

use dmabuf_negotiate::{Bandwidth, DeviceId, FabricId, Latency, Trust};

use crate::limits::MAX_BRIDGE_DEPTH;
use crate::pci::{Acs, Bar, Bdf, ClassCode, LinkStatus, P2pMem, PortType};
use crate::whitelist::Whitelist;

/// Index of a PCI function in its [`Machine`]; also its negotiation [`DeviceId`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct FunctionId(pub u32);

impl FunctionId {
    /// The index as `usize`.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

impl From<FunctionId> for DeviceId {
    fn from(f: FunctionId) -> Self {
        DeviceId(f.0)
    }
}

impl From<DeviceId> for FunctionId {
    fn from(d: DeviceId) -> Self {
        FunctionId(d.0)
    }
}

impl fmt::Display for FunctionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "function#{}", self.0)
    }
}

/// Index of a host bridge in its [`Machine`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct HostBridgeId(pub u32);

impl HostBridgeId {
    /// The index as `usize`.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// What a function sits under: a host bridge's root bus, or a bridge's secondary bus.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Upstream {
    /// The function is on the root bus of this host bridge.
    HostBridge(HostBridgeId),
    /// The function is below this bridge (its parent directory in sysfs).
    Bridge(FunctionId),
}

/// A host bridge (root complex) and its root bus.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct HostBridge {
    /// PCI domain of the root bus.
    pub domain: u32,
    /// Number of the root bus.
    pub root_bus: u8,
    /// NUMA node, if known. When `None`, [`Machine::numa_node`] falls back to the functions.
    pub numa_node: Option<u32>,
    /// Whether the source lists every function on the root bus (sysfs does), so that the first
    /// one listed is the device Linux checks against the host-bridge whitelist. `false` for
    /// sources that leave some out (NCCL files show no root-bus function; `lstopo` without
    /// `--whole-io` only some classes): unless a function at devfn 00.0 is listed, which is
    /// first whatever else is missing, that device is then unknown.
    pub root_bus_complete: bool,
}

impl HostBridge {
    /// A host bridge with an unknown NUMA node.
    pub const fn new(domain: u32, root_bus: u8) -> Self {
        Self {
            domain,
            root_bus,
            numa_node: None,
            root_bus_complete: true,
        }
    }

    /// The sysfs name of the host bridge, `pciDDDD:BB`.
    pub fn sysfs_name(&self) -> String {
        format!("pci{:04x}:{:02x}", self.domain, self.root_bus)
    }

    /// The domain and root bus named by a sysfs host-bridge name `pciDDDD:BB` (the inverse of
    /// [`sysfs_name`](Self::sysfs_name)); `None` if `name` is not one.
    pub fn parse_sysfs_name(name: &str) -> Option<(u32, u8)> {
        let rest = name.trim().strip_prefix("pci")?;
        let (d, b) = rest.split_once(':')?;
        if d.len() < 4 || d.len() > 8 || b.len() != 2 {
            return None;
        }
        if !d.bytes().chain(b.bytes()).all(|x| x.is_ascii_hexdigit()) {
            return None;
        }
        Some((
            u32::from_str_radix(d, 16).ok()?,
            u8::from_str_radix(b, 16).ok()?,
        ))
    }
}

/// One PCI function and everything known about it. Every attribute a source may lack is an
/// `Option` (or [`Acs::Unknown`], or an unknown [`LinkStatus`]).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Function {
    /// Address.
    pub bdf: Bdf,
    /// What it sits under.
    pub upstream: Upstream,
    /// Whether the source listed the function itself (`false`: it is known only as a bridge in
    /// another function's path, and its attributes are unknown).
    pub listed: bool,
    /// Vendor ID.
    pub vendor: Option<u16>,
    /// Device ID.
    pub device: Option<u16>,
    /// Subsystem vendor ID.
    pub subsystem_vendor: Option<u16>,
    /// Subsystem device ID.
    pub subsystem_device: Option<u16>,
    /// Revision ID.
    pub revision: Option<u8>,
    /// Class code.
    pub class: Option<ClassCode>,
    /// Configuration header type (bits 6:0; 0 normal, 1 PCI-to-PCI bridge, 2 CardBus).
    pub header_type: Option<u8>,
    /// Secondary and subordinate bus numbers of a bridge, from its configuration header.
    pub bus_range: Option<(u8, u8)>,
    /// PCI Express device/port type; `None` when unknown (not readable, or not PCI Express).
    pub port_type: Option<PortType>,
    /// Whether the function is PCI Express: `Some(false)` for conventional PCI (known), `None`
    /// when the capability list could not be read.
    pub is_pcie: Option<bool>,
    /// ACS state.
    pub acs: Acs,
    /// The physical function, when this is an SR-IOV virtual function.
    pub physfn: Option<FunctionId>,
    /// Number of VFs enabled, when this is an SR-IOV physical function.
    pub sriov_numvfs: Option<u32>,
    /// IOMMU group number.
    pub iommu_group: Option<u32>,
    /// The type of its IOMMU group's default domain, if known ([`crate::iommu`]).
    pub iommu_domain: Option<crate::IommuDomain>,
    /// NUMA node (`None` for the kernel's -1 or when missing).
    pub numa_node: Option<u32>,
    /// CPUs close to the function, as a cpulist (`0-7,16-23`).
    pub local_cpulist: Option<String>,
    /// Current link state.
    pub current_link: LinkStatus,
    /// Maximum link state.
    pub max_link: LinkStatus,
    /// Bandwidth of the current link after line encoding, one direction, when the source gives
    /// only that and not the lane rate and width (hwloc XML's `pci_link_speed`: Gen3 x16 and
    /// Gen4 x8 give the same figure, so neither can be recovered). `None` when unknown or when
    /// [`current_link`](Self::current_link) says it; see [`Function::current_bandwidth`].
    pub link_bandwidth: Option<Bandwidth>,
    /// Peer-to-peer memory published through p2pdma.
    pub p2pmem: Option<P2pMem>,
    /// Bound driver name.
    pub driver: Option<String>,
    /// Whom an importer acting for this function speaks for, when the machine says: a function
    /// bound to `vfio-pci` is assigned through VFIO, so its importers are trusted with physical
    /// addresses ([`Trust::Vfio`]). `None` when nothing says; a scenario must then state it, and
    /// an importer that does not is untrusted.
    pub trust: Option<Trust>,
    /// BARs and other resources with a non-empty range.
    pub bars: Vec<Bar>,
    /// OS device names attached to the function (`nvme0`, `nvme0n1`, `eth0`, `mlx5_0`, ...).
    pub os_devices: Vec<String>,
    /// Whether the function forwards private-link traffic between other devices (an NVSwitch).
    pub fabric_switch: bool,
}

impl Function {
    /// A listed function about which nothing but its address and place is known yet.
    pub fn new(bdf: Bdf, upstream: Upstream) -> Self {
        Self {
            bdf,
            upstream,
            listed: true,
            vendor: None,
            device: None,
            subsystem_vendor: None,
            subsystem_device: None,
            revision: None,
            class: None,
            header_type: None,
            bus_range: None,
            port_type: None,
            is_pcie: None,
            acs: Acs::Unknown,
            physfn: None,
            sriov_numvfs: None,
            iommu_group: None,
            iommu_domain: None,
            numa_node: None,
            local_cpulist: None,
            current_link: LinkStatus::default(),
            max_link: LinkStatus::default(),
            link_bandwidth: None,
            p2pmem: None,
            driver: None,
            trust: None,
            bars: Vec::new(),
            os_devices: Vec::new(),
            fabric_switch: false,
        }
    }

    /// Whether this function is a PCI-to-PCI bridge, by class code, header type or port type.
    pub fn is_bridge(&self) -> bool {
        self.class.is_some_and(|c| c.is_pci_bridge())
            || self.header_type == Some(1)
            || matches!(
                self.port_type,
                Some(
                    PortType::RootPort
                        | PortType::SwitchUpstream
                        | PortType::SwitchDownstream
                        | PortType::PcieToPciBridge
                        | PortType::PciToPcieBridge
                )
            )
    }

    /// Bandwidth of the current link after line encoding, one direction: from the lane rate and
    /// width when both are known, else [`link_bandwidth`](Self::link_bandwidth).
    pub fn current_bandwidth(&self) -> Option<Bandwidth> {
        self.current_link
            .bandwidth_mb_s()
            .map(Bandwidth)
            .or(self.link_bandwidth)
    }

    /// Whether this is an SR-IOV virtual function.
    pub const fn is_virtfn(&self) -> bool {
        self.physfn.is_some()
    }

    /// `vendor:device` in hex, with `????` for unknown parts.
    pub fn id_string(&self) -> String {
        let hex = |v: Option<u16>| v.map_or_else(|| "????".to_owned(), |v| format!("{v:04x}"));
        format!("{}:{}", hex(self.vendor), hex(self.device))
    }
}

/// CPU vendor, as `/proc/cpuinfo`'s `vendor_id` says.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default)]
pub enum CpuVendor {
    /// `GenuineIntel`.
    Intel,
    /// `AuthenticAMD`.
    Amd,
    /// `HygonGenuine` (x86, but not `X86_VENDOR_AMD` for the kernel).
    Hygon,
    /// Another vendor string.
    Other(String),
    /// Not known.
    #[default]
    Unknown,
}

impl CpuVendor {
    /// From a `vendor_id` string.
    pub fn from_vendor_id(id: &str) -> Self {
        match id.trim() {
            "GenuineIntel" => CpuVendor::Intel,
            "AuthenticAMD" => CpuVendor::Amd,
            "HygonGenuine" => CpuVendor::Hygon,
            "" => CpuVendor::Unknown,
            other => CpuVendor::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for CpuVendor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CpuVendor::Intel => f.write_str("Intel"),
            CpuVendor::Amd => f.write_str("AMD"),
            CpuVendor::Hygon => f.write_str("Hygon"),
            CpuVendor::Other(s) => f.write_str(s),
            CpuVendor::Unknown => f.write_str("unknown"),
        }
    }
}

/// The instruction-set architecture, as far as the P2P rules care (the AMD Zen rule is x86's).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum CpuArch {
    /// x86 (32 or 64 bits).
    X86,
    /// Arm (`aarch64`, `arm`).
    Arm,
    /// POWER (`ppc64`, `ppc64le`).
    Power,
    /// IBM Z (`s390x`).
    S390,
    /// Another, by the name the source gives.
    Other(String),
}

impl CpuArch {
    /// From the names sources write: `x86_64`, `i686`, `aarch64`, `arm64`, `ppc64le`, `s390x`,
    /// ... (kernel `uname -m` names, NCCL's `arch`, hwloc's `Architecture`); the project's own
    /// short names `x86`, `arm`, `power`, `s390` too.
    pub fn from_name(name: &str) -> CpuArch {
        let n = name.trim().to_ascii_lowercase();
        match n.as_str() {
            "x86" | "x86_64" | "amd64" | "i386" | "i486" | "i586" | "i686" => CpuArch::X86,
            "power" | "ppc" | "ppc64" | "ppc64le" | "powerpc" | "powerpc64" => CpuArch::Power,
            "s390" | "s390x" => CpuArch::S390,
            _ if n == "arm" || n.starts_with("aarch64") || n.starts_with("arm") => CpuArch::Arm,
            _ => CpuArch::Other(name.trim().to_owned()),
        }
    }

    /// `x86`, `arm`, `power`, `s390`, or the other name.
    pub fn name(&self) -> &str {
        match self {
            CpuArch::X86 => "x86",
            CpuArch::Arm => "arm",
            CpuArch::Power => "power",
            CpuArch::S390 => "s390",
            CpuArch::Other(s) => s,
        }
    }
}

impl fmt::Display for CpuArch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The CPU, as far as the P2P rules care.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct CpuInfo {
    /// The architecture, if known (x86 is known from an x86 vendor string too).
    pub arch: Option<CpuArch>,
    /// Vendor.
    pub vendor: CpuVendor,
    /// `cpu family` (decimal in `/proc/cpuinfo`), if known.
    pub family: Option<u32>,
    /// `model`, if known.
    pub model: Option<u32>,
    /// `model name` (or POWER's `cpu`), if known.
    pub model_name: Option<String>,
}

impl CpuInfo {
    /// Linux's `cpu_supports_p2pdma()`: an x86 AMD CPU of family 0x17 (Zen) or later. `false`
    /// when that is not known ([`p2pdma_rule`](Self::p2pdma_rule) tells).
    pub fn supports_p2pdma(&self) -> bool {
        self.p2pdma_rule() == Some(true)
    }

    /// Whether `cpu_supports_p2pdma()` holds, when the source tells: `None` when the vendor is
    /// unknown on a machine not known to be other than x86, or the CPU is AMD of unknown
    /// family. Any vendor but AMD (`X86_VENDOR_AMD`; Hygon is not), or a known non-x86
    /// architecture, is `Some(false)`.
    pub fn p2pdma_rule(&self) -> Option<bool> {
        match (&self.vendor, &self.arch) {
            (CpuVendor::Amd, Some(a)) if *a != CpuArch::X86 => Some(false),
            (CpuVendor::Amd, _) => self.family.map(|f| f >= 0x17),
            (CpuVendor::Unknown, Some(a)) if *a != CpuArch::X86 => Some(false),
            (CpuVendor::Unknown, _) => None,
            _ => Some(false),
        }
    }
}

/// The technology of a private fabric.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum LinkKind {
    /// NVIDIA NVLink.
    NvLink,
    /// AMD xGMI / Infinity Fabric.
    Xgmi,
    /// Anything else, by name (UALink, a vendor bus, ...).
    Other(String),
}

impl fmt::Display for LinkKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkKind::NvLink => f.write_str("NVLink"),
            LinkKind::Xgmi => f.write_str("xGMI"),
            LinkKind::Other(s) => f.write_str(s),
        }
    }
}

/// A private fabric: an NVLink domain, an xGMI hive, ...
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct PrivateFabric {
    /// A name for people (`nvlink0`, `xgmi-hive-1`).
    pub name: String,
    /// Technology.
    pub kind: LinkKind,
}

/// One end of a private link.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum LinkEnd {
    /// A PCI function (a GPU, an NVSwitch).
    Function(FunctionId),
    /// A CPU socket (POWER's NVLink to the CPU, Grace's C2C), by NUMA node if known.
    Cpu {
        /// NUMA node of the socket.
        numa_node: Option<u32>,
    },
}

/// A bundle of parallel private links between two ends.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct PrivateLink {
    /// The fabric the links belong to.
    pub fabric: FabricId,
    /// One end.
    pub a: LinkEnd,
    /// The other end.
    pub b: LinkEnd,
    /// Bandwidth of **one** link, one direction, if known: the hardware's figure (the route
    /// model uses it); the bundle carries `count` times it.
    pub bandwidth: Option<Bandwidth>,
    /// Latency of a hop over the link, if known.
    pub latency: Option<Latency>,
    /// NCCL's own figure for one link, one direction, when the source is an NCCL file: what
    /// NCCL plans with (lower than the hardware's), never used as the link's bandwidth.
    pub nccl_bandwidth: Option<Bandwidth>,
    /// Number of parallel links.
    pub count: u16,
    /// Whether the links are up.
    pub up: bool,
}

impl PrivateLink {
    /// Bandwidth of the whole bundle, if known.
    pub fn total_bandwidth(&self) -> Option<Bandwidth> {
        self.bandwidth
            .map(|b| Bandwidth(b.0.saturating_mul(u32::from(self.count.max(1)))))
    }
}

/// Why a machine could not be built.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum BuildError {
    /// Two functions have the same address.
    #[error("two functions have the address {0}")]
    DuplicateFunction(Bdf),
    /// Two host bridges have the same root bus.
    #[error("two host bridges have the root bus {domain:04x}:{bus:02x}")]
    DuplicateHostBridge {
        /// Domain.
        domain: u32,
        /// Root bus.
        bus: u8,
    },
    /// A function refers to a host bridge that does not exist.
    #[error("{function} refers to host bridge #{host_bridge}, which does not exist")]
    NoSuchHostBridge {
        /// The function.
        function: Bdf,
        /// The index it named.
        host_bridge: u32,
    },
    /// A function's upstream bridge was not added before it (or does not exist).
    #[error("{function}: its upstream bridge #{bridge} must be added before it")]
    BridgeNotBefore {
        /// The function.
        function: Bdf,
        /// The index it named.
        bridge: u32,
    },
    /// A virtual function's physical function does not exist, is itself, or is itself a VF.
    #[error("{function}: physical function #{physfn} does not exist or is a virtual function")]
    BadPhysfn {
        /// The virtual function.
        function: Bdf,
        /// The index it named.
        physfn: u32,
    },
    /// A private link names a function or fabric that does not exist.
    #[error("private link #{link} names a function or fabric that does not exist")]
    BadLink {
        /// Index of the link.
        link: usize,
    },
    /// A function more than [`MAX_BRIDGE_DEPTH`] bridges below its root bus.
    #[error("{0} is more than {MAX_BRIDGE_DEPTH} bridges below its root bus")]
    TooDeep(Bdf),
    /// More functions than a `u32` index can name.
    #[error("too many functions")]
    TooMany,
}

/// Builds a [`Machine`]. Loaders add host bridges, then functions parents first, then set
/// cross-references (`physfn`) through [`MachineBuilder::function_mut`], then private fabrics
/// and links, and call [`MachineBuilder::build`].
///
/// ```
/// use pci_topology::{Bdf, Function, MachineBuilder, HostBridge, Upstream};
/// let mut b = MachineBuilder::new();
/// let hb = b.host_bridge(HostBridge::new(0, 0));
/// let rp = b.function(Function::new(Bdf::new(0, 0, 1, 0), Upstream::HostBridge(hb)));
/// let gpu = b.function(Function::new(Bdf::new(0, 1, 0, 0), Upstream::Bridge(rp)));
/// let machine = b.build().unwrap();
/// assert_eq!(machine.function(gpu).unwrap().bdf.to_string(), "0000:01:00.0");
/// ```
#[derive(Clone, Debug, Default)]
pub struct MachineBuilder {
    functions: Vec<Function>,
    host_bridges: Vec<HostBridge>,
    cpu: CpuInfo,
    fabrics: Vec<PrivateFabric>,
    links: Vec<PrivateLink>,
    switches_collapsed: bool,
    iommu_groups_known: bool,
    whitelist: Option<Whitelist>,
    guest: Vec<String>,
}

impl MachineBuilder {
    /// An empty machine with an unknown CPU and Linux 7.2's whitelist.
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder holding `machine`'s model, to derive a changed machine from it (a link down, a
    /// function rebound). Building it unchanged gives an equal machine with the same
    /// [`FunctionId`]s.
    pub fn from_machine(machine: &Machine) -> Self {
        Self {
            functions: machine.functions.clone(),
            host_bridges: machine.host_bridges.clone(),
            cpu: machine.cpu.clone(),
            fabrics: machine.fabrics.clone(),
            links: machine.links.clone(),
            switches_collapsed: machine.switches_collapsed,
            iommu_groups_known: machine.iommu_groups_known,
            whitelist: Some(machine.whitelist.clone()),
            guest: machine.guest.clone(),
        }
    }

    /// Adds a host bridge.
    pub fn host_bridge(&mut self, hb: HostBridge) -> HostBridgeId {
        self.host_bridges.push(hb);
        HostBridgeId(u32::try_from(self.host_bridges.len() - 1).unwrap_or(u32::MAX))
    }

    /// Adds a function; its upstream bridge must already have been added.
    pub fn function(&mut self, f: Function) -> FunctionId {
        self.functions.push(f);
        FunctionId(u32::try_from(self.functions.len() - 1).unwrap_or(u32::MAX))
    }

    /// The function added as `id`, to complete it.
    pub fn function_mut(&mut self, id: FunctionId) -> Option<&mut Function> {
        self.functions.get_mut(id.index())
    }

    /// The host bridge added as `id`, to complete it.
    pub fn host_bridge_mut(&mut self, id: HostBridgeId) -> Option<&mut HostBridge> {
        self.host_bridges.get_mut(id.index())
    }

    /// The functions added so far.
    pub fn functions(&self) -> &[Function] {
        &self.functions
    }

    /// The function added with this address, if any (linear search).
    pub fn find(&self, bdf: Bdf) -> Option<FunctionId> {
        self.functions
            .iter()
            .position(|f| f.bdf == bdf)
            .and_then(|i| u32::try_from(i).ok())
            .map(FunctionId)
    }

    /// Sets the CPU.
    pub fn cpu(&mut self, cpu: CpuInfo) -> &mut Self {
        self.cpu = cpu;
        self
    }

    /// Marks the machine as coming from a source that collapses each PCIe switch into one node
    /// (NCCL's topology files): root and downstream ports are missing, so rules that depend on
    /// them are approximations and say so.
    pub fn switches_collapsed(&mut self, collapsed: bool) -> &mut Self {
        self.switches_collapsed = collapsed;
        self
    }

    /// Says whether the source shows IOMMU groups (so that a function without one has no IOMMU).
    pub fn iommu_groups_known(&mut self, known: bool) -> &mut Self {
        self.iommu_groups_known = known;
        self
    }

    /// Marks the machine as a virtual machine's guest, with what says so (the CPU's
    /// `hypervisor` flag, the DMI vendor, virtual PCI devices; see [`crate::guest`]).
    pub fn guest(&mut self, evidence: Vec<String>) -> &mut Self {
        self.guest = evidence;
        self
    }

    /// Uses another host-bridge whitelist than Linux 7.2's.
    pub fn whitelist(&mut self, whitelist: Whitelist) -> &mut Self {
        self.whitelist = Some(whitelist);
        self
    }

    /// Adds a private fabric.
    pub fn fabric(&mut self, fabric: PrivateFabric) -> FabricId {
        self.fabrics.push(fabric);
        FabricId(u32::try_from(self.fabrics.len() - 1).unwrap_or(u32::MAX))
    }

    /// Adds a bundle of private links.
    pub fn link(&mut self, link: PrivateLink) -> &mut Self {
        self.links.push(link);
        self
    }

    /// The private links added so far, in order, to change (e.g. whether each is up).
    pub fn links_mut(&mut self) -> &mut [PrivateLink] {
        &mut self.links
    }

    /// Validates the model and precomputes the P2P and route tables.
    pub fn build(self) -> Result<Machine, BuildError> {
        if u32::try_from(self.functions.len()).is_err() {
            return Err(BuildError::TooMany);
        }
        let mut by_bdf = HashMap::with_capacity(self.functions.len());
        // Bridges above each function, up to its root bus.
        let mut depths: Vec<usize> = Vec::with_capacity(self.functions.len());
        for (i, f) in self.functions.iter().enumerate() {
            if by_bdf.insert(f.bdf, i as u32).is_some() {
                return Err(BuildError::DuplicateFunction(f.bdf));
            }
            match f.upstream {
                Upstream::HostBridge(h) if h.index() >= self.host_bridges.len() => {
                    return Err(BuildError::NoSuchHostBridge {
                        function: f.bdf,
                        host_bridge: h.0,
                    });
                }
                Upstream::Bridge(b) if b.index() >= i => {
                    return Err(BuildError::BridgeNotBefore {
                        function: f.bdf,
                        bridge: b.0,
                    });
                }
                _ => {}
            }
            let depth = match f.upstream {
                Upstream::Bridge(b) => depths.get(b.index()).map_or(0, |d| d + 1),
                Upstream::HostBridge(_) => 0,
            };
            if depth > MAX_BRIDGE_DEPTH {
                return Err(BuildError::TooDeep(f.bdf));
            }
            depths.push(depth);
            if let Some(pf) = f.physfn {
                let bad = pf.index() == i
                    || self
                        .functions
                        .get(pf.index())
                        .is_none_or(|p| p.physfn.is_some());
                if bad {
                    return Err(BuildError::BadPhysfn {
                        function: f.bdf,
                        physfn: pf.0,
                    });
                }
            }
        }
        let mut seen = HashMap::new();
        for hb in &self.host_bridges {
            if seen.insert((hb.domain, hb.root_bus), ()).is_some() {
                return Err(BuildError::DuplicateHostBridge {
                    domain: hb.domain,
                    bus: hb.root_bus,
                });
            }
        }
        for (i, l) in self.links.iter().enumerate() {
            let end_ok = |e: &LinkEnd| match e {
                LinkEnd::Function(f) => f.index() < self.functions.len(),
                LinkEnd::Cpu { .. } => true,
            };
            if l.fabric.0 as usize >= self.fabrics.len() || !end_ok(&l.a) || !end_ok(&l.b) {
                return Err(BuildError::BadLink { link: i });
            }
        }
        let whitelist = self.whitelist.unwrap_or_default();
        let mut m = Machine {
            functions: self.functions,
            host_bridges: self.host_bridges,
            cpu: self.cpu,
            fabrics: self.fabrics,
            links: self.links,
            switches_collapsed: self.switches_collapsed,
            iommu_groups_known: self.iommu_groups_known,
            whitelist,
            guest: self.guest,
            by_bdf,
            topo: crate::p2pdma::Topo::default(),
            private: crate::fabric::PrivateRoutes::default(),
        };
        m.topo = crate::p2pdma::Topo::compute(&m);
        m.private = crate::fabric::PrivateRoutes::compute(&m);
        Ok(m)
    }
}

/// A machine: PCI functions, host bridges, CPU, private fabrics, and the precomputed tables
/// that make P2P verdicts and routes cheap. Build one with [`MachineBuilder`] or a loader.
#[derive(Clone, Debug)]
pub struct Machine {
    functions: Vec<Function>,
    host_bridges: Vec<HostBridge>,
    cpu: CpuInfo,
    fabrics: Vec<PrivateFabric>,
    links: Vec<PrivateLink>,
    switches_collapsed: bool,
    iommu_groups_known: bool,
    whitelist: Whitelist,
    guest: Vec<String>,
    by_bdf: HashMap<Bdf, u32>,
    pub(crate) topo: crate::p2pdma::Topo,
    pub(crate) private: crate::fabric::PrivateRoutes,
}

/// Two machines are equal when they hold the same model: functions (in the same order, so with
/// the same [`FunctionId`]s), host bridges, CPU, private fabrics and links, the
/// switches-collapsed and IOMMU-groups-known flags, and the whitelist. What is precomputed from
/// these is not compared (it follows from them).
impl PartialEq for Machine {
    fn eq(&self, other: &Self) -> bool {
        self.functions == other.functions
            && self.host_bridges == other.host_bridges
            && self.cpu == other.cpu
            && self.fabrics == other.fabrics
            && self.links == other.links
            && self.switches_collapsed == other.switches_collapsed
            && self.guest == other.guest
            && self.iommu_groups_known == other.iommu_groups_known
            && self.whitelist == other.whitelist
    }
}

impl Eq for Machine {}

impl Machine {
    /// A new builder.
    pub fn builder() -> MachineBuilder {
        MachineBuilder::new()
    }

    /// All functions, indexed by [`FunctionId`].
    pub fn functions(&self) -> &[Function] {
        &self.functions
    }

    /// The ids of all functions.
    pub fn function_ids(&self) -> impl Iterator<Item = FunctionId> + '_ {
        (0..self.functions.len() as u32).map(FunctionId)
    }

    /// One function.
    pub fn function(&self, id: FunctionId) -> Option<&Function> {
        self.functions.get(id.index())
    }

    /// The function with this address.
    pub fn find(&self, bdf: Bdf) -> Option<FunctionId> {
        self.by_bdf.get(&bdf).copied().map(FunctionId)
    }

    /// All host bridges, indexed by [`HostBridgeId`].
    pub fn host_bridges(&self) -> &[HostBridge] {
        &self.host_bridges
    }

    /// One host bridge.
    pub fn host_bridge(&self, id: HostBridgeId) -> Option<&HostBridge> {
        self.host_bridges.get(id.index())
    }

    /// The host bridge a function is under (for a virtual function: its physical function's).
    pub fn host_bridge_of(&self, id: FunctionId) -> Option<HostBridgeId> {
        self.topo.hb.get(id.index()).map(|&h| HostBridgeId(h))
    }

    /// The bridge a function sits under (its sysfs parent), if any.
    pub fn parent(&self, id: FunctionId) -> Option<FunctionId> {
        match self.function(id)?.upstream {
            Upstream::Bridge(b) => Some(b),
            Upstream::HostBridge(_) => None,
        }
    }

    /// Linux's `pci_upstream_bridge()`: the parent of the function, or of its physical function
    /// when it is a virtual function.
    pub fn upstream_bridge(&self, id: FunctionId) -> Option<FunctionId> {
        let k = *self.topo.kp.get(id.index())?;
        (k != crate::p2pdma::NONE).then_some(FunctionId(k))
    }

    /// The chain Linux walks from a function: the function itself, then each
    /// [`upstream_bridge`](Self::upstream_bridge) up to the root bus.
    pub fn chain(&self, id: FunctionId) -> Vec<FunctionId> {
        let mut out = Vec::new();
        let mut cur = (id.index() < self.functions.len()).then_some(id);
        while let Some(x) = cur {
            out.push(x);
            cur = self.upstream_bridge(x);
        }
        out
    }

    /// Functions directly below a bridge (sysfs children), in index order.
    pub fn children(&self, id: FunctionId) -> &[FunctionId] {
        self.topo
            .children
            .get(id.index())
            .map_or(&[][..], |v| v.as_slice())
    }

    /// Functions on a host bridge's root bus, in index order.
    pub fn root_functions(&self, hb: HostBridgeId) -> &[FunctionId] {
        self.topo
            .roots
            .get(hb.index())
            .map_or(&[][..], |v| v.as_slice())
    }

    /// The NUMA node of a function: its own, else its host bridge's.
    pub fn numa_node(&self, id: FunctionId) -> Option<u32> {
        let f = self.function(id)?;
        f.numa_node.or_else(|| {
            self.host_bridge_of(id)
                .and_then(|h| self.host_bridge(h))
                .and_then(|h| h.numa_node)
        })
    }

    /// The CPU.
    pub fn cpu(&self) -> &CpuInfo {
        &self.cpu
    }

    /// Private fabrics, indexed by [`FabricId`].
    pub fn fabrics(&self) -> &[PrivateFabric] {
        &self.fabrics
    }

    /// Private links.
    pub fn links(&self) -> &[PrivateLink] {
        &self.links
    }

    /// Whether the source collapsed each PCIe switch into one node (see
    /// [`MachineBuilder::switches_collapsed`]).
    pub fn switches_collapsed(&self) -> bool {
        self.switches_collapsed
    }

    /// What says the machine is a virtual machine's guest; empty when nothing does. A guest's
    /// PCI tree is the one the hypervisor shows it, not the host's: the host's switches, ACS and
    /// IOMMU decide what a passed-through device's P2P traffic really does.
    pub fn guest_evidence(&self) -> &[String] {
        &self.guest
    }

    /// Whether something says the machine is a virtual machine's guest.
    pub fn is_guest(&self) -> bool {
        !self.guest.is_empty()
    }

    /// Whether the source showed IOMMU groups.
    pub fn iommu_groups_known(&self) -> bool {
        self.iommu_groups_known
    }

    /// The host-bridge whitelist the P2P rules use.
    pub fn whitelist(&self) -> &Whitelist {
        &self.whitelist
    }

    /// Functions that publish p2pmem (P2P providers in Linux's sense).
    pub fn p2pmem_providers(&self) -> impl Iterator<Item = FunctionId> + '_ {
        self.function_ids()
            .filter(|&id| self.functions[id.index()].p2pmem.is_some())
    }

    /// Functions that are not bridges (endpoints, RCiEPs, VFs, host-bridge functions, ...).
    pub fn endpoints(&self) -> impl Iterator<Item = FunctionId> + '_ {
        self.function_ids()
            .filter(|&id| !self.functions[id.index()].is_bridge())
    }

    /// A function's name for messages: its address.
    pub fn name(&self, id: FunctionId) -> String {
        self.function(id)
            .map_or_else(|| format!("{id}"), |f| f.bdf.to_string())
    }
}
