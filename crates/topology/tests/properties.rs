//! Properties over random machines: the fast verdict, the all-pairs matrix and the kernel-style
//! step-by-step walk always agree; quality and Fabric answers never panic; the archive reader
//! never panics on arbitrary bytes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use dmabuf_negotiate::{DeviceId, Fabric, Initiator, Memory};
use pci_topology::load::ArchiveSource;
use pci_topology::{
    Acs, Bdf, ClassCode, CpuInfo, CpuVendor, Function, FunctionId, HostBridge, Machine,
    MachineBuilder, PortType, Upstream,
};
use proptest::prelude::*;

/// A small deterministic generator (SplitMix64).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn random_machine(seed: u64, n: usize) -> Machine {
    let mut r = Rng(seed);
    let mut b = MachineBuilder::new();
    b.cpu(CpuInfo {
        arch: None,
        vendor: [CpuVendor::Intel, CpuVendor::Amd, CpuVendor::Hygon][r.below(3) as usize].clone(),
        family: Some([0x06, 0x15, 0x17, 0x19][r.below(4) as usize]),
        model: None,
        model_name: None,
    });
    let ids = [
        None,
        Some((0x8086, 0x29c0)),
        Some((0x8086, 0x2030)),
        Some((0x8086, 0x3c00)),
    ];
    let nhb = 1 + r.below(3) as u32;
    let mut hbs = Vec::new();
    for h in 0..nhb {
        let mut hb = HostBridge::new(h, 0);
        hb.numa_node = Some(h % 2);
        let id = b.host_bridge(hb);
        hbs.push(id);
        if let Some((v, d)) = ids[r.below(4) as usize] {
            let mut f = Function::new(Bdf::new(h, 0, 0, 0), Upstream::HostBridge(id));
            f.vendor = Some(v);
            f.device = Some(d);
            f.acs = Acs::Absent;
            b.function(f);
        }
    }
    let mut bridges: Vec<(FunctionId, u32)> = Vec::new();
    let mut pfs: Vec<FunctionId> = Vec::new();
    for i in 0..n {
        let under_root = bridges.is_empty() || r.below(4) == 0;
        let (up, domain, bus) = if under_root {
            let h = r.below(u64::from(nhb)) as u32;
            (Upstream::HostBridge(hbs[h as usize]), h, 0u8)
        } else {
            let (p, d) = bridges[r.below(bridges.len() as u64) as usize];
            (Upstream::Bridge(p), d, 1 + (i / 256) as u8)
        };
        let bdf = Bdf::new(domain, bus, (i % 31) as u8 + 1, ((i / 31) % 8) as u8);
        let mut f = Function::new(bdf, up);
        f.vendor = Some(0x1b36);
        f.device = Some(0x000c);
        f.acs = [
            Acs::Unknown,
            Acs::Absent,
            Acs::Present { control: 0 },
            Acs::Present { control: 0x0c },
        ][r.below(4) as usize];
        let is_bridge = r.below(2) == 0;
        if is_bridge {
            f.class = Some(ClassCode(0x060400));
            f.port_type = Some(if under_root {
                PortType::RootPort
            } else {
                PortType::SwitchDownstream
            });
        } else {
            f.class = Some(ClassCode(0x020000));
            f.port_type = Some(PortType::Endpoint);
        }
        let vf = !is_bridge && !pfs.is_empty() && r.below(4) == 0;
        if vf {
            f.physfn = Some(pfs[r.below(pfs.len() as u64) as usize]);
        }
        let id = b.function(f);
        if is_bridge {
            bridges.push((id, domain));
        } else if !vf {
            pfs.push(id);
        }
    }
    b.build().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn fast_matrix_and_walk_agree(seed in any::<u64>(), n in 1usize..40) {
        let m = random_machine(seed, n);
        let all: Vec<FunctionId> = m.function_ids().collect();
        let mx = m.p2p_matrix(&all, &all);
        for (i, &p) in all.iter().enumerate() {
            for (j, &c) in all.iter().enumerate() {
                let v = m.p2p_verdict(p, c).unwrap();
                let f = m.p2p_fast(p, c).unwrap();
                prop_assert_eq!(mx.get(i, j), Some(f));
                prop_assert_eq!(v.map_type, f.map_type());
                prop_assert_eq!(v.distance, f.distance());
                prop_assert_eq!(v.acs_known, f.acs_known());
                prop_assert_eq!(v.if_acs_on.unwrap_or(v.map_type), f.map_type_if_acs_on());
                prop_assert_eq!(v.provider_steps + v.client_steps, v.distance);
                // Symmetric in the topology, not necessarily in ACS: the distance is symmetric.
                prop_assert_eq!(m.p2p_fast(c, p).unwrap().distance(), f.distance());
                prop_assert!(m.nv_class(p, c).is_some());
                prop_assert_eq!(m.nv_class(p, c), m.nv_class(c, p));
                let q = m.route_quality(p, c).unwrap();
                prop_assert_eq!(q.via_host_bridge, f.map_type() != pci_topology::MapType::BusAddr);
                let reach = m.reach(Initiator::Device(DeviceId(c.0)), Memory::Device(DeviceId(p.0)));
                prop_assert_eq!(reach.is_ok(), f.map_type().is_supported());
            }
        }
    }

    #[test]
    fn archives_of_arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = ArchiveSource::from_bytes("random", &bytes);
        let mut gz = vec![0x1f, 0x8b];
        gz.extend_from_slice(&bytes);
        let _ = ArchiveSource::from_bytes("random.gz", &gz);
        let mut bz = b"BZh9".to_vec();
        bz.extend_from_slice(&bytes);
        let _ = ArchiveSource::from_bytes("random.bz2", &bz);
    }
}
