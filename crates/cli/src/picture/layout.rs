//! Where everything goes in the SVG picture: a left-to-right tidy tree, and lanes for the
//! private links beside it.
//!
//! # The tree
//! Host bridges form the first column, each level of boxes below them the next column (a
//! column is as wide as its widest box needs, within bounds; longer text is wrapped or
//! shortened). Every leaf gets its own row; a box with children spans exactly the rows of its
//! children (or its own height, if taller, with the children centred on it), so every line
//! from a box, or from one of its ports, to a child is straight and horizontal, and no two
//! boxes, lines or labels overlap whatever the machine. Sizes are computed bottom-up and
//! positions top-down (the "tidy tree" of Reingold and Tilford, in its simplest form: subtrees
//! never share rows). A port with nothing below it gets a short row of its own. Host bridges
//! are grouped by NUMA node, each group on a band.
//!
//! # Private links
//! Right of the tree, each function that switches a fabric (an NVSwitch) gets a vertical lane;
//! a link between it and another box is a junction on that lane at the other box's row, so
//! that 16 GPUs each linked to 12 switches read as a grid of dots, not as 192 crossing curves.
//! Links between two boxes without a switch get lanes of their own, packed so that lanes whose
//! spans do not overlap share a column. Each box with private links has a stub from its right
//! side to the farthest lane it reaches (the tree leaves that row free: nothing is ever drawn
//! right of a leaf). A link to a CPU socket ends at a labelled CPU terminal right of the lanes.
//!
//! The layout is deterministic and linear in the size of the machine (with a sort of the
//! lanes), and uses no recursion.

use std::collections::BTreeMap;

use pci_topology::LinkKind;

use super::graph::{LineStyle, MachineGraph, NodeId, PrivateEnd};
use super::text::{Face, ellipsize, width, wrap};

/// Size of box titles, px.
pub const TITLE_SIZE: f32 = 12.0;
/// Size of box lines, px.
pub const LINE_SIZE: f32 = 10.5;
/// Size of monospace lines, px.
pub const MONO_SIZE: f32 = 10.0;
/// Size of labels on lines (speeds, ports), px.
pub const LABEL_SIZE: f32 = 9.5;
const TITLE_LEAD: f32 = 15.0;
const LINE_LEAD: f32 = 13.0;
const PAD_X: f32 = 8.0;
const PAD_Y: f32 = 6.0;
const MIN_BOX_W: f32 = 120.0;
const MAX_BOX_W: f32 = 250.0;
const MIN_COL_GAP: f32 = 48.0;
const MAX_COL_GAP: f32 = 170.0;
/// Size of port labels, px.
pub const PORT_SIZE: f32 = 9.0;
const LEAF_GAP: f32 = 8.0;
const SUBTREE_GAP: f32 = 16.0;
const ROOT_GAP: f32 = 26.0;
const BAND_LABEL_H: f32 = 22.0;
const BAND_GAP: f32 = 22.0;
const EMPTY_PORT_H: f32 = 18.0;
const LANE_GAP: f32 = 14.0;
/// Room left of the tree (for the line between two host bridges of a route).
pub const MARGIN_LEFT: f32 = 40.0;
const MARGIN_RIGHT: f32 = 16.0;

/// A rectangle.
#[derive(Clone, Copy, PartialEq, Debug, Default)]
pub struct Rect {
    /// Left.
    pub x: f32,
    /// Top.
    pub y: f32,
    /// Width.
    pub w: f32,
    /// Height.
    pub h: f32,
}

impl Rect {
    /// Right edge.
    pub fn right(&self) -> f32 {
        self.x + self.w
    }

    /// Bottom edge.
    pub fn bottom(&self) -> f32 {
        self.y + self.h
    }

    /// Vertical centre.
    pub fn cy(&self) -> f32 {
        self.y + self.h / 2.0
    }
}

