//! `simulate` for people: the buffer, its placements and importers, then the timeline: for each
//! event what it did (or why it was refused), the buffer and what every importer holds
//! afterwards, broken invariants, and the expectations checked; then a summary.

use std::fmt::Write;

use dmabuf_negotiate::{Agreed, AgreementState, Describe, Policy, Validity};
use pci_topology::{LinkEnd, Machine};

use super::{negotiate, words};
use crate::commands::simulate::{Report, acs_caveat};
use crate::counts::count;
use crate::limits::MAX_IMPORTERS_SHOWN;
use crate::simulation::bind::{Action, ApertureSpec};
use crate::simulation::timeline::{Addresses, Effect, ImporterState, Step};
use crate::style::{self, BAD, DIM, FAIR, GOOD, HEADING, ID, LABEL};

/// `dma-addr over PCI P2P, bus addresses, distance 4 · 15.75 GB/s · 4 hops`.
fn agreed(m: &Machine, r: &Report, a: &Agreed) -> String {
    let fabric = |f| r.fabric(m, f);
    format!(
        "{} over {}",
        a.interconnect().name(),
        words::route(a.route(), &fabric)
    )
}

/// `dma-addr over PCI P2P, bus addresses, distance 4` (no quality figures).
fn agreed_short(m: &Machine, r: &Report, a: &Agreed) -> String {
    let fabric = |f| r.fabric(m, f);
    format!(
        "{} over {}",
        a.interconnect().name(),
        words::route_kind(a.route().kind, &fabric)
    )
}

fn caveat(m: &Machine, a: &Agreed) -> Option<String> {
    acs_caveat(m, a).map(|alt| {
        style::paint(
            DIM,
            format!("(ACS state unknown on the path: computed as off; were it on: {alt})"),
        )
    })
}

/// `DMA addresses of 0000:1a:00.0 0x39e000100000 + 2 MiB`.
fn addresses(m: &Machine, r: &Report, a: &Addresses) -> String {
    let space = a.space.named(&r.names(m)).to_string();
    let mut s = match a.ranges.first() {
        Some((start, len)) => format!("{space} {start:#x} + {}", words::size(*len)),
        None => format!("{space}, no range"),
    };
    if a.ranges.len() > 1 {
        let more = count((a.ranges.len() - 1) as u64, "more range");
        let _ = write!(s, " (and {more})");
    }
    s
}

fn action(m: &Machine, r: &Report, a: &Action) -> String {
    let who = |i: &usize| style::paint(ID, r.importer(*i));
    match a {
        Action::Attach(i) => format!("attach {}", who(i)),
        Action::Detach(i) => format!("detach {}", who(i)),
        Action::Map(i) => format!("map {}", who(i)),
        Action::Unmap(i) => format!("unmap {}", who(i)),
        Action::Pin(i) => format!("pin {}", who(i)),
        Action::Unpin(i) => format!("unpin {}", who(i)),
        Action::Access(i) => format!("access by {}", who(i)),
        Action::Move(p) => format!("move to {}", style::paint(ID, r.placement(*p))),
        Action::Revoke => "revoke".to_owned(),
        Action::Links { up, selection } => {
            let mut s = format!(
                "link {} on {}",
                if *up { "up" } else { "down" },
                style::paint(ID, r.fabric(m, selection.fabric))
            );
            match selection.ends.as_slice() {
                [] => s.push_str(" (every link)"),
                [a] => {
                    let _ = write!(s, " (every link of {a})");
                }
                [a, b, ..] => {
                    let _ = write!(s, " (between {a} and {b})");
                }
            }
            s
        }
        Action::DeviceReset { bdf, .. } => format!("reset of {}", style::paint(ID, bdf)),
    }
}

