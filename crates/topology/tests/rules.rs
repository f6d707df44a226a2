//! Linux's P2PDMA rules, one hand-built machine per rule: distances, ACS on each side and on the
//! common ancestor, VFs, the host-bridge whitelist, the AMD Zen rule, unknown ACS, and the fast
//! path and all-pairs matrix agreeing with the step-by-step walk.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::hand::*;
use dmabuf_negotiate::{HostBridgeCause, HostBridgeRefusal};
use pci_topology::{Acs, CpuVendor, FunctionId, Machine, MapType, Upstream};

fn verdict(m: &Machine, p: FunctionId, c: FunctionId) -> (MapType, u32) {
    let v = m.p2p_verdict(p, c).unwrap();
    let f = m.p2p_fast(p, c).unwrap();
    assert_eq!((v.map_type, v.distance), (f.map_type(), f.distance()));
    assert_eq!(v.acs_known, f.acs_known());
    (v.map_type, v.distance)
}

/// Host bridge q35 with: rp1 → switch (dn1: e1, dn2: e2), rp2 → e3, and a two-function device
/// on rp3.
struct Std {
    m: Machine,
    rp1: FunctionId,
    up: FunctionId,
    dn1: FunctionId,
    dn2: FunctionId,
    e1: FunctionId,
    e2: FunctionId,
    e3: FunctionId,
    f0: FunctionId,
    f1: FunctionId,
}

fn std_machine(
    acs: impl Fn(&str) -> Acs,
    host: Option<(u16, u16)>,
    cpu: Option<(CpuVendor, u32)>,
) -> Std {
    let mut h = Hand::new();
    if let Some((v, f)) = cpu {
        h.cpu(v, f);
    }
    let hb = h.host(0, 0, host);
    let rp1 = h.root_port("0000:00:01.0", hb, acs("rp1"));
    let rp2 = h.root_port("0000:00:02.0", hb, acs("rp2"));
    let rp3 = h.root_port("0000:00:03.0", hb, acs("rp3"));
    let up = h.up_port("0000:01:00.0", rp1, acs("up"));
    let dn1 = h.down_port("0000:02:00.0", up, acs("dn1"));
    let dn2 = h.down_port("0000:02:01.0", up, acs("dn2"));
    let e1 = h.endpoint_acs("0000:03:00.0", dn1, acs("e1"));
    let e2 = h.endpoint_acs("0000:04:00.0", dn2, acs("e2"));
    let e3 = h.endpoint("0000:05:00.0", rp2);
    let f0 = h.endpoint("0000:06:00.0", rp3);
    let f1 = h.endpoint("0000:06:00.1", rp3);
    Std {
        m: h.b.build().unwrap(),
        rp1,
        up,
        dn1,
        dn2,
        e1,
        e2,
        e3,
        f0,
        f1,
    }
}

fn plain() -> Std {
    std_machine(|_| ACS_OFF, Q35, None)
}

#[test]
fn worked_distances() {
    let s = plain();
    let m = &s.m;
    assert_eq!(
        verdict(m, s.e1, s.e1),
        (MapType::BusAddr, 0),
        "same function"
    );
    assert_eq!(
        verdict(m, s.f0, s.f1),
        (MapType::BusAddr, 2),
        "two functions of a device"
    );
    assert_eq!(
        verdict(m, s.e1, s.e2),
        (MapType::BusAddr, 4),
        "two endpoints under a switch"
    );
    assert_eq!(
        verdict(m, s.e3, s.f0),
        (MapType::NotSupported, 4),
        "two root ports"
    );
    assert_eq!(
        verdict(m, s.e1, s.e3),
        (MapType::NotSupported, 6),
        "switch vs root port"
    );
    assert_eq!(
        verdict(m, s.e3, s.e1),
        (MapType::NotSupported, 6),
        "and back"
    );
    let v = m.p2p_verdict(s.e1, s.e2).unwrap();
    assert_eq!(v.common_ancestor, Some(s.up));
    assert_eq!((v.provider_steps, v.client_steps), (2, 2));
    assert!(
        v.host_bridge.is_none(),
        "bus-addr does not check the host bridge"
    );
    let v = m.p2p_verdict(s.e1, s.e3).unwrap();
    assert_eq!(v.common_ancestor, None);
    assert_eq!(v.kernel_distance(), None);
    let hb = v.host_bridge.unwrap();
    assert_eq!(hb.cause, HostBridgeCause::NoCommonUpstreamBridge);
    assert_eq!(hb.refusal, Some(HostBridgeRefusal::NotWhitelisted));
    assert!(hb.same_host_bridge);
}