/// One line of text, placed.
#[derive(Clone, PartialEq, Debug)]
pub struct TextPlace {
    /// The text, already fitted to its box.
    pub text: String,
    /// Font.
    pub face: Face,
    /// Size, px.
    pub size: f32,
    /// How the graph set it.
    pub style: LineStyle,
    /// Index of the graph's line it shows (`None` for the title).
    pub line: Option<usize>,
    /// Left of the text.
    pub x: f32,
    /// Baseline.
    pub y: f32,
}

/// A box, placed, with its text fitted.
#[derive(Clone, PartialEq, Debug)]
pub struct BoxPlace {
    /// The box.
    pub rect: Rect,
    /// Where lines to it arrive (and its private-link stub leaves).
    pub entry_y: f32,
    /// Height of its own text block (less than the box's height when it spans rows below).
    pub header_h: f32,
    /// Its text.
    pub text: Vec<TextPlace>,
}

/// A port (pin) on the right side of a box.
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct PinPlace {
    /// The box's right edge.
    pub x: f32,
    /// Top of the pin.
    pub y_top: f32,
    /// Bottom of the pin.
    pub y_bottom: f32,
    /// The row of its first line (or of its empty slot).
    pub first_y: f32,
    /// Whether nothing hangs from it.
    pub empty: bool,
}

/// A line of the tree: horizontal, from `x1` (the upper box's right side) to `x2` (the lower
/// box's left side) at `y`.
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct EdgePlace {
    /// Start.
    pub x1: f32,
    /// End.
    pub x2: f32,
    /// Height.
    pub y: f32,
}

/// A vertical lane for private links.
#[derive(Clone, PartialEq, Debug)]
pub struct LanePlace {
    /// Horizontal position.
    pub x: f32,
    /// The switch box whose lane it is, if any.
    pub switch: Option<NodeId>,
    /// The technology of its first link (its colour).
    pub kind: LinkKind,
}

/// Where one private link is drawn: between two rows on a lane.
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct PrivatePlace {
    /// Index into [`Layout::lanes`].
    pub lane: usize,
    /// Row of end `a`.
    pub ya: f32,
    /// Row of end `b`.
    pub yb: f32,
}

/// A stub from a box (or CPU terminal) to the lanes it reaches.
#[derive(Clone, PartialEq, Debug)]
pub struct StubPlace {
    /// Its end.
    pub end: PrivateEnd,
    /// Where it leaves the box.
    pub x1: f32,
    /// The farthest lane it reaches.
    pub x2: f32,
    /// Its row.
    pub y: f32,
    /// A summary of the links (`NVLink ×12 · 300 GB/s`), if it has room.
    pub label: Option<String>,
}

/// A CPU socket terminal for links to a CPU.
#[derive(Clone, PartialEq, Debug)]
pub struct CpuPlace {
    /// NUMA node of the socket.
    pub numa_node: Option<u32>,
    /// The terminal.
    pub rect: Rect,
    /// Its text.
    pub label: String,
}

/// A band behind the host bridges of one NUMA node.
#[derive(Clone, PartialEq, Debug)]
pub struct BandPlace {
    /// The band.
    pub rect: Rect,
    /// `NUMA node 0`.
    pub label: String,
}

/// Everything placed. Coordinates start at the top left of the machine drawing.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct Layout {
    /// Width of the drawing.
    pub width: f32,
    /// Height of the drawing.
    pub height: f32,
    /// Right edge of the tree.
    pub tree_right: f32,
    /// Boxes, by node index.
    pub boxes: Vec<BoxPlace>,
    /// Pins, by node index then port index.
    pub pins: Vec<Vec<PinPlace>>,
    /// Lines of the tree, by edge index.
    pub edges: Vec<EdgePlace>,
    /// Lanes of private links.
    pub lanes: Vec<LanePlace>,
    /// Private links, by index into [`MachineGraph::private_links`].
    pub private: Vec<PrivatePlace>,
    /// Stubs to the lanes.
    pub stubs: Vec<StubPlace>,
    /// CPU terminals.
    pub cpus: Vec<CpuPlace>,
    /// NUMA bands.
    pub bands: Vec<BandPlace>,
}

