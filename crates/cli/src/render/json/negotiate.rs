//! `negotiate --format json` (docs/json-output.md, "negotiate").

use dmabuf_negotiate::{
    Candidate, ChosenBy, Describe, FabricId, Policy, Rejection, Route as CoreRoute, RouteKind,
    Verdict,
};
use pci_topology::Machine;
use serde::Serialize;

use super::vocab::{self, Source};
use crate::commands::negotiate::Report;
use crate::error::CliError;
use crate::render::human::words;
use crate::scenario::{MemorySpec, OfferSpec};

/// The document.
#[derive(Serialize, Debug)]
pub struct Negotiation {
    /// The scenario file as given.
    pub scenario: String,
    /// Its description, or null.
    pub description: Option<String>,
    /// Where the machine came from.
    pub source: Source,
    /// `best-route` or `exporter-priority`.
    pub policy: &'static str,
    /// Whether an interconnect was agreed.
    pub agreed: bool,
    /// The chosen candidate (its position in `candidates`), or null.
    pub chosen: Option<usize>,
    /// `policy` or `exporter`, or null.
    pub chosen_by: Option<&'static str>,
    /// The exporter's offers.
    pub exporter: Vec<Offer>,
    /// The importer's offers.
    pub importer: Vec<Offer>,
    /// Every exporter × importer pair, in exporter order, then importer order.
    pub candidates: Vec<CandidateOut>,
    /// Things said on standard error too (unknown fabrics, empty lists).
    pub warnings: Vec<String>,
}

/// One offer as written.
#[derive(Serialize, Debug)]
pub struct Offer {
    /// Position in its list, from 0.
    pub index: usize,
    /// Interconnect type.
    pub interconnect: &'static str,
    /// The author's label, or null.
    pub label: Option<String>,
    /// `device`, or null.
    pub device: Option<String>,
    /// `"system"` or a bus id (memory offered), or null.
    pub memory: Option<String>,
    /// NUMA node of offered system memory, or null.
    pub numa_node: Option<u16>,
    /// BAR index, or null.
    pub bar: Option<u8>,
    /// BAR slice offset as a hex string, or null.
    pub offset: Option<String>,
    /// BAR slice length, or null.
    pub len: Option<u64>,
    /// VRAM instance, or null.
    pub instance: Option<u16>,
    /// Private fabric, or null.
    pub fabric: Option<String>,
    /// Importer accepts P2P addresses (dma-addr), or null.
    pub peer2peer: Option<bool>,
    /// `untrusted`, `iommufd`, `kvm`, `vfio` (importer phys), or null.
    pub trust: Option<&'static str>,
    /// Whether `trust` was taken from the machine (the device's binding, e.g. vfio-pci) because
    /// the scenario did not state it.
    pub trust_from_machine: bool,
}

/// One pair.
#[derive(Serialize, Debug)]
pub struct CandidateOut {
    /// Exporter offer index.
    pub exporter: u16,
    /// Importer offer index.
    pub importer: u16,
    /// The exporter entry's interconnect.
    pub interconnect: &'static str,
    /// `accepted`, `vetoed` or `rejected`.
    pub outcome: &'static str,
    /// Rank among the accepted under the policy (1 = best), or null.
    pub rank: Option<usize>,
    /// The route (accepted or vetoed), or null.
    pub route: Option<Route>,
    /// Why not (rejected or vetoed), or null.
    pub reason: Option<Reason>,
    /// For a PCI route or refusal computed with unknown ACS states taken as off: the map type
    /// were they on (`thru-host-bridge` or `not-supported`); null when ACS was known or did
    /// not matter.
    pub map_type_if_acs_on: Option<&'static str>,
}

/// A route and its quality.
#[derive(Serialize, Debug)]
pub struct Route {
    /// `same-device`, `private-link`, `pci-bus-addr`, `pci-thru-host-bridge`,
    /// `system-memory`, `cpu-thru-host-bridge`.
    pub kind: &'static str,
    /// The quality tier.
    pub tier: &'static str,
    /// The kernel's P2P distance for PCI routes, else null.
    pub distance: Option<u32>,
    /// The private fabric's name for private links, else null.
    pub fabric: Option<String>,
    /// Bottleneck bandwidth, GB/s, or null.
    pub bandwidth_gbps: Option<f64>,
    /// Latency, ns, or null.
    pub latency_ns: Option<u32>,
    /// Links crossed.
    pub hops: u16,
    /// The route in words.
    pub description: String,
}

/// Why a pair was not taken.
#[derive(Serialize, Debug)]
pub struct Reason {
    /// A stable code: `different-interconnects`, `malformed-offer`, `untrusted-importer`,
    /// `different-fabrics`, `vram-not-addressable`, `peer-to-peer-not-accepted`,
    /// `virtual-function-isolation`, `refused-by-fabric`, `driver`, `vetoed`.
    pub code: &'static str,
    /// The reason in words (bus ids and fabric names, not internal numbers).
    pub message: String,
}

