//! Route quality: bottleneck bandwidth, hops, host-bridge and NUMA crossings, IOMMU, and the
//! class `nvidia-smi topo -m` would print.
//!
//! # Bandwidth
//! Bandwidth is **after line encoding, per direction**, as hwloc computes it: lane rate × lanes
//! × encoding ÷ 8, with 8b/10b for 2.5 and 5 GT/s, 128b/130b for 8 to 32 GT/s and 242/256 from
//! 64 GT/s (Gen3 x16 = 15.75 GB/s, Gen4 x16 = 31.5 GB/s). It is neither NCCL's figure (Gen4
//! x16 = 24 GB/s) nor UCX's after TLP overhead (≈ 28.2 GB/s).
//!
//! **What the link can do, not what it does now.** Idle GPUs (and other devices saving power)
//! train their links down to 2.5 GT/s and back up under load, so the current speed says little
//! about a route. A link's bandwidth is what it trains to at full speed: the lower of its two
//! ends' maximum speeds and widths (the function's `max_link` and its upstream port's), when
//! both are known; otherwise its current state (the only state some sources give: hwloc XML's
//! `pci_link_speed` ([`Function::link_bandwidth`](crate::Function::link_bandwidth)), NCCL's
//! `link_speed`). A link that runs below what it can do is reported: [`PathLink::current`],
//! [`PathQuality::current_bandwidth`], [`Machine::uplink`].
//!
//! A path crosses, for each function on it below the point where the traffic turns, the link
//! from that function to its parent:
//! - an endpoint, a switch upstream port, a PCIe-to-PCI bridge: its own link status describes
//!   that link;
//! - a root port or a switch downstream port: the hop to its parent is internal to the root
//!   complex or the switch (no physical link); its own status describes the link *below* it,
//!   which the function below reports too;
//! - a root-complex integrated endpoint or event collector: no link;
//! - a virtual function: its physical function's link;
//! - a function whose port type is unknown: its own status if it has one (harmless even for a
//!   port, as it then repeats the link below), otherwise unknown.
//!
//! The bottleneck is the narrowest link; if any crossed link is unknown, the bottleneck is
//! unknown (`None`): an unknown link is never assumed wide. A bus-address route turns at the
//! common upstream bridge; a route through the host bridge (no common bridge, or ACS redirect)
//! goes all the way up both chains.
//!
//! # Hops
//! Edges of the tree where host bridges are nodes: a bus-address route has the kernel's
//! distance; a route through the host bridge has one edge per function on both chains, plus
//! one between two different host bridges.
//!
//! # Latency
//! Only where a documented estimate exists: UCX's penalties (its `ucs_topo` sysfs provider):
//! 300 ns when the traffic crosses a host bridge within a NUMA node (UCX's PHB and same-node
//! figures), 500 ns across NUMA nodes. A bus-address route gets no estimate (`None`): UCX adds
//! no penalty there, which is not a latency.
//!
//! # nvidia-smi class
//! `X` the same function; `SYS` different host bridges on different NUMA nodes; `NODE`
//! different host bridges on the same NUMA node; `PHB` one host bridge but no common upstream
//! bridge; `PIX` a common bridge and at most one *bridge unit* on the path; `PXB` more than one.
//! A unit is a PCIe switch (its upstream port and all its downstream ports count once) or any
//! other bridge (a root port, a PCI bridge). Switch structure comes from the port types; where
//! they are unknown (64-byte configs) it is inferred from depth below the root bus: bridges on
//! the root bus are root ports, then switch upstream ports and downstream ports alternate. On a
//! machine whose switches were collapsed (NCCL files), each bridge is one unit.
//!
//! NUMA: a function's node is its own, else its host bridge's. Two known nodes compare as
//! such; when either is unknown the class is `NODE` (Linux reports -1 when the platform
//! describes no NUMA, i.e. one node) and [`PathQuality::numa_crossing`] is `None`.

use std::fmt;

use dmabuf_negotiate::{Bandwidth, Latency};

use crate::machine::{FunctionId, Machine};
use crate::p2pdma::{MapType, NONE, Topo};
use crate::pci::PortType;

