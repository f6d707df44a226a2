//! Machines built by hand for picture tests and benchmarks.

#![allow(clippy::expect_used, clippy::unwrap_used, dead_code)]

use dmabuf_negotiate::{Bandwidth, FabricId};
use pci_topology::{
    Acs, Bdf, ClassCode, CpuInfo, CpuVendor, Function, FunctionId, HostBridge, LinkEnd, LinkKind,
    LinkSpeed, LinkStatus, Machine, MachineBuilder, P2pMem, PortType, PrivateFabric, PrivateLink,
    Upstream,
};

const BRIDGE: u32 = 0x060400;
const GPU: u32 = 0x030200;
const NIC: u32 = 0x020000;
const NVME: u32 = 0x010802;
const NVSWITCH: u32 = 0x068000;

fn function(
    b: &mut MachineBuilder,
    bdf: Bdf,
    up: Upstream,
    ids: (u16, u16),
    class: u32,
    link: Option<LinkStatus>,
) -> FunctionId {
    let mut f = Function::new(bdf, up);
    f.vendor = Some(ids.0);
    f.device = Some(ids.1);
    f.class = Some(ClassCode(class));
    f.header_type = Some(if class == BRIDGE { 1 } else { 0 });
    if let Some(l) = link {
        f.current_link = l;
        f.max_link = l;
    }
    b.function(f)
}

/// A small machine with known port types: one host bridge; a GPU on a root port; a switch
/// (ACS redirect on one downstream port) with an NVMe drive publishing p2pmem and a NIC; a
/// second GPU on another root port, NVLinked to the first; an empty root port.
pub fn small() -> Machine {
    let mut b = MachineBuilder::new();
    b.cpu(CpuInfo {
        arch: None,
        vendor: CpuVendor::Amd,
        family: Some(0x19),
        model: Some(1),
        model_name: Some("AMD EPYC 7713".to_owned()),
    });
    let mut hb = HostBridge::new(0, 0);
    hb.numa_node = Some(0);
    let hb = b.host_bridge(hb);
    let gen4 = LinkStatus::new(LinkSpeed::GEN4, 16);
    let port = |b: &mut MachineBuilder, bdf: Bdf, up: Upstream, pt: PortType, link| {
        let id = function(b, bdf, up, (0x1022, 0x1483), BRIDGE, link);
        if let Some(f) = b.function_mut(id) {
            f.port_type = Some(pt);
            f.is_pcie = Some(true);
            f.acs = Acs::Present { control: 0 };
            f.driver = Some("pcieport".to_owned());
        }
        id
    };
    let rp1 = port(
        &mut b,
        Bdf::new(0, 0, 1, 1),
        Upstream::HostBridge(hb),
        PortType::RootPort,
        Some(gen4),
    );
    let rp2 = port(
        &mut b,
        Bdf::new(0, 0, 1, 2),
        Upstream::HostBridge(hb),
        PortType::RootPort,
        Some(gen4),
    );
    let rp3 = port(
        &mut b,
        Bdf::new(0, 0, 3, 1),
        Upstream::HostBridge(hb),
        PortType::RootPort,
        Some(gen4),
    );
    let _empty = port(
        &mut b,
        Bdf::new(0, 0, 3, 2),
        Upstream::HostBridge(hb),
        PortType::RootPort,
        None,
    );
    let gpu0 = function(
        &mut b,
        Bdf::new(0, 1, 0, 0),
        Upstream::Bridge(rp1),
        (0x10de, 0x20b0),
        GPU,
        Some(gen4),
    );
    let up = port(
        &mut b,
        Bdf::new(0, 2, 0, 0),
        Upstream::Bridge(rp2),
        PortType::SwitchUpstream,
        Some(gen4),
    );
    let dp1 = port(
        &mut b,
        Bdf::new(0, 3, 0, 0),
        Upstream::Bridge(up),
        PortType::SwitchDownstream,
        Some(LinkStatus::new(LinkSpeed::GEN4, 4)),
    );
    let dp2 = port(
        &mut b,
        Bdf::new(0, 3, 1, 0),
        Upstream::Bridge(up),
        PortType::SwitchDownstream,
        Some(gen4),
    );
    if let Some(f) = b.function_mut(dp2) {
        f.acs = Acs::Present { control: 0x001d };
    }
    let nvme = function(
        &mut b,
        Bdf::new(0, 4, 0, 0),
        Upstream::Bridge(dp1),
        (0x144d, 0xa808),
        NVME,
        Some(LinkStatus::new(LinkSpeed::GEN4, 4)),
    );
    if let Some(f) = b.function_mut(nvme) {
        f.p2pmem = Some(P2pMem {
            size: 256 << 20,
            available: None,
            published: Some(true),
        });
        f.driver = Some("nvme".to_owned());
        f.os_devices = vec!["nvme0".to_owned(), "nvme0n1".to_owned()];
    }
    let nic = function(
        &mut b,
        Bdf::new(0, 5, 0, 0),
        Upstream::Bridge(dp2),
        (0x15b3, 0x101b),
        NIC,
        Some(gen4),
    );
    if let Some(f) = b.function_mut(nic) {
        f.driver = Some("mlx5_core".to_owned());
        f.os_devices = vec!["mlx5_0".to_owned()];
    }
    let gpu1 = function(
        &mut b,
        Bdf::new(0, 6, 0, 0),
        Upstream::Bridge(rp3),
        (0x10de, 0x20b0),
        GPU,
        Some(gen4),
    );
    for g in [gpu0, gpu1] {
        if let Some(f) = b.function_mut(g) {
            f.driver = Some("nvidia".to_owned());
            f.port_type = Some(PortType::Endpoint);
            f.is_pcie = Some(true);
        }
    }
    let fabric = b.fabric(PrivateFabric {
        name: "nvlink0".to_owned(),
        kind: LinkKind::NvLink,
    });
    b.link(PrivateLink {
        fabric,
        a: LinkEnd::Function(gpu0),
        b: LinkEnd::Function(gpu1),
        bandwidth: Some(Bandwidth(25_000)),
        latency: None,
        nccl_bandwidth: None,
        count: 12,
        up: true,
    });
    b.build().expect("the small machine builds")
}

