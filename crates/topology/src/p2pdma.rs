//! Linux's PCI peer-to-peer DMA decision, `calc_map_type_and_dist()` of Linux 7.2, to the letter.
//!
//! # The rule (`drivers/pci/p2pdma.c`)
//! 1. Walk `a` from the provider up its chain ([`Machine::chain`]: the function itself, then
//!    `pci_upstream_bridge()` repeatedly, which takes a virtual function's physical function
//!    first). For each `a`: count it if ACS redirect is on (**including** the common ancestor,
//!    and endpoints as well as bridges), then walk `b` up the client's chain counting `dist_b`;
//!    if `b == a` (identity of the function itself, so a VF is not its PF) `a` is the common
//!    ancestor. Otherwise move `a` up and add one to `dist_a`.
//! 2. With a common ancestor, walk the client's chain again up to it (excluded) counting ACS
//!    redirect. Distance = `dist_a + dist_b`. No ACS redirect: **bus-addr**, done.
//! 3. Without one, distance = provider chain length + client chain length, and the host-bridge
//!    check below runs without ACS in the picture.
//! 4. **Thru-host-bridge** if the CPU is an x86 AMD of family ≥ 0x17, or the host bridge(s) are
//!    whitelisted ([`crate::whitelist`]): one host bridge → its checked device must match an
//!    entry; two → both must match entries that do not require the same host bridge. Otherwise
//!    **not-supported**. No distance penalty for the host bridge.
//!
//! When the ACS state of a function on the path is unknown (a 64-byte `config`), the verdict is
//! computed as if redirect were off, marked `acs_known = false`, and the outcome if it were on is
//! given too ([`P2pVerdict::if_acs_on`]).
//!
//! # Speed
//! The kernel walks chains on every call. Building a machine precomputes per function its kernel parent,
//! depth, host bridge and prefix counts of ACS-on and ACS-unknown functions up its chain, and per
//! host-bridge pair the whitelist outcome; a verdict is then a lowest-common-ancestor search plus
//! a few lookups, and [`Machine::p2p_matrix`] answers all pairs with one linear pass per provider.

use std::fmt;

use dmabuf_negotiate::{HostBridgeCause, HostBridgeRefusal};

use crate::machine::{FunctionId, HostBridgeId, Machine, Upstream};
use crate::pci::{AcsRedirect, PortType};
use crate::unknowns::{
    InferredRootComplex, MapTypes, Outcome, RootDeviceUnknown, Tristate, UnknownFact,
};
use crate::whitelist::WhitelistEntry;

/// "No such node" in the precomputed index arrays.
pub(crate) const NONE: u32 = u32::MAX;

/// The kernel's `enum pci_p2pdma_map_type` (less `UNKNOWN`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum MapType {
    /// `PCI_P2PDMA_MAP_BUS_ADDR`: program PCI bus addresses; traffic stays below a common bridge.
    BusAddr,
    /// `PCI_P2PDMA_MAP_THRU_HOST_BRIDGE`: map normally; the root complex forwards.
    ThruHostBridge,
    /// `PCI_P2PDMA_MAP_NOT_SUPPORTED`.
    NotSupported,
}

impl MapType {
    /// `bus-addr`, `thru-host-bridge` or `not-supported`.
    pub const fn as_str(self) -> &'static str {
        match self {
            MapType::BusAddr => "bus-addr",
            MapType::ThruHostBridge => "thru-host-bridge",
            MapType::NotSupported => "not-supported",
        }
    }

    /// Whether the kernel allows the transfer (bus-addr or thru-host-bridge).
    pub const fn is_supported(self) -> bool {
        !matches!(self, MapType::NotSupported)
    }

    const fn code(self) -> u32 {
        match self {
            MapType::BusAddr => 0,
            MapType::ThruHostBridge => 1,
            MapType::NotSupported => 2,
        }
    }

    const fn from_code(c: u32) -> Self {
        match c & 3 {
            0 => MapType::BusAddr,
            1 => MapType::ThruHostBridge,
            _ => MapType::NotSupported,
        }
    }
}

impl fmt::Display for MapType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A verdict in 32 bits: map type, distance, whether ACS was known, the map type if the
/// unknown ACS states were on, and every map type the facts the source does not give allow.
/// What [`P2pMatrix`] stores and [`Machine::p2p_fast`] returns.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct CompactVerdict(u32);

impl CompactVerdict {
    fn new(
        map: MapType,
        distance: u32,
        acs_known: bool,
        if_on: MapType,
        possible: MapTypes,
    ) -> Self {
        Self(
            map.code()
                | (u32::from(acs_known) << 2)
                | (if_on.code() << 3)
                | (possible.bits() << 5)
                | (distance.min(0x00ff_ffff) << 8),
        )
    }

    /// Every map type the facts the source does not give allow (ACS, the host bridges'
    /// whitelist devices, the CPU rule; see [`crate::unknowns`]); [`map_type`](Self::map_type)
    /// is one of them.
    pub const fn possible(self) -> MapTypes {
        MapTypes::from_bits(self.0 >> 5)
    }

    /// Whether the verdict is known: the source gives every fact it depends on.
    pub const fn is_known(self) -> bool {
        self.possible().len() == 1
    }

    /// Map type, as computed with unknown ACS taken as off.
    pub const fn map_type(self) -> MapType {
        MapType::from_code(self.0)
    }

    /// The distance `calc_map_type_and_dist` computes (also when not supported).
    pub const fn distance(self) -> u32 {
        self.0 >> 8
    }

    /// `pci_p2pdma_distance()`: the distance, or `None` (the kernel's -1) when not supported.
    pub const fn kernel_distance(self) -> Option<u32> {
        match self.map_type() {
            MapType::NotSupported => None,
            _ => Some(self.distance()),
        }
    }

    /// Whether every ACS state on the path was known.
    pub const fn acs_known(self) -> bool {
        self.0 & 4 != 0
    }

