//! Keeping attachments correct when the machine changes under them.
//!
//! A private link can go down (an NVLink lane fails, an xGMI hive loses a member), and then an
//! agreement over it is worthless: its mapping must become stale, and the importer must fall
//! back. The caller changes its [`Fabric`](crate::Fabric) and then calls
//! [`Buffer::revalidate`], which, for the current placement:
//!
//! 1. re-runs the chosen pair's match for every current agreement; those that no longer match,
//!    or match by another route, are **affected**; agreements awaiting renegotiation after a
//!    move are checked for reachability; lost attachments are tried again;
//! 2. renegotiates every affected attachment for the current placement (falling back, e.g. from
//!    NVLink to PCIe P2P); their mappings become stale;
//! 3. if some active attachment reaches the current placement by no interconnect at all, moves
//!    the buffer to the most preferred placement everyone reaches (e.g. system memory), as
//!    attach would; if that is impossible (pinned, migration forbidden, no such placement),
//!    marks those attachments [`Lost`](crate::AgreementState::Lost) with the reason.
//!
//! Agreements that still hold are left alone, even if a better route appeared (no churn).

use core::fmt;

use crate::renegotiation::negotiate_at;
use crate::storage::FallibleVec;
use crate::{
    Agreed, AgreementState, AttachmentId, Buffer, Change, Describe, Generation, LifecycleError,
    Migration, Names, NoMigration, OpaqueNames, Platform, Unreachable, Vec,
};

/// An attachment that fell back to another agreement for the same placement.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Renegotiated {
    /// The attachment.
    pub attachment: AttachmentId,
    /// Old → new.
    pub change: Change,
}

/// An attachment that reaches the buffer by nothing any more.
#[derive(PartialEq, Eq, Debug)]
#[cfg_attr(feature = "alloc", derive(Clone))]
pub struct LostAttachment {
    /// The attachment.
    pub attachment: AttachmentId,
    /// Why.
    pub reason: Unreachable,
}

/// What [`Buffer::revalidate`] did. Empty (and no new generation) if nothing was affected.
#[derive(PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "alloc", derive(Clone))]
pub struct Revalidation {
    /// The generation it started, if anything was affected.
    pub generation: Option<Generation>,
    /// Attachments that fell back at the current placement.
    pub renegotiated: Vec<Renegotiated>,
    /// Lost attachments that reach the buffer again, with their new agreement.
    pub recovered: Vec<(AttachmentId, Agreed)>,
    /// The move made so that everyone reaches the buffer again.
    pub migration: Option<Migration>,
    /// Attachments that reach the buffer by nothing, and could not be rescued by a move.
    pub lost: Vec<LostAttachment>,
    /// Why the buffer was not moved to rescue the lost ones.
    pub no_migration: Option<NoMigration>,
    /// Attachments whose valid mapping became stale.
    pub invalidated: Vec<AttachmentId>,
}

impl Revalidation {
    /// Whether anything changed.
    pub fn is_empty(&self) -> bool {
        self.generation.is_none()
    }
}

impl Describe for Revalidation {
    fn describe(&self, f: &mut fmt::Formatter<'_>, names: &dyn Names) -> fmt::Result {
        let Some(generation) = self.generation else {
            return f.write_str("no attachment affected");
        };
        write!(f, "{generation}:")?;
        for r in &self.renegotiated {
            write!(
                f,
                " {} fell back ({});",
                r.attachment.named(names),
                r.change.named(names)
            )?;
        }
        for (id, agreed) in &self.recovered {
            write!(
                f,
                " {id} recovered ({agreed});",
                id = id.named(names),
                agreed = agreed.named(names)
            )?;
        }
        if let Some(m) = &self.migration {
            write!(f, " {m};", m = m.named(names))?;
        }
        for l in &self.lost {
            write!(
                f,
                " {} lost: {};",
                l.attachment.named(names),
                l.reason.named(names)
            )?;
        }
        if let Some(why) = &self.no_migration {
            write!(f, " not moved: {why};", why = why.named(names))?;
        }
        Ok(())
    }
}

impl fmt::Display for Revalidation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.describe(f, &OpaqueNames)
    }
}

