//! Deriving a mapping's addresses from the placement and the agreement.
//!
//! Each interconnect gets its addresses by explicit, checked steps, and only from the buffer's
//! **current** placement:
//!
//! | interconnect | placement | addresses |
//! |---|---|---|
//! | `vram` | VRAM | the placement's VRAM offset range, valid for that VRAM instance |
//! | `private-iova` | VRAM | the fabric window's IOVA base + VRAM offset ([`Apertures::fabric_range`]), valid for that fabric and initiator |
//! | `dma-addr` | system memory | the platform's DMA API ([`DmaMapper`](crate::DmaMapper)) for the importer's device |
//! | `dma-addr` | device memory, route `PciBusAddr`/`SameDevice` | the memory's PCI bus address through its BAR window: what the device programs when P2P stays below a common bridge (Linux's `pci_p2pdma_bus_addr_map`) |
//! | `dma-addr` | device memory, through the host bridge | the BAR's CPU physical range, through the DMA API (Linux's `dma_map_resource`) |
//! | `pci-bar` | BAR slice | bus addresses ([`BarAddresses::Bus`]) or DMA addresses ([`BarAddresses::Dma`]), by the same route rule |
//! | `phys` | any | the CPU physical range (BAR window for device memory), for a [`TrustedImporter`] only |
//!
//! Every range must lie entirely inside its window; the DMA API must return a range of the same
//! length. Anything else is an [`AddressError`], never a truncated or wrapped address.

use alloc::vec;
use core::fmt;

use crate::apertures::ApertureError;
use crate::mapping::{
    BarAddresses, BusAddrMapping, DmaAddrMapping, FabricPort, IovaMapping, Mapping, PciBarMapping,
    PhysMapping, TrustedImporter, VramMapping,
};
use crate::{
    AddrRange, Agreed, Apertures, BarSlice, DeviceId, DmaAddr, DmaRefusal, Offering, Placement,
    Platform, RouteKind, StoredArgs, Trust,
};

/// Why a mapping's addresses could not be derived.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum AddressError {
    /// The placement is not visible through a window the exporter described.
    Aperture {
        /// The placement.
        placement: Placement,
        /// What is wrong with the window.
        error: ApertureError,
    },
    /// The DMA API refused.
    Dma(DmaRefusal),
    /// The DMA API returned a range of another length than asked for.
    DmaLength {
        /// The device.
        device: DeviceId,
    },
    /// Physical addresses for an untrusted importer: never.
    Untrusted(Trust),
    /// The agreement does not fit the placement, the importer's entry or its route.
    Inconsistent(&'static str),
}

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressError::Aperture { placement, error } => write!(f, "{placement}: {error}"),
            AddressError::Dma(refusal) => fmt::Display::fmt(refusal, f),
            AddressError::DmaLength { device } => write!(
                f,
                "the DMA API returned a range of the wrong length for {device}"
            ),
            AddressError::Untrusted(trust) => write!(
                f,
                "physical addresses are never given to an {trust} importer"
            ),
            AddressError::Inconsistent(why) => write!(f, "inconsistent agreement: {why}"),
        }
    }
}

impl core::error::Error for AddressError {}

/// How device memory is addressed by a peer, by route.
enum PeerAddressing {
    /// Bus addresses (P2P below a common bridge, or within the device).
    Bus,
    /// DMA addresses through the host bridge (and any IOMMU).
    ThroughHost,
}

fn peer_addressing(kind: RouteKind) -> Result<PeerAddressing, AddressError> {
    match kind {
        RouteKind::PciBusAddr { .. } | RouteKind::SameDevice => Ok(PeerAddressing::Bus),
        RouteKind::PciThroughHostBridge { .. } => Ok(PeerAddressing::ThroughHost),
        RouteKind::SystemMemory | RouteKind::CpuThroughHostBridge | RouteKind::PrivateLink(_) => {
            Err(AddressError::Inconsistent(
                "a device reaches device memory by a route that carries no PCI addresses",
            ))
        }
    }
}

fn dma_map(
    platform: &Platform<'_>,
    device: DeviceId,
    phys: AddrRange<crate::PhysAddr>,
) -> Result<AddrRange<DmaAddr>, AddressError> {
    let dma = platform
        .dma()
        .map(device, phys)
        .map_err(AddressError::Dma)?;
    if dma.len() == phys.len() {
        Ok(dma)
    } else {
        Err(AddressError::DmaLength { device })
    }
}

