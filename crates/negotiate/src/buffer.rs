//! A shared buffer and its attachment lifecycle: see [`Buffer`] for the contract.

use crate::addressing::derive;
use crate::attachment::Held;
use crate::mapping::Mapping;
use crate::renegotiation::negotiate_at;
use crate::storage::FallibleVec;
use crate::{
    AccessError, Agreed, AgreementState, AttachRefusal, Attachment, AttachmentId, BufferId, Change,
    ExporterPolicy, Generation, Holding, Importer, LifecycleError, MappingHandle, Migration,
    NoMigration, Placement, PlacementOption, Platform, PolicyError, RevokeReason, Validity, Vec,
};

/// A buffer shared by one exporter with any number of importers, and the lifecycle contract
/// its operations keep.
///
/// A [`Buffer`] has a size, an [`ExporterPolicy`], a current [`Placement`] (one of the policy's),
/// a [`Generation`], and its [`Attachment`]s. The exporter and the importers act on it only
/// through the operations below, which keep these promises:
///
/// - **Every active attachment can reach the current placement.** An operation that would break
///   this fails and changes nothing. Only the machine itself can break it (a link going down);
///   then [`Buffer::revalidate`] falls back, moves the buffer, or marks the attachment
///   [`Lost`](crate::AgreementState::Lost) with the reason.
/// - **No usable mapping of a placement the buffer has left.** Addresses are reached only
///   through a [`MappingHandle`] checked by [`Buffer::mapping`] against the attachment's
///   generation; every move, revoke or route change starts a new generation for the attachments
///   it affects.
/// - **A pinned buffer never moves; a revoked buffer never maps again.**
/// - **No partial state.** Every operation computes everything first, allocations included, and
///   changes the buffer only when nothing can fail any more; on error (out of memory too) the
///   buffer is exactly as it was.
///
/// # Locking
///
/// In the kernel the exporter and importers call these under the buffer's reservation lock
/// (`dma_resv_lock`). Here that lock is `&mut Buffer`: every operation that changes state takes
/// `&mut self`, and the borrow checker enforces that nobody reads a half-done change. Reading
/// ([`Buffer::mapping`], inspection) takes `&self`. To share a buffer between threads, wrap it
/// in a `SharedBuffer` (feature `std`), whose lock plays the reservation
/// lock.
///
/// # The operations, with their kernel counterparts
///
/// | operation | kernel | contract |
/// |---|---|---|
/// | [`attach`](Buffer::attach) | `dma_buf_dynamic_attach` + exporter `attach` | negotiates for the current placement; if nothing fits, the exporter may move the buffer to its most preferred placement that every active importer *and* the newcomer reach (invalidating everyone), or refuses with the reason. A static importer pins the buffer until detach; a static importer that cannot give mappings back is refused by a revocable exporter. |
/// | [`pin`](Buffer::pin) / [`unpin`](Buffer::unpin) | `dma_buf_pin` / `dma_buf_unpin` | a pinned buffer does not move. |
/// | [`map`](Buffer::map) | `dma_buf_map_attachment` | renegotiates if the agreement no longer fits (after a move, or a route change), reports what changed, derives typed addresses from the current placement, and issues a handle of the current generation. |
/// | [`unmap`](Buffer::unmap) | `dma_buf_unmap_attachment` | gives the mapping back; allowed for stale mappings (that is what an importer does after an invalidation). |
/// | [`move_to`](Buffer::move_to) | exporter migration + `dma_buf_invalidate_mappings` | refused when pinned, when the policy forbids migration, or when an active importer could not reach the destination; otherwise every mapping becomes stale and every agreement renegotiates at its next map. |
/// | [`revoke`](Buffer::revoke) | exporter revoke (vfio-pci on reset) | permanent: every mapping becomes stale, later attach, pin and map fail. |
/// | [`device_reset`](Buffer::device_reset) | device reset | of the exporter (or the memory's owner): a forced revoke. Of an importer's device: its mappings become stale. |
/// | [`revalidate`](Buffer::revalidate) | (no counterpart yet) | the machine changed (a private link went down): affected attachments renegotiate, or the buffer moves, or they are marked lost. |
/// | [`detach`](Buffer::detach) | `dma_buf_detach` | drops the attachment, its mapping and its pins. |
///
/// # Example
///
/// A GPU shares VRAM with a NIC, evicts it to system memory, and the NIC maps again:
///
/// ```
/// use dmabuf_negotiate::*;
///
/// /// Every device reaches every memory: device memory by bus-address P2P.
/// struct Flat;
/// impl Fabric for Flat {
///     fn reach(&self, _: Initiator, memory: Memory) -> Result<Route, Refusal> {
///         Ok(Route::new(match memory {
///             Memory::Device(_) => RouteKind::PciBusAddr { distance: 4 },
///             Memory::System { .. } => RouteKind::SystemMemory,
///         }))
///     }
///     fn private_route(&self, f: FabricId, d: DeviceId, _: DeviceId) -> Result<Route, Refusal> {
///         Err(Refusal::NotOnFabric { fabric: f, device: d })
///     }
///     fn relation(&self, a: DeviceId, b: DeviceId) -> Relation {
///         if a == b { Relation::SameFunction } else { Relation::Unrelated }
///     }
/// }
///
/// let (gpu, nic) = (DeviceId(0), DeviceId(1));
/// let vram = VramId { owner: gpu, instance: 0 };
/// // VRAM is visible through BAR0: CPU 0x38_0000_0000, bus 0xc000_0000, 256 MiB.
/// let window = BusWindow::new(PhysAddr::new(0x38_0000_0000), BusAddr::new(0xc000_0000), 1 << 28)
///     .unwrap();
/// let apertures = Apertures::new().with_vram(VramAperture { vram, bar: 0, window });
/// let in_vram = Placement::vram(vram, VramOffset::new(0x10_0000));
/// let in_ram = Placement::system(Some(0), PhysAddr::new(0x8000_0000));
/// let policy = ExporterPolicy::new(gpu, apertures)
///     .place(in_vram, 4096)
///     .place(in_ram, 4096);
/// let mut buffer = Buffer::new(4096, policy)?;
/// let platform = Platform::new(&Flat); // no IOMMU
///
/// let nic_id = buffer
///     .attach(&platform, Importer::dynamic(&[ImporterOffer::dma_addr(nic, true)])?)?
///     .id;
/// let first = buffer.map(&platform, nic_id)?.handle;
/// let Mapping::DmaAddr(m) = buffer.mapping(&first)? else { unreachable!() };
/// assert_eq!(m.addresses_for(nic)?[0].start(), DmaAddr::new(0xc010_0000)); // bus address
///
/// buffer.move_to(&platform, &in_ram)?; // eviction: every mapping goes stale
/// assert!(matches!(buffer.mapping(&first), Err(AccessError::Stale { .. })));
///
/// let again = buffer.map(&platform, nic_id)?;
/// let change = again.change.unwrap(); // renegotiated for system memory
/// assert_eq!(change.to.route().kind, RouteKind::SystemMemory);
/// let Mapping::DmaAddr(m) = buffer.mapping(&again.handle)? else { unreachable!() };
/// assert_eq!(m.addresses_for(nic)?[0].start(), DmaAddr::new(0x8000_0000));
/// assert!(invariants::violations(&buffer, &platform)?.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(PartialEq, Eq, Debug)]
#[cfg_attr(feature = "alloc", derive(Clone))]
pub struct Buffer {
    pub(crate) id: BufferId,
    pub(crate) size: u64,
    pub(crate) policy: ExporterPolicy,
    /// Where the buffer is: always one of the policy's placements (set by `new`, `new_in` and
    /// `migrate`, each from the policy's own list).
    pub(crate) current: Placement,
    pub(crate) generation: Generation,
    pub(crate) revoked: Option<RevokeReason>,
    pub(crate) attachments: Vec<Attachment>,
    pub(crate) next_id: u32,
    pub(crate) next_serial: u64,
}