/// The links in words: one line per link, or one line for links that share an end
/// (`0000:19:00.0 ↔ 0000:c0:00.0, 0000:c1:00.0 (nvlink0)`).
fn links_words(m: &Machine, r: &Report, indices: &[usize]) -> Vec<String> {
    let end = |e: &LinkEnd| match e {
        LinkEnd::Function(f) => m.name(*f),
        LinkEnd::Cpu { numa_node: Some(n) } => format!("cpu:{n}"),
        LinkEnd::Cpu { numa_node: None } => "cpu".to_owned(),
    };
    let links: Vec<_> = indices.iter().filter_map(|&i| m.links().get(i)).collect();
    let Some(first) = links.first() else {
        return Vec::new();
    };
    let fabric = r.fabric(m, first.fabric);
    let same_fabric = links.iter().all(|l| l.fabric == first.fabric);
    for common in [first.a, first.b] {
        let others: Option<Vec<String>> = links
            .iter()
            .map(|l| {
                if l.a == common {
                    Some(end(&l.b))
                } else if l.b == common {
                    Some(end(&l.a))
                } else {
                    None
                }
            })
            .collect();
        if let (Some(others), true, true) = (others, same_fabric, links.len() > 1) {
            return vec![format!(
                "{} ↔ {} ({fabric}, {})",
                end(&common),
                others.join(", "),
                count(links.len() as u64, "bundle")
            )];
        }
    }
    links
        .iter()
        .map(|l| {
            format!(
                "{} ↔ {} ×{} ({})",
                end(&l.a),
                end(&l.b),
                l.count,
                r.fabric(m, l.fabric)
            )
        })
        .collect()
}

fn effect(m: &Machine, r: &Report, e: &Effect) -> Vec<String> {
    let name = |i: &usize| style::paint(ID, r.importer(*i));
    match e {
        Effect::Agreed {
            importer,
            agreed: a,
        } => {
            let mut v = vec![format!(
                "{} agreed {}",
                name(importer),
                style::paint(GOOD, agreed(m, r, a))
            )];
            v.extend(caveat(m, a));
            v
        }
        Effect::Migrated {
            from,
            to,
            generation,
            renegotiate,
        } => {
            let mut s = format!(
                "moved {} → {} ({generation})",
                style::paint(ID, r.placement(*from)),
                style::paint(ID, r.placement(*to))
            );
            if !renegotiate.is_empty() {
                let _ = write!(
                    s,
                    "; renegotiate at their next map: {}",
                    r.importers(renegotiate)
                );
            }
            vec![s]
        }
        Effect::Invalidated {
            importers,
            generation,
        } => vec![style::paint(
            FAIR,
            format!(
                "invalidated {}: mappings issued before {generation} are stale",
                r.importers(importers)
            ),
        )],
        Effect::Renegotiated { importer, change } => {
            // When only the route's quality changed, show it on both sides.
            let from = if change.from.route().kind == change.to.route().kind
                && !change.interconnect_changed()
            {
                agreed(m, r, &change.from)
            } else {
                agreed_short(m, r, &change.from)
            };
            let mut v = vec![format!(
                "{} renegotiated: {from} → {}",
                name(importer),
                style::paint(GOOD, agreed(m, r, &change.to))
            )];
            v.extend(caveat(m, &change.to));
            v
        }
        Effect::Mapped {
            importer,
            generation,
            addresses: a,
        } => vec![format!(
            "{} mapped in {generation}: {}",
            name(importer),
            addresses(m, r, a)
        )],
        Effect::Unmapped {
            importer,
            generation,
        } => vec![format!(
            "{} gave back its mapping of {generation}",
            name(importer)
        )],
        Effect::Pinned { importer, pins } => vec![format!(
            "{} pinned the buffer ({})",
            name(importer),
            count(*pins, "pin")
        )],
        Effect::Unpinned { importer, pins } => {
            vec![format!("{} released a pin ({pins} left)", name(importer))]
        }
        Effect::Detached { importer } => vec![format!("{} detached", name(importer))],
        Effect::Revoked {
            reason,
            generation,
            unrevocable,
        } => {
            let mut v = vec![style::paint(
                BAD,
                format!(
                    "revoked for good ({}), {generation}: no mapping is usable, nothing maps again",
                    reason.named(&r.names(m))
                ),
            )];
            if !unrevocable.is_empty() {
                v.push(format!(
                    "{} cannot give their mappings back: they must be told out of band",
                    r.importers(unrevocable)
                ));
            }
            v
        }
        Effect::ImporterReset {
            importers,
            generation,
        } => vec![format!(
            "an importer's device was reset ({generation}): {} must map again; the buffer is not revoked",
            r.importers(importers)
        )],
        Effect::Lost { importer, reason } => vec![style::paint(
            BAD,
            format!(
                "{} lost: {}",
                r.importer(*importer),
                reason.named(&r.names(m))
            ),
        )],
        Effect::Recovered {
            importer,
            agreed: a,
        } => vec![format!(
            "{} recovered: {}",
            name(importer),
            style::paint(GOOD, agreed(m, r, a))
        )],
        Effect::NotMoved { why } => vec![format!(
            "the buffer was not moved: {}",
            why.named(&r.names(m))
        )],
        Effect::Links { links, up } if links.is_empty() => vec![style::paint(
            DIM,
            format!(
                "no link changed (already {})",
                if *up { "up" } else { "down" }
            ),
        )],
        Effect::Links { links, up } => {
            let state = if *up {
                style::paint(GOOD, "up")
            } else {
                style::paint(BAD, "down")
            };
            links_words(m, r, links)
                .into_iter()
                .map(|l| format!("{l} {state}"))
                .collect()
        }
        Effect::Accessed {
            importer,
            addresses: a,
        } => vec![format!(
            "{} used its mapping: {}",
            name(importer),
            addresses(m, r, a)
        )],
        Effect::Unaffected => vec![style::paint(DIM, "no attachment affected")],
    }
}

