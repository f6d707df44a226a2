//! Names for the things offers talk about: devices, private fabrics, VRAM instances, BARs.
//!
//! The negotiation core never looks inside these; it only compares them and hands them to the
//! [`Fabric`](crate::Fabric), which knows what they stand for on a real machine.

use core::fmt;

use crate::{Describe, Names, OpaqueNames};

/// An opaque handle for one device (on a PCI machine: one PCI function), assigned by the
/// [`Fabric`](crate::Fabric) that answers questions about it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct DeviceId(pub u32);

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.describe(f, &OpaqueNames)
    }
}

/// An opaque handle for one private fabric (an NVLink domain, an xGMI hive, an SR-IOV
/// VF-to-PF path, a UALink pod), assigned by the [`Fabric`](crate::Fabric).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct FabricId(pub u32);

impl fmt::Display for FabricId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.describe(f, &OpaqueNames)
    }
}

/// One VRAM instance: the device that owns it and which of its memories (a device may have
/// several, e.g. per memory partition).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct VramId {
    /// The device whose memory this is (for an SR-IOV VF: the VF).
    pub owner: DeviceId,
    /// Which VRAM of that device.
    pub instance: u16,
}

impl Describe for VramId {
    fn describe(&self, f: &mut fmt::Formatter<'_>, names: &dyn Names) -> fmt::Result {
        write!(f, "vram{} of {}", self.instance, self.owner.named(names))
    }
}

impl fmt::Display for VramId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.describe(f, &OpaqueNames)
    }
}

/// A slice of one BAR of one device.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct BarSlice {
    /// The function whose BAR it is.
    pub device: DeviceId,
    /// BAR index (0..=5 on a PCI function).
    pub bar: u8,
    /// Offset of the slice within the BAR.
    pub offset: u64,
    /// Length of the slice in bytes.
    pub len: u64,
}

impl BarSlice {
    /// A PCI function has six BARs.
    pub const BAR_COUNT: u8 = 6;

    /// Whether the slice names BAR 0 to 5, is not empty, and does not wrap around.
    pub const fn is_well_formed(&self) -> bool {
        self.bar < Self::BAR_COUNT && self.len != 0 && self.offset.checked_add(self.len).is_some()
    }
}

impl Describe for BarSlice {
    fn describe(&self, f: &mut fmt::Formatter<'_>, names: &dyn Names) -> fmt::Result {
        write!(
            f,
            "BAR{} of {} [{:#x}+{:#x}]",
            self.bar,
            self.device.named(names),
            self.offset,
            self.len
        )
    }
}

impl fmt::Display for BarSlice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.describe(f, &OpaqueNames)
    }
}