/// The hop from a function to its parent is internal (no physical link).
pub(crate) const UPLINK_INTERNAL: u32 = u32::MAX;
/// The link from a function to its parent exists but its bandwidth is unknown.
pub(crate) const UPLINK_UNKNOWN: u32 = u32::MAX - 1;

/// The physical link from a function to its upstream port, as the source tells it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Uplink {
    /// Bandwidth the link has now (after encoding, one direction), if known.
    pub current: Option<Bandwidth>,
    /// Bandwidth it can do: the lower of both ends' maximum speed and width, when both are
    /// known; else `None`.
    pub capable: Option<Bandwidth>,
    /// Speed and width it can do (`LinkStatus` with the lower of both ends' maxima).
    pub capable_link: crate::pci::LinkStatus,
}

impl Uplink {
    /// What routes use: what the link can do, else what it does now.
    pub fn bandwidth(&self) -> Option<Bandwidth> {
        match (self.capable, self.current) {
            (Some(c), Some(n)) => Some(Bandwidth(c.0.max(n.0))),
            (c, n) => c.or(n),
        }
    }

    /// Whether the link runs below what it can do now (trained down), when both are known.
    pub fn trained_down(&self) -> Option<bool> {
        Some(self.current?.0 < self.capable?.0)
    }
}

/// UCX's latency penalty for crossing a host bridge within a NUMA node, in ns.
pub const UCX_PHB_LATENCY_NS: u32 = 300;
/// UCX's latency penalty for crossing NUMA nodes, in ns.
pub const UCX_SYS_LATENCY_NS: u32 = 500;

/// The class `nvidia-smi topo -m` prints for a pair of devices.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum NvClass {
    /// The same device.
    X,
    /// At most one PCIe bridge (switch) on the path.
    Pix,
    /// Several PCIe bridges, no host bridge.
    Pxb,
    /// Through a host bridge (the CPU).
    Phb,
    /// Between host bridges within one NUMA node.
    Node,
    /// Across NUMA nodes (the inter-socket link).
    Sys,
}

impl NvClass {
    /// `X`, `PIX`, `PXB`, `PHB`, `NODE` or `SYS`.
    pub const fn as_str(self) -> &'static str {
        match self {
            NvClass::X => "X",
            NvClass::Pix => "PIX",
            NvClass::Pxb => "PXB",
            NvClass::Phb => "PHB",
            NvClass::Node => "NODE",
            NvClass::Sys => "SYS",
        }
    }
}

impl fmt::Display for NvClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is known about the path between two functions (or a function and its root complex).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct PathQuality {
    /// The nvidia-smi class of the pair (topology only, whatever the route).
    pub class: NvClass,
    /// Whether the route goes through the host bridge (else it turns at the common bridge).
    pub via_host_bridge: bool,
    /// Narrowest link crossed, after line encoding, by what each link can do (see the module
    /// docs); `None` if any crossed link is unknown.
    pub bandwidth: Option<Bandwidth>,
    /// Narrowest link crossed as the links are trained now; below `bandwidth` when a link has
    /// trained down (an idle GPU). `None` if any crossed link's current state is unknown.
    pub current_bandwidth: Option<Bandwidth>,
    /// The function whose upstream link is the narrowest known one.
    pub bottleneck: Option<FunctionId>,
    /// Number of physical links crossed.
    pub links: u16,
    /// Number of tree edges (see the module docs).
    pub hops: u16,
    /// Host bridges the traffic passes through (0, 1 or 2).
    pub host_bridges_crossed: u8,
    /// Whether the traffic crosses NUMA nodes; `None` if a node is unknown.
    pub numa_crossing: Option<bool>,
    /// Whether an IOMMU translates the client's accesses: `Some(false)` on a bus-address route
    /// (bus addresses bypass it); through the host bridge, what the client's IOMMU domain says
    /// ([`IommuDomain::translates`](crate::IommuDomain::translates): `DMA`, `DMA-FQ` yes,
    /// `identity` no) when it has a group, `Some(false)` when it has none and the source shows
    /// IOMMU groups, otherwise (a group of unknown domain type, or no word on groups) `None`.
    pub iommu_translates: Option<bool>,
    /// Latency estimate (UCX's penalties, see the module docs), if any.
    pub latency: Option<Latency>,
}

