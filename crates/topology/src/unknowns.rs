//! What a P2P verdict depends on that the source does not tell, and every outcome those facts
//! allow.
//!
//! Linux's decision ([`crate::p2pdma`]) reads a few facts a source may not give:
//!
//! - **ACS redirect** at the functions on the path: unknown from a 64-byte `config`, hwloc XML
//!   and NCCL files, and at the switch ports an NCCL file collapses away;
//! - **the device the whitelist check reads** on a host bridge (the first function of its root
//!   bus, if 00.0 or a root port): unknown when the source does not list every root-bus function
//!   ([`HostBridge::root_bus_complete`](crate::HostBridge::root_bus_complete): NCCL files list
//!   none, `lstopo` without `--whole-io` only some classes) and none is at 00.0, or when the
//!   first one's port type is unknown;
//! - **the CPU rule** (an x86 AMD of family 0x17 or later, [`CpuInfo::p2pdma_rule`]): unknown
//!   without a CPU vendor, or for an AMD CPU of unknown family.
//!
//! The tree itself (the chains, hence the distance) is taken as the source gives it; an NCCL
//! file's distances are then lower bounds, as the verdict's `switches_collapsed` says.
//!
//! A verdict that depends on an unknown fact lists it ([`UnknownFact`]) and gives every map
//! type the facts allow, each with the values of the facts that lead to it ([`Outcome`]). The
//! distance is the same in every outcome (it follows from the tree). Where the source gives the
//! CPU model but not the host bridge's device, the device the CPU's root complex most likely
//! has is given as [`InferredRootComplex`]: marked as inferred, never taken as known.
//!
//! [`CpuInfo::p2pdma_rule`]: crate::CpuInfo::p2pdma_rule

use std::fmt;

use crate::machine::{FunctionId, HostBridgeId, Machine};
use crate::p2pdma::MapType;
use crate::whitelist::WhitelistEntry;

/// A fact that is true, false, or not known from the source (the default).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum Tristate {
    /// Known to hold.
    Yes,
    /// Known not to hold.
    No,
    /// Not known from the source.
    #[default]
    Unknown,
}

impl Tristate {
    /// From a known value, or `None` for unknown.
    pub const fn from_option(v: Option<bool>) -> Self {
        match v {
            Some(true) => Tristate::Yes,
            Some(false) => Tristate::No,
            None => Tristate::Unknown,
        }
    }

    /// Either holds (three-valued logic).
    pub const fn or(self, other: Tristate) -> Tristate {
        match (self, other) {
            (Tristate::Yes, _) | (_, Tristate::Yes) => Tristate::Yes,
            (Tristate::No, Tristate::No) => Tristate::No,
            _ => Tristate::Unknown,
        }
    }

    /// Both hold (three-valued logic).
    pub const fn and(self, other: Tristate) -> Tristate {
        match (self, other) {
            (Tristate::No, _) | (_, Tristate::No) => Tristate::No,
            (Tristate::Yes, Tristate::Yes) => Tristate::Yes,
            _ => Tristate::Unknown,
        }
    }
}

/// A set of map types, the outcomes a verdict may have.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct MapTypes(u8);

impl MapTypes {
    /// No map type.
    pub const EMPTY: MapTypes = MapTypes(0);

    const fn bit(t: MapType) -> u8 {
        match t {
            MapType::BusAddr => 1,
            MapType::ThruHostBridge => 2,
            MapType::NotSupported => 4,
        }
    }

    /// The set holding only `t`.
    pub const fn only(t: MapType) -> Self {
        MapTypes(Self::bit(t))
    }

    /// The set with `t` added.
    pub const fn with(self, t: MapType) -> Self {
        MapTypes(self.0 | Self::bit(t))
    }

    /// Both sets together.
    pub const fn union(self, other: MapTypes) -> Self {
        MapTypes(self.0 | other.0)
    }

    /// Whether `t` is in the set.
    pub const fn contains(self, t: MapType) -> bool {
        self.0 & Self::bit(t) != 0
    }

    /// How many map types the set holds.
    pub const fn len(self) -> u32 {
        (self.0 & 7).count_ones()
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 & 7 == 0
    }

    /// The map types, best first (bus-addr, thru-host-bridge, not-supported).
    pub fn iter(self) -> impl Iterator<Item = MapType> {
        [
            MapType::BusAddr,
            MapType::ThruHostBridge,
            MapType::NotSupported,
        ]
        .into_iter()
        .filter(move |&t| self.contains(t))
    }

