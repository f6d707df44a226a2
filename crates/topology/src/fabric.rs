//! The negotiation core's [`Fabric`] trait, answered by a [`Machine`].
//!
//! - `reach(Device(client), Device(provider))`: Linux's P2P verdict ([`crate::p2pdma`]), with
//!   the route's bandwidth, latency and hops from [`crate::quality`]. Bus-addr →
//!   [`RouteKind::PciBusAddr`], thru-host-bridge → [`RouteKind::PciThroughHostBridge`],
//!   not-supported → [`Refusal::PciP2pNotSupported`].
//! - `reach(Device(d), System)`: [`RouteKind::SystemMemory`] over the device's path to its root
//!   complex; `reach(Cpu, Device(p))`: [`RouteKind::CpuThroughHostBridge`] over the same path.
//! - `private_route`: over the machine's private links, directly or through switch functions
//!   (NVSwitch), precomputed when the machine is built.
//! - `relation`: same function, same device (same domain, bus and slot), SR-IOV PF/VF.
//!
//! Every answer is computed without allocation (a verdict is a common-ancestor search over the
//! precomputed tables; private routes are looked up).

use std::collections::{BTreeSet, HashMap};

use dmabuf_negotiate::{
    Bandwidth, DeviceId, Fabric, FabricId, HostBridgeCause, HostBridgeRefusal, Initiator, Latency,
    Memory, Refusal, Relation, Route, RouteKind,
};

use crate::machine::{FunctionId, LinkEnd, Machine};
use crate::p2pdma::{MapType, NONE};

/// Precomputed private-fabric routes.
#[derive(Clone, Debug, Default)]
pub(crate) struct PrivateRoutes {
    routes: HashMap<(u32, u32, u32), Result<Route, Refusal>>,
    members: BTreeSet<(u32, u32)>,
}

#[derive(Clone, Copy)]
struct Edge {
    up: bool,
    bandwidth: Option<u32>,
    latency: Option<u32>,
}

impl PrivateRoutes {
    pub(crate) fn compute(m: &Machine) -> Self {
        let mut out = PrivateRoutes::default();
        for (fi, _) in m.fabrics().iter().enumerate() {
            let fi = fi as u32;
            // Adjacency between functions on this fabric; parallel bundles are merged.
            let mut adj: HashMap<u32, HashMap<u32, Edge>> = HashMap::new();
            for l in m.links().iter().filter(|l| l.fabric.0 == fi) {
                let (LinkEnd::Function(a), LinkEnd::Function(b)) = (l.a, l.b) else {
                    if let LinkEnd::Function(a) = l.a {
                        out.members.insert((fi, a.0));
                    }
                    if let LinkEnd::Function(b) = l.b {
                        out.members.insert((fi, b.0));
                    }
                    continue;
                };
                out.members.insert((fi, a.0));
                out.members.insert((fi, b.0));
                for (x, y) in [(a.0, b.0), (b.0, a.0)] {
                    let e = adj.entry(x).or_default().entry(y).or_insert(Edge {
                        up: false,
                        bandwidth: Some(0),
                        latency: None,
                    });
                    if l.up {
                        if !e.up {
                            e.bandwidth = Some(0);
                        }
                        e.up = true;
                        e.bandwidth = match (e.bandwidth, l.total_bandwidth()) {
                            (Some(s), Some(b)) => Some(s.saturating_add(b.0)),
                            _ => None,
                        };
                        e.latency = match (e.latency, l.latency) {
                            (Some(a), Some(b)) => Some(a.min(b.0)),
                            (a, b) => a.or(b.map(|l| l.0)),
                        };
                    }
                }
            }
            let is_switch = |x: u32| m.function(FunctionId(x)).is_some_and(|f| f.fabric_switch);
            let members: Vec<u32> = adj.keys().copied().collect();
            for &x in &members {
                for &y in &members {
                    if x == y {
                        continue;
                    }
                    let r = route_between(&adj, x, y, &is_switch, FabricId(fi));
                    out.routes.insert((fi, x, y), r);
                }
            }
        }
        out
    }
}

