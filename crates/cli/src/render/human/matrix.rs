//! `matrix` for people: the devices listed once, grouped by kind, each with a short tag (`G0`
//! for a GPU, `N0` a NIC, `S0` NVMe or storage, `A0` an accelerator, `D0` any other device),
//! its bus id and its OS names; the nearest NIC of each GPU and accelerator; then three compact
//! matrices (kernel verdict, nvidia-smi class, route bandwidth) whose cells are at most four
//! characters wide. Every line of a matrix fits 100 columns: 16 devices take at most 99, and
//! columns that do not fit are printed in blocks that do.

use std::fmt::Write;

use anstyle::Style;
use pci_topology::{FunctionId, Machine, MapType, NvClass};

use super::words;
use crate::commands::matrix::{Cell, Matrix, Selection};
use crate::counts::count;
use crate::kind::Kind;
use crate::source::MachineSource;
use crate::style::{self, BAD, DIM, FAIR, GOOD, HEADING, ID, LABEL};

/// Renders the report.
pub fn render(m: &Machine, source: &MachineSource, x: &Matrix) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}  {}",
        style::paint(LABEL, "machine"),
        source.describe()
    );
    if let Some(note) = words::guest_note(m) {
        let _ = writeln!(out, "{}    {note}", style::paint(LABEL, "guest"));
    }
    let chosen = match x.selection {
        Selection::Default { .. } => {
            "GPUs and displays, NICs, InfiniBand, NVMe and storage, accelerators, p2pmem providers (--all: every endpoint)"
        }
        Selection::All => "every endpoint",
        Selection::Named => "as named",
    };
    let _ = writeln!(
        out,
        "{}  {} of {} endpoints: {chosen}",
        style::paint(LABEL, "devices"),
        x.devices.len(),
        x.endpoints
    );
    if let Selection::Default { hidden_vfs } = x.selection {
        if hidden_vfs > 0 {
            let _ = writeln!(
                out,
                "         {} not shown (name them, or use --all)",
                count(hidden_vfs as u64, "virtual function")
            );
        }
    }
    if x.devices.is_empty() {
        let _ = writeln!(
            out,
            "\nNo devices to compare. Name some (bus ids or OS device names) or use --all."
        );
        return out;
    }
    let layout = Layout::new(m, x);
    devices(&mut out, m, x, &layout);
    nearest_nics(&mut out, m, x, &layout);

    grid(
        &mut out,
        x,
        &layout,
        &format!(
            "P2P verdict ({} rules): rows own the memory (provider), columns do the DMA (client)",
            m.whitelist().release
        ),
        verdict_cell,
    );
    collapsed_note(&mut out, m);
    grid(
        &mut out,
        x,
        &layout,
        "Path class (as nvidia-smi topo -m)",
        class_cell,
    );
    collapsed_note(&mut out, m);
    grid(
        &mut out,
        x,
        &layout,
        "Route bandwidth, GB/s (narrowest link, per direction, after line encoding; 3 significant digits)",
        bandwidth_cell,
    );

    let _ = writeln!(out, "\n{}", style::paint(HEADING, "Legend"));
    let legend: [(&str, &str); 10] = [
        (
            "G0 N0 …",
            "the devices above: G GPUs, N NICs, S NVMe and storage, A accelerators, D others",
        ),
        (
            "B<n>",
            "P2P with bus addresses, kernel distance n: traffic stays below a common bridge",
        ),
        (
            "H<n>",
            "P2P through the host bridge (root complex), distance n",
        ),
        (
            "--",
            &format!(
                "not supported: pci_p2pdma_distance() = -1 (`{} explain P C` says why)",
                source.command()
            ),
        ),
        (
            "?",
            "the source does not give a fact the verdict depends on (ACS, the host bridge's \
             device, the CPU): the best outcome it allows is shown, a worse one is possible \
             (`explain P C` lists each)",
        ),
        ("X", "the device itself"),
        (
            "PIX/PXB",
            "at most one / several PCIe bridges, no host bridge",
        ),
        ("PHB", "through a host bridge"),
        (
            "NODE/SYS",
            "between host bridges on one NUMA node / across NUMA nodes",
        ),
        ("GB/s", "? unknown link on the route, -- no route"),
    ];
    for (k, v) in legend {
        let _ = writeln!(out, "  {}  {v}", style::paint(ID, format!("{k:<8}")));
    }
    out
}

/// Under a grid whose figures a source with collapsed switches makes approximate, says so.
fn collapsed_note(out: &mut String, m: &Machine) {
    if m.switches_collapsed() {
        let _ = writeln!(
            out,
            "{}",
            style::paint(
                FAIR,
                "note: this source collapses each PCIe switch into one node: distances miss the \
                 switches' ports (the kernel's are larger), and classes count each switch once"
            )
        );
    }
}

