//! The one question the core asks about hardware.
//!
//! The negotiation core knows nothing about PCI, sysfs or NVLink. Whenever a match depends on the
//! machine it asks a [`Fabric`]: *can initiator X reach memory owned by Y, by which route, with
//! what quality, and if not, why?* pci-topology implements this trait for real machines, with
//! Linux's P2PDMA rules; tests implement it with a small table.
//!
//! Implementations must be deterministic (the same question always gets the same answer) and
//! must not panic or allocate: the matcher calls them on the negotiation path.

use core::fmt;

use crate::{Describe, DeviceId, FabricId, Names, OpaqueNames, Route};

/// Where memory lives, as far as reaching it is concerned.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Memory {
    /// System RAM, optionally on a known NUMA node.
    System {
        /// NUMA node of the memory, if known.
        numa_node: Option<u16>,
    },
    /// Memory owned by a device (VRAM behind a BAR, a controller memory buffer, ...).
    Device(DeviceId),
}

impl Describe for Memory {
    fn describe(&self, f: &mut fmt::Formatter<'_>, names: &dyn Names) -> fmt::Result {
        match self {
            Memory::System { numa_node: Some(n) } => write!(f, "system memory (NUMA node {n})"),
            Memory::System { numa_node: None } => f.write_str("system memory"),
            Memory::Device(d) => write!(f, "memory of {}", d.named(names)),
        }
    }
}

impl fmt::Display for Memory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.describe(f, &OpaqueNames)
    }
}

/// Who performs the accesses.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Initiator {
    /// A device doing DMA.
    Device(DeviceId),
    /// The CPU (for example KVM mapping the memory into a guest).
    Cpu,
}

/// How an importing device relates to the device that owns the memory.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Relation {
    /// The very same function.
    SameFunction,
    /// Another function of the same physical device (same PCI bus and slot).
    SameDevice,
    /// The importer is the physical function of the owner, which is one of its SR-IOV virtual
    /// functions (the SR-IOV "IOV interconnect" case).
    PhysicalFunctionOf,
    /// The importer is a virtual function of the owner, which is its physical function.
    VirtualFunctionOf,
    /// Both are SR-IOV virtual functions, and distinct ones: isolation forbids any access.
    OtherVirtualFunction,
    /// No special relation.
    Unrelated,
    /// One of the two devices is not known to the fabric.
    Unknown,
}

impl Relation {
    /// How `importer` relates to `owner`, two functions the fabric knows, from the facts every
    /// fabric has about PCI functions: each one's SR-IOV physical function (`None` for a
    /// function that is not a virtual function) and whether the two share a bus and slot. The
    /// rule is kept here once for every fabric, because its order matters: the same function
    /// first, then the SR-IOV relations (a VF and its PF, two VFs), then the same device.
    pub fn between<F: PartialEq>(
        importer: &F,
        owner: &F,
        importer_physfn: Option<&F>,
        owner_physfn: Option<&F>,
        same_slot: bool,
    ) -> Relation {
        if importer == owner {
            Relation::SameFunction
        } else if owner_physfn == Some(importer) {
            Relation::PhysicalFunctionOf
        } else if importer_physfn == Some(owner) {
            Relation::VirtualFunctionOf
        } else if importer_physfn.is_some() && owner_physfn.is_some() {
            Relation::OtherVirtualFunction
        } else if same_slot {
            Relation::SameDevice
        } else {
            Relation::Unrelated
        }
    }
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Relation::SameFunction => "the same function",
            Relation::SameDevice => "another function of the same device",
            Relation::PhysicalFunctionOf => "the physical function of the exporting VF",
            Relation::VirtualFunctionOf => "a virtual function of the exporting PF",
            Relation::OtherVirtualFunction => "a different virtual function",
            Relation::Unrelated => "an unrelated device",
            Relation::Unknown => "unknown to the fabric",
        })
    }
}

/// Why PCI peer-to-peer has to go through the host bridge (when it is refused there).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum HostBridgeCause {
    /// Provider and client share no upstream bridge (different root ports, root-bus devices,
    /// different host bridges).
    NoCommonUpstreamBridge,
    /// They share one, but ACS redirect on the path sends the traffic up to the root complex.
    AcsRedirect,
}

/// Why the host bridge may not forward peer-to-peer traffic.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum HostBridgeRefusal {
    /// The host bridge is not in the kernel's P2PDMA whitelist (and the CPU rule does not apply).
    NotWhitelisted,
    /// The host bridges are whitelisted only for traffic that stays within one host bridge.
    RequiresSameHostBridge,
    /// The host bridge has no device that could be checked against the whitelist.
    NoHostBridgeDevice,
}

