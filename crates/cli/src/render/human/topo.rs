//! `topo` for people: the machine as a tree, like `lspci -tv` with what P2P depends on.

use std::fmt::Write;

use pci_topology::{FunctionId, HostBridgeId, LinkEnd, Machine, RootDeviceUnknown};

use super::words;
use crate::counts::count;
use crate::source::MachineSource;
use crate::style::{self, BAD, DIM, FAIR, GOOD, HEADING, ID, LABEL};

/// Renders the tree.
pub fn render(m: &Machine, source: &MachineSource) -> String {
    let mut out = String::new();
    header(&mut out, m, source);
    for (i, _) in m.host_bridges().iter().enumerate() {
        let h = HostBridgeId(i as u32);
        out.push('\n');
        host_bridge(&mut out, m, h);
        tree(&mut out, m, m.root_functions(h));
    }
    out.push('\n');
    private_links(&mut out, m);
    out
}

fn header(out: &mut String, m: &Machine, source: &MachineSource) {
    let fns = m.functions();
    let bridges = fns.iter().filter(|f| f.is_bridge()).count();
    let vfs = fns.iter().filter(|f| f.is_virtfn()).count();
    let _ = writeln!(
        out,
        "{}  {}",
        style::paint(LABEL, "machine"),
        source.describe()
    );
    let _ = writeln!(
        out,
        "{}      {}",
        style::paint(LABEL, "cpu"),
        words::cpu(m.cpu())
    );
    let _ = writeln!(
        out,
        "{}      {}, {} ({}, {}{})",
        style::paint(LABEL, "pci"),
        count(m.host_bridges().len() as u64, "host bridge"),
        count(fns.len() as u64, "function"),
        count(bridges as u64, "bridge"),
        count((fns.len() - bridges) as u64, "endpoint"),
        if vfs > 0 {
            format!(", {}", count(vfs as u64, "virtual function"))
        } else {
            String::new()
        }
    );
    if let Some(note) = words::guest_note(m) {
        let _ = writeln!(out, "{}    {note}", style::paint(LABEL, "guest"));
    }
    if m.switches_collapsed() {
        let _ = writeln!(
            out,
            "{}",
            style::paint(
                FAIR,
                "note: this source collapses each PCIe switch into one node; ports are missing"
            )
        );
    }
}

/// Whether P2P traffic may cross this host bridge, and why.
fn host_bridge_p2p(m: &Machine, h: HostBridgeId) -> String {
    if m.cpu().supports_p2pdma() {
        return style::paint(GOOD, "P2P through it allowed (AMD Zen or later CPU)");
    }
    let l = m.whitelist_lookup(h, true);
    let cpu_unknown = m.cpu().p2pdma_rule().is_none();
    let unless_zen = if cpu_unknown {
        " unless the CPU, whose vendor the source does not give, is an AMD Zen"
    } else {
        ""
    };
    match &l.unknown {
        Some(RootDeviceUnknown::NotListed { .. }) => {
            let inferred = m.inferred_root_complex(true).map_or_else(String::new, |i| {
                format!(
                    "; inferred from the CPU, {}, not known: most likely {:04x}:{:04x}, {}",
                    i.from_cpu,
                    i.vendor,
                    i.device,
                    if i.allows {
                        "whitelisted"
                    } else {
                        "not whitelisted"
                    }
                )
            });
            return style::paint(
                FAIR,
                format!(
                    "P2P through it not known: the device Linux checks is not in the source{inferred}"
                ),
            );
        }
        Some(RootDeviceUnknown::IdsUnknown { function }) => {
            return style::paint(
                FAIR,
                format!(
                    "P2P through it not known: the source does not give the IDs of {}, the device Linux checks",
                    m.name(*function)
                ),
            );
        }
        _ => {}
    }
    match (l.device, &l.entry) {
        (Some(_), Some(e)) if e.requires_same_host_bridge => style::paint(
            GOOD,
            format!("P2P through it allowed within this host bridge (whitelisted: {e})"),
        ),
        (Some(_), Some(e)) => {
            style::paint(GOOD, format!("P2P through it allowed (whitelisted: {e})"))
        }
        (Some(d), None) => style::paint(
            BAD,
            format!(
                "P2P through it refused: {} [{}] is not in the {} whitelist{unless_zen}",
                m.name(d),
                m.function(d).map_or_else(String::new, |f| f.id_string()),
                m.whitelist().release
            ),
        ),
        (None, _) => match l.unknown_first {
            Some(f) => {
                let if_root_port = m
                    .function(f)
                    .and_then(|x| m.whitelist().lookup(x.vendor?, x.device?))
                    .map_or_else(
                        || "not whitelisted either".to_owned(),
                        |e| format!("whitelisted: {e}"),
                    );
                format!(
                    "{} (were it a root port: {if_root_port})",
                    style::paint(
                        BAD,
                        format!(
                            "P2P through it refused: its first function {} is not 00.0 and its port type is unknown",
                            m.name(f)
                        )
                    )
                )
            }
            None => style::paint(
                BAD,
                format!(
                    "P2P through it refused: no device to check against the whitelist{unless_zen}"
                ),
            ),
        },
    }
}

fn host_bridge(out: &mut String, m: &Machine, h: HostBridgeId) {
    let numa = m.host_bridge(h).and_then(|hb| hb.numa_node);
    let _ = writeln!(
        out,
        "{}  host bridge · {} · {}",
        style::paint(ID, words::host_bridge(m, h)),
        words::numa(numa),
        host_bridge_p2p(m, h)
    );
}