    /// The map type if every unknown ACS state on the path were redirect-on (equal to
    /// [`map_type`](Self::map_type) when ACS was known).
    pub const fn map_type_if_acs_on(self) -> MapType {
        MapType::from_code(self.0 >> 3)
    }
}

/// Precomputed per-function and per-host-bridge tables (built with the machine).
#[derive(Clone, Debug, Default)]
pub(crate) struct Topo {
    /// Kernel parent: `pci_upstream_bridge()` (parent of the PF for a VF), or `NONE`.
    pub kp: Vec<u32>,
    /// Number of bridges above in the kernel chain (0 on a root bus; a VF as its PF).
    pub depth: Vec<u32>,
    /// Host bridge index.
    pub hb: Vec<u32>,
    /// 1 if ACS redirect is on.
    pub acs_on: Vec<u32>,
    /// 1 if ACS state is unknown.
    pub acs_unk: Vec<u32>,
    /// ACS-on count from the function up its chain, inclusive.
    pub pre_on: Vec<u32>,
    /// ACS-unknown count from the function up its chain, inclusive.
    pub pre_unk: Vec<u32>,
    /// Functions ordered so that every kernel parent precedes its children.
    pub order: Vec<u32>,
    /// Sysfs children of each function.
    pub children: Vec<Vec<FunctionId>>,
    /// Functions on each host bridge's root bus.
    pub roots: Vec<Vec<FunctionId>>,
    /// Per host bridge: what the whitelist says.
    pub hb_info: Vec<HbInfo>,
    /// `hb_ok[a * n + b]`: the host-bridge check (CPU rule included) for provider under `a`,
    /// client under `b`.
    pub hb_ok: Vec<bool>,
    /// Whether the CPU rule applies.
    pub cpu_rule: bool,
    /// Whether it applies, as far as the source tells.
    pub cpu_tri: Tristate,
    /// `hb_tri[a * n + b]`: whether the host bridges let the traffic through, CPU rule included,
    /// as far as the source tells.
    pub hb_tri: Vec<Tristate>,
    /// Whether the source collapsed switches (missing ports on every path below a bridge).
    pub collapsed: bool,
    /// Bridge unit (switch = upstream port + its downstream ports) for the nvidia-smi class.
    pub unit: Vec<u32>,
    /// The link from each function towards its parent: see [`crate::quality`].
    pub uplink: Vec<u32>,
    /// The same link as it is trained now (idle GPUs train theirs down).
    pub uplink_now: Vec<u32>,
}

/// What the whitelist says about one host bridge.
#[derive(Clone, Debug, Default)]
pub(crate) struct HbInfo {
    /// The device checked (first function on the root bus, if 00.0 or a root port).
    pub device: Option<u32>,
    /// First function on the root bus (checked or not).
    pub first: Option<u32>,
    /// Whether the first function's port type was unknown (so it could have been a root port).
    pub first_type_unknown: bool,
    /// Index of the matching whitelist entry.
    pub entry: Option<usize>,
    /// Whether the host bridge's device lets traffic through, within it and across host
    /// bridges, as far as the source tells (the CPU rule aside).
    pub allowed: [Tristate; 2],
    /// Why the device checked is unknown, when it is.
    pub unknown: Option<RootDeviceUnknown>,
}

