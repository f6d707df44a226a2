//! Offers: `{interconnect, arguments}` entries in the exporter's and the importer's lists.
//!
//! Exporter and importer arguments are different types, so an importer entry can never be passed
//! where an exporter entry belongs. Offers are small `Copy` values with no heap data: an importer
//! builds its list as an array on the stack, as in the kernel. The constructors for built-in types
//! always pair an interconnect with the argument shape its match expects; a hand-built offer with
//! the wrong shape is rejected at match time as malformed, never trusted.

use core::any::Any;
use core::fmt;

use crate::interconnect::{DMA_ADDR, Interconnect, PCI_BAR, PHYS, PRIVATE_IOVA, VRAM};
use crate::{BarSlice, DeviceId, FabricId, Memory, VramId};

/// Whom an importer of physical addresses speaks for. Only trusted importers may receive
/// physical addresses (`phys`); everything else must go through a translated interconnect.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Trust {
    /// An ordinary driver: never gets physical addresses.
    Untrusted,
    /// iommufd, which maps the addresses into an IOMMU domain.
    Iommufd,
    /// KVM, which maps the addresses into a guest.
    Kvm,
    /// VFIO.
    Vfio,
}

impl Trust {
    /// Whether this importer may receive physical addresses.
    pub const fn is_trusted(self) -> bool {
        !matches!(self, Trust::Untrusted)
    }
}

impl fmt::Display for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Trust::Untrusted => "untrusted",
            Trust::Iommufd => "iommufd",
            Trust::Kvm => "kvm",
            Trust::Vfio => "vfio",
        })
    }
}

/// What an exporter entry describes.
#[derive(Clone, Copy, Debug)]
pub enum ExporterArgs<'a> {
    /// The memory the buffer lives in (`dma-addr`, `phys`).
    Memory(Memory),
    /// A slice of a BAR (`pci-bar`; also accepted by `phys`, as VFIO exports BAR slices).
    Bar(BarSlice),
    /// A VRAM instance (`vram`).
    Vram(VramId),
    /// The memory's owner on a private fabric (`private-iova`).
    Fabric {
        /// The private fabric.
        fabric: FabricId,
        /// The device that owns the memory on that fabric.
        owner: DeviceId,
    },
    /// Arguments of a driver-defined interconnect, downcast by its own match operation.
    Driver(&'a dyn Any),
}

/// What an importer entry describes.
#[derive(Clone, Copy, Debug)]
pub enum ImporterArgs<'a> {
    /// A device that will access the memory (`dma-addr`, `pci-bar`, `vram`).
    Device {
        /// The accessing device.
        device: DeviceId,
        /// Whether the importer accepts peer-to-peer addresses (Linux's `allow_peer2peer`).
        peer2peer: bool,
    },
    /// An initiator on a private fabric (`private-iova`).
    Fabric {
        /// The private fabric.
        fabric: FabricId,
        /// The initiator on it.
        initiator: DeviceId,
    },
    /// A receiver of physical addresses (`phys`).
    Phys {
        /// Who the importer is.
        trust: Trust,
        /// The device that will access the memory through the importer's mapping, if any
        /// (iommufd: the device attached to the IOMMU domain; KVM: none, the CPU).
        device: Option<DeviceId>,
    },
    /// Arguments of a driver-defined interconnect, downcast by its own match operation.
    Driver(&'a dyn Any),
}

/// One entry of the exporter's list.
#[derive(Clone, Copy, Debug)]
pub struct ExporterOffer<'a> {
    interconnect: &'static Interconnect,
    args: ExporterArgs<'a>,
}

impl<'a> ExporterOffer<'a> {
    /// An entry of any interconnect type, including driver-defined ones.
    pub const fn new(interconnect: &'static Interconnect, args: ExporterArgs<'a>) -> Self {
        Self { interconnect, args }
    }

    /// `dma-addr`: a scatterlist of DMA addresses for the importer's device, of `memory`.
    pub const fn dma_addr(memory: Memory) -> Self {
        Self::new(&DMA_ADDR, ExporterArgs::Memory(memory))
    }

    /// `pci-bar`: a slice of one BAR.
    pub const fn pci_bar(slice: BarSlice) -> Self {
        Self::new(&PCI_BAR, ExporterArgs::Bar(slice))
    }

    /// `vram`: offsets in one VRAM instance.
    pub const fn vram(vram: VramId) -> Self {
        Self::new(&VRAM, ExporterArgs::Vram(vram))
    }

    /// `private-iova`: IOVAs on `fabric` for memory owned by `owner`.
    pub const fn private_iova(fabric: FabricId, owner: DeviceId) -> Self {
        Self::new(&PRIVATE_IOVA, ExporterArgs::Fabric { fabric, owner })
    }

    /// `phys`: physical addresses of `memory`, for trusted importers only.
    pub const fn phys(memory: Memory) -> Self {
        Self::new(&PHYS, ExporterArgs::Memory(memory))
    }

    /// `phys` of a BAR slice (what vfio-pci exports).
    pub const fn phys_bar(slice: BarSlice) -> Self {
        Self::new(&PHYS, ExporterArgs::Bar(slice))
    }

    /// The interconnect type of this entry.
    pub const fn interconnect(&self) -> &'static Interconnect {
        self.interconnect
    }

    /// The arguments of this entry.
    pub const fn args(&self) -> &ExporterArgs<'a> {
        &self.args
    }
}

/// One entry of the importer's list.
#[derive(Clone, Copy, Debug)]
pub struct ImporterOffer<'a> {
    interconnect: &'static Interconnect,
    args: ImporterArgs<'a>,
}

impl<'a> ImporterOffer<'a> {
    /// An entry of any interconnect type, including driver-defined ones.
    pub const fn new(interconnect: &'static Interconnect, args: ImporterArgs<'a>) -> Self {
        Self { interconnect, args }
    }

    /// `dma-addr` for `device`; `peer2peer` says whether it accepts P2P addresses.
    pub const fn dma_addr(device: DeviceId, peer2peer: bool) -> Self {
        Self::new(&DMA_ADDR, ImporterArgs::Device { device, peer2peer })
    }

    /// `pci-bar` for `device` (which necessarily accepts peer-to-peer).
    pub const fn pci_bar(device: DeviceId) -> Self {
        Self::new(
            &PCI_BAR,
            ImporterArgs::Device {
                device,
                peer2peer: true,
            },
        )
    }

    /// `vram` for `device`.
    pub const fn vram(device: DeviceId) -> Self {
        Self::new(
            &VRAM,
            ImporterArgs::Device {
                device,
                peer2peer: true,
            },
        )
    }

    /// `private-iova` for `initiator` on `fabric`.
    pub const fn private_iova(fabric: FabricId, initiator: DeviceId) -> Self {
        Self::new(&PRIVATE_IOVA, ImporterArgs::Fabric { fabric, initiator })
    }

    /// `phys` for an importer speaking as `trust`, accessing through `device` if any.
    pub const fn phys(trust: Trust, device: Option<DeviceId>) -> Self {
        Self::new(&PHYS, ImporterArgs::Phys { trust, device })
    }

    /// The interconnect type of this entry.
    pub const fn interconnect(&self) -> &'static Interconnect {
        self.interconnect
    }

    /// The arguments of this entry.
    pub const fn args(&self) -> &ImporterArgs<'a> {
        &self.args
    }
}
