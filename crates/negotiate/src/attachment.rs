//! Attachments: one importer's standing with one buffer.
//!
//! An [`Attachment`] is created by [`Buffer::attach`](crate::Buffer::attach) and lives until
//! [`Buffer::detach`](crate::Buffer::detach). It keeps the importer's offers, its
//! [`AgreementState`] (what it agreed on, and whether that still fits the buffer's placement),
//! the generation from which its mappings are valid, the mapping it holds if any, and its pins.
//! Everything here is read-only from outside: only the buffer's operations change it.

use core::fmt;

use crate::mapping::{AddressSpace, Mapping};
use crate::{
    Agreed, AttachmentId, Describe, Generation, Importer, MappingHandle, Names, OpaqueNames,
    Placement, RevokeReason, Unreachable,
};

/// What an attachment agreed on, and whether it still fits.
#[derive(PartialEq, Eq, Debug)]
#[cfg_attr(feature = "alloc", derive(Clone))]
pub enum AgreementState {
    /// Agreed for the buffer's current placement, over a route that was valid when last
    /// checked.
    Current(Agreed),
    /// The buffer moved since: the agreement was for another placement. The importer can reach
    /// the current placement (the move checked it), and its next map renegotiates.
    Outdated {
        /// The agreement for the placement the buffer left.
        previous: Agreed,
    },
    /// The machine changed (a link went down) and no interconnect reaches the placement any
    /// more, and the exporter could not move the buffer anywhere this importer reaches. The
    /// importer stays attached until it detaches; a later map renegotiates and recovers if the
    /// machine allows it again.
    Lost {
        /// The agreement the importer had.
        previous: Agreed,
        /// Why nothing reaches the placement now.
        reason: Unreachable,
    },
}

impl AgreementState {
    /// The agreement if it is current.
    pub fn current(&self) -> Option<&Agreed> {
        match self {
            AgreementState::Current(a) => Some(a),
            _ => None,
        }
    }

    /// The latest agreement, current or not.
    pub fn latest(&self) -> &Agreed {
        match self {
            AgreementState::Current(a)
            | AgreementState::Outdated { previous: a }
            | AgreementState::Lost { previous: a, .. } => a,
        }
    }
}

impl Describe for AgreementState {
    fn describe(&self, f: &mut fmt::Formatter<'_>, names: &dyn Names) -> fmt::Result {
        match self {
            AgreementState::Current(a) => write!(f, "{}", a.named(names)),
            AgreementState::Outdated { previous } => write!(
                f,
                "renegotiates at its next map (was {}, for {})",
                previous.named(names),
                previous.placement().named(names)
            ),
            AgreementState::Lost { previous, reason } => write!(
                f,
                "lost (was {}): {}",
                previous.named(names),
                reason.named(names)
            ),
        }
    }
}

impl fmt::Display for AgreementState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.describe(f, &OpaqueNames)
    }
}

/// A mapping an attachment holds.
#[derive(PartialEq, Eq, Debug)]
#[cfg_attr(feature = "alloc", derive(Clone))]
pub(crate) struct Held {
    pub(crate) handle: MappingHandle,
    pub(crate) placement: Placement,
    pub(crate) mapping: Mapping,
}

/// One importer's attachment to a buffer.
#[derive(PartialEq, Eq, Debug)]
#[cfg_attr(feature = "alloc", derive(Clone))]
pub struct Attachment {
    pub(crate) id: AttachmentId,
    pub(crate) importer: Importer,
    pub(crate) state: AgreementState,
    pub(crate) valid_from: Generation,
    pub(crate) held: Option<Held>,
    pub(crate) pins: u32,
    pub(crate) pinned_at: Option<Placement>,
}

impl Attachment {
    /// Its name.
    pub fn id(&self) -> AttachmentId {
        self.id
    }

    /// The importer.
    pub fn importer(&self) -> &Importer {
        &self.importer
    }

    /// What it agreed on.
    pub fn state(&self) -> &AgreementState {
        &self.state
    }

    /// Mappings issued before this generation are stale.
    pub fn valid_from(&self) -> Generation {
        self.valid_from
    }

    /// The handle of the mapping it holds (valid or stale), if any.
    pub fn held(&self) -> Option<MappingHandle> {
        self.held.as_ref().map(|h| h.handle)
    }

    /// How many explicit pins it holds ([`Buffer::pin`](crate::Buffer::pin)).
    pub fn pins(&self) -> u32 {
        self.pins
    }

    /// Whether it pins the buffer: a static importer always does, a dynamic one while it holds
    /// an explicit pin.
    pub fn is_pinning(&self) -> bool {
        !self.importer.is_dynamic() || self.pins > 0
    }

    /// Where the buffer was when this attachment started pinning it (it cannot have moved since).
    pub fn pinned_at(&self) -> Option<&Placement> {
        self.pinned_at.as_ref()
    }

    /// Whether it can reach the buffer: its agreement is current or only awaits renegotiation.
    pub fn is_active(&self) -> bool {
        !matches!(self.state, AgreementState::Lost { .. })
    }
}

/// Whether a held mapping may be used.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Validity {
    /// Usable.
    Valid,
    /// Issued before an invalidation of its attachment.
    Stale {
        /// From which generation the attachment's mappings are valid.
        valid_from: Generation,
    },
    /// The buffer was revoked.
    Revoked(RevokeReason),
}

impl Describe for Validity {
    fn describe(&self, f: &mut fmt::Formatter<'_>, names: &dyn Names) -> fmt::Result {
        match self {
            Validity::Valid => f.write_str("valid"),
            Validity::Stale { valid_from } => write!(f, "stale (valid only from {valid_from})"),
            Validity::Revoked(why) => write!(f, "revoked ({})", why.named(names)),
        }
    }
}

impl fmt::Display for Validity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.describe(f, &OpaqueNames)
    }
}

/// What an attachment holds, for display: everything but the addresses (which only
/// [`Buffer::mapping`](crate::Buffer::mapping) hands out, and only while valid).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Holding {
    /// The handle.
    pub handle: MappingHandle,
    /// The placement the mapping was derived from.
    pub placement: Placement,
    /// The interconnect of the mapping.
    pub interconnect: &'static crate::Interconnect,
    /// The space its addresses are valid in.
    pub space: AddressSpace,
    /// Bytes mapped.
    pub len: u64,
    /// Whether it may be used.
    pub validity: Validity,
}

impl Describe for Holding {
    fn describe(&self, f: &mut fmt::Formatter<'_>, names: &dyn Names) -> fmt::Result {
        write!(
            f,
            "{} mapping, {}, {} of {}: {}",
            self.interconnect,
            self.handle.generation(),
            self.space.named(names),
            self.placement.named(names),
            self.validity.named(names)
        )
    }
}

impl fmt::Display for Holding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.describe(f, &OpaqueNames)
    }
}
