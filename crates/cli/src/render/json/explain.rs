//! `explain --format json` (docs/json-output.md, "explain").

use pci_topology::{
    FunctionId, HostBridgeCheck, Machine, MapType, RootDeviceUnknown, UnknownFact, WhitelistLookup,
};
use serde::Serialize;

use super::vocab;
use crate::commands::explain::{ChangeKind, Explanation};
use crate::error::CliError;
use crate::names::FunctionNames;

/// The document.
#[derive(Serialize, Debug)]
pub struct Explain {
    /// The function owning the memory.
    pub provider: Device,
    /// The function doing the DMA.
    pub client: Device,
    /// The provider, then each upstream bridge, as the kernel walks it.
    pub provider_chain: Vec<ChainNode>,
    /// The client's chain.
    pub client_chain: Vec<ChainNode>,
    /// The first function of the provider's chain in the client's chain, or null.
    pub common_ancestor: Option<String>,
    /// Steps from the provider up to the common ancestor.
    pub provider_steps: u32,
    /// Steps from the client up to the common ancestor.
    pub client_steps: u32,
    /// Functions with ACS redirect on along the path that matters, in the kernel's order.
    pub acs_redirect: Vec<String>,
    /// Functions on that path whose ACS state is unknown.
    pub acs_unknown: Vec<String>,
    /// Whether every ACS state on that path was known.
    pub acs_known: bool,
    /// `pci=disable_acs_redir=...` clearing the redirects, or null.
    pub disable_acs_redir: Option<String>,
    /// The host-bridge step, or null when the traffic does not cross the host bridge.
    pub host_bridge: Option<HostBridge>,
    /// The CPU rule.
    pub cpu: Cpu,
    /// The verdict with what the source shows: unknown ACS taken as off, an unknown host-bridge
    /// device as not whitelisted, an unknown CPU as not an AMD Zen.
    pub map_type: &'static str,
    /// Whether the source gives every fact the verdict depends on (then `possible_map_types`
    /// holds `map_type` alone).
    pub verdict_known: bool,
    /// Every map type the unknown facts allow, best first.
    pub possible_map_types: Vec<&'static str>,
    /// The facts the verdict depends on that the source does not give.
    pub unknown_facts: Vec<Fact>,
    /// Every outcome those facts allow, with when; one unconditional outcome when known.
    pub outcomes: Vec<OutcomeOut>,
    /// `pci_p2pdma_distance()`: -1 when not supported.
    pub distance: i64,
    /// The distance computed, also when not supported.
    pub path_distance: u32,
    /// The map type if the unknown ACS states were on, or null when ACS was known.
    pub map_type_if_acs_on: Option<&'static str>,
    /// Whether the source collapsed PCIe switches (NCCL files): distances then miss the
    /// switches' ports and their ACS state.
    pub switches_collapsed: bool,
    /// What says the machine is a virtual machine's guest (the verdict is then the guest
    /// kernel's, on the tree the hypervisor shows); empty when nothing does.
    pub guest: Vec<String>,
    /// The route the verdict implies, or null (refused, or a device with itself).
    pub route: Option<Route>,
    /// Changes that would alter the verdict.
    pub changes: Vec<Change>,
    /// Root-bus functions whose unknown port type decided the host-bridge check.
    pub port_type_unknown: Vec<Unchecked>,
    /// The decision as sentences, in the kernel's order.
    pub reasons: Vec<String>,
}

/// A fact the source does not give.
#[derive(Serialize, Debug)]
pub struct Fact {
    /// `acs-redirect`, `host-bridge-device` or `amd-zen-cpu`.
    pub fact: &'static str,
    /// What is not known, in words.
    pub description: String,
    /// How to learn it.
    pub how_to_know: String,
    /// For `acs-redirect`: the functions whose ACS state is unknown.
    pub functions: Vec<String>,
    /// For `acs-redirect`: whether switch ports the source left out are on the path too.
    pub collapsed_ports: bool,
    /// For `host-bridge-device`: the host bridge.
    pub host_bridge: Option<String>,
    /// For `host-bridge-device`: why its device is unknown, `not-listed`, `ids-unknown` or
    /// `port-type-unknown`.
    pub why: Option<&'static str>,
    /// For `host-bridge-device`: the device the CPU model suggests (an inference, not a fact of
    /// the source), or null.
    pub inferred: Option<Inferred>,
}

/// The root complex a CPU model suggests.
#[derive(Serialize, Debug)]
pub struct Inferred {
    /// `vvvv:dddd`.
    pub device: String,
    /// Its name in the PCI ID database.
    pub name: &'static str,
    /// The CPU it is inferred from, in words.
    pub from_cpu: String,
    /// The whitelist entry it matches, or null.
    pub whitelist_entry: Option<String>,
    /// Whether that entry lets this traffic through.
    pub allows: bool,
}

