//! The machine as a graph for pictures, independent of how it is drawn.
//!
//! # Boxes
//! - **Host bridge**: one box per host bridge (root complex). Its root ports are drawn as its
//!   *ports* (pins on the box), not as boxes of their own: the hop from a root port to its
//!   host bridge is inside the root complex, and the link that matters is the one below it.
//! - **PCIe switch**: the upstream port and its downstream ports in one box; the downstream
//!   ports are its ports. The hop from a downstream port to the upstream port is inside the
//!   switch.
//! - **Bridge**: any other bridge (a PCIe-to-PCI bridge, a root port that is not on a root bus,
//!   a downstream port outside a switch), one box; what is below it hangs from the box itself.
//! - **Endpoint**: every other function (devices, their functions, virtual functions, host
//!   bridge functions on the root bus), one box, labelled with its names.
//!
//! Port types come from the PCI Express capability. Where they are unknown (64-byte configs,
//! hwloc XML) they are inferred from the depth below the root bus, as the nvidia-smi class is
//! ([`pci_topology::quality`]): a bridge on the root bus is a root port, below it upstream and
//! downstream ports alternate; an inferred upstream port with no bridge below it is shown as a
//! plain bridge. The picture says so when it inferred. On a machine whose source collapsed
//! each switch into one node (NCCL), each bridge is a switch box and what is below it hangs
//! from the box. [`GraphOptions::collapse_switches`] `false` shows every port as a box.
//!
//! # Lines
//! An [`Edge`] joins a box (or one of its ports) to a box below it: a PCI link with its speed
//! and width (the lower function's link; when unknown, the port's, which describes the same
//! link), the root bus or a switch's internal bus, or a virtual function's share of its
//! physical function's link. A [`PrivateEdge`] is one bundle of private links (NVLink, xGMI,
//! ...), between boxes or to a CPU socket.
//!
//! Nothing here recurses: a machine of any depth is walked with explicit stacks.

use std::collections::BTreeMap;

use dmabuf_negotiate::FabricId;
use pci_topology::{
    Bdf, Function, FunctionId, HostBridgeId, LinkEnd, LinkKind, Machine, PortType, Upstream,
};

use super::highlight::{Highlight, Role};
use super::labels::{
    bandwidth_text, device_title, link_text, short_bdf, short_vendor, size_text, vendor_and_class,
};
use super::names::Names;
use crate::kind::Kind;

/// Index of a [`Node`] in its [`MachineGraph`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct NodeId(pub u32);

impl NodeId {
    /// The index as `usize`.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// What an endpoint is, for its colour and the legend.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum DeviceClass {
    /// Display controllers: GPUs (class 03).
    Gpu,
    /// Network and InfiniBand controllers (class 02, 0c06).
    Network,
    /// Storage that DMAs into memory buffers: NVMe, SCSI, RAID, SAS (see [`Kind::Storage`]).
    Storage,
    /// Processing accelerators and co-processors (class 12, 0b40).
    Accelerator,
    /// A function that switches a private fabric (an NVSwitch).
    FabricSwitch,
    /// A host bridge function on a root bus (class 0600).
    HostBridgeFunction,
    /// Any other known class.
    Other,
    /// The class is unknown.
    Unknown,
}

impl DeviceClass {
    /// The class of a function that is not a bridge: its [`Kind`], with the private-fabric
    /// switches (NVSwitches) apart.
    pub fn of(f: &Function) -> Self {
        if f.fabric_switch {
            return DeviceClass::FabricSwitch;
        }
        match Kind::of(f) {
            Kind::Gpu => DeviceClass::Gpu,
            Kind::Nic | Kind::InfiniBand => DeviceClass::Network,
            Kind::Nvme | Kind::Storage => DeviceClass::Storage,
            Kind::Accelerator => DeviceClass::Accelerator,
            Kind::HostBridge => DeviceClass::HostBridgeFunction,
            Kind::Bridge | Kind::Other => DeviceClass::Other,
            Kind::Unknown => DeviceClass::Unknown,
        }
    }

    /// A short name, also the CSS class suffix (`gpu`, `network`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            DeviceClass::Gpu => "gpu",
            DeviceClass::Network => "network",
            DeviceClass::Storage => "storage",
            DeviceClass::Accelerator => "accelerator",
            DeviceClass::FabricSwitch => "fabric-switch",
            DeviceClass::HostBridgeFunction => "host-function",
            DeviceClass::Other => "other",
            DeviceClass::Unknown => "unknown",
        }
    }

    /// The name in the legend.
    pub const fn legend(self) -> &'static str {
        match self {
            DeviceClass::Gpu => "GPU",
            DeviceClass::Network => "network",
            DeviceClass::Storage => "storage",
            DeviceClass::Accelerator => "accelerator",
            DeviceClass::FabricSwitch => "fabric switch",
            DeviceClass::HostBridgeFunction => "host bridge function",
            DeviceClass::Other => "other device",
            DeviceClass::Unknown => "unknown class",
        }
    }
}

/// What a box is.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum NodeKind {
    /// A host bridge (root complex); its root ports are its ports.
    HostBridge(HostBridgeId),
    /// A PCIe switch: upstream port and downstream ports (or, collapsed by the source, one
    /// node).
    Switch,
    /// Any other bridge.
    Bridge,
    /// A function that is not a bridge.
    Endpoint(DeviceClass),
    /// Several platform functions side by side on one bus (chipset and uncore functions: host
    /// bridge functions, system peripherals, USB, SMBus, ...), one line each.
    Group,
}

