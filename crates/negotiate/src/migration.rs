//! Moving a buffer between the exporter's placements.
//!
//! The exporter moves a buffer on its own initiative ([`Buffer::move_to`], e.g. evicting VRAM to
//! system memory), to let a less capable importer attach ([`Buffer::attach`]), or to rescue
//! importers that a machine change cut off ([`Buffer::revalidate`]). Every move:
//!
//! - is refused while anything pins the buffer, or when the policy forbids migration;
//! - goes only where every active importer can reach (checked by negotiating each one for the
//!   destination), so nobody is cut off by it;
//! - starts a new generation in which every earlier mapping is stale (the kernel's
//!   `dma_buf_invalidate_mappings`, under the reservation lock), and leaves every agreement
//!   [`Outdated`](crate::AgreementState::Outdated), to be renegotiated at the next map.

use core::fmt;

use crate::renegotiation::negotiate_at;
use crate::storage::FallibleVec;
use crate::{
    Agreed, AgreementState, Attachment, AttachmentId, Buffer, Describe, Generation, Importer,
    LifecycleError, Names, OpaqueNames, OutOfMemory, Placement, Platform, Validity, Vec,
};

/// A move the exporter made.
#[derive(PartialEq, Eq, Debug)]
#[cfg_attr(feature = "alloc", derive(Clone))]
pub struct Migration {
    /// Where the buffer was.
    pub from: Placement,
    /// Where it is now.
    pub to: Placement,
    /// The generation the move started: every mapping issued before it is stale.
    pub generation: Generation,
    /// The attachments whose valid mapping became stale.
    pub invalidated: Vec<AttachmentId>,
    /// The attachments that renegotiate at their next map.
    pub renegotiate: Vec<AttachmentId>,
}

impl Describe for Migration {
    fn describe(&self, f: &mut fmt::Formatter<'_>, names: &dyn Names) -> fmt::Result {
        write!(
            f,
            "moved from {} to {} ({}); {} mapping(s) invalidated",
            self.from.named(names),
            self.to.named(names),
            self.generation,
            self.invalidated.len()
        )
    }
}

impl fmt::Display for Migration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.describe(f, &OpaqueNames)
    }
}

/// A placement ruled out for a move, and who could not reach it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Blocked {
    /// The placement.
    pub placement: Placement,
    /// The first attachment that cannot reach it, or `None` for the importer asking to attach.
    pub by: Option<AttachmentId>,
}

/// Why the exporter did not move the buffer.
#[derive(PartialEq, Eq, Debug)]
#[cfg_attr(feature = "alloc", derive(Clone))]
pub enum NoMigration {
    /// The exporter policy does not allow migration.
    NotAllowed,
    /// These attachments pin the buffer.
    Pinned(Vec<AttachmentId>),
    /// No other placement is reachable by everyone; for each, who could not reach it.
    NoPlacement(Vec<Blocked>),
}

impl Describe for NoMigration {
    fn describe(&self, f: &mut fmt::Formatter<'_>, names: &dyn Names) -> fmt::Result {
        match self {
            NoMigration::NotAllowed => f.write_str("the exporter policy does not allow migration"),
            NoMigration::Pinned(by) => {
                f.write_str("it is pinned by")?;
                for id in by {
                    write!(f, " {id}", id = id.named(names))?;
                }
                Ok(())
            }
            NoMigration::NoPlacement(blocked) if blocked.is_empty() => {
                f.write_str("the exporter has no other placement")
            }
            NoMigration::NoPlacement(blocked) => {
                f.write_str("no other placement is reachable by every importer")?;
                let mut sep = " (";
                for b in blocked {
                    match b.by {
                        Some(id) => write!(
                            f,
                            "{sep}{} not by {id}",
                            b.placement.named(names),
                            id = id.named(names)
                        )?,
                        None => write!(
                            f,
                            "{sep}{} not by the new importer",
                            b.placement.named(names)
                        )?,
                    }
                    sep = "; ";
                }
                f.write_str(")")
            }
        }
    }
}

impl fmt::Display for NoMigration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.describe(f, &OpaqueNames)
    }
}

/// Where to move, and the newcomer's agreement there.
pub(crate) struct MigrationPlan {
    pub(crate) to: Placement,
    pub(crate) newcomer: Option<Agreed>,
}

