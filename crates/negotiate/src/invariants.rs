//! The lifecycle's invariants, checkable by anyone at any time.
//!
//! [`violations`] checks one state of a buffer against the machine as it is now; a [`Monitor`]
//! watches a sequence of states (call [`Monitor::observe`] after every event) and adds the rules
//! that are about change. A simulator calls the monitor after each event and fails if anything
//! comes back; the property tests do the same after every random operation.
//!
//! State rules ([`violations`]):
//! - a mapping that [`Buffer::mapping`] accepts was derived from the **current** placement, is
//!   exactly what the current placement and the attachment's current agreement give, and is
//!   addressed to the importer's own device, fabric port or trust;
//! - a revoked buffer accepts no mapping;
//! - every current agreement is for the current placement, still matches on the machine by the
//!   same route (unless the buffer is revoked), and keeps the trust and fabric rules: `phys` only to a trusted importer,
//!   `private-iova` only on a fabric both ends share and the fabric connects, no virtual function
//!   reaching another's memory;
//! - every agreement awaiting renegotiation can be renegotiated for the current placement (so
//!   every active attachment reaches the buffer);
//! - every pin was taken where the buffer is now, and every static attachment pins;
//! - no generation is ahead of the buffer's.
//!
//! Change rules ([`Monitor`]):
//! - generations never go back; a pinned buffer does not move; a revoked buffer stays revoked
//!   and never maps again;
//! - after a move or a revoke, no mapping issued before it is usable;
//! - a mapping that was unusable never becomes usable again.

use core::fmt;

use crate::mapping::{AddressSpace, Mapping};
use crate::renegotiation::negotiate_at;
use crate::storage::FallibleVec;
use crate::{
    AgreementState, AttachmentId, Buffer, Describe, DeviceId, FabricId, Generation, LifecycleError,
    MappingHandle, Names, Offering, OpaqueNames, OutOfMemory, PHYS, PRIVATE_IOVA, Placement,
    Platform, Rejection, Relation, StoredArgs, Unreachable, Vec,
};

/// A broken invariant.
#[derive(PartialEq, Eq, Debug)]
#[cfg_attr(feature = "alloc", derive(Clone))]
pub enum Violation {
    /// A usable mapping was derived from a placement the buffer has left.
    MappingOfOtherPlacement {
        /// The attachment.
        attachment: AttachmentId,
        /// The placement the mapping was derived from.
        mapped: Placement,
        /// Where the buffer is.
        current: Placement,
    },
    /// A revoked buffer accepted a mapping.
    MappingAfterRevoke(AttachmentId),
    /// A usable mapping whose attachment has no current agreement.
    MappingWithoutAgreement(AttachmentId),
    /// A usable mapping differs from what the current placement and agreement give.
    MappingDiffers(AttachmentId),
    /// A usable mapping is addressed to someone other than its importer.
    MappingMisaddressed {
        /// The attachment.
        attachment: AttachmentId,
        /// The space the addresses are valid in.
        space: AddressSpace,
    },
    /// A current agreement was made for another placement.
    AgreementForOtherPlacement(AttachmentId),
    /// `phys` was agreed with an importer that is not trusted with physical addresses.
    PhysToUntrusted(AttachmentId),
    /// `private-iova` was agreed off the fabric (different fabrics, or not connected).
    PrivateIovaOffFabric {
        /// The attachment.
        attachment: AttachmentId,
        /// The exporter's fabric.
        fabric: FabricId,
    },
    /// A virtual function reaches another virtual function's memory.
    VirtualFunctionReach {
        /// The attachment.
        attachment: AttachmentId,
        /// The importing VF.
        device: DeviceId,
    },
    /// A current agreement no longer matches on the machine (or by another route).
    RouteGone {
        /// The attachment.
        attachment: AttachmentId,
        /// Why it does not match, or `None` if it matches by another route.
        rejection: Option<Rejection>,
    },
    /// The agreed importer entry is not the importer's.
    ForeignImporterOffer(AttachmentId),
    /// An active attachment cannot reach the current placement.
    Unreachable {
        /// The attachment.
        attachment: AttachmentId,
        /// Why.
        reason: Unreachable,
    },
    /// A pin was taken where the buffer no longer is.
    PinnedElsewhere {
        /// The attachment.
        attachment: AttachmentId,
        /// Where it pinned.
        pinned_at: Placement,
        /// Where the buffer is.
        current: Placement,
    },
    /// A static or pinning attachment records no pin.
    PinNotRecorded(AttachmentId),
    /// A generation ahead of the buffer's.
    FutureGeneration(AttachmentId),
    /// Attachments out of order or with an id never handed out.
    BadAttachmentIds,
    /// The buffer is in a placement its policy does not list.
    PlacementNotInPolicy(Placement),
    /// The buffer's generation went back.
    GenerationWentBack {
        /// Before.
        from: Generation,
        /// After.
        to: Generation,
    },
    /// A pinned buffer moved.
    PinnedBufferMoved {
        /// Before.
        from: Placement,
        /// After.
        to: Placement,
    },
    /// A revoked buffer is no longer revoked.
    Unrevoked,
    /// A revoked buffer issued a mapping.
    MappedAfterRevoke(MappingHandle),
    /// A mapping issued before a move or revoke is still usable.
    SurvivedInvalidation(MappingHandle),
    /// A mapping that was unusable became usable again.
    StaleMappingRevived(MappingHandle),
}

