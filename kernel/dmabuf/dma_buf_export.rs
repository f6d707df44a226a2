// SPDX-License-Identifier: GPL-2.0

//! The exporter's side of a dma-buf, as far as `dmabuf_exporter` needs it.
//!
//! No Rust dma-buf abstractions exist upstream; these are small ones over the C API:
//!
//! - [`Exporter`]: what a driver implements; [`export`] builds the `struct dma_buf_ops` for it
//!   ([`OpsTable`]) and exports a buffer whose `priv` is the exporter (an [`Arc`], released by
//!   the `release` op).
//! - [`Exported`]: the exporter's own reference to the buffer (a file reference, put when
//!   dropped); it installs file descriptors and invalidates the importers' mappings.
//! - [`Attachment`]: one importer's attachment, as the ops see it.
//! - [`SgTable`]: a scatterlist of DMA addresses that the `map_dma_buf` op returns; ownership
//!   passes to the importer and comes back in `unmap_dma_buf`.
//!
//! Locking, as the dma-buf core defines it: `attach`, `detach` and `mmap` are called without
//! the reservation lock; `map_dma_buf`, `unmap_dma_buf`, `pin` and `unpin` with it held
//! (this exporter is dynamic: it has `pin`).

use core::marker::PhantomData;
use core::ptr::NonNull;

use kernel::bindings;
use kernel::error::from_err_ptr;
use kernel::prelude::*;
use kernel::str::CStrExt;
use kernel::sync::Arc;

use crate::resv::{Held, ResvGuard};

