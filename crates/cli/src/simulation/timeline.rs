//! What a simulation produced: one [`Step`] per event (and one for the start), each with what
//! the event did ([`Effect`]s, or why it was refused), the buffer and every importer as they
//! are afterwards, the invariants the monitor found broken, and the expectations checked. Both
//! renderers (human and JSON) read only this.

use std::fmt;

use dmabuf_negotiate::address::Address;
use dmabuf_negotiate::mapping::{BarAddresses, Mapped, Mapping};
use dmabuf_negotiate::{
    AccessError, AddressSpace, Agreed, AgreementState, AttachmentId, Change, Describe, Generation,
    Holding, LifecycleError, Names, NoMigration, RevokeReason, Unreachable, Validity, Violation,
};

use super::expect::Checked;

/// Why an event was refused: by the lifecycle, or before reaching it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Refusal {
    /// The buffer's operation failed (and changed nothing).
    Lifecycle(LifecycleError),
    /// Using the mapping gave an error value instead of addresses.
    Access(AccessError),
    /// The importer is not attached.
    NotAttached,
    /// The importer is already attached.
    AlreadyAttached,
    /// The importer holds no mapping.
    NotMapped,
}

impl Refusal {
    /// The stable code (docs/json-output.md).
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Lifecycle(e) => match e {
                LifecycleError::Policy(_) => "invalid-policy",
                LifecycleError::DriverArguments { .. } => "driver-arguments",
                LifecycleError::TooManyOffers(_) => "too-many-offers",
                LifecycleError::Revoked(_) => "revoked",
                LifecycleError::UnknownAttachment(_) => "not-attached",
                LifecycleError::ImporterNotRevocable => "importer-not-revocable",
                LifecycleError::Unreachable(_) => "unreachable",
                LifecycleError::AlreadyMapped(_) => "already-mapped",
                LifecycleError::UnknownMapping(_) => "unknown-mapping",
                LifecycleError::NotPinned(_) => "not-pinned",
                LifecycleError::Lost(_) => "lost",
                LifecycleError::Pinned { .. } => "pinned",
                LifecycleError::MigrationNotAllowed => "migration-not-allowed",
                LifecycleError::UnknownPlacement(_) => "unknown-placement",
                LifecycleError::AlreadyThere(_) => "already-there",
                LifecycleError::MoveBlocked { .. } => "move-blocked",
                LifecycleError::Renegotiation { .. } => "renegotiation-failed",
                LifecycleError::Address(_) => "address",
                LifecycleError::ExporterNotRevocable => "exporter-not-revocable",
                LifecycleError::AlreadyRevoked => "already-revoked",
                LifecycleError::Exhausted(_) => "exhausted",
                LifecycleError::OutOfMemory => "out-of-memory",
            },
            Refusal::Access(e) => match e {
                AccessError::Revoked(_) => "revoked",
                AccessError::Stale { .. } => "stale",
                AccessError::Unmapped => "unmapped",
                AccessError::Detached(_) => "not-attached",
                AccessError::OtherBuffer(_) => "unknown-mapping",
            },
            Refusal::NotAttached => "not-attached",
            Refusal::AlreadyAttached => "already-attached",
            Refusal::NotMapped => "not-mapped",
        }
    }
}

/// The reason in words (`refusal.named(&names)`).
impl Describe for Refusal {
    fn describe(&self, f: &mut fmt::Formatter<'_>, names: &dyn Names) -> fmt::Result {
        match self {
            // Said without the "refused: " the renderers already say.
            Refusal::Lifecycle(LifecycleError::Unreachable(r)) => r.describe(f, names),
            Refusal::Lifecycle(e) => e.describe(f, names),
            Refusal::Access(e) => e.describe(f, names),
            Refusal::NotAttached => f.write_str("the importer is not attached"),
            Refusal::AlreadyAttached => {
                f.write_str("the importer is already attached (detach it first)")
            }
            Refusal::NotMapped => f.write_str("the importer holds no mapping"),
        }
    }
}