/// A successful [`Buffer::attach`].
#[derive(PartialEq, Eq, Debug)]
#[cfg_attr(feature = "alloc", derive(Clone))]
pub struct Attached {
    /// The new attachment.
    pub id: AttachmentId,
    /// What it agreed on.
    pub agreed: Agreed,
    /// The move the exporter made so that the newcomer could reach the buffer, if any.
    pub migration: Option<Migration>,
}

/// A successful [`Buffer::map`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Mapped {
    /// The ticket for the addresses ([`Buffer::mapping`]).
    pub handle: MappingHandle,
    /// The agreement the mapping follows.
    pub agreed: Agreed,
    /// If the agreement had to be renegotiated: what it was before.
    pub change: Option<Change>,
}

impl Buffer {
    /// A buffer of `size` bytes governed by `policy`, placed at the policy's most preferred
    /// placement, in generation [`Generation::FIRST`], with no attachment.
    pub fn new(size: u64, policy: ExporterPolicy) -> Result<Self, LifecycleError> {
        policy.validate(size)?;
        let current = *policy
            .placements()
            .first()
            .ok_or(LifecycleError::Policy(PolicyError::NoPlacement))?
            .placement();
        Ok(Self {
            id: BufferId::fresh(),
            size,
            policy,
            current,
            generation: Generation::FIRST,
            revoked: None,
            attachments: Vec::default(),
            next_id: 0,
            next_serial: 0,
        })
    }

