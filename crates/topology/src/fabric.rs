//! The negotiation core's [`Fabric`] trait, answered by a [`Machine`].
//!
//! - `reach(Device(client), Device(provider))`: Linux's P2P verdict ([`crate::p2pdma`]), with
//!   the route's bandwidth, latency and hops from [`crate::quality`]. Bus-addr →
//!   [`RouteKind::PciBusAddr`], thru-host-bridge → [`RouteKind::PciThroughHostBridge`],
//!   not-supported → [`Refusal::PciP2pNotSupported`].
//! - `reach(Device(d), System)`: [`RouteKind::SystemMemory`] over the device's path to its root
//!   complex; `reach(Cpu, Device(p))`: [`RouteKind::CpuThroughHostBridge`] over the same path.
//! - `private_route`: over the machine's private links, directly or through switch functions
//!   (NVSwitch). What is stored grows with the links, not with the pairs of members: a direct
//!   bundle and a route through one switch are looked up; only a route through several switch
//!   levels is searched for (a widest-path search over the fabric's switches).
//! - `relation`: same function, same device (same domain, bus and slot), SR-IOV PF/VF.
//!
//! Every answer but a route through several switch levels is computed without allocation (a
//! verdict is a common-ancestor search over the precomputed tables).

use std::collections::{BTreeSet, HashMap};

use dmabuf_negotiate::{
    Bandwidth, DeviceId, Fabric, FabricId, HostBridgeCause, HostBridgeRefusal, Initiator, Latency,
    Memory, Refusal, Relation, Route, RouteKind,
};

use crate::machine::{FunctionId, LinkEnd, Machine};
use crate::p2pdma::{MapType, NONE};

/// What the machine's private links give the routes: the bundles between functions, merged,
/// and each function's neighbours. Its size grows with the links, not with the pairs of
/// members: a route is found when asked ([`PrivateRoutes::route`]).
#[derive(Clone, Debug, Default)]
pub(crate) struct PrivateRoutes {
    /// `(fabric, a, b)`: the parallel bundles from function `a` to function `b`, merged.
    edges: HashMap<(u32, u32, u32), Edge>,
    /// `(fabric, a)`: the functions `a` has a bundle with, in index order, and how many of
    /// them (from the start) are switches.
    neighbours: HashMap<(u32, u32), Neighbours>,
    members: BTreeSet<(u32, u32)>,
}

#[derive(Clone, Debug, Default)]
struct Neighbours {
    /// Switches first, then the others, each in index order.
    all: Vec<u32>,
    switches: usize,
}

#[derive(Clone, Copy, Debug)]
struct Edge {
    up: bool,
    bandwidth: Option<u32>,
    latency: Option<u32>,
}

impl PrivateRoutes {
    pub(crate) fn compute(m: &Machine) -> Self {
        let mut out = PrivateRoutes::default();
        for l in m.links() {
            let fi = l.fabric.0;
            let (LinkEnd::Function(a), LinkEnd::Function(b)) = (l.a, l.b) else {
                for end in [l.a, l.b] {
                    if let LinkEnd::Function(f) = end {
                        out.members.insert((fi, f.0));
                    }
                }
                continue;
            };
            out.members.insert((fi, a.0));
            out.members.insert((fi, b.0));
            for (x, y) in [(a.0, b.0), (b.0, a.0)] {
                let e = out.edges.entry((fi, x, y)).or_insert(Edge {
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
        for &(fi, x, y) in out.edges.keys() {
            out.neighbours.entry((fi, x)).or_default().all.push(y);
        }
        for n in out.neighbours.values_mut() {
            n.all.sort_unstable_by_key(|&y| (!is_switch(y), y));
            n.switches = n.all.iter().take_while(|&&y| is_switch(y)).count();
        }
        out
    }

    fn edge(&self, fabric: u32, a: u32, b: u32) -> Option<Edge> {
        self.edges.get(&(fabric, a, b)).copied()
    }

    fn neighbours(&self, fabric: u32, a: u32) -> (&[u32], &[u32]) {
        self.neighbours
            .get(&(fabric, a))
            .map_or((&[][..], &[][..]), |n| n.all.split_at(n.switches))
    }

    /// The route from `x` to `y` (two distinct members of `fabric`): the direct bundle, else
    /// the sum over single switches, else the widest path through switches. The first two
    /// are looked up without allocating; only the third searches.
    fn route(&self, fabric: FabricId, x: u32, y: u32) -> Result<Route, Refusal> {
        let fi = fabric.0;
        let kind = RouteKind::PrivateLink(fabric);
        let mut any_down = false;
        if let Some(e) = self.edge(fi, x, y) {
            if e.up {
                return Ok(make_route(kind, e.bandwidth, e.latency, 1));
            }
            any_down = true;
        }
        // Through one switch: parallel switches add up (as NVSwitch planes do).
        let mut sum: Option<u32> = Some(0);
        let mut lat: Option<u32> = None;
        let mut found = false;
        let (switches, _) = self.neighbours(fi, x);
        for &s in switches {
            let (Some(e1), Some(e2)) = (self.edge(fi, x, s), self.edge(fi, s, y)) else {
                continue;
            };
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
        if found {
            return Ok(make_route(kind, sum, lat, 2));
        }
        match self.widest_through_switches(fi, x, y, &mut any_down) {
            Some((bw, hops)) => Ok(make_route(kind, bw, None, hops)),
            None if any_down => Err(Refusal::LinkDown(fabric)),
            None => Err(Refusal::Other(
                "no route between the devices on this private fabric",
            )),
        }
    }

    /// The widest path from `x` to `y` through switches (several switch levels), then the
    /// fewest hops: bandwidth and hops.
    fn widest_through_switches(
        &self,
        fi: u32,
        x: u32,
        y: u32,
        any_down: &mut bool,
    ) -> Option<(Option<u32>, u16)> {
        let mut best: HashMap<u32, (Option<u32>, u16)> = HashMap::new();
        let mut frontier = vec![(x, Some(u32::MAX), 0u16)];
        let mut reached: Option<(Option<u32>, u16)> = None;
        while let Some((n, bw, hops)) = frontier.pop() {
            let (switches, others) = self.neighbours(fi, n);
            for (&to, is_switch) in switches
                .iter()
                .map(|s| (s, true))
                .chain(others.iter().map(|o| (o, false)))
            {
                let Some(e) = self.edge(fi, n, to) else {
                    continue;
                };
                if !e.up {
                    *any_down = true;
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
                if !is_switch || to == x {
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
        reached
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
        self.private.route(fabric, a.0, b.0)
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
        Relation::between(
            &i,
            &o,
            fi.physfn.as_ref(),
            fo.physfn.as_ref(),
            fi.bdf.same_slot(&fo.bdf),
        )
    }
}
