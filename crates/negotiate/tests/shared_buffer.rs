//! Importers mapping on several threads while the exporter moves the buffer back and forth and
//! finally revokes it: no thread may ever use a mapping of a placement the buffer has left.
//!
//! The exporter publishes where the buffer is in an atomic that it updates inside the same
//! locked step as the move, so the importers can check every use of a mapping against an
//! account of the placement that does not come from the buffer itself.
//!
//! The threads race freely, except at a few meeting points that make the test prove something
//! on any scheduler, however loaded: the exporter tries a move while the first importer holds
//! a pin (so a pin has held a move back), and every few moves waits until each importer has
//! used its mapping again (so mappings were used, and each move made one stale).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod world;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;

use dmabuf_negotiate::mapping::FabricPort;
use dmabuf_negotiate::{
    AccessError, DeviceId, DmaAddr, Importer, ImporterOffer, Iova, LifecycleError, Mapping,
    MappingHandle, SharedBuffer, VramOffset,
};
use world::{NVLINK, NVLINK_BASE, RAM_PHYS, SIZE, TestIommu, VRAM_BAR_BUS, VRAM_OFFSET, World};

const IN_VRAM: usize = 0;
const IN_RAM: usize = 1;
const REVOKED: usize = 2;
const MOVES: usize = 400;
/// The exporter waits for every importer to use its mapping again after this many moves.
const MOVES_BETWEEN_MEETINGS: usize = 10;

/// Counts a thread as alive while it runs, so that a thread waiting for another stops waiting
/// when that one has died (a failed assertion), rather than hanging the test.
struct Alive<'a>(&'a AtomicUsize);

impl<'a> Alive<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(count)
    }
}

impl Drop for Alive<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Waits, yielding, until `ready` or until fewer than `threads` threads are alive.
fn wait_until(ready: impl Fn() -> bool, alive: &AtomicUsize, threads: usize) {
    while !ready() && alive.load(Ordering::SeqCst) >= threads {
        thread::yield_now();
    }
}

/// The first address of `mapping` as a raw number, for `who`, if the mapping is addressed to
/// them; checks along the way that the addresses are for `who` only.
fn first_address(mapping: &Mapping, who: DeviceId) -> Option<u64> {
    match mapping {
        Mapping::DmaAddr(m) => m.addresses_for(who).ok().map(|r| r[0].start().raw()),
        Mapping::Vram(m) => m
            .addresses_for(dmabuf_negotiate::VramId {
                owner: DeviceId(0),
                instance: 0,
            })
            .ok()
            .map(|r| r[0].start().raw()),
        Mapping::PrivateIova(m) => m
            .addresses_for(FabricPort {
                fabric: NVLINK,
                initiator: who,
            })
            .ok()
            .map(|r| r[0].start().raw()),
        _ => None,
    }
}

/// What `who` must see for the buffer in `placement` (computed from the machine's layout,
/// not asked of the buffer).
fn expected(w: &World, who: DeviceId, placement: usize) -> Vec<u64> {
    match placement {
        IN_VRAM if who == w.nic => vec![DmaAddr::new(VRAM_BAR_BUS + VRAM_OFFSET).raw()],
        IN_VRAM if who == w.gpu0_fn1 => vec![VramOffset::new(VRAM_OFFSET).raw()],
        IN_VRAM if who == w.gpu1 => vec![Iova::new(NVLINK_BASE + VRAM_OFFSET).raw()],
        IN_RAM => vec![RAM_PHYS + TestIommu::base(who)],
        _ => vec![],
    }
}