/// A cell's text (plain, for width) and its style.
type CellText = (String, Style);

fn verdict_cell(c: &Cell) -> CellText {
    if c.provider == c.client {
        return ("X".to_owned(), DIM);
    }
    // The best outcome the facts the source does not give allow, with `?` when they allow a
    // worse one too.
    let v = c.verdict;
    let q = if v.is_known() { "" } else { "?" };
    match c.shown_map_type() {
        MapType::BusAddr => (format!("B{}{q}", v.distance()), GOOD),
        MapType::ThruHostBridge => (format!("H{}{q}", v.distance()), FAIR),
        MapType::NotSupported => ("--".to_owned(), BAD),
    }
}

fn class_cell(c: &Cell) -> CellText {
    let k = c.class;
    (
        k.as_str().to_owned(),
        if k == NvClass::X { DIM } else { Style::new() },
    )
}

fn bandwidth_cell(c: &Cell) -> CellText {
    if c.provider == c.client {
        return ("X".to_owned(), DIM);
    }
    match &c.route {
        None => ("--".to_owned(), BAD),
        Some(q) => match q.bandwidth {
            Some(b) => (b.gbps().to_string(), Style::new()),
            None => ("?".to_owned(), DIM),
        },
    }
}

/// Where each device goes and what it is called: grouped by kind (the devices as named keep
/// their order), each with its tag.
struct Layout {
    /// Positions in `Matrix::devices`, in display order.
    order: Vec<usize>,
    /// The tag of each device, by its position in `Matrix::devices`.
    tags: Vec<String>,
}

/// A group of devices in the matrix: its heading and the letter of its tags.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Group {
    Gpu,
    Nic,
    Storage,
    Accelerator,
    Other,
}

impl Group {
    fn of(kind: Kind) -> Group {
        match kind {
            Kind::Gpu => Group::Gpu,
            Kind::Nic | Kind::InfiniBand => Group::Nic,
            Kind::Nvme | Kind::Storage => Group::Storage,
            Kind::Accelerator => Group::Accelerator,
            Kind::HostBridge | Kind::Bridge | Kind::Other | Kind::Unknown => Group::Other,
        }
    }

    const fn letter(self) -> char {
        match self {
            Group::Gpu => 'G',
            Group::Nic => 'N',
            Group::Storage => 'S',
            Group::Accelerator => 'A',
            Group::Other => 'D',
        }
    }

    const fn heading(self) -> &'static str {
        match self {
            Group::Gpu => "GPUs and displays",
            Group::Nic => "NICs and InfiniBand",
            Group::Storage => "NVMe and storage",
            Group::Accelerator => "Accelerators",
            Group::Other => "Other devices",
        }
    }
}

impl Layout {
    fn new(m: &Machine, x: &Matrix) -> Layout {
        let group = |i: usize| {
            m.function(x.devices[i])
                .map_or(Group::Other, |f| Group::of(Kind::of(f)))
        };
        let mut order: Vec<usize> = (0..x.devices.len()).collect();
        if x.selection != Selection::Named {
            order.sort_by_key(|&i| group(i));
        }
        let mut tags = vec![String::new(); x.devices.len()];
        let mut next = [0usize; 5];
        for &i in &order {
            let g = group(i);
            let k = &mut next[g as usize];
            tags[i] = format!("{}{k}", g.letter());
            *k += 1;
        }
        Layout { order, tags }
    }

    fn tag(&self, i: usize) -> &str {
        self.tags.get(i).map_or("?", String::as_str)
    }
}

/// The devices, by group: tag, bus id, OS names, names from the PCI ID database.
fn devices(out: &mut String, m: &Machine, x: &Matrix, layout: &Layout) {
    let names = |i: usize| {
        m.function(x.devices[i])
            .map_or_else(String::new, |f| f.os_devices.join(" "))
    };
    let tw = layout.tags.iter().map(String::len).max().unwrap_or(2);
    let bw = x
        .devices
        .iter()
        .map(|&d| words::bdf(m, d).len())
        .max()
        .unwrap_or(12);
    let nw = (0..x.devices.len())
        .map(|i| names(i).len())
        .max()
        .unwrap_or(0);
    let mut last = None;
    for &i in &layout.order {
        let Some(f) = m.function(x.devices[i]) else {
            continue;
        };
        let group = Group::of(Kind::of(f));
        if last != Some(group) {
            let _ = writeln!(out, "\n{}", style::paint(HEADING, group.heading()));
            last = Some(group);
        }
        let mut label = words::function_label(f);
        if let Some(p) = &f.p2pmem {
            label.push_str(&format!(" · {}", style::paint(GOOD, words::p2pmem(p))));
        }
        if let Some(pf) = f.physfn {
            label.push_str(&format!(" · VF of {}", m.name(pf)));
        }
        let os = if nw == 0 {
            String::new()
        } else {
            format!("  {:<nw$}", names(i))
        };
        let _ = writeln!(
            out,
            "  {}  {}{os}  {label}",
            style::paint(ID, format!("{:<tw$}", layout.tag(i))),
            style::paint(ID, format!("{:<bw$}", f.bdf.to_string())),
        );
    }
}