/// The agreement and mapping lines of one importer.
fn importer_lines(m: &Machine, r: &Report, s: &ImporterState) -> (String, String) {
    let agreement = match &s.agreement {
        None => return (style::paint(DIM, "not attached"), String::new()),
        Some(AgreementState::Current(a)) => format!("current: {}", agreed_short(m, r, a)),
        Some(AgreementState::Outdated { previous }) => style::paint(
            FAIR,
            format!(
                "outdated: renegotiates at its next map (was {})",
                agreed_short(m, r, previous)
            ),
        ),
        Some(AgreementState::Lost { previous, .. }) => style::paint(
            BAD,
            format!(
                "lost: reaches the buffer by nothing (was {})",
                agreed_short(m, r, previous)
            ),
        ),
    };
    let mut mapping = match &s.mapping {
        None => style::paint(DIM, "no mapping"),
        Some(ms) => {
            let g = ms.holding.handle.generation();
            match ms.holding.validity {
                Validity::Valid => format!(
                    "mapping {g} {}: {}",
                    style::paint(GOOD, "valid"),
                    ms.addresses
                        .as_ref()
                        .map_or_else(String::new, |a| addresses(m, r, a))
                ),
                Validity::Stale { valid_from } => format!(
                    "mapping {g} {} (valid only from {valid_from}): no address",
                    style::paint(FAIR, "stale")
                ),
                Validity::Revoked(why) => format!(
                    "mapping {g} {} ({}): no address",
                    style::paint(BAD, "revoked"),
                    why.named(&r.names(m))
                ),
            }
        }
    };
    if s.pins > 0 {
        let _ = write!(mapping, " · {}", count(s.pins, "pin"));
    } else if s.pinning {
        mapping.push_str(" · pins the buffer (static)");
    }
    (agreement, mapping)
}

fn aperture(a: &ApertureSpec) -> String {
    format!(
        "BAR{}: CPU {:#x}, bus {:#x}{}, {}{}",
        a.bar,
        a.cpu,
        a.bus,
        if a.bus_assumed {
            " (taken equal to the CPU address, as on x86)"
        } else {
            ""
        },
        words::size(a.len),
        if a.from_machine {
            ", from the machine"
        } else {
            ", from the scenario"
        }
    )
}