impl NodeKind {
    /// A short name, also the CSS class (`host-bridge`, `switch`, `bridge`, `endpoint`).
    pub const fn as_str(self) -> &'static str {
        match self {
            NodeKind::HostBridge(_) => "host-bridge",
            NodeKind::Switch => "switch",
            NodeKind::Bridge => "bridge",
            NodeKind::Endpoint(_) => "endpoint",
            NodeKind::Group => "group",
        }
    }
}

/// How a line of text in a box is set.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum LineStyle {
    /// Regular text.
    Normal,
    /// An address or ID, in monospace.
    Mono,
    /// A remark (inferred, p2pmem, SR-IOV), in italics.
    Note,
    /// The box's role on the highlighted route, emphasized.
    Route,
}

/// One line of text in a box (below its title).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Line {
    /// The text.
    pub text: String,
    /// How it is set.
    pub style: LineStyle,
    /// In a list of functions ([`NodeKind::Group`]): the function this line stands for, with
    /// its tooltip.
    pub member: Option<(FunctionId, String)>,
    /// Whether the highlighted route passes through the function of this line.
    pub on_route: bool,
}

impl Line {
    fn new(text: impl Into<String>, style: LineStyle) -> Self {
        Self {
            text: text.into(),
            style,
            member: None,
            on_route: false,
        }
    }
}

/// A port of a box: a root port of a host bridge, a downstream port of a switch.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Port {
    /// The port's function.
    pub function: FunctionId,
    /// Its address without the domain (`2d:04.0`).
    pub label: String,
    /// Whether ACS redirect is on at the port (`None`: unknown).
    pub acs_redirect: Option<bool>,
    /// Whether the highlighted route passes through it.
    pub on_route: bool,
    /// The boxes hanging from it, in order.
    pub children: Vec<NodeId>,
}

/// One box.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Node {
    /// What it is.
    pub kind: NodeKind,
    /// A stable identifier made of its address (`hb_0000_2b`, `fn_0000_34_00_0`), for DOT
    /// node names and SVG ids.
    pub key: String,
    /// Its own function: the endpoint, the bridge, the switch's upstream port; `None` for a
    /// host bridge.
    pub function: Option<FunctionId>,
    /// Its ports.
    pub ports: Vec<Port>,
    /// The box above it.
    pub parent: Option<NodeId>,
    /// The port of the box above it that it hangs from, if any.
    pub parent_port: Option<usize>,
    /// The boxes below it, in order (through its ports and directly).
    pub children: Vec<NodeId>,
    /// Boxes between it and its host bridge (0 for a host bridge).
    pub depth: u32,
    /// The title (a device name, `Host bridge pci0000:00`, `PCIe switch`).
    pub title: String,
    /// The lines below the title.
    pub lines: Vec<Line>,
    /// Everything known about it, for a tooltip.
    pub tooltip: String,
    /// NUMA node, if known.
    pub numa_node: Option<u32>,
    /// Whether the highlighted route passes through it.
    pub on_route: bool,
    /// Its role at an end of the highlighted route.
    pub role: Option<Role>,
}

impl Node {
    /// Every function drawn in this box: its own (for a list, its members), then its ports'.
    pub fn functions(&self) -> impl Iterator<Item = FunctionId> + '_ {
        let own = if self.kind == NodeKind::Group {
            None
        } else {
            self.function
        };
        own.into_iter()
            .chain(
                self.lines
                    .iter()
                    .filter_map(|l| l.member.as_ref().map(|m| m.0)),
            )
            .chain(self.ports.iter().map(|p| p.function))
    }
}

/// What a line between two boxes stands for.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum EdgeKind {
    /// A PCI Express link whose speed and width are (at least partly) known.
    Link,
    /// A link whose state is unknown, or a conventional PCI bus.
    Unknown,
    /// The root bus of a host bridge or the internal bus of a switch: no physical link.
    Internal,
    /// A virtual function: it shares its physical function's link.
    Virtual,
}

impl EdgeKind {
    /// A short name, also the CSS class suffix.
    pub const fn as_str(self) -> &'static str {
        match self {
            EdgeKind::Link => "link",
            EdgeKind::Unknown => "unknown",
            EdgeKind::Internal => "internal",
            EdgeKind::Virtual => "virtual",
        }
    }
}

/// A line from a box (or one of its ports) to a box below it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Edge {
    /// The upper box.
    pub parent: NodeId,
    /// The port of the upper box it leaves from, if any.
    pub port: Option<usize>,
    /// The lower box.
    pub child: NodeId,
    /// The upper function (the port, or the upper box's own function); `None` on a root bus.
    pub tail: Option<FunctionId>,
    /// The lower box's function.
    pub head: FunctionId,
    /// What the line stands for.
    pub kind: EdgeKind,
    /// Its annotation (`16 GT/s x16`, `VF`, `root bus`), if any.
    pub text: Option<String>,
    /// Bandwidth after encoding, one direction, in MB/s, if known.
    pub bandwidth: Option<u32>,
    /// Whether the highlighted route crosses it.
    pub on_route: bool,
}