impl Topo {
    pub(crate) fn compute(m: &Machine) -> Topo {
        let fns = m.functions();
        let n = fns.len();
        let nhb = m.host_bridges().len();
        let mut t = Topo {
            kp: vec![NONE; n],
            depth: vec![0; n],
            hb: vec![0; n],
            acs_on: vec![0; n],
            acs_unk: vec![0; n],
            pre_on: vec![0; n],
            pre_unk: vec![0; n],
            order: Vec::with_capacity(n),
            children: vec![Vec::new(); n],
            roots: vec![Vec::new(); nhb],
            hb_info: vec![HbInfo::default(); nhb],
            hb_ok: vec![false; nhb * nhb],
            cpu_rule: m.cpu().supports_p2pdma(),
            cpu_tri: Tristate::from_option(m.cpu().p2pdma_rule()),
            hb_tri: vec![Tristate::No; nhb * nhb],
            collapsed: m.switches_collapsed(),
            unit: vec![0; n],
            uplink: vec![crate::quality::UPLINK_UNKNOWN; n],
            uplink_now: vec![crate::quality::UPLINK_UNKNOWN; n],
        };
        let parent_of = |i: usize| match fns[i].upstream {
            Upstream::Bridge(b) => b.0,
            Upstream::HostBridge(_) => NONE,
        };
        // Host bridge and sysfs children: parents have lower indices (the builder checks).
        for (i, f) in fns.iter().enumerate() {
            match f.upstream {
                Upstream::HostBridge(h) => {
                    t.hb[i] = h.0;
                    t.roots[h.index()].push(FunctionId(i as u32));
                }
                Upstream::Bridge(b) => {
                    t.hb[i] = t.hb[b.index()];
                    t.children[b.index()].push(FunctionId(i as u32));
                }
            }
            let eff = f.physfn.map_or(i, |p| p.index());
            t.kp[i] = parent_of(eff);
            match f.acs.redirect_state() {
                AcsRedirect::On => t.acs_on[i] = 1,
                AcsRedirect::Unknown => t.acs_unk[i] = 1,
                AcsRedirect::Off => {}
            }
        }
        // A VF's host bridge is its PF's (the VF's bus hangs below the PF's host bridge).
        for (i, f) in fns.iter().enumerate() {
            if let Some(pf) = f.physfn {
                t.hb[i] = t.hb[pf.index()];
            }
        }
        // Depth along kernel parents; a VF's kernel parent is its PF's parent, whose index is
        // lower than the PF's but not necessarily than the VF's, so resolve bridges first.
        for pass in 0..2 {
            for (i, f) in fns.iter().enumerate() {
                let is_vf = f.physfn.is_some();
                if (pass == 0) == is_vf {
                    continue;
                }
                let k = t.kp[i];
                if k == NONE {
                    t.depth[i] = 0;
                    t.pre_on[i] = t.acs_on[i];
                    t.pre_unk[i] = t.acs_unk[i];
                } else {
                    let k = k as usize;
                    t.depth[i] = t.depth[k] + 1;
                    t.pre_on[i] = t.pre_on[k] + t.acs_on[i];
                    t.pre_unk[i] = t.pre_unk[k] + t.acs_unk[i];
                }
            }
        }
        // Order by depth (counting sort): kernel parents first.
        let maxd = t.depth.iter().copied().max().unwrap_or(0) as usize;
        let mut buckets = vec![Vec::new(); maxd + 1];
        for i in 0..n {
            buckets[t.depth[i] as usize].push(i as u32);
        }
        for b in buckets {
            t.order.extend(b);
        }
        // Host-bridge whitelist.
        let wl = m.whitelist();
        for h in 0..nhb {
            let first = t.roots[h]
                .iter()
                .copied()
                .filter(|f| {
                    let f = &fns[f.index()];
                    f.physfn.is_none()
                        && m.host_bridges()
                            .get(h)
                            .is_some_and(|hb| hb.root_bus == f.bdf.bus)
                })
                .min_by_key(|f| fns[f.index()].bdf.devfn());
            let info = &mut t.hb_info[h];
            if let Some(first) = first {
                let f = &fns[first.index()];
                info.first = Some(first.0);
                info.first_type_unknown = f.port_type.is_none();
                if f.bdf.devfn() == 0 || f.port_type == Some(PortType::RootPort) {
                    info.device = Some(first.0);
                    if let (Some(v), Some(d)) = (f.vendor, f.device) {
                        info.entry = wl.entries.iter().position(|e| e.matches(v, d));
                    }
                }
            }
            let complete = m
                .host_bridges()
                .get(h)
                .is_some_and(|hb| hb.root_bus_complete);
            (info.allowed, info.unknown) = what_is_known(m, first, complete);
        }
        let allowed = |h: usize, same: bool| {
            t.hb_info[h]
                .entry
                .and_then(|e| wl.entries.get(e))
                .is_some_and(|e| same || !e.requires_same_host_bridge)
        };
        let mut hb_ok = vec![false; nhb * nhb];
        for a in 0..nhb {
            for b in 0..nhb {
                hb_ok[a * nhb + b] = t.cpu_rule
                    || if a == b {
                        allowed(a, true)
                    } else {
                        allowed(a, false) && allowed(b, false)
                    };
            }
        }
        t.hb_ok = hb_ok;
        for a in 0..nhb {
            for b in 0..nhb {
                let wl = if a == b {
                    t.hb_info[a].allowed[0]
                } else {
                    t.hb_info[a].allowed[1].and(t.hb_info[b].allowed[1])
                };
                t.hb_tri[a * nhb + b] = t.cpu_tri.or(wl);
            }
        }
        crate::quality::compute_units_and_uplinks(m, &mut t);
        t
    }

    /// Whether the host bridges let traffic from under `a` to under `b` through, as far as
    /// the source tells.
    #[inline]
    fn host_tri(&self, a: u32, b: u32) -> Tristate {
        let n = self.hb_info.len();
        self.hb_tri
            .get(a as usize * n + b as usize)
            .copied()
            .unwrap_or(Tristate::Unknown)
    }

    #[inline]
    fn host_ok(&self, a: u32, b: u32) -> bool {
        let n = self.hb_info.len();
        self.hb_ok
            .get(a as usize * n + b as usize)
            .copied()
            .unwrap_or(false)
    }

    /// Lowest common ancestor in the kernel-parent forest, or `NONE`.
    #[inline]
    pub(crate) fn lca(&self, mut a: u32, mut b: u32) -> u32 {
        while self.depth[a as usize] > self.depth[b as usize] {
            a = self.kp[a as usize];
        }
        while self.depth[b as usize] > self.depth[a as usize] {
            b = self.kp[b as usize];
        }
        while a != b {
            a = self.kp[a as usize];
            b = self.kp[b as usize];
            if a == NONE || b == NONE {
                return NONE;
            }
        }
        a
    }

    /// The verdict for a provider, a client and their common ancestor (`NONE` if none).
    #[inline]
    fn verdict_with(&self, p: u32, c: u32, common: u32) -> CompactVerdict {
        let (pu, cu) = (p as usize, c as usize);
        if common == NONE {
            let dist = self.depth[pu] + 1 + self.depth[cu] + 1;
            let map = if self.host_ok(self.hb[pu], self.hb[cu]) {
                MapType::ThruHostBridge
            } else {
                MapType::NotSupported
            };
            let possible = MapTypes::crossing(self.host_tri(self.hb[pu], self.hb[cu]));
            return CompactVerdict::new(map, dist, true, map, possible);
        }
        let cc = common as usize;
        let dist = self.depth[pu] + self.depth[cu] - 2 * self.depth[cc];
        let on =
            self.pre_on[pu] - self.pre_on[cc] + self.acs_on[cc] + self.pre_on[cu] - self.pre_on[cc];
        // The switch ports a collapsed source leaves out are on every path between two
        // different functions: their ACS is unknown too.
        let unk = self.pre_unk[pu] - self.pre_unk[cc] + self.acs_unk[cc] + self.pre_unk[cu]
            - self.pre_unk[cc]
            + u32::from(self.collapsed && p != c);
        let thru = if self.host_ok(self.hb[pu], self.hb[pu]) {
            MapType::ThruHostBridge
        } else {
            MapType::NotSupported
        };
        let map = if on > 0 { thru } else { MapType::BusAddr };
        let if_on = if on + unk > 0 { thru } else { MapType::BusAddr };
        let crossing = MapTypes::crossing(self.host_tri(self.hb[pu], self.hb[pu]));
        let possible = if on > 0 {
            crossing
        } else if unk > 0 {
            crossing.with(MapType::BusAddr)
        } else {
            MapTypes::only(MapType::BusAddr)
        };
        CompactVerdict::new(map, dist, unk == 0, if_on, possible)
    }
}