/// What an exporter does for its buffers. Every method runs in process context and may sleep.
pub(crate) trait Exporter: Send + Sync + Sized {
    /// A device attaches (`dma_buf_ops.attach`, without the reservation lock). Returns the
    /// exporter's number for the attachment, kept in `dma_buf_attachment.priv`.
    fn attach(&self, buffer: &Exported<Self>, attachment: &Attachment<'_>) -> Result<usize>;

    /// The attachment goes away (`detach`, without the reservation lock).
    fn detach(&self, buffer: &Exported<Self>, attachment: &Attachment<'_>);

    /// Maps for the attachment (`map_dma_buf`, under the reservation lock `resv`).
    fn map(&self, resv: &Held, attachment: &Attachment<'_>) -> Result<SgTable>;

    /// The importer gives its mapping back (`unmap_dma_buf`, under the reservation lock): the
    /// table that [`Exporter::map`] returned, freed afterwards.
    fn unmap(&self, resv: &Held, attachment: &Attachment<'_>, table: &SgTable);

    /// A static importer pins the buffer (`pin`, under the reservation lock).
    fn pin(&self, resv: &Held, attachment: &Attachment<'_>) -> Result;

    /// The pin is released (`unpin`, under the reservation lock).
    fn unpin(&self, resv: &Held, attachment: &Attachment<'_>);

    /// Maps the buffer into a process (`mmap`, under the process's mmap lock).
    fn mmap(&self, vma: *mut bindings::vm_area_struct) -> Result;
}

/// One attachment of one buffer, as an op sees it.
pub(crate) struct Attachment<'a> {
    raw: NonNull<bindings::dma_buf_attachment>,
    _op: PhantomData<&'a ()>,
}

impl Attachment<'_> {
    /// The device that attached (the importer's `struct device`).
    pub(crate) fn device(&self) -> *mut bindings::device {
        // SAFETY: the dma-buf core sets `dev` before calling any op and never changes it.
        unsafe { (*self.raw.as_ptr()).dev }
    }

    /// Whether the importer accepts peer-to-peer memory without struct pages
    /// (`dma_buf_attach_ops.allow_peer2peer`).
    pub(crate) fn peer2peer(&self) -> bool {
        // SAFETY: set by the core from the importer's ops before `attach`; never changes.
        unsafe { (*self.raw.as_ptr()).peer2peer }
    }

    /// Whether the importer can give its mappings back when told (`dma_buf_attach_revocable()`).
    pub(crate) fn revocable(&self) -> bool {
        // SAFETY: a live attachment; the call only reads its importer ops.
        unsafe { bindings::dma_buf_attach_revocable(self.raw.as_ptr()) }
    }

    /// Whether the importer is dynamic (it attached with importer ops).
    pub(crate) fn dynamic(&self) -> bool {
        // SAFETY: set by the core before `attach`; never changes.
        !unsafe { (*self.raw.as_ptr()).importer_ops }.is_null()
    }

    /// The exporter's number for this attachment (what [`Exporter::attach`] returned).
    pub(crate) fn token(&self) -> usize {
        // SAFETY: `priv` is written once, by `attach_op`, before any other op can see the
        // attachment; it holds a number, never dereferenced.
        unsafe { (*self.raw.as_ptr()).priv_ }.addr()
    }
}

/// A scatterlist of DMA addresses, without pages: what an importer of peer-to-peer memory
/// (or of any dma-buf) may use; or of pages, for the DMA API to map. Freed when dropped, unless
/// handed to the dma-buf core.
pub(crate) struct SgTable(NonNull<bindings::sg_table>);

// SAFETY: a table of our own (or given back to us by the core); it may be used and freed from
// any thread.
unsafe impl Send for SgTable {}

impl SgTable {
    /// A table with one entry per `(dma address, length)` range.
    pub(crate) fn of_dma_ranges(ranges: &[(u64, u32)]) -> Result<Self> {
        let nents = u32::try_from(ranges.len()).map_err(|_| EINVAL)?;
        let table = KBox::new(
            bindings::sg_table {
                sgl: core::ptr::null_mut(),
                nents: 0,
                orig_nents: 0,
            },
            GFP_KERNEL,
        )?;
        let table = NonNull::from(KBox::leak(table));
        // SAFETY: a zeroed table of our own; on success the core allocates `nents` entries,
        // initialised and chained, with the last one marked as the end.
        let rc = unsafe { bindings::sg_alloc_table(table.as_ptr(), nents, bindings::GFP_KERNEL) };
        if rc != 0 {
            // SAFETY: the box leaked above, nothing else refers to it (a failed
            // sg_alloc_table frees what it allocated).
            drop(unsafe { KBox::from_raw(table.as_ptr()) });
            return Err(Error::from_errno(rc));
        }
        let sgt = Self(table);
        let mut sg = sgt.first();
        for &(dma, len) in ranges {
            // SAFETY: `sg` walks the `nents` entries just allocated (`sg_next()` of the last
            // returns NULL, never reached: there are exactly as many entries as ranges). No
            // page is set: importers of this exporter use DMA addresses only, as the dma-buf
            // rules require.
            unsafe {
                (*sg).offset = 0;
                (*sg).length = len;
                (*sg).dma_address = dma;
                (*sg).dma_length = len;
                sg = bindings::sg_next(sg);
            }
        }
        Ok(sgt)
    }

    /// A table of one entry: `len` bytes of pages from `first` (for the DMA API to map).
    pub(crate) fn of_pages(first: *mut bindings::page, len: usize) -> Result<Self> {
        let len = u32::try_from(len).map_err(|_| EINVAL)?;
        let sgt = Self::of_dma_ranges(&[(0, len)])?;
        let sg = sgt.first();
        // SAFETY: the one entry just allocated; as `sg_assign_page()` does, the page goes in
        // the link word and the chain and end marks in its low two bits stay.
        unsafe { (*sg).page_link = ((*sg).page_link & 3) | first.expose_provenance() };
        Ok(sgt)
    }

    /// The table, for a call that maps it in place (`dma_map_sgtable()`); valid while `self`
    /// lives.
    pub(crate) fn as_raw(&self) -> *mut bindings::sg_table {
        self.0.as_ptr()
    }

    /// Which table this is: its address, the same from [`Exporter::map`] to
    /// [`Exporter::unmap`].
    pub(crate) fn addr(&self) -> usize {
        self.0.as_ptr().addr()
    }

    /// After the DMA API mapped the table: its mapped entries, and the first one's DMA
    /// address, length and flags (`SG_DMA_BUS_ADDRESS`).
    pub(crate) fn first_dma(&self) -> (u32, u64, u32, u32) {
        // SAFETY: an allocated table of our own, with at least one entry.
        unsafe {
            let table = self.0.as_ptr();
            let sg = (*table).sgl;
            (
                (*table).nents,
                (*sg).dma_address,
                (*sg).dma_length,
                (*sg).dma_flags,
            )
        }
    }

    fn first(&self) -> *mut bindings::scatterlist {
        // SAFETY: an allocated table of our own.
        unsafe { (*self.0.as_ptr()).sgl }
    }

    /// Hands the table to the dma-buf core (the `map_dma_buf` op's result).
    fn into_raw(self) -> *mut bindings::sg_table {
        let raw = self.0.as_ptr();
        core::mem::forget(self);
        raw
    }
}

impl Drop for SgTable {
    fn drop(&mut self) {
        // SAFETY: a table allocated by `of_dma_ranges` (or given back by the core, which got it
        // from there): its entries, then the box.
        unsafe {
            bindings::sg_free_table(self.0.as_ptr());
            drop(KBox::from_raw(self.0.as_ptr()));
        }
    }
}

/// The exporter's reference to one of its buffers. Dropping it puts the reference; the buffer
/// lives on while importers or file descriptors hold it.
pub(crate) struct Exported<T> {
    raw: NonNull<bindings::dma_buf>,
    _exporter: PhantomData<fn() -> T>,
}

// SAFETY: a counted reference to a dma-buf may be used and put from any thread; `T` is only
// reached through the ops, which require `T: Send + Sync`.
unsafe impl<T: Exporter> Send for Exported<T> {}
// SAFETY: as above; `&Exported` only gives the raw pointer and calls that take their own locks.
unsafe impl<T: Exporter> Sync for Exported<T> {}

impl<T: Exporter> Exported<T> {
    /// The `struct dma_buf`, valid while `self` lives.
    pub(crate) fn as_ptr(&self) -> *mut bindings::dma_buf {
        self.raw.as_ptr()
    }

    /// Installs a new file descriptor for the buffer in the calling process (`O_CLOEXEC`).
    pub(crate) fn install_fd(&self) -> Result<i32> {
        // SAFETY: a live dma-buf; the fd table takes the extra file reference taken here.
        unsafe { bindings::get_file((*self.as_ptr()).file) };
        // SAFETY: as above.
        let fd = unsafe { bindings::dma_buf_fd(self.as_ptr(), bindings::O_CLOEXEC as i32) };
        if fd < 0 {
            // SAFETY: gives back the reference the failed install did not take.
            unsafe { bindings::fput((*self.as_ptr()).file) };
            return Err(Error::from_errno(fd));
        }
        Ok(fd)
    }

    /// Tells every importer that its mappings are invalid (`dma_buf_invalidate_mappings()`).
    /// The reservation lock must be held: `held` proves it.
    pub(crate) fn invalidate_mappings(&self, held: &Held) {
        let _ = held;
        // SAFETY: a live dma-buf whose reservation lock this thread holds.
        unsafe { bindings::dma_buf_invalidate_mappings(self.as_ptr()) };
    }

    /// Zaps every CPU mapping of the buffer (`unmap_mapping_range()` on its file): after a move
    /// or a revoke, a process that still touches its old mapping faults instead of reaching
    /// memory the buffer left.
    pub(crate) fn zap_user_mappings(&self) {
        // SAFETY: a live dma-buf; its file and that file's mapping live as long as it does.
        unsafe {
            let mapping = (*(*self.as_ptr()).file).f_mapping;
            bindings::unmap_mapping_range(mapping, 0, 0, 1);
        }
    }

    /// Takes the buffer's reservation lock.
    pub(crate) fn lock(&self) -> ResvGuard {
        // SAFETY: a live dma-buf; callers never hold its lock when they call this.
        unsafe { ResvGuard::lock(self.as_ptr()) }
    }

    /// A second reference to the buffer an op was called for.
    ///
    /// # Safety
    ///
    /// `raw` is a live dma-buf exported by [`export`] for `T`.
    unsafe fn get(raw: *mut bindings::dma_buf) -> Self {
        // SAFETY: the buffer is live (the caller's contract), so its file is too.
        unsafe { bindings::get_file((*raw).file) };
        Self {
            // SAFETY: not NULL: the core passes live buffers.
            raw: unsafe { NonNull::new_unchecked(raw) },
            _exporter: PhantomData,
        }
    }
}

impl<T> Drop for Exported<T> {
    fn drop(&mut self) {
        // SAFETY: `self` owns one reference to the buffer's file.
        unsafe { bindings::dma_buf_put(self.raw.as_ptr()) };
    }
}

/// Exports a buffer of `size` bytes served by `exporter`, on behalf of `module` (which the
/// core keeps loaded while the buffer lives).
pub(crate) fn export<T: Exporter>(
    module: &'static ThisModule,
    exporter: Arc<T>,
    size: usize,
) -> Result<Exported<T>> {
    let exporter = Arc::into_raw(exporter);
    let info = bindings::dma_buf_export_info {
        exp_name: c"dmabuf_exporter".as_char_ptr(),
        owner: module.as_ptr(),
        ops: OpsTable::<T>::build(),
        size,
        flags: bindings::O_RDWR as i32,
        resv: core::ptr::null_mut(),
        priv_: exporter.cast_mut().cast(),
    };
    // SAFETY: a complete export description; on success the buffer owns `priv` (released by
    // `release_op`), on failure it does not.
    match from_err_ptr(unsafe { bindings::dma_buf_export(&info) }) {
        Ok(raw) => Ok(Exported {
            // SAFETY: `dma_buf_export()` returns a buffer or an error pointer, never NULL.
            raw: unsafe { NonNull::new_unchecked(raw) },
            _exporter: PhantomData,
        }),
        Err(e) => {
            // SAFETY: not given to any buffer: take the reference back.
            drop(unsafe { Arc::from_raw(exporter) });
            Err(e)
        }
    }
}

/// The exporter of `dmabuf` if [`export`] exported it for `T`, else `None` (another exporter's
/// buffer, whose `priv` is not ours to read).
///
/// # Safety
///
/// `dmabuf` is a live dma-buf, and stays live while the result is used (the caller holds a
/// reference to it).
pub(crate) unsafe fn exported_by<'a, T: Exporter>(dmabuf: *mut bindings::dma_buf) -> Option<&'a T> {
    // SAFETY: a live buffer (the caller's contract); `ops` is set at export and never changes.
    let ops = unsafe { (*dmabuf).ops };
    // SAFETY: `T`'s ops table is ours: a buffer carrying it was exported by `export::<T>`, so
    // its `priv` is the `Arc<T>` it owns while it lives.
    core::ptr::eq(ops, OpsTable::<T>::build()).then(|| unsafe { OpsTable::<T>::exporter(dmabuf) })
}

/// The `struct dma_buf_ops` of an [`Exporter`].
struct OpsTable<T>(PhantomData<T>);

impl<T: Exporter> OpsTable<T> {
    const OPS: bindings::dma_buf_ops = {
        let mut ops: bindings::dma_buf_ops = pin_init::zeroed();
        ops.attach = Some(Self::attach_op);
        ops.detach = Some(Self::detach_op);
        ops.pin = Some(Self::pin_op);
        ops.unpin = Some(Self::unpin_op);
        ops.map_dma_buf = Some(Self::map_op);
        ops.unmap_dma_buf = Some(Self::unmap_op);
        ops.release = Some(Self::release_op);
        ops.mmap = Some(Self::mmap_op);
        ops
    };

    const fn build() -> &'static bindings::dma_buf_ops {
        &Self::OPS
    }

    /// The exporter of a buffer.
    ///
    /// # Safety
    ///
    /// `dmabuf` is live and was exported by [`export`] for `T`, so `priv` is an `Arc<T>` the
    /// buffer owns until `release`.
    unsafe fn exporter<'a>(dmabuf: *mut bindings::dma_buf) -> &'a T {
        // SAFETY: the caller's contract.
        unsafe { &*(*dmabuf).priv_.cast::<T>() }
    }

    /// # Safety
    ///
    /// `attach` is live (the core calls the op with it).
    unsafe fn attachment<'a>(attach: *mut bindings::dma_buf_attachment) -> Attachment<'a> {
        Attachment {
            // SAFETY: the core passes live, non-NULL attachments.
            raw: unsafe { NonNull::new_unchecked(attach) },
            _op: PhantomData,
        }
    }

    /// # Safety
    ///
    /// Called only as the core's `attach`: `dmabuf` is a live buffer exported by [`export`] for `T`, `attach` its new attachment.
    unsafe extern "C" fn attach_op(
        dmabuf: *mut bindings::dma_buf,
        attach: *mut bindings::dma_buf_attachment,
    ) -> core::ffi::c_int {
        // SAFETY: the core calls `attach` with a live buffer of ours and a new attachment.
        let (exporter, attachment) = unsafe { (Self::exporter(dmabuf), Self::attachment(attach)) };
        // SAFETY: as above: a live buffer exported for `T`.
        let buffer = unsafe { Exported::<T>::get(dmabuf) };
        match exporter.attach(&buffer, &attachment) {
            Ok(token) => {
                // SAFETY: the attachment is not yet visible to anyone else; `priv` is ours.
                unsafe { (*attach).priv_ = core::ptr::without_provenance_mut(token) };
                0
            }
            Err(e) => e.to_errno(),
        }
    }

    /// # Safety
    ///
    /// Called only as the core's `detach`: `dmabuf` is a live buffer of ours, `attach` one of its attachments.
    unsafe extern "C" fn detach_op(
        dmabuf: *mut bindings::dma_buf,
        attach: *mut bindings::dma_buf_attachment,
    ) {
        // SAFETY: the core calls `detach` with a live buffer of ours and its attachment.
        let (exporter, attachment) = unsafe { (Self::exporter(dmabuf), Self::attachment(attach)) };
        // SAFETY: as above.
        let buffer = unsafe { Exported::<T>::get(dmabuf) };
        exporter.detach(&buffer, &attachment);
    }

    /// # Safety
    ///
    /// Called only as the core's `pin`: `attach` is a live attachment of a buffer of ours, its reservation lock held.
    unsafe extern "C" fn pin_op(attach: *mut bindings::dma_buf_attachment) -> core::ffi::c_int {
        // SAFETY: the core calls `pin` with a live attachment of our buffer, lock held.
        let (exporter, attachment, resv) = unsafe {
            (
                Self::exporter((*attach).dmabuf),
                Self::attachment(attach),
                Held::assume(),
            )
        };
        match exporter.pin(&resv, &attachment) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }

    /// # Safety
    ///
    /// Called only as the core's `unpin`: as for `pin_op`.
    unsafe extern "C" fn unpin_op(attach: *mut bindings::dma_buf_attachment) {
        // SAFETY: as for `pin_op`.
        let (exporter, attachment, resv) = unsafe {
            (
                Self::exporter((*attach).dmabuf),
                Self::attachment(attach),
                Held::assume(),
            )
        };
        exporter.unpin(&resv, &attachment);
    }

    /// # Safety
    ///
    /// Called only as the core's `map_dma_buf`: `attach` is a live attachment of a buffer of ours, its reservation lock held.
    unsafe extern "C" fn map_op(
        attach: *mut bindings::dma_buf_attachment,
        _dir: bindings::dma_data_direction,
    ) -> *mut bindings::sg_table {
        // SAFETY: the core calls `map_dma_buf` with a live attachment, lock held.
        let (exporter, attachment, resv) = unsafe {
            (
                Self::exporter((*attach).dmabuf),
                Self::attachment(attach),
                Held::assume(),
            )
        };
        match exporter.map(&resv, &attachment) {
            Ok(table) => table.into_raw(),
            Err(e) => e.to_ptr(),
        }
    }

    /// # Safety
    ///
    /// Called only as the core's `unmap_dma_buf`: as for `map_op`, and `table` came from `map_op`.
    unsafe extern "C" fn unmap_op(
        attach: *mut bindings::dma_buf_attachment,
        table: *mut bindings::sg_table,
        _dir: bindings::dma_data_direction,
    ) {
        // SAFETY: the core calls `unmap_dma_buf` with a live attachment, lock held, and a
        // table that `map_op` returned.
        let (exporter, attachment, resv, table) = unsafe {
            (
                Self::exporter((*attach).dmabuf),
                Self::attachment(attach),
                Held::assume(),
                SgTable(NonNull::new_unchecked(table)),
            )
        };
        exporter.unmap(&resv, &attachment, &table);
        drop(table);
    }

    /// # Safety
    ///
    /// Called only as the core's `release`: `dmabuf` is a buffer of ours whose last reference is gone.
    unsafe extern "C" fn release_op(dmabuf: *mut bindings::dma_buf) {
        // SAFETY: the last reference is gone; `priv` is the `Arc` given in `export`, released
        // once, here.
        drop(unsafe { Arc::from_raw((*dmabuf).priv_.cast::<T>()) });
    }

    /// # Safety
    ///
    /// Called only as the core's `mmap`: `dmabuf` is a live buffer of ours, `vma` a mapping being set up.
    unsafe extern "C" fn mmap_op(
        dmabuf: *mut bindings::dma_buf,
        vma: *mut bindings::vm_area_struct,
    ) -> core::ffi::c_int {
        // SAFETY: the core calls `mmap` with a live buffer of ours.
        let exporter = unsafe { Self::exporter(dmabuf) };
        match exporter.mmap(vma) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }
}