/// One end of a private link.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum PrivateEnd {
    /// A box (the function's, or the box its port is on).
    Node(NodeId),
    /// A CPU socket, by NUMA node if known.
    Cpu(Option<u32>),
}

/// One bundle of private links.
#[derive(Clone, PartialEq, Debug)]
pub struct PrivateEdge {
    /// Index of the link in [`Machine::links`].
    pub index: usize,
    /// Its fabric.
    pub fabric: FabricId,
    /// The fabric's name.
    pub fabric_name: String,
    /// The fabric's technology.
    pub kind: LinkKind,
    /// One end.
    pub a: PrivateEnd,
    /// The other end.
    pub b: PrivateEnd,
    /// The function at end `a`, if it is one.
    pub a_function: Option<FunctionId>,
    /// The function at end `b`, if it is one.
    pub b_function: Option<FunctionId>,
    /// Whether `a` is a function that switches the fabric.
    pub a_is_switch: bool,
    /// Whether `b` is a function that switches the fabric.
    pub b_is_switch: bool,
    /// Number of parallel links in the bundle.
    pub count: u16,
    /// `NVLink ×2 · 50 GB/s`, with `down` when the links are down.
    pub text: String,
    /// Bandwidth of the bundle, MB/s, if known.
    pub bandwidth: Option<u32>,
    /// Whether the links are up.
    pub up: bool,
    /// Whether the highlighted route uses it.
    pub on_route: bool,
}

/// What a graph says about the highlighted route beyond its boxes and lines.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RouteSummary {
    /// The caption, if any.
    pub caption: Option<String>,
    /// Whether the route was refused.
    pub refused: bool,
    /// The host bridges the route passes through, in order.
    pub host_bridges: Vec<NodeId>,
    /// The CPU or system-memory end, at this host bridge's box.
    pub cpu_end: Option<(NodeId, Role)>,
}

/// How to build the graph.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct GraphOptions {
    /// The title (`PCI topology` when `None`).
    pub title: Option<String>,
    /// Draw each switch as one box with its downstream ports, and root ports on their host
    /// bridge (`true`, the default); `false` gives every port its own box.
    pub collapse_switches: bool,
    /// List platform functions that sit side by side on a bus (chipset and uncore functions)
    /// in one box, one line each (`true`, the default), rather than one box each.
    pub group_platform_functions: bool,
}

impl Default for GraphOptions {
    fn default() -> Self {
        Self {
            title: None,
            collapse_switches: true,
            group_platform_functions: true,
        }
    }
}

/// The machine as boxes and lines.
#[derive(Clone, PartialEq, Debug)]
pub struct MachineGraph {
    /// The title.
    pub title: String,
    /// One-line facts: functions, host bridges, CPU, private fabrics.
    pub summary: Vec<String>,
    /// What the picture inferred or cannot show.
    pub notes: Vec<String>,
    /// The boxes, parents before children.
    pub nodes: Vec<Node>,
    /// The lines of the tree.
    pub edges: Vec<Edge>,
    /// The private links.
    pub private_links: Vec<PrivateEdge>,
    /// The host bridge boxes, by NUMA node (unknown last) then by address.
    pub roots: Vec<NodeId>,
    /// The highlighted route, if any.
    pub route: Option<RouteSummary>,
    node_of: Vec<NodeId>,
    bdfs: Vec<Bdf>,
}

impl MachineGraph {
    /// Builds the graph of `m`, with `highlight` (built for the same machine) marked.
    pub fn new(
        m: &Machine,
        names: &dyn Names,
        options: &GraphOptions,
        highlight: Option<&Highlight>,
    ) -> Self {
        Builder::new(m, names, options).build(highlight)
    }

    /// The box a function is drawn in (its own, or the box its port is on).
    pub fn node_of(&self, f: FunctionId) -> Option<NodeId> {
        self.node_of.get(f.index()).copied()
    }

    /// A function's address.
    pub fn bdf_of(&self, f: FunctionId) -> Option<Bdf> {
        self.bdfs.get(f.index()).copied()
    }

    /// One box.
    pub fn node(&self, id: NodeId) -> Option<&Node> {
        self.nodes.get(id.index())
    }

    /// The line from a box's parent down to it, if any.
    pub fn edge_to(&self, child: NodeId) -> Option<&Edge> {
        self.edges.iter().find(|e| e.child == child)
    }
}

/// How a function is drawn.
enum Place {
    /// A port of the box it sits under.
    Port,
    /// A box of its own.
    Own(NodeKind, bool),
}

struct Builder<'a> {
    m: &'a Machine,
    names: &'a dyn Names,
    options: &'a GraphOptions,
    nodes: Vec<Node>,
    edges: Vec<Edge>,
    node_of: Vec<Option<NodeId>>,
    inferred: bool,
    unlisted: usize,
}

/// A function waiting to be placed: under which box, from which port, how deep below the
/// root bus.
struct Pending {
    f: FunctionId,
    parent: NodeId,
    port: Option<usize>,
    bus_depth: u32,
}

impl<'a> Builder<'a> {
    fn new(m: &'a Machine, names: &'a dyn Names, options: &'a GraphOptions) -> Self {
        Self {
            m,
            names,
            options,
            nodes: Vec::new(),
            edges: Vec::new(),
            node_of: vec![None; m.functions().len()],
            inferred: false,
            unlisted: 0,
        }
    }