fn header(m: &Machine, r: &Report, out: &mut String) {
    let b = &r.bound;
    negotiate::scenario_header(
        out,
        &r.scenario,
        r.description.as_deref(),
        &r.source.describe(),
        m,
    );
    let policy = b.policy.negotiation_policy();
    let _ = writeln!(
        out,
        "{}    {} exported by {} · {} · {} · {}",
        style::paint(LABEL, "buffer"),
        words::size(b.size),
        style::paint(ID, b.exporter_bdf),
        if b.policy.may_migrate() {
            "may migrate"
        } else {
            "does not migrate"
        },
        if b.policy.is_revocable() {
            "revocable"
        } else {
            "not revocable"
        },
        match policy {
            Policy::BestRoute => "best-route",
            Policy::ExporterPriority => "exporter-priority",
        }
    );

    let _ = writeln!(
        out,
        "\n{}",
        style::paint(HEADING, "Placements (the exporter's order of preference)")
    );
    let width = b.placements.iter().map(|p| p.name.len()).max().unwrap_or(0);
    let indent = " ".repeat(width + 4);
    for (i, p) in b.placements.iter().enumerate() {
        let mut first = format!(
            "  {}  {}",
            style::pad(&style::paint(ID, &p.name), width),
            r.placement_words(i)
        );
        if let Some(l) = &p.label {
            let _ = write!(first, "  {}", style::paint(DIM, format!("({l})")));
        }
        if i == b.start && b.start != 0 {
            first.push_str(" · the buffer starts here");
        }
        let _ = writeln!(out, "{first}");
        let offers: Vec<String> = b
            .policy
            .placements()
            .get(i)
            .map(|o| {
                o.offerings()
                    .iter()
                    .map(|x| x.named(&r.names(m)).to_string())
                    .collect()
            })
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{indent}offers {}{}",
            if offers.is_empty() {
                "nothing".to_owned()
            } else {
                offers.join(", ")
            },
            style::paint(
                DIM,
                if p.offers_given {
                    " (as the scenario says)"
                } else {
                    " (the core's defaults)"
                }
            )
        );
        match (&p.aperture, p.memory) {
            (Some(a), _) => {
                let _ = writeln!(out, "{indent}aperture {}", aperture(a));
            }
            (None, "vram") => {
                let _ = writeln!(
                    out,
                    "{indent}{}",
                    style::paint(
                        DIM,
                        "no BAR window known: no P2P or physical addresses for this placement"
                    )
                );
            }
            _ => {}
        }
        for w in &p.fabrics {
            let _ = writeln!(
                out,
                "{indent}on {}: IOVA {:#x}, {}",
                r.fabric(m, w.fabric),
                w.iova,
                words::size(w.len)
            );
        }
    }

    let _ = writeln!(out, "\n{}", style::paint(HEADING, "Importers"));
    if b.importers.is_empty() {
        let _ = writeln!(out, "  none");
    }
    let width = b.importers.iter().map(|i| i.name.len()).max().unwrap_or(0);
    let indent = " ".repeat(width + 4);
    for i in &b.importers {
        let mut first = format!(
            "  {}  {}",
            style::pad(&style::paint(ID, &i.name), width),
            i.importer.mode()
        );
        if let Some(l) = &i.label {
            let _ = write!(first, "  {}", style::paint(DIM, format!("({l})")));
        }
        let _ = writeln!(out, "{first}");
        for o in &i.offers {
            let _ = writeln!(
                out,
                "{indent}{}  {:<12}  {}",
                style::paint(ID, format!("i{}", o.index)),
                o.interconnect,
                negotiate::offer(o)
            );
        }
    }
}

fn step(m: &Machine, r: &Report, k: usize, s: &Step, before: Option<&Step>, out: &mut String) {
    let event = s.event.and_then(|e| r.bound.events.get(e));
    let mut title = match event {
        Some(e) => format!("#{k}  {}", action(m, r, &e.action)),
        None => format!("#{k}  start"),
    };
    if let Some(e) = event {
        let _ = write!(title, "  {}", style::paint(DIM, format!("line {}", e.line)));
    }
    let _ = writeln!(out, "\n{}", title);
    let pad = "    ";
    if let Some(note) = event.and_then(|e| e.note.as_ref()) {
        for line in note.trim().lines() {
            let _ = writeln!(out, "{pad}{}", style::paint(DIM, line.trim()));
        }
    }
    if let Some(refusal) = &s.refusal {
        let _ = writeln!(
            out,
            "{pad}{} {}",
            style::paint(BAD, format!("refused ({}):", refusal.code())),
            refusal.named(&r.names(m))
        );
    }
    for e in &s.effects {
        for (n, line) in effect(m, r, e).iter().enumerate() {
            let _ = writeln!(out, "{pad}{} {line}", if n == 0 { "→" } else { " " });
        }
    }
    // The state afterwards.
    let b = &s.buffer;
    let mut buffer = format!(
        "in {} ({})",
        style::paint(ID, r.placement(b.placement)),
        b.generation
    );
    if let Some(why) = b.revoked {
        let _ = write!(
            buffer,
            " · {}",
            style::paint(BAD, format!("revoked ({})", why.named(&r.names(m))))
        );
    }
    if !b.pinned_by.is_empty() {
        let _ = write!(buffer, " · pinned by {}", r.importers(&b.pinned_by));
    }
    let width = r
        .bound
        .importers
        .iter()
        .map(|i| i.name.len())
        .max()
        .unwrap_or(0)
        .max("buffer".len());
    let _ = writeln!(
        out,
        "{pad}{}  {buffer}",
        style::pad(&style::paint(LABEL, "buffer"), width)
    );
    // Every importer, or in a large simulation those the event changed (a bounded number).
    let every = s.importers.len() <= MAX_IMPORTERS_SHOWN;
    let (mut unchanged, mut not_shown, mut shown) = (0usize, 0usize, 0usize);
    for (i, state) in s.importers.iter().enumerate() {
        if !every {
            if before.is_some_and(|b| b.importers.get(i) == Some(state)) {
                unchanged += 1;
                continue;
            }
            if shown == MAX_IMPORTERS_SHOWN {
                not_shown += 1;
                continue;
            }
        }
        shown += 1;
        let (agreement, mapping) = importer_lines(m, r, state);
        let _ = writeln!(
            out,
            "{pad}{}  {agreement}",
            style::pad(&style::paint(ID, r.importer(i)), width)
        );
        if !mapping.is_empty() {
            let _ = writeln!(out, "{pad}{}  {mapping}", " ".repeat(width));
        }
    }
    if !every {
        let mut rest = Vec::new();
        if not_shown > 0 {
            rest.push(format!(
                "{} changed",
                count(not_shown as u64, "more importer")
            ));
        }
        if unchanged > 0 {
            rest.push(format!("{} unchanged", count(unchanged as u64, "importer")));
        }
        if !rest.is_empty() {
            let _ = writeln!(
                out,
                "{pad}{}",
                style::paint(
                    DIM,
                    format!("({}; --format json has every state)", rest.join(", "))
                )
            );
        }
    }
    for v in &s.violations {
        let _ = writeln!(
            out,
            "{pad}{} {}",
            style::paint(BAD, "✗ invariant broken:"),
            v.named(&r.names(m))
        );
    }
    expectations(s, pad, out);
}