/// One physical link on a path, for explanations.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct PathLink {
    /// The function whose link to its parent this is.
    pub from: FunctionId,
    /// Bandwidth after encoding, what the link can do, if known.
    pub bandwidth: Option<Bandwidth>,
    /// Bandwidth it has now, if known (below `bandwidth` when trained down).
    pub current: Option<Bandwidth>,
}

pub(crate) fn compute_units_and_uplinks(m: &Machine, t: &mut Topo) {
    let fns = m.functions();
    for i in 0..fns.len() {
        let f = &fns[i];
        let k = t.kp[i];
        let parent_type = (k != NONE).then(|| fns[k as usize].port_type).flatten();
        t.unit[i] = if m.switches_collapsed() || k == NONE {
            i as u32
        } else {
            match f.port_type {
                Some(PortType::SwitchDownstream) => {
                    if matches!(parent_type, Some(PortType::SwitchUpstream) | None) {
                        k
                    } else {
                        i as u32
                    }
                }
                Some(_) => i as u32,
                None => match parent_type {
                    Some(PortType::SwitchUpstream) => k,
                    Some(_) => i as u32,
                    // Depth heuristic: 0 root port, odd upstream port, even downstream port.
                    None if t.depth[i] >= 2 && t.depth[i] % 2 == 0 => k,
                    None => i as u32,
                },
            }
        };
        let internal = matches!(
            f.physfn.map_or(f, |p| &fns[p.index()]).port_type,
            Some(
                PortType::RootPort
                    | PortType::SwitchDownstream
                    | PortType::RcIntegratedEndpoint
                    | PortType::RcEventCollector,
            )
        );
        let code = |b: Option<Bandwidth>| b.map_or(UPLINK_UNKNOWN, |b| b.0.min(UPLINK_UNKNOWN - 1));
        if internal {
            t.uplink[i] = UPLINK_INTERNAL;
            t.uplink_now[i] = UPLINK_INTERNAL;
        } else {
            let u = uplink_of(m, t, i);
            t.uplink[i] = code(u.bandwidth());
            t.uplink_now[i] = code(u.current);
        }
    }
}

/// The link from function `i` (for a virtual function: its physical function) to its kernel
/// parent.
fn uplink_of(m: &Machine, t: &Topo, i: usize) -> Uplink {
    let fns = m.functions();
    let f = &fns[i];
    let src = f.physfn.map_or(f, |p| &fns[p.index()]);
    let current = if src.port_type.is_none() && src.is_pcie == Some(false) {
        None
    } else {
        src.current_bandwidth()
    };
    let k = t.kp[i];
    let parent = (k != NONE).then(|| &fns[k as usize]);
    // Both ends' maxima: the function's, and its upstream port's (a root port or a switch
    // downstream port reports the link below it).
    let ends: Vec<&crate::pci::LinkStatus> = std::iter::once(&src.max_link)
        .chain(parent.map(|p| &p.max_link))
        .collect();
    let speed = ends
        .iter()
        .map(|l| l.speed)
        .try_fold(None, |acc: Option<crate::pci::LinkSpeed>, s| {
            let s = s?;
            Some(Some(acc.map_or(s, |a| a.min(s))))
        })
        .flatten();
    let width = ends
        .iter()
        .map(|l| l.width)
        .try_fold(None, |acc: Option<u8>, w| {
            let w = w?;
            Some(Some(acc.map_or(w, |a| a.min(w))))
        })
        .flatten();
    let capable_link = crate::pci::LinkStatus { speed, width };
    Uplink {
        current,
        capable: capable_link.bandwidth_mb_s().map(Bandwidth),
        capable_link,
    }
}

struct Acc {
    min: u32,
    at: u32,
    unknown: bool,
    links: u16,
    now_min: u32,
    now_unknown: bool,
}