/// Derives the mapping `agreed` gives for `size` bytes at `placement`.
///
/// `placement` must be the buffer's current placement and `agreed` must have been negotiated for
/// it; both are checked.
pub(crate) fn derive(
    platform: &Platform<'_>,
    apertures: &Apertures,
    placement: &Placement,
    size: u64,
    agreed: &Agreed,
) -> Result<Mapping, AddressError> {
    if agreed.placement() != placement {
        return Err(AddressError::Inconsistent(
            "the agreement was negotiated for another placement",
        ));
    }
    let aperture = |error| AddressError::Aperture {
        placement: *placement,
        error,
    };
    let args = *agreed.importer_offer().args();
    match (agreed.offering(), placement, args) {
        (Offering::Vram, Placement::Vram { vram, offset }, StoredArgs::Device { .. }) => {
            let range =
                AddrRange::new(*offset, size).ok_or(aperture(ApertureError::OutsideWindow))?;
            Ok(Mapping::Vram(VramMapping::new(*vram, vec![range])))
        }
        (
            Offering::PrivateIova(fabric),
            Placement::Vram { vram, offset },
            StoredArgs::Fabric {
                fabric: importer_fabric,
                initiator,
            },
        ) => {
            if fabric != importer_fabric {
                return Err(AddressError::Inconsistent(
                    "private-iova on different fabrics",
                ));
            }
            let iovas = apertures
                .fabric_range(fabric, *vram, *offset, size)
                .map_err(aperture)?;
            Ok(Mapping::PrivateIova(IovaMapping::new(
                FabricPort { fabric, initiator },
                vec![iovas],
            )))
        }
        (Offering::DmaAddr, Placement::System { .. }, StoredArgs::Device { device, .. }) => {
            let phys = apertures.phys_range(placement, size).map_err(aperture)?;
            let dma = dma_map(platform, device, phys)?;
            Ok(Mapping::DmaAddr(DmaAddrMapping::new(device, vec![dma])))
        }
        (Offering::DmaAddr, _, StoredArgs::Device { device, .. }) => {
            let dma = match peer_addressing(agreed.route().kind)? {
                PeerAddressing::Bus => {
                    let bus = apertures.bus_range(placement, size).map_err(aperture)?;
                    // The explicit step of bus-address P2P: the device programs the bus
                    // address, so it is the DMA address for this device.
                    AddrRange::new(DmaAddr::new(bus.start().raw()), bus.len())
                        .ok_or(aperture(ApertureError::OutsideWindow))?
                }
                PeerAddressing::ThroughHost => {
                    let phys = apertures.phys_range(placement, size).map_err(aperture)?;
                    dma_map(platform, device, phys)?
                }
            };
            Ok(Mapping::DmaAddr(DmaAddrMapping::new(device, vec![dma])))
        }
        (Offering::PciBar, Placement::Bar(slice), StoredArgs::Device { device, .. }) => {
            let addresses = match peer_addressing(agreed.route().kind)? {
                PeerAddressing::Bus => {
                    let bus = apertures.bus_range(placement, size).map_err(aperture)?;
                    BarAddresses::Bus(BusAddrMapping::new(device, vec![bus]))
                }
                PeerAddressing::ThroughHost => {
                    let phys = apertures.phys_range(placement, size).map_err(aperture)?;
                    BarAddresses::Dma(DmaAddrMapping::new(
                        device,
                        vec![dma_map(platform, device, phys)?],
                    ))
                }
            };
            Ok(Mapping::PciBar(PciBarMapping {
                slice: BarSlice {
                    len: size,
                    ..*slice
                },
                addresses,
            }))
        }
        (Offering::Phys, _, StoredArgs::Phys { trust, .. }) => {
            let importer = TrustedImporter::new(trust).ok_or(AddressError::Untrusted(trust))?;
            let phys = apertures.phys_range(placement, size).map_err(aperture)?;
            Ok(Mapping::Phys(PhysMapping::new(importer, vec![phys])))
        }
        _ => Err(AddressError::Inconsistent(
            "the offering, the placement and the importer's entry do not fit together",
        )),
    }
}
