//! Offer lists of realistic shape for the allocation test and the benchmarks: a GPU exporting
//! VRAM to a peer GPU and to a multipath NIC, over a fabric with cached routes.

use dmabuf_negotiate::{
    Bandwidth, DeviceId, ExporterOffer, FabricId, ImporterOffer, Latency, Memory, Route, RouteKind,
    Trust, VramId,
};

use super::TestFabric;

/// The private fabric of the workload.
pub const NVLINK: FabricId = FabricId(1);

/// A machine with `gpus` GPUs on one NVLink fabric and `nic_paths` functions of one NIC, with a
/// route from every function to every GPU's memory.
pub fn machine(gpus: usize, nic_paths: usize) -> (TestFabric, Vec<DeviceId>, Vec<DeviceId>) {
    let mut fabric = TestFabric::new();
    let gpu: Vec<_> = (0..gpus).map(|_| fabric.device("gpu")).collect();
    let nic: Vec<_> = (0..nic_paths).map(|_| fabric.device("nic")).collect();
    for (k, &g) in gpu.iter().enumerate() {
        for (j, &other) in gpu.iter().enumerate() {
            if j != k {
                fabric.route(
                    other,
                    g,
                    Route::new(RouteKind::PciBusAddr {
                        distance: 4 + j as u32,
                    })
                    .with_bandwidth(Bandwidth(31_500))
                    .with_hops(4),
                );
                fabric.link(
                    NVLINK,
                    g,
                    other,
                    Route::new(RouteKind::PrivateLink(NVLINK))
                        .with_bandwidth(Bandwidth(300_000))
                        .with_latency(Latency(700))
                        .with_hops(1),
                );
            }
        }
        for (j, &n) in nic.iter().enumerate() {
            let route = if j % 2 == 0 {
                Route::new(RouteKind::PciBusAddr { distance: 4 }).with_hops(4)
            } else {
                Route::new(RouteKind::PciThroughHostBridge { distance: 6 }).with_hops(6)
            };
            fabric.route(
                n,
                g,
                route.with_bandwidth(Bandwidth(31_500 / (1 + j as u32))),
            );
        }
    }
    (fabric, gpu, nic)
}

/// `n` exporter entries: the exporting GPU's VRAM, its private link, P2P and system-memory
/// scatterlists, physical addresses — repeated over the GPUs' memories for larger `n`.
pub fn exporter(gpu: &[DeviceId], n: usize) -> Vec<ExporterOffer<'static>> {
    (0..n)
        .map(|k| {
            let owner = gpu[(k / 4) % gpu.len()];
            match k % 4 {
                0 => ExporterOffer::vram(VramId { owner, instance: 0 }),
                1 => ExporterOffer::private_iova(NVLINK, owner),
                2 => ExporterOffer::dma_addr(Memory::Device(owner)),
                _ => ExporterOffer::dma_addr(Memory::System { numa_node: Some(0) }),
            }
        })
        .collect()
}

/// `n` importer entries: a peer GPU's vram, private link and P2P entries and the NIC's paths.
pub fn importer(gpu: &[DeviceId], nic: &[DeviceId], n: usize) -> Vec<ImporterOffer<'static>> {
    let peer = gpu[gpu.len() - 1];
    (0..n)
        .map(|k| match k % 4 {
            0 => ImporterOffer::private_iova(NVLINK, peer),
            1 => ImporterOffer::dma_addr(nic[(k / 4) % nic.len()], true),
            2 => ImporterOffer::vram(peer),
            _ => {
                if k % 8 == 3 {
                    ImporterOffer::dma_addr(peer, true)
                } else {
                    ImporterOffer::phys(Trust::Untrusted, Some(peer))
                }
            }
        })
        .collect()
}
