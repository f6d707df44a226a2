//! The picture as SVG, drawn here: no Graphviz, no fonts, no layout engine needed.
//!
//! A header (title, what the machine is, what was inferred, the route's caption), the machine
//! laid out by [`super::layout`], and a legend of what the picture uses. Every box, port, line
//! and private link is an SVG group with a class saying what it is (`node endpoint gpu`,
//! `port`, `edge link`, `private-link nvlink`) and data attributes naming it (`data-bdf`,
//! `data-host-bridge`, `data-link`); elements on the highlighted route also carry the class
//! `route` (and `refused` when the route was refused). Boxes have a tooltip (`<title>`) with
//! everything known about the function. Text is XML-escaped and fitted to its box.

use std::fmt::Write as _;

use pci_topology::{LinkKind, Machine};

use super::graph::{
    DeviceClass, EdgeKind, GraphOptions, LineStyle, MachineGraph, NodeKind, PrivateEnd,
};
use super::highlight::Highlight;
use super::layout::{LABEL_SIZE, Layout, MARGIN_LEFT, Rect, layout};
use super::names::Names;
use super::text::{Face, ellipsize, width, xml_escape};

const ACCENT: &str = "#e8590c";
const REFUSED: &str = "#c92a2a";
const HEADER_TITLE: f32 = 17.0;
const HEADER_LINE: f32 = 11.5;
const LEGEND_SIZE: f32 = 10.5;
const MIN_WIDTH: f32 = 640.0;

/// The SVG picture of a machine, with `highlight` (built for the same machine) drawn
/// emphasized. Uses the default [`GraphOptions`].
pub fn machine(m: &Machine, names: &dyn Names, highlight: Option<&Highlight>) -> String {
    render(&MachineGraph::new(
        m,
        names,
        &GraphOptions::default(),
        highlight,
    ))
}

/// The SVG picture of a graph.
pub fn render(g: &MachineGraph) -> String {
    let lay = layout(g);
    let refused = g.route.as_ref().is_some_and(|r| r.refused);
    let accent = if refused { REFUSED } else { ACCENT };

    // Header.
    let mut header: Vec<(String, Face, f32, &str)> =
        vec![(g.title.clone(), Face::SansBold, HEADER_TITLE, "title")];
    for s in &g.summary {
        header.push((s.clone(), Face::Sans, HEADER_LINE, "summary"));
    }
    for n in &g.notes {
        header.push((n.clone(), Face::Sans, HEADER_LINE, "note"));
    }
    if let Some(c) = g.route.as_ref().and_then(|r| r.caption.as_ref()) {
        header.push((c.clone(), Face::SansBold, HEADER_LINE + 0.5, "caption"));
    }
    let header_w = header
        .iter()
        .map(|(t, f, s, _)| width(t, *f, *s))
        .fold(0.0f32, f32::max)
        + 2.0 * 16.0;
    let total_w = lay.width.max(MIN_WIDTH).max(header_w.min(1600.0));
    let mut header_h = 14.0;
    let mut header_svg = String::new();
    for (k, (t, f, s, class)) in header.iter().enumerate() {
        header_h += if k == 0 { s + 4.0 } else { s + 5.0 };
        let t = ellipsize(t, *f, *s, total_w - 32.0);
        let _ = writeln!(
            header_svg,
            r#"<text class="{class}" x="16" y="{:.1}">{}</text>"#,
            header_h,
            xml_escape(&t)
        );
    }
    header_h += 18.0;

    // Legend.
    let items = legend_items(g, refused);
    let (legend_svg, legend_h) = legend(&items, total_w, accent);

    let total_h = header_h + lay.height + 28.0 + legend_h + 12.0;
    let mut out = String::with_capacity(4096 + g.nodes.len() * 1024);
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0}" height="{h:.0}" viewBox="0 0 {w:.0} {h:.0}" font-family="{fam}" font-size="{LEGEND_SIZE}">"#,
        w = total_w.ceil(),
        h = total_h.ceil(),
        fam = xml_escape(Face::Sans.family())
    );
    let _ = writeln!(out, "<title>{}</title>", xml_escape(&g.title));
    out.push_str(&style(accent));
    let _ = writeln!(
        out,
        r##"<rect class="background" x="0" y="0" width="{:.0}" height="{:.0}" fill="#ffffff"/>"##,
        total_w.ceil(),
        total_h.ceil()
    );
    let _ = writeln!(out, r#"<g class="header">"#);
    out.push_str(&header_svg);
    out.push_str("</g>\n");
    let _ = writeln!(
        out,
        r#"<g class="machine" transform="translate(0,{header_h:.1})">"#
    );
    draw_machine(&mut out, g, &lay);
    out.push_str("</g>\n");
    let _ = writeln!(
        out,
        r#"<g class="legend" transform="translate(0,{:.1})">"#,
        header_h + lay.height + 28.0
    );
    out.push_str(&legend_svg);
    out.push_str("</g>\n</svg>\n");
    out
}

