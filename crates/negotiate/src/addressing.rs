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

use core::fmt;

use crate::apertures::ApertureError;
use crate::mapping::{
    BarAddresses, BusAddrMapping, DmaAddrMapping, FabricPort, IovaMapping, Mapping, PciBarMapping,
    PhysMapping, TrustedImporter, VramMapping,
};
use crate::storage::FallibleVec;
use crate::{
    AddrRange, Agreed, Apertures, BarSlice, Describe, DeviceId, DmaAddr, DmaRefusal,
    LifecycleError, Names, Offering, OpaqueNames, OutOfMemory, Placement, Platform, RouteKind,
    StoredArgs, Trust, Vec,
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

impl Describe for AddressError {
    fn describe(&self, f: &mut fmt::Formatter<'_>, names: &dyn Names) -> fmt::Result {
        match self {
            AddressError::Aperture { placement, error } => {
                write!(f, "{}: {error}", placement.named(names))
            }
            AddressError::Dma(refusal) => refusal.describe(f, names),
            AddressError::DmaLength { device } => write!(
                f,
                "the DMA API returned a range of the wrong length for {}",
                device.named(names)
            ),
            AddressError::Untrusted(trust) => write!(
                f,
                "physical addresses are never given to an {trust} importer"
            ),
            AddressError::Inconsistent(why) => write!(f, "inconsistent agreement: {why}"),
        }
    }
}

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.describe(f, &OpaqueNames)
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

/// A list of one range: every mapping derived here has one.
fn one<A>(range: AddrRange<A>) -> Result<Vec<AddrRange<A>>, OutOfMemory> {
    let mut ranges = Vec::try_with_room(1)?;
    ranges.try_push(range)?;
    Ok(ranges)
}

/// Derives the mapping `agreed` gives for `size` bytes at `placement`.
///
/// `placement` must be the buffer's current placement and `agreed` must have been negotiated for
/// it; both are checked. Fails with [`LifecycleError::Address`], or with
/// [`LifecycleError::OutOfMemory`] if the range list cannot be allocated.
pub(crate) fn derive(
    platform: &Platform<'_>,
    apertures: &Apertures,
    placement: &Placement,
    size: u64,
    agreed: &Agreed,
) -> Result<Mapping, LifecycleError> {
    if agreed.placement() != placement {
        return Err(AddressError::Inconsistent(
            "the agreement was negotiated for another placement",
        )
        .into());
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
            Ok(Mapping::Vram(VramMapping::new(*vram, one(range)?)))
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
                return Err(AddressError::Inconsistent("private-iova on different fabrics").into());
            }
            let iovas = apertures
                .fabric_range(fabric, *vram, *offset, size)
                .map_err(aperture)?;
            Ok(Mapping::PrivateIova(IovaMapping::new(
                FabricPort { fabric, initiator },
                one(iovas)?,
            )))
        }
        (Offering::DmaAddr, Placement::System { .. }, StoredArgs::Device { device, .. }) => {
            let phys = apertures.phys_range(placement, size).map_err(aperture)?;
            let dma = dma_map(platform, device, phys)?;
            Ok(Mapping::DmaAddr(DmaAddrMapping::new(device, one(dma)?)))
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
            Ok(Mapping::DmaAddr(DmaAddrMapping::new(device, one(dma)?)))
        }
        (Offering::PciBar, Placement::Bar(slice), StoredArgs::Device { device, .. }) => {
            let addresses = match peer_addressing(agreed.route().kind)? {
                PeerAddressing::Bus => {
                    let bus = apertures.bus_range(placement, size).map_err(aperture)?;
                    BarAddresses::Bus(BusAddrMapping::new(device, one(bus)?))
                }
                PeerAddressing::ThroughHost => {
                    let phys = apertures.phys_range(placement, size).map_err(aperture)?;
                    BarAddresses::Dma(DmaAddrMapping::new(
                        device,
                        one(dma_map(platform, device, phys)?)?,
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
            Ok(Mapping::Phys(PhysMapping::new(importer, one(phys)?)))
        }
        _ => Err(AddressError::Inconsistent(
            "the offering, the placement and the importer's entry do not fit together",
        )
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::renegotiation::negotiate_at;
    use crate::testing::{FAR, FLAT, GPU, LINK, PEER, SIZE, buffer, ram};
    use crate::{DirectMapped, DmaMapper, Importer, ImporterOffer, Iova, PhysAddr, VramOffset};

    fn agree(placement_index: usize, offers: &[ImporterOffer<'_>]) -> (Agreed, Placement) {
        let b = buffer();
        let option = &b.policy().placements()[placement_index];
        let importer = Importer::dynamic(offers).unwrap();
        let agreed = negotiate_at(&Platform::new(&FLAT), b.policy(), option, &importer)
            .unwrap()
            .unwrap();
        (agreed, *option.placement())
    }

    fn derive_for(placement_index: usize, offers: &[ImporterOffer<'_>]) -> Mapping {
        let (agreed, placement) = agree(placement_index, offers);
        let b = buffer();
        derive(
            &Platform::new(&FLAT),
            b.policy().apertures(),
            &placement,
            SIZE,
            &agreed,
        )
        .unwrap()
    }

    #[test]
    fn each_interconnect_gets_its_own_addresses() {
        let Mapping::Vram(m) = derive_for(0, &[ImporterOffer::vram(GPU)]) else {
            panic!("vram expected");
        };
        assert_eq!(
            m.addresses_for(crate::testing::VRAM).unwrap()[0].start(),
            VramOffset::new(0x10_0000)
        );
        let Mapping::PrivateIova(m) = derive_for(0, &[ImporterOffer::private_iova(LINK, PEER)])
        else {
            panic!("private-iova expected");
        };
        assert_eq!(
            m.addresses_for(FabricPort {
                fabric: LINK,
                initiator: PEER
            })
            .unwrap()[0]
                .start(),
            Iova::new(0x1_0010_0000)
        );
        // Bus-address P2P: the BAR's bus address.
        let Mapping::DmaAddr(m) = derive_for(0, &[ImporterOffer::dma_addr(PEER, true)]) else {
            panic!("dma-addr expected");
        };
        assert_eq!(
            m.addresses_for(PEER).unwrap()[0].start(),
            DmaAddr::new(0x8010_0000)
        );
        // Through the host bridge: the BAR's physical address, through the DMA API.
        let Mapping::DmaAddr(m) = derive_for(0, &[ImporterOffer::dma_addr(FAR, true)]) else {
            panic!("dma-addr expected");
        };
        assert_eq!(
            m.addresses_for(FAR).unwrap()[0].start(),
            DmaAddr::new(0x40_0010_0000)
        );
        let Mapping::DmaAddr(m) = derive_for(1, &[ImporterOffer::dma_addr(PEER, false)]) else {
            panic!("dma-addr expected");
        };
        assert_eq!(
            m.addresses_for(PEER).unwrap()[0].start(),
            DmaAddr::new(0x2000_0000)
        );
        let Mapping::Phys(m) = derive_for(1, &[ImporterOffer::phys(Trust::Kvm, None)]) else {
            panic!("phys expected");
        };
        assert_eq!(
            m.addresses_for(TrustedImporter::new(Trust::Kvm).unwrap())
                .unwrap()[0]
                .start(),
            PhysAddr::new(0x2000_0000)
        );
        assert_eq!(m.total_len(), SIZE);
    }

    #[test]
    fn mismatches_are_refused_not_guessed() {
        let b = buffer();
        let platform = Platform::new(&FLAT);
        let (agreed, vram) = agree(0, &[ImporterOffer::vram(GPU)]);
        // An agreement for VRAM cannot address RAM.
        assert!(matches!(
            derive(&platform, b.policy().apertures(), &ram(), SIZE, &agreed),
            Err(LifecycleError::Address(AddressError::Inconsistent(_)))
        ));
        // Without the fabric window, no IOVA.
        let (agreed, _) = agree(0, &[ImporterOffer::private_iova(LINK, PEER)]);
        assert!(matches!(
            derive(&platform, &Apertures::new(), &vram, SIZE, &agreed),
            Err(LifecycleError::Address(AddressError::Aperture {
                error: ApertureError::NoWindow,
                ..
            }))
        ));
        // A DMA API that changes the length is not believed.
        struct Short;
        impl DmaMapper for Short {
            fn map(
                &self,
                device: DeviceId,
                range: AddrRange<crate::PhysAddr>,
            ) -> Result<AddrRange<DmaAddr>, DmaRefusal> {
                DirectMapped.map(
                    device,
                    AddrRange::new(range.start(), range.len() / 2).unwrap(),
                )
            }
        }
        let (agreed, ram) = agree(1, &[ImporterOffer::dma_addr(PEER, false)]);
        assert_eq!(
            derive(
                &platform.with_dma(&Short),
                b.policy().apertures(),
                &ram,
                SIZE,
                &agreed
            ),
            Err(LifecycleError::Address(AddressError::DmaLength {
                device: PEER
            }))
        );
    }
}
