//! The picture as Graphviz DOT.
//!
//! One DOT node per PCI function (named `fn_DDDD_BB_DD_F`) and one per host bridge
//! (`hb_DDDD_BB`); a host bridge and its root ports form a cluster, and so do a switch's
//! upstream and downstream ports. Lines inside a root complex or a switch are dotted; PCI links
//! carry their speed and width, and are thicker the faster they are; private links are drawn
//! without constraining the layout, in their fabric's colour, with their bandwidth (in the
//! tooltip only when there are more than 16, as on NVSwitch machines). Children keep the
//! machine's order (`ordering=out`). Nodes and
//! edges of the highlighted route carry `class="route"` (which Graphviz copies into its SVG)
//! and the accent colour. Left to right, as the SVG picture.

use std::fmt::Write as _;

use pci_topology::{FunctionId, LinkKind, Machine};

use super::graph::{DeviceClass, EdgeKind, GraphOptions, MachineGraph, Node, NodeKind, PrivateEnd};
use super::highlight::Highlight;
use super::names::Names;

const ACCENT: &str = "#e8590c";
const REFUSED: &str = "#c92a2a";
/// Private links are labelled on the picture when there are at most this many.
const PRIVATE_LABELS_UP_TO: usize = 16;

/// The DOT picture of a machine, with `highlight` (built for the same machine) emphasized.
/// Uses the default [`GraphOptions`].
pub fn machine(m: &Machine, names: &dyn Names, highlight: Option<&Highlight>) -> String {
    render(&MachineGraph::new(
        m,
        names,
        &GraphOptions::default(),
        highlight,
    ))
}

/// A DOT string literal: quoted, with `"` and `\` escaped and line breaks as `\n`.
pub fn quote(text: &str) -> String {
    format!("\"{}\"", escape(text))
}

/// The inside of a DOT string literal: `"` and `\` escaped, line breaks as `\n`, other control
/// characters as spaces.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn fill_of(kind: NodeKind) -> (&'static str, &'static str) {
    match kind {
        NodeKind::HostBridge(_) => ("#dde7f2", "#3d5a80"),
        NodeKind::Switch => ("#e9edf2", "#52606d"),
        NodeKind::Bridge => ("#f3f4f6", "#7b8794"),
        NodeKind::Endpoint(c) => match c {
            DeviceClass::Gpu => ("#e7f0ff", "#2f6fde"),
            DeviceClass::Network => ("#f4ebfd", "#8e44ad"),
            DeviceClass::Storage => ("#fff7dc", "#b7791f"),
            DeviceClass::Accelerator => ("#e3f8f5", "#13877a"),
            DeviceClass::FabricSwitch => ("#eef8df", "#4d8a0f"),
            DeviceClass::HostBridgeFunction => ("#eef2f6", "#7b8794"),
            DeviceClass::Other | DeviceClass::Unknown => ("#ffffff", "#9aa5b1"),
        },
        NodeKind::Group => ("#f7f8fa", "#9aa5b1"),
    }
}

fn link_colour(kind: &LinkKind) -> &'static str {
    match kind {
        LinkKind::NvLink => "#4d8a0f",
        LinkKind::Xgmi => "#b5179e",
        LinkKind::Other(_) => "#6741d9",
    }
}

/// The DOT name of a function.
fn fn_name(g: &MachineGraph, f: FunctionId) -> String {
    g.bdf_of(f).map_or_else(
        || format!("fn_{}", f.0),
        |b| {
            format!(
                "fn_{:04x}_{:02x}_{:02x}_{:x}",
                b.domain, b.bus, b.device, b.function
            )
        },
    )
}

