//! Benchmarks of `negotiate`: 4 × 4 and 16 × 16 offers on a fabric with cached routes, under
//! both policies. Results are in BENCHMARKS.md.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;

use common::workload;
use criterion::{Criterion, criterion_group, criterion_main};
use dmabuf_negotiate::{Candidate, Negotiator, Policy};

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

criterion_group!(benches, negotiate);
criterion_main!(benches);
