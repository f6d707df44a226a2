// SPDX-License-Identifier: GPL-2.0

//! The map type the kernel's DMA API really chooses, observed from outside `p2pdma.c`.
//!
//! Four KiB of the provider's p2pmem (`pci_p2pmem_alloc_sgl()`) are mapped for the client with
//! `dma_map_sgtable()`, as a driver maps a buffer before DMA. The DMA layer asks the P2PDMA core
//! for the map type of every P2P page: a `PCI_P2PDMA_MAP_BUS_ADDR` segment comes back marked
//! as a bus address (`sg_dma_is_bus_address()`), a `PCI_P2PDMA_MAP_THRU_HOST_BRIDGE` one is
//! mapped as ordinary memory (CPU physical address or IOVA), and `PCI_P2PDMA_MAP_NOT_SUPPORTED`
//! fails with `-EREMOTEIO`. This is the kernel's own decision, and checks the route kind that
//! [`crate::kernel_fabric`] derives. It needs a client whose driver set up DMA (an NVMe
//! controller bound to `nvme`).

use core::fmt;
use core::ptr::NonNull;

use kernel::bindings;

use crate::pci_function::PciFunction;

/// Bytes of p2pmem mapped for the observation.
const PROBE_LEN: u32 = 4096;

/// What mapping the provider's memory for the client gave.
pub(crate) enum MapObservation {
    /// Mapped with PCI bus addresses (`PCI_P2PDMA_MAP_BUS_ADDR`), at this DMA address.
    BusAddr(u64),
    /// Mapped through the host bridge (`PCI_P2PDMA_MAP_THRU_HOST_BRIDGE`), at this address.
    ThroughHostBridge(u64),
    /// Refused (`PCI_P2PDMA_MAP_NOT_SUPPORTED`: `-EREMOTEIO`).
    NotSupported,
    /// The provider had no p2pmem to give.
    NoP2pMem,
    /// Mapping failed for another reason (the errno).
    Failed(i32),
}

impl fmt::Display for MapObservation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MapObservation::BusAddr(a) => write!(f, "map=bus-addr dma={a:#x}"),
            MapObservation::ThroughHostBridge(a) => write!(f, "map=thru-host-bridge dma={a:#x}"),
            MapObservation::NotSupported => f.write_str("map=not-supported"),
            MapObservation::NoP2pMem => f.write_str("map=error reason=no-p2pmem"),
            MapObservation::Failed(e) => write!(f, "map=error errno={e}"),
        }
    }
}

/// A scatterlist of p2pmem, given back to the provider when dropped.
struct P2pMemSgl<'p> {
    provider: &'p PciFunction,
    sgl: NonNull<bindings::scatterlist>,
    nents: u32,
}

impl<'p> P2pMemSgl<'p> {
    fn alloc(provider: &'p PciFunction, len: u32) -> Option<Self> {
        let mut nents = 0;
        // SAFETY: a valid provider; the kernel allocates the list and the memory, or NULL.
        let sgl = unsafe { bindings::pci_p2pmem_alloc_sgl(provider.as_ptr(), &mut nents, len) };
        Some(Self {
            provider,
            sgl: NonNull::new(sgl)?,
            nents,
        })
    }
}

impl Drop for P2pMemSgl<'_> {
    fn drop(&mut self) {
        // SAFETY: the list came from pci_p2pmem_alloc_sgl() on this provider and is unmapped.
        unsafe { bindings::pci_p2pmem_free_sgl(self.provider.as_ptr(), self.sgl.as_ptr()) };
    }
}

/// Maps a little of `provider`'s p2pmem for `client` and unmaps it again.
pub(crate) fn observe(provider: &PciFunction, client: &PciFunction) -> MapObservation {
    let Some(mem) = P2pMemSgl::alloc(provider, PROBE_LEN) else {
        return MapObservation::NoP2pMem;
    };
    let mut table = bindings::sg_table {
        sgl: mem.sgl.as_ptr(),
        nents: mem.nents,
        orig_nents: mem.nents,
    };
    let dir = bindings::dma_data_direction_DMA_FROM_DEVICE;
    // SAFETY: a valid client device and a table describing the allocated list.
    let rc = unsafe { bindings::dma_map_sgtable(client.as_device(), &mut table, dir, 0) };
    if rc == -(bindings::EREMOTEIO as i32) {
        return MapObservation::NotSupported;
    }
    if rc < 0 {
        return MapObservation::Failed(rc);
    }
    // SAFETY: the first entry of the list, which the mapping just filled in.
    let (flags, addr) = unsafe {
        let sg = mem.sgl.as_ptr();
        ((*sg).dma_flags, (*sg).dma_address)
    };
    // SAFETY: unmaps exactly what was mapped above, for the same device and direction.
    unsafe { bindings::dma_unmap_sgtable(client.as_device(), &mut table, dir, 0) };
    if flags & bindings::SG_DMA_BUS_ADDRESS != 0 {
        MapObservation::BusAddr(addr)
    } else {
        MapObservation::ThroughHostBridge(addr)
    }
}