    fn build(mut self, highlight: Option<&Highlight>) -> MachineGraph {
        let m = self.m;
        let mut hbs: Vec<HostBridgeId> = (0..m.host_bridges().len() as u32)
            .map(HostBridgeId)
            .collect();
        hbs.sort_by_key(|&h| {
            let numa = m.host_bridge(h).and_then(|hb| hb.numa_node).or_else(|| {
                m.root_functions(h)
                    .iter()
                    .find_map(|&f| m.function(f).and_then(|f| f.numa_node))
            });
            let hb = m.host_bridge(h).map(|hb| (hb.domain, hb.root_bus));
            (numa.is_none(), numa, hb, h)
        });
        let mut roots = Vec::new();
        for h in hbs {
            let id = self.host_bridge_node(h);
            roots.push(id);
            let mut stack: Vec<Pending> = m
                .root_functions(h)
                .iter()
                .rev()
                .map(|&f| Pending {
                    f,
                    parent: id,
                    port: None,
                    bus_depth: 0,
                })
                .collect();
            while let Some(p) = stack.pop() {
                self.place(p, &mut stack);
            }
        }
        // Functions no host bridge reaches cannot exist in a built machine; keep the map total.
        let fallback = roots.first().copied().unwrap_or(NodeId(0));
        let node_of: Vec<NodeId> = self.node_of.iter().map(|n| n.unwrap_or(fallback)).collect();
        let private_links = self.private_edges(&node_of);
        let mut g = MachineGraph {
            title: self
                .options
                .title
                .clone()
                .unwrap_or_else(|| "PCI topology".to_owned()),
            summary: self.summary(),
            notes: self.notes(),
            nodes: self.nodes,
            edges: self.edges,
            private_links,
            roots,
            route: None,
            node_of,
            bdfs: m.functions().iter().map(|f| f.bdf).collect(),
        };
        if let Some(h) = highlight {
            mark(&mut g, h);
        }
        g
    }

    fn host_bridge_node(&mut self, h: HostBridgeId) -> NodeId {
        let hb = self.m.host_bridge(h);
        let name = hb.map_or_else(|| format!("host bridge #{}", h.0), |hb| hb.sysfs_name());
        let numa = hb.and_then(|hb| hb.numa_node);
        let mut lines = vec![Line::new(name.clone(), LineStyle::Mono)];
        if let Some(n) = numa {
            lines.push(Line::new(format!("NUMA node {n}"), LineStyle::Normal));
        }
        let tooltip = format!(
            "host bridge {name}{}",
            numa.map_or_else(String::new, |n| format!(", NUMA node {n}"))
        );
        let key = hb.map_or_else(
            || format!("hb_{}", h.0),
            |hb| format!("hb_{:04x}_{:02x}", hb.domain, hb.root_bus),
        );
        self.push_node(Node {
            kind: NodeKind::HostBridge(h),
            key,
            function: None,
            ports: Vec::new(),
            parent: None,
            parent_port: None,
            children: Vec::new(),
            depth: 0,
            title: "Host bridge".to_owned(),
            lines,
            tooltip,
            numa_node: numa,
            on_route: false,
            role: None,
        })
    }

    fn push_node(&mut self, node: Node) -> NodeId {
        let id = NodeId(u32::try_from(self.nodes.len()).unwrap_or(u32::MAX));
        if let Some(p) = node.parent.and_then(|p| self.nodes.get_mut(p.index())) {
            p.children.push(id);
        }
        self.nodes.push(node);
        id
    }

    /// The port type of a bridge, known or inferred from its depth below the root bus.
    fn port_type(&mut self, f: &Function, bus_depth: u32) -> Option<PortType> {
        if let Some(t) = f.port_type {
            return Some(t);
        }
        if !f.is_bridge() {
            return None;
        }
        self.inferred = true;
        Some(match bus_depth {
            0 => PortType::RootPort,
            d if d % 2 == 1 => PortType::SwitchUpstream,
            _ => PortType::SwitchDownstream,
        })
    }

    fn classify(&mut self, p: &Pending, f: &Function) -> Place {
        if !f.is_bridge() {
            return Place::Own(NodeKind::Endpoint(DeviceClass::of(f)), false);
        }
        if self.m.switches_collapsed() {
            return Place::Own(NodeKind::Switch, false);
        }
        if !self.options.collapse_switches {
            return Place::Own(NodeKind::Bridge, false);
        }
        let known = f.port_type.is_some();
        let parent_kind = self.nodes.get(p.parent.index()).map(|n| n.kind);
        let parent_function = self.nodes.get(p.parent.index()).and_then(|n| n.function);
        match self.port_type(f, p.bus_depth) {
            Some(PortType::RootPort)
                if matches!(f.upstream, Upstream::HostBridge(_))
                    && matches!(parent_kind, Some(NodeKind::HostBridge(_))) =>
            {
                Place::Port
            }
            Some(PortType::SwitchDownstream)
                if parent_kind == Some(NodeKind::Switch)
                    && p.port.is_none()
                    && parent_function == self.m.parent(p.f) =>
            {
                Place::Port
            }
            Some(PortType::SwitchUpstream) => {
                let has_bridge_below = self
                    .m
                    .children(p.f)
                    .iter()
                    .any(|&c| self.m.function(c).is_some_and(Function::is_bridge));
                if known || has_bridge_below {
                    Place::Own(NodeKind::Switch, !known)
                } else {
                    Place::Own(NodeKind::Bridge, true)
                }
            }
            _ => Place::Own(NodeKind::Bridge, !known),
        }
    }

