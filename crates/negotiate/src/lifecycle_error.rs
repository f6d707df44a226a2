//! Why a lifecycle operation failed.
//!
//! Every operation of a [`Buffer`](crate::Buffer) either succeeds completely or fails with a
//! [`LifecycleError`] and leaves the buffer exactly as it was. Nothing panics.

use core::fmt;

use crate::{
    AddressError, AttachmentId, Describe, MappingHandle, Names, NoMigration, OpaqueNames,
    OutOfMemory, Placement, PolicyError, RevokeReason, Unreachable, Vec,
};

/// Why a new importer could not be attached although it is allowed in principle.
#[derive(PartialEq, Eq, Debug)]
#[cfg_attr(feature = "alloc", derive(Clone))]
pub struct AttachRefusal {
    /// Why it cannot reach the buffer where it is.
    pub here: Unreachable,
    /// Why the exporter did not move the buffer somewhere it can reach.
    pub migration: NoMigration,
}

impl Describe for AttachRefusal {
    fn describe(&self, f: &mut fmt::Formatter<'_>, names: &dyn Names) -> fmt::Result {
        write!(
            f,
            "{}; and the buffer was not moved: {}",
            self.here.named(names),
            self.migration.named(names)
        )
    }
}

impl fmt::Display for AttachRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.describe(f, &OpaqueNames)
    }
}