/// The expectations met on wrapped lines, then each failed one on its own line.
fn expectations(s: &Step, pad: &str, out: &mut String) {
    const WIDTH: usize = 100;
    let label = style::paint(LABEL, "expect");
    let mut line = String::new();
    let mut first = true;
    for c in s.expectations.iter().filter(|c| c.met) {
        let item = format!("{} {} {}", style::paint(GOOD, "✓"), c.subject, c.expected);
        if !line.is_empty() && style::width(&line) + 2 + style::width(&item) > WIDTH {
            let _ = writeln!(out, "{line}");
            line.clear();
        }
        if line.is_empty() {
            let head = if first {
                label.clone()
            } else {
                " ".repeat("expect".len())
            };
            first = false;
            line = format!("{pad}{head}  {item}");
        } else {
            let _ = write!(line, "  {item}");
        }
    }
    if !line.is_empty() {
        let _ = writeln!(out, "{line}");
    }
    for c in s.expectations.iter().filter(|c| !c.met) {
        let head = if first {
            label.clone()
        } else {
            " ".repeat("expect".len())
        };
        first = false;
        let _ = writeln!(
            out,
            "{pad}{head}  {} {}: expected {}, found {}  {}",
            style::paint(BAD, "✗"),
            c.subject,
            c.expected,
            style::paint(BAD, &c.found),
            style::paint(DIM, format!("({})", c.at))
        );
    }
}

/// Renders the report.
pub fn render(m: &Machine, r: &Report) -> String {
    let mut out = String::new();
    header(m, r, &mut out);
    let _ = writeln!(out, "\n{}", style::paint(HEADING, "Timeline"));
    let mut before = None;
    for (k, s) in r.timeline.steps.iter().enumerate() {
        step(m, r, k, s, before, &mut out);
        before = Some(s);
    }
    let events = r.timeline.steps.len().saturating_sub(1);
    let refused = r
        .timeline
        .steps
        .iter()
        .filter(|s| s.refusal.is_some())
        .count();
    let (all, failed) = r.expectation_counts();
    let mut summary = format!("{} run ({refused} refused)", count(events as u64, "event"));
    match r.timeline.broken() {
        Some(s) => {
            let _ = write!(
                summary,
                " · {}",
                style::paint(
                    BAD,
                    format!(
                        "{} broken after #{}: stopped there",
                        count(s.violations.len() as u64, "invariant"),
                        r.timeline
                            .steps
                            .iter()
                            .position(|x| std::ptr::eq(x, s))
                            .unwrap_or(0)
                    )
                )
            );
        }
        None => summary.push_str(" · invariants held after every event"),
    }
    match (all, failed) {
        (0, _) => summary.push_str(" · no expectations stated"),
        (n, 0) => {
            let _ = write!(
                summary,
                " · {}",
                style::paint(GOOD, format!("{} met", count(n as u64, "expectation")))
            );
        }
        (n, f) => {
            let _ = write!(
                summary,
                " · {}",
                style::paint(
                    BAD,
                    format!("{f} of {} failed", count(n as u64, "expectation"))
                )
            );
        }
    }
    let _ = writeln!(out, "\n{}  {summary}", style::paint(HEADING, "Summary"));
    out
}