/// A machine shaped like an NVIDIA DGX-2 as hwloc describes it (port types unknown): two
/// sockets, four host bridges for the GPU trays and one for the chipset; under each tray host
/// bridge a root port, a first-level switch with two second-level switches (two V100 GPUs
/// and a ConnectX NIC each) and a third switch with three NVSwitch functions. Sixteen GPUs,
/// twelve NVSwitches; each GPU has one NVLink to each of the six NVSwitches of its baseboard,
/// and the two baseboards' NVSwitches are linked in pairs.
pub fn dgx2_like() -> Machine {
    let mut b = MachineBuilder::new();
    b.cpu(CpuInfo {
        arch: None,
        vendor: CpuVendor::Intel,
        family: Some(6),
        model: Some(85),
        model_name: Some("Intel(R) Xeon(R) Platinum 8168 CPU @ 2.70GHz".to_owned()),
    });
    let gen3 = LinkStatus::new(LinkSpeed::GEN3, 16);
    let mut chipset = HostBridge::new(0, 0);
    chipset.numa_node = Some(0);
    let hb0 = b.host_bridge(chipset);
    for (dev, fun, ids, class) in [
        (0u8, 0u8, (0x8086u16, 0x2020u16), 0x060000u32),
        (0x11, 5, (0x8086, 0xa1d2), 0x010601),
        (0x14, 0, (0x8086, 0xa1af), 0x0c0330),
        (0x1f, 0, (0x8086, 0xa1c2), 0x060100),
    ] {
        function(
            &mut b,
            Bdf::new(0, 0, dev, fun),
            Upstream::HostBridge(hb0),
            ids,
            class,
            None,
        );
    }
    let mut gpus = Vec::new();
    let mut nvswitches = Vec::new();
    for (k, root) in [0x2bu8, 0x4e, 0xae, 0xd7].into_iter().enumerate() {
        let mut hb = HostBridge::new(0, root);
        hb.numa_node = Some(u32::from(k >= 2));
        let hb = b.host_bridge(hb);
        let rp = function(
            &mut b,
            Bdf::new(0, root, 0, 0),
            Upstream::HostBridge(hb),
            (0x8086, 0x2030),
            BRIDGE,
            Some(gen3),
        );
        let l1 = function(
            &mut b,
            Bdf::new(0, root + 1, 0, 0),
            Upstream::Bridge(rp),
            (0x10b5, 0x9797),
            BRIDGE,
            Some(gen3),
        );
        let mut bus = root + 3;
        for (slot, sub) in [(4u8, 0), (0xc, 1)] {
            let dp = function(
                &mut b,
                Bdf::new(0, root + 2, slot, 0),
                Upstream::Bridge(l1),
                (0x10b5, 0x9797),
                BRIDGE,
                Some(gen3),
            );
            let l2 = function(
                &mut b,
                Bdf::new(0, bus, 0, 0),
                Upstream::Bridge(dp),
                (0x10b5, 0x9781),
                BRIDGE,
                Some(gen3),
            );
            for (port, dev) in [(0u8, "gpu"), (8, "nic"), (0x10, "gpu")] {
                let dp2 = function(
                    &mut b,
                    Bdf::new(0, bus + 1, port, 0),
                    Upstream::Bridge(l2),
                    (0x10b5, 0x9781),
                    BRIDGE,
                    Some(gen3),
                );
                let ep_bus = bus + 2 + port / 8;
                let id = if dev == "gpu" {
                    let g = function(
                        &mut b,
                        Bdf::new(0, ep_bus, 0, 0),
                        Upstream::Bridge(dp2),
                        (0x10de, 0x1db8),
                        GPU,
                        Some(gen3),
                    );
                    if let Some(f) = b.function_mut(g) {
                        f.os_devices =
                            vec![format!("nvml{}", gpus.len()), format!("cuda{}", gpus.len())];
                    }
                    gpus.push(g);
                    g
                } else {
                    let n = function(
                        &mut b,
                        Bdf::new(0, ep_bus, 0, 0),
                        Upstream::Bridge(dp2),
                        (0x15b3, 0x1017),
                        NIC,
                        Some(gen3),
                    );
                    if let Some(f) = b.function_mut(n) {
                        f.os_devices = vec![format!("mlx5_{}", 2 * k + sub)];
                    }
                    n
                };
                let _ = id;
            }
            bus += 5;
        }
        let dp = function(
            &mut b,
            Bdf::new(0, root + 2, 0x10, 0),
            Upstream::Bridge(l1),
            (0x10b5, 0x9797),
            BRIDGE,
            Some(LinkStatus::new(LinkSpeed::GEN3, 4)),
        );
        let sw = function(
            &mut b,
            Bdf::new(0, bus, 0, 0),
            Upstream::Bridge(dp),
            (0x10b5, 0x8725),
            BRIDGE,
            Some(LinkStatus::new(LinkSpeed::GEN3, 4)),
        );
        for (i, port) in [2u8, 3, 4].into_iter().enumerate() {
            let dp3 = function(
                &mut b,
                Bdf::new(0, bus + 1, port, 0),
                Upstream::Bridge(sw),
                (0x10b5, 0x8725),
                BRIDGE,
                Some(LinkStatus::new(LinkSpeed::GEN1, 1)),
            );
            let nvs = function(
                &mut b,
                Bdf::new(0, bus + 2 + i as u8, 0, 0),
                Upstream::Bridge(dp3),
                (0x10de, 0x1ac2),
                NVSWITCH,
                Some(LinkStatus::new(LinkSpeed::GEN1, 1)),
            );
            if let Some(f) = b.function_mut(nvs) {
                f.fabric_switch = true;
            }
            nvswitches.push(nvs);
        }
    }
    let fabric: FabricId = b.fabric(PrivateFabric {
        name: "nvlink0".to_owned(),
        kind: LinkKind::NvLink,
    });
    for (g, &gpu) in gpus.iter().enumerate() {
        let board = g / 8;
        for &s in &nvswitches[board * 6..board * 6 + 6] {
            b.link(PrivateLink {
                fabric,
                a: LinkEnd::Function(gpu),
                b: LinkEnd::Function(s),
                bandwidth: Some(Bandwidth(25_000)),
                latency: None,
                nccl_bandwidth: None,
                count: 1,
                up: true,
            });
        }
    }
    for s in 0..6 {
        b.link(PrivateLink {
            fabric,
            a: LinkEnd::Function(nvswitches[s]),
            b: LinkEnd::Function(nvswitches[s + 6]),
            bandwidth: Some(Bandwidth(25_000)),
            latency: None,
            nccl_bandwidth: None,
            count: 8,
            up: true,
        });
    }
    b.build().expect("the DGX-2-like machine builds")
}