/// What the source tells about the device a host bridge's whitelist check reads (`first`: the
/// first function listed on its root bus): whether it lets traffic through within the host
/// bridge and across host bridges, and why that is unknown when it is. The CPU rule aside.
fn what_is_known(
    m: &Machine,
    first: Option<FunctionId>,
    complete: bool,
) -> ([Tristate; 2], Option<RootDeviceUnknown>) {
    let wl = m.whitelist();
    let unknown = [Tristate::Unknown; 2];
    let f = first.and_then(|f| m.function(f));
    let entry_of = |f: &crate::Function| Some(wl.lookup(f.vendor?, f.device?)?.clone());
    let allows = |e: &Option<WhitelistEntry>| {
        [true, false].map(|same| {
            let ok = e
                .as_ref()
                .is_some_and(|e| same || !e.requires_same_host_bridge);
            if ok { Tristate::Yes } else { Tristate::No }
        })
    };
    match f {
        // A function known only from a reference (an NVSwitch an NCCL file names in its
        // NVLinks) says nothing about a root bus the source does not list.
        Some(f) if !complete && !f.listed => (
            unknown,
            Some(RootDeviceUnknown::NotListed { first_listed: None }),
        ),
        // 00.0 is first whatever else the source left out.
        Some(f) if f.bdf.devfn() == 0 || (complete && f.port_type == Some(PortType::RootPort)) => {
            if f.vendor.is_none() || f.device.is_none() {
                (
                    unknown,
                    Some(RootDeviceUnknown::IdsUnknown {
                        function: first_id(first),
                    }),
                )
            } else {
                (allows(&entry_of(f)), None)
            }
        }
        _ if !complete => (
            unknown,
            Some(RootDeviceUnknown::NotListed {
                first_listed: first,
            }),
        ),
        Some(f) if f.port_type.is_none() => match entry_of(f) {
            // Checked only if it is a root port; then its entry decides.
            Some(entry) => {
                let [same, cross] = allows(&Some(entry.clone()));
                let maybe = |t: Tristate| {
                    if t == Tristate::Yes {
                        Tristate::Unknown
                    } else {
                        t
                    }
                };
                (
                    [maybe(same), maybe(cross)],
                    Some(RootDeviceUnknown::PortTypeUnknown {
                        function: first_id(first),
                        entry,
                    }),
                )
            }
            None if f.vendor.is_none() || f.device.is_none() => (
                unknown,
                Some(RootDeviceUnknown::IdsUnknown {
                    function: first_id(first),
                }),
            ),
            None => ([Tristate::No; 2], None),
        },
        // Not 00.0 and not a root port, or no function on the root bus: no device.
        _ => ([Tristate::No; 2], None),
    }
}

fn first_id(first: Option<FunctionId>) -> FunctionId {
    first.unwrap_or(FunctionId(NONE))
}

/// The host-bridge whitelist lookup for one host bridge, as `__host_bridge_whitelist()` does it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct WhitelistLookup {
    /// The host bridge.
    pub host_bridge: HostBridgeId,
    /// The device checked: the first function on the root bus, taken only if it is devfn 00.0
    /// or a PCIe root port. `None`: no such device (the kernel then refuses).
    pub device: Option<FunctionId>,
    /// The first function on the root bus when it was not taken, and its port type was unknown
    /// (it might have been a root port).
    pub unknown_first: Option<FunctionId>,
    /// The first matching entry, if any.
    pub entry: Option<WhitelistEntry>,
    /// Whether the lookup allows the traffic (`false` if the entry requires the same host bridge
    /// and the two are different).
    pub whitelisted: bool,
    /// When the source does not tell which device Linux checks (or its IDs): why. The lookup
    /// above is then what the kernel would do with what the source shows.
    pub unknown: Option<RootDeviceUnknown>,
}

/// The host-bridge step of a verdict.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct HostBridgeCheck {
    /// Why the traffic has to cross the host bridge.
    pub cause: HostBridgeCause,
    /// Whether provider and client are under the same host bridge.
    pub same_host_bridge: bool,
    /// Whether `cpu_supports_p2pdma()` holds (x86 AMD family ≥ 0x17): then allowed regardless.
    pub cpu_rule: bool,
    /// The provider's host bridge lookup.
    pub provider: WhitelistLookup,
    /// The client's host bridge lookup, when it is a different host bridge.
    pub client: Option<WhitelistLookup>,
    /// Whether the host bridge may forward the traffic.
    pub allowed: bool,
    /// When not allowed, why.
    pub refusal: Option<HostBridgeRefusal>,
}

