//! The importer's side of an attachment: its offers, and how it copes with a moving buffer.
//!
//! An importer passes its [`ImporterOffer`]s at attach time, on the stack, as in the kernel. The
//! buffer must keep them for renegotiation after every move, and a buffer can be shared between
//! threads (`SharedBuffer`), so it keeps owned copies: a [`StoredOffer`]
//! is an importer offer of any interconnect type (built-in or driver-defined) whose arguments are
//! one of the built-in shapes. Driver-specific arguments (`ImporterArgs::Driver`) borrow an
//! arbitrary `dyn Any` that is neither `Send` nor `'static`, and the core could not derive
//! addresses for them anyway; they are refused at attach with
//! [`LifecycleError::DriverArguments`](crate::LifecycleError::DriverArguments).

use core::fmt;

use crate::interconnect::Interconnect;
use crate::storage::FallibleVec;
use crate::{
    DeviceId, FabricId, ImporterArgs, ImporterOffer, LifecycleError, OutOfMemory, Trust, Vec,
};

/// How an importer copes with the exporter moving the buffer.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ImporterMode {
    /// It accepts invalidation (it has an `invalidate_mappings` callback, like mlx5 with ODP or
    /// another GPU): the buffer may move under it, and its mappings then become stale until it
    /// maps again. A dynamic importer can always give its mappings back, so it is revocable.
    Dynamic,
    /// It cannot handle invalidation, so its attachment pins the buffer from attach to detach
    /// (what the kernel does for a non-dynamic importer of a dynamic exporter).
    Static {
        /// Whether it can still give its mappings back in bounded time when the exporter revokes
        /// (iommufd unmaps from the IOMMU: yes; a plain pinned DMA user: no).
        revocable: bool,
    },
}

impl fmt::Display for ImporterMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ImporterMode::Dynamic => "dynamic",
            ImporterMode::Static { revocable: true } => "static, revocable",
            ImporterMode::Static { revocable: false } => "static, not revocable",
        })
    }
}

/// The arguments of a [`StoredOffer`]: [`ImporterArgs`] without the borrowed driver variant.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum StoredArgs {
    /// See [`ImporterArgs::Device`].
    Device {
        /// The accessing device.
        device: DeviceId,
        /// Whether it accepts peer-to-peer addresses.
        peer2peer: bool,
    },
    /// See [`ImporterArgs::Fabric`].
    Fabric {
        /// The private fabric.
        fabric: FabricId,
        /// The initiator on it.
        initiator: DeviceId,
    },
    /// See [`ImporterArgs::Phys`].
    Phys {
        /// Who the importer is.
        trust: Trust,
        /// The device that accesses through the importer's mapping, if any.
        device: Option<DeviceId>,
    },
}

/// An importer offer the buffer keeps for renegotiation.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct StoredOffer {
    interconnect: &'static Interconnect,
    args: StoredArgs,
}

impl StoredOffer {
    /// An owned copy of `offer`, or `None` if its arguments are driver-specific.
    pub fn new(offer: &ImporterOffer<'_>) -> Option<Self> {
        let args = match *offer.args() {
            ImporterArgs::Device { device, peer2peer } => StoredArgs::Device { device, peer2peer },
            ImporterArgs::Fabric { fabric, initiator } => StoredArgs::Fabric { fabric, initiator },
            ImporterArgs::Phys { trust, device } => StoredArgs::Phys { trust, device },
            ImporterArgs::Driver(_) => return None,
        };
        Some(Self {
            interconnect: offer.interconnect(),
            args,
        })
    }

    /// The offer again, for negotiation.
    pub const fn offer(&self) -> ImporterOffer<'static> {
        let args = match self.args {
            StoredArgs::Device { device, peer2peer } => ImporterArgs::Device { device, peer2peer },
            StoredArgs::Fabric { fabric, initiator } => ImporterArgs::Fabric { fabric, initiator },
            StoredArgs::Phys { trust, device } => ImporterArgs::Phys { trust, device },
        };
        ImporterOffer::new(self.interconnect, args)
    }

    /// The interconnect type.
    pub const fn interconnect(&self) -> &'static Interconnect {
        self.interconnect
    }

    /// The arguments.
    pub const fn args(&self) -> &StoredArgs {
        &self.args
    }

    /// The device that performs the accesses, if the offer names one.
    pub const fn device(&self) -> Option<DeviceId> {
        match self.args {
            StoredArgs::Device { device, .. } => Some(device),
            StoredArgs::Fabric { initiator, .. } => Some(initiator),
            StoredArgs::Phys { device, .. } => device,
        }
    }
}

