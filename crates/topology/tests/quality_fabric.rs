//! Route quality (bottleneck bandwidth after line encoding, hops, crossings, nvidia-smi class)
//! and the negotiation core's `Fabric` answered by a machine: reach, private routes, relations.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::hand::*;
use dmabuf_negotiate::{
    Bandwidth, DeviceId, Fabric, FabricId, HostBridgeCause, HostBridgeRefusal, Initiator, Latency,
    Memory, Refusal, Relation, RouteKind,
};
use pci_topology::{
    Acs, CpuVendor, FunctionId, HostBridge, LinkEnd, LinkKind, LinkSpeed, LinkStatus, Machine,
    MachineBuilder, NvClass, PortType, PrivateFabric, PrivateLink, Upstream,
};

fn d(f: FunctionId) -> DeviceId {
    f.into()
}

/// Two host bridges (NUMA 0 and 1); on the first: rp1 → switch (dn1 → e1 Gen3 x4, dn2 →
/// nested switch → e2), rp2 → e3; on the second: rp3 → e4.
struct M {
    m: Machine,
    e1: FunctionId,
    e2: FunctionId,
    e3: FunctionId,
    e4: FunctionId,
    f0: FunctionId,
    f1: FunctionId,
}

fn machine(numa: [Option<u32>; 2], collapsed: bool) -> M {
    let mut h = Hand::new();
    let hb0 = h.host(0, 0, Q35);
    let hb1 = h.host(0, 0x80, Q35);
    h.b.host_bridge_mut(hb0).unwrap().numa_node = numa[0];
    h.b.host_bridge_mut(hb1).unwrap().numa_node = numa[1];
    let rp1 = h.root_port("0000:00:01.0", hb0, ACS_OFF);
    let rp2 = h.root_port("0000:00:02.0", hb0, ACS_OFF);
    let up = h.up_port("0000:01:00.0", rp1, ACS_OFF);
    let dn1 = h.down_port("0000:02:00.0", up, ACS_OFF);
    let dn2 = h.down_port("0000:02:01.0", up, ACS_OFF);
    let e1 = h.endpoint("0000:03:00.0", dn1);
    h.set_link(e1, Some(LinkSpeed::GEN3), Some(4));
    let up2 = h.up_port("0000:04:00.0", dn2, ACS_OFF);
    let dn3 = h.down_port("0000:05:00.0", up2, ACS_OFF);
    let e2 = h.endpoint("0000:06:00.0", dn3);
    let f0 = h.endpoint("0000:07:00.0", dn3);
    let f1 = h.endpoint("0000:07:00.1", dn3);
    let e3 = h.endpoint("0000:08:00.0", rp2);
    let rp3 = h.root_port("0000:80:01.0", hb1, ACS_OFF);
    let e4 = h.endpoint("0000:81:00.0", rp3);
    h.b.switches_collapsed(collapsed);
    M {
        m: h.b.build().unwrap(),
        e1,
        e2,
        e3,
        e4,
        f0,
        f1,
    }
}

#[test]
fn nvidia_smi_classes() {
    let s = machine([Some(0), Some(1)], false);
    let m = &s.m;
    assert_eq!(m.nv_class(s.e1, s.e1), Some(NvClass::X));
    assert_eq!(m.nv_class(s.f0, s.f1), Some(NvClass::Pix), "one bridge");
    assert_eq!(m.nv_class(s.e2, s.f0), Some(NvClass::Pix), "same switch");
    assert_eq!(m.nv_class(s.e1, s.e2), Some(NvClass::Pxb), "two switches");
    assert_eq!(m.nv_class(s.e1, s.e3), Some(NvClass::Phb));
    assert_eq!(m.nv_class(s.e1, s.e4), Some(NvClass::Sys));
    let same_node = machine([Some(0), Some(0)], false);
    assert_eq!(
        same_node.m.nv_class(same_node.e1, same_node.e4),
        Some(NvClass::Node)
    );
    let unknown = machine([None, Some(1)], false);
    assert_eq!(
        unknown.m.nv_class(unknown.e1, unknown.e4),
        Some(NvClass::Node)
    );
    assert_eq!(
        unknown
            .m
            .path_quality(unknown.e1, unknown.e4, true)
            .unwrap()
            .numa_crossing,
        None
    );
    // Collapsed switches: every bridge is its own unit, so one switch is already PXB.
    let c = machine([Some(0), Some(1)], true);
    assert_eq!(c.m.nv_class(c.e2, c.f0), Some(NvClass::Pix), "one bridge");
    assert_eq!(c.m.nv_class(c.e1, c.e2), Some(NvClass::Pxb));
    assert!(c.m.switches_collapsed());
}

