//! Draws a machine from any source the loaders read (sysfs snapshot, hwloc XML, NCCL XML,
//! TOML) as SVG or DOT, optionally with Linux's P2P route between two functions highlighted.
//! The command line does the same with `topo --format svg|dot`; this example regenerates the
//! pictures under `docs/images/` without it:
//!
//! ```text
//! cargo run -p dmabuf-ic --example picture -- svg ../shared/fixtures/nccl/topo_8A100_4CX6.xml \
//!     0000:13:00.0 0000:1a:00.0 > docs/images/nccl-8xA100-gpu-nic-route.svg
//! ```

use std::process::ExitCode;

use dmabuf_ic::picture::graph::{GraphOptions, MachineGraph};
use dmabuf_ic::picture::highlight::Highlight;
use dmabuf_ic::picture::names::PciIds;
use dmabuf_ic::picture::{dot, svg};
use pci_topology::Bdf;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(format), Some(path)) = (args.first(), args.get(1)) else {
        eprintln!("usage: picture svg|dot MACHINE [PROVIDER CLIENT]");
        return ExitCode::from(2);
    };
    let m = match pci_topology::load::load(path) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("picture: {e}");
            return ExitCode::from(1);
        }
    };
    let mut highlight = None;
    if let (Some(p), Some(c)) = (args.get(2), args.get(3)) {
        let find = |t: &str| t.parse::<Bdf>().ok().and_then(|b| m.find(b));
        let (Some(pf), Some(cf)) = (find(p), find(c)) else {
            eprintln!("picture: {p} or {c} is not a function of the machine");
            return ExitCode::from(1);
        };
        if let Some(v) = m.p2p_verdict(pf, cf) {
            let class = m
                .nv_class(pf, cf)
                .map_or_else(String::new, |k| format!(", {k}"));
            highlight = Some(Highlight::from_verdict(&m, &v).with_caption(format!(
                "{p} (memory) → {c} (DMA): Linux {}{class}",
                v.map_type.as_str()
            )));
        }
    }
    let title = std::path::Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned());
    let options = GraphOptions {
        title,
        ..GraphOptions::default()
    };
    let g = MachineGraph::new(&m, &PciIds, &options, highlight.as_ref());
    let text = match format.as_str() {
        "svg" => svg::render(&g),
        "dot" => dot::render(&g),
        other => {
            eprintln!("picture: unknown format {other} (svg or dot)");
            return ExitCode::from(2);
        }
    };
    print!("{text}");
    ExitCode::SUCCESS
}
