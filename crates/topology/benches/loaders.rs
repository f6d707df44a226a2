//! Benchmarks of the file loaders: the largest hwloc XML fixture, the DGX-2's (the richest: 84
//! functions and an NVLink matrix) and the largest NCCL topology fixture, parsed from memory into
//! a `Machine` (file reading excluded), and the TOML writer and reader on the machines they give. Results are in the `## Loaders` section of
//! `BENCHMARKS.md`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{Criterion, criterion_group, criterion_main};
use pci_topology::load::{parse_hwloc_xml, parse_nccl_xml, parse_toml, to_toml};

fn fixtures() -> Option<PathBuf> {
    let dir = std::env::var_os("DMABUF_IC_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
        });
    dir.is_dir().then_some(dir)
}

/// The largest `.xml` file of a fixture folder (every one, for hwloc: `hwloc-xml/` and the XML
/// exports beside the sysfs snapshots).
fn largest(dirs: &[PathBuf]) -> PathBuf {
    let mut v: Vec<(u64, PathBuf)> = dirs
        .iter()
        .flat_map(|d| std::fs::read_dir(d).unwrap())
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .map(|p| (std::fs::metadata(&p).unwrap().len(), p))
        .collect();
    v.sort();
    v.pop().unwrap().1
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

fn loaders(c: &mut Criterion) {
    let Some(fx) = fixtures() else {
        eprintln!("SKIPPED: fixtures folder missing (set DMABUF_IC_FIXTURES)");
        return;
    };
    let hwloc = largest(&[fx.join("hwloc-xml"), fx.join("hwloc-sysfs")]);
    let dgx2 = fx.join("hwloc-xml/nvidiaDGX2.xml");
    let dgx2_text = std::fs::read_to_string(&dgx2).unwrap();
    let nccl = largest(&[fx.join("nccl")]);
    let hwloc_text = std::fs::read_to_string(&hwloc).unwrap();
    let nccl_text = std::fs::read_to_string(&nccl).unwrap();
    let hwloc_name = name(&hwloc);
    let nccl_name = name(&nccl);

    c.bench_function(&format!("hwloc xml {hwloc_name}"), |b| {
        b.iter(|| parse_hwloc_xml(&hwloc_name, black_box(&hwloc_text)).unwrap())
    });
    c.bench_function("hwloc xml nvidiaDGX2.xml", |b| {
        b.iter(|| parse_hwloc_xml("nvidiaDGX2.xml", black_box(&dgx2_text)).unwrap())
    });
    c.bench_function(&format!("nccl xml {nccl_name}"), |b| {
        b.iter(|| parse_nccl_xml(&nccl_name, black_box(&nccl_text)).unwrap())
    });

    for (label, m) in [
        (
            hwloc_name.as_str(),
            parse_hwloc_xml(&hwloc_name, &hwloc_text).unwrap(),
        ),
        (
            nccl_name.as_str(),
            parse_nccl_xml(&nccl_name, &nccl_text).unwrap(),
        ),
    ] {
        let text = to_toml(&m);
        c.bench_function(&format!("toml write {label}"), |b| {
            b.iter(|| to_toml(black_box(&m)))
        });
        c.bench_function(&format!("toml read {label}"), |b| {
            b.iter(|| parse_toml(label, black_box(&text)).unwrap())
        });
    }
}

criterion_group!(benches, loaders);
criterion_main!(benches);