/// One outcome.
#[derive(Serialize, Debug)]
pub struct OutcomeOut {
    /// The map type.
    pub map_type: &'static str,
    /// `pci_p2pdma_distance()` in this outcome: -1 when not supported.
    pub distance: i64,
    /// When: any one of the alternatives, each a list of fact values that all hold; empty when
    /// unconditional.
    pub when: Vec<Vec<Assumed>>,
    /// `when` in words.
    pub text: String,
    /// Whether it is the outcome the inferred facts point at.
    pub inferred: bool,
}

/// A value taken by one fact.
#[derive(Serialize, Debug)]
pub struct Assumed {
    /// Index in `unknown_facts`.
    pub fact: usize,
    /// Whether the fact holds.
    pub holds: bool,
    /// In words.
    pub text: String,
}

/// A device named in the document.
#[derive(Serialize, Debug)]
pub struct Device {
    /// Bus id.
    pub bdf: String,
    /// `Vendor Device` from the PCI ID database (`unknown device` when not known).
    pub name: String,
    /// Coarse kind (as in `topo`).
    pub kind: &'static str,
    /// Its host bridge.
    pub host_bridge: Option<String>,
}

/// One node of a chain.
#[derive(Serialize, Debug)]
pub struct ChainNode {
    /// Bus id.
    pub bdf: String,
    /// PCIe port type, or null.
    pub port_type: Option<&'static str>,
    /// `redirect`, `no-redirect`, `unknown`.
    pub acs: &'static str,
    /// Whether the kernel's walk reached it (nodes above the common ancestor are not looked at).
    pub walked: bool,
}

/// One host bridge's whitelist lookup.
#[derive(Serialize, Debug)]
pub struct Lookup {
    /// `pciDDDD:BB`.
    pub host_bridge: String,
    /// The device checked, or null.
    pub device: Option<String>,
    /// The matching entry as text, or null.
    pub entry: Option<String>,
    /// Whether the lookup allows the traffic (with what the source shows).
    pub whitelisted: bool,
    /// Whether the source tells which device Linux checks and its IDs.
    pub device_known: bool,
}

/// The host-bridge step.
#[derive(Serialize, Debug)]
pub struct HostBridge {
    /// `no-common-upstream-bridge` or `acs-redirect`.
    pub cause: &'static str,
    /// Whether provider and client are below one host bridge.
    pub same_host_bridge: bool,
    /// The provider's host bridge, then the client's when different.
    pub lookups: Vec<Lookup>,
    /// Whether the AMD Zen rule allowed it.
    pub cpu_rule: bool,
    /// Whether the host bridge may forward the traffic.
    pub allowed: bool,
    /// `not-whitelisted`, `requires-same-host-bridge`, `no-host-bridge-device`, or null.
    pub refusal: Option<&'static str>,
}

/// The CPU rule.
#[derive(Serialize, Debug)]
pub struct Cpu {
    /// `intel`, `amd`, `hygon`, another vendor string, or null (as in `topo`).
    pub vendor: Option<String>,
    /// Family, or null.
    pub family: Option<u32>,
    /// Whether the rule (x86 AMD, family >= 0x17) applies (false when not known).
    pub zen_rule: bool,
    /// Whether the source tells whether it applies.
    pub zen_rule_known: bool,
}

/// The route.
#[derive(Serialize, Debug)]
pub struct Route {
    /// nvidia-smi class.
    pub class: &'static str,
    /// Through the host bridge (else below the common bridge).
    pub via_host_bridge: bool,
    /// Narrowest link by what the links can do, GB/s, or null when a link is unknown.
    pub bandwidth_gbps: Option<f64>,
    /// Narrowest link as the links are trained now, GB/s (below `bandwidth_gbps` when one has
    /// trained down), or null when unknown.
    pub current_bandwidth_gbps: Option<f64>,
    /// Whose upstream link is the narrowest known one, or null.
    pub bottleneck: Option<String>,
    /// Physical links crossed.
    pub links: u16,
    /// Tree edges crossed.
    pub hops: u16,
    /// Host bridges crossed.
    pub host_bridges_crossed: u8,
    /// Whether NUMA nodes are crossed, or null.
    pub numa_crossing: Option<bool>,
    /// Whether an IOMMU translates, or null.
    pub iommu_translates: Option<bool>,
    /// The client's IOMMU domain type, or null.
    pub iommu_domain: Option<String>,
    /// What that domain means for this transfer under Linux's rules, or null.
    pub iommu: Option<String>,
    /// Latency estimate in ns, or null.
    pub latency_ns: Option<u32>,
}

