//! `--format dot` and `--format svg`: the machine drawn by [`crate::picture`], titled with its
//! source, with the route of `explain` or `negotiate` highlighted and captioned.

use crate::picture::graph::{GraphOptions, MachineGraph};
use crate::picture::highlight::Highlight;
use crate::picture::names::PciIds;
use crate::picture::{dot, svg};
use dmabuf_negotiate::{Initiator, Memory, RouteKind, Verdict};
use pci_topology::{Machine, MapType, P2pVerdict};

use crate::commands::negotiate::Report;
use crate::output::OutputFormat;
use crate::scenario::MemorySpec;
use crate::source::MachineSource;

/// The picture of `m` in `format` (`dot`; anything else draws SVG).
pub fn render(
    m: &Machine,
    source: &MachineSource,
    format: OutputFormat,
    highlight: Option<&Highlight>,
) -> String {
    let options = GraphOptions {
        title: Some(source.describe()),
        ..GraphOptions::default()
    };
    let g = MachineGraph::new(m, &PciIds, &options, highlight);
    match format {
        OutputFormat::Dot => dot::render(&g),
        _ => svg::render(&g),
    }
}

/// The route Linux's verdict implies (or refuses), captioned with the verdict.
pub fn verdict_highlight(m: &Machine, v: &P2pVerdict) -> Highlight {
    let class = m
        .nv_class(v.provider, v.client)
        .map_or_else(String::new, |c| format!(", {c}"));
    let how = match v.map_type {
        MapType::BusAddr => format!("bus-addr, distance {}", v.distance),
        MapType::ThruHostBridge => format!("thru-host-bridge, distance {}", v.distance),
        MapType::NotSupported => "not-supported: refused".to_owned(),
    };
    Highlight::from_verdict(m, v).with_caption(format!(
        "{} (memory) → {} (DMA): Linux {how}{class}",
        m.name(v.provider),
        m.name(v.client)
    ))
}

/// The route of the chosen candidate, captioned with it; without agreement, only a caption.
pub fn negotiation_highlight(m: &Machine, r: &Report) -> Highlight {
    let Some(c) = r.chosen_candidate() else {
        return Highlight::default()
            .with_caption("no common interconnect: every candidate pair was refused");
    };
    let route = match &c.verdict {
        Verdict::Accepted(route) | Verdict::Vetoed { route, .. } => Some(*route),
        Verdict::Rejected(_) => None,
    };
    let e = r.bound.exporter_specs.get(usize::from(c.exporter_index));
    let i = r.bound.importer_specs.get(usize::from(c.importer_index));
    let memory = e.and_then(|e| match &e.memory {
        Some(MemorySpec::System(numa)) => Some(Memory::System { numa_node: *numa }),
        Some(MemorySpec::Device(d)) => m.find(*d).map(|f| Memory::Device(f.into())),
        None => e
            .device
            .and_then(|d| m.find(d))
            .map(|f| Memory::Device(f.into())),
    });
    let initiator = i.map(|i| match i.device.and_then(|d| m.find(d)) {
        Some(f) => Initiator::Device(f.into()),
        None => Initiator::Cpu,
    });
    let name = c.interconnect.name();
    let caption = match route.map(|r| r.kind) {
        Some(RouteKind::PrivateLink(f)) => {
            let fabric = r.bound.fabric_name(m, f).unwrap_or_else(|| f.to_string());
            format!("chosen: {name} over the private link {fabric}")
        }
        Some(kind) => format!("chosen: {name} over {kind}"),
        None => format!("chosen: {name}"),
    };
    let h = match (initiator, memory, route) {
        (Some(i), Some(mem), Some(route)) => Highlight::for_route(m, i, mem, route.kind),
        _ => None,
    };
    h.unwrap_or_default().with_caption(caption)
}
