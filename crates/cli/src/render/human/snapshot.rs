//! `snapshot` for people: what was saved where, what could not be read, and how to use it.

use std::fmt::Write;

use crate::commands::snapshot::{Saved, describe};
use crate::counts::count;
use crate::style::{self, DIM, FAIR, HEADING, ID, LABEL};

/// How many names a list shows before "and N more".
const SHOWN: usize = 6;

fn some(names: &[String]) -> String {
    let mut s = names
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        let _ = write!(s, " and {} more", names.len() - SHOWN);
    }
    s
}

/// Renders what was saved.
pub fn render(x: &Saved) -> String {
    let m = &x.report.machine;
    let mut out = String::new();
    let bridges = m.functions().iter().filter(|f| f.is_bridge()).count();
    let _ = writeln!(
        out,
        "{}    {} → {} ({} kB)",
        style::paint(LABEL, "saved"),
        describe(&x.root),
        style::paint(ID, x.archive.display().to_string()),
        x.bytes.div_ceil(1024)
    );
    let _ = writeln!(
        out,
        "{}     {} ({}) below {}, {} files, links and folders; {}",
        style::paint(LABEL, "holds"),
        count(m.functions().len() as u64, "PCI function"),
        count(bridges as u64, "bridge"),
        count(m.host_bridges().len() as u64, "host bridge"),
        x.report.entries,
        if x.as_root {
            "taken as root"
        } else {
            "taken without root"
        }
    );
    let short = &x.report.short_configs;
    if !short.is_empty() || !x.report.unreadable.is_empty() {
        let _ = writeln!(out, "\n{}", style::paint(HEADING, "Not saved"));
    }
    if !short.is_empty() {
        let names: Vec<String> = short.iter().map(|b| b.to_string()).collect();
        let _ = writeln!(
            out,
            "  {} configuration space past its first 64 bytes, of {} function{} ({}): the kernel \
             gives the rest only to root, so their ACS and PCIe port types are unknown in the \
             snapshot; run `sudo dmabuf-ic snapshot {}` to save them",
            style::paint(FAIR, "-"),
            short.len(),
            if short.len() == 1 { "" } else { "s" },
            some(&names),
            x.archive.display()
        );
    }
    if !x.report.unreadable.is_empty() {
        let _ = writeln!(
            out,
            "  {} {} file{} the kernel refused to read ({}): unknown in the snapshot",
            style::paint(FAIR, "-"),
            x.report.unreadable.len(),
            if x.report.unreadable.len() == 1 {
                ""
            } else {
                "s"
            },
            some(&x.report.unreadable)
        );
    }
    let _ = writeln!(
        out,
        "\n{}  {}",
        style::paint(LABEL, "use it"),
        style::paint(
            DIM,
            format!("dmabuf-ic --sysfs {} matrix", x.archive.display())
        )
    );
    out
}
