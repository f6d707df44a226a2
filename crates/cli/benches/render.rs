//! Pictures of machines: building the graph, writing DOT, and laying out and writing SVG.
//!
//! Machines: the real DGX-2 (`hwloc-xml/nvidiaDGX2.xml`: 84 functions, 16 GPUs under two
//! levels of switches, 12 NVSwitches, 96 NVLink bundles) and the 8×A100 NCCL dump
//! (`nccl/topo_8A100_4CX6.xml`) from the shared fixtures (`$DMABUF_IC_FIXTURES` or
//! `../shared/fixtures`; skipped when absent), the DGX-2-like machine built by hand (108
//! functions, 102 NVLink bundles) and a small one (11 functions).

#[path = "../tests/picture_support/machines.rs"]
mod machines;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use dmabuf_ic::picture::graph::{GraphOptions, MachineGraph};
use dmabuf_ic::picture::highlight::Highlight;
use dmabuf_ic::picture::layout::layout;
use dmabuf_ic::picture::names::PciIds;
use dmabuf_ic::picture::{dot, svg};
use pci_topology::Machine;

fn bench_machine(c: &mut Criterion, name: &str, m: &Machine) {
    let opts = GraphOptions::default();
    c.bench_function(&format!("picture/{name}/graph"), |b| {
        b.iter(|| MachineGraph::new(black_box(m), &PciIds, &opts, None))
    });
    let g = MachineGraph::new(m, &PciIds, &opts, None);
    c.bench_function(&format!("picture/{name}/layout"), |b| {
        b.iter(|| layout(black_box(&g)))
    });
    c.bench_function(&format!("picture/{name}/dot"), |b| {
        b.iter(|| dot::machine(black_box(m), &PciIds, None))
    });
    c.bench_function(&format!("picture/{name}/svg"), |b| {
        b.iter(|| svg::machine(black_box(m), &PciIds, None))
    });
}

fn fixtures() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("DMABUF_IC_FIXTURES")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
        });
    dir.is_dir().then_some(dir)
}

fn pictures(c: &mut Criterion) {
    if let Some(dir) = fixtures() {
        for (name, file) in [
            ("dgx2_hwloc", "hwloc-xml/nvidiaDGX2.xml"),
            ("a100x8_nccl", "nccl/topo_8A100_4CX6.xml"),
        ] {
            match pci_topology::load::load(dir.join(file)) {
                Ok(m) => bench_machine(c, name, &m),
                Err(e) => eprintln!("skipping {name}: {e}"),
            }
        }
    } else {
        eprintln!("fixtures not found: benchmarking the hand-built machines only");
    }
    let dgx2 = machines::dgx2_like();
    bench_machine(c, "dgx2_like", &dgx2);
    let gpus: Vec<_> = dgx2
        .function_ids()
        .filter(|&f| {
            dgx2.function(f)
                .and_then(|f| f.class)
                .is_some_and(|c| c.base() == 3)
        })
        .collect();
    if let (Some(&a), Some(&b)) = (gpus.first(), gpus.get(9)) {
        c.bench_function("picture/dgx2_like/svg_with_route", |bch| {
            bch.iter(|| {
                let h = Highlight::pci(&dgx2, a, b, true);
                svg::machine(black_box(&dgx2), &PciIds, h.as_ref())
            })
        });
    }
    let small = machines::small();
    bench_machine(c, "small", &small);
}

criterion_group!(benches, pictures);
criterion_main!(benches);
