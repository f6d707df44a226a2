//! A route to draw emphasized on the machine: the functions and links a transfer crosses, the
//! host bridges it passes through, the private links it uses, and which end is which.
//!
//! Build one from what the command has: a PCI pair and whether the traffic turns at the common
//! bridge or goes through the host bridge ([`Highlight::pci`]), Linux's verdict
//! ([`Highlight::from_verdict`], which also draws a refused route, as refused), a private route
//! ([`Highlight::private`]), or the negotiated route itself ([`Highlight::for_route`]).

use std::collections::{BTreeSet, HashMap, VecDeque};

use dmabuf_negotiate::{FabricId, Initiator, Memory, RouteKind};
use pci_topology::{FunctionId, HostBridgeId, LinkEnd, Machine, MapType, P2pVerdict};

/// What an end of the route does.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Role {
    /// It owns the memory (the P2P provider, the exporter's device).
    Memory,
    /// It does the DMA (the P2P client, the importer).
    Initiator,
}

impl Role {
    /// `memory` or `initiator`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Memory => "memory",
            Role::Initiator => "initiator",
        }
    }
}

/// A route drawn emphasized. Everything is by index into the machine it was built for.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Highlight {
    functions: BTreeSet<FunctionId>,
    uplinks: BTreeSet<FunctionId>,
    host_bridges: Vec<HostBridgeId>,
    private_links: BTreeSet<usize>,
    ends: Vec<(FunctionId, Role)>,
    cpu_end: Option<(HostBridgeId, Role)>,
    refused: bool,
    caption: Option<String>,
}

impl Highlight {
    /// The PCI route between `provider` (owns the memory) and `client` (does the DMA): up the
    /// provider's chain to the common upstream bridge and down the client's, or, with
    /// `via_host_bridge` (or without a common bridge), all the way up both chains through the
    /// host bridge(s). `None` when a function is not in the machine.
    pub fn pci(
        m: &Machine,
        provider: FunctionId,
        client: FunctionId,
        via_host_bridge: bool,
    ) -> Option<Self> {
        m.function(provider)?;
        m.function(client)?;
        let pc = m.chain(provider);
        let cc = m.chain(client);
        let common = pc.iter().copied().find(|f| cc.contains(f));
        let mut h = Highlight::default();
        match common {
            Some(c) if !via_host_bridge => {
                for chain in [&pc, &cc] {
                    for &f in chain.iter().take_while(|&&f| f != c) {
                        h.functions.insert(f);
                        h.uplinks.insert(f);
                    }
                }
                h.functions.insert(c);
            }
            _ => {
                for &f in pc.iter().chain(cc.iter()) {
                    h.functions.insert(f);
                    h.uplinks.insert(f);
                }
                for f in [provider, client] {
                    if let Some(hb) = m.host_bridge_of(f) {
                        if !h.host_bridges.contains(&hb) {
                            h.host_bridges.push(hb);
                        }
                    }
                }
            }
        }
        h.ends = vec![(provider, Role::Memory), (client, Role::Initiator)];
        if provider == client {
            h.ends.truncate(1);
        }
        Some(h)
    }

    /// The route Linux's verdict implies: bus-addr turns at the common bridge, thru-host-bridge
    /// goes through the host bridge; a refused (not-supported) verdict draws the route through
    /// the host bridge that was refused, marked as refused.
    pub fn from_verdict(m: &Machine, v: &P2pVerdict) -> Self {
        let via = v.map_type != MapType::BusAddr;
        let mut h = Self::pci(m, v.provider, v.client, via).unwrap_or_default();
        h.refused = !v.map_type.is_supported();
        h
    }