/// A POWER8-like machine: two sockets, two GPUs per socket, NVLinks between the GPUs of a
/// socket and from each GPU to its CPU.
pub fn power8_like() -> Machine {
    let mut b = MachineBuilder::new();
    b.cpu(CpuInfo {
        arch: None,
        vendor: CpuVendor::Other("IBM".to_owned()),
        family: None,
        model: None,
        model_name: Some("POWER8NVL".to_owned()),
    });
    let gen3 = LinkStatus::new(LinkSpeed::GEN3, 16);
    let mut gpus = Vec::new();
    for (k, domain) in [2u32, 3, 0x20, 0x21].into_iter().enumerate() {
        let mut hb = HostBridge::new(domain, 0);
        hb.numa_node = Some(u32::from(k >= 2) * 8);
        let hb = b.host_bridge(hb);
        let rp = function(
            &mut b,
            Bdf::new(domain, 0, 0, 0),
            Upstream::HostBridge(hb),
            (0x1014, 0x03dc),
            BRIDGE,
            Some(gen3),
        );
        let g = function(
            &mut b,
            Bdf::new(domain, 1, 0, 0),
            Upstream::Bridge(rp),
            (0x10de, 0x15f9),
            GPU,
            Some(gen3),
        );
        gpus.push(g);
    }
    let fabric = b.fabric(PrivateFabric {
        name: "nvlink".to_owned(),
        kind: LinkKind::NvLink,
    });
    for pair in [(0usize, 1usize), (2, 3)] {
        b.link(PrivateLink {
            fabric,
            a: LinkEnd::Function(gpus[pair.0]),
            b: LinkEnd::Function(gpus[pair.1]),
            bandwidth: Some(Bandwidth(20_000)),
            latency: None,
            nccl_bandwidth: None,
            count: 2,
            up: true,
        });
    }
    for (k, &g) in gpus.iter().enumerate() {
        b.link(PrivateLink {
            fabric,
            a: LinkEnd::Function(g),
            b: LinkEnd::Cpu {
                numa_node: Some(u32::from(k >= 2) * 8),
            },
            bandwidth: Some(Bandwidth(20_000)),
            latency: None,
            nccl_bandwidth: None,
            count: 2,
            up: true,
        });
    }
    b.build().expect("the POWER8-like machine builds")
}
