// SPDX-License-Identifier: GPL-2.0

//! The reservation lock of a dma-buf (`dma_resv_lock()`), held by a guard.
//!
//! The dma-buf rules: the exporter's `map_dma_buf` and the importer's `invalidate_mappings`
//! run with it held, `dma_buf_invalidate_mappings()` and `dma_buf_map_attachment()` must be
//! called with it held. Both modules take it before their own mutex, never the other way round.

use kernel::bindings;

/// Proof that the calling thread holds the reservation lock of the buffer at hand: what the
/// functions that need the lock take.
pub(crate) struct Held(());

impl Held {
    /// The proof, for code that the dma-buf core calls with the lock held.
    ///
    /// # Safety
    ///
    /// The calling thread holds the reservation lock of the buffer the proof is used for.
    pub(crate) unsafe fn assume() -> Self {
        Self(())
    }
}

/// The reservation lock of one buffer, taken by [`ResvGuard::lock`] and held until dropped.
pub(crate) struct ResvGuard {
    resv: *mut bindings::dma_resv,
    held: Held,
}

impl ResvGuard {
    /// Locks the reservation object of `dmabuf` (sleeps until it is free).
    ///
    /// # Safety
    ///
    /// `dmabuf` is a live dma-buf (the caller holds a reference, or is one of its ops) and the
    /// calling thread does not hold its reservation lock already.
    pub(crate) unsafe fn lock(dmabuf: *mut bindings::dma_buf) -> Self {
        // SAFETY: a live dma-buf always has a reservation object (`dma_buf_export()` gives it
        // one); the field is set at export and never changes.
        let resv = unsafe { (*dmabuf).resv };
        // SAFETY: `resv` is valid; without an acquire context the lock cannot fail with
        // -EDEADLK or -EALREADY, it only waits, and the caller does not hold it already.
        unsafe { bindings::dma_resv_lock(resv, core::ptr::null_mut()) };
        Self {
            resv,
            held: Held(()),
        }
    }

    /// The proof that the lock is held.
    pub(crate) fn held(&self) -> &Held {
        &self.held
    }
}

impl Drop for ResvGuard {
    fn drop(&mut self) {
        // SAFETY: `self.resv` was locked by `lock()` in this thread and is unlocked once, here.
        unsafe { bindings::dma_resv_unlock(self.resv) };
    }
}
