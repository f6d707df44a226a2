//! Every allocation of the lifecycle can fail, and a failed operation changes nothing.
//!
//! The global allocator is capped ([`cap`]): each operation of the storylines runs on a copy of
//! the buffer once for every allocation budget of 0, 8, 16, ... bytes, until one is enough. Each
//! run that ran out must fail with `OutOfMemory` and leave the buffer exactly as it was, with
//! its invariants intact; each operation that allocates at all must have met such a run. An
//! allocation the lifecycle makes without going through its fallible vector would hit the cap
//! as an infallible allocation, and the process would abort: so would this test.
//!
//! The cap is global, so this test has its own `main` (`harness = false`) and one thread.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod world;

use std::alloc::System;

use cap::Cap;
use dmabuf_negotiate::{
    Buffer, ExporterPolicy, Importer, ImporterOffer, LifecycleError, Monitor, PolicyError,
    invariants,
};
use world::{NVLINK, SIZE, World};

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

/// The largest budget tried: far more than any operation here needs.
const MAX_BUDGET: usize = 1 << 20;

/// Runs `f` with at most `budget` more bytes allocatable, then lifts the cap.
fn with_budget<T>(budget: usize, f: impl FnOnce() -> T) -> T {
    ALLOCATOR
        .set_limit(ALLOCATOR.allocated().saturating_add(budget))
        .expect("a limit above what is allocated");
    let out = f();
    ALLOCATOR.set_limit(usize::MAX).expect("no limit");
    out
}

/// Runs `op` on copies of `buffer` under growing budgets until it succeeds. Every run that ran
/// out of memory must have left its copy equal to `buffer` and consistent. Returns the buffer
/// after the successful run, what `op` returned, and how many runs ran out.
fn under_every_budget<T>(
    what: &str,
    world: &World,
    buffer: &Buffer,
    op: impl Fn(&mut Buffer) -> Result<T, LifecycleError>,
) -> (Buffer, T, usize) {
    let mut ran_out = 0;
    let mut budget = 0;
    while budget <= MAX_BUDGET {
        let mut copy = buffer.clone();
        match with_budget(budget, || op(&mut copy)) {
            Ok(value) => {
                let found = invariants::violations(&copy, &world.platform()).unwrap();
                assert!(found.is_empty(), "{what}: {found:?}");
                return (copy, value, ran_out);
            }
            Err(LifecycleError::OutOfMemory) => {
                ran_out += 1;
                assert_eq!(
                    &copy, buffer,
                    "{what} ran out with {budget} bytes and changed the buffer"
                );
            }
            Err(e) => panic!("{what} with {budget} bytes: {e}"),
        }
        budget += 8;
    }
    panic!("{what} did not succeed with {MAX_BUDGET} bytes");
}

/// [`under_every_budget`] for an operation that must allocate (so some run must run out).
fn allocating<T>(
    what: &str,
    world: &World,
    buffer: &Buffer,
    op: impl Fn(&mut Buffer) -> Result<T, LifecycleError>,
) -> (Buffer, T) {
    let (after, value, ran_out) = under_every_budget(what, world, buffer, op);
    assert!(ran_out > 0, "{what} never ran out: it allocates nothing?");
    eprintln!("{what}: succeeded after {ran_out} runs out of memory");
    (after, value)
}

/// Something that is not a buffer operation, under growing budgets until it succeeds; every run
/// that ran out must say so with `out_of_memory`.
fn until_enough<T, E: std::fmt::Debug>(
    what: &str,
    f: impl Fn() -> Result<T, E>,
    out_of_memory: impl Fn(&E) -> bool,
) -> T {
    let mut ran_out = 0;
    let mut budget = 0;
    while budget <= MAX_BUDGET {
        match with_budget(budget, &f) {
            Ok(value) => {
                assert!(ran_out > 0, "{what} never ran out: it allocates nothing?");
                eprintln!("{what}: succeeded after {ran_out} runs out of memory");
                return value;
            }
            Err(e) => {
                assert!(out_of_memory(&e), "{what} with {budget} bytes: {e:?}");
                ran_out += 1;
            }
        }
        budget += 8;
    }
    panic!("{what} did not succeed with {MAX_BUDGET} bytes");
}

