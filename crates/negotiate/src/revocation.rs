//! Revoking a buffer for good, and device resets.
//!
//! An exporter that may revoke (vfio-pci, whose BAR stops decoding when the device is reset)
//! can take access away permanently: every mapping becomes stale at once, and nothing can
//! attach, pin or map again; importers can only unmap and detach. Because a revoke must be
//! honoured in bounded time, a revocable exporter refuses up front any static importer that
//! cannot give its mappings back ([`LifecycleError::ImporterNotRevocable`]).
//!
//! A reset of the exporting device (or of the device that owns the memory) is a revoke that
//! cannot be refused: the memory behind every mapping is gone. A reset of an importer's device
//! only makes that importer's mappings stale; it maps again when it is back.

use core::fmt;

use crate::storage::FallibleVec;
use crate::{
    AttachmentId, Buffer, Describe, DeviceId, Generation, LifecycleError, Names, OpaqueNames,
    OutOfMemory, Vec,
};

/// Why a buffer was revoked.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum RevokeReason {
    /// The exporter revoked it ([`Buffer::revoke`]).
    Exporter,
    /// The exporting device, or the device owning the memory, was reset.
    DeviceReset(DeviceId),
}

impl Describe for RevokeReason {
    fn describe(&self, f: &mut fmt::Formatter<'_>, names: &dyn Names) -> fmt::Result {
        match self {
            RevokeReason::Exporter => f.write_str("revoked by the exporter"),
            RevokeReason::DeviceReset(d) => write!(f, "{} was reset", d.named(names)),
        }
    }
}

impl fmt::Display for RevokeReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.describe(f, &OpaqueNames)
    }
}

/// A revocation that happened.
#[derive(PartialEq, Eq, Debug)]
#[cfg_attr(feature = "alloc", derive(Clone))]
pub struct Revocation {
    /// Why.
    pub reason: RevokeReason,
    /// The generation it started; no mapping of any generation is valid any more.
    pub generation: Generation,
    /// The attachments whose valid mapping became stale.
    pub invalidated: Vec<AttachmentId>,
    /// Static attachments that cannot give mappings back (possible only when a device reset
    /// forces a revoke on an exporter that does not normally revoke): their mappings are stale
    /// here all the same, and the importer must be told out of band.
    pub unrevocable: Vec<AttachmentId>,
}

/// What a device reset did.
#[derive(PartialEq, Eq, Debug)]
#[cfg_attr(feature = "alloc", derive(Clone))]
pub enum Reset {
    /// The device was the exporter's or owned the memory: the buffer is revoked.
    Revoked(Revocation),
    /// The device was an importer's: these attachments' mappings are stale from `generation`.
    Importers {
        /// The generation the reset started.
        generation: Generation,
        /// Attachments whose offers name the device.
        attachments: Vec<AttachmentId>,
        /// Those of them whose valid mapping became stale.
        invalidated: Vec<AttachmentId>,
    },
    /// Nothing of this buffer involves the device (or the buffer was already revoked).
    Unaffected,
}

impl Buffer {
    /// Revokes the buffer for good (under the reservation lock): every mapping becomes stale,
    /// and every later attach, pin and map fails with [`LifecycleError::Revoked`].
    ///
    /// Fails if the policy does not allow revocation or the buffer is already revoked.
    pub fn revoke(&mut self) -> Result<Revocation, LifecycleError> {
        if !self.policy.is_revocable() {
            return Err(LifecycleError::ExporterNotRevocable);
        }
        if self.revoked.is_some() {
            return Err(LifecycleError::AlreadyRevoked);
        }
        let generation = self.next_generation()?;
        Ok(self.commit_revoke(RevokeReason::Exporter, generation)?)
    }

    /// Revokes in `generation`. Allocates first: on error the buffer is as it was.
    fn commit_revoke(
        &mut self,
        reason: RevokeReason,
        generation: Generation,
    ) -> Result<Revocation, OutOfMemory> {
        let invalidated = self.holding_valid()?;
        let unrevocable = Vec::try_from_iter(
            self.attachments
                .iter()
                .filter(|a| !a.importer.is_revocable())
                .map(|a| a.id),
        )?;
        self.revoked = Some(reason);
        self.generation = generation;
        for attachment in &mut self.attachments {
            attachment.valid_from = generation;
        }
        Ok(Revocation {
            reason,
            generation,
            invalidated,
            unrevocable,
        })
    }

    /// `device` was reset. The exporting device, or the owner of the memory the buffer is in:
    /// the buffer is revoked, whatever the policy says. An importer's device: the mappings of
    /// every attachment whose offers name it become stale.
    pub fn device_reset(&mut self, device: DeviceId) -> Result<Reset, LifecycleError> {
        if self.revoked.is_some() {
            return Ok(Reset::Unaffected);
        }
        if device == self.policy.exporter() || self.placement().owner() == Some(device) {
            let generation = self.next_generation()?;
            return Ok(Reset::Revoked(
                self.commit_revoke(RevokeReason::DeviceReset(device), generation)?,
            ));
        }
        let attachments: Vec<AttachmentId> = Vec::try_from_iter(
            self.attachments
                .iter()
                .filter(|a| a.importer.uses_device(device))
                .map(|a| a.id),
        )?;
        if attachments.is_empty() {
            return Ok(Reset::Unaffected);
        }
        let generation = self.next_generation()?;
        let valid = self.holding_valid()?;
        let invalidated =
            Vec::try_from_iter(attachments.iter().copied().filter(|id| valid.contains(id)))?;
        self.generation = generation;
        for attachment in &mut self.attachments {
            if attachments.contains(&attachment.id) {
                attachment.valid_from = generation;
            }
        }
        Ok(Reset::Importers {
            generation,
            attachments,
            invalidated,
        })
    }
}
