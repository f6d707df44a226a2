//! `negotiate` for people: the offers, the choice with its route and quality, and every
//! candidate with its route or its reason.

use std::fmt::Write;

use dmabuf_negotiate::{Candidate, ChosenBy, Describe, FabricId, Policy, Verdict};
use pci_topology::Machine;

use super::words;
use crate::commands::negotiate::{Report, pci_pair};
use crate::scenario::{MemorySpec, OfferSpec, Side};
use crate::style::{self, BAD, DIM, FAIR, GOOD, HEADING, ID, LABEL};

/// An offer's arguments in words.
pub fn offer(o: &OfferSpec) -> String {
    let dev = o.device.map_or_else(String::new, |d| d.to_string());
    let mem = |m: &Option<MemorySpec>| match m {
        Some(MemorySpec::System(Some(n))) => format!("system memory (NUMA node {n})"),
        Some(MemorySpec::System(None)) => "system memory".to_owned(),
        Some(MemorySpec::Device(d)) => format!("memory of {d}"),
        None => "?".to_owned(),
    };
    let bar = |b: Option<(u8, u64, u64)>| {
        b.map_or_else(String::new, |(i, off, len)| {
            format!("BAR{i} of {dev} [{off:#x} + {len:#x}]")
        })
    };
    let fabric = o.fabric.clone().unwrap_or_default();
    let mut s = match (o.side, o.interconnect) {
        (Side::Exporter, "dma-addr") => mem(&o.memory),
        (Side::Exporter, "pci-bar") => bar(o.bar),
        (Side::Exporter, "vram") => format!("VRAM {} of {dev}", o.instance.unwrap_or(0)),
        (Side::Exporter, "private-iova") => format!("memory of {dev} on {fabric}"),
        (Side::Exporter, _) if o.bar.is_some() => format!("physical addresses of {}", bar(o.bar)),
        (Side::Exporter, _) => format!("physical addresses of {}", mem(&o.memory)),
        (Side::Importer, "dma-addr") => format!(
            "{dev}, {}",
            if o.peer2peer == Some(false) {
                "no P2P"
            } else {
                "accepts P2P"
            }
        ),
        (Side::Importer, "private-iova") => format!("{dev} on {fabric}"),
        (Side::Importer, "phys") => {
            let mut who = o.trust.map_or_else(|| "?".to_owned(), |t| t.to_string());
            if o.trust_from_machine {
                who.push_str(" (as the machine says of the device)");
            }
            if dev.is_empty() {
                format!("{who}, the CPU accesses")
            } else {
                format!("{who}, for {dev}")
            }
        }
        (Side::Importer, _) => dev,
    };
    if let Some(l) = &o.label {
        s.push_str(&format!("  {}", style::paint(DIM, format!("({l})"))));
    }
    s
}

fn pair(c: &Candidate) -> String {
    format!("e{} × i{}", c.exporter_index, c.importer_index)
}