impl Describe for Violation {
    fn describe(&self, f: &mut fmt::Formatter<'_>, names: &dyn Names) -> fmt::Result {
        match self {
            Violation::MappingOfOtherPlacement {
                attachment,
                mapped,
                current,
            } => write!(
                f,
                "{attachment} holds a usable mapping of {mapped}, but the buffer is in {current}",
                attachment = attachment.named(names),
                mapped = mapped.named(names),
                current = current.named(names),
            ),
            Violation::MappingAfterRevoke(id) => write!(
                f,
                "{id} holds a usable mapping of a revoked buffer",
                id = id.named(names),
            ),
            Violation::MappingWithoutAgreement(id) => write!(
                f,
                "{id} holds a usable mapping but has no current agreement",
                id = id.named(names),
            ),
            Violation::MappingDiffers(id) => write!(
                f,
                "{id} holds a usable mapping that is not what the current placement gives",
                id = id.named(names),
            ),
            Violation::MappingMisaddressed { attachment, space } => write!(
                f,
                "{attachment} holds addresses valid for {space}, which is not its importer",
                attachment = attachment.named(names),
                space = space.named(names),
            ),
            Violation::AgreementForOtherPlacement(id) => write!(
                f,
                "{id}'s current agreement was negotiated for another placement",
                id = id.named(names),
            ),
            Violation::PhysToUntrusted(id) => write!(
                f,
                "{id} was given phys but is not a trusted importer",
                id = id.named(names),
            ),
            Violation::PrivateIovaOffFabric { attachment, fabric } => write!(
                f,
                "{attachment} agreed private-iova on {fabric}, which does not connect it",
                attachment = attachment.named(names),
                fabric = fabric.named(names),
            ),
            Violation::VirtualFunctionReach { attachment, device } => write!(
                f,
                "{attachment}: virtual function {device} reaches another virtual function's memory",
                attachment = attachment.named(names),
                device = device.named(names),
            ),
            Violation::RouteGone {
                attachment,
                rejection: Some(why),
            } => write!(
                f,
                "{attachment}'s agreement no longer matches: {why}",
                attachment = attachment.named(names),
                why = why.named(names),
            ),
            Violation::RouteGone {
                attachment,
                rejection: None,
            } => write!(
                f,
                "{attachment}'s agreement now takes another route",
                attachment = attachment.named(names),
            ),
            Violation::ForeignImporterOffer(id) => write!(
                f,
                "{id}'s agreement names an entry its importer did not offer",
                id = id.named(names),
            ),
            Violation::Unreachable { attachment, reason } => write!(
                f,
                "active {attachment} cannot reach the buffer: {reason}",
                attachment = attachment.named(names),
                reason = reason.named(names),
            ),
            Violation::PinnedElsewhere {
                attachment,
                pinned_at,
                current,
            } => write!(
                f,
                "{attachment} pinned the buffer in {pinned_at}, but it is in {current}",
                attachment = attachment.named(names),
                pinned_at = pinned_at.named(names),
                current = current.named(names),
            ),
            Violation::PinNotRecorded(id) => write!(
                f,
                "{id} pins the buffer but records no pin",
                id = id.named(names),
            ),
            Violation::FutureGeneration(id) => write!(
                f,
                "{id} has a generation ahead of the buffer's",
                id = id.named(names),
            ),
            Violation::BadAttachmentIds => f.write_str("attachment ids out of order"),
            Violation::PlacementNotInPolicy(p) => write!(
                f,
                "the buffer is in {p}, which its policy does not list",
                p = p.named(names),
            ),
            Violation::GenerationWentBack { from, to } => {
                write!(f, "the generation went back from {from} to {to}")
            }
            Violation::PinnedBufferMoved { from, to } => write!(
                f,
                "the pinned buffer moved from {from} to {to}",
                from = from.named(names),
                to = to.named(names),
            ),
            Violation::Unrevoked => f.write_str("a revoked buffer is no longer revoked"),
            Violation::MappedAfterRevoke(h) => {
                write!(f, "a revoked buffer issued {h}", h = h.named(names))
            }
            Violation::SurvivedInvalidation(h) => write!(
                f,
                "{h} is still usable after a move or revoke",
                h = h.named(names),
            ),
            Violation::StaleMappingRevived(h) => {
                write!(f, "{h} became usable again", h = h.named(names))
            }
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.describe(f, &OpaqueNames)
    }
}

/// Whether `space` is addressed to the importer entry `args`.
fn addressed_to(space: AddressSpace, args: StoredArgs, placement: &Placement) -> bool {
    match (space, args) {
        (AddressSpace::Device(d) | AddressSpace::PciBus(d), StoredArgs::Device { device, .. }) => {
            d == device
        }
        (AddressSpace::Vram(v), StoredArgs::Device { .. }) => {
            matches!(placement, Placement::Vram { vram, .. } if *vram == v)
        }
        (AddressSpace::Fabric(port), StoredArgs::Fabric { fabric, initiator }) => {
            port.fabric == fabric && port.initiator == initiator
        }
        (AddressSpace::Physical(t), StoredArgs::Phys { trust, .. }) => {
            t.trust() == trust && trust.is_trusted()
        }
        _ => false,
    }
}

/// The violations found so far, and whether the check ran out of memory (so that the list,
/// or the check itself, is incomplete).
#[derive(Default)]
struct Found {
    list: Vec<Violation>,
    out_of_memory: bool,
}

impl Found {
    fn push(&mut self, violation: Violation) {
        self.out_of_memory |= self.list.try_push(violation).is_err();
    }

