// SPDX-License-Identifier: GPL-2.0

//! The kernel's DMA mappings of a buffer's memories, one per (importer device, memory), and
//! the [`DmaMapper`] through which the lifecycle gets their addresses.
//!
//! What a device programs to reach memory is the DMA API's answer for that device: the CPU
//! address without an IOMMU, an IOVA the IOMMU translates with one, a PCI bus address for
//! peer-to-peer memory below a common bridge (P2PDMA marks those segments
//! `SG_DMA_BUS_ADDRESS`). So before the lifecycle derives a mapping, the exporter maps the
//! current memory for the importer's device with `dma_map_sgtable()` ([`DeviceMappings::ensure`]),
//! and the lifecycle's [`DmaMapper`] ([`KernelDma`]) answers from that mapping: the same
//! question gets the same IOVA for as long as the mapping lives, as the invariant checker,
//! which derives every usable mapping again, requires. A mapping lives while a scatterlist
//! handed to an importer uses it ([`DeviceMappings::hold`]) and is unmapped when the last one
//! comes back ([`DeviceMappings::release`]); a stale table (the buffer moved meanwhile) keeps
//! the old memory's mapping until it is given back, as the dma-buf rules require.

use core::ptr::NonNull;

use dmabuf_negotiate::{AddrRange, DeviceId, DmaAddr, DmaMapper, DmaRefusal, PhysAddr};
use kernel::bindings;
use kernel::prelude::*;

use crate::dma_buf_export::SgTable;
use crate::list::take_first;
use crate::memory::Pages;

/// A counted reference to a `struct device`.
struct DeviceRef(NonNull<bindings::device>);

impl DeviceRef {
    /// # Safety
    ///
    /// `dev` is a live device (the caller holds a reference for the duration of the call).
    unsafe fn get(dev: NonNull<bindings::device>) -> Self {
        // SAFETY: a live device (the caller's contract); the count taken is put in `drop`.
        unsafe { bindings::get_device(dev.as_ptr()) };
        Self(dev)
    }
}

impl Drop for DeviceRef {
    fn drop(&mut self) {
        // SAFETY: the reference taken in `get`, put once.
        unsafe { bindings::put_device(self.0.as_ptr()) };
    }
}

/// One memory of the buffer mapped for one device by `dma_map_sgtable()`, unmapped when
/// dropped.
pub(crate) struct DeviceMapping {
    // Fields drop in order, after `drop` unmapped: the table, then the device.
    table: SgTable,
    device: DeviceRef,
    id: DeviceId,
    /// The CPU physical address of the memory's first byte: which memory.
    phys: u64,
    len: u64,
    dma: u64,
    bus: bool,
}

// SAFETY: a mapping of our own memory for a counted device; it may be used and unmapped from
// any thread (the buffer's state lock serialises them).
unsafe impl Send for DeviceMapping {}

impl DeviceMapping {
    /// The first DMA address the kernel gave.
    pub(crate) fn dma(&self) -> u64 {
        self.dma
    }

    /// Whether the kernel gave PCI bus addresses (`SG_DMA_BUS_ADDRESS`: P2PDMA below a common
    /// bridge) rather than DMA-API addresses.
    pub(crate) fn is_bus(&self) -> bool {
        self.bus
    }
}

impl Drop for DeviceMapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly what `ensure` mapped, for the same device (still counted).
        unsafe {
            bindings::dma_unmap_sgtable(
                self.device.0.as_ptr(),
                self.table.as_raw(),
                bindings::dma_data_direction_DMA_BIDIRECTIONAL,
                0,
            )
        };
    }
}

/// A scatterlist handed to an importer, and the mapping (device, memory) it uses.
struct Holder {
    table: usize,
    id: DeviceId,
    phys: u64,
}

/// The buffer's DMA mappings, and which handed-out scatterlists use them.
#[derive(Default)]
pub(crate) struct DeviceMappings {
    mappings: KVec<DeviceMapping>,
    holders: KVec<Holder>,
}