#[test]
fn no_thread_uses_a_mapping_of_a_placement_the_buffer_left() {
    let w = World::new();
    let shared = SharedBuffer::new(
        dmabuf_negotiate::Buffer::new(SIZE, w.gpu_policy().revocable(true)).unwrap(),
    );
    let published = AtomicUsize::new(IN_VRAM);
    let bad = AtomicBool::new(false);
    // Meeting points: successful uses per importer, the first pin held, a move tried under it.
    let used = [
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    ];
    let (pin_held, move_tried) = (AtomicBool::new(false), AtomicBool::new(false));
    let alive = AtomicUsize::new(0);
    let threads = used.len() + 1;
    let importers = [
        (w.nic, vec![ImporterOffer::dma_addr(w.nic, true)]),
        (
            w.gpu0_fn1,
            vec![
                ImporterOffer::vram(w.gpu0_fn1),
                ImporterOffer::dma_addr(w.gpu0_fn1, true),
            ],
        ),
        (
            w.gpu1,
            vec![
                ImporterOffer::private_iova(NVLINK, w.gpu1),
                ImporterOffer::dma_addr(w.gpu1, true),
            ],
        ),
    ];
    let ids: Vec<_> = importers
        .iter()
        .map(|(_, offers)| {
            shared
                .attach(&w.platform(), Importer::dynamic(offers).unwrap())
                .unwrap()
                .id
        })
        .collect();

    let (uses, stale, pinned_moves) = thread::scope(|s| {
        let workers: Vec<_> = importers
            .iter()
            .zip(&ids)
            .enumerate()
            .map(|(n, ((who, _), id))| {
                let (w, shared, published, bad) = (&w, &shared, &published, &bad);
                let (used, pin_held, move_tried, alive) =
                    (&used[n], &pin_held, &move_tried, &alive);
                let me = Alive::new(alive);
                s.spawn(move || {
                    let _me = me;
                    let platform = w.platform();
                    let (mut uses, mut stale) = (0usize, 0usize);
                    let mut handle: Option<MappingHandle> = None;
                    for round in 0usize.. {
                        let h = match handle {
                            Some(h) => h,
                            None => match shared.map(&platform, *id) {
                                Ok(m) => m.handle,
                                Err(LifecycleError::Revoked(_)) => break,
                                Err(e) => panic!("map failed: {e}"),
                            },
                        };
                        handle = Some(h);
                        // The first importer sometimes pins, and checks that the buffer stays.
                        let pinning = n == 0 && round % 64 == 0;
                        if pinning && shared.pin(*id).is_err() {
                            break; // revoked
                        }
                        let pinned_at = published.load(Ordering::SeqCst);
                        let outcome = shared.with_mapping(&h, |mapping, _| {
                            let now = published.load(Ordering::SeqCst);
                            let seen = first_address(mapping, *who).into_iter().collect::<Vec<_>>();
                            if seen != expected(w, *who, now) {
                                bad.store(true, Ordering::SeqCst);
                            }
                        });
                        match outcome {
                            Ok(()) => {
                                uses += 1;
                                used.fetch_add(1, Ordering::SeqCst);
                            }
                            Err(AccessError::Stale { .. }) => {
                                stale += 1;
                                shared.unmap(&h).unwrap();
                                handle = None;
                            }
                            Err(AccessError::Revoked(_)) => break,
                            Err(e) => panic!("unexpected: {e}"),
                        }
                        if pinning {
                            if round == 0 {
                                // The first pin: the exporter tries a move while it is held.
                                pin_held.store(true, Ordering::SeqCst);
                                wait_until(|| move_tried.load(Ordering::SeqCst), alive, threads);
                            }
                            thread::yield_now();
                            // A revoke does not wait for pins; a move must.
                            let now = published.load(Ordering::SeqCst);
                            if now != pinned_at && now != REVOKED {
                                bad.store(true, Ordering::SeqCst);
                            }
                            shared.unpin(*id).unwrap();
                        }
                        if round % 8 == 0 {
                            thread::yield_now();
                        }
                    }
                    (uses, stale)
                })
            })
            .collect();

        let exporter = {
            let (w, shared, published) = (&w, &shared, &published);
            let (used, pin_held, move_tried, alive) = (&used, &pin_held, &move_tried, &alive);
            let me = Alive::new(alive);
            s.spawn(move || {
                let _me = me;
                let platform = w.platform();
                let try_move = || {
                    shared.locked(|b| {
                        let (to, index) = if published.load(Ordering::SeqCst) == IN_VRAM {
                            (w.ram_placement(), IN_RAM)
                        } else {
                            (w.vram_placement(), IN_VRAM)
                        };
                        let result = b.move_to(&platform, &to);
                        if result.is_ok() {
                            published.store(index, Ordering::SeqCst);
                        }
                        result
                    })
                };
                let mut pinned_moves = 0usize;
                let mut moves = 0usize;
                // The first move is tried while the first importer holds its first pin.
                wait_until(|| pin_held.load(Ordering::SeqCst), alive, threads);
                let mut first = Some(try_move());
                move_tried.store(true, Ordering::SeqCst);
                let mut since: Vec<usize> = Vec::new();
                while moves < MOVES {
                    if moves % MOVES_BETWEEN_MEETINGS == 0 && since.is_empty() {
                        // Every importer uses its mapping again before the next move.
                        since = used.iter().map(|u| u.load(Ordering::SeqCst)).collect();
                        wait_until(
                            || {
                                used.iter()
                                    .zip(&since)
                                    .all(|(u, &s)| u.load(Ordering::SeqCst) > s)
                            },
                            alive,
                            threads,
                        );
                    }
                    match first.take().unwrap_or_else(try_move) {
                        Ok(_) => {
                            moves += 1;
                            since.clear();
                        }
                        Err(LifecycleError::Pinned { .. }) => pinned_moves += 1,
                        Err(e) => panic!("move failed: {e}"),
                    }
                    thread::yield_now();
                }
                shared.locked(|b| {
                    b.revoke().unwrap();
                    published.store(REVOKED, Ordering::SeqCst);
                });
                pinned_moves
            })
        };

        let mut uses = 0;
        let mut stale = 0;
        for worker in workers {
            let (u, st) = worker.join().unwrap();
            uses += u;
            stale += st;
        }
        (uses, stale, exporter.join().unwrap())
    });

    assert!(
        !bad.load(Ordering::SeqCst),
        "a thread used a mapping of a placement the buffer had left"
    );
    // Not vacuous: mappings were used, invalidations were seen, and pins held moves back.
    assert!(uses > 100, "uses: {uses}");
    assert!(stale > 10, "stale mappings noticed: {stale}");
    assert!(pinned_moves > 0, "no move was ever held back by a pin");
    let buffer = shared.into_inner();
    assert!(buffer.is_revoked());
    for a in buffer.attachments() {
        if let Some(h) = a.held() {
            assert!(buffer.mapping(&h).is_err());
        }
    }
}
