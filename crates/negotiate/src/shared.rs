//! A buffer shared between threads (feature `std`).
//!
//! The core's operations take `&mut Buffer`: exclusive access stands for the kernel's
//! reservation lock. [`SharedBuffer`] puts the buffer behind a [`RwLock`] that plays that lock:
//! every operation that changes the buffer takes the write lock for its whole duration (so an
//! importer never sees half a move), and using a mapping takes the read lock for the duration
//! of the use ([`SharedBuffer::with_mapping`]), the way an importer programs its device while
//! holding the reservation lock or a fence. A move or revoke therefore waits until every running
//! use of a mapping has ended, and every use that starts after it sees the mapping as stale.
//!
//! Addresses should not be copied out of `with_mapping` and used later: outside the lock
//! nothing stops the exporter from moving the buffer (in the kernel, the importer's
//! `invalidate_mappings` callback would have to stop the device first).
//!
//! Operations never panic, so the lock is never poisoned by them; if a caller's closure panics
//! while holding it, the buffer is still consistent (every operation commits at its end) and
//! the lock is taken over as is.

use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::mapping::Mapping;
use crate::{
    AccessError, Attached, AttachmentId, Buffer, DeviceId, Generation, Importer, LifecycleError,
    Mapped, MappingHandle, Migration, Placement, Platform, Reset, Revalidation, Revocation,
};

/// A [`Buffer`] behind a lock, for exporters and importers on several threads.
#[derive(Debug)]
pub struct SharedBuffer {
    inner: RwLock<Buffer>,
}

impl SharedBuffer {
    /// Shares `buffer`.
    pub fn new(buffer: Buffer) -> Self {
        Self {
            inner: RwLock::new(buffer),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Buffer> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Buffer> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` with the buffer locked for reading (inspection).
    pub fn inspect<R>(&self, f: impl FnOnce(&Buffer) -> R) -> R {
        f(&self.read())
    }

    /// Runs `f` with the buffer locked for writing: several operations as one step under the
    /// reservation lock.
    pub fn locked<R>(&self, f: impl FnOnce(&mut Buffer) -> R) -> R {
        f(&mut self.write())
    }

    /// Uses the mapping behind `handle`: `f` gets its addresses and the placement they belong
    /// to, under the read lock, only if the handle is valid now.
    pub fn with_mapping<R>(
        &self,
        handle: &MappingHandle,
        f: impl FnOnce(&Mapping, &Placement) -> R,
    ) -> Result<R, AccessError> {
        let buffer = self.read();
        let mapping = buffer.mapping(handle)?;
        Ok(f(mapping, buffer.placement()))
    }

    /// The current generation.
    pub fn generation(&self) -> Generation {
        self.read().generation()
    }

    /// [`Buffer::attach`] under the lock.
    pub fn attach(
        &self,
        platform: &Platform<'_>,
        importer: Importer,
    ) -> Result<Attached, LifecycleError> {
        self.write().attach(platform, importer)
    }

    /// [`Buffer::detach`] under the lock.
    pub fn detach(&self, id: AttachmentId) -> Result<(), LifecycleError> {
        self.write().detach(id)
    }

    /// [`Buffer::pin`] under the lock.
    pub fn pin(&self, id: AttachmentId) -> Result<(), LifecycleError> {
        self.write().pin(id)
    }

    /// [`Buffer::unpin`] under the lock.
    pub fn unpin(&self, id: AttachmentId) -> Result<(), LifecycleError> {
        self.write().unpin(id)
    }

    /// [`Buffer::map`] under the lock.
    pub fn map(&self, platform: &Platform<'_>, id: AttachmentId) -> Result<Mapped, LifecycleError> {
        self.write().map(platform, id)
    }

    /// [`Buffer::unmap`] under the lock.
    pub fn unmap(&self, handle: &MappingHandle) -> Result<(), LifecycleError> {
        self.write().unmap(handle)
    }

    /// [`Buffer::move_to`] under the lock.
    pub fn move_to(
        &self,
        platform: &Platform<'_>,
        placement: &Placement,
    ) -> Result<Migration, LifecycleError> {
        self.write().move_to(platform, placement)
    }

    /// [`Buffer::revoke`] under the lock.
    pub fn revoke(&self) -> Result<Revocation, LifecycleError> {
        self.write().revoke()
    }

    /// [`Buffer::device_reset`] under the lock.
    pub fn device_reset(&self, device: DeviceId) -> Result<Reset, LifecycleError> {
        self.write().device_reset(device)
    }

    /// [`Buffer::revalidate`] under the lock.
    pub fn revalidate(&self, platform: &Platform<'_>) -> Result<Revalidation, LifecycleError> {
        self.write().revalidate(platform)
    }

    /// The buffer back, unshared.
    pub fn into_inner(self) -> Buffer {
        self.inner
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
    }
}
