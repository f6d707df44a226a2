//! What the lifecycle asks of the machine: its fabric, and how devices see physical memory.
//!
//! Negotiation needs only a [`Fabric`]. Handing out a mapping also needs the DMA API: the DMA
//! address a device must program for a CPU physical range depends on that device's IOMMU (or its
//! absence), exactly as `dma_map_sgtable()` and `dma_map_resource()` depend on the importer's
//! `struct device` in Linux. A [`DmaMapper`] answers that; [`DirectMapped`] is a machine without
//! IOMMU, where a device programs the physical address itself.

use core::fmt;

use crate::{AddrRange, Describe, DeviceId, DmaAddr, Fabric, Names, OpaqueNames, PhysAddr};

/// Why a device cannot be given DMA addresses for a range.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct DmaRefusal {
    /// The device.
    pub device: DeviceId,
    /// Why (for people).
    pub reason: &'static str,
}

impl Describe for DmaRefusal {
    fn describe(&self, f: &mut fmt::Formatter<'_>, names: &dyn Names) -> fmt::Result {
        write!(
            f,
            "no DMA mapping for {}: {}",
            self.device.named(names),
            self.reason
        )
    }
}

impl fmt::Display for DmaRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.describe(f, &OpaqueNames)
    }
}

impl core::error::Error for DmaRefusal {}

/// The DMA API of the machine: which DMA addresses a device programs to reach a CPU physical
/// range (system RAM, or a peer's BAR through the host bridge).
///
/// Must be deterministic (the same question gets the same answer), must not panic, and must keep
/// the length: the returned range is exactly as long as the one asked for.
pub trait DmaMapper {
    /// The DMA addresses `device` programs to reach `range`.
    fn map(
        &self,
        device: DeviceId,
        range: AddrRange<PhysAddr>,
    ) -> Result<AddrRange<DmaAddr>, DmaRefusal>;
}

/// No IOMMU and no DMA offset: every device programs the CPU physical address.
///
/// This is the one place a [`PhysAddr`] becomes a [`DmaAddr`] with the same value, and it is an
/// explicit statement about the machine, not an implicit conversion.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct DirectMapped;

impl DmaMapper for DirectMapped {
    fn map(
        &self,
        device: DeviceId,
        range: AddrRange<PhysAddr>,
    ) -> Result<AddrRange<DmaAddr>, DmaRefusal> {
        AddrRange::new(DmaAddr::new(range.start().raw()), range.len()).ok_or(DmaRefusal {
            device,
            reason: "the range leaves the DMA address space",
        })
    }
}

static DIRECT: DirectMapped = DirectMapped;

/// The machine as the lifecycle sees it: a [`Fabric`] for reachability and a [`DmaMapper`] for
/// DMA addresses. Borrowed for one operation at a time, so the caller may change the machine
/// (take a link down) between operations and then tell the buffer
/// ([`Buffer::revalidate`](crate::Buffer::revalidate)).
#[derive(Clone, Copy)]
pub struct Platform<'p> {
    fabric: &'p dyn Fabric,
    dma: &'p dyn DmaMapper,
}

impl fmt::Debug for Platform<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Platform").finish_non_exhaustive()
    }
}

impl<'p> Platform<'p> {
    /// `fabric`, on a machine without IOMMU ([`DirectMapped`]).
    pub fn new(fabric: &'p dyn Fabric) -> Self {
        Self {
            fabric,
            dma: &DIRECT,
        }
    }

    /// The same machine with another DMA API.
    pub fn with_dma(self, dma: &'p dyn DmaMapper) -> Self {
        Self { dma, ..self }
    }

    /// The fabric.
    pub fn fabric(&self) -> &'p dyn Fabric {
        self.fabric
    }

    /// The DMA API.
    pub fn dma(&self) -> &'p dyn DmaMapper {
        self.dma
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_mapping_keeps_the_value_and_the_length() {
        let r = AddrRange::new(PhysAddr::new(0x1000), 0x2000).unwrap();
        let d = DirectMapped.map(DeviceId(0), r).unwrap();
        assert_eq!(d.start(), DmaAddr::new(0x1000));
        assert_eq!(d.len(), 0x2000);
    }
}
