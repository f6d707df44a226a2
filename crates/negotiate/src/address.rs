//! Address spaces as distinct types.
//!
//! A number means nothing without the address space it belongs to: the same `0x8000_0000` is a
//! CPU physical address, a PCI bus address behind a bridge window, a DMA address one device must
//! program, an offset in one VRAM, or an IOVA on one private fabric. Each of those is its own
//! newtype here, and nothing converts between them implicitly. The only conversions offered are
//! explicit, checked steps ([`BusWindow`] for physical ↔ bus addresses of one BAR), so handing a
//! device an address from the wrong space is a compile error (compare rust-vmm's `GuestAddress`).

use core::fmt;

macro_rules! address_type {
    ($(#[$doc:meta])* $name:ident, $label:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(u64);

        impl $name {
            /// Wraps a raw value that is known to belong to this address space.
            pub const fn new(raw: u64) -> Self {
                Self(raw)
            }

            /// The raw value, for handing to hardware or printing.
            pub const fn raw(self) -> u64 {
                self.0
            }

            /// `self + len`, or `None` if it would leave the 64-bit space.
            pub const fn checked_add(self, len: u64) -> Option<Self> {
                match self.0.checked_add(len) {
                    Some(v) => Some(Self(v)),
                    None => None,
                }
            }

            /// The distance from `base` up to `self`, or `None` if `self` lies below `base`.
            pub const fn checked_offset_from(self, base: Self) -> Option<u64> {
                self.0.checked_sub(base.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($label, "({:#x})"), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:#x}", self.0)
            }
        }
    };
}

address_type!(
    /// An address one specific device must program to reach memory (Linux's `dma_addr_t`).
    /// Only meaningful together with the device it was produced for.
    DmaAddr,
    "DmaAddr"
);
address_type!(
    /// A PCI bus address: what a peer programs to reach a BAR without going through the host
    /// bridge (the kernel's `PCI_P2PDMA_MAP_BUS_ADDR` case).
    BusAddr,
    "BusAddr"
);
address_type!(
    /// A CPU physical address (`phys_addr_t`), only for trusted importers.
    PhysAddr,
    "PhysAddr"
);
address_type!(
    /// An offset inside one VRAM instance, meaningful only to functions of the device that owns it.
    VramOffset,
    "VramOffset"
);
address_type!(
    /// An I/O virtual address on one private fabric, for one initiator.
    Iova,
    "Iova"
);

/// An address of one space: a `u64` with a type saying which space it belongs to.
///
/// Implemented by the five address newtypes of this module; it lets [`AddrRange`] and the
/// mappings be generic without ever mixing spaces.
pub trait Address: Copy + Eq + Ord + fmt::Debug {
    /// The raw value.
    fn to_raw(self) -> u64;
    /// Wraps a raw value of this space.
    fn from_raw(raw: u64) -> Self;
}

macro_rules! address_impl {
    ($($name:ident),*) => {$(
        impl Address for $name {
            fn to_raw(self) -> u64 {
                self.0
            }
            fn from_raw(raw: u64) -> Self {
                Self(raw)
            }
        }
    )*};
}

address_impl!(DmaAddr, BusAddr, PhysAddr, VramOffset, Iova);

/// A contiguous range `[start, start + len)` of addresses of one space.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct AddrRange<A> {
    start: A,
    len: u64,
}

impl<A: Address> AddrRange<A> {
    /// A range of `len` bytes at `start`, or `None` if it would wrap around the space.
    pub fn new(start: A, len: u64) -> Option<Self> {
        start.to_raw().checked_add(len)?;
        Some(Self { start, len })
    }

    /// First address of the range.
    pub fn start(&self) -> A {
        self.start
    }

    /// Length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the range is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// One past the last address (cannot overflow: checked at construction).
    pub fn end(&self) -> A {
        A::from_raw(self.start.to_raw().saturating_add(self.len))
    }

    /// Whether `addr` lies inside the range.
    pub fn contains(&self, addr: A) -> bool {
        addr.to_raw()
            .checked_sub(self.start.to_raw())
            .is_some_and(|off| off < self.len)
    }
}

/// The translation between CPU physical and PCI bus addresses of one BAR window: what Linux gets
/// from `pci_bus_address(dev, bar) - pci_resource_start(dev, bar)`.
///
/// This is the one explicit, checked step from [`PhysAddr`] to [`BusAddr`]: an address outside
/// the window is refused rather than translated.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct BusWindow {
    cpu: AddrRange<PhysAddr>,
    bus_start: BusAddr,
}

impl BusWindow {
    /// A window of `len` bytes seen at `cpu_start` by the CPU and at `bus_start` on the bus.
    /// `None` if either side would wrap around the 64-bit space.
    pub fn new(cpu_start: PhysAddr, bus_start: BusAddr, len: u64) -> Option<Self> {
        let cpu = AddrRange::new(cpu_start, len)?;
        bus_start.checked_add(len)?;
        Some(Self { cpu, bus_start })
    }

    /// The CPU side of the window.
    pub fn cpu_range(&self) -> AddrRange<PhysAddr> {
        self.cpu
    }

    /// The bus address of `phys`, or `None` if `phys` is outside the window.
    pub fn to_bus(&self, phys: PhysAddr) -> Option<BusAddr> {
        let off = phys.checked_offset_from(self.cpu.start())?;
        if off >= self.cpu.len() {
            return None;
        }
        self.bus_start.checked_add(off)
    }

    /// The physical address of `bus`, or `None` if `bus` is outside the window.
    pub fn to_phys(&self, bus: BusAddr) -> Option<PhysAddr> {
        match bus.checked_offset_from(self.bus_start) {
            Some(off) if off < self.cpu.len() => self.cpu.start().checked_add(off),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_refuse_to_wrap() {
        assert!(AddrRange::new(PhysAddr::new(u64::MAX), 1).is_none());
        let r = AddrRange::new(PhysAddr::new(0x1000), 0x1000).unwrap();
        assert!(r.contains(PhysAddr::new(0x1fff)));
        assert!(!r.contains(PhysAddr::new(0x2000)));
        assert_eq!(r.end(), PhysAddr::new(0x2000));
    }

    #[test]
    fn bus_window_translates_only_inside() {
        let w = BusWindow::new(
            PhysAddr::new(0xf000_0000),
            BusAddr::new(0x8000_0000),
            0x100_0000,
        )
        .unwrap();
        assert_eq!(
            w.to_bus(PhysAddr::new(0xf000_1000)),
            Some(BusAddr::new(0x8000_1000))
        );
        assert_eq!(w.to_bus(PhysAddr::new(0xf100_0000)), None);
        assert_eq!(
            w.to_phys(BusAddr::new(0x80ff_ffff)),
            Some(PhysAddr::new(0xf0ff_ffff))
        );
        assert_eq!(w.to_phys(BusAddr::new(0x7fff_ffff)), None);
    }
}