#[test]
fn two_rcieps() {
    let mut h = Hand::new();
    let hb = h.host(0, 0, Q35);
    let a = h.rciep("0000:00:10.0", hb);
    let b = h.rciep("0000:00:11.0", hb);
    let m = h.b.build().unwrap();
    assert_eq!(verdict(&m, a, b), (MapType::NotSupported, 2));
    let mut h = Hand::new();
    let hb = h.host(0, 0, SKX);
    let a = h.rciep("0000:00:10.0", hb);
    let b = h.rciep("0000:00:11.0", hb);
    let m = h.b.build().unwrap();
    assert_eq!(verdict(&m, a, b), (MapType::ThruHostBridge, 2));
}

#[test]
fn acs_redirect_on_the_provider_side() {
    let s = std_machine(|n| if n == "dn1" { ACS_ON } else { ACS_OFF }, Q35, None);
    assert_eq!(verdict(&s.m, s.e1, s.e2), (MapType::NotSupported, 4));
    let v = s.m.p2p_verdict(s.e1, s.e2).unwrap();
    assert_eq!(v.acs_redirect, vec![s.dn1]);
    assert_eq!(
        v.disable_acs_redir.as_deref(),
        Some("pci=disable_acs_redir=0000:02:00.0")
    );
    assert_eq!(v.host_bridge.unwrap().cause, HostBridgeCause::AcsRedirect);
    // ... and as client: the same port is then on the client side.
    let v = s.m.p2p_verdict(s.e2, s.e1).unwrap();
    assert_eq!(v.acs_redirect, vec![s.dn1]);
    assert_eq!(v.map_type, MapType::NotSupported);
}

#[test]
fn acs_redirect_on_the_client_side() {
    let s = std_machine(|n| if n == "dn2" { ACS_ON } else { ACS_OFF }, Q35, None);
    let v = s.m.p2p_verdict(s.e1, s.e2).unwrap();
    assert_eq!(v.acs_redirect, vec![s.dn2]);
    assert_eq!((v.map_type, v.distance), (MapType::NotSupported, 4));
    // Endpoints count too.
    let s = std_machine(
        |n| {
            if n == "e2" || n == "e1" {
                ACS_ON
            } else {
                ACS_OFF
            }
        },
        Q35,
        None,
    );
    let v = s.m.p2p_verdict(s.e1, s.e2).unwrap();
    assert_eq!(v.acs_redirect, vec![s.e1, s.e2]);
    assert_eq!(
        v.disable_acs_redir.as_deref(),
        Some("pci=disable_acs_redir=0000:03:00.0;0000:04:00.0")
    );
}

