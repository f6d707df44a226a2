// SPDX-License-Identifier: GPL-2.0

//! `dmabuf_ic_attach()`: the attach call through which an importer passes its offer list, and
//! the way that list reaches the exporter's attach op.
//!
//! The importer calls `dmabuf_ic_attach(dmabuf, list, importer_ops, importer_priv)`, exported
//! by this module (`exports.c`), where it would call the mapping-types series'
//! `dma_buf_mapping_attach()` (see `offer_list.rs`). For a buffer of this exporter the call
//! checks and converts the list ([`Offers::from_wire`]), files it under the calling task
//! ([`Offered`]), and attaches with `dma_buf_dynamic_attach()`; the core calls the exporter's
//! attach op synchronously, in the same task, and the op takes the list it finds there
//! ([`Offered::take`]). So the list goes from the importer's stack to the negotiation without
//! touching the attachment's fields or the importer's private data, and a concurrent attach by
//! another task cannot see it. A buffer of another exporter is attached as
//! `dma_buf_dynamic_attach()` would (what the series does for an exporter that does not match
//! lists); an importer that attaches with plain `dma_buf_dynamic_attach()` has filed nothing,
//! and the attach op falls back to what the attachment says ([`Offers::compat`]).

use core::ffi::c_void;
use core::fmt;
use core::ptr::NonNull;

use dmabuf_negotiate::{DeviceId, ImporterOffer};
use kernel::bindings;
use kernel::error::from_err_ptr;
use kernel::prelude::*;
use kernel::task::Task;

use crate::dma_buf_export::exported_by;
use crate::list::take_first;
use crate::offer_list::{
    offer_name, OfferList, WireOffer, MAX_WIRE_OFFERS, OFFER_LIST_VERSION, WIRE_DMA_ADDR,
    WIRE_PCI_BAR,
};
use crate::pci_function::PciFunction;
use crate::pci_name::PciName;
use crate::CmbBuffer;

/// One offer of an importer's list (the device is the list's).
#[derive(Clone, Copy)]
enum Offer {
    PciBar,
    DmaAddr { peer2peer: bool },
}

/// An importer's offers, all for one device, and where they came from.
#[derive(Clone, Copy)]
pub(crate) struct Offers {
    device: DeviceId,
    entries: [Offer; MAX_WIRE_OFFERS],
    count: usize,
    /// Whether the importer passed them (`dmabuf_ic_attach()`) rather than the exporter reading
    /// them from the attachment.
    passed: bool,
}

impl Offers {
    /// The list `list` carries, checked: its version, a known interconnect in every entry, one
    /// PCI function as the device of every entry, and `allow_peer2peer` set when an entry asks
    /// for peer-to-peer memory. Returns the offers and that function's device.
    ///
    /// # Safety
    ///
    /// `list` is NULL or points to an [`OfferList`] whose entries, and their devices, are valid
    /// for the call; `importer_ops` is NULL or valid.
    unsafe fn from_wire(
        list: *const OfferList,
        importer_ops: *const bindings::dma_buf_attach_ops,
    ) -> Result<(Self, NonNull<bindings::device>)> {
        // SAFETY: NULL or a valid list (the caller's contract).
        let list = unsafe { list.as_ref() }.ok_or(EINVAL)?;
        if list.version != OFFER_LIST_VERSION {
            pr_err!(
                "dmabuf-ic: offer list version {} (this exporter reads {})\n",
                list.version,
                OFFER_LIST_VERSION
            );
            return Err(EINVAL);
        }
        let count = usize::try_from(list.count).map_err(|_| EINVAL)?;
        if count == 0 || count > MAX_WIRE_OFFERS || list.offers.is_null() {
            return Err(EINVAL);
        }
        // SAFETY: `count` valid entries (the caller's contract), read only during the call.
        let wire = unsafe { core::slice::from_raw_parts(list.offers, count) };
        let dev = wire
            .first()
            .and_then(|offer| NonNull::new(offer.dev))
            .ok_or(EINVAL)?;
        if wire.iter().any(|offer| offer.dev != dev.as_ptr()) {
            // One `struct device` per attachment: a multipath importer attaches once per path.
            return Err(EINVAL);
        }
        // SAFETY: a valid device of the list (the caller's contract).
        let id = unsafe { PciFunction::of_device(dev) }.ok_or(ENODEV)?.id();
        // SAFETY: NULL or valid ops (the caller's contract).
        let allows_p2p = unsafe { importer_ops.as_ref() }.is_some_and(|ops| ops.allow_peer2peer);
        if wire.iter().any(WireOffer::peer2peer) && !allows_p2p {
            return Err(EINVAL);
        }
        let mut offers = Self::empty(id);
        for (slot, offer) in offers.entries.iter_mut().zip(wire) {
            *slot = match offer.interconnect {
                WIRE_PCI_BAR => Offer::PciBar,
                WIRE_DMA_ADDR => Offer::DmaAddr {
                    peer2peer: offer.peer2peer(),
                },
                _ => return Err(EINVAL),
            };
        }
        offers.count = count;
        offers.passed = true;
        Ok((offers, dev))
    }