/// The DOT picture of a graph.
pub fn render(g: &MachineGraph) -> String {
    let refused = g.route.as_ref().is_some_and(|r| r.refused);
    let accent = if refused { REFUSED } else { ACCENT };
    let route_attrs = |on: bool| {
        if on {
            format!(
                r#", color="{accent}", penwidth=3, class="route{}""#,
                if refused { " refused" } else { "" }
            )
        } else {
            String::new()
        }
    };
    let mut out = String::with_capacity(1024 + g.nodes.len() * 256);
    out.push_str("digraph machine {\n");
    let mut caption = vec![g.title.clone()];
    caption.extend(g.summary.iter().cloned());
    caption.extend(g.notes.iter().cloned());
    if let Some(c) = g.route.as_ref().and_then(|r| r.caption.clone()) {
        caption.push(c);
    }
    // `\l` ends a left-justified line.
    let lines: Vec<String> = caption.iter().map(|l| escape(l)).collect();
    let label = format!("\"{}\\l\"", lines.join("\\l"));
    let _ = writeln!(
        out,
        "  graph [rankdir=LR, ordering=out, ranksep=0.8, nodesep=0.12, fontname=\"DejaVu Sans\", fontsize=11, labelloc=t, labeljust=l, label={label}];"
    );
    out.push_str("  node [shape=box, style=\"rounded,filled\", fontname=\"DejaVu Sans\", fontsize=10, fillcolor=\"#ffffff\", color=\"#9aa5b1\"];\n");
    out.push_str(
        "  edge [fontname=\"DejaVu Sans\", fontsize=9, color=\"#52606d\", arrowhead=none];\n",
    );

    for node in &g.nodes {
        write_node(&mut out, g, node, accent, &route_attrs);
    }

    out.push_str("  // PCI links and buses\n");
    for e in &g.edges {
        let tail = match e.tail {
            Some(f) => fn_name(g, f),
            None => g.node(e.parent).map_or_else(String::new, |n| n.key.clone()),
        };
        let mut attrs = Vec::new();
        if let Some(t) = &e.text {
            attrs.push(format!("label={}", quote(t)));
        }
        match e.kind {
            EdgeKind::Link => {
                let w = e.bandwidth.map_or(1.0, |b| {
                    (1.0 + (f64::from(b.max(1)) / 250.0).log2() * 0.35).clamp(1.0, 3.5)
                });
                attrs.push(format!("penwidth={w:.1}"));
            }
            EdgeKind::Internal => attrs.push("style=dotted".to_owned()),
            EdgeKind::Unknown => attrs.push("style=dashed".to_owned()),
            EdgeKind::Virtual => attrs.push("style=dotted, color=\"#9aa5b1\"".to_owned()),
        }
        // A list box stands for several functions: one edge to each.
        let members: Vec<(FunctionId, bool)> = match g.node(e.child) {
            Some(n) if n.kind == NodeKind::Group => n
                .lines
                .iter()
                .filter_map(|l| l.member.as_ref().map(|m| (m.0, l.on_route)))
                .collect(),
            _ => vec![(e.head, e.on_route)],
        };
        for (head, on) in members {
            let _ = writeln!(
                out,
                "  {tail} -> {} [{}{}];",
                fn_name(g, head),
                attrs.join(", "),
                route_attrs(on)
            );
        }
    }

    if let Some(r) = &g.route {
        if let [a, b] = r.host_bridges[..] {
            if a != b {
                let (Some(na), Some(nb)) = (g.node(a), g.node(b)) else {
                    return close(out);
                };
                let _ = writeln!(
                    out,
                    "  {} -> {} [style=dashed, constraint=false, label=\"through the CPU\"{}];",
                    na.key,
                    nb.key,
                    route_attrs(true)
                );
            }
        }
    }

    if !g.private_links.is_empty() {
        out.push_str("  // private links\n");
        let mut cpus: Vec<Option<u32>> = Vec::new();
        for p in &g.private_links {
            for e in [p.a, p.b] {
                if let PrivateEnd::Cpu(n) = e {
                    if !cpus.contains(&n) {
                        cpus.push(n);
                    }
                }
            }
        }
        cpus.sort();
        for n in cpus {
            let _ = writeln!(
                out,
                "  {} [label={}, shape=ellipse, fillcolor=\"#fdf2e9\", color=\"#9c4221\"];",
                cpu_name(n),
                quote(&n.map_or_else(
                    || "CPU".to_owned(),
                    |n| format!("CPU socket\nNUMA node {n}")
                ))
            );
        }
        // Many links (NVSwitch fabrics) keep their text in the tooltip only.
        let labelled = g.private_links.len() <= PRIVATE_LABELS_UP_TO;
        for p in &g.private_links {
            let end = |e: PrivateEnd, f: Option<FunctionId>| match (e, f) {
                (_, Some(f)) => fn_name(g, f),
                (PrivateEnd::Node(id), None) => {
                    g.node(id).map_or_else(String::new, |n| n.key.clone())
                }
                (PrivateEnd::Cpu(n), None) => cpu_name(n),
            };
            let _ = writeln!(
                out,
                "  {} -> {} [dir=none, constraint=false, style={}, color=\"{}\", fontcolor=\"{}\", {}tooltip={}{}];",
                end(p.a, p.a_function),
                end(p.b, p.b_function),
                if p.up { "bold" } else { "dashed" },
                link_colour(&p.kind),
                link_colour(&p.kind),
                if labelled {
                    format!("label={}, ", quote(&p.text))
                } else {
                    String::new()
                },
                quote(&format!("{} ({})", p.text, p.fabric_name)),
                route_attrs(p.on_route)
            );
        }
    }
    close(out)
}

