// SPDX-License-Identifier: GPL-2.0

//! The importer's offer list as it crosses from `dmabuf_importer` to `dmabuf_exporter`, and the
//! attach call that carries it (compiled into both modules).
//!
//! Mainline 7.2's `struct dma_buf_attachment` has no field for an importer's list: what an
//! attachment carries is a device and `allow_peer2peer`. The unmerged "dma-buf mapping types"
//! series adds `dma_buf_mapping_attach(dmabuf, importer_matches, match_len, importer_ops,
//! importer_priv)`, whose list (`struct dma_buf_mapping_match[]`) reaches the exporter's
//! `match_mapping()` op during the attach. Until then, `dmabuf_exporter` exports
//! `dmabuf_ic_attach()` with the same shape (`kernel/dmabuf/README.md` says why this and not
//! another channel): the importer passes an [`OfferList`] of [`WireOffer`]s, on its stack, and
//! the exporter's attach op negotiates with exactly those offers.
//!
//! The layout is `#[repr(C)]` and versioned ([`OFFER_LIST_VERSION`]), so that the two modules,
//! built separately, agree on it and a list of another version is refused, not misread.

use kernel::bindings;

/// The version of [`OfferList`] this build writes and reads.
pub(crate) const OFFER_LIST_VERSION: u32 = 1;

/// The most offers one list may carry (an NVMe client has two).
pub(crate) const MAX_WIRE_OFFERS: usize = 8;

/// [`WireOffer::interconnect`]: `dma-addr`, a scatterlist of DMA addresses for the device.
pub(crate) const WIRE_DMA_ADDR: u32 = 1;
/// [`WireOffer::interconnect`]: `pci-bar`, a slice of a PCI BAR, accessed by the device.
pub(crate) const WIRE_PCI_BAR: u32 = 2;

/// [`WireOffer::flags`]: the device accepts peer-to-peer addresses (`dma-addr` only; a
/// `pci-bar` offer is peer-to-peer by nature).
pub(crate) const WIRE_ACCEPTS_P2P: u32 = 1;

/// One offer of the importer: an interconnect and the device that will access the buffer
/// through it (what `DMA_BUF_IMAPPING_SGT(dev, ...)` holds in the mapping-types series).
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct WireOffer {
    /// [`WIRE_DMA_ADDR`] or [`WIRE_PCI_BAR`].
    pub(crate) interconnect: u32,
    /// [`WIRE_ACCEPTS_P2P`] or 0.
    pub(crate) flags: u32,
    /// The accessing device; it outlives the attach call.
    pub(crate) dev: *mut bindings::device,
}

/// The importer's offers, in its order of preference.
#[repr(C)]
pub(crate) struct OfferList {
    /// [`OFFER_LIST_VERSION`].
    pub(crate) version: u32,
    /// How many entries `offers` points to.
    pub(crate) count: u32,
    /// The entries, valid for the duration of the attach call.
    pub(crate) offers: *const WireOffer,
}

impl WireOffer {
    /// Whether the offer asks for peer-to-peer memory (which needs `allow_peer2peer`).
    pub(crate) fn peer2peer(&self) -> bool {
        self.interconnect == WIRE_PCI_BAR || self.flags & WIRE_ACCEPTS_P2P != 0
    }
}

/// The name the log lines of both modules give an offer: `pci-bar`, `dma-addr+p2p` (accepting
/// peer-to-peer memory) or `dma-addr`.
pub(crate) fn offer_name(pci_bar: bool, peer2peer: bool) -> &'static str {
    match (pci_bar, peer2peer) {
        (true, _) => "pci-bar",
        (false, true) => "dma-addr+p2p",
        (false, false) => "dma-addr",
    }
}