/// A change and its outcome.
#[derive(Serialize, Debug)]
pub struct Change {
    /// `disable-acs-redirect`, `whitelisted-host-bridge`, `amd-zen-cpu`,
    /// `slot-under-common-switch`.
    pub change: &'static str,
    /// What to do, in words.
    pub detail: String,
    /// The kernel parameter, or null.
    pub parameter: Option<String>,
    /// The map type it would give.
    pub map_type: &'static str,
    /// The distance it would give (-1 if not supported).
    pub distance: i64,
}

/// A root-bus function the whitelist check skipped because its port type is unknown.
#[derive(Serialize, Debug)]
pub struct Unchecked {
    /// Its bus id.
    pub bdf: String,
    /// The whitelist entry its IDs match, or null.
    pub whitelist_entry: Option<String>,
    /// The map type were it a root port.
    pub map_type_if_root_port: &'static str,
}

fn kernel_distance(t: MapType, d: u32) -> i64 {
    if t.is_supported() { i64::from(d) } else { -1 }
}

fn device(m: &Machine, id: FunctionId) -> Device {
    let f = m.function(id);
    Device {
        bdf: m.name(id),
        name: f.map_or_else(
            || "unknown device".to_owned(),
            |f| FunctionNames::of(f).label(),
        ),
        kind: f.map_or("unknown", super::topo::kind_of),
        host_bridge: m
            .host_bridge_of(id)
            .and_then(|h| m.host_bridge(h))
            .map(|h| h.sysfs_name()),
    }
}

fn chain(m: &Machine, c: &[FunctionId], common: Option<FunctionId>) -> Vec<ChainNode> {
    let mut walked = true;
    c.iter()
        .map(|&id| {
            let f = m.function(id);
            let node = ChainNode {
                bdf: m.name(id),
                port_type: f.and_then(|f| f.port_type).map(vocab::port_type),
                acs: f.map_or("unknown", |f| vocab::acs(f.acs)),
                walked,
            };
            if Some(id) == common {
                walked = false;
            }
            node
        })
        .collect()
}

fn lookup(m: &Machine, l: &WhitelistLookup) -> Lookup {
    Lookup {
        host_bridge: m
            .host_bridge(l.host_bridge)
            .map_or_else(String::new, |h| h.sysfs_name()),
        device: l.device.map(|d| m.name(d)),
        entry: l.entry.as_ref().map(ToString::to_string),
        whitelisted: l.whitelisted,
        device_known: l.unknown.is_none(),
    }
}

fn fact(m: &Machine, f: &UnknownFact) -> Fact {
    let mut out = Fact {
        fact: f.kind(),
        description: f.describe(m),
        how_to_know: f.how_to_know(m),
        functions: Vec::new(),
        collapsed_ports: false,
        host_bridge: None,
        why: None,
        inferred: None,
    };
    match f {
        UnknownFact::AcsRedirect {
            functions,
            collapsed_ports,
        } => {
            out.functions = functions.iter().map(|&x| m.name(x)).collect();
            out.collapsed_ports = *collapsed_ports;
        }
        UnknownFact::HostBridgeDevice {
            host_bridge,
            why,
            inferred,
        } => {
            out.host_bridge = m.host_bridge(*host_bridge).map(|h| h.sysfs_name());
            out.why = Some(match why {
                RootDeviceUnknown::NotListed { .. } => "not-listed",
                RootDeviceUnknown::IdsUnknown { .. } => "ids-unknown",
                RootDeviceUnknown::PortTypeUnknown { .. } => "port-type-unknown",
            });
            out.inferred = inferred.as_ref().map(|i| Inferred {
                device: format!("{:04x}:{:04x}", i.vendor, i.device),
                name: i.name,
                from_cpu: i.from_cpu.clone(),
                whitelist_entry: i.entry.as_ref().map(ToString::to_string),
                allows: i.allows,
            });
        }
        UnknownFact::AmdZenCpu => {}
    }
    out
}

fn host_bridge(m: &Machine, h: &HostBridgeCheck) -> HostBridge {
    let mut lookups = vec![lookup(m, &h.provider)];
    if let Some(c) = &h.client {
        lookups.push(lookup(m, c));
    }
    HostBridge {
        cause: vocab::host_bridge_cause(h.cause),
        same_host_bridge: h.same_host_bridge,
        lookups,
        cpu_rule: h.cpu_rule,
        allowed: h.allowed,
        refusal: h.refusal.map(vocab::host_bridge_refusal),
    }
}