/// Renders the report.
pub fn render(m: &Machine, r: &Report) -> String {
    let fabric = |f: FabricId| r.bound.fabric_name(m, f).unwrap_or_else(|| f.to_string());
    let names = r.names(m);
    let mut out = String::new();
    scenario_header(
        &mut out,
        &r.scenario,
        r.description.as_deref(),
        &r.source.describe(),
        m,
    );
    let _ = writeln!(
        out,
        "{}    {}",
        style::paint(LABEL, "policy"),
        match r.policy {
            Policy::BestRoute =>
                "best-route: the highest quality of route wins; ties by exporter order, then importer order",
            Policy::ExporterPriority =>
                "exporter-priority: the exporter's first entry that matches wins (importer order within it)",
        }
    );

    for (title, specs, tag) in [
        ("Exporter offers", &r.bound.exporter_specs, "e"),
        ("Importer offers", &r.bound.importer_specs, "i"),
    ] {
        let _ = writeln!(out, "\n{}", style::paint(HEADING, title));
        if specs.is_empty() {
            let _ = writeln!(out, "  none");
        }
        for s in specs {
            let _ = writeln!(
                out,
                "  {}  {:<12}  {}",
                style::paint(ID, format!("{tag}{}", s.index)),
                s.interconnect,
                offer(s)
            );
        }
    }

    let _ = writeln!(out);
    match r.chosen_candidate() {
        Some(c) => {
            let _ = writeln!(
                out,
                "{}  {} over {}",
                style::paint(HEADING, "Chosen"),
                style::paint(GOOD, c.interconnect.name()),
                style::paint(ID, pair(c))
            );
            if let Verdict::Accepted(route) = c.verdict {
                let _ = writeln!(
                    out,
                    "  {}    {}",
                    style::paint(LABEL, "route"),
                    words::route(&route, &fabric)
                );
                if let Some(alt) = r
                    .chosen
                    .and_then(|k| r.acs_caveats.get(k).copied().flatten())
                {
                    let _ = writeln!(
                        out,
                        "  {}   ACS state unknown on the path: computed as off; were it on: {alt}",
                        style::paint(FAIR, "caveat")
                    );
                }
                let q = route.quality();
                let _ = writeln!(
                    out,
                    "  {}  tier {} · {} · {} · {} hop{}",
                    style::paint(LABEL, "quality"),
                    crate::render::json::vocab::tier(q.tier),
                    words::bandwidth(q.bandwidth),
                    q.latency.map_or_else(
                        || style::paint(DIM, "latency unknown"),
                        |l| format!("{} ns", l.0)
                    ),
                    q.hops,
                    if q.hops == 1 { "" } else { "s" }
                );
            }
            let _ = writeln!(
                out,
                "  {}       {}",
                style::paint(LABEL, "by"),
                match r.chosen_by {
                    Some(ChosenBy::Exporter) => "the exporter, overriding the policy's first",
                    _ => "the policy (the exporter followed it)",
                }
            );
        }
        None => {
            let _ = writeln!(
                out,
                "{} every pair was refused; the table says why",
                style::paint(BAD, "No common interconnect:")
            );
        }
    }

    let _ = writeln!(
        out,
        "\n{}",
        style::paint(
            HEADING,
            "Candidates (exporter order, then importer order; rank under the policy)"
        )
    );
    let _ = writeln!(
        out,
        "  {:>4}  {:<7}  {:<12}  {:<8}  route or reason",
        "rank", "pair", "interconnect", "outcome"
    );
    for (k, c) in r.candidates.iter().enumerate() {
        let rank = r
            .rank_of(k)
            .map_or_else(|| "-".to_owned(), |x| x.to_string());
        let (outcome, detail) = match &c.verdict {
            Verdict::Accepted(route) => (
                style::paint(if r.chosen == Some(k) { GOOD } else { FAIR }, "accepted"),
                words::route(route, &fabric),
            ),
            Verdict::Vetoed { route, reason } => (
                style::paint(BAD, "vetoed"),
                format!("{reason} (route: {})", words::route(route, &fabric)),
            ),
            Verdict::Rejected(why) => {
                let mut text = why.named(&names).to_string();
                if let Some((p, cl)) = pci_pair(&r.bound, c) {
                    text.push_str(&style::paint(
                        DIM,
                        format!(" ({} explain {p} {cl})", r.source.command()),
                    ));
                }
                (style::paint(BAD, "rejected"), text)
            }
        };
        let mut detail = detail;
        if let Some(alt) = r.acs_caveats.get(k).copied().flatten() {
            detail.push_str(&style::paint(
                DIM,
                format!(" (ACS unknown on the path: computed as off; if on: {alt})"),
            ));
        }
        let _ = writeln!(
            out,
            "  {:>4}  {:<7}  {:<12}  {}  {detail}",
            rank,
            pair(c),
            c.interconnect.name(),
            style::pad(&outcome, 8)
        );
    }
    out
}

/// The first lines of a scenario's report, shared with `simulate`: the file, its description,
/// and the machine it runs on (with a note when its source collapsed switches, whose ports the
/// P2P distances then miss).
pub fn scenario_header(
    out: &mut String,
    scenario: &std::path::Path,
    description: Option<&str>,
    machine: &str,
    m: &Machine,
) {
    let _ = writeln!(
        out,
        "{}  {}",
        style::paint(LABEL, "scenario"),
        scenario.display()
    );
    if let Some(d) = description {
        for line in d.trim().lines() {
            let _ = writeln!(out, "          {}", line.trim());
        }
    }
    let _ = writeln!(out, "{}   {}", style::paint(LABEL, "machine"), machine);
    if m.switches_collapsed() {
        let _ = writeln!(
            out,
            "          {}",
            style::paint(
                FAIR,
                "this source collapses each PCIe switch into one node: P2P distances miss the \
                 switches' ports (the kernel's are larger)"
            )
        );
    }
}
