//! A small machine for lifecycle tests, on top of `common::TestFabric`: two NVLink-connected
//! GPUs, RDMA NICs near and far, a NIC that cannot do P2P, a vfio-pci device, SR-IOV VFs, an
//! IOMMU that gives every device its own DMA addresses, and the exporter policies of the
//! proposal's storylines.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use dmabuf_negotiate::{
    AddrRange, Apertures, Bandwidth, BarAperture, BarSlice, Buffer, BusAddr, BusWindow, DeviceId,
    DmaAddr, DmaMapper, DmaRefusal, ExporterPolicy, FabricAperture, FabricId, HostBridgeCause,
    HostBridgeRefusal, Iova, Latency, Monitor, PhysAddr, Placement, Platform, Refusal, Route,
    RouteKind, VramAperture, VramId, VramOffset,
};

use crate::common::TestFabric;

pub const NVLINK: FabricId = FabricId(7);
pub const SIZE: u64 = 0x20_0000;

/// VRAM of gpu0 is visible through BAR0 at these addresses (256 MiB).
pub const VRAM_BAR_PHYS: u64 = 0x38_0000_0000;
pub const VRAM_BAR_BUS: u64 = 0xc000_0000;
pub const VRAM_BAR_LEN: u64 = 0x1000_0000;
/// Where the buffer sits in VRAM.
pub const VRAM_OFFSET: u64 = 0x40_0000;
/// Where gpu0's VRAM appears on NVLink.
pub const NVLINK_BASE: u64 = 0x100_0000_0000;
/// Where the buffer sits in system memory.
pub const RAM_PHYS: u64 = 0x1_2340_0000;
/// vfio-pci BAR2.
pub const VFIO_BAR_PHYS: u64 = 0xf000_0000;
pub const VFIO_BAR_BUS: u64 = 0x9000_0000;
pub const VFIO_BAR_LEN: u64 = 0x100_0000;
pub const VFIO_SLICE_OFFSET: u64 = 0x10_0000;

/// An IOMMU in translated mode: device `d` reaches physical address `p` at `p + (d + 1) << 44`,
/// so a DMA address is meaningful for one device only. Devices in `refuse` have no mapping.
#[derive(Clone, Debug, Default)]
pub struct TestIommu {
    pub refuse: Vec<DeviceId>,
}

impl TestIommu {
    pub fn base(device: DeviceId) -> u64 {
        (u64::from(device.0) + 1) << 44
    }
}

impl DmaMapper for TestIommu {
    fn map(
        &self,
        device: DeviceId,
        range: AddrRange<PhysAddr>,
    ) -> Result<AddrRange<DmaAddr>, DmaRefusal> {
        if self.refuse.contains(&device) {
            return Err(DmaRefusal {
                device,
                reason: "IOMMU domain full",
            });
        }
        let start = range
            .start()
            .raw()
            .checked_add(Self::base(device))
            .ok_or(DmaRefusal {
                device,
                reason: "out of IOVA space",
            })?;
        AddrRange::new(DmaAddr::new(start), range.len()).ok_or(DmaRefusal {
            device,
            reason: "out of IOVA space",
        })
    }
}

pub fn p2p(distance: u32, hops: u16) -> Route {
    Route::new(RouteKind::PciBusAddr { distance })
        .with_bandwidth(Bandwidth(31_500))
        .with_hops(hops)
}

pub fn through_host(distance: u32) -> Route {
    Route::new(RouteKind::PciThroughHostBridge { distance })
        .with_bandwidth(Bandwidth(31_500))
        .with_hops(6)
}

pub fn nvlink_route() -> Route {
    Route::new(RouteKind::PrivateLink(NVLINK))
        .with_bandwidth(Bandwidth(300_000))
        .with_latency(Latency(700))
        .with_hops(1)
}

pub fn not_whitelisted() -> Refusal {
    Refusal::PciP2pNotSupported {
        cause: HostBridgeCause::NoCommonUpstreamBridge,
        host_bridge: HostBridgeRefusal::NotWhitelisted,
        acs_known: true,
    }
}

/// The machine.
#[derive(Clone, Debug)]
pub struct World {
    pub fabric: TestFabric,
    pub iommu: TestIommu,
    /// Exporting GPU, owns VRAM0.
    pub gpu0: DeviceId,
    /// Another function of gpu0.
    pub gpu0_fn1: DeviceId,
    /// NVLink peer of gpu0, also PCIe P2P with bus addresses.
    pub gpu1: DeviceId,
    /// RDMA NIC behind gpu0's switch (P2P with bus addresses).
    pub nic: DeviceId,
    /// RDMA NIC across the host bridge.
    pub nic_far: DeviceId,
    /// A NIC whose P2P to gpu0 the kernel refuses.
    pub nic_nop2p: DeviceId,
    /// A vfio-pci device exporting BAR2.
    pub vfio: DeviceId,
    /// A NIC PF and two of its VFs.
    pub pf: DeviceId,
    pub vf1: DeviceId,
    pub vf2: DeviceId,
}