impl Buffer {
    /// The machine changed (a private link went down or came back, a route changed): brings
    /// every attachment in line with `platform` as it is now. For the current placement:
    ///
    /// 1. re-runs the chosen pair's match for every current agreement; those that no longer
    ///    match, or match by another route, are affected; agreements awaiting renegotiation
    ///    after a move are checked for reachability; lost attachments are tried again;
    /// 2. renegotiates every affected attachment for the current placement (falling back, e.g.
    ///    from NVLink to PCIe P2P); their mappings become stale;
    /// 3. if some active attachment reaches the current placement by no interconnect at all,
    ///    moves the buffer to the most preferred placement everyone reaches (e.g. system
    ///    memory), as attach would; if that is impossible (pinned, migration forbidden, no such
    ///    placement), marks those attachments [`Lost`](AgreementState::Lost) with the reason.
    ///
    /// Agreements that still hold are left alone, even if a better route appeared (no churn).
    /// Static (pinning) importers are treated like the others: the route they used is gone, so
    /// their mapping is stale all the same and the outcome lists them; only a move is ruled out
    /// while they pin.
    ///
    /// This reports a hardware event and does not refuse it: its only errors are an exhausted
    /// generation counter and running out of memory (then nothing changed, and it may be called
    /// again). Nothing happens on a revoked buffer.
    pub fn revalidate(&mut self, platform: &Platform<'_>) -> Result<Revalidation, LifecycleError> {
        if self.revoked.is_some() {
            return Ok(Revalidation::default());
        }
        let option = self.current_option()?;
        let placement = *option.placement();
        let mut renegotiated = Vec::default();
        let mut unreachable = Vec::default();
        let mut recovered = Vec::default();
        for attachment in &self.attachments {
            let importer = &attachment.importer;
            match &attachment.state {
                AgreementState::Current(a) => {
                    if *a.placement() == placement && a.still_holds(platform) {
                        continue;
                    }
                    match negotiate_at(platform, &self.policy, option, importer)? {
                        Ok(to) => renegotiated.try_push(Renegotiated {
                            attachment: attachment.id,
                            change: Change { from: *a, to },
                        })?,
                        Err(reason) => unreachable.try_push((attachment.id, reason))?,
                    }
                }
                AgreementState::Outdated { .. } => {
                    if let Err(reason) = negotiate_at(platform, &self.policy, option, importer)? {
                        unreachable.try_push((attachment.id, reason))?;
                    }
                }
                AgreementState::Lost { .. } => {
                    if let Ok(to) = negotiate_at(platform, &self.policy, option, importer)? {
                        recovered.try_push((attachment.id, to))?;
                    }
                }
            }
        }
        if renegotiated.is_empty() && unreachable.is_empty() && recovered.is_empty() {
            return Ok(Revalidation::default());
        }
        let generation = self.next_generation()?;
        let valid_before = self.holding_valid()?;
        let mut no_migration = None;
        if !unreachable.is_empty() {
            match self.plan_migration(platform, None)? {
                Ok(plan) => {
                    let migration = self.migrate(plan.to, generation, None)?;
                    return Ok(Revalidation {
                        generation: Some(generation),
                        // What the move invalidated: every mapping valid before it.
                        invalidated: valid_before,
                        migration: Some(migration),
                        ..Revalidation::default()
                    });
                }
                Err(why) => no_migration = Some(why),
            }
        }
        // Everything the outcome reports is allocated before the attachments change.
        let mut lost = Vec::try_with_room(unreachable.len())?;
        for (attachment, reason) in &unreachable {
            lost.try_push(LostAttachment {
                attachment: *attachment,
                reason: reason.try_clone()?,
            })?;
        }
        let affected = |id: &AttachmentId| {
            renegotiated.iter().any(|r| r.attachment == *id)
                || unreachable.iter().any(|(u, _)| u == id)
        };
        let invalidated = Vec::try_from_iter(valid_before.iter().copied().filter(affected))?;
        // Nothing can fail from here on.
        self.generation = generation;
        for r in &renegotiated {
            if let Ok(attachment) = self.attachment_mut(r.attachment) {
                attachment.state = AgreementState::Current(r.change.to);
                attachment.valid_from = generation;
            }
        }
        for (id, reason) in unreachable {
            if let Ok(attachment) = self.attachment_mut(id) {
                let previous = *attachment.state.latest();
                attachment.state = AgreementState::Lost { previous, reason };
                attachment.valid_from = generation;
            }
        }
        for (id, to) in &recovered {
            if let Ok(attachment) = self.attachment_mut(*id) {
                attachment.state = AgreementState::Current(*to);
                attachment.valid_from = generation;
            }
        }
        Ok(Revalidation {
            generation: Some(generation),
            renegotiated,
            recovered,
            migration: None,
            lost,
            no_migration,
            invalidated,
        })
    }
}