/// Direct bundle, else the sum over single switches, else the widest path through switches.
fn route_between(
    adj: &HashMap<u32, HashMap<u32, Edge>>,
    x: u32,
    y: u32,
    is_switch: &dyn Fn(u32) -> bool,
    fabric: FabricId,
) -> Result<Route, Refusal> {
    let kind = RouteKind::PrivateLink(fabric);
    let edge = |a: u32, b: u32| adj.get(&a).and_then(|m| m.get(&b)).copied();
    let mut any_down = false;
    if let Some(e) = edge(x, y) {
        if e.up {
            return Ok(make_route(kind, e.bandwidth, e.latency, 1));
        }
        any_down = true;
    }
    // Through one switch: parallel switches add up (as NVSwitch planes do).
    let mut sum: Option<u32> = Some(0);
    let mut lat: Option<u32> = None;
    let mut found = false;
    if let Some(nx) = adj.get(&x) {
        for (&s, e1) in nx {
            if !is_switch(s) {
                continue;
            }
            let Some(e2) = edge(s, y) else { continue };
            if !(e1.up && e2.up) {
                any_down = true;
                continue;
            }
            found = true;
            sum = match (sum, e1.bandwidth, e2.bandwidth) {
                (Some(t), Some(a), Some(b)) => Some(t.saturating_add(a.min(b))),
                _ => None,
            };
            if let (Some(a), Some(b)) = (e1.latency, e2.latency) {
                lat = Some(lat.map_or(a + b, |l: u32| l.min(a + b)));
            }
        }
    }
    if found {
        return Ok(make_route(kind, sum, lat, 2));
    }
    // Widest path through switches (several switch levels).
    let mut best: HashMap<u32, (Option<u32>, u16)> = HashMap::new();
    let mut frontier = vec![(x, Some(u32::MAX), 0u16)];
    let mut reached: Option<(Option<u32>, u16)> = None;
    while let Some((n, bw, hops)) = frontier.pop() {
        let Some(nn) = adj.get(&n) else { continue };
        for (&to, e) in nn {
            if !e.up {
                any_down = true;
                continue;
            }
            let nbw = match (bw, e.bandwidth) {
                (Some(a), Some(b)) => Some(a.min(b)),
                _ => None,
            };
            if to == y {
                let better =
                    reached.is_none_or(|(rb, rh)| nbw > rb || (nbw == rb && hops + 1 < rh));
                if better {
                    reached = Some((nbw, hops + 1));
                }
                continue;
            }
            if !is_switch(to) || to == x {
                continue;
            }
            let improve = best
                .get(&to)
                .is_none_or(|&(b, h)| nbw > b || (nbw == b && hops + 1 < h));
            if improve && hops < 64 {
                best.insert(to, (nbw, hops + 1));
                frontier.push((to, nbw, hops + 1));
            }
        }
    }
    if let Some((bw, hops)) = reached {
        return Ok(make_route(kind, bw, None, hops));
    }
    if any_down {
        Err(Refusal::LinkDown(fabric))
    } else {
        Err(Refusal::Other(
            "no route between the devices on this private fabric",
        ))
    }
}

fn make_route(kind: RouteKind, bw: Option<u32>, lat: Option<u32>, hops: u16) -> Route {
    let mut r = Route::new(kind).with_hops(hops);
    if let Some(b) = bw.filter(|&b| b != u32::MAX) {
        r = r.with_bandwidth(Bandwidth(b));
    }
    if let Some(l) = lat {
        r = r.with_latency(Latency(l));
    }
    r
}

impl Machine {
    fn fid(&self, d: DeviceId) -> Result<FunctionId, Refusal> {
        let f = FunctionId::from(d);
        if f.index() < self.functions().len() {
            Ok(f)
        } else {
            Err(Refusal::UnknownDevice(d))
        }
    }

    /// Why the host bridge refuses, for the fast path (no allocation).
    fn fast_refusal(&self, provider: FunctionId, client: FunctionId, acs_known: bool) -> Refusal {
        let t = &self.topo;
        let common = t.lca(provider.0, client.0);
        let cause = if common == NONE {
            HostBridgeCause::NoCommonUpstreamBridge
        } else {
            HostBridgeCause::AcsRedirect
        };
        let (hp, hc) = (
            t.hb[provider.index()] as usize,
            t.hb[client.index()] as usize,
        );
        let same = hp == hc;
        let why = |h: usize| -> Option<HostBridgeRefusal> {
            let info = t.hb_info.get(h)?;
            if info.device.is_none() {
                return Some(HostBridgeRefusal::NoHostBridgeDevice);
            }
            match info.entry.and_then(|e| self.whitelist().entries.get(e)) {
                None => Some(HostBridgeRefusal::NotWhitelisted),
                Some(e) if e.requires_same_host_bridge && !same => {
                    Some(HostBridgeRefusal::RequiresSameHostBridge)
                }
                Some(_) => None,
            }
        };
        let host_bridge = why(hp)
            .or_else(|| if same { None } else { why(hc) })
            .unwrap_or(HostBridgeRefusal::NotWhitelisted);
        Refusal::PciP2pNotSupported {
            cause,
            host_bridge,
            acs_known,
        }
    }
}

