// SPDX-License-Identifier: GPL-2.0

//! The importer's side of a dma-buf, as far as `dmabuf_importer` needs it.
//!
//! - [`Importer`]: what a driver implements: its `invalidate_mappings` callback, called by the
//!   exporter (under the reservation lock) when the buffer moves or is revoked.
//! - [`Import`]: a dynamic attachment of an fd's buffer for one PCI function
//!   (`dma_buf_get()`, then `dmabuf_ic_attach()` with the importer's offer list, or plain
//!   `dma_buf_dynamic_attach()` for an importer without one); dropping it gives any mapping back
//!   and detaches.
//! - [`Mapped`]: a scatterlist the exporter returned (`dma_buf_map_attachment()`), given back
//!   with [`Mapped::unmap`] under the reservation lock.

use core::marker::PhantomData;
use core::ptr::NonNull;

use kernel::bindings;
use kernel::error::from_err_ptr;
use kernel::prelude::*;
use kernel::sync::Arc;

use crate::offer_list::{OfferList, WireOffer, MAX_WIRE_OFFERS, OFFER_LIST_VERSION};
use crate::resv::{Held, ResvGuard};

// The kernel's structs cross only by pointer, as in the bindings' own extern blocks (which
// allow the same lint).
#[allow(improper_ctypes)]
extern "C" {
    /// `dmabuf_exporter`'s attach with an offer list (`offer_list.rs`, `offered_attach.rs`),
    /// exported in namespace `DMABUF_IC`.
    fn dmabuf_ic_attach(
        dmabuf: *mut bindings::dma_buf,
        list: *const OfferList,
        importer_ops: *const bindings::dma_buf_attach_ops,
        importer_priv: *mut core::ffi::c_void,
    ) -> *mut bindings::dma_buf_attachment;
}

/// What an importer does when the exporter invalidates its mappings.
pub(crate) trait Importer: Send + Sync + Sized {
    /// The mappings are invalid (a move, a revoke): give them back now. Called with the
    /// reservation lock held; also called when the import is dropped.
    fn invalidate(&self, held: &Held);
}

/// A mapping of an attachment: the exporter's scatterlist.
pub(crate) struct Mapped {
    attach: NonNull<bindings::dma_buf_attachment>,
    sgt: NonNull<bindings::sg_table>,
}

// SAFETY: the attachment and the table may be given back from any thread holding the lock.
unsafe impl Send for Mapped {}

impl Mapped {
    /// Entries, the first DMA address, and the bytes of all entries together.
    pub(crate) fn first(&self) -> (u32, u64, u64) {
        // SAFETY: a table the exporter returned, ours until given back.
        let (sgl, nents) = unsafe { ((*self.sgt.as_ptr()).sgl, (*self.sgt.as_ptr()).nents) };
        let mut total = 0u64;
        let mut sg = sgl;
        let mut first = 0;
        for i in 0..nents {
            // SAFETY: `sg` walks the table's `nents` DMA entries.
            let (addr, len) = unsafe { (bindings::sg_dma_address(sg), bindings::sg_dma_len(sg)) };
            if i == 0 {
                first = addr;
            }
            total = total.saturating_add(u64::from(len));
            // SAFETY: as above; the last `sg_next()` is not dereferenced.
            sg = unsafe { bindings::sg_next(sg) };
        }
        (nents, first, total)
    }

    /// Gives the mapping back (`dma_buf_unmap_attachment()`).
    pub(crate) fn unmap(self, held: &Held) {
        let _ = held;
        // SAFETY: the table came from mapping this attachment, is given back once, and the
        // reservation lock is held (`held`).
        unsafe {
            bindings::dma_buf_unmap_attachment(
                self.attach.as_ptr(),
                self.sgt.as_ptr(),
                bindings::dma_data_direction_DMA_BIDIRECTIONAL,
            )
        };
    }
}

/// A dynamic attachment of a dma-buf for one PCI function.
pub(crate) struct Import<T: Importer> {
    dmabuf: NonNull<bindings::dma_buf>,
    client: NonNull<bindings::pci_dev>,
    attach: NonNull<bindings::dma_buf_attachment>,
    importer: Arc<T>,
}

// SAFETY: counted references to the buffer and the function, and an attachment that any
// thread may map, unmap and detach (with the locks the calls take); `T` is Send + Sync.
unsafe impl<T: Importer> Send for Import<T> {}
// SAFETY: as above.
unsafe impl<T: Importer> Sync for Import<T> {}

