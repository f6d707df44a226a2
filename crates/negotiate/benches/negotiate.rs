//! Benchmarks of `negotiate`: 4 × 4 and 16 × 16 offers on a fabric with cached routes, under
//! both policies; and ranked negotiations (`negotiate_ranked`, the whole order walked) from
//! 4 × 4 up to 1000 × 1000 offers, to show how the cost grows. Results are in BENCHMARKS.md.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;

use common::workload;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dmabuf_negotiate::{Candidate, FollowPolicy, Negotiator, Policy};

fn negotiate(c: &mut Criterion) {
    let (fabric, gpu, nic) = workload::machine(4, 4);
    for (n, m) in [(4, 4), (16, 16)] {
        let exporter = workload::exporter(&gpu, n);
        let importer = workload::importer(&gpu, &nic, m);
        for policy in [Policy::BestRoute, Policy::ExporterPriority] {
            let negotiator = Negotiator::new(&fabric).with_policy(policy);
            let mut table = [Candidate::VACANT; 256];
            c.bench_function(&format!("negotiate {n}x{m} {policy}"), |b| {
                b.iter(|| {
                    let agreement = negotiator
                        .negotiate(black_box(&exporter), black_box(&importer), &mut table)
                        .unwrap();
                    black_box(agreement.route());
                })
            });
        }
    }
}

fn negotiate_ranked(c: &mut Criterion) {
    let (fabric, gpu, nic) = workload::machine(4, 4);
    let mut group = c.benchmark_group("negotiate_ranked");
    group.sample_size(10);
    for n in [4usize, 16, 64, 256, 1000] {
        let exporter = workload::exporter(&gpu, n);
        let importer = workload::importer(&gpu, &nic, n);
        let negotiator = Negotiator::new(&fabric);
        let mut table = vec![Candidate::VACANT; n * n];
        let mut order = vec![0u32; n * n];
        group.throughput(Throughput::Elements((n * n) as u64));
        group.bench_function(format!("{n}x{n} best-route, walked"), |b| {
            b.iter(|| {
                let agreement = negotiator
                    .negotiate_ranked(
                        black_box(&exporter),
                        black_box(&importer),
                        &mut FollowPolicy,
                        &mut table,
                        &mut order,
                    )
                    .unwrap();
                black_box(
                    agreement
                        .ranked()
                        .map(|c| usize::from(c.importer_index))
                        .sum::<usize>(),
                );
            })
        });
    }
    group.finish();
}

criterion_group!(benches, negotiate, negotiate_ranked);
criterion_main!(benches);