const fn change_code(k: ChangeKind) -> &'static str {
    match k {
        ChangeKind::DisableAcsRedirect => "disable-acs-redirect",
        ChangeKind::WhitelistedHostBridge => "whitelisted-host-bridge",
        ChangeKind::AmdZenCpu => "amd-zen-cpu",
        ChangeKind::CommonSwitchSlot => "slot-under-common-switch",
    }
}

/// Builds the document.
pub fn build(m: &Machine, x: &Explanation) -> Explain {
    let v = &x.verdict;
    let names = |ids: &[FunctionId]| ids.iter().map(|&f| m.name(f)).collect::<Vec<_>>();
    let cpu = m.cpu();
    Explain {
        provider: device(m, v.provider),
        client: device(m, v.client),
        provider_chain: chain(m, &v.provider_chain, v.common_ancestor),
        client_chain: chain(m, &v.client_chain, v.common_ancestor),
        common_ancestor: v.common_ancestor.map(|c| m.name(c)),
        provider_steps: v.provider_steps,
        client_steps: v.client_steps,
        acs_redirect: names(&v.acs_redirect),
        acs_unknown: names(&v.acs_unknown),
        acs_known: v.acs_known,
        disable_acs_redir: v.disable_acs_redir.clone(),
        host_bridge: v.host_bridge.as_ref().map(|h| host_bridge(m, h)),
        cpu: Cpu {
            vendor: vocab::cpu_vendor(&cpu.vendor),
            family: cpu.family,
            zen_rule: cpu.supports_p2pdma(),
            zen_rule_known: cpu.p2pdma_rule().is_some(),
        },
        map_type: vocab::map_type(v.map_type),
        verdict_known: v.is_known(),
        possible_map_types: v.possible().iter().map(vocab::map_type).collect(),
        unknown_facts: v.unknowns.iter().map(|f| fact(m, f)).collect(),
        outcomes: v
            .outcomes
            .iter()
            .map(|o| OutcomeOut {
                map_type: vocab::map_type(o.map_type),
                distance: kernel_distance(o.map_type, v.distance),
                when: o
                    .when
                    .iter()
                    .map(|alt| {
                        alt.iter()
                            .map(|a| Assumed {
                                fact: a.fact,
                                holds: a.holds,
                                text: v
                                    .unknowns
                                    .get(a.fact)
                                    .map_or_else(String::new, |f| f.assumed(m, a.holds)),
                            })
                            .collect()
                    })
                    .collect(),
                text: o.describe_when(m, &v.unknowns),
                inferred: o.is_inferred(&v.unknowns),
            })
            .collect(),
        distance: kernel_distance(v.map_type, v.distance),
        path_distance: v.distance,
        map_type_if_acs_on: v.if_acs_on.map(vocab::map_type),
        switches_collapsed: v.switches_collapsed,
        guest: m.guest_evidence().to_vec(),
        route: x.route.map(|q| Route {
            class: vocab::class(q.class),
            via_host_bridge: q.via_host_bridge,
            bandwidth_gbps: q.bandwidth.map(vocab::gbps),
            current_bandwidth_gbps: q.current_bandwidth.map(vocab::gbps),
            bottleneck: q.bottleneck.map(|b| m.name(b)),
            links: q.links,
            hops: q.hops,
            host_bridges_crossed: q.host_bridges_crossed,
            numa_crossing: q.numa_crossing,
            iommu_translates: q.iommu_translates,
            iommu_domain: m
                .function(v.client)
                .and_then(|f| f.iommu_domain.as_ref())
                .map(|d| d.name().to_owned()),
            iommu: m.iommu_reason(v.client, v.map_type),
            latency_ns: q.latency.map(|l| l.0),
        }),
        changes: x
            .changes
            .iter()
            .map(|c| Change {
                change: change_code(c.kind),
                detail: c.detail.clone(),
                parameter: c.parameter.clone(),
                map_type: vocab::map_type(c.map_type),
                distance: kernel_distance(c.map_type, c.distance),
            })
            .collect(),
        port_type_unknown: v
            .unknowns
            .iter()
            .enumerate()
            .filter_map(|(i, f)| match f {
                UnknownFact::HostBridgeDevice {
                    why: RootDeviceUnknown::PortTypeUnknown { function, entry },
                    ..
                } => Some(Unchecked {
                    bdf: m.name(*function),
                    whitelist_entry: Some(entry.to_string()),
                    map_type_if_root_port: vocab::map_type(v.map_type_if(&[i])),
                }),
                _ => None,
            })
            .collect(),
        reasons: v.reasons(m),
    }
}

/// Renders the document.
pub fn render(m: &Machine, x: &Explanation) -> Result<String, CliError> {
    crate::output::to_json(&build(m, x))
}