    /// The best map type in the set.
    pub fn best(self) -> Option<MapType> {
        self.iter().next()
    }

    /// The three bits, for compact storage.
    pub(crate) const fn bits(self) -> u32 {
        (self.0 & 7) as u32
    }

    /// From [`bits`](Self::bits).
    pub(crate) const fn from_bits(b: u32) -> Self {
        MapTypes((b & 7) as u8)
    }

    /// The map types the host-bridge step gives when whether the host bridge forwards is
    /// `allowed`.
    pub(crate) const fn crossing(allowed: Tristate) -> Self {
        match allowed {
            Tristate::Yes => MapTypes::only(MapType::ThruHostBridge),
            Tristate::No => MapTypes::only(MapType::NotSupported),
            Tristate::Unknown => {
                MapTypes::only(MapType::ThruHostBridge).with(MapType::NotSupported)
            }
        }
    }
}

/// Why the device a host bridge's whitelist check reads is unknown.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum RootDeviceUnknown {
    /// The source does not list every function on the root bus, and none at devfn 00.0: the
    /// first one there, which Linux checks, may be one the source left out.
    NotListed {
        /// The first function the source lists on the root bus, if any.
        first_listed: Option<FunctionId>,
    },
    /// The device Linux checks is listed, but its vendor and device IDs are not (hwloc writes
    /// `[0000:0000]` for a function it could not read).
    IdsUnknown {
        /// The function.
        function: FunctionId,
    },
    /// The first function on the root bus is not 00.0 and its PCIe port type is unknown: Linux
    /// checks it only if it is a root port, and its IDs match this whitelist entry.
    PortTypeUnknown {
        /// The function.
        function: FunctionId,
        /// The entry its IDs match.
        entry: WhitelistEntry,
    },
}

/// The root-complex device a CPU model most likely has, when the source names the CPU but not
/// the host bridge's device. An inference from the CPU model, never a fact of the source.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct InferredRootComplex {
    /// Vendor ID of the device.
    pub vendor: u16,
    /// Device ID.
    pub device: u16,
    /// What the device is.
    pub name: &'static str,
    /// The CPU it is inferred from, in words (`Intel family 6 model 106 (Ice Lake-SP)`).
    pub from_cpu: String,
    /// The whitelist entry it matches, if any.
    pub entry: Option<WhitelistEntry>,
    /// Whether that entry lets this traffic through (it may require the same host bridge).
    pub allows: bool,
}

/// A fact the verdict depends on that the source does not give.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum UnknownFact {
    /// Whether ACS redirect (RR, CR or EC) is on at one of these functions on the path, whose
    /// state could not be read, or at the switch ports the source collapsed.
    AcsRedirect {
        /// The functions, in the kernel's order.
        functions: Vec<FunctionId>,
        /// Whether switch ports the source left out are on the path too (NCCL files).
        collapsed_ports: bool,
    },
    /// Whether the device Linux checks on this host bridge is in the whitelist, for this
    /// traffic.
    HostBridgeDevice {
        /// The host bridge.
        host_bridge: HostBridgeId,
        /// Why the device is unknown.
        why: RootDeviceUnknown,
        /// The device the CPU model suggests, if the source names the CPU.
        inferred: Option<InferredRootComplex>,
    },
    /// Whether the CPU is an x86 AMD of family 0x17 (Zen) or later.
    AmdZenCpu,
}

