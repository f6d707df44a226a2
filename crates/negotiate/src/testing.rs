//! Fixtures for the crate's own unit tests: a flat fabric and a GPU buffer on it.

use crate::{
    AddrRange, Apertures, Buffer, BusAddr, BusWindow, DeviceId, ExporterPolicy, Fabric,
    FabricAperture, FabricId, Initiator, Iova, Memory, PhysAddr, Placement, Refusal, Relation,
    Route, RouteKind, VramAperture, VramId, VramOffset,
};

pub(crate) const GPU: DeviceId = DeviceId(0);
pub(crate) const PEER: DeviceId = DeviceId(1);
pub(crate) const FAR: DeviceId = DeviceId(2);
pub(crate) const LINK: FabricId = FabricId(7);
pub(crate) const SIZE: u64 = 0x1000;
pub(crate) const VRAM: VramId = VramId {
    owner: GPU,
    instance: 0,
};

/// The fabric with its link up.
pub(crate) static FLAT: Flat = Flat { link_down: false };

/// Every device reaches device memory by bus-address P2P except `FAR`, which goes through the
/// host bridge; everyone reaches RAM; `LINK` connects `GPU` and `PEER` unless `link_down`.
#[derive(Clone, Copy, Default)]
pub(crate) struct Flat {
    pub(crate) link_down: bool,
}

impl Fabric for Flat {
    fn reach(&self, initiator: Initiator, memory: Memory) -> Result<Route, Refusal> {
        Ok(Route::new(match (initiator, memory) {
            (_, Memory::System { .. }) => RouteKind::SystemMemory,
            (Initiator::Cpu, _) => RouteKind::CpuThroughHostBridge,
            (Initiator::Device(FAR), _) => RouteKind::PciThroughHostBridge { distance: 6 },
            _ => RouteKind::PciBusAddr { distance: 4 },
        }))
    }

    fn private_route(&self, f: FabricId, a: DeviceId, b: DeviceId) -> Result<Route, Refusal> {
        if f != LINK {
            return Err(Refusal::UnknownFabric(f));
        }
        if self.link_down {
            return Err(Refusal::LinkDown(f));
        }
        match (a, b) {
            (GPU, PEER) | (PEER, GPU) => Ok(Route::new(RouteKind::PrivateLink(f))),
            _ => Err(Refusal::NotOnFabric {
                fabric: f,
                device: a,
            }),
        }
    }

    fn relation(&self, a: DeviceId, b: DeviceId) -> Relation {
        if a == b {
            Relation::SameFunction
        } else {
            Relation::Unrelated
        }
    }
}

pub(crate) fn vram() -> Placement {
    Placement::vram(VRAM, VramOffset::new(0x10_0000))
}

pub(crate) fn ram() -> Placement {
    Placement::system(Some(0), PhysAddr::new(0x2000_0000))
}

pub(crate) fn apertures() -> Apertures {
    Apertures::new()
        .with_vram(VramAperture {
            vram: VRAM,
            bar: 0,
            window: BusWindow::new(
                PhysAddr::new(0x40_0000_0000),
                BusAddr::new(0x8000_0000),
                0x1000_0000,
            )
            .unwrap(),
        })
        .with_fabric(FabricAperture {
            fabric: LINK,
            vram: VRAM,
            iovas: AddrRange::new(Iova::new(0x1_0000_0000), 0x1000_0000).unwrap(),
        })
}

/// VRAM first, RAM as the fallback; migrates; revocable.
pub(crate) fn buffer() -> Buffer {
    let policy = ExporterPolicy::new(GPU, apertures())
        .place(vram(), SIZE)
        .place(ram(), SIZE)
        .revocable(true);
    Buffer::new(SIZE, policy).unwrap()
}