impl Acc {
    fn new() -> Self {
        Acc {
            min: u32::MAX,
            at: NONE,
            unknown: false,
            links: 0,
            now_min: u32::MAX,
            now_unknown: false,
        }
    }

    fn add(&mut self, t: &Topo, x: u32) {
        match t.uplink_now[x as usize] {
            UPLINK_INTERNAL => {}
            UPLINK_UNKNOWN => self.now_unknown = true,
            b => self.now_min = self.now_min.min(b),
        }
        match t.uplink[x as usize] {
            UPLINK_INTERNAL => {}
            UPLINK_UNKNOWN => {
                self.unknown = true;
                self.links += 1;
            }
            b => {
                self.links += 1;
                if b < self.min {
                    self.min = b;
                    self.at = x;
                }
            }
        }
    }
}

impl Machine {
    fn numa_pair(&self, a: FunctionId, b: FunctionId) -> Option<bool> {
        Some(self.numa_node(a)? != self.numa_node(b)?)
    }

    /// The nvidia-smi class of a pair of functions (see the [module](self) docs).
    pub fn nv_class(&self, a: FunctionId, b: FunctionId) -> Option<NvClass> {
        let n = self.functions().len();
        if a.index() >= n || b.index() >= n {
            return None;
        }
        if a == b {
            return Some(NvClass::X);
        }
        let t = &self.topo;
        if t.hb[a.index()] != t.hb[b.index()] {
            return Some(match self.numa_pair(a, b) {
                Some(true) => NvClass::Sys,
                _ => NvClass::Node,
            });
        }
        let c = t.lca(a.0, b.0);
        if c == NONE {
            return Some(NvClass::Phb);
        }
        // Count distinct bridge units on the path, the two endpoints excluded. Units are
        // contiguous along a chain, so counting changes of unit suffices.
        let include_c = a.0 != c && b.0 != c;
        let c_unit = t.unit[c as usize];
        let mut total = 0u32;
        for (start, skip_c_unit) in [(a.0, false), (b.0, include_c)] {
            if start == c {
                continue;
            }
            let mut last = NONE;
            let mut x = t.kp[start as usize];
            while x != NONE {
                let counted = if x == c {
                    include_c && !skip_c_unit
                } else {
                    true
                };
                let u = t.unit[x as usize];
                if counted && u != last && !(skip_c_unit && u == c_unit) {
                    total += 1;
                    last = u;
                }
                if x == c {
                    break;
                }
                x = t.kp[x as usize];
            }
        }
        Some(if total <= 1 {
            NvClass::Pix
        } else {
            NvClass::Pxb
        })
    }

    /// The quality of the path between `provider` and `client` for a route that turns at the
    /// common bridge (`via_host_bridge == false`) or goes through the host bridge.
    pub fn path_quality(
        &self,
        provider: FunctionId,
        client: FunctionId,
        via_host_bridge: bool,
    ) -> Option<PathQuality> {
        let class = self.nv_class(provider, client)?;
        let t = &self.topo;
        let c = t.lca(provider.0, client.0);
        let via_hb = via_host_bridge || c == NONE;
        let mut acc = Acc::new();
        let stop = if via_hb { NONE } else { c };
        for start in [provider.0, client.0] {
            let mut x = start;
            while x != NONE && x != stop {
                acc.add(t, x);
                x = t.kp[x as usize];
            }
        }
        let (pu, cu) = (provider.index(), client.index());
        let different_hb = t.hb[pu] != t.hb[cu];
        let hops = if via_hb {
            t.depth[pu] + 1 + t.depth[cu] + 1 + u32::from(different_hb)
        } else {
            t.depth[pu] + t.depth[cu] - 2 * t.depth[c as usize]
        };
        let numa_crossing = self.numa_pair(provider, client);
        let client_fn = self.function(client)?;
        // Bus addresses bypass the IOMMU; through the host bridge, the client's domain decides
        // (an identity domain hands out CPU physical addresses; see crate::iommu).
        let iommu_translates = if !via_hb {
            Some(false)
        } else if client_fn.iommu_group.is_some() {
            client_fn.iommu_domain.as_ref().and_then(|d| d.translates())
        } else if self.iommu_groups_known() {
            Some(false)
        } else {
            None
        };
        let latency = via_hb.then(|| {
            Latency(if numa_crossing == Some(true) {
                UCX_SYS_LATENCY_NS
            } else {
                UCX_PHB_LATENCY_NS
            })
        });
        Some(PathQuality {
            class,
            via_host_bridge: via_hb,
            bandwidth: (!acc.unknown && acc.min != u32::MAX).then_some(Bandwidth(acc.min)),
            current_bandwidth: (!acc.now_unknown && acc.now_min != u32::MAX)
                .then_some(Bandwidth(acc.now_min)),
            bottleneck: (acc.at != NONE).then_some(FunctionId(acc.at)),
            links: acc.links,
            hops: u16::try_from(hops).unwrap_or(u16::MAX),
            host_bridges_crossed: if via_hb {
                1 + u8::from(different_hb)
            } else {
                0
            },
            numa_crossing,
            iommu_translates,
            latency,
        })
    }