impl UnknownFact {
    /// A stable name for tools: `acs-redirect`, `host-bridge-device`, `amd-zen-cpu`.
    pub const fn kind(&self) -> &'static str {
        match self {
            UnknownFact::AcsRedirect { .. } => "acs-redirect",
            UnknownFact::HostBridgeDevice { .. } => "host-bridge-device",
            UnknownFact::AmdZenCpu => "amd-zen-cpu",
        }
    }

    /// The value an inference suggests for the fact, if any.
    pub fn inferred(&self) -> Option<bool> {
        match self {
            UnknownFact::HostBridgeDevice {
                inferred: Some(i), ..
            } => Some(i.allows),
            _ => None,
        }
    }

    /// What is not known, in words.
    pub fn describe(&self, m: &Machine) -> String {
        let hb = |h: HostBridgeId| {
            m.host_bridge(h)
                .map_or_else(|| "the host bridge".to_owned(), |h| h.sysfs_name())
        };
        match self {
            UnknownFact::AcsRedirect {
                functions,
                collapsed_ports,
            } => {
                let mut at: Vec<String> = functions.iter().map(|&f| m.name(f)).collect();
                if *collapsed_ports {
                    at.push("the switch ports the source left out".to_owned());
                }
                let list = match at.split_last() {
                    Some((last, rest)) if !rest.is_empty() => {
                        format!("{} or {last}", rest.join(", "))
                    }
                    _ => at.join(""),
                };
                format!("whether ACS redirect is on at {list} (not readable from this source)")
            }
            UnknownFact::HostBridgeDevice {
                host_bridge, why, ..
            } => match why {
                RootDeviceUnknown::NotListed { first_listed } => format!(
                    "the device Linux checks on {} (the first function of its root bus) is not in \
                     the source{}",
                    hb(*host_bridge),
                    first_listed.map_or_else(String::new, |f| format!(
                        ": it lists {} first, but not every function of that bus",
                        m.name(f)
                    ))
                ),
                RootDeviceUnknown::IdsUnknown { function } => format!(
                    "the vendor and device IDs of {}, the device Linux checks on {}",
                    m.name(*function),
                    hb(*host_bridge)
                ),
                RootDeviceUnknown::PortTypeUnknown { function, entry } => format!(
                    "whether {}, the first function on {}'s root bus (not 00.0), is a root port: \
                     Linux checks it only then, and it matches the whitelist entry {entry}",
                    m.name(*function),
                    hb(*host_bridge)
                ),
            },
            UnknownFact::AmdZenCpu => format!(
                "whether the CPU is an x86 AMD of family 0x17 (Zen) or later: the source gives {}",
                match (&m.cpu().vendor, m.cpu().family) {
                    (crate::CpuVendor::Unknown, _) => "no CPU vendor".to_owned(),
                    (v, None) => format!("the vendor ({v}) but not the family"),
                    (v, Some(f)) => format!("{v} family {f}"),
                }
            ),
        }
    }

    /// The fact taken to hold (`holds`) or not, in words.
    pub fn assumed(&self, m: &Machine, holds: bool) -> String {
        match (self, holds) {
            (UnknownFact::AcsRedirect { .. }, true) => "ACS redirect is on there".to_owned(),
            (UnknownFact::AcsRedirect { .. }, false) => "ACS redirect is off there".to_owned(),
            (
                UnknownFact::HostBridgeDevice {
                    why: RootDeviceUnknown::PortTypeUnknown { function, .. },
                    ..
                },
                h,
            ) => format!(
                "{} {} a root port",
                m.name(*function),
                if h { "is" } else { "is not" }
            ),
            (UnknownFact::HostBridgeDevice { host_bridge, .. }, h) => format!(
                "{}'s device {} in the whitelist",
                m.host_bridge(*host_bridge)
                    .map_or_else(|| "the host bridge".to_owned(), |h| h.sysfs_name()),
                if h { "is" } else { "is not" }
            ),
            (UnknownFact::AmdZenCpu, true) => "the CPU is an AMD Zen or later".to_owned(),
            (UnknownFact::AmdZenCpu, false) => "the CPU is not an AMD Zen or later".to_owned(),
        }
    }

    /// How to learn the fact.
    pub fn how_to_know(&self, m: &Machine) -> String {
        match self {
            UnknownFact::AcsRedirect { functions, .. } => {
                let list: Vec<String> = functions.iter().map(|&f| m.name(f)).collect();
                format!(
                    "read ACSCtl with `sudo lspci -vvv{}` on the machine, or save it with `sudo \
                     dmabuf-ic snapshot`; booting with pci=disable_acs_redir={} makes sure it is off",
                    list.first()
                        .map_or_else(String::new, |f| format!(" -s {f}")),
                    if list.is_empty() {
                        "<bdf>;...".to_owned()
                    } else {
                        list.join(";")
                    }
                )
            }
            UnknownFact::HostBridgeDevice {
                host_bridge,
                why: RootDeviceUnknown::PortTypeUnknown { function, .. },
                ..
            } => format!(
                "`sudo lspci -vvv -s {}` (\"Root Port\") on the machine, or a snapshot taken as \
                 root, shows the port type of the first function of {}",
                m.name(*function),
                m.host_bridge(*host_bridge)
                    .map_or_else(|| "the root bus".to_owned(), |h| h.sysfs_name())
            ),
            UnknownFact::HostBridgeDevice { host_bridge, .. } => {
                let (d, b) = m
                    .host_bridge(*host_bridge)
                    .map_or((0, 0), |h| (h.domain, h.root_bus));
                format!(
                    "`lspci -nn -s {d:04x}:{b:02x}:` on the machine lists its root bus; `dmabuf-ic \
                     snapshot` or `lstopo --whole-io --of xml` save a machine with it"
                )
            }
            UnknownFact::AmdZenCpu => {
                "`vendor_id` and `cpu family` in /proc/cpuinfo on the machine".to_owned()
            }
        }
    }
}