impl Fabric for Machine {
    fn reach(&self, initiator: Initiator, memory: Memory) -> Result<Route, Refusal> {
        match (initiator, memory) {
            (Initiator::Device(c), Memory::Device(p)) => {
                let client = self.fid(c)?;
                let provider = self.fid(p)?;
                let v = self
                    .p2p_fast(provider, client)
                    .ok_or(Refusal::UnknownDevice(p))?;
                let kind = match v.map_type() {
                    MapType::BusAddr => RouteKind::PciBusAddr {
                        distance: v.distance(),
                    },
                    MapType::ThruHostBridge => RouteKind::PciThroughHostBridge {
                        distance: v.distance(),
                    },
                    MapType::NotSupported => {
                        return Err(self.fast_refusal(provider, client, v.acs_known()));
                    }
                };
                let q = self
                    .path_quality(provider, client, v.map_type() != MapType::BusAddr)
                    .ok_or(Refusal::UnknownDevice(p))?;
                let mut r = Route::new(kind).with_hops(q.hops);
                r.bandwidth = q.bandwidth;
                r.latency = q.latency;
                Ok(r)
            }
            (Initiator::Device(d), Memory::System { .. }) => {
                let f = self.fid(d)?;
                let (bw, _, hops) = self.root_path_quality(f).ok_or(Refusal::UnknownDevice(d))?;
                let mut r = Route::new(RouteKind::SystemMemory).with_hops(hops);
                r.bandwidth = bw;
                Ok(r)
            }
            (Initiator::Cpu, Memory::Device(p)) => {
                let f = self.fid(p)?;
                let (bw, _, hops) = self.root_path_quality(f).ok_or(Refusal::UnknownDevice(p))?;
                let mut r = Route::new(RouteKind::CpuThroughHostBridge).with_hops(hops);
                r.bandwidth = bw;
                Ok(r)
            }
            (Initiator::Cpu, Memory::System { .. }) => Ok(Route::new(RouteKind::SystemMemory)),
        }
    }

    fn private_route(
        &self,
        fabric: FabricId,
        initiator: DeviceId,
        owner: DeviceId,
    ) -> Result<Route, Refusal> {
        if fabric.0 as usize >= self.fabrics().len() {
            return Err(Refusal::UnknownFabric(fabric));
        }
        let a = self.fid(initiator)?;
        let b = self.fid(owner)?;
        for (d, f) in [(initiator, a), (owner, b)] {
            if !self.private.members.contains(&(fabric.0, f.0)) {
                return Err(Refusal::NotOnFabric { fabric, device: d });
            }
        }
        if a == b {
            return Ok(Route::new(RouteKind::SameDevice));
        }
        self.private
            .routes
            .get(&(fabric.0, a.0, b.0))
            .copied()
            .unwrap_or(Err(Refusal::Other(
                "no route between the devices on this private fabric",
            )))
    }

    fn relation(&self, importer: DeviceId, owner: DeviceId) -> Relation {
        let (Ok(i), Ok(o)) = (self.fid(importer), self.fid(owner)) else {
            return Relation::Unknown;
        };
        if i == o {
            return Relation::SameFunction;
        }
        let (Some(fi), Some(fo)) = (self.function(i), self.function(o)) else {
            return Relation::Unknown;
        };
        if fo.physfn == Some(i) {
            return Relation::PhysicalFunctionOf;
        }
        if fi.physfn == Some(o) {
            return Relation::VirtualFunctionOf;
        }
        if fi.physfn.is_some() && fo.physfn.is_some() {
            return Relation::OtherVirtualFunction;
        }
        if fi.bdf.same_slot(&fo.bdf) {
            return Relation::SameDevice;
        }
        Relation::Unrelated
    }
}