/// For each GPU and accelerator, the NICs that reach its memory best: the GPU-to-NIC question in
/// one line each.
fn nearest_nics(out: &mut String, m: &Machine, x: &Matrix, layout: &Layout) {
    let all = x.nearest_nics(m);
    if all.is_empty() {
        return;
    }
    let position = |id: FunctionId| x.devices.iter().position(|&d| d == id);
    let tag = |id: FunctionId| position(id).map_or("?", |i| layout.tag(i));
    let name = |id: FunctionId| {
        let mut s = tag(id).to_owned();
        if let Some(os) = m.function(id).and_then(|f| f.os_devices.first()) {
            s.push_str(&format!(" {os}"));
        }
        s
    };
    let _ = writeln!(
        out,
        "\n{}",
        style::paint(
            HEADING,
            "Nearest NIC of each GPU and accelerator (the NIC DMAs into its memory, as GPUDirect RDMA)"
        )
    );
    let tw = all.iter().map(|n| tag(n.gpu).len()).max().unwrap_or(2);
    for n in &all {
        let nics: Vec<String> = n.nics.iter().map(|&c| name(c)).collect();
        let (verdict, st) = verdict_cell(&n.cell);
        let (band, _) = bandwidth_cell(&n.cell);
        let how = if n.p2p() {
            format!(
                "{} · {} · {}",
                style::paint(st, verdict),
                n.cell.class.as_str(),
                if band == "?" {
                    "bandwidth unknown".to_owned()
                } else {
                    format!("{band} GB/s")
                }
            )
        } else {
            format!(
                "{} no P2P to any NIC; nearest by path ({})",
                style::paint(BAD, "--"),
                n.cell.class.as_str()
            )
        };
        let _ = writeln!(
            out,
            "  {} {} → {}  {how}",
            style::paint(ID, format!("{:<tw$}", tag(n.gpu))),
            words::bdf(m, n.gpu),
            nics.join(", "),
        );
    }
}

/// The widest line a matrix may take.
const WIDTH: usize = 100;

/// One matrix: a row per provider, a column per client, in the layout's order; when the
/// columns do not fit [`WIDTH`] with one space between them, in blocks that do.
fn grid(out: &mut String, x: &Matrix, layout: &Layout, title: &str, cell: fn(&Cell) -> CellText) {
    // Every cell once, in display order.
    let n = layout.order.len();
    let texts: Vec<CellText> = layout
        .order
        .iter()
        .flat_map(|&i| layout.order.iter().map(move |&j| (i, j)))
        .map(|(i, j)| x.cell(i, j).map_or_else(|| ("?".to_owned(), DIM), cell))
        .collect();
    let lw = layout.tags.iter().map(String::len).max().unwrap_or(2);
    let w = texts
        .iter()
        .map(|(t, _)| t.chars().count())
        .chain(layout.tags.iter().map(String::len))
        .max()
        .unwrap_or(1);
    // Two spaces between columns when all of them fit so, else one, in blocks if need be.
    let (sep, per_block) = if lw + n * (w + 2) <= WIDTH {
        ("  ", n.max(1))
    } else {
        (" ", (WIDTH.saturating_sub(lw) / (w + 1)).max(1))
    };
    let _ = writeln!(out, "\n{}", style::paint(HEADING, title));
    let columns: Vec<usize> = (0..n).collect();
    for (b, block) in columns.chunks(per_block).enumerate() {
        if b > 0 {
            let _ = writeln!(out);
        }
        let mut head = format!("{:lw$}", "");
        for &c in block {
            head.push_str(&format!("{sep}{:>w$}", layout.tag(layout.order[c])));
        }
        let _ = writeln!(out, "{}", style::paint(ID, head.trim_end()));
        for (r, &i) in layout.order.iter().enumerate() {
            let mut line = style::paint(ID, format!("{:<lw$}", layout.tag(i)));
            for &c in block {
                let (t, st) = &texts[r * n + c];
                line.push_str(sep);
                line.push_str(&style::paint(*st, format!("{t:>w$}")));
            }
            let _ = writeln!(out, "{line}");
        }
    }
}