/// One row below a box: a child box, or an empty port.
#[derive(Clone, Copy)]
enum Slot {
    Child(NodeId),
    Empty(usize),
}

/// Lays out a graph.
pub fn layout(g: &MachineGraph) -> Layout {
    let n = g.nodes.len();
    let max_depth = g.nodes.iter().map(|x| x.depth).max().unwrap_or(0) as usize;

    // Column widths from what each box needs.
    let mut colw = vec![MIN_BOX_W; max_depth + 1];
    for node in &g.nodes {
        let mut need = width(&node.title, Face::SansBold, TITLE_SIZE);
        for l in &node.lines {
            let (face, size) = face_of(l.style);
            need = need.max(width(&l.text, face, size));
        }
        let need = (need + 2.0 * PAD_X).clamp(MIN_BOX_W, MAX_BOX_W);
        if let Some(c) = colw.get_mut(node.depth as usize) {
            *c = c.max(need);
        }
    }
    // Gaps after each column: room for the labels of the lines leaving it (the port near the
    // upper box, the speed near the lower one).
    let mut gaps = vec![MIN_COL_GAP; max_depth + 1];
    for e in &g.edges {
        let Some(parent) = g.node(e.parent) else {
            continue;
        };
        let port = e
            .port
            .and_then(|k| parent.ports.get(k))
            .map_or(0.0, |p| width(&p.label, Face::Mono, PORT_SIZE) + 10.0);
        let speed = e
            .text
            .as_deref()
            .map_or(0.0, |t| width(t, Face::Sans, LABEL_SIZE) + 10.0);
        if let Some(gp) = gaps.get_mut(parent.depth as usize) {
            *gp = gp.max((port + speed + 16.0).min(MAX_COL_GAP));
        }
    }
    let mut colx = Vec::with_capacity(colw.len());
    let mut x = MARGIN_LEFT;
    let mut last_gap = 0.0;
    for (w, gap) in colw.iter().zip(&gaps) {
        colx.push(x);
        x += w + gap;
        last_gap = *gap;
    }
    let tree_right = x - last_gap;

    // Text fitted to the columns, relative to the box's top left; own heights.
    let mut texts: Vec<Vec<TextPlace>> = Vec::with_capacity(n);
    let mut own_h = vec![0.0f32; n];
    for (i, node) in g.nodes.iter().enumerate() {
        let w = colw.get(node.depth as usize).copied().unwrap_or(MIN_BOX_W);
        let inner = w - 2.0 * PAD_X;
        let mut t = Vec::new();
        let mut y = PAD_Y;
        for line in wrap(&node.title, Face::SansBold, TITLE_SIZE, inner, 2) {
            y += TITLE_LEAD;
            t.push(TextPlace {
                text: line,
                face: Face::SansBold,
                size: TITLE_SIZE,
                style: LineStyle::Normal,
                line: None,
                x: PAD_X,
                y: y - 4.0,
            });
        }
        for (k, l) in node.lines.iter().enumerate() {
            let (face, size) = face_of(l.style);
            y += LINE_LEAD;
            t.push(TextPlace {
                text: ellipsize(&l.text, face, size, inner),
                face,
                size,
                style: l.style,
                line: Some(k),
                x: PAD_X,
                y: y - 3.5,
            });
        }
        own_h[i] = y + PAD_Y;
        texts.push(t);
    }

    // Rows below each box: children, then empty ports.
    let slots: Vec<Vec<Slot>> = g
        .nodes
        .iter()
        .map(|node| {
            let mut s: Vec<Slot> = node.children.iter().map(|&c| Slot::Child(c)).collect();
            s.extend(
                node.ports
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| p.children.is_empty())
                    .map(|(k, _)| Slot::Empty(k)),
            );
            s
        })
        .collect();
    let is_leaf = |id: NodeId| slots.get(id.index()).is_none_or(Vec::is_empty);
    let gap = |a: Slot, b: Slot| match (a, b) {
        (Slot::Child(x), Slot::Child(y)) if !is_leaf(x) || !is_leaf(y) => SUBTREE_GAP,
        _ => LEAF_GAP,
    };

    // Heights bottom-up: nodes are stored parents first, so walk them backwards.
    let mut sub_h = own_h.clone();
    let mut span = vec![0.0f32; n];
    for i in (0..n).rev() {
        let s = &slots[i];
        if s.is_empty() {
            continue;
        }
        let mut total = 0.0;
        for (k, &slot) in s.iter().enumerate() {
            total += match slot {
                Slot::Child(c) => sub_h.get(c.index()).copied().unwrap_or(0.0),
                Slot::Empty(_) => EMPTY_PORT_H,
            };
            if k > 0 {
                total += gap(s[k - 1], slot);
            }
        }
        span[i] = total;
        sub_h[i] = own_h[i].max(total);
    }

    // Positions top-down.
    let mut top = vec![0.0f32; n];
    let mut bands = Vec::new();
    let numa_known = g
        .roots
        .iter()
        .any(|r| g.node(*r).is_some_and(|x| x.numa_node.is_some()));
    let mut y = if numa_known { BAND_LABEL_H } else { 0.0 };
    let mut band_start: Option<(Option<u32>, f32)> = None;
    for &r in &g.roots {
        let numa = g.node(r).and_then(|x| x.numa_node);
        if numa_known {
            match band_start {
                Some((cur, start)) if cur != numa => {
                    bands.push(band(cur, start, y - ROOT_GAP, tree_right));
                    y += BAND_GAP + BAND_LABEL_H - ROOT_GAP;
                    band_start = Some((numa, y));
                }
                None => band_start = Some((numa, y)),
                _ => {}
            }
        }
        if let Some(t) = top.get_mut(r.index()) {
            *t = y;
        }
        y += sub_h.get(r.index()).copied().unwrap_or(0.0) + ROOT_GAP;
    }
    if let Some((cur, start)) = band_start {
        bands.push(band(cur, start, y - ROOT_GAP, tree_right));
    }
    let height = (y - ROOT_GAP).max(0.0);

    let mut empty_y: Vec<Vec<f32>> = g.nodes.iter().map(|x| vec![0.0; x.ports.len()]).collect();
    for i in 0..n {
        let s = &slots[i];
        let mut cursor = top[i] + ((own_h[i] - span[i]) / 2.0).max(0.0);
        for (k, &slot) in s.iter().enumerate() {
            if k > 0 {
                cursor += gap(s[k - 1], slot);
            }
            match slot {
                Slot::Child(c) => {
                    if let Some(t) = top.get_mut(c.index()) {
                        *t = cursor;
                    }
                    cursor += sub_h.get(c.index()).copied().unwrap_or(0.0);
                }
                Slot::Empty(p) => {
                    if let Some(e) = empty_y.get_mut(i).and_then(|v| v.get_mut(p)) {
                        *e = cursor + EMPTY_PORT_H / 2.0;
                    }
                    cursor += EMPTY_PORT_H;
                }
            }
        }
    }

    let boxes: Vec<BoxPlace> = g
        .nodes
        .iter()
        .enumerate()
        .map(|(i, node)| {
            let d = node.depth as usize;
            let rect = Rect {
                x: colx.get(d).copied().unwrap_or(MARGIN_LEFT),
                y: top[i],
                w: colw.get(d).copied().unwrap_or(MIN_BOX_W),
                h: sub_h[i],
            };
            let text = texts[i]
                .iter()
                .map(|t| TextPlace {
                    x: rect.x + t.x,
                    y: rect.y + t.y,
                    ..t.clone()
                })
                .collect();
            BoxPlace {
                entry_y: if slots[i].is_empty() {
                    rect.cy()
                } else {
                    // A box with rows below: lines arrive at its title.
                    rect.y + (own_h[i] / 2.0).min(rect.h / 2.0)
                },
                rect,
                header_h: own_h[i],
                text,
            }
        })
        .collect();

    let entry = |id: NodeId| boxes.get(id.index()).map_or(0.0, |b| b.entry_y);
    let edges: Vec<EdgePlace> = g
        .edges
        .iter()
        .map(|e| {
            let p = boxes
                .get(e.parent.index())
                .map_or(Rect::default(), |b| b.rect);
            let c = boxes
                .get(e.child.index())
                .map_or(Rect::default(), |b| b.rect);
            EdgePlace {
                x1: p.right(),
                x2: c.x,
                y: entry(e.child),
            }
        })
        .collect();

    let pins: Vec<Vec<PinPlace>> = g
        .nodes
        .iter()
        .enumerate()
        .map(|(i, node)| {
            let right = boxes[i].rect.right();
            node.ports
                .iter()
                .enumerate()
                .map(|(k, p)| {
                    if p.children.is_empty() {
                        let y = empty_y[i].get(k).copied().unwrap_or(0.0);
                        PinPlace {
                            x: right,
                            y_top: y - 4.0,
                            y_bottom: y + 4.0,
                            first_y: y,
                            empty: true,
                        }
                    } else {
                        let ys: Vec<f32> = p.children.iter().map(|&c| entry(c)).collect();
                        let lo = ys.iter().copied().fold(f32::INFINITY, f32::min);
                        let hi = ys.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                        PinPlace {
                            x: right,
                            y_top: lo - 4.0,
                            y_bottom: hi + 4.0,
                            first_y: lo,
                            empty: false,
                        }
                    }
                })
                .collect()
        })
        .collect();

    let mut out = Layout {
        width: tree_right + MARGIN_RIGHT,
        height,
        tree_right,
        boxes,
        pins,
        edges,
        lanes: Vec::new(),
        private: Vec::new(),
        stubs: Vec::new(),
        cpus: Vec::new(),
        bands,
    };
    place_private(g, &mut out);
    out
}