    fn place(&mut self, p: Pending, stack: &mut Vec<Pending>) {
        let m = self.m;
        let Some(f) = m.function(p.f) else {
            return;
        };
        if !f.listed {
            self.unlisted += 1;
        }
        let place = self.classify(&p, f);
        let (box_id, port_of_children) = match place {
            Place::Port => {
                let parent = p.parent;
                let Some(node) = self.nodes.get_mut(parent.index()) else {
                    return;
                };
                node.ports.push(Port {
                    function: p.f,
                    label: short_bdf(f.bdf),
                    acs_redirect: f.acs.redirect(),
                    on_route: false,
                    children: Vec::new(),
                });
                (parent, Some(node.ports.len() - 1))
            }
            Place::Own(kind, _) if self.joins_list(&p, f, kind) => {
                let line = self.member_line(p.f, f);
                let Some(id) = self
                    .nodes
                    .get(p.parent.index())
                    .and_then(|n| n.children.last().copied())
                else {
                    return;
                };
                let first = self
                    .nodes
                    .get(id.index())
                    .filter(|n| n.kind != NodeKind::Group)
                    .and_then(|n| n.function)
                    .and_then(|f0| self.m.function(f0).map(|x| self.member_line(f0, x)));
                if let Some(node) = self.nodes.get_mut(id.index()) {
                    if let Some(first) = first {
                        // The previous box becomes a list with its function as first line.
                        node.kind = NodeKind::Group;
                        node.lines = vec![first];
                        node.tooltip.clear();
                    }
                    node.lines.push(line);
                    node.title = format!("{} platform functions", node.lines.len());
                }
                (id, None)
            }
            Place::Own(kind, inferred) => {
                let depth = self.nodes.get(p.parent.index()).map_or(0, |n| n.depth + 1);
                let (title, lines) = self.text(p.f, f, kind, inferred);
                let id = self.push_node(Node {
                    kind,
                    key: function_key(f),
                    function: Some(p.f),
                    ports: Vec::new(),
                    parent: Some(p.parent),
                    parent_port: p.port,
                    children: Vec::new(),
                    depth,
                    title,
                    lines,
                    tooltip: self.tooltip(p.f, f),
                    numa_node: m.numa_node(p.f),
                    on_route: false,
                    role: None,
                });
                if let Some(port) = p.port {
                    if let Some(pp) = self
                        .nodes
                        .get_mut(p.parent.index())
                        .and_then(|n| n.ports.get_mut(port))
                    {
                        pp.children.push(id);
                    }
                }
                let edge = self.edge(&p, f, id);
                self.edges.push(edge);
                (id, None)
            }
        };
        if let Some(slot) = self.node_of.get_mut(p.f.index()) {
            *slot = Some(box_id);
        }
        for &c in m.children(p.f).iter().rev() {
            stack.push(Pending {
                f: c,
                parent: box_id,
                port: port_of_children,
                bus_depth: p.bus_depth + 1,
            });
        }
    }

    /// Whether a platform function goes into the list box just before it (or turns the box
    /// just before it into a list): both are platform functions without anything below them,
    /// on the same bus.
    fn joins_list(&self, p: &Pending, f: &Function, kind: NodeKind) -> bool {
        if !self.options.group_platform_functions
            || !is_platform(kind, f)
            || !self.m.children(p.f).is_empty()
            || self.has_private_link(p.f)
        {
            return false;
        }
        let Some(prev) = self
            .nodes
            .get(p.parent.index())
            .and_then(|n| n.children.last())
            .and_then(|&c| self.nodes.get(c.index()))
        else {
            return false;
        };
        if prev.parent_port != p.port || !prev.children.is_empty() || !prev.ports.is_empty() {
            return false;
        }
        match prev.kind {
            NodeKind::Group => true,
            NodeKind::Endpoint(_) => prev.function.is_some_and(|f0| {
                self.m.function(f0).is_some_and(|x| {
                    is_platform(prev.kind, x)
                        && self.m.children(f0).is_empty()
                        && !self.has_private_link(f0)
                })
            }),
            _ => false,
        }
    }

    /// Whether a function has an NVLink.
    fn on_nvlink(&self, f: FunctionId) -> bool {
        self.m.links().iter().any(|l| {
            (l.a == LinkEnd::Function(f) || l.b == LinkEnd::Function(f))
                && self
                    .m
                    .fabrics()
                    .get(l.fabric.0 as usize)
                    .is_some_and(|x| x.kind == LinkKind::NvLink)
        })
    }

    fn has_private_link(&self, f: FunctionId) -> bool {
        self.m
            .links()
            .iter()
            .any(|l| l.a == LinkEnd::Function(f) || l.b == LinkEnd::Function(f))
    }

    /// The line of a function in a list box: `00:04.0 DMA Channel 0`.
    fn member_line(&self, id: FunctionId, f: &Function) -> Line {
        let mut name = device_title(f, self.names);
        if let Some(d) = &f.driver {
            name.push_str(&format!(" ({d})"));
        }
        Line {
            text: format!("{} {name}", short_bdf(f.bdf)),
            style: LineStyle::Normal,
            member: Some((id, self.tooltip(id, f))),
            on_route: false,
        }
    }