/// Linux's verdict for one provider and one client, with its explanation.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct P2pVerdict {
    /// The function owning the memory.
    pub provider: FunctionId,
    /// The function doing the DMA.
    pub client: FunctionId,
    /// The map type (unknown ACS taken as off).
    pub map_type: MapType,
    /// The distance `calc_map_type_and_dist` computes (also when not supported; the kernel's
    /// `pci_p2pdma_distance()` then returns -1, see [`P2pVerdict::kernel_distance`]).
    pub distance: u32,
    /// The provider's chain (the provider first).
    pub provider_chain: Vec<FunctionId>,
    /// The client's chain (the client first).
    pub client_chain: Vec<FunctionId>,
    /// The first function of the provider's chain that is also in the client's chain.
    pub common_ancestor: Option<FunctionId>,
    /// Steps from the provider up to the common ancestor (`dist_a`).
    pub provider_steps: u32,
    /// Steps from the client up to the common ancestor (`dist_b`).
    pub client_steps: u32,
    /// Functions with ACS redirect on along the path that matters (provider side up to and
    /// including the common ancestor, then client side), in the kernel's order. Empty without a
    /// common ancestor (ACS does not matter then).
    pub acs_redirect: Vec<FunctionId>,
    /// Functions on that path whose ACS state is unknown.
    pub acs_unknown: Vec<FunctionId>,
    /// Whether every ACS state on that path was known.
    pub acs_known: bool,
    /// The kernel parameter that would clear the redirects: `pci=disable_acs_redir=<bdf>;...`.
    pub disable_acs_redir: Option<String>,
    /// The host-bridge step, when the traffic has to cross the host bridge.
    pub host_bridge: Option<HostBridgeCheck>,
    /// When ACS was unknown somewhere on the path: the map type if it were on there.
    pub if_acs_on: Option<MapType>,
    /// Whether the machine's source collapsed each PCIe switch into one node (NCCL files): the
    /// distance then misses the switch's ports, and their ACS state is not in the model.
    pub switches_collapsed: bool,
    /// The facts the verdict depends on that the source does not give (empty: the verdict is
    /// known). [`map_type`](Self::map_type) takes unknown ACS as off, an unknown host-bridge
    /// device as not whitelisted and an unknown CPU as not an AMD Zen: what the kernel would
    /// decide with what the source shows.
    pub unknowns: Vec<UnknownFact>,
    /// Every map type those facts allow, best first, each with the values of the facts that
    /// lead to it; one outcome without conditions when the verdict is known.
    pub outcomes: Vec<Outcome>,
}

impl P2pVerdict {
    /// `pci_p2pdma_distance()`: `None` (the kernel's -1) when not supported.
    pub fn kernel_distance(&self) -> Option<u32> {
        self.map_type.is_supported().then_some(self.distance)
    }

    /// Whether the source gives every fact the verdict depends on.
    pub fn is_known(&self) -> bool {
        self.unknowns.is_empty()
    }

    /// The map type when the unknown facts numbered in `holding` hold and the others do not
    /// (with none holding: [`map_type`](Self::map_type), what the source shows).
    pub fn map_type_if(&self, holding: &[usize]) -> MapType {
        self.outcomes
            .iter()
            .find(|o| {
                o.when.is_empty()
                    || o.when
                        .iter()
                        .any(|alt| alt.iter().all(|a| holding.contains(&a.fact) == a.holds))
            })
            .map_or(self.map_type, |o| o.map_type)
    }

    /// Every map type the unknown facts allow.
    pub fn possible(&self) -> MapTypes {
        self.outcomes
            .iter()
            .fold(MapTypes::EMPTY, |s, o| s.with(o.map_type))
    }

    /// Whether the AMD Zen rule decided the host-bridge step.
    pub fn cpu_rule_applied(&self) -> bool {
        self.host_bridge.as_ref().is_some_and(|h| h.cpu_rule)
    }

    /// The explanation as sentences, in the order the kernel decides.
    pub fn reasons(&self, m: &Machine) -> Vec<String> {
        let name = |f: FunctionId| m.name(f);
        let chain = |c: &[FunctionId]| c.iter().map(|&f| name(f)).collect::<Vec<_>>().join(" -> ");
        let mut r = Vec::new();
        if self.provider == self.client {
            r.push(format!(
                "{} is both provider and client: distance 0",
                name(self.provider)
            ));
        }
        r.push(format!("provider chain: {}", chain(&self.provider_chain)));
        r.push(format!("client chain: {}", chain(&self.client_chain)));
        match self.common_ancestor {
            Some(c) => r.push(format!(
                "common upstream: {} ({} step{} from the provider, {} from the client): distance {}",
                name(c),
                self.provider_steps,
                if self.provider_steps == 1 { "" } else { "s" },
                self.client_steps,
                self.distance
            )),
            None => r.push(format!(
                "no common upstream bridge: distance = {} + {} = {}",
                self.provider_chain.len(),
                self.client_chain.len(),
                self.distance
            )),
        }
        if self.common_ancestor.is_some() {
            if self.acs_redirect.is_empty() {
                r.push("no ACS redirect on the path: traffic stays below the common bridge".into());
            } else {
                let list: Vec<String> = self.acs_redirect.iter().map(|&f| name(f)).collect();
                r.push(format!(
                    "ACS redirect is on at {}: traffic is redirected to the root complex",
                    list.join(", ")
                ));
                if let Some(p) = &self.disable_acs_redir {
                    r.push(format!(
                        "to disable ACS redirect for this path, boot with {p}"
                    ));
                }
            }
            if !self.acs_unknown.is_empty() {
                let list: Vec<String> = self.acs_unknown.iter().map(|&f| name(f)).collect();
                r.push(format!(
                    "ACS state unknown at {} (configuration space not readable): computed as off",
                    list.join(", ")
                ));
                if let Some(alt) = self.if_acs_on {
                    r.push(format!("if ACS redirect were on there: {alt}"));
                }
            }
        }
        if let Some(h) = &self.host_bridge {
            if h.cpu_rule {
                r.push(format!(
                    "the CPU is {} family {:#x} (Zen or later): the kernel allows P2P through any host bridge",
                    m.cpu().vendor,
                    m.cpu().family.unwrap_or(0)
                ));
            }
            let lookup = |l: &WhitelistLookup| -> String {
                let hb = m
                    .host_bridge(l.host_bridge)
                    .map_or_else(|| "?".to_owned(), |h| h.sysfs_name());
                match (l.device, &l.entry) {
                    (None, _) => match l.unknown_first {
                        Some(f) => format!(
                            "host bridge {hb}: first function {} is not 00.0 and its port type is unknown, so nothing to check",
                            name(f)
                        ),
                        None => {
                            format!("host bridge {hb}: no device to check against the whitelist")
                        }
                    },
                    (Some(d), None) => format!(
                        "host bridge {hb}: {} ({}) is not in the {} whitelist",
                        name(d),
                        m.function(d).map_or_else(String::new, |f| f.id_string()),
                        m.whitelist().release
                    ),
                    (Some(d), Some(e)) => format!(
                        "host bridge {hb}: {} matches whitelist entry {e}{}",
                        name(d),
                        if l.whitelisted {
                            ""
                        } else {
                            ", which requires the same host bridge"
                        }
                    ),
                }
            };
            r.push(lookup(&h.provider));
            if let Some(c) = &h.client {
                r.push(lookup(c));
            }
            if !h.cpu_rule {
                r.push(if h.allowed {
                    "the host bridge may forward peer-to-peer traffic".to_owned()
                } else {
                    "the host bridge may not forward peer-to-peer traffic".to_owned()
                });
            }
        }
        if self.switches_collapsed {
            r.push(
                "the source collapsed each PCIe switch into one node: the switches' ports are \
                 missing, so the distance is shorter than the kernel's and their ACS is unknown"
                    .to_owned(),
            );
        }
        for f in &self.unknowns {
            if matches!(f, UnknownFact::AcsRedirect { .. }) {
                continue;
            }
            r.push(format!("not known from the source: {}", f.describe(m)));
            if let UnknownFact::HostBridgeDevice {
                inferred: Some(i), ..
            } = f
            {
                r.push(format!(
                    "inferred from the CPU ({}), not known: most likely {:04x}:{:04x} {}, which {}",
                    i.from_cpu,
                    i.vendor,
                    i.device,
                    i.name,
                    match (&i.entry, i.allows) {
                        (Some(e), true) => format!("matches the whitelist entry {e}"),
                        (Some(e), false) => {
                            format!("matches {e}, which requires the same host bridge")
                        }
                        (None, _) => format!("is not in the {} whitelist", m.whitelist().release),
                    }
                ));
            }
        }
        let outcome = |t: MapType| match t {
            MapType::NotSupported => format!("{t}, pci_p2pdma_distance = -1"),
            _ => format!("{t}, distance {}", self.distance),
        };
        if self.is_known() {
            r.push(format!("verdict: {}", outcome(self.map_type)));
        } else {
            let all: Vec<String> = self
                .outcomes
                .iter()
                .map(|o| {
                    format!(
                        "{} if {}",
                        outcome(o.map_type),
                        o.describe_when(m, &self.unknowns)
                    )
                })
                .collect();
            r.push(format!(
                "verdict not known from the source: {}",
                all.join("; ")
            ));
            r.push(format!(
                "verdict with what the source shows: {}",
                outcome(self.map_type)
            ));
        }
        r
    }
}