/// The functions below `roots`, depth first, without recursion (a chain of any depth is drawn
/// with an explicit stack).
fn tree(out: &mut String, m: &Machine, roots: &[FunctionId]) {
    // Each function with the prefix of its lines and whether it is the last of its siblings.
    let mut stack: Vec<(FunctionId, String, bool)> = Vec::new();
    let push = |stack: &mut Vec<_>, ids: &[FunctionId], prefix: &str| {
        for (k, &c) in ids.iter().enumerate().rev() {
            stack.push((c, prefix.to_owned(), k + 1 == ids.len()));
        }
    };
    push(&mut stack, roots, "");
    while let Some((id, prefix, last)) = stack.pop() {
        if let Some(next) = node(out, m, id, &prefix, last) {
            push(&mut stack, m.children(id), &next);
        }
    }
}

/// One function's lines; gives the prefix of its children's lines.
fn node(out: &mut String, m: &Machine, id: FunctionId, prefix: &str, last: bool) -> Option<String> {
    let f = m.function(id)?;
    let (branch, cont) = if last {
        ("└─ ", "   ")
    } else {
        ("├─ ", "│  ")
    };
    let kids = m.children(id);
    let _ = write!(
        out,
        "{prefix}{branch}{}  {}",
        style::paint(ID, f.bdf),
        words::function_label(f)
    );
    if !f.listed {
        let _ = write!(
            out,
            " {}",
            style::paint(DIM, "(not in the source's device list)")
        );
    }
    out.push('\n');
    let detail = format!(
        "{prefix}{cont}{}",
        if kids.is_empty() { "   " } else { "│  " }
    );
    let class = match f.class {
        Some(c) => format!(
            "{} ({c})",
            crate::names::class(c).unwrap_or("unknown class")
        ),
        None => style::paint(DIM, "class unknown"),
    };
    let mut first = vec![class, words::port_type(f)];
    if f.is_pcie != Some(false) {
        first.push(words::link(f));
        if let Some(u) = m.uplink(id).filter(|u| u.trained_down() == Some(true)) {
            first.push(style::paint(
                FAIR,
                format!(
                    "trained down: it can do {} ({}), routes count that",
                    words::link_status(&u.capable_link).unwrap_or_default(),
                    words::bandwidth(u.capable)
                ),
            ));
        }
    }
    let _ = writeln!(out, "{detail}{}", first.join(" · "));
    let mut second = vec![
        words::acs(f.acs),
        words::iommu(m, f),
        words::numa(m.numa_node(id)),
        words::driver(f),
    ];
    if let Some(p) = &f.p2pmem {
        second.push(style::paint(GOOD, words::p2pmem(p)));
    }
    if let Some(pf) = f.physfn {
        second.push(format!("virtual function of {}", m.name(pf)));
    }
    if let Some(n) = f.sriov_numvfs.filter(|&n| n > 0) {
        second.push(count(n, "virtual function"));
    }
    if let Some(t) = f.trust.filter(|t| t.is_trusted()) {
        second.push(format!("importers trusted as {t}"));
    }
    if f.fabric_switch {
        second.push("private-link switch".to_owned());
    }
    if !f.os_devices.is_empty() {
        second.push(f.os_devices.join(" "));
    }
    let _ = writeln!(out, "{detail}{}", second.join(" · "));
    Some(format!("{prefix}{cont}"))
}

fn end(m: &Machine, e: LinkEnd) -> String {
    match e {
        LinkEnd::Function(f) => m.name(f),
        LinkEnd::Cpu { numa_node: Some(n) } => format!("CPU (NUMA {n})"),
        LinkEnd::Cpu { numa_node: None } => "CPU".to_owned(),
    }
}

fn private_links(out: &mut String, m: &Machine) {
    let _ = writeln!(out, "{}", style::paint(HEADING, "Private links"));
    if m.fabrics().is_empty() {
        let _ = writeln!(out, "  none known to this source");
        return;
    }
    for (i, fab) in m.fabrics().iter().enumerate() {
        let _ = writeln!(out, "  {} ({})", style::paint(ID, &fab.name), fab.kind);
        let links: Vec<_> = m
            .links()
            .iter()
            .filter(|l| l.fabric.0 as usize == i)
            .collect();
        if links.is_empty() {
            let _ = writeln!(out, "    no links");
        }
        for l in links {
            let each = l
                .bandwidth
                .map_or_else(|| "bandwidth unknown".to_owned(), |b| format!("{b} each"));
            let total = l
                .total_bandwidth()
                .map_or_else(String::new, |b| format!(", {b} in all"));
            let nccl = l.nccl_bandwidth.map_or_else(String::new, |b| {
                style::paint(DIM, format!(" (NCCL's figure: {b} each)"))
            });
            let total = format!("{total}{nccl}");
            let latency = l.latency.map_or_else(String::new, |x| format!(" · {x}"));
            let state = if l.up {
                style::paint(GOOD, "up")
            } else {
                style::paint(BAD, "down")
            };
            let _ = writeln!(
                out,
                "    {} ↔ {}  ×{} · {each}{total}{latency} · {state}",
                end(m, l.a),
                end(m, l.b),
                l.count
            );
        }
    }
}