#[test]
fn acs_redirect_on_the_common_ancestor_counts_only_on_the_provider_walk() {
    // The switch upstream port is the common ancestor of e1 and e2.
    let s = std_machine(|n| if n == "up" { ACS_ON } else { ACS_OFF }, Q35, None);
    let v = s.m.p2p_verdict(s.e1, s.e2).unwrap();
    assert_eq!(v.common_ancestor, Some(s.up));
    assert_eq!(
        v.acs_redirect,
        vec![s.up],
        "counted once, on the provider walk"
    );
    assert_eq!(verdict(&s.m, s.e1, s.e2), (MapType::NotSupported, 4));
    // A root port as the common ancestor of two functions.
    let s = std_machine(|n| if n == "rp3" { ACS_ON } else { ACS_OFF }, Q35, None);
    assert_eq!(verdict(&s.m, s.f0, s.f1), (MapType::NotSupported, 2));
    // ACS above the common ancestor does not matter.
    let s = std_machine(|n| if n == "rp1" { ACS_ON } else { ACS_OFF }, Q35, None);
    assert_eq!(verdict(&s.m, s.e1, s.e2), (MapType::BusAddr, 4));
    assert!(s.m.p2p_verdict(s.e1, s.e2).unwrap().acs_redirect.is_empty());
    let _ = s.rp1;
    // Without a common ancestor ACS is irrelevant (and not listed).
    let s = std_machine(|_| ACS_ON, Q35, None);
    let v = s.m.p2p_verdict(s.e1, s.e3).unwrap();
    assert!(v.acs_redirect.is_empty());
    assert_eq!(
        v.host_bridge.unwrap().cause,
        HostBridgeCause::NoCommonUpstreamBridge
    );
    // The same function with ACS redirect on itself: the kernel counts it.
    let s = std_machine(|n| if n == "e1" { ACS_ON } else { ACS_OFF }, Q35, None);
    assert_eq!(verdict(&s.m, s.e1, s.e1), (MapType::NotSupported, 0));
}

#[test]
fn acs_redirect_with_a_whitelisted_host_bridge_goes_through_it() {
    let s = std_machine(|n| if n == "dn1" { ACS_ON } else { ACS_OFF }, SKX, None);
    assert_eq!(verdict(&s.m, s.e1, s.e2), (MapType::ThruHostBridge, 4));
    let q = s.m.route_quality(s.e1, s.e2).unwrap();
    assert!(q.via_host_bridge);
    let _ = s.dn2;
}

#[test]
fn unknown_acs_is_computed_as_off_and_says_what_on_would_do() {
    let s = std_machine(
        |n| if n == "dn2" { Acs::Unknown } else { ACS_OFF },
        Q35,
        None,
    );
    let v = s.m.p2p_verdict(s.e1, s.e2).unwrap();
    assert_eq!(v.map_type, MapType::BusAddr);
    assert!(!v.acs_known);
    assert_eq!(v.acs_unknown, vec![s.dn2]);
    assert_eq!(v.if_acs_on, Some(MapType::NotSupported));
    let f = s.m.p2p_fast(s.e1, s.e2).unwrap();
    assert!(!f.acs_known());
    assert_eq!(f.map_type_if_acs_on(), MapType::NotSupported);
    assert!(v.reasons(&s.m).iter().any(|r| r.contains("unknown")));
    // Unknown ACS off the path (above the common ancestor) leaves the verdict known.
    let s = std_machine(
        |n| if n == "rp1" { Acs::Unknown } else { ACS_OFF },
        Q35,
        None,
    );
    assert!(s.m.p2p_verdict(s.e1, s.e2).unwrap().acs_known);
    // Unknown ACS without a common ancestor does not matter either.
    let s = std_machine(|_| Acs::Unknown, Q35, None);
    assert!(s.m.p2p_verdict(s.e1, s.e3).unwrap().acs_known);
}

#[test]
fn a_vf_is_treated_as_its_pf_for_upstream_but_not_for_identity() {
    let mut h = Hand::new();
    let hb = h.host(0, 0, Q35);
    let rp = h.root_port("0000:00:01.0", hb, ACS_OFF);
    let pf = h.endpoint("0000:01:00.0", rp);
    // The VF sits on a virtual bus placed, in this model, directly on the host bridge: the
    // kernel still takes the PF's upstream bridge.
    let vf = h.vf("0000:01:00.2", Upstream::HostBridge(hb), pf);
    let vf2 = h.vf("0000:01:00.3", Upstream::Bridge(rp), pf);
    let m = h.b.build().unwrap();
    assert_eq!(m.upstream_bridge(vf), Some(rp));
    assert_eq!(m.chain(vf), vec![vf, rp]);
    assert_eq!(
        verdict(&m, pf, vf),
        (MapType::BusAddr, 2),
        "VF is not its PF"
    );
    assert_eq!(verdict(&m, vf, pf), (MapType::BusAddr, 2));
    assert_eq!(verdict(&m, vf, vf2), (MapType::BusAddr, 2));
    assert_eq!(verdict(&m, vf, vf), (MapType::BusAddr, 0));
    let v = m.p2p_verdict(vf, pf).unwrap();
    assert_eq!(v.common_ancestor, Some(rp));
}