fn close(mut out: String) -> String {
    out.push_str("}\n");
    out
}

fn cpu_name(numa: Option<u32>) -> String {
    numa.map_or_else(|| "cpu".to_owned(), |n| format!("cpu_numa_{n}"))
}

fn write_node(
    out: &mut String,
    g: &MachineGraph,
    node: &Node,
    accent: &str,
    route_attrs: &dyn Fn(bool) -> String,
) {
    let (fill, stroke) = fill_of(node.kind);
    let mut label = vec![node.title.clone()];
    label.extend(node.lines.iter().map(|l| l.text.clone()));
    let tooltip = quote(&node.tooltip);
    if node.kind == NodeKind::Group {
        for l in &node.lines {
            if let Some((f, tip)) = &l.member {
                let _ = writeln!(
                    out,
                    "  {} [label={}, fillcolor=\"{fill}\", color=\"{stroke}\", tooltip={}{}];",
                    fn_name(g, *f),
                    quote(&l.text),
                    quote(tip),
                    route_attrs(l.on_route)
                );
            }
        }
        return;
    }
    if node.ports.is_empty() && !matches!(node.kind, NodeKind::HostBridge(_)) {
        let name = node
            .function
            .map_or_else(|| node.key.clone(), |f| fn_name(g, f));
        let _ = writeln!(
            out,
            "  {name} [label={}, fillcolor=\"{fill}\", color=\"{stroke}\", tooltip={tooltip}{}];",
            quote(&label.join("\n")),
            route_attrs(node.on_route)
        );
        return;
    }
    // A host bridge or a switch: a cluster of its own node and its ports.
    let _ = writeln!(out, "  subgraph cluster_{} {{", node.key);
    let _ = writeln!(
        out,
        "    label={}; style=\"rounded,filled\"; fillcolor=\"#f7f9fb\"; color=\"{}\";",
        quote(&node.title),
        if node.on_route { accent } else { stroke }
    );
    let own = match node.function {
        Some(f) => fn_name(g, f),
        None => node.key.clone(),
    };
    let own_label: Vec<String> = node.lines.iter().map(|l| l.text.clone()).collect();
    let _ = writeln!(
        out,
        "    {own} [label={}, fillcolor=\"{fill}\", color=\"{stroke}\", tooltip={tooltip}{}];",
        quote(&own_label.join("\n")),
        route_attrs(node.on_route)
    );
    let port_kind = match node.kind {
        NodeKind::HostBridge(_) => "root port",
        _ => "downstream port",
    };
    for p in &node.ports {
        let mut text = format!("{port_kind}\n{}", p.label);
        if p.acs_redirect == Some(true) {
            text.push_str("\nACS redirect on");
        }
        let _ = writeln!(
            out,
            "    {} [label={}, fillcolor=\"{fill}\", color=\"{}\"{}];",
            fn_name(g, p.function),
            quote(&text),
            if p.acs_redirect == Some(true) {
                REFUSED
            } else {
                stroke
            },
            route_attrs(p.on_route)
        );
    }
    out.push_str("  }\n");
    for p in &node.ports {
        let _ = writeln!(
            out,
            "  {own} -> {} [style=dotted{}];",
            fn_name(g, p.function),
            route_attrs(p.on_route && node.on_route)
        );
    }
}
