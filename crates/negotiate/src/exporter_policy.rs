//! The exporter's rules for a buffer: where it may live, what it offers there, and whether it
//! may move or revoke.
//!
//! An [`ExporterPolicy`] lists the placements the exporter may use, **in order of preference**,
//! and for each placement the interconnects it offers there (its [`Offering`]s, in the
//! exporter's order, which is the order [`Policy::ExporterPriority`] walks). The offers are
//! derived from the placement, never stored separately, so the exporter can never offer VRAM
//! offsets for a buffer that sits in system memory.
//!
//! Sensible defaults ([`ExporterPolicy::place`]):
//! - VRAM: `vram` (another function of the same device, or the PF of an exporting VF), then
//!   `private-iova` on every fabric the exporter exposes this VRAM on, then `dma-addr` of the
//!   device memory (PCI P2P) if a BAR makes it visible.
//! - System memory: `dma-addr`, then `phys` (trusted importers only).
//! - BAR slice: `pci-bar`, then `phys` (what vfio-pci exports), if the BAR's window is known.

use core::fmt;

use crate::storage::FallibleVec;
use crate::{
    Apertures, Describe, DeviceId, ExporterOffer, FabricId, Names, OpaqueNames, OutOfMemory,
    Placement, Policy, Vec,
};

/// One interconnect the exporter offers for a placement. Together with the placement it
/// determines the exporter entry ([`Offering::offer`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Offering {
    /// `vram`: offsets in the VRAM the buffer is placed in.
    Vram,
    /// `private-iova` on this fabric, for the owner of the VRAM the buffer is placed in.
    PrivateIova(FabricId),
    /// `dma-addr` of the memory the buffer is placed in.
    DmaAddr,
    /// `pci-bar`: the BAR slice the buffer is placed in.
    PciBar,
    /// `phys`: physical addresses of the placement, for trusted importers only.
    Phys,
}

impl Offering {
    /// The exporter entry for `placement`, or `None` if this offering cannot describe it
    /// (`vram` of system memory, `pci-bar` of VRAM, ...).
    pub const fn offer(self, placement: &Placement) -> Option<ExporterOffer<'static>> {
        match (self, placement) {
            (Offering::Vram, Placement::Vram { vram, .. }) => Some(ExporterOffer::vram(*vram)),
            (Offering::PrivateIova(fabric), Placement::Vram { vram, .. }) => {
                Some(ExporterOffer::private_iova(fabric, vram.owner))
            }
            (Offering::DmaAddr, p) => Some(ExporterOffer::dma_addr(p.memory())),
            (Offering::PciBar, Placement::Bar(slice)) => Some(ExporterOffer::pci_bar(*slice)),
            (Offering::Phys, Placement::Bar(slice)) => Some(ExporterOffer::phys_bar(*slice)),
            (Offering::Phys, p) => Some(ExporterOffer::phys(p.memory())),
            _ => None,
        }
    }
}

impl Describe for Offering {
    fn describe(&self, f: &mut fmt::Formatter<'_>, names: &dyn Names) -> fmt::Result {
        match self {
            Offering::Vram => f.write_str("vram"),
            Offering::PrivateIova(fabric) => write!(f, "private-iova on {}", fabric.named(names)),
            Offering::DmaAddr => f.write_str("dma-addr"),
            Offering::PciBar => f.write_str("pci-bar"),
            Offering::Phys => f.write_str("phys"),
        }
    }
}

impl fmt::Display for Offering {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.describe(f, &OpaqueNames)
    }
}

/// A placement the exporter may use, with what it offers there.
#[derive(PartialEq, Eq, Debug)]
#[cfg_attr(feature = "alloc", derive(Clone))]
pub struct PlacementOption {
    placement: Placement,
    offerings: Vec<Offering>,
}

impl PlacementOption {
    /// The placement.
    pub fn placement(&self) -> &Placement {
        &self.placement
    }

    /// What the exporter offers there, in its order.
    pub fn offerings(&self) -> &[Offering] {
        &self.offerings
    }

    /// The exporter's list for this placement, in the exporter's order.
    pub fn exporter_offers(&self) -> impl Iterator<Item = ExporterOffer<'static>> + '_ {
        self.offerings
            .iter()
            .filter_map(|o| o.offer(&self.placement))
    }
}

