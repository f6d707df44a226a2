//! Typed mappings: the addresses an importer receives, and whom they are valid for.
//!
//! A mapping never hands out a bare number. Each one carries its address type (a
//! [`DmaAddr`] is not a [`BusAddr`] is not a [`PhysAddr`]) and the space it is valid in (the
//! device that must program it, the VRAM it indexes, the fabric and initiator of an IOVA, or the
//! trusted importer of physical addresses). Reading the addresses requires naming that space:
//! [`Mapped::addresses_for`] refuses any other, so handing one device's addresses to another is
//! an explicit, checked step that fails.

use core::fmt;

use crate::address::Address;
use crate::interconnect::{DMA_ADDR, Interconnect, PCI_BAR, PHYS, PRIVATE_IOVA, VRAM};
use crate::{
    AddrRange, BarSlice, BusAddr, Describe, DeviceId, DmaAddr, FabricId, Iova, Names, OpaqueNames,
    PhysAddr, Trust, Vec, VramId, VramOffset,
};

/// A list of address ranges of type `A`, valid only in the space `S`.
#[derive(PartialEq, Eq, Debug)]
#[cfg_attr(feature = "alloc", derive(Clone))]
pub struct Mapped<A, S> {
    space: S,
    ranges: Vec<AddrRange<A>>,
}

/// Asked for a mapping's addresses in a space they are not valid in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct WrongAddressSpace;

impl fmt::Display for WrongAddressSpace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("these addresses are not valid in the requested address space")
    }
}

impl core::error::Error for WrongAddressSpace {}

impl<A, S: Copy + PartialEq> Mapped<A, S> {
    /// Ranges valid in `space`.
    pub fn new(space: S, ranges: Vec<AddrRange<A>>) -> Self {
        Self { space, ranges }
    }

    /// The space the addresses are valid in.
    pub fn space(&self) -> S {
        self.space
    }

    /// The addresses, for `space` only: any other space is refused.
    pub fn addresses_for(&self, space: S) -> Result<&[AddrRange<A>], WrongAddressSpace> {
        if space == self.space {
            Ok(&self.ranges)
        } else {
            Err(WrongAddressSpace)
        }
    }

    /// Total bytes covered.
    pub fn total_len(&self) -> u64
    where
        A: Address,
    {
        self.ranges
            .iter()
            .map(AddrRange::len)
            .fold(0, u64::saturating_add)
    }
}

/// An initiator on a private fabric: the space an [`Iova`] is valid in.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct FabricPort {
    /// The fabric.
    pub fabric: FabricId,
    /// The initiator on it.
    pub initiator: DeviceId,
}

/// A trusted importer of physical addresses. Only constructible from a trusted [`Trust`], so a
/// [`PhysMapping`] cannot be addressed to an untrusted importer.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct TrustedImporter(Trust);

impl TrustedImporter {
    /// `None` for [`Trust::Untrusted`].
    pub const fn new(trust: Trust) -> Option<Self> {
        if trust.is_trusted() {
            Some(Self(trust))
        } else {
            None
        }
    }

    /// Who the importer is.
    pub const fn trust(self) -> Trust {
        self.0
    }
}

/// DMA addresses one device must program.
pub type DmaAddrMapping = Mapped<DmaAddr, DeviceId>;
/// PCI bus addresses a peer device programs (peer-to-peer below a common bridge).
pub type BusAddrMapping = Mapped<BusAddr, DeviceId>;
/// Offsets in one VRAM instance.
pub type VramMapping = Mapped<VramOffset, VramId>;
/// IOVAs on one fabric for one initiator.
pub type IovaMapping = Mapped<Iova, FabricPort>;
/// CPU physical addresses for one trusted importer.
pub type PhysMapping = Mapped<PhysAddr, TrustedImporter>;

/// How a BAR slice is addressed by its importer.
#[derive(PartialEq, Eq, Debug)]
#[cfg_attr(feature = "alloc", derive(Clone))]
pub enum BarAddresses {
    /// Bus addresses: the traffic stays below a common bridge.
    Bus(BusAddrMapping),
    /// DMA addresses mapped through the host bridge (and any IOMMU).
    Dma(DmaAddrMapping),
}

/// A mapped slice of a BAR.
#[derive(PartialEq, Eq, Debug)]
#[cfg_attr(feature = "alloc", derive(Clone))]
pub struct PciBarMapping {
    /// The slice.
    pub slice: BarSlice,
    /// Its addresses for the importer.
    pub addresses: BarAddresses,
}