#[test]
fn switch_structure_inferred_from_depth_when_port_types_are_unknown() {
    let mut h = Hand::new();
    let hb = h.host(0, 0, Q35);
    let rp = h.root_port("0000:00:01.0", hb, ACS_OFF);
    let up = h.up_port("0000:01:00.0", rp, ACS_OFF);
    let dn1 = h.down_port("0000:02:00.0", up, ACS_OFF);
    let dn2 = h.down_port("0000:02:01.0", up, ACS_OFF);
    let a = h.endpoint("0000:03:00.0", dn1);
    let b = h.endpoint("0000:04:00.0", dn2);
    for f in [rp, up, dn1, dn2, a, b] {
        let f = h.b.function_mut(f).unwrap();
        f.port_type = None;
        f.acs = Acs::Unknown;
    }
    let m = h.b.build().unwrap();
    assert_eq!(m.nv_class(a, b), Some(NvClass::Pix));
}

#[test]
fn bottleneck_bandwidth_after_line_encoding() {
    let s = machine([Some(0), Some(1)], false);
    let m = &s.m;
    // e1 (Gen3 x4) to e2 (Gen4 x16, behind Gen4 x16 links): turns at the upstream port.
    let q = m.path_quality(s.e1, s.e2, false).unwrap();
    assert_eq!(q.bandwidth, Some(Bandwidth(3_938)), "Gen3 x4");
    assert_eq!(q.bottleneck, Some(s.e1));
    assert_eq!(
        q.links, 3,
        "e1's link, e2's link, the nested switch's upstream link"
    );
    assert_eq!(q.hops, 6, "kernel distance 2 + 4");
    assert_eq!(q.host_bridges_crossed, 0);
    assert_eq!(q.iommu_translates, Some(false));
    assert_eq!(q.latency, None);
    let q = m.path_quality(s.e2, s.e3, false).unwrap();
    assert!(q.via_host_bridge, "no common bridge");
    assert_eq!(q.bandwidth, Some(Bandwidth(31_507)));
    assert_eq!(q.host_bridges_crossed, 1);
    assert_eq!(q.latency, Some(Latency(300)));
    let q = m.path_quality(s.e3, s.e4, true).unwrap();
    assert_eq!(q.host_bridges_crossed, 2);
    assert_eq!(q.numa_crossing, Some(true));
    assert_eq!(q.latency, Some(Latency(500)));
    assert_eq!(q.hops, 5);
    let links = m.path_links(s.e1, s.e2, false);
    assert_eq!(links.len(), 3);
}

#[test]
fn routes_count_what_links_can_do_and_say_when_they_run_below_it() {
    let mut h = Hand::new();
    let hb = h.host(0, 0, Q35);
    let rp = h.root_port("0000:00:01.0", hb, ACS_OFF);
    let up = h.up_port("0000:01:00.0", rp, ACS_OFF);
    let dn1 = h.down_port("0000:02:00.0", up, ACS_OFF);
    let dn2 = h.down_port("0000:02:01.0", up, ACS_OFF);
    let gpu = h.endpoint("0000:03:00.0", dn1);
    let nic = h.endpoint("0000:04:00.0", dn2);
    // An idle Gen4 x16 GPU trained down to Gen1, in a slot whose port does Gen3 x16.
    h.b.function_mut(gpu).unwrap().current_link = LinkStatus::new(LinkSpeed::GEN1, 16);
    h.b.function_mut(dn1).unwrap().max_link = LinkStatus::new(LinkSpeed::GEN3, 16);
    let m = h.b.build().unwrap();
    let u = m.uplink(gpu).unwrap();
    assert_eq!(u.current, Some(Bandwidth(4_000)), "Gen1 x16 now");
    assert_eq!(
        u.capable,
        Some(Bandwidth(15_753)),
        "the lower end: Gen3 x16"
    );
    assert_eq!(u.capable_link, LinkStatus::new(LinkSpeed::GEN3, 16));
    assert_eq!(u.trained_down(), Some(true));
    assert_eq!(m.uplink(dn1), None, "a downstream port's hop is internal");
    let q = m.path_quality(gpu, nic, false).unwrap();
    assert_eq!(q.bandwidth, Some(Bandwidth(15_753)), "what the link can do");
    assert_eq!(
        q.current_bandwidth,
        Some(Bandwidth(4_000)),
        "what it does now"
    );
    assert_eq!(q.bottleneck, Some(gpu));
    let l = m.path_links(gpu, nic, false);
    assert_eq!(
        (l[0].bandwidth, l[0].current),
        (Some(Bandwidth(15_753)), Some(Bandwidth(4_000)))
    );
    // Without the other end's maximum, what the link can do is not known: its current state.
    let mut h2 = MachineBuilder::from_machine(&m);
    h2.function_mut(dn1).unwrap().max_link = LinkStatus::default();
    let m2 = h2.build().unwrap();
    assert_eq!(m2.uplink(gpu).unwrap().capable, None);
    assert_eq!(
        m2.path_quality(gpu, nic, false).unwrap().bandwidth,
        Some(Bandwidth(4_000))
    );
}

