//! Where a buffer's bytes are.
//!
//! A [`Placement`] names the memory a buffer currently lives in, precisely enough to derive every
//! address an importer may be given: an offset in one VRAM instance, a CPU physical range of
//! system RAM, or a slice of a PCI BAR. What that memory looks like from other address spaces
//! (through a BAR window, on a private fabric, through an IOMMU) is not part of the placement:
//! the exporter describes it once in its [`Apertures`](crate::Apertures), and the platform's
//! [`DmaMapper`](crate::DmaMapper) answers for IOMMUs.

use core::fmt;

use crate::{
    BarSlice, Describe, DeviceId, Memory, Names, OpaqueNames, PhysAddr, VramId, VramOffset,
};

/// Where a buffer lives.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Placement {
    /// In one VRAM instance, starting at `offset`.
    Vram {
        /// The VRAM instance.
        vram: VramId,
        /// Where the buffer starts in it.
        offset: VramOffset,
    },
    /// In system RAM, a physically contiguous range starting at `phys`.
    System {
        /// The NUMA node of the range, if known.
        numa_node: Option<u16>,
        /// The CPU physical address of the first byte.
        phys: PhysAddr,
    },
    /// In device memory exposed through a slice of a PCI BAR (what vfio-pci exports). The
    /// buffer occupies the first `size` bytes of the slice.
    Bar(BarSlice),
}

impl Placement {
    /// VRAM `vram` from `offset` on.
    pub const fn vram(vram: VramId, offset: VramOffset) -> Self {
        Placement::Vram { vram, offset }
    }

    /// System RAM at `phys`, on `numa_node` if known.
    pub const fn system(numa_node: Option<u16>, phys: PhysAddr) -> Self {
        Placement::System { numa_node, phys }
    }

    /// A slice of a BAR.
    pub const fn bar(slice: BarSlice) -> Self {
        Placement::Bar(slice)
    }

    /// The memory as the [`Fabric`](crate::Fabric) sees it: whose memory, for reachability.
    pub const fn memory(&self) -> Memory {
        match self {
            Placement::Vram { vram, .. } => Memory::Device(vram.owner),
            Placement::System { numa_node, .. } => Memory::System {
                numa_node: *numa_node,
            },
            Placement::Bar(slice) => Memory::Device(slice.device),
        }
    }

    /// The device that owns the memory, or `None` for system RAM.
    pub const fn owner(&self) -> Option<DeviceId> {
        match self.memory() {
            Memory::Device(owner) => Some(owner),
            Memory::System { .. } => None,
        }
    }

    /// Whether a buffer of `size` bytes fits here without leaving the address space (and, for a
    /// BAR slice, within the slice and a BAR that exists).
    pub fn holds(&self, size: u64) -> bool {
        match self {
            Placement::Vram { offset, .. } => offset.checked_add(size).is_some(),
            Placement::System { phys, .. } => phys.checked_add(size).is_some(),
            Placement::Bar(slice) => slice.is_well_formed() && slice.len >= size,
        }
    }
}

impl Describe for Placement {
    fn describe(&self, f: &mut fmt::Formatter<'_>, names: &dyn Names) -> fmt::Result {
        match self {
            Placement::Vram { vram, offset } => {
                write!(f, "{} at offset {offset}", vram.named(names))
            }
            Placement::System {
                numa_node: Some(node),
                phys,
            } => write!(f, "system memory (NUMA node {node}) at {phys}"),
            Placement::System {
                numa_node: None,
                phys,
            } => write!(f, "system memory at {phys}"),
            Placement::Bar(slice) => write!(f, "{}", slice.named(names)),
        }
    }
}

impl fmt::Display for Placement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.describe(f, &OpaqueNames)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn memory_and_owner_follow_the_placement() {
        let gpu = DeviceId(3);
        let vram = Placement::vram(
            VramId {
                owner: gpu,
                instance: 0,
            },
            VramOffset::new(0x1000),
        );
        assert_eq!(vram.memory(), Memory::Device(gpu));
        assert_eq!(vram.owner(), Some(gpu));
        let ram = Placement::system(Some(1), PhysAddr::new(0x8000_0000));
        assert_eq!(ram.memory(), Memory::System { numa_node: Some(1) });
        assert_eq!(ram.owner(), None);
        assert!(ram.to_string().contains("NUMA node 1"));
    }

    #[test]
    fn a_placement_must_hold_the_buffer() {
        let slice = BarSlice {
            device: DeviceId(1),
            bar: 2,
            offset: 0x1000,
            len: 0x2000,
        };
        assert!(Placement::bar(slice).holds(0x2000));
        assert!(!Placement::bar(slice).holds(0x2001));
        assert!(!Placement::bar(BarSlice { bar: 6, ..slice }).holds(0x1000));
        assert!(!Placement::system(None, PhysAddr::new(u64::MAX)).holds(2));
    }
}
