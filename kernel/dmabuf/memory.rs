// SPDX-License-Identifier: GPL-2.0

//! The two memories a buffer of `dmabuf_exporter` can live in: a slice of an NVMe
//! controller memory buffer that the kernel registered as p2pmem, and system memory.
//!
//! Both are physically contiguous runs of pages with struct pages (p2pmem is ZONE_DEVICE memory,
//! `MEMORY_DEVICE_PCI_P2PDMA`), so the CPU reaches each page through `kmap_local_page()` and the
//! DMA API maps them like any pages. The pages of a contiguous run are consecutive in the memory
//! map (`CONFIG_SPARSEMEM_VMEMMAP`, which ZONE_DEVICE needs), so page `i` is `first + i`.

use core::ptr::NonNull;

use kernel::bindings;
use kernel::prelude::*;

/// Bytes in a page.
pub(crate) const PAGE: usize = bindings::PAGE_SIZE;

/// A contiguous run of pages.
pub(crate) struct Pages {
    first: NonNull<bindings::page>,
    count: usize,
}

impl Pages {
    /// How many pages.
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    /// The first page.
    pub(crate) fn first(&self) -> *mut bindings::page {
        self.first.as_ptr()
    }

    /// Runs `f` on page `i` mapped for the CPU (`PAGE` bytes).
    pub(crate) fn with_page<R>(&self, i: usize, f: impl FnOnce(*mut u8) -> R) -> Option<R> {
        if i >= self.count {
            return None;
        }
        // SAFETY: `i` is inside the run, whose struct pages are consecutive (module docs).
        let page = unsafe { self.first.as_ptr().add(i) };
        // SAFETY: a page of ours; the mapping is undone below, in this thread, before return.
        let addr = unsafe { bindings::kmap_local_page(page) };
        let out = f(addr.cast());
        // SAFETY: the address `kmap_local_page()` returned just above.
        unsafe { bindings::kunmap_local(addr) };
        Some(out)
    }

    /// The CPU physical address of the first byte.
    pub(crate) fn phys(&self) -> u64 {
        // The direct map translates linearly, so the first page's address is the run's.
        self.with_page(0, |addr| {
            // SAFETY: `addr` is a direct-map address of a page of ours.
            unsafe { bindings::slow_virt_to_phys(addr.cast()) }
        })
        .unwrap_or(0)
    }

    /// Copies every byte of `self` to `to` (same length), page by page.
    pub(crate) fn copy_to(&self, to: &Pages) {
        for i in 0..self.count.min(to.count) {
            self.with_page(i, |src| {
                to.with_page(i, |dst| {
                    // SAFETY: two distinct mapped pages of `PAGE` bytes each; nobody else writes
                    // them (the caller holds the buffer's locks, importers have been told).
                    unsafe { core::ptr::copy_nonoverlapping(src, dst, PAGE) }
                })
            });
        }
    }

    /// Sets every byte to `value`.
    pub(crate) fn fill(&self, value: u8) {
        for i in 0..self.count {
            self.with_page(i, |addr| {
                // SAFETY: a mapped page of `PAGE` bytes, written by us only.
                unsafe { core::ptr::write_bytes(addr, value, PAGE) }
            });
        }
    }
}

// SAFETY: the run is memory of ours; the CPU reaches it from any thread (callers serialise
// writers with the buffer's locks).
unsafe impl Send for Pages {}
// SAFETY: as above.
unsafe impl Sync for Pages {}

/// p2pmem of a provider (`pci_p2pmem_alloc_sgl()`), given back when dropped.
pub(crate) struct P2pMemory {
    provider: NonNull<bindings::pci_dev>,
    sgl: NonNull<bindings::scatterlist>,
    pages: Pages,
}

// SAFETY: the provider outlives the memory (the caller of `alloc` keeps it), and the list is
// only read, or given back once, from any thread.
unsafe impl Send for P2pMemory {}
// SAFETY: as above.
unsafe impl Sync for P2pMemory {}

impl P2pMemory {
    /// `len` bytes (a multiple of `PAGE`) of `provider`'s p2pmem, in one contiguous run.
    ///
    /// # Safety
    ///
    /// `provider` is a PCI function that stays alive (a counted reference) as long as the
    /// result.
    pub(crate) unsafe fn alloc(provider: *mut bindings::pci_dev, len: usize) -> Result<Self> {
        let length = u32::try_from(len).map_err(|_| EINVAL)?;
        let provider = NonNull::new(provider).ok_or(EINVAL)?;
        let mut nents = 0;
        // SAFETY: a live provider (the caller's contract); NULL when it has not enough p2pmem.
        let sgl = unsafe { bindings::pci_p2pmem_alloc_sgl(provider.as_ptr(), &mut nents, length) };
        let sgl = NonNull::new(sgl).ok_or(ENOMEM)?;
        // SAFETY: the one entry of the list just allocated; its page link holds the first
        // page (the low two bits are the chain and end marks, as `sg_page()` strips them).
        let first = unsafe { (*sgl.as_ptr()).page_link } & !3;
        let first = NonNull::new(core::ptr::with_exposed_provenance_mut(first));
        match first {
            // One entry: the allocator gives one contiguous run.
            Some(first) if nents == 1 => Ok(Self {
                provider,
                sgl,
                pages: Pages {
                    first,
                    count: len / PAGE,
                },
            }),
            _ => {
                // SAFETY: the list just allocated on this provider, given back unused.
                unsafe { bindings::pci_p2pmem_free_sgl(provider.as_ptr(), sgl.as_ptr()) };
                Err(ENOMEM)
            }
        }
    }

    /// The pages.
    pub(crate) fn pages(&self) -> &Pages {
        &self.pages
    }

    /// The PCI bus address of the first byte (`pci_p2pmem_virt_to_bus()`).
    pub(crate) fn bus(&self) -> u64 {
        self.pages
            .with_page(0, |addr| {
                // SAFETY: a live provider and an address of its p2pmem.
                unsafe { bindings::pci_p2pmem_virt_to_bus(self.provider.as_ptr(), addr.cast()) }
            })
            .unwrap_or(0)
    }
}

impl Drop for P2pMemory {
    fn drop(&mut self) {
        // SAFETY: the list came from `pci_p2pmem_alloc_sgl()` on this provider, which is alive.
        unsafe { bindings::pci_p2pmem_free_sgl(self.provider.as_ptr(), self.sgl.as_ptr()) };
    }
}

/// Zeroed, physically contiguous system memory (`alloc_pages()`), freed when dropped.
pub(crate) struct SystemMemory {
    pages: Pages,
    order: u32,
}

impl SystemMemory {
    /// At least `len` bytes (a power-of-two number of pages).
    pub(crate) fn alloc(len: usize) -> Result<Self> {
        let count = len.div_ceil(PAGE).next_power_of_two();
        let order = count.trailing_zeros();
        // SAFETY: a plain allocation; NULL on failure.
        let page =
            unsafe { bindings::alloc_pages(bindings::GFP_KERNEL | bindings::__GFP_ZERO, order) };
        Ok(Self {
            pages: Pages {
                first: NonNull::new(page).ok_or(ENOMEM)?,
                count,
            },
            order,
        })
    }

    /// The pages.
    pub(crate) fn pages(&self) -> &Pages {
        &self.pages
    }
}

impl Drop for SystemMemory {
    fn drop(&mut self) {
        // SAFETY: allocated by `alloc_pages()` with this order, freed once.
        unsafe { bindings::__free_pages(self.pages.first(), self.order) };
    }
}
