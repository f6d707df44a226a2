//! Where the exporter's memory appears in other address spaces.
//!
//! An exporter knows facts about its own memory that a [`Placement`] alone does not say: through
//! which BAR (and at which CPU physical and PCI bus addresses) its VRAM is visible, where each of
//! its BARs sits, and at which IOVAs a private fabric exposes its VRAM. [`Apertures`] records
//! them, and every address a mapping hands out is derived from a placement through one of these
//! windows by an explicit, checked step: a range that does not lie entirely inside its window is
//! refused, never truncated or wrapped.

use core::fmt;

use crate::storage::FallibleVec;
use crate::{
    AddrRange, BusAddr, BusWindow, DeviceId, FabricId, Iova, PhysAddr, Placement, Vec, VramId,
    VramOffset,
};

/// VRAM seen through a BAR: VRAM offset 0 appears at the CPU start of `window` (and at its bus
/// start on the PCI bus). The window's length is how much of the VRAM is CPU-visible (a small
/// BAR exposes only the first part of the VRAM).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct VramAperture {
    /// The VRAM instance.
    pub vram: VramId,
    /// The BAR it is visible through.
    pub bar: u8,
    /// CPU physical ↔ bus addresses of that BAR.
    pub window: BusWindow,
}

/// One BAR of one device: BAR offset 0 appears at the CPU start of `window`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct BarAperture {
    /// The device.
    pub device: DeviceId,
    /// The BAR index.
    pub bar: u8,
    /// CPU physical ↔ bus addresses of the BAR.
    pub window: BusWindow,
}

/// VRAM exposed on a private fabric: VRAM offset 0 appears at `iovas.start()` for every
/// initiator on `fabric` (as xGMI places each GPU's VRAM at a fixed offset of the hive's address
/// space), and `iovas.len()` bytes of it are exposed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FabricAperture {
    /// The fabric.
    pub fabric: FabricId,
    /// The VRAM instance it exposes.
    pub vram: VramId,
    /// Where the VRAM appears on the fabric.
    pub iovas: AddrRange<Iova>,
}

/// Why no address could be derived for a range.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ApertureError {
    /// The exporter described no window through which this memory is visible.
    NoWindow,
    /// The range does not lie entirely inside the window (e.g. VRAM beyond a small BAR).
    OutsideWindow,
}

impl fmt::Display for ApertureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ApertureError::NoWindow => "no window exposes this memory",
            ApertureError::OutsideWindow => "the range is not entirely inside its window",
        })
    }
}

impl core::error::Error for ApertureError {}

/// The exporter's windows onto its memory. Built with the `with_*` methods; lookups take the
/// first matching entry.
///
/// A `with_*` step that cannot allocate leaves its window out and marks the apertures
/// [incomplete](Apertures::is_complete); an [`ExporterPolicy`](crate::ExporterPolicy) with
/// incomplete apertures is refused when the buffer is created
/// ([`PolicyError::OutOfMemory`](crate::PolicyError::OutOfMemory)).
#[derive(PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "alloc", derive(Clone))]
pub struct Apertures {
    vram: Vec<VramAperture>,
    bars: Vec<BarAperture>,
    fabrics: Vec<FabricAperture>,
    out_of_memory: bool,
}

/// `[start, start + len)` of `base + offset`, checked to lie inside `[base, base + window_len)`.
fn inside(window_len: u64, offset: u64, len: u64) -> Result<(), ApertureError> {
    match offset.checked_add(len) {
        Some(end) if end <= window_len => Ok(()),
        _ => Err(ApertureError::OutsideWindow),
    }
}

impl Apertures {
    /// No windows at all: only system memory can be addressed.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a BAR through which a VRAM instance is visible.
    pub fn with_vram(mut self, aperture: VramAperture) -> Self {
        self.out_of_memory |= self.vram.try_push(aperture).is_err();
        self
    }