impl Outcome {
    /// When this outcome happens, in words (`ACS redirect is on there and the CPU is not an
    /// AMD Zen or later`), alternatives joined with "or"; empty when unconditional.
    pub fn describe_when(&self, m: &Machine, facts: &[UnknownFact]) -> String {
        self.when
            .iter()
            .map(|alt| {
                alt.iter()
                    .filter_map(|a| facts.get(a.fact).map(|f| f.assumed(m, a.holds)))
                    .collect::<Vec<_>>()
                    .join(" and ")
            })
            .collect::<Vec<_>>()
            .join(", or ")
    }

    /// Whether every inferred fact takes its inferred value in some alternative (the outcome
    /// the inference points at), and some fact is inferred at all.
    pub fn is_inferred(&self, facts: &[UnknownFact]) -> bool {
        self.when.iter().any(|alt| {
            let mut any = false;
            let consistent =
                alt.iter()
                    .all(|a| match facts.get(a.fact).and_then(|f| f.inferred()) {
                        Some(v) => {
                            any = true;
                            v == a.holds
                        }
                        None => true,
                    });
            any && consistent
        })
    }
}

/// A value assumed for one unknown fact.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Assumption {
    /// Index of the fact in the verdict's [`unknowns`](crate::P2pVerdict::unknowns).
    pub fact: usize,
    /// Whether the fact holds.
    pub holds: bool,
}

/// One map type the unknown facts allow, and when.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Outcome {
    /// The map type.
    pub map_type: MapType,
    /// The values of the facts that give it: any one of the alternatives, each a set of values
    /// that must all hold. Empty when the verdict depends on no unknown fact.
    pub when: Vec<Vec<Assumption>>,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.map_type.as_str())
    }
}

/// The most unknown facts one verdict can depend on: ACS, two host bridges, the CPU.
pub(crate) const MAX_FACTS: usize = 4;

/// Every outcome of `decide` over all values of `n` facts (at most [`MAX_FACTS`]), each with the
/// smallest set of alternatives (prime implicants, chosen greedily) that covers the values
/// giving it; outcomes best first.
pub(crate) fn outcomes(n: usize, decide: impl Fn(&[bool]) -> MapType) -> Vec<Outcome> {
    let n = n.min(MAX_FACTS);
    let all = 1usize << n;
    let values = |a: usize| -> Vec<bool> { (0..n).map(|i| a & (1 << i) != 0).collect() };
    let results: Vec<MapType> = (0..all).map(|a| decide(&values(a))).collect();
    // A cube: for each fact, a value or "any" (cares = mask of facts with a value).
    let cube_members =
        |cares: usize, vals: usize| (0..all).filter(move |&a| a & cares == vals & cares);
    let mut out = Vec::new();
    for t in [
        MapType::BusAddr,
        MapType::ThruHostBridge,
        MapType::NotSupported,
    ] {
        let mine: Vec<usize> = (0..all).filter(|&a| results[a] == t).collect();
        if mine.is_empty() {
            continue;
        }
        if n == 0 || mine.len() == all {
            out.push(Outcome {
                map_type: t,
                when: Vec::new(),
            });
            continue;
        }
        // Cubes entirely inside this outcome, largest first.
        let mut cubes: Vec<(usize, usize)> = Vec::new();
        for cares in 0..all {
            for vals in 0..all {
                if vals & !cares != 0 {
                    continue;
                }
                if cube_members(cares, vals).all(|a| results[a] == t) {
                    cubes.push((cares, vals));
                }
            }
        }
        let contains = |big: (usize, usize), small: (usize, usize)| {
            big.0 & small.0 == big.0 && small.1 & big.0 == big.1
        };
        let primes: Vec<(usize, usize)> = cubes
            .iter()
            .copied()
            .filter(|&c| !cubes.iter().any(|&d| d != c && contains(d, c)))
            .collect();
        let mut left: Vec<usize> = mine.clone();
        let mut chosen: Vec<(usize, usize)> = Vec::new();
        while !left.is_empty() {
            let best = primes
                .iter()
                .copied()
                .max_by_key(|&(cares, vals)| {
                    let covered = left.iter().filter(|&&a| a & cares == vals & cares).count();
                    (covered, usize::MAX - cares.count_ones() as usize)
                })
                .filter(|&(cares, vals)| left.iter().any(|&a| a & cares == vals & cares));
            let Some((cares, vals)) = best else { break };
            left.retain(|&a| a & cares != vals & cares);
            chosen.push((cares, vals));
        }
        chosen.sort_by_key(|&(cares, vals)| (cares.count_ones(), cares, vals));
        out.push(Outcome {
            map_type: t,
            when: chosen
                .into_iter()
                .map(|(cares, vals)| {
                    (0..n)
                        .filter(|i| cares & (1 << i) != 0)
                        .map(|i| Assumption {
                            fact: i,
                            holds: vals & (1 << i) != 0,
                        })
                        .collect()
                })
                .collect(),
        });
    }
    out
}