    /// A buffer like [`Buffer::new`], but placed at `placement`, which must be one of the
    /// policy's.
    pub fn new_in(
        size: u64,
        policy: ExporterPolicy,
        placement: &Placement,
    ) -> Result<Self, LifecycleError> {
        if policy.position(placement).is_none() {
            return Err(LifecycleError::UnknownPlacement(*placement));
        }
        let mut buffer = Self::new(size, policy)?;
        buffer.current = *placement;
        Ok(buffer)
    }

    // ----- inspection -----

    /// Its identity (a clone keeps it: it is the same buffer's state).
    pub fn id(&self) -> BufferId {
        self.id
    }

    /// The size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The exporter policy.
    pub fn policy(&self) -> &ExporterPolicy {
        &self.policy
    }

    /// Where the buffer is now.
    pub fn placement(&self) -> &Placement {
        &self.current
    }

    /// Where the buffer is now, with what the exporter offers there. Always `Some`: the buffer
    /// is only ever placed at one of its policy's placements.
    pub fn placement_option(&self) -> Option<&PlacementOption> {
        self.policy.option(&self.current)
    }

    /// [`Buffer::placement_option`] for the operations, which report the impossible `None` as
    /// an error rather than panic.
    pub(crate) fn current_option(&self) -> Result<&PlacementOption, LifecycleError> {
        self.placement_option()
            .ok_or(LifecycleError::UnknownPlacement(self.current))
    }

    /// The current generation.
    pub fn generation(&self) -> Generation {
        self.generation
    }

    /// Why the buffer was revoked, if it was.
    pub fn revoked(&self) -> Option<RevokeReason> {
        self.revoked
    }

    /// Whether the buffer was revoked.
    pub fn is_revoked(&self) -> bool {
        self.revoked.is_some()
    }

    /// Whether any attachment pins the buffer.
    pub fn is_pinned(&self) -> bool {
        self.attachments.iter().any(Attachment::is_pinning)
    }