/// Why a policy cannot govern a buffer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PolicyError {
    /// A buffer must have at least one byte.
    EmptyBuffer,
    /// The policy lists no placement.
    NoPlacement,
    /// The same placement is listed twice.
    DuplicatePlacement(Placement),
    /// The placement cannot hold the buffer (too small a BAR slice, or it would leave the
    /// address space).
    TooSmall {
        /// The placement.
        placement: Placement,
        /// The buffer's size.
        size: u64,
    },
    /// Nothing is offered for this placement, so no importer could ever reach it.
    NothingOffered(Placement),
    /// An offering does not fit its placement (`vram` of system memory, ...).
    OfferingDoesNotFit {
        /// The placement.
        placement: Placement,
        /// The offering.
        offering: Offering,
    },
    /// An offering's addresses cannot be derived: the exporter's [`Apertures`] have no window
    /// (or too small a one) for the placement.
    NoAperture {
        /// The placement.
        placement: Placement,
        /// The offering.
        offering: Offering,
    },
    /// More than [`MAX_OFFERINGS`] offerings for one placement.
    TooManyOfferings(Placement),
    /// A step building the policy or its apertures could not allocate, so something the
    /// exporter added is missing.
    OutOfMemory,
}

impl Describe for PolicyError {
    fn describe(&self, f: &mut fmt::Formatter<'_>, names: &dyn Names) -> fmt::Result {
        match self {
            PolicyError::EmptyBuffer => f.write_str("a buffer needs a size of at least one byte"),
            PolicyError::NoPlacement => f.write_str("the exporter policy lists no placement"),
            PolicyError::DuplicatePlacement(p) => {
                write!(f, "placement {} is listed twice", p.named(names))
            }
            PolicyError::TooSmall { placement, size } => {
                write!(f, "{} cannot hold {size} bytes", placement.named(names))
            }
            PolicyError::NothingOffered(p) => {
                write!(
                    f,
                    "nothing is offered for {}: no importer could reach it",
                    p.named(names)
                )
            }
            PolicyError::OfferingDoesNotFit {
                placement,
                offering,
            } => write!(
                f,
                "{} cannot describe {}",
                offering.named(names),
                placement.named(names)
            ),
            PolicyError::NoAperture {
                placement,
                offering,
            } => write!(
                f,
                "{} of {}: no aperture exposes the whole buffer, so its addresses cannot be \
                 derived",
                offering.named(names),
                placement.named(names)
            ),
            PolicyError::TooManyOfferings(p) => {
                write!(
                    f,
                    "more than {MAX_OFFERINGS} offerings for {}",
                    p.named(names)
                )
            }
            PolicyError::OutOfMemory => {
                f.write_str("out of memory while the exporter policy was built")
            }
        }
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.describe(f, &OpaqueNames)
    }
}

impl core::error::Error for PolicyError {}

/// The most offerings one placement may list.
pub const MAX_OFFERINGS: usize = 64;

/// The exporter's rules for one buffer.
///
/// Built step by step ([`place`](Self::place), [`migratable`](Self::migratable), ...). A step
/// that cannot allocate leaves its placement out and marks the policy, which
/// [`validate`](Self::validate) (and so [`Buffer::new`](crate::Buffer::new)) then refuses with
/// [`PolicyError::OutOfMemory`].
#[derive(PartialEq, Eq, Debug)]
#[cfg_attr(feature = "alloc", derive(Clone))]
pub struct ExporterPolicy {
    exporter: DeviceId,
    apertures: Apertures,
    placements: Vec<PlacementOption>,
    migrate: bool,
    revocable: bool,
    negotiation: Policy,
    out_of_memory: bool,
}

impl ExporterPolicy {
    /// A policy for a buffer exported by `exporter`, whose memory is visible through
    /// `apertures`. No placement yet; may migrate; not revocable; [`Policy::BestRoute`].
    pub fn new(exporter: DeviceId, apertures: Apertures) -> Self {
        Self {
            exporter,
            apertures,
            placements: Vec::default(),
            migrate: true,
            revocable: false,
            negotiation: Policy::default(),
            out_of_memory: false,
        }
    }

    /// The default offerings for `placement`, in the exporter's order, keeping only those whose
    /// addresses the apertures can derive for the whole of `size` bytes:
    /// - VRAM: `vram`, then `private-iova` on every fabric the apertures expose this VRAM on,
    ///   then `dma-addr` of the device memory (PCI P2P, needs a BAR window);
    /// - system memory: `dma-addr`, then `phys` (trusted importers only);
    /// - BAR slice: `pci-bar`, then `phys` (what vfio-pci exports; needs the BAR's window).
    pub fn default_offerings(
        &self,
        placement: &Placement,
        size: u64,
    ) -> Result<Vec<Offering>, OutOfMemory> {
        let fabrics = match placement {
            Placement::Vram { vram, .. } => Some(self.apertures.fabrics_of(*vram)),
            _ => None,
        };
        let (first, last) = match placement {
            Placement::Vram { .. } => (Offering::Vram, Offering::DmaAddr),
            Placement::System { .. } => (Offering::DmaAddr, Offering::Phys),
            Placement::Bar(_) => (Offering::PciBar, Offering::Phys),
        };
        let all = core::iter::once(first)
            .chain(fabrics.into_iter().flatten().map(Offering::PrivateIova))
            .chain(core::iter::once(last));
        Vec::try_from_iter(all.filter(|o| self.derivable(placement, *o, size)))
    }