    fn edge(&self, p: &Pending, f: &Function, child: NodeId) -> Edge {
        let m = self.m;
        let parent = self.nodes.get(p.parent.index());
        let port_fn = p
            .port
            .and_then(|i| parent.and_then(|n| n.ports.get(i)))
            .map(|pt| pt.function);
        let tail = port_fn.or_else(|| parent.and_then(|n| n.function));
        let parent_kind = parent.map(|n| n.kind);
        let on_internal_bus = p.port.is_none()
            && !m.switches_collapsed()
            && matches!(
                parent_kind,
                Some(NodeKind::HostBridge(_)) | Some(NodeKind::Switch)
            );
        let (kind, text, bandwidth) = if f.physfn.is_some() {
            (EdgeKind::Virtual, Some("VF".to_owned()), None)
        } else if on_internal_bus
            || matches!(
                f.port_type,
                Some(
                    PortType::RootPort
                        | PortType::SwitchDownstream
                        | PortType::RcIntegratedEndpoint
                        | PortType::RcEventCollector
                )
            )
        {
            (EdgeKind::Internal, None, None)
        } else {
            // The lower function's link; when it says nothing, the port's (the same link).
            let known =
                |x: &Function| !x.current_link.is_unknown() || x.current_bandwidth().is_some();
            let src = if known(f) {
                f
            } else {
                port_fn
                    .and_then(|pf| m.function(pf))
                    .filter(|x| known(x))
                    .unwrap_or(f)
            };
            let bandwidth = src.current_bandwidth().map(|b| b.0);
            match link_text(&src.current_link).or_else(|| bandwidth.map(bandwidth_text)) {
                Some(t) => (EdgeKind::Link, Some(t), bandwidth),
                None if f.is_pcie == Some(false) => {
                    (EdgeKind::Unknown, Some("PCI".to_owned()), None)
                }
                None => (EdgeKind::Unknown, None, None),
            }
        };
        Edge {
            parent: p.parent,
            port: p.port,
            child,
            tail,
            head: p.f,
            kind,
            text,
            bandwidth,
            on_route: false,
        }
    }

    fn text(
        &self,
        id: FunctionId,
        f: &Function,
        kind: NodeKind,
        inferred: bool,
    ) -> (String, Vec<Line>) {
        let names = self.names;
        let bdf = f.bdf.to_string();
        let mut lines = Vec::new();
        match kind {
            NodeKind::Switch => {
                let name = device_title(f, names);
                let vendor = f.vendor.and_then(|v| names.vendor(v)).map(short_vendor);
                lines.push(Line::new(
                    match vendor {
                        Some(v) => format!("{v} {name}"),
                        None => name,
                    },
                    LineStyle::Normal,
                ));
                if f.acs.redirect() == Some(true) {
                    lines.push(Line::new(
                        "ACS redirect on (upstream port)",
                        LineStyle::Note,
                    ));
                }
                if self.m.switches_collapsed() {
                    lines.push(Line::new(bdf, LineStyle::Mono));
                    lines.push(Line::new("ports not in the source", LineStyle::Note));
                } else {
                    lines.push(Line::new(format!("up {bdf}"), LineStyle::Mono));
                    if inferred {
                        lines.push(Line::new("ports inferred", LineStyle::Note));
                    }
                }
                ("PCIe switch".to_owned(), lines)
            }
            NodeKind::Bridge => {
                if let Some(vc) = vendor_and_class(f, names) {
                    lines.push(Line::new(vc, LineStyle::Normal));
                }
                lines.push(Line::new(bdf, LineStyle::Mono));
                match f.port_type {
                    Some(t) => lines.push(Line::new(t.name(), LineStyle::Note)),
                    None if inferred => lines.push(Line::new("port type unknown", LineStyle::Note)),
                    None => {}
                }
                if f.acs.redirect() == Some(true) {
                    lines.push(Line::new("ACS redirect on", LineStyle::Note));
                }
                (device_title(f, names), lines)
            }
            NodeKind::Endpoint(_) | NodeKind::HostBridge(_) | NodeKind::Group => {
                let mut title = device_title(f, names);
                if f.fabric_switch && title == "fabric switch" && self.on_nvlink(id) {
                    title = "NVSwitch".to_owned();
                }
                match vendor_and_class(f, names) {
                    // The title is the class name already: say only the vendor.
                    Some(vc) if vc.ends_with(&title) => {
                        let vendor = vc[..vc.len() - title.len()].trim_end_matches([' ', '·']);
                        if !vendor.is_empty() {
                            lines.push(Line::new(vendor, LineStyle::Normal));
                        }
                    }
                    Some(vc) => lines.push(Line::new(vc, LineStyle::Normal)),
                    None => {}
                }
                lines.push(Line::new(
                    format!("{bdf}  {}", f.id_string()),
                    LineStyle::Mono,
                ));
                let mut os = Vec::new();
                if let Some(d) = &f.driver {
                    os.push(d.clone());
                }
                if !f.os_devices.is_empty() {
                    os.push(f.os_devices.join(" "));
                }
                if !os.is_empty() {
                    lines.push(Line::new(os.join(" · "), LineStyle::Normal));
                }
                let mut notes = Vec::new();
                if let Some(p) = &f.p2pmem {
                    notes.push(format!("p2pmem {}", size_text(p.size)));
                }
                if let Some(pf) = f.physfn.and_then(|pf| self.m.function(pf)) {
                    notes.push(format!("VF of {}", short_bdf(pf.bdf)));
                }
                if let Some(n) = f.sriov_numvfs.filter(|&n| n > 0) {
                    notes.push(format!("SR-IOV: {n} VFs"));
                }
                if !f.listed {
                    notes.push("not listed by the source".to_owned());
                }
                if !notes.is_empty() {
                    lines.push(Line::new(notes.join(" · "), LineStyle::Note));
                }
                (title, lines)
            }
        }
    }