/// Addresses of a usable mapping, as the importer would program them.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Addresses {
    /// The space they are valid in.
    pub space: AddressSpace,
    /// `dma`, `bus`, `vram-offset`, `iova` or `phys`.
    pub kind: &'static str,
    /// `(start, len)` of each range.
    pub ranges: Vec<(u64, u64)>,
}

impl Addresses {
    /// The addresses of a mapping, in its own space.
    pub fn of(mapping: &Mapping) -> Self {
        fn ranges<A: Address, S: Copy + PartialEq>(m: &Mapped<A, S>) -> Vec<(u64, u64)> {
            m.addresses_for(m.space())
                .unwrap_or(&[])
                .iter()
                .map(|r| (r.start().to_raw(), r.len()))
                .collect()
        }
        let (kind, ranges) = match mapping {
            Mapping::DmaAddr(m) => ("dma", ranges(m)),
            Mapping::PciBar(p) => match &p.addresses {
                BarAddresses::Bus(m) => ("bus", ranges(m)),
                BarAddresses::Dma(m) => ("dma", ranges(m)),
            },
            Mapping::Vram(m) => ("vram-offset", ranges(m)),
            Mapping::PrivateIova(m) => ("iova", ranges(m)),
            Mapping::Phys(m) => ("phys", ranges(m)),
        };
        Self {
            space: mapping.valid_for(),
            kind,
            ranges,
        }
    }
}

/// Something an event did. Importers are named by their position in the scenario, placements
/// likewise.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Effect {
    /// The importer attached with this agreement.
    Agreed {
        /// The importer.
        importer: usize,
        /// What it agreed on.
        agreed: Agreed,
    },
    /// The exporter moved the buffer.
    Migrated {
        /// From this placement.
        from: usize,
        /// To this one.
        to: usize,
        /// The generation the move started.
        generation: Generation,
        /// The importers that renegotiate at their next map.
        renegotiate: Vec<usize>,
    },
    /// These importers' valid mappings became stale.
    Invalidated {
        /// The importers.
        importers: Vec<usize>,
        /// From this generation on only new mappings are valid.
        generation: Generation,
    },
    /// The importer's agreement changed (at a map after a move, or falling back after a link
    /// went down).
    Renegotiated {
        /// The importer.
        importer: usize,
        /// Old → new.
        change: Change,
    },
    /// The importer was given a mapping.
    Mapped {
        /// The importer.
        importer: usize,
        /// The generation it was issued in.
        generation: Generation,
        /// Its addresses.
        addresses: Addresses,
    },
    /// The importer gave its mapping back.
    Unmapped {
        /// The importer.
        importer: usize,
        /// The generation the mapping was issued in.
        generation: Generation,
    },
    /// The importer took a pin.
    Pinned {
        /// The importer.
        importer: usize,
        /// Its explicit pins now.
        pins: u32,
    },
    /// The importer released a pin.
    Unpinned {
        /// The importer.
        importer: usize,
        /// Its explicit pins now.
        pins: u32,
    },
    /// The importer detached.
    Detached {
        /// The importer.
        importer: usize,
    },
    /// The buffer was revoked for good.
    Revoked {
        /// Why.
        reason: RevokeReason,
        /// The generation it started.
        generation: Generation,
        /// Static importers that cannot give their mappings back (told out of band).
        unrevocable: Vec<usize>,
    },
    /// The importer's device was reset: its mappings are stale.
    ImporterReset {
        /// The importers whose offers name the device.
        importers: Vec<usize>,
        /// The generation it started.
        generation: Generation,
    },
    /// The importer reaches the buffer by nothing any more.
    Lost {
        /// The importer.
        importer: usize,
        /// Why.
        reason: Unreachable,
    },
    /// A lost importer reaches the buffer again.
    Recovered {
        /// The importer.
        importer: usize,
        /// Its new agreement.
        agreed: Agreed,
    },
    /// Why the exporter did not move the buffer to rescue lost importers.
    NotMoved {
        /// Why.
        why: NoMigration,
    },
    /// Private links changed state (positions in the machine's link list).
    Links {
        /// The links that changed.
        links: Vec<usize>,
        /// Up or down now.
        up: bool,
    },
    /// The importer used its mapping and got addresses.
    Accessed {
        /// The importer.
        importer: usize,
        /// The addresses.
        addresses: Addresses,
    },
    /// Nothing of the buffer was affected.
    Unaffected,
}