/// Why a lifecycle operation failed. The buffer is unchanged.
#[derive(PartialEq, Eq, Debug)]
#[cfg_attr(feature = "alloc", derive(Clone))]
pub enum LifecycleError {
    /// The exporter policy cannot govern the buffer.
    Policy(PolicyError),
    /// An importer offer has driver-specific arguments, which the buffer cannot keep.
    DriverArguments {
        /// Its position in the importer's list.
        index: usize,
    },
    /// The importer lists more offers than [`MAX_IMPORTER_OFFERS`](crate::MAX_IMPORTER_OFFERS).
    TooManyOffers(usize),
    /// The buffer was revoked: nothing can attach, pin or map any more.
    Revoked(RevokeReason),
    /// No such attachment (never attached, or detached).
    UnknownAttachment(AttachmentId),
    /// A static importer that cannot give its mappings back may not attach to an exporter that
    /// may revoke.
    ImporterNotRevocable,
    /// The importer can reach neither the buffer where it is nor any placement the exporter
    /// could move it to.
    Unreachable(AttachRefusal),
    /// The attachment already holds a valid mapping.
    AlreadyMapped(MappingHandle),
    /// The handle is not the mapping its attachment holds.
    UnknownMapping(MappingHandle),
    /// The attachment holds no explicit pin (a static importer's pin lasts until detach).
    NotPinned(AttachmentId),
    /// The attachment cannot reach the buffer any more (see
    /// [`AgreementState::Lost`](crate::AgreementState::Lost)); it cannot pin.
    Lost(AttachmentId),
    /// The buffer is pinned by these attachments and cannot move.
    Pinned {
        /// The attachments holding pins.
        by: Vec<AttachmentId>,
    },
    /// The exporter policy does not allow migration.
    MigrationNotAllowed,
    /// The placement is not in the exporter policy.
    UnknownPlacement(Placement),
    /// The buffer is already there.
    AlreadyThere(Placement),
    /// Moving would leave an active attachment unable to reach the buffer.
    MoveBlocked {
        /// The attachment.
        attachment: AttachmentId,
        /// Why it cannot reach the destination.
        unreachable: Unreachable,
    },
    /// The attachment's agreement no longer fits and renegotiation found nothing (the machine
    /// changed and [`Buffer::revalidate`](crate::Buffer::revalidate) was not told yet).
    Renegotiation {
        /// The attachment.
        attachment: AttachmentId,
        /// Why nothing reaches the placement.
        unreachable: Unreachable,
    },
    /// The mapping's addresses could not be derived.
    Address(AddressError),
    /// The exporter policy does not allow revocation.
    ExporterNotRevocable,
    /// The buffer is already revoked.
    AlreadyRevoked,
    /// A counter (attachment ids, generations, mapping serials) is exhausted.
    Exhausted(&'static str),
    /// An allocation failed: nothing was changed, and the operation may be tried again.
    OutOfMemory,
}

impl Describe for LifecycleError {
    fn describe(&self, f: &mut fmt::Formatter<'_>, names: &dyn Names) -> fmt::Result {
        match self {
            LifecycleError::Policy(e) => {
                write!(f, "invalid exporter policy: {e}", e = e.named(names))
            }
            LifecycleError::DriverArguments { index } => write!(
                f,
                "importer offer {index} has driver-specific arguments, which an attachment \
                 cannot keep"
            ),
            LifecycleError::TooManyOffers(n) => write!(f, "the importer lists {n} offers"),
            LifecycleError::Revoked(why) => {
                write!(f, "the buffer was revoked ({why})", why = why.named(names))
            }
            LifecycleError::UnknownAttachment(id) => {
                write!(f, "{id} is not attached", id = id.named(names))
            }
            LifecycleError::ImporterNotRevocable => f.write_str(
                "the exporter may revoke, and a static importer that cannot give its mappings \
                 back may not attach",
            ),
            LifecycleError::Unreachable(refusal) => {
                write!(f, "refused: {refusal}", refusal = refusal.named(names))
            }
            LifecycleError::AlreadyMapped(handle) => {
                write!(f, "already mapped: {handle}", handle = handle.named(names))
            }
            LifecycleError::UnknownMapping(handle) => {
                write!(
                    f,
                    "{handle} is not the mapping its attachment holds",
                    handle = handle.named(names)
                )
            }
            LifecycleError::NotPinned(id) => {
                write!(f, "{id} holds no explicit pin", id = id.named(names))
            }
            LifecycleError::Lost(id) => write!(
                f,
                "{id} cannot reach the buffer any more",
                id = id.named(names)
            ),
            LifecycleError::Pinned { by } => {
                f.write_str("the buffer is pinned by")?;
                for id in by {
                    write!(f, " {id}", id = id.named(names))?;
                }
                f.write_str(" and cannot move")
            }
            LifecycleError::MigrationNotAllowed => {
                f.write_str("the exporter policy does not allow migration")
            }
            LifecycleError::UnknownPlacement(p) => {
                write!(
                    f,
                    "{p} is not a placement of the exporter policy",
                    p = p.named(names)
                )
            }
            LifecycleError::AlreadyThere(p) => {
                write!(f, "the buffer is already in {p}", p = p.named(names))
            }
            LifecycleError::MoveBlocked {
                attachment,
                unreachable,
            } => write!(
                f,
                "moving would cut off {attachment}: {unreachable}",
                attachment = attachment.named(names),
                unreachable = unreachable.named(names)
            ),
            LifecycleError::Renegotiation {
                attachment,
                unreachable,
            } => write!(
                f,
                "renegotiation for {attachment} failed: {unreachable}",
                attachment = attachment.named(names),
                unreachable = unreachable.named(names)
            ),
            LifecycleError::Address(e) => {
                write!(f, "cannot derive addresses: {e}", e = e.named(names))
            }
            LifecycleError::ExporterNotRevocable => {
                f.write_str("the exporter policy does not allow revocation")
            }
            LifecycleError::AlreadyRevoked => f.write_str("the buffer is already revoked"),
            LifecycleError::Exhausted(what) => write!(f, "{what} exhausted"),
            LifecycleError::OutOfMemory => f.write_str("out of memory"),
        }
    }
}

impl fmt::Display for LifecycleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.describe(f, &OpaqueNames)
    }
}

impl core::error::Error for LifecycleError {}

impl From<PolicyError> for LifecycleError {
    fn from(e: PolicyError) -> Self {
        LifecycleError::Policy(e)
    }
}

impl From<OutOfMemory> for LifecycleError {
    fn from(_: OutOfMemory) -> Self {
        LifecycleError::OutOfMemory
    }
}

impl From<AddressError> for LifecycleError {
    fn from(e: AddressError) -> Self {
        LifecycleError::Address(e)
    }
}