#[test]
fn an_unknown_link_makes_the_bottleneck_unknown() {
    let mut h = Hand::new();
    let hb = h.host(0, 0, Q35);
    let rp = h.root_port("0000:00:01.0", hb, ACS_OFF);
    let up = h.up_port("0000:01:00.0", rp, ACS_OFF);
    let dn1 = h.down_port("0000:02:00.0", up, ACS_OFF);
    let dn2 = h.down_port("0000:02:01.0", up, ACS_OFF);
    let a = h.endpoint("0000:03:00.0", dn1);
    let b = h.endpoint("0000:04:00.0", dn2);
    h.set_link(b, Some(LinkSpeed::GEN4), None);
    let m = h.b.build().unwrap();
    let q = m.path_quality(a, b, false).unwrap();
    assert_eq!(q.bandwidth, None, "never assumed");
    assert_eq!(q.current_bandwidth, None);
    assert_eq!(
        q.bottleneck,
        Some(a),
        "the narrowest known link is still named"
    );
}

#[test]
fn reach_maps_verdicts_to_routes_and_refusals() {
    let s = machine([Some(0), Some(1)], false);
    let m = &s.m;
    let r = m
        .reach(Initiator::Device(d(s.e2)), Memory::Device(d(s.f0)))
        .unwrap();
    assert_eq!(
        r.kind,
        RouteKind::PciBusAddr { distance: 2 },
        "both under dn3"
    );
    assert_eq!(r.bandwidth, Some(Bandwidth(31_507)));
    assert_eq!(r.hops, 2);
    let e = m
        .reach(Initiator::Device(d(s.e3)), Memory::Device(d(s.e1)))
        .unwrap_err();
    assert_eq!(
        e,
        Refusal::PciP2pNotSupported {
            cause: HostBridgeCause::NoCommonUpstreamBridge,
            host_bridge: HostBridgeRefusal::NotWhitelisted,
            acs_known: true,
        }
    );
    let sys = m
        .reach(
            Initiator::Device(d(s.e1)),
            Memory::System { numa_node: Some(0) },
        )
        .unwrap();
    assert_eq!(sys.kind, RouteKind::SystemMemory);
    assert_eq!(sys.bandwidth, Some(Bandwidth(3_938)));
    assert_eq!(sys.hops, 4);
    let cpu = m.reach(Initiator::Cpu, Memory::Device(d(s.e2))).unwrap();
    assert_eq!(cpu.kind, RouteKind::CpuThroughHostBridge);
    assert_eq!(
        m.reach(Initiator::Device(DeviceId(999)), Memory::Device(d(s.e1))),
        Err(Refusal::UnknownDevice(DeviceId(999)))
    );
    // On Zen the same pair goes through the host bridge.
    let mut h = Hand::new();
    h.cpu(CpuVendor::Amd, 0x19);
    let hb = h.host(0, 0, Q35);
    let rp1 = h.root_port("0000:00:01.0", hb, ACS_ON);
    let rp2 = h.root_port("0000:00:02.0", hb, ACS_OFF);
    let a = h.endpoint("0000:01:00.0", rp1);
    let b = h.endpoint("0000:02:00.0", rp2);
    let m = h.b.build().unwrap();
    let r = m
        .reach(Initiator::Device(d(b)), Memory::Device(d(a)))
        .unwrap();
    assert_eq!(r.kind, RouteKind::PciThroughHostBridge { distance: 4 });
}