/// Drops the facts no outcome depends on (every value of theirs gives the same outcomes) and
/// renumbers the others; a verdict whose outcomes depend on no fact is known.
pub(crate) fn keep_relevant(
    facts: Vec<UnknownFact>,
    outcomes: Vec<Outcome>,
) -> (Vec<UnknownFact>, Vec<Outcome>) {
    let used: Vec<bool> = (0..facts.len())
        .map(|i| {
            outcomes
                .iter()
                .any(|o| o.when.iter().flatten().any(|a| a.fact == i))
        })
        .collect();
    let mut new_index = vec![usize::MAX; facts.len()];
    let mut kept = Vec::new();
    for (i, f) in facts.into_iter().enumerate() {
        if used[i] {
            new_index[i] = kept.len();
            kept.push(f);
        }
    }
    let outcomes = outcomes
        .into_iter()
        .map(|mut o| {
            for alt in &mut o.when {
                for a in alt.iter_mut() {
                    a.fact = new_index[a.fact];
                }
            }
            o
        })
        .collect();
    (kept, outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alt(o: &Outcome) -> Vec<Vec<(usize, bool)>> {
        o.when
            .iter()
            .map(|c| c.iter().map(|a| (a.fact, a.holds)).collect())
            .collect()
    }

    #[test]
    fn three_valued_logic() {
        use Tristate::*;
        assert_eq!(Yes.or(Unknown), Yes);
        assert_eq!(No.or(Unknown), Unknown);
        assert_eq!(No.and(Unknown), No);
        assert_eq!(Yes.and(Unknown), Unknown);
        assert_eq!(Yes.and(Yes), Yes);
    }

    #[test]
    fn no_fact_one_outcome() {
        let o = outcomes(0, |_| MapType::BusAddr);
        assert_eq!(o.len(), 1);
        assert!(o[0].when.is_empty());
    }

    #[test]
    fn the_host_bridge_or_the_cpu() {
        // Fact 0: ACS on somewhere; 1: the host bridge's device is whitelisted; 2: AMD Zen.
        let o = outcomes(3, |v| {
            if !v[0] {
                MapType::BusAddr
            } else if v[1] || v[2] {
                MapType::ThruHostBridge
            } else {
                MapType::NotSupported
            }
        });
        let types: Vec<MapType> = o.iter().map(|o| o.map_type).collect();
        assert_eq!(
            types,
            [
                MapType::BusAddr,
                MapType::ThruHostBridge,
                MapType::NotSupported
            ]
        );
        assert_eq!(alt(&o[0]), [vec![(0, false)]]);
        assert_eq!(
            alt(&o[1]),
            [vec![(0, true), (1, true)], vec![(0, true), (2, true)]]
        );
        assert_eq!(alt(&o[2]), [vec![(0, true), (1, false), (2, false)]]);
    }

    #[test]
    fn map_type_sets() {
        let s = MapTypes::only(MapType::NotSupported).with(MapType::ThruHostBridge);
        assert_eq!(s.len(), 2);
        assert_eq!(s.best(), Some(MapType::ThruHostBridge));
        assert_eq!(MapTypes::from_bits(s.bits()), s);
        assert!(MapTypes::EMPTY.is_empty());
    }
}