const fn rejection_code(r: &Rejection) -> &'static str {
    match r {
        Rejection::DifferentInterconnects { .. } => "different-interconnects",
        Rejection::MalformedOffer { .. } => "malformed-offer",
        Rejection::UntrustedImporter => "untrusted-importer",
        Rejection::DifferentFabrics { .. } => "different-fabrics",
        Rejection::VramNotAddressable(_) => "vram-not-addressable",
        Rejection::PeerToPeerNotAccepted => "peer-to-peer-not-accepted",
        Rejection::VirtualFunctionIsolation => "virtual-function-isolation",
        Rejection::Refused(_) => "refused-by-fabric",
        Rejection::Driver(_) => "driver",
    }
}

/// One offer as the document shows it.
pub fn offer(o: &OfferSpec) -> Offer {
    let (memory, numa_node) = match &o.memory {
        Some(MemorySpec::System(n)) => (Some("system".to_owned()), *n),
        Some(MemorySpec::Device(d)) => (Some(vocab::bdf(*d)), None),
        None => (None, None),
    };
    Offer {
        index: o.index,
        interconnect: o.interconnect,
        label: o.label.clone(),
        device: o.device.map(vocab::bdf),
        memory,
        numa_node,
        bar: o.bar.map(|b| b.0),
        offset: o.bar.map(|b| vocab::address(b.1)),
        len: o.bar.map(|b| b.2),
        instance: o.instance,
        fabric: o.fabric.clone(),
        peer2peer: o.peer2peer,
        trust: o.trust.map(vocab::trust),
        trust_from_machine: o.trust_from_machine,
    }
}

/// A route and its quality as the document shows it.
pub fn route(r: &CoreRoute, fabric: &dyn Fn(FabricId) -> String) -> Route {
    let q = r.quality();
    Route {
        kind: vocab::route_kind(r.kind),
        tier: vocab::tier(q.tier),
        distance: match r.kind {
            RouteKind::PciBusAddr { distance } | RouteKind::PciThroughHostBridge { distance } => {
                Some(distance)
            }
            _ => None,
        },
        fabric: match r.kind {
            RouteKind::PrivateLink(f) => Some(fabric(f)),
            _ => None,
        },
        bandwidth_gbps: r.bandwidth.map(vocab::gbps),
        latency_ns: r.latency.map(|l| l.0),
        hops: r.hops,
        description: words::route(r, fabric),
    }
}

fn candidate(
    m: &Machine,
    r: &Report,
    k: usize,
    c: &Candidate,
    fabric: &dyn Fn(FabricId) -> String,
) -> CandidateOut {
    let names = r.names(m);
    let (outcome, route_out, reason) = match &c.verdict {
        Verdict::Accepted(x) => ("accepted", Some(route(x, fabric)), None),
        Verdict::Vetoed { route: x, reason } => (
            "vetoed",
            Some(route(x, fabric)),
            Some(Reason {
                code: "vetoed",
                message: (*reason).to_owned(),
            }),
        ),
        Verdict::Rejected(why) => (
            "rejected",
            None,
            Some(Reason {
                code: rejection_code(why),
                message: why.named(&names).to_string(),
            }),
        ),
    };
    CandidateOut {
        exporter: c.exporter_index,
        importer: c.importer_index,
        interconnect: c.interconnect.name(),
        outcome,
        rank: r.rank_of(k),
        route: route_out,
        reason,
        map_type_if_acs_on: r.acs_caveats.get(k).copied().flatten().map(vocab::map_type),
    }
}

/// Builds the document.
pub fn build(m: &Machine, r: &Report) -> Negotiation {
    let fabric = |f: FabricId| r.bound.fabric_name(m, f).unwrap_or_else(|| f.to_string());
    Negotiation {
        scenario: r.scenario.display().to_string(),
        description: r.description.clone(),
        source: Source::of(&r.source),
        policy: match r.policy {
            Policy::BestRoute => "best-route",
            Policy::ExporterPriority => "exporter-priority",
        },
        agreed: r.chosen.is_some(),
        chosen: r.chosen,
        chosen_by: r.chosen_by.map(|c| match c {
            ChosenBy::Policy => "policy",
            ChosenBy::Exporter => "exporter",
        }),
        exporter: r.bound.exporter_specs.iter().map(offer).collect(),
        importer: r.bound.importer_specs.iter().map(offer).collect(),
        candidates: r
            .candidates
            .iter()
            .enumerate()
            .map(|(k, c)| candidate(m, r, k, c, &fabric))
            .collect(),
        warnings: r.bound.warnings.clone(),
    }
}

/// Renders the document.
pub fn render(m: &Machine, r: &Report) -> Result<String, CliError> {
    crate::output::to_json(&build(m, r))
}