impl DeviceMappings {
    /// The kernel's mapping of `len` bytes of `pages` for `dev` (whose id is `id`), made now if
    /// there is none. Fails with the DMA API's error (`-EREMOTEIO`: P2PDMA refuses the device),
    /// or `EIO` if the kernel did not map the memory as one range.
    ///
    /// # Safety
    ///
    /// `dev` is a live device, and `pages` outlive the mapping (they are the buffer's, and the
    /// buffer drops its mappings before its memories).
    pub(crate) unsafe fn ensure(
        &mut self,
        dev: NonNull<bindings::device>,
        id: DeviceId,
        pages: &Pages,
        len: usize,
    ) -> Result<&DeviceMapping> {
        let phys = pages.phys();
        if let Some(i) = self.position(id, phys) {
            return self.mappings.get(i).ok_or(EINVAL);
        }
        let table = SgTable::of_pages(pages.first(), len)?;
        let dir = bindings::dma_data_direction_DMA_BIDIRECTIONAL;
        // SAFETY: a live device (the caller's contract) and a table of our own pages that
        // nobody else maps; undone by `DeviceMapping::drop`, or below on a bad result.
        let rc = unsafe { bindings::dma_map_sgtable(dev.as_ptr(), table.as_raw(), dir, 0) };
        if rc < 0 {
            return Err(Error::from_errno(rc));
        }
        // SAFETY: a live device (as above); its count is put when the mapping drops.
        let device = unsafe { DeviceRef::get(dev) };
        let (nents, dma, dma_len, flags) = table.first_dma();
        let mapping = DeviceMapping {
            table,
            device,
            id,
            phys,
            len: u64::from(dma_len),
            dma,
            bus: flags & bindings::SG_DMA_BUS_ADDRESS != 0,
        };
        // A contiguous memory is one range for the device; anything else is not a mapping the
        // lifecycle can describe (it unmaps when dropped).
        if nents != 1 || usize::try_from(dma_len).ok() != Some(len) {
            pr_err!(
                "dmabuf-ic: the DMA API mapped {} bytes for a device in {} segments\n",
                len,
                nents
            );
            return Err(EIO);
        }
        self.mappings.push(mapping, GFP_KERNEL)?;
        self.mappings.last().ok_or(EINVAL)
    }

    fn position(&self, id: DeviceId, phys: u64) -> Option<usize> {
        self.mappings
            .iter()
            .position(|m| m.id == id && m.phys == phys)
    }

    /// The mapping of the memory at `phys` for `id`, if there is one.
    pub(crate) fn find(&self, id: DeviceId, phys: u64) -> Option<&DeviceMapping> {
        self.mappings.iter().find(|m| m.id == id && m.phys == phys)
    }

    /// The scatterlist at `table`, handed to an importer, uses the mapping of the memory at
    /// `phys` for `id`.
    pub(crate) fn hold(&mut self, table: usize, id: DeviceId, phys: u64) -> Result {
        self.holders
            .push(Holder { table, id, phys }, GFP_KERNEL)
            .map_err(Into::into)
    }

    /// The scatterlist at `table` came back: the mappings no scatterlist uses any more are
    /// unmapped.
    pub(crate) fn release(&mut self, table: usize) {
        let _ = take_first(&mut self.holders, |h| h.table == table);
        self.prune();
    }

    /// Unmaps every mapping that no handed-out scatterlist uses (after a map that was refused,
    /// or a release).
    pub(crate) fn prune(&mut self) {
        let holders = &self.holders;
        while let Some(unused) = take_first(&mut self.mappings, |m| {
            !holders.iter().any(|h| h.id == m.id && h.phys == m.phys)
        }) {
            drop(unused);
        }
    }

    /// The lifecycle's view of these mappings.
    pub(crate) fn mapper(&self) -> KernelDma<'_> {
        KernelDma(self)
    }
}

/// The DMA API as the lifecycle asks it ([`DmaMapper`]): the IOVA (or CPU address) the kernel
/// mapped for the device, never a new mapping, never a guess.
pub(crate) struct KernelDma<'a>(&'a DeviceMappings);

impl DmaMapper for KernelDma<'_> {
    fn map(
        &self,
        device: DeviceId,
        range: AddrRange<PhysAddr>,
    ) -> core::result::Result<AddrRange<DmaAddr>, DmaRefusal> {
        let refused = |reason| DmaRefusal { device, reason };
        let mapping = self.0.find(device, range.start().raw()).ok_or(refused(
            "the DMA API has not mapped this memory for the device",
        ))?;
        if mapping.bus {
            return Err(refused(
                "P2PDMA gives the device PCI bus addresses for this memory, not DMA-API ones",
            ));
        }
        if mapping.len != range.len() {
            return Err(refused("the DMA API mapped another length for the device"));
        }
        AddrRange::new(DmaAddr::new(mapping.dma), mapping.len)
            .ok_or(refused("the DMA API's range leaves the address space"))
    }
}