    /// The quality of the route Linux's verdict implies: through the host bridge unless the
    /// map type is bus-addr.
    pub fn route_quality(&self, provider: FunctionId, client: FunctionId) -> Option<PathQuality> {
        let v = self.p2p_fast(provider, client)?;
        self.path_quality(provider, client, v.map_type() != MapType::BusAddr)
    }

    /// The path from a function up to its root complex (its route to system memory, or the
    /// CPU's route to its memory): links crossed, bottleneck, hops.
    pub fn root_path_quality(&self, id: FunctionId) -> Option<(Option<Bandwidth>, u16, u16)> {
        let t = &self.topo;
        if id.index() >= self.functions().len() {
            return None;
        }
        let mut acc = Acc::new();
        let mut x = id.0;
        while x != NONE {
            acc.add(t, x);
            x = t.kp[x as usize];
        }
        let bw = (!acc.unknown && acc.min != u32::MAX).then_some(Bandwidth(acc.min));
        let hops = u16::try_from(t.depth[id.index()] + 1).unwrap_or(u16::MAX);
        Some((bw, acc.links, hops))
    }

    /// The physical link from a function to its upstream port: what it does now and what it
    /// can do; `None` for a function without one (a root port's or a switch downstream port's
    /// hop is internal, an RCiEP has none) or that does not exist.
    pub fn uplink(&self, id: FunctionId) -> Option<Uplink> {
        let t = &self.topo;
        match t.uplink.get(id.index())? {
            &UPLINK_INTERNAL => None,
            _ => Some(uplink_of(self, t, id.index())),
        }
    }

    /// The physical links a path crosses, in order from the provider up and then from the
    /// client up (for explanations).
    pub fn path_links(
        &self,
        provider: FunctionId,
        client: FunctionId,
        via_host_bridge: bool,
    ) -> Vec<PathLink> {
        let t = &self.topo;
        let n = self.functions().len();
        if provider.index() >= n || client.index() >= n {
            return Vec::new();
        }
        let c = t.lca(provider.0, client.0);
        let stop = if via_host_bridge || c == NONE {
            NONE
        } else {
            c
        };
        let mut out = Vec::new();
        for start in [provider.0, client.0] {
            let mut x = start;
            while x != NONE && x != stop {
                let now = match t.uplink_now[x as usize] {
                    UPLINK_INTERNAL | UPLINK_UNKNOWN => None,
                    b => Some(Bandwidth(b)),
                };
                match t.uplink[x as usize] {
                    UPLINK_INTERNAL => {}
                    UPLINK_UNKNOWN => out.push(PathLink {
                        from: FunctionId(x),
                        bandwidth: None,
                        current: now,
                    }),
                    b => out.push(PathLink {
                        from: FunctionId(x),
                        bandwidth: Some(Bandwidth(b)),
                        current: now,
                    }),
                }
                x = t.kp[x as usize];
            }
        }
        out
    }
}