#[test]
fn acs_refusal_says_acs_and_whether_it_was_known() {
    let mut h = Hand::new();
    let hb = h.host(0, 0, Q35);
    let rp = h.root_port("0000:00:01.0", hb, ACS_OFF);
    let up = h.up_port("0000:01:00.0", rp, ACS_OFF);
    let dn1 = h.down_port("0000:02:00.0", up, ACS_ON);
    let dn2 = h.down_port("0000:02:01.0", up, Acs::Unknown);
    let a = h.endpoint("0000:03:00.0", dn1);
    let b = h.endpoint("0000:04:00.0", dn2);
    let m = h.b.build().unwrap();
    assert_eq!(
        m.reach(Initiator::Device(d(b)), Memory::Device(d(a))),
        Err(Refusal::PciP2pNotSupported {
            cause: HostBridgeCause::AcsRedirect,
            host_bridge: HostBridgeRefusal::NotWhitelisted,
            acs_known: false,
        })
    );
}

fn gpus() -> (Machine, Vec<FunctionId>, FabricId, FabricId) {
    let mut h = Hand::new();
    let hb = h.host(0, 0, Q35);
    let rp = h.root_port("0000:00:01.0", hb, ACS_OFF);
    let g: Vec<FunctionId> = (0..4)
        .map(|i| h.endpoint(&format!("0000:0{}:00.0", i + 1), rp))
        .collect();
    let sw1 = h.endpoint("0000:0a:00.0", rp);
    let sw2 = h.endpoint("0000:0b:00.0", rp);
    for s in [sw1, sw2] {
        h.b.function_mut(s).unwrap().fabric_switch = true;
    }
    let nv = h.b.fabric(PrivateFabric {
        name: "nvlink".into(),
        kind: LinkKind::NvLink,
    });
    let xg = h.b.fabric(PrivateFabric {
        name: "xgmi".into(),
        kind: LinkKind::Xgmi,
    });
    let link = |a: FunctionId, b: FunctionId, count: u16, up: bool| PrivateLink {
        fabric: nv,
        a: LinkEnd::Function(a),
        b: LinkEnd::Function(b),
        bandwidth: Some(Bandwidth(25_000)),
        latency: Some(Latency(100)),
        nccl_bandwidth: None,
        count,
        up,
    };
    // g0-g1 direct (2 links); g0, g1, g2 on both switches (1 link each); g3 only by a down link.
    h.b.link(link(g[0], g[1], 2, true));
    for s in [sw1, sw2] {
        for &x in &g[..3] {
            h.b.link(link(x, s, 1, true));
        }
    }
    h.b.link(link(g[3], g[0], 4, false));
    h.b.link(PrivateLink {
        fabric: xg,
        a: LinkEnd::Function(g[2]),
        b: LinkEnd::Cpu { numa_node: Some(0) },
        bandwidth: None,
        latency: None,
        nccl_bandwidth: None,
        count: 1,
        up: true,
    });
    let _ = (
        HostBridge::new(0, 0),
        Upstream::HostBridge,
        PortType::Endpoint,
    );
    (h.b.build().unwrap(), g, nv, xg)
}

#[test]
fn private_routes_direct_through_switches_and_down() {
    let (m, g, nv, xg) = gpus();
    let r = m.private_route(nv, d(g[0]), d(g[1])).unwrap();
    assert_eq!(r.kind, RouteKind::PrivateLink(nv));
    assert_eq!(
        (r.bandwidth, r.hops),
        (Some(Bandwidth(50_000)), 1),
        "two links"
    );
    let r = m.private_route(nv, d(g[0]), d(g[2])).unwrap();
    assert_eq!(
        (r.bandwidth, r.hops),
        (Some(Bandwidth(50_000)), 2),
        "two switches in parallel"
    );
    assert_eq!(r.latency, Some(Latency(200)));
    assert_eq!(
        m.private_route(nv, d(g[3]), d(g[0])),
        Err(Refusal::LinkDown(nv))
    );
    assert_eq!(
        m.private_route(nv, d(g[3]), d(g[1])),
        Err(Refusal::LinkDown(nv))
    );
    assert_eq!(
        m.private_route(xg, d(g[0]), d(g[2])),
        Err(Refusal::NotOnFabric {
            fabric: xg,
            device: d(g[0])
        })
    );
    assert_eq!(
        m.private_route(FabricId(9), d(g[0]), d(g[1])),
        Err(Refusal::UnknownFabric(FabricId(9)))
    );
    assert_eq!(
        m.private_route(nv, d(g[0]), d(g[0])).unwrap().kind,
        RouteKind::SameDevice
    );
}