    fn finish(self) -> Result<Vec<Violation>, OutOfMemory> {
        if self.out_of_memory {
            Err(OutOfMemory)
        } else {
            Ok(self.list)
        }
    }
}

/// Every invariant the state of `buffer` breaks on the machine `platform` as it is now.
/// Empty when all hold. Fails only when memory runs out (checking renegotiates, which
/// allocates): then nothing can be concluded.
pub fn violations(buffer: &Buffer, platform: &Platform<'_>) -> Result<Vec<Violation>, OutOfMemory> {
    let mut out = Found::default();
    let current = *buffer.placement();
    let generation = buffer.generation();
    let fabric = platform.fabric();
    // On a revoked buffer nothing can map again, so agreements need not follow the machine.
    let live = !buffer.is_revoked();

    if buffer.placement_option().is_none() {
        out.push(Violation::PlacementNotInPolicy(current));
    }
    let mut previous: Option<AttachmentId> = None;
    let ids_ok = buffer
        .attachments()
        .iter()
        .all(|a| previous.replace(a.id()).is_none_or(|p| p < a.id()))
        && buffer
            .attachments()
            .iter()
            .all(|a| a.id().get() < buffer.next_id);
    if !ids_ok {
        out.push(Violation::BadAttachmentIds);
    }

    for attachment in buffer.attachments() {
        let id = attachment.id();
        if attachment.valid_from() > generation
            || attachment
                .held()
                .is_some_and(|h| h.generation() > generation)
        {
            out.push(Violation::FutureGeneration(id));
        }

        // Pins.
        if attachment.is_pinning() {
            match attachment.pinned_at() {
                None => out.push(Violation::PinNotRecorded(id)),
                Some(p) if *p != current => out.push(Violation::PinnedElsewhere {
                    attachment: id,
                    pinned_at: *p,
                    current,
                }),
                Some(_) => {}
            }
        }

        // The mapping it holds, if usable.
        if let Some(handle) = attachment.held()
            && let Ok(mapping) = buffer.mapping(&handle)
        {
            check_mapping(buffer, platform, attachment, mapping, &mut out);
        }

        // Its agreement.
        match attachment.state() {
            AgreementState::Current(agreed) => {
                if *agreed.placement() != current {
                    out.push(Violation::AgreementForOtherPlacement(id));
                }
                let index = usize::from(agreed.importer_index());
                if attachment.importer().offers().get(index) != Some(agreed.importer_offer()) {
                    out.push(Violation::ForeignImporterOffer(id));
                }
                let args = *agreed.importer_offer().args();
                if agreed.interconnect().is(&PHYS)
                    && !matches!(args, StoredArgs::Phys { trust, .. } if trust.is_trusted())
                {
                    out.push(Violation::PhysToUntrusted(id));
                }
                if agreed.interconnect().is(&PRIVATE_IOVA) {
                    let on_fabric = match (agreed.offering(), args, agreed.placement().owner()) {
                        (
                            Offering::PrivateIova(f),
                            StoredArgs::Fabric {
                                fabric: g,
                                initiator,
                            },
                            Some(owner),
                        ) => (f == g
                            && (!live || fabric.private_route(f, initiator, owner).is_ok()))
                        .then_some(f),
                        _ => None,
                    };
                    if on_fabric.is_none() {
                        let f = match agreed.offering() {
                            Offering::PrivateIova(f) => f,
                            _ => FabricId(u32::MAX),
                        };
                        out.push(Violation::PrivateIovaOffFabric {
                            attachment: id,
                            fabric: f,
                        });
                    }
                }
                if let (Some(owner), Some(device)) =
                    (agreed.placement().owner(), agreed.importer_offer().device())
                    && fabric.relation(device, owner) == Relation::OtherVirtualFunction
                {
                    out.push(Violation::VirtualFunctionReach {
                        attachment: id,
                        device,
                    });
                }
                match agreed.recheck(platform) {
                    _ if !live => {}
                    Ok(route) if route == *agreed.route() => {}
                    Ok(_) => out.push(Violation::RouteGone {
                        attachment: id,
                        rejection: None,
                    }),
                    Err(why) => out.push(Violation::RouteGone {
                        attachment: id,
                        rejection: Some(why),
                    }),
                }
            }
            AgreementState::Outdated { .. } if live => {
                // Without the current placement's entry (reported above) there is nothing to
                // negotiate against.
                let Some(option) = buffer.placement_option() else {
                    continue;
                };
                match negotiate_at(platform, buffer.policy(), option, attachment.importer()) {
                    Ok(Ok(_)) => {}
                    Ok(Err(reason)) => out.push(Violation::Unreachable {
                        attachment: id,
                        reason,
                    }),
                    Err(OutOfMemory) => out.out_of_memory = true,
                }
            }
            AgreementState::Outdated { .. } | AgreementState::Lost { .. } => {}
        }
    }
    out.finish()
}

fn check_mapping(
    buffer: &Buffer,
    platform: &Platform<'_>,
    attachment: &crate::Attachment,
    mapping: &Mapping,
    out: &mut Found,
) {
    let id = attachment.id();
    let current = *buffer.placement();
    if buffer.is_revoked() {
        out.push(Violation::MappingAfterRevoke(id));
    }
    if let Some(held) = &attachment.held
        && held.placement != current
    {
        out.push(Violation::MappingOfOtherPlacement {
            attachment: id,
            mapped: held.placement,
            current,
        });
    }
    let Some(agreed) = attachment.state().current() else {
        out.push(Violation::MappingWithoutAgreement(id));
        return;
    };
    let space = mapping.valid_for();
    if !addressed_to(space, *agreed.importer_offer().args(), &current) {
        out.push(Violation::MappingMisaddressed {
            attachment: id,
            space,
        });
    }
    let fresh = crate::addressing::derive(
        platform,
        buffer.policy().apertures(),
        &current,
        buffer.size(),
        agreed,
    );
    match fresh {
        Err(LifecycleError::OutOfMemory) => out.out_of_memory = true,
        Ok(ref fresh) if fresh == mapping => {}
        _ => out.push(Violation::MappingDiffers(id)),
    }
}

/// What the monitor remembers of the last state it saw.
#[derive(Clone, Copy, Debug)]
struct Seen {
    placement: Placement,
    generation: Generation,
    revoked: bool,
    pinned: bool,
}

/// Watches a buffer event by event and checks the state and change rules.
///
/// It remembers every mapping it has seen (one entry per mapping the buffer issued).
#[derive(Debug, Default)]
#[cfg_attr(feature = "alloc", derive(Clone))]
pub struct Monitor {
    last: Option<Seen>,
    /// Every mapping seen so far, and whether it was usable when last looked at.
    handles: Vec<(MappingHandle, bool)>,
}

impl Monitor {
    /// A monitor that has seen nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every mapping handle seen so far.
    pub fn handles(&self) -> impl Iterator<Item = MappingHandle> + '_ {
        self.handles.iter().map(|(h, _)| *h)
    }