impl Buffer {
    /// The most preferred other placement that `newcomer` (if any) and every active attachment
    /// reach, or why there is none. Changes nothing; the outer error is an allocation failure.
    pub(crate) fn plan_migration(
        &self,
        platform: &Platform<'_>,
        newcomer: Option<&Importer>,
    ) -> Result<Result<MigrationPlan, NoMigration>, OutOfMemory> {
        if !self.policy.may_migrate() {
            return Ok(Err(NoMigration::NotAllowed));
        }
        if self.is_pinned() {
            return Ok(Err(NoMigration::Pinned(Vec::try_from_iter(
                self.pinned_by(),
            )?)));
        }
        let mut blocked = Vec::default();
        'placements: for option in self.policy.placements() {
            let placement = *option.placement();
            if placement == self.current {
                continue;
            }
            let newcomer = match newcomer {
                Some(importer) => match negotiate_at(platform, &self.policy, option, importer)? {
                    Ok(agreed) => Some(agreed),
                    Err(_) => {
                        blocked.try_push(Blocked {
                            placement,
                            by: None,
                        })?;
                        continue;
                    }
                },
                None => None,
            };
            for attachment in self.attachments.iter().filter(|a| a.is_active()) {
                if negotiate_at(platform, &self.policy, option, &attachment.importer)?.is_err() {
                    blocked.try_push(Blocked {
                        placement,
                        by: Some(attachment.id),
                    })?;
                    continue 'placements;
                }
            }
            return Ok(Ok(MigrationPlan {
                to: placement,
                newcomer,
            }));
        }
        Ok(Err(NoMigration::NoPlacement(blocked)))
    }

    /// Moves to `to` (one of the policy's placements) in `generation`: every mapping becomes
    /// stale and every active agreement renegotiates at its next map. With `newcomer`, also
    /// attaches it (its agreement is already for the destination, so the move neither
    /// invalidates nor outdates it).
    ///
    /// Everything was checked by the caller; what can still fail is allocation, and all of it
    /// happens before the buffer changes: on error the buffer is as it was.
    pub(crate) fn migrate(
        &mut self,
        to: Placement,
        generation: Generation,
        newcomer: Option<Attachment>,
    ) -> Result<Migration, OutOfMemory> {
        let invalidated = self.holding_valid()?;
        let renegotiate = Vec::try_from_iter(
            self.attachments
                .iter()
                .filter(|a| a.is_active())
                .map(|a| a.id),
        )?;
        let from = *self.placement();
        let existing = self.attachments.len();
        if let Some(attachment) = newcomer {
            self.attachments.try_push(attachment)?;
        }
        // Nothing can fail from here on.
        self.current = to;
        self.generation = generation;
        for attachment in self.attachments.iter_mut().take(existing) {
            attachment.valid_from = generation;
            if let AgreementState::Current(previous) = attachment.state {
                attachment.state = AgreementState::Outdated { previous };
            }
        }
        Ok(Migration {
            from,
            to,
            generation,
            invalidated,
            renegotiate,
        })
    }

    /// The attachments that hold a valid mapping.
    pub(crate) fn holding_valid(&self) -> Result<Vec<AttachmentId>, OutOfMemory> {
        Vec::try_from_iter(
            self.attachments
                .iter()
                .filter(|a| {
                    a.held
                        .as_ref()
                        .is_some_and(|h| self.validity(a, h) == Validity::Valid)
                })
                .map(|a| a.id),
        )
    }

    /// Moves the buffer to `placement` (exporter-initiated migration, under the reservation
    /// lock), invalidating every importer's mappings; each renegotiates at its next map.
    ///
    /// Fails, changing nothing, if the buffer was revoked, `placement` is not in the policy or
    /// is where the buffer already is, the policy forbids migration, anything pins the buffer
    /// ([`LifecycleError::Pinned`]), an active importer could not reach `placement`
    /// ([`LifecycleError::MoveBlocked`]), or memory runs out.
    pub fn move_to(
        &mut self,
        platform: &Platform<'_>,
        placement: &Placement,
    ) -> Result<Migration, LifecycleError> {
        if let Some(reason) = self.revoked {
            return Err(LifecycleError::Revoked(reason));
        }
        let option = self
            .policy
            .option(placement)
            .ok_or(LifecycleError::UnknownPlacement(*placement))?;
        if *placement == self.current {
            return Err(LifecycleError::AlreadyThere(*placement));
        }
        if !self.policy.may_migrate() {
            return Err(LifecycleError::MigrationNotAllowed);
        }
        if self.is_pinned() {
            let by = Vec::try_from_iter(self.pinned_by())?;
            return Err(LifecycleError::Pinned { by });
        }
        for attachment in self.attachments.iter().filter(|a| a.is_active()) {
            if let Err(unreachable) =
                negotiate_at(platform, &self.policy, option, &attachment.importer)?
            {
                return Err(LifecycleError::MoveBlocked {
                    attachment: attachment.id,
                    unreachable,
                });
            }
        }
        let generation = self.next_generation()?;
        Ok(self.migrate(*placement, generation, None)?)
    }
}