    fn tooltip(&self, id: FunctionId, f: &Function) -> String {
        let names = self.names;
        let mut t = vec![format!("{} [{}]", f.bdf, f.id_string())];
        let vendor = f.vendor.and_then(|v| names.vendor(v));
        let device = f.vendor.zip(f.device).and_then(|(v, d)| names.device(v, d));
        match (vendor, device) {
            (Some(v), Some(d)) => t.push(format!("{v} {d}")),
            (Some(v), None) => t.push(v.to_owned()),
            _ => {}
        }
        if let (Some(sv), Some(sd)) = (f.subsystem_vendor, f.subsystem_device) {
            t.push(format!("subsystem {sv:04x}:{sd:04x}"));
        }
        if let Some(c) = f.class {
            let name = names.class(c).map_or_else(String::new, |n| format!(" {n}"));
            t.push(format!("class {c}{name}"));
        }
        if let Some(pt) = f.port_type {
            t.push(format!("port type: {pt}"));
        }
        if let Some(l) = link_text(&f.current_link) {
            let bw = f
                .current_bandwidth()
                .map_or_else(String::new, |b| format!(", {}", bandwidth_text(b.0)));
            let max = link_text(&f.max_link).map_or_else(String::new, |m| format!(" (max {m})"));
            t.push(format!("link {l}{max}{bw}"));
        } else if let Some(b) = f.current_bandwidth() {
            t.push(format!(
                "link {} (speed and width unknown)",
                bandwidth_text(b.0)
            ));
        }
        t.push(format!("ACS redirect: {}", f.acs.redirect_state()));
        if let Some(g) = f.iommu_group {
            t.push(format!("IOMMU group {g}"));
        }
        if let Some(n) = self.m.numa_node(id) {
            t.push(format!("NUMA node {n}"));
        }
        if let Some(d) = &f.driver {
            t.push(format!("driver {d}"));
        }
        if !f.os_devices.is_empty() {
            t.push(format!("OS devices: {}", f.os_devices.join(", ")));
        }
        if let Some(p) = &f.p2pmem {
            t.push(format!("p2pmem {}", size_text(p.size)));
        }
        t.join("\n")
    }

    fn private_edges(&self, node_of: &[NodeId]) -> Vec<PrivateEdge> {
        let m = self.m;
        let end = |e: LinkEnd| match e {
            LinkEnd::Function(f) => node_of
                .get(f.index())
                .copied()
                .map_or(PrivateEnd::Cpu(None), PrivateEnd::Node),
            LinkEnd::Cpu { numa_node } => PrivateEnd::Cpu(numa_node),
        };
        let function_of = |e: LinkEnd| match e {
            LinkEnd::Function(f) => Some(f),
            LinkEnd::Cpu { .. } => None,
        };
        let is_switch = |e: LinkEnd| match e {
            LinkEnd::Function(f) => m.function(f).is_some_and(|f| f.fabric_switch),
            LinkEnd::Cpu { .. } => false,
        };
        m.links()
            .iter()
            .enumerate()
            .map(|(index, l)| {
                let fabric = m.fabrics().get(l.fabric.0 as usize);
                let kind = fabric.map_or(LinkKind::Other("private".to_owned()), |f| f.kind.clone());
                let bandwidth = l.total_bandwidth().map(|b| b.0);
                let mut text = format!("{kind} ×{}", l.count);
                if let Some(b) = bandwidth {
                    text.push_str(&format!(" · {}", bandwidth_text(b)));
                }
                if !l.up {
                    text.push_str(" · down");
                }
                PrivateEdge {
                    index,
                    fabric: l.fabric,
                    fabric_name: fabric
                        .map_or_else(|| format!("fabric {}", l.fabric.0), |f| f.name.clone()),
                    kind,
                    a: end(l.a),
                    b: end(l.b),
                    a_function: function_of(l.a),
                    b_function: function_of(l.b),
                    a_is_switch: is_switch(l.a),
                    b_is_switch: is_switch(l.b),
                    count: l.count,
                    text,
                    bandwidth,
                    up: l.up,
                    on_route: false,
                }
            })
            .collect()
    }