impl Machine {
    fn valid(&self, f: FunctionId) -> bool {
        f.index() < self.functions().len()
    }

    /// The verdict without explanation: no allocation, a few lookups after a common-ancestor
    /// search. `None` if either function does not exist.
    pub fn p2p_fast(&self, provider: FunctionId, client: FunctionId) -> Option<CompactVerdict> {
        if !self.valid(provider) || !self.valid(client) {
            return None;
        }
        let t = &self.topo;
        let common = t.lca(provider.0, client.0);
        Some(t.verdict_with(provider.0, client.0, common))
    }

    /// `pci_p2pdma_distance_many()`: the sum of the distances, or `None` (the kernel's -1) if
    /// any client is refused or the list is empty.
    pub fn distance_many(&self, provider: FunctionId, clients: &[FunctionId]) -> Option<u32> {
        if clients.is_empty() {
            return None;
        }
        let mut sum = 0u32;
        for &c in clients {
            sum = sum.saturating_add(self.p2p_fast(provider, c)?.kernel_distance()?);
        }
        Some(sum)
    }

    /// The full verdict with its explanation, walking the chains exactly as the kernel does.
    /// `None` if either function does not exist.
    pub fn p2p_verdict(&self, provider: FunctionId, client: FunctionId) -> Option<P2pVerdict> {
        if !self.valid(provider) || !self.valid(client) {
            return None;
        }
        let pchain = self.chain(provider);
        let cchain = self.chain(client);
        let acs = |f: FunctionId| {
            self.function(f)
                .map_or(AcsRedirect::Unknown, |x| x.acs.redirect_state())
        };
        let mut redirect = Vec::new();
        let mut unknown = Vec::new();
        let mut dist_a = 0u32;
        let mut dist_b = 0u32;
        let mut common = None;
        'outer: for &a in &pchain {
            dist_b = 0;
            match acs(a) {
                AcsRedirect::On => redirect.push(a),
                AcsRedirect::Unknown => unknown.push(a),
                AcsRedirect::Off => {}
            }
            for &bb in &cchain {
                if a == bb {
                    common = Some(a);
                    break 'outer;
                }
                dist_b += 1;
            }
            dist_a += 1;
        }
        let hb_p = self.host_bridge_of(provider).unwrap_or(HostBridgeId(0));
        let hb_c = self.host_bridge_of(client).unwrap_or(HostBridgeId(0));
        let mut v = P2pVerdict {
            provider,
            client,
            map_type: MapType::ThruHostBridge,
            distance: dist_a + dist_b,
            provider_chain: pchain.clone(),
            client_chain: cchain.clone(),
            common_ancestor: common,
            provider_steps: dist_a,
            client_steps: dist_b,
            acs_redirect: Vec::new(),
            acs_unknown: Vec::new(),
            acs_known: true,
            disable_acs_redir: None,
            host_bridge: None,
            if_acs_on: None,
            switches_collapsed: self.switches_collapsed(),
            unknowns: Vec::new(),
            outcomes: Vec::new(),
        };
        let Some(c) = common else {
            // ACS does not matter without a common ancestor; the kernel's list is discarded.
            v.host_bridge =
                Some(self.host_bridge_check(hb_p, hb_c, HostBridgeCause::NoCommonUpstreamBridge));
            v.map_type = map_from_check(v.host_bridge.as_ref());
            self.what_it_depends_on(&mut v, hb_p, hb_c);
            return Some(v);
        };
        for &bb in &cchain {
            if bb == c {
                break;
            }
            match acs(bb) {
                AcsRedirect::On => redirect.push(bb),
                AcsRedirect::Unknown => unknown.push(bb),
                AcsRedirect::Off => {}
            }
        }
        v.acs_known = unknown.is_empty();
        if !redirect.is_empty() {
            let list: Vec<String> = redirect.iter().map(|&f| self.name(f)).collect();
            v.disable_acs_redir = Some(format!("pci=disable_acs_redir={}", list.join(";")));
        }
        let needs_check = !redirect.is_empty() || !unknown.is_empty();
        let check =
            needs_check.then(|| self.host_bridge_check(hb_p, hb_c, HostBridgeCause::AcsRedirect));
        let thru = map_from_check(check.as_ref());
        v.map_type = if redirect.is_empty() {
            MapType::BusAddr
        } else {
            thru
        };
        if !unknown.is_empty() {
            v.if_acs_on = Some(thru);
        }
        v.host_bridge = if redirect.is_empty() { None } else { check };
        v.acs_redirect = redirect;
        v.acs_unknown = unknown;
        self.what_it_depends_on(&mut v, hb_p, hb_c);
        Some(v)
    }

    /// Fills in the facts a verdict depends on that the source does not give, and every
    /// outcome they allow (see [`crate::unknowns`]). The walk (chains, common ancestor,
    /// distance) is the source's; only whether ACS redirects, whether the host bridges'
    /// devices are whitelisted and whether the CPU rule applies can be unknown.
    fn what_it_depends_on(&self, v: &mut P2pVerdict, hb_p: HostBridgeId, hb_c: HostBridgeId) {
        let collapsed_ports =
            self.switches_collapsed() && v.provider != v.client && v.common_ancestor.is_some();
        let acs_fact = v.common_ancestor.is_some()
            && v.acs_redirect.is_empty()
            && (!v.acs_unknown.is_empty() || collapsed_ports);
        if collapsed_ports && v.acs_unknown.is_empty() && v.acs_redirect.is_empty() {
            v.acs_known = false;
            v.if_acs_on = Some(map_from_check(Some(&self.host_bridge_check(
                hb_p,
                hb_c,
                HostBridgeCause::AcsRedirect,
            ))));
        }
        let crosses = v.common_ancestor.is_none() || !v.acs_redirect.is_empty() || acs_fact;
        let same = v.common_ancestor.is_some() || hb_p == hb_c;
        let mut facts: Vec<UnknownFact> = Vec::new();
        if acs_fact {
            facts.push(UnknownFact::AcsRedirect {
                functions: v.acs_unknown.clone(),
                collapsed_ports,
            });
        }
        let t = &self.topo;
        let cpu = t.cpu_tri;
        let mut bridges = vec![hb_p];
        if !same {
            bridges.push(hb_c);
        }
        // Whether each host bridge's device lets the traffic through, as the source tells.
        let known: Vec<Tristate> = bridges
            .iter()
            .map(|h| {
                t.hb_info
                    .get(h.index())
                    .map_or(Tristate::Unknown, |i| i.allowed[usize::from(!same)])
            })
            .collect();
        let mut hb_fact: Vec<Option<usize>> = vec![None; bridges.len()];
        let mut cpu_fact = None;
        if crosses {
            if cpu == Tristate::Unknown {
                cpu_fact = Some(facts.len());
                facts.push(UnknownFact::AmdZenCpu);
            }
            for (i, &h) in bridges.iter().enumerate() {
                if known[i] != Tristate::Unknown {
                    continue;
                }
                let why = t
                    .hb_info
                    .get(h.index())
                    .and_then(|i| i.unknown.clone())
                    .unwrap_or(RootDeviceUnknown::NotListed { first_listed: None });
                let inferred = match why {
                    RootDeviceUnknown::NotListed { .. } => self.inferred_root_complex(same),
                    _ => None,
                };
                hb_fact[i] = Some(facts.len());
                facts.push(UnknownFact::HostBridgeDevice {
                    host_bridge: h,
                    why,
                    inferred,
                });
            }
        }
        let has_common = v.common_ancestor.is_some();
        let known_redirect = !v.acs_redirect.is_empty();
        let resolve = |k: Tristate, fact: Option<usize>, vals: &[bool]| match k {
            Tristate::Yes => true,
            Tristate::No => false,
            Tristate::Unknown => fact.and_then(|i| vals.get(i).copied()).unwrap_or(false),
        };
        let outcomes = crate::unknowns::outcomes(facts.len(), |vals| {
            let acs_on = known_redirect || (acs_fact && vals.first().copied().unwrap_or(false));
            if has_common && !acs_on {
                return MapType::BusAddr;
            }
            let cpu_ok = resolve(cpu, cpu_fact, vals);
            let wl_ok = known
                .iter()
                .zip(&hb_fact)
                .all(|(&k, &f)| resolve(k, f, vals));
            if cpu_ok || wl_ok {
                MapType::ThruHostBridge
            } else {
                MapType::NotSupported
            }
        });
        (v.unknowns, v.outcomes) = crate::unknowns::keep_relevant(facts, outcomes);
    }

    /// The root complex the CPU model suggests, when the source names the CPU
    /// ([`crate::root_complex`]), and whether its device lets traffic through within one host
    /// bridge (`same`) or across two. An inference, for a host bridge whose device the source
    /// does not give.
    pub fn inferred_root_complex(&self, same: bool) -> Option<InferredRootComplex> {
        let cpu = self.cpu();
        let r = crate::root_complex::of_cpu(cpu)?;
        let entry = self.whitelist().lookup(r.vendor, r.device).cloned();
        let allows = entry
            .as_ref()
            .is_some_and(|e| same || !e.requires_same_host_bridge);
        Some(InferredRootComplex {
            vendor: r.vendor,
            device: r.device,
            name: r.name,
            from_cpu: format!(
                "{} family {} model {} ({})",
                cpu.vendor, r.family, r.model, r.generation
            ),
            entry,
            allows,
        })
    }

    /// Whether P2P traffic may go through host bridge `h` (within it), the CPU rule included, as
    /// far as the source tells.
    pub fn host_bridge_allows(&self, h: HostBridgeId) -> Tristate {
        self.topo.host_tri(h.0, h.0)
    }

    /// The host-bridge whitelist lookup for `h`, as `__host_bridge_whitelist()` does it, for
    /// traffic that stays within that host bridge (`same`) or crosses to another one.
    pub fn whitelist_lookup(&self, h: HostBridgeId, same: bool) -> WhitelistLookup {
        let info = self
            .topo
            .hb_info
            .get(h.index())
            .cloned()
            .unwrap_or_default();
        let entry = info
            .entry
            .and_then(|e| self.whitelist().entries.get(e))
            .cloned();
        let whitelisted = entry
            .as_ref()
            .is_some_and(|e| same || !e.requires_same_host_bridge);
        WhitelistLookup {
            host_bridge: h,
            device: info.device.map(FunctionId),
            unknown_first: if info.device.is_none() && info.first_type_unknown {
                info.first.map(FunctionId)
            } else {
                None
            },
            entry,
            whitelisted,
            unknown: info.unknown,
        }
    }

    fn host_bridge_check(
        &self,
        hb_p: HostBridgeId,
        hb_c: HostBridgeId,
        cause: HostBridgeCause,
    ) -> HostBridgeCheck {
        let same = hb_p == hb_c;
        let provider = self.whitelist_lookup(hb_p, same);
        let client = (!same).then(|| self.whitelist_lookup(hb_c, false));
        let wl_ok = provider.whitelisted && client.as_ref().is_none_or(|c| c.whitelisted);
        let cpu_rule = self.topo.cpu_rule;
        let refusal_of = |l: &WhitelistLookup| {
            if l.whitelisted {
                None
            } else if l.device.is_none() {
                Some(HostBridgeRefusal::NoHostBridgeDevice)
            } else if l.entry.is_some() {
                Some(HostBridgeRefusal::RequiresSameHostBridge)
            } else {
                Some(HostBridgeRefusal::NotWhitelisted)
            }
        };
        let allowed = cpu_rule || wl_ok;
        let refusal = if allowed {
            None
        } else {
            refusal_of(&provider).or_else(|| client.as_ref().and_then(refusal_of))
        };
        HostBridgeCheck {
            cause,
            same_host_bridge: same,
            cpu_rule,
            provider,
            client,
            allowed,
            refusal,
        }
    }

    /// All pairs: the verdict for every provider × client, one linear pass per provider.
    pub fn p2p_matrix(&self, providers: &[FunctionId], clients: &[FunctionId]) -> P2pMatrix {
        let t = &self.topo;
        let n = self.functions().len();
        let mut cells = Vec::with_capacity(providers.len() * clients.len());
        let mut mark = vec![NONE; n];
        let mut lca = vec![NONE; n];
        for (pi, &p) in providers.iter().enumerate() {
            if !self.valid(p) {
                cells.extend(std::iter::repeat_n(
                    CompactVerdict::new(
                        MapType::NotSupported,
                        0,
                        false,
                        MapType::NotSupported,
                        MapTypes::only(MapType::NotSupported),
                    ),
                    clients.len(),
                ));
                continue;
            }
            let stamp = pi as u32;
            let mut a = p.0;
            while a != NONE {
                mark[a as usize] = stamp;
                a = t.kp[a as usize];
            }
            for &x in &t.order {
                let xu = x as usize;
                lca[xu] = if mark[xu] == stamp {
                    x
                } else {
                    let k = t.kp[xu];
                    if k == NONE { NONE } else { lca[k as usize] }
                };
            }
            for &c in clients {
                let v = if self.valid(c) {
                    t.verdict_with(p.0, c.0, lca[c.index()])
                } else {
                    CompactVerdict::new(
                        MapType::NotSupported,
                        0,
                        false,
                        MapType::NotSupported,
                        MapTypes::only(MapType::NotSupported),
                    )
                };
                cells.push(v);
            }
        }
        P2pMatrix {
            providers: providers.to_vec(),
            clients: clients.to_vec(),
            cells,
        }
    }
}

