//! `matrix` for people: devices are indexed and listed once, then three compact matrices
//! (kernel verdict, nvidia-smi class, route bandwidth) keep every cell a few characters wide,
//! so that 16 or more devices still fit a terminal.

use std::fmt::Write;

use anstyle::Style;
use pci_topology::{Machine, MapType, NvClass};

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
    let n = x.devices.len();
    let iw = (n - 1).to_string().len();

    // The key.
    let _ = writeln!(out);
    let bdfw = x
        .devices
        .iter()
        .map(|&d| words::bdf(m, d).len())
        .max()
        .unwrap_or(12);
    let _ = writeln!(
        out,
        "{}",
        style::paint(
            HEADING,
            format!("{:>iw$}  {:<bdfw$}  {:<7}  device", "#", "bus id", "kind")
        )
    );
    for (i, &d) in x.devices.iter().enumerate() {
        let Some(f) = m.function(d) else { continue };
        let mut label = words::function_label(f);
        if let Some(p) = &f.p2pmem {
            label.push_str(&format!(" · {}", style::paint(GOOD, words::p2pmem(p))));
        }
        if let Some(pf) = f.physfn {
            label.push_str(&format!(" · VF of {}", m.name(pf)));
        }
        let _ = writeln!(
            out,
            "{i:>iw$}  {}  {:<7}  {label}",
            style::paint(ID, format!("{:<bdfw$}", f.bdf.to_string())),
            Kind::of(f).label()
        );
    }

    grid(
        &mut out,
        x,
        iw,
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
        iw,
        "Path class (as nvidia-smi topo -m)",
        class_cell,
    );
    collapsed_note(&mut out, m);
    grid(
        &mut out,
        x,
        iw,
        "Route bandwidth, GB/s (narrowest link, per direction, after line encoding; 3 significant digits)",
        bandwidth_cell,
    );

    let _ = writeln!(out, "\n{}", style::paint(HEADING, "Legend"));
    let legend = [
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
            "not supported: pci_p2pdma_distance() = -1 (`dmabuf-ic explain P C` says why)",
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
    match v.possible().best().unwrap_or(v.map_type()) {
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

fn grid(out: &mut String, x: &Matrix, iw: usize, title: &str, cell: fn(&Cell) -> CellText) {
    let n = x.devices.len();
    let texts: Vec<CellText> = x.cells.iter().map(cell).collect();
    let w = texts
        .iter()
        .map(|(t, _)| t.chars().count())
        .chain(std::iter::once(iw))
        .max()
        .unwrap_or(1);
    // Two spaces between columns, or one when that keeps a wide matrix within 100 columns
    // (16 devices of four-character cells fit 84).
    let sep = if iw + n * (w + 2) > 100 { " " } else { "  " };
    let _ = writeln!(out, "\n{}", style::paint(HEADING, title));
    let mut head = format!("{:>iw$}", "");
    for j in 0..n {
        head.push_str(&format!("{sep}{j:>w$}"));
    }
    let _ = writeln!(out, "{}", style::paint(ID, head.trim_end()));
    for i in 0..n {
        let mut line = style::paint(ID, format!("{i:>iw$}"));
        for j in 0..n {
            let (t, st) = texts
                .get(i * n + j)
                .cloned()
                .unwrap_or_else(|| ("?".to_owned(), DIM));
            line.push_str(sep);
            line.push_str(&style::paint(st, format!("{t:>w$}")));
        }
        let _ = writeln!(out, "{line}");
    }
}