    fn summary(&self) -> Vec<String> {
        let m = self.m;
        let mut s = Vec::new();
        let hbs = m.host_bridges().len();
        let mut first = format!(
            "{} PCI functions · {} host bridge{}",
            m.functions().len(),
            hbs,
            if hbs == 1 { "" } else { "s" }
        );
        let cpu = m.cpu();
        if cpu.vendor != pci_topology::CpuVendor::Unknown || cpu.model_name.is_some() {
            first.push_str(" · CPU: ");
            match &cpu.model_name {
                Some(name) => first.push_str(name.trim()),
                None => first.push_str(&cpu.vendor.to_string()),
            }
            if let Some(fam) = cpu.family {
                first.push_str(&format!(" (family {fam:#x})"));
            }
        }
        s.push(first);
        if !m.links().is_empty() {
            let mut per_fabric: BTreeMap<String, usize> = BTreeMap::new();
            for l in m.links() {
                let name = m.fabrics().get(l.fabric.0 as usize).map_or_else(
                    || format!("fabric {}", l.fabric.0),
                    |f| format!("{} ({})", f.name, f.kind),
                );
                *per_fabric.entry(name).or_default() += 1;
            }
            let parts: Vec<String> = per_fabric
                .iter()
                .map(|(name, n)| {
                    format!(
                        "{n} link bundle{} on {name}",
                        if *n == 1 { "" } else { "s" }
                    )
                })
                .collect();
            s.push(format!("private links: {}", parts.join(", ")));
        }
        s
    }

    fn notes(&self) -> Vec<String> {
        let mut n = Vec::new();
        if self.m.switches_collapsed() {
            n.push(
                "The source collapsed each PCIe switch into one node: root and downstream ports \
                 are not in it."
                    .to_owned(),
            );
        } else if self.inferred {
            n.push(
                "Port types unknown: root ports and switches inferred from the depth below the \
                 root bus."
                    .to_owned(),
            );
        }
        if self.unlisted > 0 {
            n.push(format!(
                "{} function{} known only as a bridge on another function's path.",
                self.unlisted,
                if self.unlisted == 1 { "" } else { "s" }
            ));
        }
        n
    }
}

/// Whether a function is platform plumbing rather than a device people share memory with:
/// host bridge functions, system peripherals, and other classes that are neither GPUs, network,
/// storage, accelerators nor fabric switches; never a function with p2pmem, SR-IOV or a VF.
fn is_platform(kind: NodeKind, f: &Function) -> bool {
    matches!(
        kind,
        NodeKind::Endpoint(
            DeviceClass::Other | DeviceClass::Unknown | DeviceClass::HostBridgeFunction
        )
    ) && f.p2pmem.is_none()
        && f.physfn.is_none()
        && f.sriov_numvfs.is_none_or(|n| n == 0)
        && f.listed
}

/// `fn_0000_34_00_0`.
fn function_key(f: &Function) -> String {
    format!(
        "fn_{:04x}_{:02x}_{:02x}_{:x}",
        f.bdf.domain, f.bdf.bus, f.bdf.device, f.bdf.function
    )
}

/// The line saying what a route end does.
fn role_text(role: Role) -> &'static str {
    match role {
        Role::Memory => "route end: owns the memory",
        Role::Initiator => "route end: does the DMA",
    }
}

/// Marks the route on the graph.
fn mark(g: &mut MachineGraph, h: &Highlight) {
    for node in &mut g.nodes {
        let mut on = node.function.is_some_and(|f| h.contains_function(f));
        for line in &mut node.lines {
            if let Some((f, _)) = &line.member {
                line.on_route = h.contains_function(*f);
                on |= line.on_route;
            }
        }
        for port in &mut node.ports {
            port.on_route = h.contains_function(port.function);
            on |= port.on_route;
        }
        if let NodeKind::HostBridge(hb) = node.kind {
            on |= h.host_bridges().contains(&hb);
        }
        node.on_route = on;
        node.role = if node.kind == NodeKind::Group {
            None
        } else {
            node.function.and_then(|f| h.role_of(f))
        };
        if let Some(role) = node.role {
            node.lines
                .push(Line::new(role_text(role), LineStyle::Route));
        }
        if let (NodeKind::HostBridge(hb), Some((end_hb, role))) = (node.kind, h.cpu_end()) {
            if hb == end_hb {
                let text = match role {
                    Role::Memory => "route end: system memory",
                    Role::Initiator => "route end: the CPU",
                };
                node.lines.push(Line::new(text, LineStyle::Route));
            }
        }
    }
    for e in &mut g.edges {
        let members = g
            .nodes
            .get(e.child.index())
            .map_or(&[][..], |n| n.lines.as_slice());
        e.on_route = h.crosses_uplink(e.head)
            || members
                .iter()
                .any(|l| l.member.as_ref().is_some_and(|m| h.crosses_uplink(m.0)));
    }
    for p in &mut g.private_links {
        p.on_route = h.uses_private_link(p.index);
    }
    let hb_node = |g: &MachineGraph, hb: HostBridgeId| {
        g.roots.iter().copied().find(|&r| {
            g.node(r)
                .is_some_and(|n| n.kind == NodeKind::HostBridge(hb))
        })
    };
    let host_bridges = h
        .host_bridges()
        .iter()
        .filter_map(|&hb| hb_node(g, hb))
        .collect();
    let cpu_end = h
        .cpu_end()
        .and_then(|(hb, role)| hb_node(g, hb).map(|n| (n, role)));
    g.route = Some(RouteSummary {
        caption: h.caption().map(str::to_owned),
        refused: h.is_refused(),
        host_bridges,
        cpu_end,
    });
}