    /// Adds a BAR of a device.
    pub fn with_bar(mut self, aperture: BarAperture) -> Self {
        self.out_of_memory |= self.bars.try_push(aperture).is_err();
        self
    }

    /// Adds a private-fabric window onto a VRAM instance.
    pub fn with_fabric(mut self, aperture: FabricAperture) -> Self {
        self.out_of_memory |= self.fabrics.try_push(aperture).is_err();
        self
    }

    /// Whether every `with_*` step could allocate its window.
    pub fn is_complete(&self) -> bool {
        !self.out_of_memory
    }

    /// The VRAM windows.
    pub fn vram_apertures(&self) -> &[VramAperture] {
        &self.vram
    }

    /// The BAR windows.
    pub fn bar_apertures(&self) -> &[BarAperture] {
        &self.bars
    }

    /// The fabric windows.
    pub fn fabric_apertures(&self) -> &[FabricAperture] {
        &self.fabrics
    }

    /// The fabrics `vram` is exposed on, in the order they were added.
    pub fn fabrics_of(&self, vram: VramId) -> impl Iterator<Item = FabricId> + '_ {
        self.fabrics
            .iter()
            .filter(move |a| a.vram == vram)
            .map(|a| a.fabric)
    }

    /// The bus window through which device memory of `placement` is seen, and the offset of the
    /// placement's first byte inside it. `None` for system memory or when no window is known.
    fn window_of(&self, placement: &Placement) -> Option<(BusWindow, u64)> {
        match placement {
            Placement::Vram { vram, offset } => self
                .vram
                .iter()
                .find(|a| a.vram == *vram)
                .map(|a| (a.window, offset.raw())),
            Placement::Bar(slice) => self
                .bars
                .iter()
                .find(|a| a.device == slice.device && a.bar == slice.bar)
                .map(|a| (a.window, slice.offset)),
            Placement::System { .. } => None,
        }
    }

    /// The CPU physical range of `len` bytes of `placement`: the range itself for system
    /// memory, the BAR window's CPU side for device memory.
    pub fn phys_range(
        &self,
        placement: &Placement,
        len: u64,
    ) -> Result<AddrRange<PhysAddr>, ApertureError> {
        if let Placement::System { phys, .. } = placement {
            return AddrRange::new(*phys, len).ok_or(ApertureError::OutsideWindow);
        }
        let (window, offset) = self.window_of(placement).ok_or(ApertureError::NoWindow)?;
        let cpu = window.cpu_range();
        inside(cpu.len(), offset, len)?;
        let start = cpu
            .start()
            .checked_add(offset)
            .ok_or(ApertureError::OutsideWindow)?;
        AddrRange::new(start, len).ok_or(ApertureError::OutsideWindow)
    }

    /// The PCI bus range of `len` bytes of device memory `placement`: its CPU physical range
    /// translated by the BAR's [`BusWindow`], first and last byte both checked.
    pub fn bus_range(
        &self,
        placement: &Placement,
        len: u64,
    ) -> Result<AddrRange<BusAddr>, ApertureError> {
        let phys = self.phys_range(placement, len)?;
        let (window, _) = self.window_of(placement).ok_or(ApertureError::NoWindow)?;
        let start = window
            .to_bus(phys.start())
            .ok_or(ApertureError::OutsideWindow)?;
        if let Some(last) = len.checked_sub(1) {
            let last = phys
                .start()
                .checked_add(last)
                .ok_or(ApertureError::OutsideWindow)?;
            window.to_bus(last).ok_or(ApertureError::OutsideWindow)?;
        }
        AddrRange::new(start, len).ok_or(ApertureError::OutsideWindow)
    }

    /// The IOVAs on `fabric` of `len` bytes of VRAM `vram` from `offset`.
    pub fn fabric_range(
        &self,
        fabric: FabricId,
        vram: VramId,
        offset: VramOffset,
        len: u64,
    ) -> Result<AddrRange<Iova>, ApertureError> {
        let aperture = self
            .fabrics
            .iter()
            .find(|a| a.fabric == fabric && a.vram == vram)
            .ok_or(ApertureError::NoWindow)?;
        inside(aperture.iovas.len(), offset.raw(), len)?;
        let start = aperture
            .iovas
            .start()
            .checked_add(offset.raw())
            .ok_or(ApertureError::OutsideWindow)?;
        AddrRange::new(start, len).ok_or(ApertureError::OutsideWindow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BarSlice;

    fn gpu_vram() -> VramId {
        VramId {
            owner: DeviceId(0),
            instance: 0,
        }
    }

    fn apertures() -> Apertures {
        Apertures::new()
            .with_vram(VramAperture {
                vram: gpu_vram(),
                bar: 0,
                // A 256 MiB BAR: only the first 256 MiB of VRAM are CPU-visible.
                window: BusWindow::new(
                    PhysAddr::new(0x38_0000_0000),
                    BusAddr::new(0xc000_0000),
                    0x1000_0000,
                )
                .unwrap(),
            })
            .with_bar(BarAperture {
                device: DeviceId(1),
                bar: 2,
                window: BusWindow::new(
                    PhysAddr::new(0xf000_0000),
                    BusAddr::new(0x9000_0000),
                    0x100_0000,
                )
                .unwrap(),
            })
            .with_fabric(FabricAperture {
                fabric: FabricId(7),
                vram: gpu_vram(),
                iovas: AddrRange::new(Iova::new(0x100_0000_0000), 0x4_0000_0000).unwrap(),
            })
    }

    #[test]
    fn vram_addresses_come_through_its_bar() {
        let a = apertures();
        let p = Placement::vram(gpu_vram(), VramOffset::new(0x20_0000));
        let phys = a.phys_range(&p, 0x1000).unwrap();
        assert_eq!(phys.start(), PhysAddr::new(0x38_0020_0000));
        let bus = a.bus_range(&p, 0x1000).unwrap();
        assert_eq!(bus.start(), BusAddr::new(0xc020_0000));
        assert_eq!(bus.len(), 0x1000);
        // Beyond the small BAR: refused, not truncated.
        let deep = Placement::vram(gpu_vram(), VramOffset::new(0x0fff_f000));
        assert_eq!(
            a.phys_range(&deep, 0x2000),
            Err(ApertureError::OutsideWindow)
        );
        assert_eq!(
            a.bus_range(&deep, 0x2000),
            Err(ApertureError::OutsideWindow)
        );
        let other = Placement::vram(
            VramId {
                owner: DeviceId(9),
                instance: 0,
            },
            VramOffset::new(0),
        );
        assert_eq!(a.phys_range(&other, 1), Err(ApertureError::NoWindow));
    }

    #[test]
    fn bar_slices_and_fabric_windows() {
        let a = apertures();
        let slice = Placement::bar(BarSlice {
            device: DeviceId(1),
            bar: 2,
            offset: 0x10_0000,
            len: 0x10_0000,
        });
        assert_eq!(
            a.bus_range(&slice, 0x10_0000).unwrap().start(),
            BusAddr::new(0x9010_0000)
        );
        let iova = a
            .fabric_range(FabricId(7), gpu_vram(), VramOffset::new(0x1000), 0x1000)
            .unwrap();
        assert_eq!(iova.start(), Iova::new(0x100_0000_1000));
        assert_eq!(
            a.fabric_range(FabricId(8), gpu_vram(), VramOffset::new(0), 1),
            Err(ApertureError::NoWindow)
        );
        assert_eq!(
            a.fabric_range(
                FabricId(7),
                gpu_vram(),
                VramOffset::new(0x3_ffff_f000),
                0x2000
            ),
            Err(ApertureError::OutsideWindow)
        );
        assert_eq!(a.fabrics_of(gpu_vram()).count(), 1);
    }
}