/// A dynamic importer. Inside an operation under a budget its copies can fail too: with
/// `?`, that is one more way for the operation to run out of memory.
fn dynamic(offers: &[ImporterOffer<'_>]) -> Result<Importer, LifecycleError> {
    Importer::dynamic(offers)
}

/// Building a policy and a buffer, and an importer's copies of its offers.
fn construction(w: &World) {
    until_enough(
        "Buffer::new",
        || Buffer::new(SIZE, w.gpu_policy()),
        |e| *e == LifecycleError::Policy(PolicyError::OutOfMemory),
    );
    until_enough(
        "Importer::new",
        || Importer::dynamic(&[ImporterOffer::dma_addr(w.nic, true)]),
        |e| *e == LifecycleError::OutOfMemory,
    );
}

/// Storyline 1: attach an RDMA NIC (P2P), map, evict to system memory, map again
/// (renegotiated), reset the NIC, detach.
fn eviction(w: &World) {
    let b = w.gpu_buffer();
    let (b, attached) = allocating("attach", w, &b, |b| {
        b.attach(
            &w.platform(),
            dynamic(&[ImporterOffer::dma_addr(w.nic, true)])?,
        )
    });
    let id = attached.id;
    let (b, _) = allocating("map", w, &b, |b| b.map(&w.platform(), id));
    let (b, moved) = allocating("move_to", w, &b, |b| {
        b.move_to(&w.platform(), &w.ram_placement())
    });
    assert_eq!(moved.invalidated, [id]);
    let (b, again) = allocating("map after the move", w, &b, |b| b.map(&w.platform(), id));
    assert!(again.change.is_some(), "renegotiated for system memory");
    let (b, _) = allocating("device_reset of the importer", w, &b, |b| {
        b.device_reset(w.nic)
    });
    let (b, (), _) = under_every_budget("detach", w, &b, |b| b.detach(id));
    assert!(b.attachments().is_empty());
}

/// Storyline 4: a late importer that cannot reach VRAM moves the buffer (the attach with a
/// migration); then its device is the exporter's, reset: a forced revoke.
fn late_importer(w: &World) {
    let b = w.gpu_buffer();
    let (b, first) = allocating("attach P2P", w, &b, |b| {
        b.attach(
            &w.platform(),
            dynamic(&[ImporterOffer::dma_addr(w.nic, true)])?,
        )
    });
    let (b, _) = allocating("map P2P", w, &b, |b| b.map(&w.platform(), first.id));
    let (b, late) = allocating("attach forcing a move", w, &b, |b| {
        b.attach(
            &w.platform(),
            dynamic(&[ImporterOffer::dma_addr(w.nic_nop2p, true)])?,
        )
    });
    let migration = late.migration.expect("the late importer moved the buffer");
    assert_eq!(migration.invalidated, [first.id]);
    assert_eq!(*b.placement(), w.ram_placement());
    let (b, _) = allocating("map after the forced move", w, &b, |b| {
        b.map(&w.platform(), late.id)
    });
    let (b, _) = allocating("device_reset of the exporter", w, &b, |b| {
        b.device_reset(w.gpu0)
    });
    assert!(b.is_revoked());
}

/// Storyline 3: an NVLink peer, the link goes down; revalidation falls back to PCIe, or, with
/// migration forbidden and only NVLink offered, marks the importer lost.
fn link_down(w: &World) {
    let nvlink_then_p2p = || {
        dynamic(&[
            ImporterOffer::private_iova(NVLINK, w.gpu1),
            ImporterOffer::dma_addr(w.gpu1, true),
        ])
    };
    let b = w.gpu_buffer();
    let (b, peer) = allocating("attach NVLink", w, &b, |b| {
        b.attach(&w.platform(), nvlink_then_p2p()?)
    });
    let (b, _) = allocating("map NVLink", w, &b, |b| b.map(&w.platform(), peer.id));
    let mut down = w.clone();
    down.fabric.set_link_down(NVLINK, true);
    let (_, fell_back) = allocating("revalidate (fall back)", &down, &b, |b| {
        b.revalidate(&down.platform())
    });
    assert_eq!(fell_back.renegotiated.len(), 1);

    let pinned_in_vram = Buffer::new(SIZE, w.gpu_policy().migratable(false)).unwrap();
    let (b, peer) = allocating("attach NVLink only", w, &pinned_in_vram, |b| {
        b.attach(
            &w.platform(),
            dynamic(&[ImporterOffer::private_iova(NVLINK, w.gpu1)])?,
        )
    });
    let (b, _) = allocating("map NVLink only", w, &b, |b| b.map(&w.platform(), peer.id));
    let (_, lost) = allocating("revalidate (lost)", &down, &b, |b| {
        b.revalidate(&down.platform())
    });
    assert_eq!(lost.lost.len(), 1);
}

/// Storyline 2: a vfio-pci BAR slice mapped by a NIC, revoked; a later map is refused without
/// allocating.
fn revocation(w: &World) {
    let b = w.vfio_buffer();
    let (b, nic) = allocating("attach to the BAR", w, &b, |b| {
        b.attach(&w.platform(), dynamic(&[ImporterOffer::pci_bar(w.nic)])?)
    });
    let (b, _) = allocating("map the BAR", w, &b, |b| b.map(&w.platform(), nic.id));
    let (b, revoked) = allocating("revoke", w, &b, Buffer::revoke);
    assert_eq!(revoked.invalidated, [nic.id]);
    let mut b = b;
    let refused = with_budget(0, || b.map(&w.platform(), nic.id));
    assert!(matches!(refused, Err(LifecycleError::Revoked(_))));
}

/// Checking the invariants allocates (the list, and renegotiation for outdated agreements):
/// it fails with `OutOfMemory`, never aborts, and succeeds with enough.
fn checking(w: &World) {
    let mut b = w.gpu_buffer();
    let nic = b
        .attach(
            &w.platform(),
            dynamic(&[ImporterOffer::dma_addr(w.nic, true)]).unwrap(),
        )
        .unwrap();
    b.map(&w.platform(), nic.id).unwrap();
    b.move_to(&w.platform(), &w.ram_placement()).unwrap();
    let found = until_enough(
        "violations",
        || invariants::violations(&b, &w.platform()),
        |_| true,
    );
    assert!(found.is_empty());
    let found = until_enough(
        "Monitor::observe",
        || Monitor::new().observe(&b, &w.platform()),
        |_| true,
    );
    assert!(found.is_empty());
}

fn main() {
    let w = World::new();
    construction(&w);
    eviction(&w);
    late_importer(&w);
    link_down(&w);
    revocation(&w);
    checking(&w);
    // A policy built with no memory at all is refused, not half-built.
    let starved = with_budget(0, || {
        ExporterPolicy::new(w.gpu0, w.gpu_apertures()).place(w.ram_placement(), SIZE)
    });
    assert_eq!(starved.validate(SIZE), Err(PolicyError::OutOfMemory));
    println!("out_of_memory: every storyline operation failed cleanly until it had enough");
}