fn face_of(style: LineStyle) -> (Face, f32) {
    match style {
        LineStyle::Mono => (Face::Mono, MONO_SIZE),
        LineStyle::Normal | LineStyle::Note => (Face::Sans, LINE_SIZE),
        LineStyle::Route => (Face::SansBold, LINE_SIZE),
    }
}

fn band(numa: Option<u32>, top: f32, bottom: f32, right: f32) -> BandPlace {
    BandPlace {
        rect: Rect {
            x: MARGIN_LEFT - 12.0,
            y: top - BAND_LABEL_H + 2.0,
            w: right - MARGIN_LEFT + 24.0,
            h: bottom - top + BAND_LABEL_H + 6.0,
        },
        label: numa.map_or_else(
            || "NUMA node unknown".to_owned(),
            |n| format!("NUMA node {n}"),
        ),
    }
}

/// The private links at one end.
struct EndLinks {
    /// Their indices.
    links: Vec<usize>,
    /// Total bandwidth of those that are up, MB/s (`None` if one is unknown).
    bandwidth: Option<u64>,
    /// Their technologies, by name.
    kinds: Vec<String>,
}

/// Lanes, junction rows, stubs and CPU terminals for the private links.
fn place_private(g: &MachineGraph, out: &mut Layout) {
    if g.private_links.is_empty() {
        return;
    }
    let node_y = |id: NodeId| out.boxes.get(id.index()).map_or(0.0, |b| b.entry_y);
    let node_right = |id: NodeId| out.boxes.get(id.index()).map_or(0.0, |b| b.rect.right());

    // CPU terminals: one per NUMA node named by a link, at the row of its first host bridge.
    let mut cpu_numas: Vec<Option<u32>> = Vec::new();
    for p in &g.private_links {
        for e in [p.a, p.b] {
            if let PrivateEnd::Cpu(numa) = e {
                if !cpu_numas.contains(&numa) {
                    cpu_numas.push(numa);
                }
            }
        }
    }
    cpu_numas.sort();
    let cpu_y: BTreeMap<Option<u32>, f32> = cpu_numas
        .iter()
        .enumerate()
        .map(|(k, &numa)| {
            let root = g
                .roots
                .iter()
                .copied()
                .find(|&r| numa.is_some() && g.node(r).is_some_and(|x| x.numa_node == numa));
            let y = root.map_or(12.0 + 30.0 * k as f32, |r| {
                out.boxes.get(r.index()).map_or(0.0, |b| b.rect.y + 12.0)
            });
            (numa, y)
        })
        .collect();
    let end_y = |e: PrivateEnd| match e {
        PrivateEnd::Node(id) => node_y(id),
        PrivateEnd::Cpu(numa) => cpu_y.get(&numa).copied().unwrap_or(0.0),
    };

    // Switch lanes, top to bottom.
    let mut switches: Vec<NodeId> = Vec::new();
    for p in &g.private_links {
        for (e, sw) in [(p.a, p.a_is_switch), (p.b, p.b_is_switch)] {
            if let (PrivateEnd::Node(id), true) = (e, sw) {
                if !switches.contains(&id) {
                    switches.push(id);
                }
            }
        }
    }
    switches.sort_by(|a, b| node_y(*a).total_cmp(&node_y(*b)).then(a.cmp(b)));
    let mut lanes: Vec<LanePlace> = Vec::new();
    let mut lane_of_switch: BTreeMap<NodeId, usize> = BTreeMap::new();
    for &s in &switches {
        let kind = g
            .private_links
            .iter()
            .find(|p| p.a == PrivateEnd::Node(s) || p.b == PrivateEnd::Node(s))
            .map_or(LinkKind::Other("private".to_owned()), |p| p.kind.clone());
        lane_of_switch.insert(s, lanes.len());
        lanes.push(LanePlace {
            x: 0.0,
            switch: Some(s),
            kind,
        });
    }

    // Direct links: packed into shared lanes by their spans.
    let mut private = vec![
        PrivatePlace {
            lane: 0,
            ya: 0.0,
            yb: 0.0
        };
        g.private_links.len()
    ];
    let mut direct: Vec<(f32, f32, usize)> = Vec::new();
    for (k, p) in g.private_links.iter().enumerate() {
        let (ya, yb) = (end_y(p.a), end_y(p.b));
        private[k].ya = ya;
        private[k].yb = yb;
        let on_switch = [(p.a, p.a_is_switch), (p.b, p.b_is_switch)]
            .iter()
            .find_map(|&(e, sw)| match (e, sw) {
                (PrivateEnd::Node(id), true) => lane_of_switch.get(&id).copied(),
                _ => None,
            });
        match on_switch {
            Some(l) => private[k].lane = l,
            None => direct.push((ya.min(yb), ya.max(yb), k)),
        }
    }
    direct.sort_by(|a, b| {
        a.0.total_cmp(&b.0)
            .then(a.1.total_cmp(&b.1))
            .then(a.2.cmp(&b.2))
    });
    let first_direct = lanes.len();
    let mut lane_end: Vec<f32> = Vec::new();
    for (lo, hi, k) in direct {
        let slot = lane_end.iter().position(|&end| end + 10.0 < lo);
        let slot = match slot {
            Some(s) => {
                lane_end[s] = hi;
                s
            }
            None => {
                lane_end.push(hi);
                lanes.push(LanePlace {
                    x: 0.0,
                    switch: None,
                    kind: g
                        .private_links
                        .get(k)
                        .map_or(LinkKind::Other("private".to_owned()), |p| p.kind.clone()),
                });
                lane_end.len() - 1
            }
        };
        private[k].lane = first_direct + slot;
    }

    // Stubs: one per end, to its farthest lane; labels summarise the links.
    let mut ends: BTreeMap<PrivateEnd, EndLinks> = BTreeMap::new();
    for (k, p) in g.private_links.iter().enumerate() {
        for e in [p.a, p.b] {
            let entry = ends.entry(e).or_insert(EndLinks {
                links: Vec::new(),
                bandwidth: Some(0),
                kinds: Vec::new(),
            });
            entry.links.push(k);
            entry.bandwidth = match (entry.bandwidth, p.bandwidth) {
                (s, _) if !p.up => s,
                (Some(s), Some(b)) => Some(s + u64::from(b)),
                _ => None,
            };
            let kind = p.kind.to_string();
            if !entry.kinds.contains(&kind) {
                entry.kinds.push(kind);
            }
        }
    }
    let mut labels: BTreeMap<PrivateEnd, String> = BTreeMap::new();
    for (
        e,
        EndLinks {
            links,
            bandwidth: bw,
            kinds,
        },
    ) in &ends
    {
        let count: u32 = links
            .iter()
            .filter_map(|&k| g.private_links.get(k))
            .map(|p| u32::from(p.count))
            .sum();
        let mut label = format!("{} ×{count}", kinds.join("/"));
        if let Some(b) = bw.filter(|&b| b > 0) {
            label.push_str(&format!(
                " · {}",
                super::labels::bandwidth_text(u32::try_from(b).unwrap_or(u32::MAX))
            ));
        }
        labels.insert(*e, label);
    }
    let mut lanes_x0 = out.tree_right + 24.0;
    for (e, label) in &labels {
        if let PrivateEnd::Node(id) = e {
            let w = width(label, Face::Sans, LABEL_SIZE);
            lanes_x0 = lanes_x0.max(node_right(*id) + w + 18.0);
        }
    }
    for (k, lane) in lanes.iter_mut().enumerate() {
        lane.x = lanes_x0 + LANE_GAP * k as f32;
    }
    let lanes_right = lanes_x0 + LANE_GAP * (lanes.len().saturating_sub(1)) as f32;

    let mut cpus = Vec::new();
    let cpu_x = lanes_right + 18.0;
    for (&numa, &y) in &cpu_y {
        let label = numa.map_or_else(|| "CPU".to_owned(), |n| format!("CPU · NUMA {n}"));
        let w = width(&label, Face::SansBold, LINE_SIZE) + 16.0;
        cpus.push(CpuPlace {
            numa_node: numa,
            rect: Rect {
                x: cpu_x,
                y: y - 10.0,
                w,
                h: 20.0,
            },
            label,
        });
    }

    let mut stubs = Vec::new();
    for (e, EndLinks { links, .. }) in &ends {
        let lane_xs = links
            .iter()
            .filter_map(|&k| private.get(k))
            .filter_map(|pp| lanes.get(pp.lane))
            .map(|l| l.x);
        match *e {
            PrivateEnd::Node(id) => {
                let far = lane_xs.fold(f32::NEG_INFINITY, f32::max);
                stubs.push(StubPlace {
                    end: *e,
                    x1: node_right(id),
                    x2: far,
                    y: node_y(id),
                    label: labels.get(e).cloned(),
                });
            }
            PrivateEnd::Cpu(numa) => {
                let near = lane_xs.fold(f32::INFINITY, f32::min);
                stubs.push(StubPlace {
                    end: *e,
                    x1: cpu_x,
                    x2: near,
                    y: cpu_y.get(&numa).copied().unwrap_or(0.0),
                    label: None,
                });
            }
        }
    }
    let right = cpus
        .iter()
        .map(|c| c.rect.right())
        .fold(lanes_right, f32::max);
    out.width = out.width.max(right + MARGIN_RIGHT);
    out.lanes = lanes;
    out.private = private;
    out.stubs = stubs;
    out.cpus = cpus;
}