#[test]
fn a_machine_derived_with_a_link_up_again_routes_over_it() {
    let (m, g, nv, _) = gpus();
    let same = MachineBuilder::from_machine(&m).build().unwrap();
    assert_eq!(same, m, "unchanged, the same machine");
    let mut b = MachineBuilder::from_machine(&m);
    for link in b.links_mut() {
        link.up = true;
    }
    let repaired = b.build().unwrap();
    assert_ne!(repaired, m);
    assert_eq!(
        repaired.function(g[3]).map(|f| f.bdf),
        m.function(g[3]).map(|f| f.bdf)
    );
    let r = repaired.private_route(nv, d(g[3]), d(g[0])).unwrap();
    assert_eq!(
        (r.bandwidth, r.hops),
        (Some(Bandwidth(100_000)), 1),
        "four links"
    );
}

#[test]
fn relations() {
    let mut h = Hand::new();
    let hb = h.host(0, 0, Q35);
    let rp = h.root_port("0000:00:01.0", hb, ACS_OFF);
    let pf = h.endpoint("0000:01:00.0", rp);
    let f1 = h.endpoint("0000:01:00.1", rp);
    let vf1 = h.vf("0000:01:00.2", Upstream::Bridge(rp), pf);
    let vf2 = h.vf("0000:01:00.3", Upstream::Bridge(rp), pf);
    let other = h.endpoint("0000:01:01.0", rp);
    let m = h.b.build().unwrap();
    assert_eq!(m.relation(d(pf), d(pf)), Relation::SameFunction);
    assert_eq!(m.relation(d(f1), d(pf)), Relation::SameDevice);
    assert_eq!(m.relation(d(pf), d(vf1)), Relation::PhysicalFunctionOf);
    assert_eq!(m.relation(d(vf1), d(pf)), Relation::VirtualFunctionOf);
    assert_eq!(m.relation(d(vf1), d(vf2)), Relation::OtherVirtualFunction);
    assert_eq!(m.relation(d(other), d(pf)), Relation::Unrelated);
    assert_eq!(m.relation(d(pf), DeviceId(77)), Relation::Unknown);
}

#[test]
fn the_core_negotiates_over_a_machine() {
    use dmabuf_negotiate::{Candidate, ExporterOffer, ImporterOffer, Negotiator};
    let s = machine([Some(0), Some(1)], false);
    let exporter = [ExporterOffer::dma_addr(Memory::Device(d(s.f0)))];
    let importer = [ImporterOffer::dma_addr(d(s.e2), true)];
    let mut table = [Candidate::VACANT; 1];
    let a = Negotiator::new(&s.m)
        .negotiate(&exporter, &importer, &mut table)
        .unwrap();
    assert_eq!(a.route().kind, RouteKind::PciBusAddr { distance: 2 });
    let importer = [ImporterOffer::dma_addr(d(s.e3), true)];
    let mut table = [Candidate::VACANT; 1];
    assert!(
        Negotiator::new(&s.m)
            .negotiate(&exporter, &importer, &mut table)
            .is_err()
    );
}

#[test]
fn pair_report_has_what_the_matrix_json_needs() {
    let s = machine([Some(0), Some(1)], false);
    let r = s.m.pair_report(s.e1, s.e2).unwrap();
    assert_eq!(r.map_type(), pci_topology::MapType::BusAddr);
    assert_eq!(r.distance(), Some(6));
    assert!(r.acs_known());
    assert_eq!(r.class(), NvClass::Pxb);
    assert_eq!(r.bandwidth_gbps(), Some(3.938));
    assert!(
        r.reasons.iter().any(|x| x.contains("bottleneck 3.94 GB/s")),
        "{:?}",
        r.reasons
    );
    let r = s.m.pair_report(s.e1, s.e4).unwrap();
    assert_eq!(r.distance(), None);
    assert_eq!(r.class(), NvClass::Sys);
    assert!(
        r.reasons
            .iter()
            .any(|x| x.contains("not in the Linux 7.2 whitelist"))
    );
}