    /// Checks the buffer after an event: [`violations`], plus the change rules against the
    /// state seen last time. Call it after every event, including failed operations.
    ///
    /// Fails only when memory runs out; the monitor may then have missed mappings, and a new
    /// one should take over.
    pub fn observe(
        &mut self,
        buffer: &Buffer,
        platform: &Platform<'_>,
    ) -> Result<Vec<Violation>, OutOfMemory> {
        let mut out = Found {
            list: violations(buffer, platform)?,
            out_of_memory: false,
        };
        let now = Seen {
            placement: *buffer.placement(),
            generation: buffer.generation(),
            revoked: buffer.is_revoked(),
            pinned: buffer.is_pinned(),
        };
        if let Some(last) = self.last {
            if now.generation < last.generation {
                out.push(Violation::GenerationWentBack {
                    from: last.generation,
                    to: now.generation,
                });
            }
            if last.pinned && now.placement != last.placement {
                out.push(Violation::PinnedBufferMoved {
                    from: last.placement,
                    to: now.placement,
                });
            }
            if last.revoked && !now.revoked {
                out.push(Violation::Unrevoked);
            }
            let invalidating = now.placement != last.placement || (now.revoked && !last.revoked);
            for (handle, was_usable) in &mut self.handles {
                let usable = buffer.mapping(handle).is_ok();
                if usable && !*was_usable {
                    out.push(Violation::StaleMappingRevived(*handle));
                }
                if usable && invalidating {
                    out.push(Violation::SurvivedInvalidation(*handle));
                }
                *was_usable = usable;
            }
            if last.revoked {
                for handle in buffer.attachments().iter().filter_map(|a| a.held()) {
                    if !self.handles.iter().any(|(h, _)| *h == handle) {
                        out.push(Violation::MappedAfterRevoke(handle));
                    }
                }
            }
        }
        for handle in buffer.attachments().iter().filter_map(|a| a.held()) {
            if !self.handles.iter().any(|(h, _)| *h == handle) {
                self.handles
                    .try_push((handle, buffer.mapping(&handle).is_ok()))?;
            }
        }
        self.last = Some(now);
        out.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{FLAT, Flat, PEER, buffer, ram, vram};
    use crate::{Importer, ImporterOffer};

    /// A buffer with an NVLink peer and a P2P importer, both mapped.
    fn mapped() -> (Buffer, [MappingHandle; 2]) {
        let platform = Platform::new(&FLAT);
        let mut b = buffer();
        let nvlink = b
            .attach(
                &platform,
                Importer::dynamic(&[
                    ImporterOffer::private_iova(crate::testing::LINK, PEER),
                    ImporterOffer::dma_addr(PEER, true),
                ])
                .unwrap(),
            )
            .unwrap();
        let p2p = b
            .attach(
                &platform,
                Importer::dynamic(&[ImporterOffer::dma_addr(PEER, true)]).unwrap(),
            )
            .unwrap();
        let h1 = b.map(&platform, nvlink.id).unwrap().handle;
        let h2 = b.map(&platform, p2p.id).unwrap().handle;
        (b, [h1, h2])
    }

    #[test]
    fn a_consistent_buffer_has_no_violation() {
        let (b, _) = mapped();
        let platform = Platform::new(&FLAT);
        assert_eq!(violations(&b, &platform).unwrap(), []);
        let mut monitor = Monitor::new();
        assert_eq!(monitor.observe(&b, &platform).unwrap(), []);
        assert_eq!(monitor.handles().count(), 2);
    }

    #[test]
    fn a_move_without_invalidation_is_caught() {
        let (mut b, [h1, _]) = mapped();
        let platform = Platform::new(&FLAT);
        let mut monitor = Monitor::new();
        assert!(monitor.observe(&b, &platform).unwrap().is_empty());
        // Tamper: change the placement behind the lifecycle's back.
        b.current = ram();
        let found = monitor.observe(&b, &platform).unwrap();
        assert!(found.iter().any(|v| matches!(
            v,
            Violation::MappingOfOtherPlacement { current, .. } if *current == ram()
        )));
        assert!(found.contains(&Violation::SurvivedInvalidation(h1)));
        assert!(
            found
                .iter()
                .any(|v| matches!(v, Violation::AgreementForOtherPlacement(_)))
        );
        assert!(found.iter().all(|v| !v.to_string().is_empty()));
    }

    #[test]
    fn a_placement_outside_the_policy_is_caught_and_refused_without_panic() {
        let (mut b, [h1, _]) = mapped();
        let platform = Platform::new(&FLAT);
        // Tamper: a placement the policy does not list (the lifecycle never sets one).
        let elsewhere = Placement::system(None, crate::PhysAddr::new(0xdead_0000));
        b.current = elsewhere;
        let found = violations(&b, &platform).unwrap();
        assert!(found.contains(&Violation::PlacementNotInPolicy(elsewhere)));
        b.unmap(&h1).unwrap();
        assert_eq!(
            b.map(&platform, h1.attachment()).unwrap_err(),
            LifecycleError::UnknownPlacement(elsewhere)
        );
    }

    #[test]
    fn a_dead_route_and_a_revived_mapping_are_caught() {
        let (mut b, [h1, _]) = mapped();
        // The link goes down and nobody tells the buffer.
        let down = Flat { link_down: true };
        let found = violations(&b, &Platform::new(&down)).unwrap();
        assert!(found.iter().any(|v| matches!(
            v,
            Violation::RouteGone {
                rejection: Some(_),
                ..
            }
        )));
        assert!(
            found
                .iter()
                .any(|v| matches!(v, Violation::PrivateIovaOffFabric { .. }))
        );

        // Revalidated properly: clean; then tamper the stale mapping back to life.
        let platform = Platform::new(&down);
        let mut monitor = Monitor::new();
        b.revalidate(&platform).unwrap();
        assert_eq!(monitor.observe(&b, &platform).unwrap(), []);
        assert!(b.mapping(&h1).is_err());
        let i = b.index_of(h1.attachment()).unwrap();
        b.attachments[i].valid_from = h1.generation();
        let found = monitor.observe(&b, &platform).unwrap();
        assert!(found.contains(&Violation::StaleMappingRevived(h1)));
        assert!(found.contains(&Violation::MappingDiffers(h1.attachment())));
    }

    #[test]
    fn pins_and_revocation_are_watched() {
        let (mut b, [h1, _]) = mapped();
        let platform = Platform::new(&FLAT);
        let mut monitor = Monitor::new();
        b.pin(h1.attachment()).unwrap();
        assert_eq!(monitor.observe(&b, &platform).unwrap(), []);
        // Tamper: move a pinned buffer.
        let mut moved = b.clone();
        moved.current = ram();
        let found = monitor.clone().observe(&moved, &platform).unwrap();
        assert!(found.contains(&Violation::PinnedBufferMoved {
            from: vram(),
            to: ram()
        }));
        assert!(
            found
                .iter()
                .any(|v| matches!(v, Violation::PinnedElsewhere { .. }))
        );
        // Revoke, then tamper: un-revoke.
        b.revoke().unwrap();
        assert_eq!(monitor.observe(&b, &platform).unwrap(), []);
        let mut unrevoked = b.clone();
        unrevoked.revoked = None;
        let found = monitor.clone().observe(&unrevoked, &platform).unwrap();
        assert!(found.contains(&Violation::Unrevoked));
        // A mapping appearing on a revoked buffer.
        let mut remapped = b.clone();
        let i = remapped.index_of(h1.attachment()).unwrap();
        if let Some(held) = &mut remapped.attachments[i].held {
            held.handle = MappingHandle::new(remapped.id, h1.attachment(), remapped.generation, 99);
        }
        let found = monitor.observe(&remapped, &platform).unwrap();
        assert!(
            found
                .iter()
                .any(|v| matches!(v, Violation::MappedAfterRevoke(_)))
        );
    }

    #[test]
    fn trust_rules_are_checked_on_agreements() {
        let platform = Platform::new(&FLAT);
        let mut b = buffer();
        b.move_to(&platform, &ram()).unwrap();
        let kvm = b
            .attach(
                &platform,
                Importer::dynamic(&[ImporterOffer::phys(crate::Trust::Kvm, None)]).unwrap(),
            )
            .unwrap();
        assert_eq!(violations(&b, &platform).unwrap(), []);
        // Tamper: the importer turns out to have been untrusted.
        let i = b.index_of(kvm.id).unwrap();
        let untrusted =
            Importer::dynamic(&[ImporterOffer::phys(crate::Trust::Untrusted, None)]).unwrap();
        let crate::AgreementState::Current(agreed) = &mut b.attachments[i].state else {
            panic!("current");
        };
        let forged = crate::renegotiation::Agreed::forge_importer(agreed, untrusted.offers()[0]);
        *agreed = forged;
        let found = violations(&b, &platform).unwrap();
        assert!(found.contains(&Violation::PhysToUntrusted(kvm.id)));
    }
}