fn style(accent: &str) -> String {
    format!(
        r#"<style>
text {{ fill: #1f2933; }}
.header .title {{ font-size: {HEADER_TITLE}px; font-weight: bold; }}
.header .summary {{ font-size: {HEADER_LINE}px; fill: #3e4c59; }}
.header .note {{ font-size: {HEADER_LINE}px; font-style: italic; fill: #7b8794; }}
.header .caption {{ font-size: {cap}px; font-weight: bold; fill: {accent}; }}
.band rect {{ fill: #f5f7fa; stroke: #d9e2ec; }}
.band text {{ font-size: 11px; font-weight: bold; fill: #627d98; }}
.node rect.box {{ stroke-width: 1.2; }}
.node rect.head {{ stroke: none; }}
.node.spans > rect.box {{ fill-opacity: 0.3; }}
.node .t {{ font-weight: bold; font-size: 12px; }}
.node .l {{ font-size: 10.5px; fill: #3e4c59; }}
.node .m {{ font-family: {mono}; font-size: 10px; fill: #52606d; }}
.node .n {{ font-size: 10.5px; font-style: italic; fill: #7b8794; }}
.node .r {{ font-size: 10.5px; font-weight: bold; fill: {accent}; }}
.host-bridge rect.box {{ fill: #dde7f2; stroke: #3d5a80; fill-opacity: 1; }}
.host-bridge rect.head {{ fill: #dde7f2; }}
.switch rect.box {{ fill: #e9edf2; stroke: #52606d; fill-opacity: 1; }}
.switch rect.head {{ fill: #e9edf2; }}
.bridge rect.box {{ fill: #f3f4f6; stroke: #7b8794; fill-opacity: 1; }}
.bridge rect.head {{ fill: #f3f4f6; }}
.endpoint rect.box {{ fill: #ffffff; stroke: #9aa5b1; fill-opacity: 1; }}
.endpoint rect.head {{ fill: #ffffff; }}
.gpu rect.box {{ fill: #e7f0ff; stroke: #2f6fde; fill-opacity: 1; }}
.gpu rect.head {{ fill: #e7f0ff; }}
.network rect.box {{ fill: #f4ebfd; stroke: #8e44ad; fill-opacity: 1; }}
.network rect.head {{ fill: #f4ebfd; }}
.storage rect.box {{ fill: #fff7dc; stroke: #b7791f; fill-opacity: 1; }}
.storage rect.head {{ fill: #fff7dc; }}
.accelerator rect.box {{ fill: #e3f8f5; stroke: #13877a; fill-opacity: 1; }}
.accelerator rect.head {{ fill: #e3f8f5; }}
.fabric-switch rect.box {{ fill: #eef8df; stroke: #4d8a0f; fill-opacity: 1; }}
.fabric-switch rect.head {{ fill: #eef8df; }}
.group rect.box {{ fill: #f7f8fa; stroke: #9aa5b1; }}
.host-function rect.box {{ fill: #eef2f6; stroke: #7b8794; fill-opacity: 1; }}
.host-function rect.head {{ fill: #eef2f6; }}
.unknown rect.box {{ stroke-dasharray: 4 2; }}
.node.route rect.box {{ stroke: {accent}; stroke-width: 2.6; }}
.port rect {{ fill: #52606d; stroke: none; }}
.port.acs rect {{ fill: {REFUSED}; }}
.port.route rect {{ fill: {accent}; }}
.port text {{ font-family: {mono}; font-size: 9px; fill: #52606d; }}
.port text.acs {{ fill: {REFUSED}; font-weight: bold; }}
.edge line {{ stroke: #52606d; }}
.edge.internal line {{ stroke: #9aa5b1; stroke-dasharray: 1.5 2.5; }}
.edge.unknown line {{ stroke: #9aa5b1; stroke-dasharray: 5 3; }}
.edge.virtual line {{ stroke: #9aa5b1; stroke-dasharray: 1 3; }}
.edge text {{ font-size: {LABEL_SIZE}px; fill: #52606d; }}
.edge.route line {{ stroke: {accent}; }}
.edge.route text {{ fill: {accent}; font-weight: bold; }}
.refused line, .refused path {{ stroke-dasharray: 6 3; }}
.private-link path {{ fill: none; stroke-width: 2.2; }}
.private-link circle {{ stroke: #ffffff; stroke-width: 1; }}
.private-link.down path {{ stroke-dasharray: 3 3; opacity: 0.6; }}
.private-link.route path {{ stroke: {accent}; stroke-width: 3.6; }}
.private-link.route circle {{ fill: {accent}; }}
.stub line {{ stroke-width: 1.4; }}
.stub text {{ font-size: {LABEL_SIZE}px; }}
.stub.route line {{ stroke: {accent}; stroke-width: 3; }}
.cpu rect {{ fill: #fdf2e9; stroke: #9c4221; }}
.cpu text {{ font-size: 10.5px; font-weight: bold; fill: #9c4221; }}
.crossing {{ fill: none; stroke: {accent}; stroke-width: 3; }}
.crossing-label {{ font-size: 10px; font-weight: bold; fill: {accent}; }}
.legend text {{ font-size: {LEGEND_SIZE}px; fill: #3e4c59; }}
</style>
"#,
        cap = HEADER_LINE + 0.5,
        mono = Face::Mono.family(),
    )
}

/// The colour of a private-link technology.
fn link_colour(kind: &LinkKind) -> &'static str {
    match kind {
        LinkKind::NvLink => "#4d8a0f",
        LinkKind::Xgmi => "#b5179e",
        LinkKind::Other(_) => "#6741d9",
    }
}

/// The CSS class of a private-link technology.
fn link_class(kind: &LinkKind) -> &'static str {
    match kind {
        LinkKind::NvLink => "nvlink",
        LinkKind::Xgmi => "xgmi",
        LinkKind::Other(_) => "other-link",
    }
}

/// Line width for a bandwidth: 1 px at 250 MB/s (Gen1 x1), about 4 px at Gen4 x16.
fn stroke_for(bandwidth: Option<u32>) -> f32 {
    bandwidth.map_or(1.2, |b| {
        (1.0 + (f64::from(b.max(1)) / 250.0).log2() as f32 * 0.45).clamp(1.0, 4.4)
    })
}

fn draw_machine(out: &mut String, g: &MachineGraph, lay: &Layout) {
    let refused = g.route.as_ref().is_some_and(|r| r.refused);
    let route_class = |on: bool| {
        if !on {
            ""
        } else if refused {
            " route refused"
        } else {
            " route"
        }
    };

    for b in &lay.bands {
        labelled_rect(out, "band", &b.rect, 6, &b.label);
    }

    // Lines of the tree, with their speed near the lower box.
    for (e, p) in g.edges.iter().zip(&lay.edges) {
        let from = e
            .tail
            .map_or_else(String::new, |f| format!(r#" data-from-fn="{}""#, f.0));
        let _ = write!(
            out,
            r#"<g class="edge {}{}" data-to-fn="{}"{from}>"#,
            e.kind.as_str(),
            route_class(e.on_route),
            e.head.0
        );
        let w = if e.kind == EdgeKind::Link {
            stroke_for(e.bandwidth)
        } else {
            1.2
        };
        let w = if e.on_route { w.max(2.5) + 1.2 } else { w };
        let _ = write!(
            out,
            r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke-width="{w:.2}"/>"#,
            p.x1, p.y, p.x2, p.y
        );
        if let Some(t) = &e.text {
            let mut title = t.clone();
            if let Some(b) = e.bandwidth {
                title.push_str(&format!(
                    " · {} per direction",
                    super::labels::bandwidth_text(b)
                ));
            }
            let _ = write!(
                out,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="end"><title>{}</title>{}</text>"#,
                p.x2 - 5.0,
                p.y - 4.5,
                xml_escape(&title),
                xml_escape(t)
            );
        }
        out.push_str("</g>\n");
    }

    draw_private(out, g, lay, &route_class);

    // Boxes.
    for (index, (node, b)) in g.nodes.iter().zip(&lay.boxes).enumerate() {
        let mut class = format!("node {}", node.kind.as_str());
        if let NodeKind::Endpoint(c) = node.kind {
            class.push(' ');
            class.push_str(c.as_str());
        }
        class.push_str(route_class(node.on_route));
        if b.rect.h > b.header_h + 2.0 {
            class.push_str(" spans");
        }
        if let Some(r) = node.role {
            class.push_str(" role-");
            class.push_str(r.as_str());
        }
        let mut data = String::new();
        match node.kind {
            NodeKind::HostBridge(_) => {
                let name = node.lines.first().map_or("", |l| l.text.as_str());
                let _ = write!(data, r#" data-host-bridge="{}""#, xml_escape(name));
            }
            NodeKind::Group => {}
            _ => {
                if let Some(f) = node.function {
                    let bdf = g.bdf_of(f).map_or_else(String::new, |b| b.to_string());
                    let _ = write!(
                        data,
                        r#" data-bdf="{}" data-fn="{}""#,
                        xml_escape(&bdf),
                        f.0
                    );
                }
            }
        }
        let _ = writeln!(
            out,
            r#"<g class="{class}" id="{}"{data}>"#,
            xml_escape(&node.key)
        );
        let _ = writeln!(
            out,
            "<title>{}</title>",
            xml_escape(&format!("{}\n{}", node.title, node.tooltip))
        );
        let _ = writeln!(
            out,
            r#"<rect class="box" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" rx="5"/>"#,
            b.rect.x, b.rect.y, b.rect.w, b.rect.h
        );
        if b.rect.h > b.header_h + 2.0 {
            // A box spanning the rows below it: its text on a header, the rest lighter.
            let _ = writeln!(
                out,
                r#"<rect class="head" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" rx="5"/>"#,
                b.rect.x + 0.6,
                b.rect.y + 0.6,
                b.rect.w - 1.2,
                b.header_h - 1.2
            );
        }
        for t in &b.text {
            let member = t
                .line
                .and_then(|k| node.lines.get(k))
                .and_then(|l| l.member.as_ref().map(|m| (m, l.on_route)));
            if let Some(((f, tip), on)) = member {
                let bdf = g.bdf_of(*f).map_or_else(String::new, |b| b.to_string());
                let _ = writeln!(
                    out,
                    r#"<g class="member{}" data-bdf="{}" data-fn="{}"><title>{}</title><text class="{}" x="{:.1}" y="{:.1}">{}</text></g>"#,
                    route_class(on),
                    xml_escape(&bdf),
                    f.0,
                    xml_escape(tip),
                    if on { "r" } else { "l" },
                    t.x,
                    t.y,
                    xml_escape(&t.text)
                );
                continue;
            }
            let class = if t.line.is_none() {
                "t"
            } else {
                match t.style {
                    LineStyle::Normal => "l",
                    LineStyle::Mono => "m",
                    LineStyle::Note => "n",
                    LineStyle::Route => "r",
                }
            };
            let _ = writeln!(
                out,
                r#"<text class="{class}" x="{:.1}" y="{:.1}">{}</text>"#,
                t.x,
                t.y,
                xml_escape(&t.text)
            );
        }
        // Ports.
        let pins = lay.pins.get(index).map_or(&[][..], Vec::as_slice);
        for (port, pin) in node.ports.iter().zip(pins) {
            let acs = port.acs_redirect == Some(true);
            let _ = write!(
                out,
                r#"<g class="port{}{}" data-bdf="{}" data-fn="{}">"#,
                if acs { " acs" } else { "" },
                route_class(port.on_route),
                xml_escape(&full_bdf(g, port.function, &port.label)),
                port.function.0
            );
            let _ = write!(
                out,
                r#"<rect x="{:.1}" y="{:.1}" width="6" height="{:.1}" rx="2"/>"#,
                pin.x - 3.0,
                pin.y_top,
                (pin.y_bottom - pin.y_top).max(6.0)
            );
            let label_x = pin.x + 6.0;
            let _ = write!(
                out,
                r#"<text x="{label_x:.1}" y="{:.1}">{}{}</text>"#,
                pin.first_y - 4.5,
                xml_escape(&port.label),
                if pin.empty { " · empty" } else { "" }
            );
            if acs {
                let _ = write!(
                    out,
                    r#"<text class="acs" x="{label_x:.1}" y="{:.1}">ACS redirect<title>ACS redirect on: peer-to-peer requests are redirected upstream</title></text>"#,
                    pin.first_y + 11.5
                );
            }
            if pin.empty {
                let _ = write!(
                    out,
                    r##"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#9aa5b1" stroke-dasharray="2 2"/>"##,
                    pin.x,
                    pin.first_y,
                    pin.x + 18.0,
                    pin.first_y
                );
            }
            out.push_str("</g>\n");
        }
        out.push_str("</g>\n");
    }

    // A route between two host bridges goes through the CPU(s): a curve in the left margin.
    if let Some(r) = &g.route {
        if let [a, b] = r.host_bridges[..] {
            if a != b {
                let (ya, yb) = (
                    lay.boxes.get(a.index()).map_or(0.0, |x| x.entry_y),
                    lay.boxes.get(b.index()).map_or(0.0, |x| x.entry_y),
                );
                let x = MARGIN_LEFT;
                let bulge = x - 30.0;
                let _ = writeln!(
                    out,
                    r#"<path class="crossing{}" d="M{x:.1},{ya:.1} C{bulge:.1},{ya:.1} {bulge:.1},{yb:.1} {x:.1},{yb:.1}"><title>between host bridges, through the CPU</title></path>"#,
                    if r.refused { " refused" } else { "" },
                );
                let mid = (ya + yb) / 2.0;
                let _ = writeln!(
                    out,
                    r#"<text class="crossing-label" x="{:.1}" y="{mid:.1}" text-anchor="middle" transform="rotate(-90 {:.1} {mid:.1})">CPU</text>"#,
                    bulge + 2.0,
                    bulge + 2.0
                );
            }
        }
    }
}

/// The full address of a port, falling back to its short label.
/// A rounded rectangle of `class` with its label in the top-left corner (NUMA bands, CPUs).
fn labelled_rect(out: &mut String, class: &str, r: &Rect, rx: u8, label: &str) {
    let _ = writeln!(
        out,
        r#"<g class="{class}"><rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" rx="{rx}"/><text x="{:.1}" y="{:.1}">{}</text></g>"#,
        r.x,
        r.y,
        r.w,
        r.h,
        r.x + 8.0,
        r.y + 14.0,
        xml_escape(label)
    );
}

fn full_bdf(g: &MachineGraph, f: pci_topology::FunctionId, short: &str) -> String {
    g.bdf_of(f)
        .map_or_else(|| short.to_owned(), |b| b.to_string())
}

fn draw_private(
    out: &mut String,
    g: &MachineGraph,
    lay: &Layout,
    route_class: &dyn Fn(bool) -> &'static str,
) {
    if g.private_links.is_empty() {
        return;
    }
    // Stubs first (below the lanes), then the links, route last (on top).
    for s in &lay.stubs {
        let colour = g
            .private_links
            .iter()
            .find(|p| p.a == s.end || p.b == s.end)
            .map_or("#6741d9", |p| link_colour(&p.kind));
        let data = match s.end {
            PrivateEnd::Node(id) => g
                .node(id)
                .and_then(|n| n.function)
                .map_or_else(String::new, |f| format!(r#" data-fn="{}""#, f.0)),
            PrivateEnd::Cpu(numa) => numa.map_or_else(
                || r#" data-cpu="unknown""#.to_owned(),
                |n| format!(r#" data-cpu="{n}""#),
            ),
        };
        let _ = write!(out, r#"<g class="stub"{data}>"#);
        let _ = write!(
            out,
            r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{colour}"/>"#,
            s.x1, s.y, s.x2, s.y
        );
        if let Some(label) = &s.label {
            let _ = write!(
                out,
                r#"<text x="{:.1}" y="{:.1}" fill="{colour}">{}</text>"#,
                s.x1 + 6.0,
                s.y - 4.5,
                xml_escape(label)
            );
        }
        out.push_str("</g>\n");
    }
    for c in &lay.cpus {
        labelled_rect(out, "cpu", &c.rect, 9, &c.label);
    }
    let mut order: Vec<usize> = (0..g.private_links.len()).collect();
    order.sort_by_key(|&k| g.private_links.get(k).is_some_and(|p| p.on_route));
    for k in order {
        let (Some(p), Some(pp)) = (g.private_links.get(k), lay.private.get(k)) else {
            continue;
        };
        let Some(lane) = lay.lanes.get(pp.lane) else {
            continue;
        };
        let colour = link_colour(&p.kind);
        let mut class = format!("private-link {}", link_class(&p.kind));
        if !p.up {
            class.push_str(" down");
        }
        class.push_str(route_class(p.on_route));
        let end_data = |e: PrivateEnd| match e {
            PrivateEnd::Node(id) => g
                .node(id)
                .and_then(|n| n.function)
                .map_or_else(|| "?".to_owned(), |f| f.0.to_string()),
            PrivateEnd::Cpu(n) => n.map_or_else(|| "cpu".to_owned(), |n| format!("cpu{n}")),
        };
        let _ = write!(
            out,
            r#"<g class="{class}" data-link="{}" data-a="{}" data-b="{}"><title>{} ({})</title>"#,
            p.index,
            end_data(p.a),
            end_data(p.b),
            xml_escape(&p.text),
            xml_escape(&p.fabric_name)
        );
        let x = lane.x;
        let _ = write!(
            out,
            r#"<path d="M{x:.1},{:.1} V{:.1}" stroke="{colour}"/>"#,
            pp.ya, pp.yb
        );
        if p.on_route {
            // The route also runs along both stubs up to this lane.
            for (e, y) in [(p.a, pp.ya), (p.b, pp.yb)] {
                if let Some(s) = lay.stubs.iter().find(|s| s.end == e) {
                    let x1 = if matches!(e, PrivateEnd::Cpu(_)) {
                        x
                    } else {
                        s.x1
                    };
                    let x2 = if matches!(e, PrivateEnd::Cpu(_)) {
                        s.x1
                    } else {
                        x
                    };
                    let _ = write!(out, r#"<path d="M{x1:.1},{y:.1} H{x2:.1}"/>"#);
                }
            }
        }
        for (e, y, sw) in [(p.a, pp.ya, p.a_is_switch), (p.b, pp.yb, p.b_is_switch)] {
            let on_own_lane = sw
                && lane.switch
                    == Some(match e {
                        PrivateEnd::Node(id) => id,
                        PrivateEnd::Cpu(_) => super::graph::NodeId(u32::MAX),
                    });
            if on_own_lane {
                let _ = write!(
                    out,
                    r##"<rect x="{:.1}" y="{:.1}" width="9" height="9" fill="{colour}" stroke="#ffffff"/>"##,
                    x - 4.5,
                    y - 4.5
                );
            } else {
                let _ = write!(
                    out,
                    r#"<circle cx="{x:.1}" cy="{y:.1}" r="4" fill="{colour}"/>"#
                );
            }
        }
        out.push_str("</g>\n");
    }
}

/// One legend entry.
struct LegendItem {
    swatch: Swatch,
    label: String,
}

enum Swatch {
    Box(&'static str),
    Pin(bool),
    Line(&'static str, f32),
    Private(&'static str),
    Junction(&'static str, bool),
    Route,
}

fn legend_items(g: &MachineGraph, refused: bool) -> Vec<LegendItem> {
    let mut items = Vec::new();
    let mut push = |swatch, label: &str| {
        items.push(LegendItem {
            swatch,
            label: label.to_owned(),
        })
    };
    let has = |k: &dyn Fn(NodeKind) -> bool| g.nodes.iter().any(|n| k(n.kind));
    if has(&|k| matches!(k, NodeKind::HostBridge(_))) {
        push(Swatch::Box("host-bridge"), "host bridge");
    }
    if has(&|k| k == NodeKind::Switch) {
        push(Swatch::Box("switch"), "PCIe switch");
    }
    if has(&|k| k == NodeKind::Bridge) {
        push(Swatch::Box("bridge"), "bridge");
    }
    for c in [
        DeviceClass::Gpu,
        DeviceClass::Network,
        DeviceClass::Storage,
        DeviceClass::Accelerator,
        DeviceClass::FabricSwitch,
        DeviceClass::HostBridgeFunction,
        DeviceClass::Other,
        DeviceClass::Unknown,
    ] {
        if has(&|k| k == NodeKind::Endpoint(c)) {
            push(Swatch::Box(c.as_str()), c.legend());
        }
    }
    if has(&|k| k == NodeKind::Group) {
        push(Swatch::Box("group"), "platform functions, one a line");
    }
    if g.nodes.iter().any(|n| !n.ports.is_empty()) {
        push(Swatch::Pin(false), "root / downstream port");
    }
    if g.nodes
        .iter()
        .any(|n| n.ports.iter().any(|p| p.acs_redirect == Some(true)))
    {
        push(Swatch::Pin(true), "ACS redirect on");
    }
    let edge = |k: EdgeKind| g.edges.iter().any(|e| e.kind == k);
    if edge(EdgeKind::Link) {
        push(Swatch::Line("link", 3.0), "PCIe link (width ∝ bandwidth)");
    }
    if edge(EdgeKind::Internal) {
        push(Swatch::Line("internal", 1.2), "root bus / inside a switch");
    }
    if edge(EdgeKind::Unknown) {
        push(Swatch::Line("unknown", 1.2), "link state unknown");
    }
    if edge(EdgeKind::Virtual) {
        push(
            Swatch::Line("virtual", 1.2),
            "virtual function (its PF's link)",
        );
    }
    let mut kinds: Vec<&LinkKind> = Vec::new();
    for p in &g.private_links {
        if !kinds.contains(&&p.kind) {
            kinds.push(&p.kind);
        }
    }
    for k in kinds {
        push(Swatch::Private(link_colour(k)), &format!("{k} links"));
    }
    if g.private_links
        .iter()
        .any(|p| p.a_is_switch || p.b_is_switch)
    {
        push(Swatch::Junction("#52606d", true), "fabric switch's lane");
        push(Swatch::Junction("#52606d", false), "link bundle to it");
    }
    if g.route.is_some() {
        push(
            Swatch::Route,
            if refused { "route (refused)" } else { "route" },
        );
    }
    items
}

fn legend(items: &[LegendItem], total_w: f32, accent: &str) -> (String, f32) {
    let mut out = String::new();
    let (mut x, mut y) = (16.0f32, 12.0f32);
    let row = 22.0;
    for it in items {
        let w = 30.0 + 6.0 + width(&it.label, Face::Sans, LEGEND_SIZE) + 18.0;
        if x + w > total_w - 16.0 && x > 16.0 {
            x = 16.0;
            y += row;
        }
        let sy = y - 4.0;
        match &it.swatch {
            Swatch::Box(class) => {
                let _ = write!(
                    out,
                    r#"<g class="node {class}{}"><rect class="box" x="{x:.1}" y="{:.1}" width="30" height="14" rx="3"/></g>"#,
                    if matches!(*class, "host-bridge" | "switch" | "bridge" | "group") {
                        ""
                    } else {
                        " endpoint"
                    },
                    sy - 7.0
                );
            }
            Swatch::Pin(acs) => {
                let _ = write!(
                    out,
                    r#"<g class="port{}"><rect x="{:.1}" y="{:.1}" width="6" height="14" rx="2"/></g>"#,
                    if *acs { " acs" } else { "" },
                    x + 12.0,
                    sy - 7.0
                );
            }
            Swatch::Line(class, w) => {
                let _ = write!(
                    out,
                    r#"<g class="edge {class}"><line x1="{x:.1}" y1="{sy:.1}" x2="{:.1}" y2="{sy:.1}" stroke-width="{w}"/></g>"#,
                    x + 30.0
                );
            }
            Swatch::Private(colour) => {
                let _ = write!(
                    out,
                    r#"<g><line x1="{x:.1}" y1="{sy:.1}" x2="{:.1}" y2="{sy:.1}" stroke="{colour}" stroke-width="2.2"/><circle cx="{:.1}" cy="{sy:.1}" r="4" fill="{colour}"/></g>"#,
                    x + 30.0,
                    x + 15.0
                );
            }
            Swatch::Junction(colour, square) => {
                if *square {
                    let _ = write!(
                        out,
                        r#"<g><line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{colour}" stroke-width="2"/><rect x="{:.1}" y="{:.1}" width="9" height="9" fill="{colour}"/></g>"#,
                        x + 15.0,
                        sy - 8.0,
                        x + 15.0,
                        sy + 8.0,
                        x + 10.5,
                        sy - 4.5
                    );
                } else {
                    let _ = write!(
                        out,
                        r#"<g><line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{colour}" stroke-width="2"/><line x1="{x:.1}" y1="{sy:.1}" x2="{:.1}" y2="{sy:.1}" stroke="{colour}" stroke-width="1.4"/><circle cx="{:.1}" cy="{sy:.1}" r="4" fill="{colour}"/></g>"#,
                        x + 22.0,
                        sy - 8.0,
                        x + 22.0,
                        sy + 8.0,
                        x + 22.0,
                        x + 22.0
                    );
                }
            }
            Swatch::Route => {
                let _ = write!(
                    out,
                    r#"<line x1="{x:.1}" y1="{sy:.1}" x2="{:.1}" y2="{sy:.1}" stroke="{accent}" stroke-width="4"/>"#,
                    x + 30.0
                );
            }
        }
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
            x + 36.0,
            y,
            xml_escape(&it.label)
        );
        out.push('\n');
        x += w;
    }
    (out, y + 8.0)
}