    /// The route over private fabric `fabric` between `memory`'s device and `initiator`: the
    /// direct links between them that are up, else the links through one switch function
    /// (every such switch: NVSwitch planes carry traffic in parallel), else the shortest path
    /// through switches. `None` when there is no such route in the machine.
    pub fn private(
        m: &Machine,
        fabric: FabricId,
        memory: FunctionId,
        initiator: FunctionId,
    ) -> Option<Self> {
        let links: Vec<(usize, FunctionId, FunctionId)> = m
            .links()
            .iter()
            .enumerate()
            .filter(|(_, l)| l.fabric == fabric && l.up)
            .filter_map(|(i, l)| match (l.a, l.b) {
                (LinkEnd::Function(a), LinkEnd::Function(b)) => Some((i, a, b)),
                _ => None,
            })
            .collect();
        let joins = |i: &(usize, FunctionId, FunctionId), x: FunctionId, y: FunctionId| {
            (i.1 == x && i.2 == y) || (i.1 == y && i.2 == x)
        };
        let mut used: BTreeSet<usize> = links
            .iter()
            .filter(|l| joins(l, memory, initiator))
            .map(|l| l.0)
            .collect();
        let mut through = BTreeSet::new();
        if used.is_empty() {
            let is_switch = |f: FunctionId| m.function(f).is_some_and(|f| f.fabric_switch);
            let neighbours = |x: FunctionId| -> BTreeSet<FunctionId> {
                links
                    .iter()
                    .filter_map(|&(_, a, b)| {
                        if a == x {
                            Some(b)
                        } else if b == x {
                            Some(a)
                        } else {
                            None
                        }
                    })
                    .collect()
            };
            let from_memory = neighbours(memory);
            let from_initiator = neighbours(initiator);
            for &s in from_memory.intersection(&from_initiator) {
                if is_switch(s) {
                    through.insert(s);
                    for l in &links {
                        if joins(l, memory, s) || joins(l, s, initiator) {
                            used.insert(l.0);
                        }
                    }
                }
            }
            if used.is_empty() {
                let path = shortest_switch_path(&links, memory, initiator, &is_switch)?;
                for w in path.windows(2) {
                    if let [x, y] = *w {
                        used.extend(links.iter().filter(|l| joins(l, x, y)).map(|l| l.0));
                    }
                }
                through.extend(
                    path.iter()
                        .copied()
                        .filter(|&f| f != memory && f != initiator),
                );
            }
        }
        if used.is_empty() {
            return None;
        }
        let mut h = Highlight {
            private_links: used,
            ends: vec![(memory, Role::Memory), (initiator, Role::Initiator)],
            ..Highlight::default()
        };
        h.functions.insert(memory);
        h.functions.insert(initiator);
        h.functions.extend(through);
        Some(h)
    }

    /// A device's route to its root complex: system memory reached by `device` (`role`
    /// [`Role::Initiator`]), or the CPU reaching the device's memory ([`Role::Memory`]).
    pub fn to_host(m: &Machine, device: FunctionId, role: Role) -> Option<Self> {
        m.function(device)?;
        let hb = m.host_bridge_of(device)?;
        let mut h = Highlight::default();
        for f in m.chain(device) {
            h.functions.insert(f);
            h.uplinks.insert(f);
        }
        h.host_bridges.push(hb);
        h.ends.push((device, role));
        let other = match role {
            Role::Memory => Role::Initiator,
            Role::Initiator => Role::Memory,
        };
        h.cpu_end = Some((hb, other));
        Some(h)
    }