    /// The attachments that pin the buffer, oldest first.
    pub fn pinned_by(&self) -> impl Iterator<Item = AttachmentId> + '_ {
        self.attachments
            .iter()
            .filter(|a| a.is_pinning())
            .map(|a| a.id)
    }

    /// Every attachment, oldest first.
    pub fn attachments(&self) -> &[Attachment] {
        &self.attachments
    }

    /// One attachment.
    pub fn attachment(&self, id: AttachmentId) -> Option<&Attachment> {
        self.index_of(id).ok().and_then(|i| self.attachments.get(i))
    }

    /// What an attachment holds (without its addresses), or `None` if it holds nothing or is
    /// not attached.
    pub fn holding(&self, id: AttachmentId) -> Option<Holding> {
        let attachment = self.attachment(id)?;
        let held = attachment.held.as_ref()?;
        Some(Holding {
            handle: held.handle,
            placement: held.placement,
            interconnect: held.mapping.interconnect(),
            space: held.mapping.valid_for(),
            len: held.mapping.total_len(),
            validity: self.validity(attachment, held),
        })
    }

    /// The addresses behind `handle`, if it is still valid: issued by this buffer's attachment,
    /// not given back, not issued before an invalidation of its attachment, and the buffer not
    /// revoked. This is the only way to an address.
    pub fn mapping(&self, handle: &MappingHandle) -> Result<&Mapping, AccessError> {
        if handle.buffer() != self.id {
            return Err(AccessError::OtherBuffer(handle.buffer()));
        }
        if let Some(reason) = self.revoked {
            return Err(AccessError::Revoked(reason));
        }
        let attachment = self
            .attachment(handle.attachment())
            .ok_or(AccessError::Detached(handle.attachment()))?;
        let held = attachment
            .held
            .as_ref()
            .filter(|h| h.handle == *handle)
            .ok_or(AccessError::Unmapped)?;
        match self.validity(attachment, held) {
            Validity::Valid => Ok(&held.mapping),
            Validity::Stale { valid_from } => Err(AccessError::Stale {
                issued: held.handle.generation(),
                valid_from,
            }),
            Validity::Revoked(reason) => Err(AccessError::Revoked(reason)),
        }
    }

    pub(crate) fn validity(&self, attachment: &Attachment, held: &Held) -> Validity {
        if let Some(reason) = self.revoked {
            Validity::Revoked(reason)
        } else if held.handle.generation() < attachment.valid_from {
            Validity::Stale {
                valid_from: attachment.valid_from,
            }
        } else {
            Validity::Valid
        }
    }

    pub(crate) fn index_of(&self, id: AttachmentId) -> Result<usize, LifecycleError> {
        self.attachments
            .binary_search_by_key(&id, |a| a.id)
            .map_err(|_| LifecycleError::UnknownAttachment(id))
    }

    /// The attachment `id`, to change it.
    pub(crate) fn attachment_mut(
        &mut self,
        id: AttachmentId,
    ) -> Result<&mut Attachment, LifecycleError> {
        let index = self.index_of(id)?;
        self.attachments
            .get_mut(index)
            .ok_or(LifecycleError::UnknownAttachment(id))
    }

    pub(crate) fn next_generation(&self) -> Result<Generation, LifecycleError> {
        self.generation
            .next()
            .ok_or(LifecycleError::Exhausted("generations"))
    }

    fn not_revoked(&self) -> Result<(), LifecycleError> {
        match self.revoked {
            Some(reason) => Err(LifecycleError::Revoked(reason)),
            None => Ok(()),
        }
    }

    // ----- operations -----

    /// Attaches `importer` (the exporter's attach, under the reservation lock).
    ///
    /// Negotiates for the current placement. If nothing fits and the policy allows migration and
    /// nothing pins the buffer, moves the buffer to the most preferred placement that the
    /// newcomer and every active attachment reach; the others' mappings become stale and they
    /// renegotiate at their next map ([`Attached::migration`] says so). Otherwise fails with
    /// [`LifecycleError::Unreachable`], which says why at the current placement and why the
    /// buffer was not moved.
    ///
    /// Also fails if the buffer was revoked, or if the exporter may revoke and the importer is
    /// static and cannot give its mappings back. A static importer pins the buffer until it
    /// detaches.
    pub fn attach(
        &mut self,
        platform: &Platform<'_>,
        importer: Importer,
    ) -> Result<Attached, LifecycleError> {
        self.not_revoked()?;
        if self.policy.is_revocable() && !importer.is_revocable() {
            return Err(LifecycleError::ImporterNotRevocable);
        }
        let id = AttachmentId(self.next_id);
        let next_id = self
            .next_id
            .checked_add(1)
            .ok_or(LifecycleError::Exhausted("attachment ids"))?;
        let here = match negotiate_at(platform, &self.policy, self.current_option()?, &importer)? {
            Ok(agreed) => {
                let attachment = Self::attachment_for(id, importer, agreed, self.generation);
                self.attachments.try_push(attachment)?;
                self.next_id = next_id;
                return Ok(Attached {
                    id,
                    agreed,
                    migration: None,
                });
            }
            Err(here) => here,
        };
        let plan = match self.plan_migration(platform, Some(&importer))? {
            Ok(plan) => plan,
            Err(migration) => {
                return Err(LifecycleError::Unreachable(AttachRefusal {
                    here,
                    migration,
                }));
            }
        };
        let Some(agreed) = plan.newcomer else {
            // A plan for a newcomer always carries its agreement.
            return Err(LifecycleError::Unreachable(AttachRefusal {
                here,
                migration: NoMigration::NoPlacement(Vec::default()),
            }));
        };
        let generation = self.next_generation()?;
        let newcomer = Self::attachment_for(id, importer, agreed, generation);
        let migration = self.migrate(plan.to, generation, Some(newcomer))?;
        self.next_id = next_id;
        Ok(Attached {
            id,
            agreed,
            migration: Some(migration),
        })
    }

    /// A new attachment with `agreed`, valid from `valid_from`; a static importer pins the
    /// placement it agreed for.
    fn attachment_for(
        id: AttachmentId,
        importer: Importer,
        agreed: Agreed,
        valid_from: Generation,
    ) -> Attachment {
        let pinned_at = (!importer.is_dynamic()).then_some(*agreed.placement());
        Attachment {
            id,
            importer,
            state: AgreementState::Current(agreed),
            valid_from,
            held: None,
            pins: 0,
            pinned_at,
        }
    }

    /// Detaches: drops the attachment, the mapping it holds (its handle stops working) and its
    /// pins. Allowed on a revoked buffer (that is how importers leave it).
    pub fn detach(&mut self, id: AttachmentId) -> Result<(), LifecycleError> {
        let index = self.index_of(id)?;
        self.attachments.remove_at(index);
        Ok(())
    }

    /// Pins the buffer on behalf of a dynamic importer (e.g. an RDMA NIC without on-demand
    /// paging): the buffer cannot move until the pin is released. Pins nest.
    pub fn pin(&mut self, id: AttachmentId) -> Result<(), LifecycleError> {
        self.not_revoked()?;
        let placement = *self.placement();
        let attachment = self.attachment_mut(id)?;
        if !attachment.is_active() {
            return Err(LifecycleError::Lost(id));
        }
        let pins = attachment
            .pins
            .checked_add(1)
            .ok_or(LifecycleError::Exhausted("pins"))?;
        attachment.pins = pins;
        attachment.pinned_at.get_or_insert(placement);
        Ok(())
    }

    /// Releases one explicit pin. Allowed on a revoked buffer.
    pub fn unpin(&mut self, id: AttachmentId) -> Result<(), LifecycleError> {
        let attachment = self.attachment_mut(id)?;
        let Some(pins) = attachment.pins.checked_sub(1) else {
            return Err(LifecycleError::NotPinned(id));
        };
        attachment.pins = pins;
        if !attachment.is_pinning() {
            attachment.pinned_at = None;
        }
        Ok(())
    }

    /// Maps for an attachment (the importer's map, under the reservation lock).
    ///
    /// If the attachment's agreement was made for another placement, or its route no longer
    /// holds on the machine as it is now, or it was lost, renegotiates first and reports the
    /// [`Change`]. Then derives the typed addresses from the current placement (see
    /// [`addressing`](crate::addressing)) and issues a handle of the current generation; a stale
    /// mapping the attachment still holds is replaced (given back implicitly).
    ///
    /// Fails if the buffer was revoked, if the attachment already holds a valid mapping, if
    /// renegotiation finds nothing, or if the addresses cannot be derived.
    pub fn map(
        &mut self,
        platform: &Platform<'_>,
        id: AttachmentId,
    ) -> Result<Mapped, LifecycleError> {
        self.not_revoked()?;
        let attachment = self
            .attachment(id)
            .ok_or(LifecycleError::UnknownAttachment(id))?;
        if let Some(held) = &attachment.held
            && self.validity(attachment, held) == Validity::Valid
        {
            return Err(LifecycleError::AlreadyMapped(held.handle));
        }
        let option = self.current_option()?;
        let placement = *option.placement();
        let (agreed, change) = match &attachment.state {
            AgreementState::Current(a)
                if *a.placement() == placement && a.still_holds(platform) =>
            {
                (*a, None)
            }
            state => {
                let from = *state.latest();
                let to = negotiate_at(platform, &self.policy, option, &attachment.importer)?
                    .map_err(|unreachable| LifecycleError::Renegotiation {
                        attachment: id,
                        unreachable,
                    })?;
                (to, Some(Change { from, to }))
            }
        };
        let mapping = derive(
            platform,
            self.policy.apertures(),
            &placement,
            self.size,
            &agreed,
        )?;
        let serial = self.next_serial;
        let next_serial = serial
            .checked_add(1)
            .ok_or(LifecycleError::Exhausted("mapping serials"))?;
        let handle = MappingHandle::new(self.id, id, self.generation, serial);
        let attachment = self.attachment_mut(id)?;
        attachment.state = AgreementState::Current(agreed);
        attachment.held = Some(Held {
            handle,
            placement,
            mapping,
        });
        self.next_serial = next_serial;
        Ok(Mapped {
            handle,
            agreed,
            change,
        })
    }

    /// Gives a mapping back. Works for stale mappings and on a revoked buffer (giving back is
    /// what importers must do after an invalidation or a revoke); fails only if `handle` is not
    /// the mapping its attachment holds.
    pub fn unmap(&mut self, handle: &MappingHandle) -> Result<(), LifecycleError> {
        if handle.buffer() != self.id {
            return Err(LifecycleError::UnknownMapping(*handle));
        }
        let attachment = self.attachment_mut(handle.attachment())?;
        match &attachment.held {
            Some(held) if held.handle == *handle => {
                attachment.held = None;
                Ok(())
            }
            _ => Err(LifecycleError::UnknownMapping(*handle)),
        }
    }
}