impl<T: Importer> Import<T> {
    /// Attaches the buffer behind `fd` for the PCI function `client`
    /// (`domain << 16 | bus << 8 | devfn`), with `allow_peer2peer` as `peer2peer` says. With
    /// `offers` (their `dev` is ignored: every offer is the client's) the importer passes that
    /// list through `dmabuf_ic_attach()`; without, it attaches as any dynamic importer of
    /// mainline does (`dma_buf_dynamic_attach()`). The exporter's `attach` negotiates; its
    /// refusal is the error.
    pub(crate) fn attach(
        fd: i32,
        client: u32,
        offers: Option<&[WireOffer]>,
        peer2peer: bool,
        importer: Arc<T>,
    ) -> Result<Self> {
        if offers.is_some_and(|offers| offers.len() > MAX_WIRE_OFFERS) {
            return Err(EINVAL);
        }
        // SAFETY: a lookup of the caller's fd; a counted reference or an error pointer.
        let dmabuf = from_err_ptr(unsafe { bindings::dma_buf_get(fd) })?;
        // SAFETY: as above, not NULL.
        let dmabuf = unsafe { NonNull::new_unchecked(dmabuf) };
        let (domain, bus, devfn) = ((client >> 16) as i32, (client >> 8) & 0xff, client & 0xff);
        // SAFETY: a lookup without preconditions: a counted reference or NULL.
        let pdev = unsafe { bindings::pci_get_domain_bus_and_slot(domain, bus, devfn) };
        let Some(pdev) = NonNull::new(pdev) else {
            // SAFETY: the reference taken above.
            unsafe { bindings::dma_buf_put(dmabuf.as_ptr()) };
            return Err(ENODEV);
        };
        let priv_ = Arc::as_ptr(&importer).cast_mut().cast();
        // SAFETY: a counted function; this takes the address of its device without reading it.
        let dev = unsafe { &raw mut (*pdev.as_ptr()).dev };
        let ops = if peer2peer {
            Ops::<T>::peer2peer()
        } else {
            Ops::<T>::plain()
        };
        let attach = match offers {
            Some(offers) => {
                let mut entries = [WireOffer {
                    interconnect: 0,
                    flags: 0,
                    dev,
                }; MAX_WIRE_OFFERS];
                for (entry, offer) in entries.iter_mut().zip(offers) {
                    entry.interconnect = offer.interconnect;
                    entry.flags = offer.flags;
                }
                let list = OfferList {
                    version: OFFER_LIST_VERSION,
                    // At most `MAX_WIRE_OFFERS` (checked first): no truncation.
                    count: offers.len() as u32,
                    offers: entries.as_ptr(),
                };
                // SAFETY: a live buffer; the list, its entries and the device live on this
                // stack frame or longer; the ops are static and `priv` (the importer) lives in
                // `self`, which detaches before dropping it.
                from_err_ptr(unsafe { dmabuf_ic_attach(dmabuf.as_ptr(), &list, ops, priv_) })
            }
            // SAFETY: as above, without a list.
            None => from_err_ptr(unsafe {
                bindings::dma_buf_dynamic_attach(dmabuf.as_ptr(), dev, ops, priv_)
            }),
        };
        match attach {
            Ok(attach) => Ok(Self {
                dmabuf,
                client: pdev,
                // SAFETY: an attachment or an error pointer, never NULL.
                attach: unsafe { NonNull::new_unchecked(attach) },
                importer,
            }),
            Err(e) => {
                // SAFETY: the references taken above.
                unsafe {
                    bindings::pci_dev_put(pdev.as_ptr());
                    bindings::dma_buf_put(dmabuf.as_ptr());
                }
                Err(e)
            }
        }
    }

    /// The importer.
    pub(crate) fn importer(&self) -> &T {
        &self.importer
    }

    /// Takes the buffer's reservation lock.
    pub(crate) fn lock(&self) -> ResvGuard {
        // SAFETY: a live buffer (counted); callers do not hold its lock.
        unsafe { ResvGuard::lock(self.dmabuf.as_ptr()) }
    }

    /// Maps the attachment (the exporter's `map_dma_buf`).
    pub(crate) fn map(&self, held: &Held) -> Result<Mapped> {
        let _ = held;
        // SAFETY: a live attachment, with the reservation lock held (`held`).
        let sgt = from_err_ptr(unsafe {
            bindings::dma_buf_map_attachment(
                self.attach.as_ptr(),
                bindings::dma_data_direction_DMA_BIDIRECTIONAL,
            )
        })?;
        Ok(Mapped {
            attach: self.attach,
            // SAFETY: a table or an error pointer, never NULL.
            sgt: unsafe { NonNull::new_unchecked(sgt) },
        })
    }
}

impl<T: Importer> Drop for Import<T> {
    fn drop(&mut self) {
        {
            let resv = self.lock();
            self.importer.invalidate(resv.held());
        }
        // SAFETY: our attachment of our buffer, detached once; then the references taken in
        // `attach` are given back.
        unsafe {
            bindings::dma_buf_detach(self.dmabuf.as_ptr(), self.attach.as_ptr());
            bindings::pci_dev_put(self.client.as_ptr());
            bindings::dma_buf_put(self.dmabuf.as_ptr());
        }
    }
}

/// The `struct dma_buf_attach_ops` of an [`Importer`].
struct Ops<T>(PhantomData<T>);

impl<T: Importer> Ops<T> {
    const PEER2PEER: bindings::dma_buf_attach_ops = bindings::dma_buf_attach_ops {
        allow_peer2peer: true,
        invalidate_mappings: Some(Self::invalidate_op),
    };
    const PLAIN: bindings::dma_buf_attach_ops = bindings::dma_buf_attach_ops {
        allow_peer2peer: false,
        invalidate_mappings: Some(Self::invalidate_op),
    };

    const fn peer2peer() -> &'static bindings::dma_buf_attach_ops {
        &Self::PEER2PEER
    }

    const fn plain() -> &'static bindings::dma_buf_attach_ops {
        &Self::PLAIN
    }

    /// # Safety
    ///
    /// Called only by the exporter, as the `invalidate_mappings` of an attachment made by
    /// [`Import::attach`], with the reservation lock held.
    unsafe extern "C" fn invalidate_op(attach: *mut bindings::dma_buf_attachment) {
        // SAFETY: the exporter calls this for an attachment made by `Import::attach`, whose
        // `importer_priv` is the importer (alive until after the detach), with the
        // reservation lock held.
        let (importer, held) = unsafe { (&*(*attach).importer_priv.cast::<T>(), Held::assume()) };
        importer.invalidate(&held);
    }
}
