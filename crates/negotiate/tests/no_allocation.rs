//! The negotiation path never touches the heap: counted with dhat's allocator.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::workload;
use dmabuf_negotiate::{Candidate, NegotiationError, Negotiator, Policy};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

#[test]
fn negotiation_does_not_allocate() {
    let _profiler = dhat::Profiler::builder().testing().build();

    // Building the machine and the lists allocates; negotiating must not.
    let (fabric, gpu, nic) = workload::machine(4, 4);
    let lists: Vec<_> = [(4, 4), (16, 16), (3, 0)]
        .into_iter()
        .map(|(n, m)| {
            (
                workload::exporter(&gpu, n),
                workload::importer(&gpu, &nic, m),
            )
        })
        .collect();
    let mut table = [Candidate::VACANT; 256];
    let mut order = [0u32; 256];

    let before = dhat::HeapStats::get();
    let mut agreed = 0;
    for policy in [Policy::BestRoute, Policy::ExporterPriority] {
        let negotiator = Negotiator::new(&fabric).with_policy(policy);
        for (exporter, importer) in &lists {
            match negotiator.negotiate(exporter, importer, &mut table) {
                Ok(agreement) => {
                    agreed += 1;
                    assert!(agreement.chosen().is_accepted());
                }
                Err(NegotiationError::NoCommonInterconnect { table }) => {
                    assert_eq!(table.len(), exporter.len() * importer.len());
                }
                Err(e) => panic!("{e}"),
            }
            // Ranked into the caller's order, and walked in full.
            if let Ok(agreement) = negotiator.negotiate_ranked(
                exporter,
                importer,
                &mut dmabuf_negotiate::FollowPolicy,
                &mut table,
                &mut order,
            ) {
                agreed += 1;
                assert_eq!(
                    agreement.ranked().count(),
                    agreement.ranked_positions().map_or(0, <[u32]>::len)
                );
            }
        }
    }
    let after = dhat::HeapStats::get();

    assert_eq!(
        agreed, 8,
        "the 4×4 and 16×16 cases agree under both policies, scanned and ranked"
    );
    assert_eq!(
        after.total_blocks,
        before.total_blocks,
        "negotiation allocated {} blocks ({} bytes)",
        after.total_blocks - before.total_blocks,
        after.total_bytes - before.total_bytes
    );
}
