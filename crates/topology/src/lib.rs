//! # pci-topology
//!
//! The machine: PCI functions, bridges and host bridges, ACS, SR-IOV, NUMA, links and private
//! fabrics; Linux's P2PDMA decision; the route-quality model; and the loaders that build a
//! machine from sysfs (and, through the same [`MachineBuilder`], from hwloc XML, NCCL topology
//! XML and the project's TOML).
//!
//! - [`machine`]: [`Machine`], [`Function`], [`HostBridge`], [`CpuInfo`], private fabrics and
//!   links, and the [`MachineBuilder`] every loader uses.
//! - [`pci`]: addresses ([`Bdf`], 32-bit domains), class codes, port types, [`Acs`], links.
//! - [`p2pdma`]: `calc_map_type_and_dist` of Linux 7.2 ([`Machine::p2p_verdict`] with its
//!   explanation, [`Machine::p2p_fast`], [`Machine::distance_many`], [`Machine::p2p_matrix`]).
//! - [`whitelist`]: the host-bridge whitelist as data, labelled with its kernel release.
//! - [`quality`]: bottleneck bandwidth (after line encoding, as hwloc), hops, crossings, the
//!   nvidia-smi class.
//! - [`report`]: one pair's verdict, quality and reasons together ([`Machine::pair_report`]).
//! - [`fabric`]: `impl dmabuf_negotiate::Fabric for Machine`.
//! - [`load`]: the loaders — sysfs (a live root, a folder or an archive), hwloc XML, NCCL
//!   topology XML and the project's TOML (`docs/machine-format.md`), with one entry point
//!   ([`load::open`]) that recognises the format — and the TOML writer ([`load::to_toml`]).
//! - [`limits`]: every size and depth limit the model and the loaders enforce.
//! - [`synth`]: generated machines for tests and benchmarks.
//!
//! ```no_run
//! use pci_topology::{load::load_sysfs, Bdf};
//! let m = load_sysfs("snapshot.tar.gz")?;
//! let p = m.find("0000:03:00.0".parse::<Bdf>()?).unwrap();
//! let c = m.find("0000:05:00.0".parse::<Bdf>()?).unwrap();
//! let v = m.p2p_verdict(p, c).unwrap();
//! for line in v.reasons(&m) {
//!     println!("{line}");
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod fabric;
pub mod guest;
pub mod iommu;
pub mod limits;
pub mod load;
pub mod machine;
pub mod nvlink;
pub mod p2pdma;
pub mod pci;
pub mod quality;
pub mod report;
pub mod root_complex;
pub mod synth;
pub mod unknowns;
pub mod whitelist;

pub use iommu::IommuDomain;
pub use machine::{
    BuildError, CpuArch, CpuInfo, CpuVendor, Function, FunctionId, HostBridge, HostBridgeId,
    LinkEnd, LinkKind, Machine, MachineBuilder, PrivateFabric, PrivateLink, Upstream,
};
pub use p2pdma::{
    CompactVerdict, HostBridgeCheck, MapType, P2pMatrix, P2pVerdict, WhitelistLookup,
};
pub use pci::{Acs, AcsRedirect, Bar, Bdf, ClassCode, LinkSpeed, LinkStatus, P2pMem, PortType};
pub use quality::{NvClass, PathLink, PathQuality, Uplink};
pub use report::PairReport;
pub use unknowns::{
    Assumption, InferredRootComplex, MapTypes, Outcome, RootDeviceUnknown, Tristate, UnknownFact,
};
pub use whitelist::{Whitelist, WhitelistEntry};