/// The most offers one importer may list. Real lists have a handful of entries; the bound keeps
/// every candidate table of the lifecycle small ([`MAX_OFFERINGS`](crate::MAX_OFFERINGS) ×
/// this).
pub const MAX_IMPORTER_OFFERS: usize = 64;

/// An importer asking to attach: its offers in its order, and its [`ImporterMode`].
#[derive(PartialEq, Eq, Debug)]
#[cfg_attr(feature = "alloc", derive(Clone))]
pub struct Importer {
    offers: Vec<StoredOffer>,
    mode: ImporterMode,
}

impl Importer {
    /// An importer with `offers` (kept as [`StoredOffer`]s) and `mode`.
    ///
    /// Fails with [`LifecycleError::DriverArguments`] if an offer has driver-specific
    /// arguments, with [`LifecycleError::TooManyOffers`] past [`MAX_IMPORTER_OFFERS`], and with
    /// [`LifecycleError::OutOfMemory`] if the copies cannot be allocated.
    pub fn new(offers: &[ImporterOffer<'_>], mode: ImporterMode) -> Result<Self, LifecycleError> {
        if offers.len() > MAX_IMPORTER_OFFERS {
            return Err(LifecycleError::TooManyOffers(offers.len()));
        }
        let mut kept = Vec::try_with_room(offers.len())?;
        for (index, offer) in offers.iter().enumerate() {
            kept.try_push(
                StoredOffer::new(offer).ok_or(LifecycleError::DriverArguments { index })?,
            )?;
        }
        Ok(Self { offers: kept, mode })
    }

    /// A dynamic importer (accepts invalidation).
    pub fn dynamic(offers: &[ImporterOffer<'_>]) -> Result<Self, LifecycleError> {
        Self::new(offers, ImporterMode::Dynamic)
    }

    /// A static importer (pins the buffer while attached), revocable or not.
    pub fn pinning(offers: &[ImporterOffer<'_>], revocable: bool) -> Result<Self, LifecycleError> {
        Self::new(offers, ImporterMode::Static { revocable })
    }

    /// The offers, in the importer's order.
    pub fn offers(&self) -> &[StoredOffer] {
        &self.offers
    }

    /// The mode.
    pub fn mode(&self) -> ImporterMode {
        self.mode
    }

    /// Whether it accepts invalidation.
    pub fn is_dynamic(&self) -> bool {
        matches!(self.mode, ImporterMode::Dynamic)
    }

    /// Whether it can give its mappings back when the exporter revokes.
    pub fn is_revocable(&self) -> bool {
        matches!(
            self.mode,
            ImporterMode::Dynamic | ImporterMode::Static { revocable: true }
        )
    }

    /// Whether any of its offers names `device` as the accessing device.
    pub fn uses_device(&self, device: DeviceId) -> bool {
        self.offers.iter().any(|o| o.device() == Some(device))
    }

    /// The offers as negotiation entries.
    pub(crate) fn negotiation_offers(&self) -> Result<Vec<ImporterOffer<'static>>, OutOfMemory> {
        Vec::try_from_iter(self.offers.iter().map(StoredOffer::offer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DMA_ADDR, PHYS};

    #[test]
    fn offers_are_kept_exactly() {
        let offers = [
            ImporterOffer::dma_addr(DeviceId(1), true),
            ImporterOffer::phys(Trust::Iommufd, Some(DeviceId(2))),
            ImporterOffer::private_iova(FabricId(3), DeviceId(4)),
        ];
        let importer = Importer::dynamic(&offers).unwrap();
        assert_eq!(importer.offers().len(), 3);
        assert!(importer.offers()[0].interconnect().is(&DMA_ADDR));
        assert!(importer.offers()[1].offer().interconnect().is(&PHYS));
        assert!(matches!(
            importer.offers()[1].offer().args(),
            ImporterArgs::Phys {
                trust: Trust::Iommufd,
                device: Some(DeviceId(2))
            }
        ));
        assert!(importer.uses_device(DeviceId(4)));
        assert!(!importer.uses_device(DeviceId(5)));
        assert!(importer.is_revocable());
    }

    #[test]
    fn driver_arguments_are_refused() {
        let token = 5u32;
        let offers = [
            ImporterOffer::dma_addr(DeviceId(1), true),
            ImporterOffer::new(&DMA_ADDR, ImporterArgs::Driver(&token)),
        ];
        assert_eq!(
            Importer::dynamic(&offers),
            Err(LifecycleError::DriverArguments { index: 1 })
        );
        let pinned = Importer::pinning(&offers[..1], false).unwrap();
        assert!(!pinned.is_dynamic());
        assert!(!pinned.is_revocable());
    }
}