/// Why the fabric refuses a route.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
// A fixed `u32` tag with aligned payloads: candidates are copied on the negotiation path, and
// the default layout's packed 7-byte payloads made each copy stall (measured: twice as slow).
#[repr(u32)]
pub enum Refusal {
    /// The fabric does not know this device.
    UnknownDevice(DeviceId),
    /// The fabric does not know this private fabric.
    UnknownFabric(FabricId),
    /// The device is not attached to the private fabric.
    NotOnFabric {
        /// The fabric in question.
        fabric: FabricId,
        /// The device that is not on it.
        device: DeviceId,
    },
    /// The private link exists but is down.
    LinkDown(FabricId),
    /// Linux would refuse PCI peer-to-peer (map type `NOT_SUPPORTED`).
    PciP2pNotSupported {
        /// Why the traffic would have to cross the host bridge.
        cause: HostBridgeCause,
        /// Why the host bridge cannot take it.
        host_bridge: HostBridgeRefusal,
        /// Whether the ACS state of every function on the path was known. When `false`, the
        /// verdict assumed ACS redirect off where it was unknown.
        acs_known: bool,
    },
    /// The device is not a PCI device and has no PCI ancestor.
    NotPci(DeviceId),
    /// Any other reason the fabric gives.
    Other(&'static str),
}

impl Describe for Refusal {
    fn describe(&self, f: &mut fmt::Formatter<'_>, names: &dyn Names) -> fmt::Result {
        match self {
            Refusal::UnknownDevice(d) => write!(f, "{} is not known to the fabric", d.named(names)),
            Refusal::UnknownFabric(fab) => write!(f, "{} is not known", fab.named(names)),
            Refusal::NotOnFabric { fabric, device } => write!(
                f,
                "{} is not on {}",
                device.named(names),
                fabric.named(names)
            ),
            Refusal::LinkDown(fab) => write!(f, "the link on {} is down", fab.named(names)),
            Refusal::PciP2pNotSupported {
                cause,
                host_bridge,
                acs_known,
            } => {
                f.write_str("PCI P2P not supported: ")?;
                f.write_str(match cause {
                    HostBridgeCause::NoCommonUpstreamBridge => {
                        "no common upstream bridge, so traffic must cross the host bridge"
                    }
                    HostBridgeCause::AcsRedirect => {
                        "ACS redirect sends the traffic up to the host bridge"
                    }
                })?;
                f.write_str(match host_bridge {
                    HostBridgeRefusal::NotWhitelisted => ", which is not whitelisted for P2P",
                    HostBridgeRefusal::RequiresSameHostBridge => {
                        ", and the host bridges are whitelisted only within one host bridge"
                    }
                    HostBridgeRefusal::NoHostBridgeDevice => {
                        ", which has no device the whitelist could match"
                    }
                })?;
                if !acs_known {
                    f.write_str(" (ACS state unknown on part of the path)")?;
                }
                Ok(())
            }
            Refusal::NotPci(d) => write!(f, "{} is not a PCI device", d.named(names)),
            Refusal::Other(why) => f.write_str(why),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.describe(f, &OpaqueNames)
    }
}

/// Answers the core's questions about the hardware.
pub trait Fabric {
    /// Can `initiator` access `memory` over PCI or system memory, by which route?
    ///
    /// For device memory this is the PCI peer-to-peer question (`provider` = the memory's owner,
    /// `client` = the initiator); for system memory it is the initiator's path to RAM.
    fn reach(&self, initiator: Initiator, memory: Memory) -> Result<Route, Refusal>;

    /// Can `initiator` reach memory owned by `owner` over the private fabric `fabric`?
    fn private_route(
        &self,
        fabric: FabricId,
        initiator: DeviceId,
        owner: DeviceId,
    ) -> Result<Route, Refusal>;

    /// How `importer` relates to `owner` (same device, SR-IOV PF/VF, ...).
    fn relation(&self, importer: DeviceId, owner: DeviceId) -> Relation;
}

impl<F: Fabric + ?Sized> Fabric for &F {
    fn reach(&self, initiator: Initiator, memory: Memory) -> Result<Route, Refusal> {
        (**self).reach(initiator, memory)
    }

    fn private_route(
        &self,
        fabric: FabricId,
        initiator: DeviceId,
        owner: DeviceId,
    ) -> Result<Route, Refusal> {
        (**self).private_route(fabric, initiator, owner)
    }

    fn relation(&self, importer: DeviceId, owner: DeviceId) -> Relation {
        (**self).relation(importer, owner)
    }
}