/// The buffer after an event.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct BufferState {
    /// Its placement (position in the scenario's list).
    pub placement: usize,
    /// Its generation.
    pub generation: Generation,
    /// Why it was revoked, if it was.
    pub revoked: Option<RevokeReason>,
    /// The importers that pin it.
    pub pinned_by: Vec<usize>,
}

/// A mapping an importer holds.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct MappingState {
    /// The core's description (handle, placement, interconnect, space, length, validity).
    pub holding: Holding,
    /// The addresses, only while the mapping is valid.
    pub addresses: Option<Addresses>,
}

/// One importer after an event.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ImporterState {
    /// Its attachment, if attached.
    pub attachment: Option<AttachmentId>,
    /// Its agreement, if attached.
    pub agreement: Option<AgreementState>,
    /// The mapping it holds, if any.
    pub mapping: Option<MappingState>,
    /// Explicit pins.
    pub pins: u32,
    /// Whether it pins the buffer (a static importer always does).
    pub pinning: bool,
}

impl ImporterState {
    /// Not attached.
    pub const DETACHED: Self = Self {
        attachment: None,
        agreement: None,
        mapping: None,
        pins: 0,
        pinning: false,
    };

    /// Whether it is attached.
    pub fn is_attached(&self) -> bool {
        self.attachment.is_some()
    }

    /// `current`, `outdated`, `lost` or `none`.
    pub fn agreement_word(&self) -> &'static str {
        match &self.agreement {
            Some(AgreementState::Current(_)) => "current",
            Some(AgreementState::Outdated { .. }) => "outdated",
            Some(AgreementState::Lost { .. }) => "lost",
            None => "none",
        }
    }

    /// `valid`, `stale`, `revoked` or `none`.
    pub fn mapping_word(&self) -> &'static str {
        match self.mapping.as_ref().map(|m| m.holding.validity) {
            Some(Validity::Valid) => "valid",
            Some(Validity::Stale { .. }) => "stale",
            Some(Validity::Revoked(_)) => "revoked",
            None => "none",
        }
    }
}

/// One event of the timeline and its consequences.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Step {
    /// The event (position in the scenario's list), or `None` for the start.
    pub event: Option<usize>,
    /// Why it was refused, if it was.
    pub refusal: Option<Refusal>,
    /// What it did.
    pub effects: Vec<Effect>,
    /// The buffer afterwards.
    pub buffer: BufferState,
    /// Every importer afterwards, in the scenario's order.
    pub importers: Vec<ImporterState>,
    /// Invariants the monitor found broken after it.
    pub violations: Vec<Violation>,
    /// Its expectations, checked.
    pub expectations: Vec<Checked>,
}

impl Step {
    /// `ok` or `refused`.
    pub fn outcome_word(&self) -> &'static str {
        if self.refusal.is_some() {
            "refused"
        } else {
            "ok"
        }
    }
}

/// A whole simulation.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Timeline {
    /// The start, then one step per event run.
    pub steps: Vec<Step>,
    /// Every attachment made, with its importer (for messages that name attachments).
    pub attachments: Vec<(AttachmentId, usize)>,
}

impl Timeline {
    /// The first step whose invariants broke (the simulation stops there).
    pub fn broken(&self) -> Option<&Step> {
        self.steps.iter().find(|s| !s.violations.is_empty())
    }

    /// Every expectation checked, in order.
    pub fn checked(&self) -> impl Iterator<Item = &Checked> {
        self.steps.iter().flat_map(|s| s.expectations.iter())
    }
}