/// What an importer holds after mapping, one variant per built-in interconnect type.
#[derive(PartialEq, Eq, Debug)]
#[cfg_attr(feature = "alloc", derive(Clone))]
pub enum Mapping {
    /// `dma-addr`.
    DmaAddr(DmaAddrMapping),
    /// `pci-bar`.
    PciBar(PciBarMapping),
    /// `vram`.
    Vram(VramMapping),
    /// `private-iova`.
    PrivateIova(IovaMapping),
    /// `phys`.
    Phys(PhysMapping),
}

/// The space a mapping's addresses are valid in.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum AddressSpace {
    /// DMA addresses of this device.
    Device(DeviceId),
    /// PCI bus addresses, programmed by this peer device.
    PciBus(DeviceId),
    /// Offsets in this VRAM instance.
    Vram(VramId),
    /// IOVAs on this fabric for this initiator.
    Fabric(FabricPort),
    /// CPU physical addresses, for this trusted importer.
    Physical(TrustedImporter),
}

impl Describe for AddressSpace {
    fn describe(&self, f: &mut fmt::Formatter<'_>, names: &dyn Names) -> fmt::Result {
        match self {
            AddressSpace::Device(d) => write!(f, "DMA addresses of {}", d.named(names)),
            AddressSpace::PciBus(d) => write!(f, "PCI bus addresses for {}", d.named(names)),
            AddressSpace::Vram(v) => write!(f, "offsets in {}", v.named(names)),
            AddressSpace::Fabric(p) => write!(
                f,
                "IOVAs on {} for {}",
                p.fabric.named(names),
                p.initiator.named(names)
            ),
            AddressSpace::Physical(t) => write!(f, "physical addresses for {}", t.trust()),
        }
    }
}

impl fmt::Display for AddressSpace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.describe(f, &OpaqueNames)
    }
}

impl Mapping {
    /// The interconnect type this mapping belongs to.
    pub fn interconnect(&self) -> &'static Interconnect {
        match self {
            Mapping::DmaAddr(_) => &DMA_ADDR,
            Mapping::PciBar(_) => &PCI_BAR,
            Mapping::Vram(_) => &VRAM,
            Mapping::PrivateIova(_) => &PRIVATE_IOVA,
            Mapping::Phys(_) => &PHYS,
        }
    }

    /// The space its addresses are valid in.
    pub fn valid_for(&self) -> AddressSpace {
        match self {
            Mapping::DmaAddr(m) => AddressSpace::Device(m.space()),
            Mapping::PciBar(PciBarMapping {
                addresses: BarAddresses::Bus(m),
                ..
            }) => AddressSpace::PciBus(m.space()),
            Mapping::PciBar(PciBarMapping {
                addresses: BarAddresses::Dma(m),
                ..
            }) => AddressSpace::Device(m.space()),
            Mapping::Vram(m) => AddressSpace::Vram(m.space()),
            Mapping::PrivateIova(m) => AddressSpace::Fabric(m.space()),
            Mapping::Phys(m) => AddressSpace::Physical(m.space()),
        }
    }

    /// Total bytes mapped.
    pub fn total_len(&self) -> u64 {
        match self {
            Mapping::DmaAddr(m) => m.total_len(),
            Mapping::PciBar(PciBarMapping {
                addresses: BarAddresses::Bus(m),
                ..
            }) => m.total_len(),
            Mapping::PciBar(PciBarMapping {
                addresses: BarAddresses::Dma(m),
                ..
            }) => m.total_len(),
            Mapping::Vram(m) => m.total_len(),
            Mapping::PrivateIova(m) => m.total_len(),
            Mapping::Phys(m) => m.total_len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn addresses_only_for_their_own_device() {
        let range = AddrRange::new(DmaAddr::new(0x1000), 0x2000).unwrap();
        let m = DmaAddrMapping::new(DeviceId(3), vec![range]);
        assert_eq!(m.addresses_for(DeviceId(3)), Ok(&[range][..]));
        assert_eq!(m.addresses_for(DeviceId(4)), Err(WrongAddressSpace));
        assert_eq!(
            Mapping::DmaAddr(m.clone()).valid_for(),
            AddressSpace::Device(DeviceId(3))
        );
        assert_eq!(m.total_len(), 0x2000);
    }

    #[test]
    fn physical_addresses_need_a_trusted_importer() {
        assert!(TrustedImporter::new(Trust::Untrusted).is_none());
        let iommufd = TrustedImporter::new(Trust::Iommufd).unwrap();
        let kvm = TrustedImporter::new(Trust::Kvm).unwrap();
        let range = AddrRange::new(PhysAddr::new(0xf000_0000), 0x1000).unwrap();
        let m = PhysMapping::new(iommufd, vec![range]);
        assert!(m.addresses_for(iommufd).is_ok());
        assert_eq!(m.addresses_for(kvm), Err(WrongAddressSpace));
    }
}