#[test]
fn whitelisted_host_bridges() {
    // Same host bridge: any matching entry, with or without the same-host-bridge flag.
    for ids in [SKX, XEON_E5] {
        let s = std_machine(|_| ACS_OFF, ids, None);
        assert_eq!(verdict(&s.m, s.e1, s.e3), (MapType::ThruHostBridge, 6));
        let v = s.m.p2p_verdict(s.e1, s.e3).unwrap();
        let hb = v.host_bridge.unwrap();
        assert!(hb.provider.whitelisted && hb.allowed && !hb.cpu_rule);
        assert!(hb.provider.entry.is_some());
    }
    // Different host bridges.
    let two = |a: Option<(u16, u16)>, b: Option<(u16, u16)>| {
        let mut h = Hand::new();
        let h0 = h.host(0, 0, a);
        let h1 = h.host(0, 0x80, b);
        let rp0 = h.root_port("0000:00:01.0", h0, ACS_OFF);
        let rp1 = h.root_port("0000:80:01.0", h1, ACS_OFF);
        let e0 = h.endpoint("0000:01:00.0", rp0);
        let e1 = h.endpoint("0000:81:00.0", rp1);
        let m = h.b.build().unwrap();
        let v = m.p2p_verdict(e0, e1).unwrap();
        assert_eq!(v.distance, 4);
        assert_eq!(verdict(&m, e0, e1).0, v.map_type);
        v
    };
    let v = two(SKX, SKX);
    assert_eq!(v.map_type, MapType::ThruHostBridge);
    assert!(!v.host_bridge.as_ref().unwrap().same_host_bridge);
    let v = two(XEON_E5, XEON_E5);
    assert_eq!(v.map_type, MapType::NotSupported);
    assert_eq!(
        v.host_bridge.unwrap().refusal,
        Some(HostBridgeRefusal::RequiresSameHostBridge)
    );
    let v = two(SKX, XEON_E5);
    assert_eq!(v.map_type, MapType::NotSupported);
    let v = two(SKX, Q35);
    assert_eq!(v.map_type, MapType::NotSupported);
    assert_eq!(
        v.host_bridge.unwrap().refusal,
        Some(HostBridgeRefusal::NotWhitelisted)
    );
    let v = two(SKX, None);
    assert_eq!(
        v.map_type,
        MapType::NotSupported,
        "the first function, root port 80:01.0, is checked and not listed"
    );
}

#[test]
fn the_checked_device_is_00_0_or_a_root_port() {
    // No 00.0: the first function is a root port with whitelisted IDs → it is checked.
    let mut h = Hand::new();
    let hb = h.host(0, 0, None);
    let rp1 = h.root_port("0000:00:01.0", hb, ACS_OFF);
    let rp2 = h.root_port("0000:00:02.0", hb, ACS_OFF);
    h.b.function_mut(rp1).unwrap().vendor = Some(0x8086);
    h.b.function_mut(rp1).unwrap().device = Some(0x2030);
    let e1 = h.endpoint("0000:01:00.0", rp1);
    let e2 = h.endpoint("0000:02:00.0", rp2);
    let m = h.b.build().unwrap();
    let v = m.p2p_verdict(e1, e2).unwrap();
    assert_eq!(v.map_type, MapType::ThruHostBridge);
    assert_eq!(v.host_bridge.unwrap().provider.device, Some(rp1));
    // The first function is an RCiEP at 00:02.0 with whitelisted IDs: not checked.
    let mut h = Hand::new();
    let hb = h.host(0, 0, None);
    let x = h.rciep("0000:00:02.0", hb);
    h.b.function_mut(x).unwrap().vendor = Some(0x8086);
    h.b.function_mut(x).unwrap().device = Some(0x2030);
    let y = h.rciep("0000:00:03.0", hb);
    let m = h.b.build().unwrap();
    let v = m.p2p_verdict(x, y).unwrap();
    assert_eq!(v.map_type, MapType::NotSupported);
    assert_eq!(
        v.host_bridge.unwrap().refusal,
        Some(HostBridgeRefusal::NoHostBridgeDevice)
    );
}