    /// What an attachment without a list says: one `dma-addr` offer for its device, accepting
    /// peer-to-peer memory as its `allow_peer2peer` does. This is the list the mapping-types
    /// series builds for `dma_buf_dynamic_attach()`, kept here for importers that do not pass
    /// one.
    pub(crate) fn compat(device: DeviceId, peer2peer: bool) -> Self {
        let mut offers = Self::empty(device);
        if let Some(first) = offers.entries.first_mut() {
            *first = Offer::DmaAddr { peer2peer };
            offers.count = 1;
        }
        offers
    }

    fn empty(device: DeviceId) -> Self {
        Self {
            device,
            entries: [Offer::DmaAddr { peer2peer: false }; MAX_WIRE_OFFERS],
            count: 0,
            passed: false,
        }
    }

    fn entries(&self) -> &[Offer] {
        self.entries.get(..self.count).unwrap_or(&[])
    }

    /// The offers as the negotiation takes them, in the importer's order, and how many.
    pub(crate) fn importer_offers(self) -> ([ImporterOffer<'static>; MAX_WIRE_OFFERS], usize) {
        let mut out = [ImporterOffer::dma_addr(self.device, false); MAX_WIRE_OFFERS];
        for (slot, offer) in out.iter_mut().zip(self.entries()) {
            *slot = match *offer {
                Offer::PciBar => ImporterOffer::pci_bar(self.device),
                Offer::DmaAddr { peer2peer } => ImporterOffer::dma_addr(self.device, peer2peer),
            };
        }
        (out, self.entries().len())
    }

    /// `importer` if the importer passed the list, `compat` if it was read from the attachment.
    pub(crate) fn source(&self) -> &'static str {
        if self.passed {
            "importer"
        } else {
            "compat"
        }
    }
}

/// The offers as the log lines write them: `pci-bar@0000:03:00.0,dma-addr+p2p@0000:03:00.0`.
impl fmt::Display for Offers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, offer) in self.entries().iter().enumerate() {
            let name = match *offer {
                Offer::PciBar => offer_name(true, true),
                Offer::DmaAddr { peer2peer } => offer_name(false, peer2peer),
            };
            let sep = if i == 0 { "" } else { "," };
            write!(f, "{sep}{name}@{}", PciName(self.device.0))?;
        }
        Ok(())
    }
}

/// Lists filed by `dmabuf_ic_attach()` for the exporter's attach op, by attaching task.
#[derive(Default)]
pub(crate) struct Offered(KVec<(usize, Offers)>);

impl Offered {
    /// The calling task's id: only compared, never dereferenced.
    fn me() -> usize {
        Task::current_raw().addr()
    }

    /// Files `offers` for the calling task's attach.
    fn file(&mut self, offers: Offers) -> Result {
        self.0.push((Self::me(), offers), GFP_KERNEL)?;
        Ok(())
    }

    /// The list the calling task filed, taken (the attach op's side), if any.
    pub(crate) fn take(&mut self) -> Option<Offers> {
        let me = Self::me();
        take_first(&mut self.0, |(task, _)| *task == me).map(|(_, offers)| offers)
    }
}

/// Attaches `dmabuf` for the device of the importer's `list` (see the module docs). Returns the
/// attachment or an error pointer (`-EINVAL` for a malformed list, `-ENODEV` for a device that
/// is not a PCI function, or the attach's own error, such as the exporter's refusal).
///
/// # Safety
///
/// `dmabuf` is a live dma-buf the caller holds a reference to; `list` points to an
/// [`OfferList`] whose entries and devices are valid for the call; `importer_ops` and
/// `importer_priv` are as `dma_buf_dynamic_attach()` requires them.
#[no_mangle]
pub(crate) unsafe extern "C" fn dmabuf_ic_attach(
    dmabuf: *mut bindings::dma_buf,
    list: *const OfferList,
    importer_ops: *const bindings::dma_buf_attach_ops,
    importer_priv: *mut c_void,
) -> *mut bindings::dma_buf_attachment {
    // SAFETY: the caller's contract, passed on.
    match unsafe { attach_offering(dmabuf, list, importer_ops, importer_priv) } {
        Ok(attachment) => attachment,
        Err(e) => e.to_ptr(),
    }
}

/// # Safety
///
/// As for [`dmabuf_ic_attach`].
unsafe fn attach_offering(
    dmabuf: *mut bindings::dma_buf,
    list: *const OfferList,
    importer_ops: *const bindings::dma_buf_attach_ops,
    importer_priv: *mut c_void,
) -> Result<*mut bindings::dma_buf_attachment> {
    if dmabuf.is_null() {
        return Err(EINVAL);
    }
    // SAFETY: the caller's contract.
    let (offers, dev) = unsafe { Offers::from_wire(list, importer_ops) }?;
    // SAFETY: a live dma-buf the caller holds a reference to, for the whole call.
    let ours = unsafe { exported_by::<CmbBuffer>(dmabuf) };
    if let Some(buffer) = ours {
        buffer.offered.lock().file(offers)?;
    }
    // SAFETY: a live buffer and device; ops and private data as the caller passed them.
    let attached = from_err_ptr(unsafe {
        bindings::dma_buf_dynamic_attach(dmabuf, dev.as_ptr(), importer_ops, importer_priv)
    });
    if let Some(buffer) = ours {
        // Normally the attach op took it; not if the core failed before calling the op.
        let _ = buffer.offered.lock().take();
    }
    attached
}