impl World {
    pub fn new() -> Self {
        let mut fabric = TestFabric::new();
        let gpu0 = fabric.device("gpu0");
        let gpu0_fn1 = fabric.function_of(gpu0, "gpu0.1");
        let gpu1 = fabric.device("gpu1");
        let nic = fabric.device("mlx5 near");
        let nic_far = fabric.device("mlx5 far");
        let nic_nop2p = fabric.device("nic without P2P");
        let vfio = fabric.device("vfio-pci device");
        let pf = fabric.device("nic PF");
        let vf1 = fabric.virtual_function_of(pf, "VF1");
        let vf2 = fabric.virtual_function_of(pf, "VF2");
        fabric
            .route(gpu0_fn1, gpu0, p2p(2, 2))
            .route(gpu1, gpu0, p2p(4, 4))
            .route(nic, gpu0, p2p(4, 4))
            .route(nic_far, gpu0, through_host(6))
            .refuse(nic_nop2p, gpu0, not_whitelisted())
            .route(nic, vfio, p2p(4, 4))
            .route(vf2, vf1, p2p(2, 2))
            .route(pf, vf1, p2p(2, 2))
            .cpu_route(gpu0, Route::new(RouteKind::CpuThroughHostBridge))
            .cpu_route(vfio, Route::new(RouteKind::CpuThroughHostBridge))
            .system_route(None, Ok(Route::new(RouteKind::SystemMemory).with_hops(1)))
            .link(NVLINK, gpu0, gpu1, nvlink_route());
        Self {
            fabric,
            iommu: TestIommu::default(),
            gpu0,
            gpu0_fn1,
            gpu1,
            nic,
            nic_far,
            nic_nop2p,
            vfio,
            pf,
            vf1,
            vf2,
        }
    }

    pub fn platform(&self) -> Platform<'_> {
        Platform::new(&self.fabric).with_dma(&self.iommu)
    }

    pub fn vram0(&self) -> VramId {
        VramId {
            owner: self.gpu0,
            instance: 0,
        }
    }

    pub fn vram_placement(&self) -> Placement {
        Placement::vram(self.vram0(), VramOffset::new(VRAM_OFFSET))
    }

    pub fn ram_placement(&self) -> Placement {
        Placement::system(Some(0), PhysAddr::new(RAM_PHYS))
    }

    pub fn vfio_slice(&self) -> BarSlice {
        BarSlice {
            device: self.vfio,
            bar: 2,
            offset: VFIO_SLICE_OFFSET,
            len: SIZE,
        }
    }

    pub fn gpu_apertures(&self) -> Apertures {
        Apertures::new()
            .with_vram(VramAperture {
                vram: self.vram0(),
                bar: 0,
                window: BusWindow::new(
                    PhysAddr::new(VRAM_BAR_PHYS),
                    BusAddr::new(VRAM_BAR_BUS),
                    VRAM_BAR_LEN,
                )
                .unwrap(),
            })
            .with_fabric(FabricAperture {
                fabric: NVLINK,
                vram: self.vram0(),
                iovas: AddrRange::new(Iova::new(NVLINK_BASE), 1 << 34).unwrap(),
            })
    }

    /// amdgpu/xe-like: VRAM preferred, system memory as the fallback, may migrate, does not
    /// revoke.
    pub fn gpu_policy(&self) -> ExporterPolicy {
        ExporterPolicy::new(self.gpu0, self.gpu_apertures())
            .place(self.vram_placement(), SIZE)
            .place(self.ram_placement(), SIZE)
    }

    pub fn gpu_buffer(&self) -> Buffer {
        Buffer::new(SIZE, self.gpu_policy()).unwrap()
    }

    /// vfio-pci: a BAR slice, revocable, cannot migrate.
    pub fn vfio_policy(&self) -> ExporterPolicy {
        let apertures = Apertures::new().with_bar(BarAperture {
            device: self.vfio,
            bar: 2,
            window: BusWindow::new(
                PhysAddr::new(VFIO_BAR_PHYS),
                BusAddr::new(VFIO_BAR_BUS),
                VFIO_BAR_LEN,
            )
            .unwrap(),
        });
        ExporterPolicy::new(self.vfio, apertures)
            .place(Placement::bar(self.vfio_slice()), SIZE)
            .migratable(false)
            .revocable(true)
    }

    pub fn vfio_buffer(&self) -> Buffer {
        Buffer::new(SIZE, self.vfio_policy()).unwrap()
    }
}

impl Default for World {
    fn default() -> Self {
        Self::new()
    }
}

/// Checks the invariants after an event and fails the test with every violation.
pub fn observe(monitor: &mut Monitor, buffer: &Buffer, world: &World, event: &str) {
    let violations = monitor.observe(buffer, &world.platform()).unwrap();
    assert!(
        violations.is_empty(),
        "after {event}: {}",
        violations
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    );
}
