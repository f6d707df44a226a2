//! Benchmarks of pci-topology: loading the largest hwloc sysfs fixture (extracted folder and
//! archive), one verdict on a deep tree, and all pairs on a generated machine with 4096
//! endpoints. Results and the comparison with `lstopo --input` are in `BENCHMARKS.md`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{Criterion, criterion_group, criterion_main};
use pci_topology::load::{ArchiveSource, DirSource, load_from_source};
use pci_topology::synth::{SynthSpec, generate};
use pci_topology::{FunctionId, PortType};

fn fixtures() -> Option<PathBuf> {
    let dir = std::env::var_os("DMABUF_IC_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
        });
    dir.is_dir().then_some(dir)
}

/// The largest hwloc sysfs archive, by size.
fn largest_hwloc(fx: &Path) -> PathBuf {
    let mut v: Vec<(u64, PathBuf)> = std::fs::read_dir(fx.join("hwloc-sysfs"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".tar.bz2"))
        .map(|p| (std::fs::metadata(&p).unwrap().len(), p))
        .collect();
    v.sort();
    v.pop().unwrap().1
}

fn extract(archive: &Path, into: &Path) -> PathBuf {
    let _ = std::fs::remove_dir_all(into);
    std::fs::create_dir_all(into).unwrap();
    let f = std::fs::File::open(archive).unwrap();
    let mut a = tar::Archive::new(bzip2::read::BzDecoder::new(f));
    a.unpack(into).unwrap();
    std::fs::read_dir(into)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
}

fn load(c: &mut Criterion) {
    let Some(fx) = fixtures() else {
        eprintln!("SKIPPED load benchmarks: no fixtures folder");
        return;
    };
    let archive = largest_hwloc(&fx);
    let dir = extract(&archive, &std::env::temp_dir().join("pci-topology-bench"));
    eprintln!(
        "largest hwloc fixture: {} (extracted at {})",
        archive.display(),
        dir.display()
    );
    let mut g = c.benchmark_group("load");
    g.bench_function("hwloc_largest_folder", |b| {
        b.iter(|| load_from_source(&DirSource::new(black_box(&dir))).unwrap())
    });
    let bytes = std::fs::read(&archive).unwrap();
    g.bench_function("hwloc_largest_archive", |b| {
        b.iter(|| {
            load_from_source(&ArchiveSource::from_bytes("a", black_box(&bytes)).unwrap()).unwrap()
        })
    });
    g.finish();
}

fn verdicts(c: &mut Criterion) {
    let m = generate(&SynthSpec::deep(30)).unwrap();
    let eps: Vec<FunctionId> = m
        .function_ids()
        .filter(|&f| m.function(f).unwrap().port_type == Some(PortType::Endpoint))
        .collect();
    // The deepest endpoint, and one on the other root port.
    let deep = eps[0];
    let other = *eps.last().unwrap();
    let sibling = eps[1];
    assert!(m.chain(deep).len() > 60);
    let mut g = c.benchmark_group("verdict_deep_tree");
    g.bench_function("explained_across_root_ports", |b| {
        b.iter(|| m.p2p_verdict(black_box(deep), black_box(other)).unwrap())
    });
    g.bench_function("explained_siblings", |b| {
        b.iter(|| m.p2p_verdict(black_box(deep), black_box(sibling)).unwrap())
    });
    g.bench_function("fast_across_root_ports", |b| {
        b.iter(|| m.p2p_fast(black_box(deep), black_box(other)).unwrap())
    });
    g.bench_function("route_quality_siblings", |b| {
        b.iter(|| {
            m.route_quality(black_box(deep), black_box(sibling))
                .unwrap()
        })
    });
    g.finish();
}

fn all_pairs(c: &mut Criterion) {
    let m = generate(&SynthSpec::endpoints_4096()).unwrap();
    let eps: Vec<FunctionId> = m
        .function_ids()
        .filter(|&f| m.function(f).unwrap().port_type == Some(PortType::Endpoint))
        .collect();
    assert_eq!(eps.len(), 4096);
    let mut g = c.benchmark_group("all_pairs");
    g.sample_size(10);
    g.bench_function("matrix_4096_endpoints", |b| {
        b.iter(|| m.p2p_matrix(black_box(&eps), black_box(&eps)))
    });
    g.finish();
}

criterion_group!(benches, load, verdicts, all_pairs);
criterion_main!(benches);
