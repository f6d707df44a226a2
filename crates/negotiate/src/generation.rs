//! Generations, and the handles through which importers reach their mappings.
//!
//! Every event that invalidates mappings (a move, a revoke, a route that changed under an
//! attachment, a reset) starts a new [`Generation`] of the buffer, and every attachment records
//! the generation from which its mappings are valid. A mapping is issued as a [`MappingHandle`]
//! that carries the generation it was issued in. The addresses are reachable only through
//! [`Buffer::mapping`](crate::Buffer::mapping), which checks the handle against the buffer's
//! current state on every use: anything issued before an invalidation or a revoke comes back as
//! an [`AccessError`], never as an address.

use core::fmt;

use crate::{AttachmentId, Describe, Names, OpaqueNames, RevokeReason};

/// A generation of a buffer: a counter that only grows, by one per invalidating event.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Generation(u64);

impl Generation {
    /// The generation a new buffer starts in.
    pub const FIRST: Generation = Generation(1);

    /// The number.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The next generation, or `None` once the counter is exhausted.
    pub(crate) const fn next(self) -> Option<Generation> {
        match self.0.checked_add(1) {
            Some(n) => Some(Generation(n)),
            None => None,
        }
    }
}

impl fmt::Display for Generation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "g{}", self.0)
    }
}

/// Names one buffer: every [`Buffer`](crate::Buffer) made in this program gets its own, so a
/// handle of one buffer never opens another. (On targets without pointer-sized atomics every
/// buffer gets the same id, and that protection is lost.)
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct BufferId(usize);

impl BufferId {
    /// A new id, never handed out before (until the counter wraps after `usize::MAX` buffers).
    pub(crate) fn fresh() -> Self {
        #[cfg(target_has_atomic = "ptr")]
        {
            use core::sync::atomic::{AtomicUsize, Ordering};
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            BufferId(NEXT.fetch_add(1, Ordering::Relaxed))
        }
        #[cfg(not(target_has_atomic = "ptr"))]
        {
            BufferId(0)
        }
    }

    /// The number.
    pub const fn get(self) -> usize {
        self.0
    }
}

impl fmt::Display for BufferId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "buffer#{}", self.0)
    }
}

/// What an importer holds after mapping: a ticket, not an address.
///
/// It names the buffer, the attachment, the generation the mapping was issued in, and a serial number that
/// no other mapping of the buffer ever gets (so a handle given back with
/// [`Buffer::unmap`](crate::Buffer::unmap) stays dead even if the same attachment maps again in
/// the same generation).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct MappingHandle {
    buffer: BufferId,
    attachment: AttachmentId,
    generation: Generation,
    serial: u64,
}

impl MappingHandle {
    pub(crate) const fn new(
        buffer: BufferId,
        attachment: AttachmentId,
        generation: Generation,
        serial: u64,
    ) -> Self {
        Self {
            buffer,
            attachment,
            generation,
            serial,
        }
    }

    /// The buffer the mapping belongs to.
    pub const fn buffer(&self) -> BufferId {
        self.buffer
    }

    /// The attachment the mapping belongs to.
    pub const fn attachment(&self) -> AttachmentId {
        self.attachment
    }

    /// The generation it was issued in.
    pub const fn generation(&self) -> Generation {
        self.generation
    }

    /// Its serial number within the buffer.
    pub const fn serial(&self) -> u64 {
        self.serial
    }
}

impl Describe for MappingHandle {
    fn describe(&self, f: &mut fmt::Formatter<'_>, names: &dyn Names) -> fmt::Result {
        write!(
            f,
            "mapping #{} of {} ({})",
            self.serial,
            self.attachment.named(names),
            self.generation
        )
    }
}

impl fmt::Display for MappingHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.describe(f, &OpaqueNames)
    }
}

/// Why a handle gives no addresses.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum AccessError {
    /// The exporter revoked the buffer: no mapping is usable, ever again.
    Revoked(RevokeReason),
    /// The mapping was issued before an invalidation of its attachment.
    Stale {
        /// The generation it was issued in.
        issued: Generation,
        /// The generation from which its attachment's mappings are valid.
        valid_from: Generation,
    },
    /// The mapping was given back (or replaced by a newer one).
    Unmapped,
    /// The attachment is gone.
    Detached(AttachmentId),
    /// The handle belongs to another buffer.
    OtherBuffer(BufferId),
}

impl Describe for AccessError {
    fn describe(&self, f: &mut fmt::Formatter<'_>, names: &dyn Names) -> fmt::Result {
        match self {
            AccessError::Revoked(why) => {
                write!(f, "the buffer was revoked ({})", why.named(names))
            }
            AccessError::Stale { issued, valid_from } => write!(
                f,
                "stale mapping: issued in {issued}, but only mappings from {valid_from} on are valid"
            ),
            AccessError::Unmapped => f.write_str("the mapping was given back"),
            AccessError::Detached(id) => write!(f, "{} is detached", id.named(names)),
            AccessError::OtherBuffer(id) => write!(f, "the mapping belongs to {id}"),
        }
    }
}

impl fmt::Display for AccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.describe(f, &OpaqueNames)
    }
}

impl core::error::Error for AccessError {}