    /// The route a negotiation chose, by its kind: `None` when an end is not a function of the
    /// machine, or when the kind needs a device the initiator or memory does not name.
    pub fn for_route(
        m: &Machine,
        initiator: Initiator,
        memory: Memory,
        kind: RouteKind,
    ) -> Option<Self> {
        let dev = |d: dmabuf_negotiate::DeviceId| {
            let f = FunctionId::from(d);
            m.function(f).map(|_| f)
        };
        match (initiator, memory, kind) {
            (Initiator::Device(i), Memory::Device(p), RouteKind::PciBusAddr { .. }) => {
                Self::pci(m, dev(p)?, dev(i)?, false)
            }
            (Initiator::Device(i), Memory::Device(p), RouteKind::PciThroughHostBridge { .. }) => {
                Self::pci(m, dev(p)?, dev(i)?, true)
            }
            (Initiator::Device(i), Memory::Device(p), RouteKind::PrivateLink(fabric)) => {
                Self::private(m, fabric, dev(p)?, dev(i)?)
            }
            (Initiator::Device(i), Memory::Device(p), RouteKind::SameDevice) => {
                let (p, i) = (dev(p)?, dev(i)?);
                let mut h = Highlight::default();
                h.functions.insert(p);
                h.functions.insert(i);
                h.ends = vec![(p, Role::Memory), (i, Role::Initiator)];
                if p == i {
                    h.ends.truncate(1);
                }
                Some(h)
            }
            (Initiator::Device(i), Memory::System { .. }, _) => {
                Self::to_host(m, dev(i)?, Role::Initiator)
            }
            (Initiator::Cpu, Memory::Device(p), _) => Self::to_host(m, dev(p)?, Role::Memory),
            _ => None,
        }
    }

    /// Marks the route as refused (drawn in the refusal style).
    pub fn refused(mut self, refused: bool) -> Self {
        self.refused = refused;
        self
    }

    /// Sets a caption printed above the picture (what the route is, why it was chosen).
    pub fn with_caption(mut self, caption: impl Into<String>) -> Self {
        self.caption = Some(caption.into());
        self
    }

    /// Whether the traffic passes through this function.
    pub fn contains_function(&self, f: FunctionId) -> bool {
        self.functions.contains(&f)
    }

    /// Whether the traffic crosses the link from this function to its parent.
    pub fn crosses_uplink(&self, f: FunctionId) -> bool {
        self.uplinks.contains(&f)
    }

    /// The host bridges the traffic passes through, in the order of the route (one, or two
    /// when it crosses between host bridges).
    pub fn host_bridges(&self) -> &[HostBridgeId] {
        &self.host_bridges
    }

    /// Whether the route uses private link number `index` of the machine.
    pub fn uses_private_link(&self, index: usize) -> bool {
        self.private_links.contains(&index)
    }

    /// The role of a function at an end of the route.
    pub fn role_of(&self, f: FunctionId) -> Option<Role> {
        self.ends.iter().find(|e| e.0 == f).map(|e| e.1)
    }

    /// The ends of the route that are functions.
    pub fn ends(&self) -> &[(FunctionId, Role)] {
        &self.ends
    }

    /// The end that is the CPU or system memory, at this host bridge, if any.
    pub fn cpu_end(&self) -> Option<(HostBridgeId, Role)> {
        self.cpu_end
    }

    /// Whether the route was refused.
    pub fn is_refused(&self) -> bool {
        self.refused
    }

    /// The caption, if any.
    pub fn caption(&self) -> Option<&str> {
        self.caption.as_deref()
    }
}

/// Breadth-first search from `a` to `b` where every intermediate function is a switch.
fn shortest_switch_path(
    links: &[(usize, FunctionId, FunctionId)],
    a: FunctionId,
    b: FunctionId,
    is_switch: &dyn Fn(FunctionId) -> bool,
) -> Option<Vec<FunctionId>> {
    let mut adj: HashMap<FunctionId, BTreeSet<FunctionId>> = HashMap::new();
    for &(_, x, y) in links {
        adj.entry(x).or_default().insert(y);
        adj.entry(y).or_default().insert(x);
    }
    let mut prev: HashMap<FunctionId, FunctionId> = HashMap::new();
    let mut queue = VecDeque::from([a]);
    while let Some(x) = queue.pop_front() {
        if x == b {
            let mut path = vec![b];
            let mut cur = b;
            while let Some(&p) = prev.get(&cur) {
                path.push(p);
                cur = p;
            }
            path.reverse();
            return Some(path);
        }
        if x != a && !is_switch(x) {
            continue;
        }
        for &y in adj.get(&x).into_iter().flatten() {
            if y != a && !prev.contains_key(&y) {
                prev.insert(y, x);
                queue.push_back(y);
            }
        }
    }
    None
}