fn map_from_check(c: Option<&HostBridgeCheck>) -> MapType {
    match c {
        Some(h) if !h.allowed => MapType::NotSupported,
        _ => MapType::ThruHostBridge,
    }
}

/// Verdicts for providers × clients, row-major (one row per provider).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct P2pMatrix {
    providers: Vec<FunctionId>,
    clients: Vec<FunctionId>,
    cells: Vec<CompactVerdict>,
}

impl P2pMatrix {
    /// The providers (rows).
    pub fn providers(&self) -> &[FunctionId] {
        &self.providers
    }

    /// The clients (columns).
    pub fn clients(&self) -> &[FunctionId] {
        &self.clients
    }

    /// The verdict for row `provider_index`, column `client_index`.
    pub fn get(&self, provider_index: usize, client_index: usize) -> Option<CompactVerdict> {
        if client_index >= self.clients.len() {
            return None;
        }
        self.cells
            .get(provider_index * self.clients.len() + client_index)
            .copied()
    }

    /// One row.
    pub fn row(&self, provider_index: usize) -> &[CompactVerdict] {
        let w = self.clients.len();
        self.cells
            .get(provider_index * w..(provider_index + 1) * w)
            .unwrap_or(&[])
    }

    /// All cells, row-major.
    pub fn cells(&self) -> &[CompactVerdict] {
        &self.cells
    }
}