    /// Whether the addresses of `offering` for `size` bytes at `placement` can be derived from
    /// the apertures.
    fn derivable(&self, placement: &Placement, offering: Offering, size: u64) -> bool {
        match (offering, placement) {
            (Offering::Vram, _) | (_, Placement::System { .. }) => true,
            (Offering::PrivateIova(fabric), Placement::Vram { vram, offset }) => self
                .apertures
                .fabric_range(fabric, *vram, *offset, size)
                .is_ok(),
            (Offering::PrivateIova(_), _) => false,
            (Offering::DmaAddr | Offering::PciBar, p) => self.apertures.bus_range(p, size).is_ok(),
            (Offering::Phys, p) => self.apertures.phys_range(p, size).is_ok(),
        }
    }

    /// Adds `placement` as the next preference, with `offerings` in the exporter's order.
    /// Checked when the buffer is created ([`Buffer::new`](crate::Buffer::new)).
    pub fn place_with(mut self, placement: Placement, offerings: Vec<Offering>) -> Self {
        let option = PlacementOption {
            placement,
            offerings,
        };
        self.out_of_memory |= self.placements.try_push(option).is_err();
        self
    }

    /// Adds `placement` as the next preference, with the [default
    /// offerings](Self::default_offerings) for a buffer of `size` bytes.
    pub fn place(mut self, placement: Placement, size: u64) -> Self {
        match self.default_offerings(&placement, size) {
            Ok(offerings) => self.place_with(placement, offerings),
            Err(OutOfMemory) => {
                self.out_of_memory = true;
                self
            }
        }
    }

    /// Whether the exporter may move the buffer between its placements (default: yes).
    pub fn migratable(mut self, migrate: bool) -> Self {
        self.migrate = migrate;
        self
    }

    /// Whether the exporter may revoke access for good (vfio-pci on reset; default: no).
    pub fn revocable(mut self, revocable: bool) -> Self {
        self.revocable = revocable;
        self
    }

    /// How candidates are ranked (default: [`Policy::BestRoute`]).
    pub fn negotiation(mut self, policy: Policy) -> Self {
        self.negotiation = policy;
        self
    }

    /// The exporting device.
    pub fn exporter(&self) -> DeviceId {
        self.exporter
    }

    /// The exporter's windows onto its memory.
    pub fn apertures(&self) -> &Apertures {
        &self.apertures
    }

    /// The placements, most preferred first.
    pub fn placements(&self) -> &[PlacementOption] {
        &self.placements
    }

    /// Whether the buffer may migrate.
    pub fn may_migrate(&self) -> bool {
        self.migrate
    }

    /// Whether the exporter may revoke.
    pub fn is_revocable(&self) -> bool {
        self.revocable
    }

    /// The negotiation policy.
    pub fn negotiation_policy(&self) -> Policy {
        self.negotiation
    }

    /// Where `placement` is in the list, if it is listed.
    pub fn position(&self, placement: &Placement) -> Option<usize> {
        self.placements
            .iter()
            .position(|o| o.placement == *placement)
    }

    /// The entry of `placement`, with what the exporter offers there, if it is listed.
    pub fn option(&self, placement: &Placement) -> Option<&PlacementOption> {
        self.placements.iter().find(|o| o.placement == *placement)
    }