#[test]
fn amd_zen_allows_any_host_bridge() {
    let zen = std_machine(|_| ACS_OFF, Q35, Some((CpuVendor::Amd, 0x17)));
    assert_eq!(
        verdict(&zen.m, zen.e1, zen.e3),
        (MapType::ThruHostBridge, 6)
    );
    assert!(
        zen.m
            .p2p_verdict(zen.e1, zen.e3)
            .unwrap()
            .cpu_rule_applied()
    );
    let zen = std_machine(
        |n| if n == "dn1" { ACS_ON } else { ACS_OFF },
        Q35,
        Some((CpuVendor::Amd, 0x19)),
    );
    assert_eq!(
        verdict(&zen.m, zen.e1, zen.e2),
        (MapType::ThruHostBridge, 4)
    );
    for cpu in [
        (CpuVendor::Amd, 0x16),
        (CpuVendor::Hygon, 0x18),
        (CpuVendor::Intel, 0x06),
    ] {
        let s = std_machine(|_| ACS_OFF, Q35, Some(cpu.clone()));
        assert_eq!(
            verdict(&s.m, s.e1, s.e3),
            (MapType::NotSupported, 6),
            "{cpu:?}"
        );
        assert!(!s.m.p2p_verdict(s.e1, s.e3).unwrap().cpu_rule_applied());
    }
}

#[test]
fn distance_many_sums_or_refuses() {
    let s = plain();
    assert_eq!(s.m.distance_many(s.e1, &[s.e1, s.e2]), Some(4));
    assert_eq!(s.m.distance_many(s.e1, &[s.e2, s.e2]), Some(8));
    assert_eq!(s.m.distance_many(s.e1, &[s.e2, s.e3]), None, "one refused");
    assert_eq!(s.m.distance_many(s.e1, &[]), None, "empty list");
    assert_eq!(
        s.m.distance_many(s.e1, &[FunctionId(999)]),
        None,
        "unknown client"
    );
    let zen = std_machine(|_| ACS_OFF, Q35, Some((CpuVendor::Amd, 0x17)));
    assert_eq!(
        zen.m.distance_many(zen.e1, &[zen.e2, zen.e3]),
        Some(10),
        "no host-bridge penalty"
    );
}

#[test]
fn matrix_matches_single_verdicts() {
    for s in [
        plain(),
        std_machine(
            |n| {
                if n.starts_with('d') {
                    ACS_ON
                } else {
                    Acs::Unknown
                }
            },
            SKX,
            None,
        ),
    ] {
        let all: Vec<FunctionId> = s.m.function_ids().collect();
        let mx = s.m.p2p_matrix(&all, &all);
        for (i, &p) in all.iter().enumerate() {
            for (j, &c) in all.iter().enumerate() {
                assert_eq!(mx.get(i, j), s.m.p2p_fast(p, c), "{p} {c}");
                let v = s.m.p2p_verdict(p, c).unwrap();
                let f = mx.get(i, j).unwrap();
                assert_eq!(v.map_type, f.map_type());
                assert_eq!(v.distance, f.distance());
                assert_eq!(v.acs_known, f.acs_known());
                assert_eq!(v.if_acs_on.unwrap_or(v.map_type), f.map_type_if_acs_on());
            }
        }
    }
}

#[test]
fn a_collapsed_source_says_so() {
    let mut h = Hand::new();
    h.b.switches_collapsed(true);
    let hb = h.host(0, 0, Q35);
    let sw = h.root_port("0000:00:01.0", hb, Acs::Unknown);
    let a = h.endpoint("0000:01:00.0", sw);
    let b = h.endpoint("0000:02:00.0", sw);
    let m = h.b.build().unwrap();
    let v = m.p2p_verdict(a, b).unwrap();
    assert!(v.switches_collapsed);
    assert!(v.reasons(&m).iter().any(|r| r.contains("collapsed")));
    assert!(!v.acs_known);
}
