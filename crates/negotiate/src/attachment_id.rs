//! The name of one attachment of one buffer.
//!
//! Attachments belong to the lifecycle ([`Attachment`](crate::Attachment), feature `alloc` in
//! user space), but their id is a plain number that messages name through [`Names`] like a
//! device's or a fabric's, so it lives in the core beside them: [`naming`](crate::naming)
//! needs no lifecycle type.

use core::fmt;

use crate::{Describe, Names, OpaqueNames};

/// Names one attachment of one buffer. Never reused within the buffer.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct AttachmentId(pub(crate) u32);

impl AttachmentId {
    /// The number.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl Describe for AttachmentId {
    fn describe(&self, f: &mut fmt::Formatter<'_>, names: &dyn Names) -> fmt::Result {
        names.attachment(*self, f)
    }
}

impl fmt::Display for AttachmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.describe(f, &OpaqueNames)
    }
}