    /// Checks the policy for a buffer of `size` bytes.
    pub fn validate(&self, size: u64) -> Result<(), PolicyError> {
        if self.out_of_memory || !self.apertures.is_complete() {
            return Err(PolicyError::OutOfMemory);
        }
        if size == 0 {
            return Err(PolicyError::EmptyBuffer);
        }
        if self.placements.is_empty() {
            return Err(PolicyError::NoPlacement);
        }
        for (i, option) in self.placements.iter().enumerate() {
            let placement = option.placement;
            if self.placements[..i]
                .iter()
                .any(|o| o.placement == placement)
            {
                return Err(PolicyError::DuplicatePlacement(placement));
            }
            if !placement.holds(size) {
                return Err(PolicyError::TooSmall { placement, size });
            }
            if option.offerings.is_empty() {
                return Err(PolicyError::NothingOffered(placement));
            }
            if option.offerings.len() > MAX_OFFERINGS {
                return Err(PolicyError::TooManyOfferings(placement));
            }
            for &offering in &option.offerings {
                if offering.offer(&placement).is_none() {
                    return Err(PolicyError::OfferingDoesNotFit {
                        placement,
                        offering,
                    });
                }
                if !self.derivable(&placement, offering, size) {
                    return Err(PolicyError::NoAperture {
                        placement,
                        offering,
                    });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        AddrRange, BarAperture, BarSlice, BusAddr, BusWindow, FabricAperture, Iova, PhysAddr,
        VramAperture, VramId, VramOffset,
    };
    use alloc::vec;

    const GPU: DeviceId = DeviceId(0);
    const VRAM: VramId = VramId {
        owner: GPU,
        instance: 0,
    };

    fn apertures() -> Apertures {
        Apertures::new()
            .with_vram(VramAperture {
                vram: VRAM,
                bar: 0,
                window: BusWindow::new(
                    PhysAddr::new(0x4000_0000),
                    BusAddr::new(0x4000_0000),
                    1 << 28,
                )
                .unwrap(),
            })
            .with_fabric(FabricAperture {
                fabric: FabricId(7),
                vram: VRAM,
                iovas: AddrRange::new(Iova::new(1 << 40), 1 << 34).unwrap(),
            })
    }

    #[test]
    fn defaults_follow_the_placement_and_the_apertures() {
        let policy = ExporterPolicy::new(GPU, apertures());
        let vram = Placement::vram(VRAM, VramOffset::new(0));
        assert_eq!(
            policy.default_offerings(&vram, 4096).unwrap(),
            vec![
                Offering::Vram,
                Offering::PrivateIova(FabricId(7)),
                Offering::DmaAddr
            ]
        );
        // Beyond the CPU-visible part of VRAM, P2P cannot be offered.
        let deep = Placement::vram(VRAM, VramOffset::new(1 << 29));
        assert_eq!(
            policy.default_offerings(&deep, 4096).unwrap(),
            vec![Offering::Vram, Offering::PrivateIova(FabricId(7))]
        );
        let ram = Placement::system(Some(0), PhysAddr::new(0x1_0000_0000));
        assert_eq!(
            policy.default_offerings(&ram, 4096).unwrap(),
            vec![Offering::DmaAddr, Offering::Phys]
        );
        // A BAR without a known window offers nothing.
        let bar = Placement::bar(BarSlice {
            device: GPU,
            bar: 2,
            offset: 0,
            len: 4096,
        });
        assert!(policy.default_offerings(&bar, 4096).unwrap().is_empty());
        let with_bar = ExporterPolicy::new(
            GPU,
            apertures().with_bar(BarAperture {
                device: GPU,
                bar: 2,
                window: BusWindow::new(
                    PhysAddr::new(0xf000_0000),
                    BusAddr::new(0xf000_0000),
                    1 << 20,
                )
                .unwrap(),
            }),
        );
        assert_eq!(
            with_bar.default_offerings(&bar, 4096).unwrap(),
            vec![Offering::PciBar, Offering::Phys]
        );
    }

    #[test]
    fn validation_names_what_is_wrong() {
        let base = ExporterPolicy::new(GPU, apertures());
        assert_eq!(base.validate(4096), Err(PolicyError::NoPlacement));
        let vram = Placement::vram(VRAM, VramOffset::new(0));
        let ram = Placement::system(None, PhysAddr::new(0x1000));
        let ok = base.clone().place(vram, 4096).place(ram, 4096);
        assert_eq!(ok.validate(4096), Ok(()));
        assert_eq!(ok.validate(0), Err(PolicyError::EmptyBuffer));
        assert_eq!(ok.position(&ram), Some(1));
        assert_eq!(
            ok.clone().place(ram, 4096).validate(4096),
            Err(PolicyError::DuplicatePlacement(ram))
        );
        assert_eq!(
            base.clone()
                .place_with(ram, vec![Offering::Vram])
                .validate(4096),
            Err(PolicyError::OfferingDoesNotFit {
                placement: ram,
                offering: Offering::Vram
            })
        );
        let deep = Placement::vram(VRAM, VramOffset::new(1 << 29));
        assert_eq!(
            base.clone()
                .place_with(deep, vec![Offering::DmaAddr])
                .validate(4096),
            Err(PolicyError::NoAperture {
                placement: deep,
                offering: Offering::DmaAddr
            })
        );
        assert_eq!(
            base.place_with(ram, vec![]).validate(4096),
            Err(PolicyError::NothingOffered(ram))
        );
    }
}
