//! State-machine property test of the attachment lifecycle.
//!
//! Thousands of random sequences of operations (attach, detach, pin, unpin, map, unmap, move,
//! revoke, link and P2P changes with revalidation, device resets) run against four exporters on
//! the test machine. After every operation:
//! - a failed operation left the buffer exactly as it was;
//! - every mapping handle ever issued is usable exactly when a reference model, kept by this
//!   test from the operations alone, says it should be (nothing stale is usable, and nothing is
//!   invalidated without cause);
//! - a pinned buffer did not move, a revoked buffer did not attach, pin or map;
//! - the crate's own [`Monitor`] finds no violated invariant (placement of usable mappings,
//!   trust and fabric rules of every agreement, reachability of every active attachment, pins,
//!   generations).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod world;

use std::collections::HashMap;

use dmabuf_negotiate::{
    AttachmentId, Buffer, BusAddr, BusWindow, DeviceId, ExporterPolicy, FabricId, Importer,
    ImporterArgs, ImporterMode, ImporterOffer, LifecycleError, MappingHandle, Monitor, NoMigration,
    PhysAddr, Placement, Reset, Trust, VramAperture, VramId, VramOffset,
};
use proptest::prelude::*;
use world::{SIZE, World, not_whitelisted, p2p};

/// The importers that may attach, by index.
fn catalogue(w: &World, index: usize) -> Vec<ImporterOffer<'static>> {
    let nvlink = world::NVLINK;
    match index % 16 {
        0 => vec![
            ImporterOffer::vram(w.gpu0_fn1),
            ImporterOffer::dma_addr(w.gpu0_fn1, true),
        ],
        1 => vec![ImporterOffer::vram(w.gpu0_fn1)],
        2 => vec![
            ImporterOffer::private_iova(nvlink, w.gpu1),
            ImporterOffer::dma_addr(w.gpu1, true),
        ],
        3 => vec![ImporterOffer::private_iova(nvlink, w.gpu1)],
        4 => vec![ImporterOffer::dma_addr(w.nic, true)],
        5 => vec![ImporterOffer::dma_addr(w.nic_far, true)],
        6 => vec![ImporterOffer::dma_addr(w.nic_nop2p, true)],
        7 => vec![ImporterOffer::dma_addr(w.nic_nop2p, false)],
        8 => vec![ImporterOffer::phys(Trust::Iommufd, Some(w.nic))],
        9 => vec![
            ImporterOffer::phys(Trust::Untrusted, Some(w.nic_far)),
            ImporterOffer::dma_addr(w.nic_far, true),
        ],
        10 => vec![ImporterOffer::phys(Trust::Untrusted, Some(w.nic))],
        11 => vec![ImporterOffer::phys(Trust::Kvm, None)],
        12 => vec![ImporterOffer::pci_bar(w.nic)],
        13 => vec![
            ImporterOffer::vram(w.vf2),
            ImporterOffer::dma_addr(w.vf2, true),
        ],
        14 => vec![
            ImporterOffer::private_iova(FabricId(9), w.gpu1),
            ImporterOffer::dma_addr(w.gpu1, true),
        ],
        _ => vec![
            ImporterOffer::vram(w.gpu1),
            ImporterOffer::pci_bar(w.gpu1),
            ImporterOffer::dma_addr(w.gpu1, false),
        ],
    }
}

/// The devices an importer's offers name, read from the offers themselves.
fn devices_of(offers: &[ImporterOffer<'_>]) -> Vec<DeviceId> {
    offers
        .iter()
        .filter_map(|o| match *o.args() {
            ImporterArgs::Device { device, .. } => Some(device),
            ImporterArgs::Fabric { initiator, .. } => Some(initiator),
            ImporterArgs::Phys { device, .. } => device,
            ImporterArgs::Driver(_) => None,
        })
        .collect()
}

/// The exporters under test.
#[derive(Clone, Copy, Debug)]
enum Exporter {
    /// VRAM (visible), VRAM beyond the BAR, RAM on two nodes; migrates; does not revoke.
    Gpu,
    /// The same, but it may revoke.
    GpuRevocable,
    /// VRAM and RAM, never migrates.
    GpuFixed,
    /// vfio-pci: a BAR slice, revocable, never migrates.
    Vfio,
    /// An SR-IOV VF exporting its VRAM, with RAM as the fallback.
    Vf,
}

fn placements(w: &World, exporter: Exporter) -> Vec<Placement> {
    match exporter {
        Exporter::Gpu | Exporter::GpuRevocable => vec![
            w.vram_placement(),
            Placement::vram(w.vram0(), VramOffset::new(0x2000_0000)),
            w.ram_placement(),
            Placement::system(Some(1), PhysAddr::new(0x8_0000_0000)),
        ],
        Exporter::GpuFixed => vec![w.vram_placement(), w.ram_placement()],
        Exporter::Vfio => vec![Placement::bar(w.vfio_slice())],
        Exporter::Vf => vec![
            Placement::vram(
                VramId {
                    owner: w.vf1,
                    instance: 0,
                },
                VramOffset::new(0),
            ),
            w.ram_placement(),
        ],
    }
}

fn buffer(w: &World, exporter: Exporter) -> Buffer {
    let policy = match exporter {
        Exporter::Vfio => w.vfio_policy(),
        Exporter::Vf => {
            let vram = VramId {
                owner: w.vf1,
                instance: 0,
            };
            let apertures = dmabuf_negotiate::Apertures::new().with_vram(VramAperture {
                vram,
                bar: 0,
                window: BusWindow::new(
                    PhysAddr::new(0x40_0000_0000),
                    BusAddr::new(0xd000_0000),
                    0x100_0000,
                )
                .unwrap(),
            });
            placements(w, exporter)
                .into_iter()
                .fold(ExporterPolicy::new(w.vf1, apertures), |p, pl| {
                    p.place(pl, SIZE)
                })
        }
        _ => {
            let policy = placements(w, exporter)
                .into_iter()
                .fold(ExporterPolicy::new(w.gpu0, w.gpu_apertures()), |p, pl| {
                    p.place(pl, SIZE)
                });
            match exporter {
                Exporter::GpuRevocable => policy.revocable(true),
                Exporter::GpuFixed => policy.migratable(false),
                _ => policy,
            }
        }
    };
    Buffer::new(SIZE, policy).unwrap()
}

#[derive(Clone, Debug)]
enum Op {
    Attach { importer: usize, mode: u8 },
    Detach(usize),
    Pin(usize),
    Unpin(usize),
    Map(usize),
    Unmap(usize),
    Move(usize),
    Revoke,
    ToggleNvlink,
    ToggleGpuP2p,
    Reset(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..16usize, 0..3u8).prop_map(|(importer, mode)| Op::Attach { importer, mode }),
        2 => any::<usize>().prop_map(Op::Detach),
        2 => any::<usize>().prop_map(Op::Pin),
        2 => any::<usize>().prop_map(Op::Unpin),
        7 => any::<usize>().prop_map(Op::Map),
        2 => any::<usize>().prop_map(Op::Unmap),
        4 => any::<usize>().prop_map(Op::Move),
        1 => Just(Op::Revoke),
        2 => Just(Op::ToggleNvlink),
        1 => Just(Op::ToggleGpuP2p),
        1 => any::<usize>().prop_map(Op::Reset),
    ]
}

fn exporter() -> impl Strategy<Value = Exporter> {
    prop_oneof![
        3 => Just(Exporter::Gpu),
        2 => Just(Exporter::GpuRevocable),
        1 => Just(Exporter::GpuFixed),
        1 => Just(Exporter::Vfio),
        1 => Just(Exporter::Vf),
    ]
}

/// What the model learns from a successful operation.
enum Effect {
    /// The operation had no target (no attachment or handle yet).
    Skipped,
    Nothing,
    /// These attachments' handles are invalid now.
    Invalidate(Vec<AttachmentId>),
    /// Every handle is invalid now.
    InvalidateAll,
    NewHandle(MappingHandle),
    Unmapped(MappingHandle),
    Detached(AttachmentId),
}

fn pick<T: Copy>(items: &[T], i: usize) -> Option<T> {
    (!items.is_empty()).then(|| items[i % items.len()])
}

fn run(exporter: Exporter, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut w = World::new();
    let mut b = buffer(&w, exporter);
    let revocable = b.policy().is_revocable();
    let places = placements(&w, exporter);
    let reset_devices = [w.gpu0, w.nic, w.gpu1, w.vfio, w.nic_far, w.vf1];
    let mut monitor = Monitor::new();
    // The reference model.
    let mut ids: Vec<AttachmentId> = Vec::new();
    let mut uses: HashMap<AttachmentId, Vec<DeviceId>> = HashMap::new();
    let mut handles: Vec<(MappingHandle, bool)> = Vec::new();
    let mut detached: Vec<AttachmentId> = Vec::new();
    let mut revoked = false;
    let mut nvlink_down = false;
    let mut gpu_p2p_refused = false;

    for (step, op) in ops.iter().enumerate() {
        let before = b.clone();
        let was_pinned = b.is_pinned();
        let was_revoked = revoked;
        let result: Result<Effect, LifecycleError> = match op {
            Op::Attach { importer, mode } => {
                let offers = catalogue(&w, *importer);
                let mode = match mode {
                    0 => ImporterMode::Dynamic,
                    1 => ImporterMode::Static { revocable: true },
                    _ => ImporterMode::Static { revocable: false },
                };
                let importer = Importer::new(&offers, mode).unwrap();
                let result = b.attach(&w.platform(), importer.clone());
                // Refused for want of a placement: then indeed no move would have let it in.
                if let Err(LifecycleError::Unreachable(refusal)) = &result
                    && let NoMigration::NoPlacement(_) = refusal.migration
                {
                    for p in places.iter().filter(|p| *p != before.placement()) {
                        let mut trial = before.clone();
                        let admitted = trial
                            .move_to(&w.platform(), p)
                            .and_then(|_| trial.attach(&w.platform(), importer.clone()));
                        prop_assert!(
                            admitted.is_err(),
                            "refused although moving to {} would have admitted it",
                            p
                        );
                    }
                }
                if revocable && mode == (ImporterMode::Static { revocable: false }) {
                    prop_assert!(
                        matches!(
                            result,
                            Err(LifecycleError::ImporterNotRevocable | LifecycleError::Revoked(_))
                        ),
                        "a non-revocable static importer attached to a revocable exporter"
                    );
                }
                result.map(|a| {
                    ids.push(a.id);
                    uses.insert(a.id, devices_of(&offers));
                    match a.migration {
                        Some(_) => Effect::InvalidateAll,
                        None => Effect::Nothing,
                    }
                })
            }
            Op::Detach(i) => match pick(&ids, *i) {
                Some(id) => b.detach(id).map(|()| {
                    detached.push(id);
                    Effect::Detached(id)
                }),
                None => Ok(Effect::Skipped),
            },
            Op::Pin(i) => match pick(&ids, *i) {
                Some(id) => b.pin(id).map(|()| Effect::Nothing),
                None => Ok(Effect::Skipped),
            },
            Op::Unpin(i) => match pick(&ids, *i) {
                Some(id) => b.unpin(id).map(|()| Effect::Nothing),
                None => Ok(Effect::Skipped),
            },
            Op::Map(i) => match pick(&ids, *i) {
                Some(id) => {
                    let model_valid = handles
                        .iter()
                        .any(|(h, valid)| *valid && h.attachment() == id);
                    let result = b.map(&w.platform(), id);
                    let lost = b.attachment(id).is_some_and(|a| !a.is_active());
                    if !model_valid && !was_revoked && !detached.contains(&id) && !lost {
                        prop_assert!(
                            result.is_ok(),
                            "an active attachment failed to map: {result:?}"
                        );
                    }
                    if model_valid {
                        prop_assert!(
                            matches!(result, Err(LifecycleError::AlreadyMapped(_))),
                            "mapped twice: {result:?}"
                        );
                    }
                    result.map(|m| Effect::NewHandle(m.handle))
                }
                None => Ok(Effect::Skipped),
            },
            Op::Unmap(i) => {
                let all: Vec<MappingHandle> = handles.iter().map(|(h, _)| *h).collect();
                match pick(&all, *i) {
                    Some(h) => b.unmap(&h).map(|()| Effect::Unmapped(h)),
                    None => Ok(Effect::Skipped),
                }
            }
            Op::Move(i) => {
                let to = places[i % places.len()];
                b.move_to(&w.platform(), &to).map(|m| {
                    assert_eq!(m.to, to);
                    Effect::InvalidateAll
                })
            }
            Op::Revoke => {
                let result = b.revoke();
                prop_assert_eq!(result.is_ok(), revocable && !revoked, "{:?}", result);
                result.map(|_| {
                    revoked = true;
                    Effect::InvalidateAll
                })
            }
            Op::ToggleNvlink | Op::ToggleGpuP2p => {
                if matches!(op, Op::ToggleNvlink) {
                    nvlink_down = !nvlink_down;
                    w.fabric.set_link_down(world::NVLINK, nvlink_down);
                } else {
                    gpu_p2p_refused = !gpu_p2p_refused;
                    if gpu_p2p_refused {
                        w.fabric.refuse(w.gpu1, w.gpu0, not_whitelisted());
                    } else {
                        w.fabric.route(w.gpu1, w.gpu0, p2p(4, 4));
                    }
                }
                let result = b.revalidate(&w.platform());
                // Lost attachments: only if no move could have kept everyone.
                if let Ok(r) = &result
                    && !r.lost.is_empty()
                {
                    prop_assert!(r.migration.is_none() && r.no_migration.is_some());
                    for p in places.iter().filter(|p| *p != before.placement()) {
                        let mut trial = before.clone();
                        prop_assert!(
                            trial.move_to(&w.platform(), p).is_err(),
                            "attachments were lost although the buffer could move to {}",
                            p
                        );
                    }
                }
                result.map(|r| match r.migration {
                    Some(_) => Effect::InvalidateAll,
                    None => Effect::Invalidate(r.invalidated),
                })
            }
            Op::Reset(i) => {
                let device = reset_devices[i % reset_devices.len()];
                let exporter_side =
                    device == b.policy().exporter() || b.placement().owner() == Some(device);
                let users: Vec<AttachmentId> = b
                    .attachments()
                    .iter()
                    .map(|a| a.id())
                    .filter(|id| uses[id].contains(&device))
                    .collect();
                let result = b.device_reset(device);
                match &result {
                    Ok(Reset::Revoked(_)) => prop_assert!(exporter_side && !was_revoked),
                    Ok(Reset::Importers { attachments, .. }) => {
                        prop_assert!(!exporter_side && !was_revoked);
                        prop_assert_eq!(attachments, &users);
                    }
                    Ok(Reset::Unaffected) => {
                        prop_assert!(was_revoked || (!exporter_side && users.is_empty()));
                    }
                    Err(e) => prop_assert!(false, "a reset failed: {e}"),
                }
                result.map(|r| match r {
                    Reset::Revoked(_) => {
                        revoked = true;
                        Effect::InvalidateAll
                    }
                    Reset::Importers { .. } => Effect::Invalidate(users),
                    Reset::Unaffected => Effect::Nothing,
                })
            }
        };

        match result {
            Err(e) => {
                prop_assert_eq!(
                    &b,
                    &before,
                    "step {}: {:?} failed ({}) but changed the buffer",
                    step,
                    op,
                    e
                );
                if was_revoked && matches!(op, Op::Attach { .. } | Op::Pin(_) | Op::Map(_)) {
                    prop_assert!(matches!(e, LifecycleError::Revoked(_)), "{e}");
                }
            }
            Ok(effect) => {
                if was_revoked && !matches!(effect, Effect::Skipped) {
                    prop_assert!(
                        !matches!(op, Op::Attach { .. } | Op::Pin(_))
                            && !matches!(effect, Effect::NewHandle(_)),
                        "step {}: {:?} succeeded on a revoked buffer",
                        step,
                        op
                    );
                }
                match effect {
                    Effect::Skipped | Effect::Nothing => {}
                    Effect::Invalidate(list) => {
                        for (h, valid) in &mut handles {
                            if list.contains(&h.attachment()) {
                                *valid = false;
                            }
                        }
                    }
                    Effect::InvalidateAll => {
                        for (_, valid) in &mut handles {
                            *valid = false;
                        }
                    }
                    Effect::NewHandle(new) => {
                        for (h, valid) in &mut handles {
                            if h.attachment() == new.attachment() {
                                *valid = false;
                            }
                        }
                        handles.push((new, true));
                    }
                    Effect::Unmapped(gone) => {
                        for (h, valid) in &mut handles {
                            if *h == gone {
                                *valid = false;
                            }
                        }
                    }
                    Effect::Detached(id) => {
                        for (h, valid) in &mut handles {
                            if h.attachment() == id {
                                *valid = false;
                            }
                        }
                    }
                }
            }
        }

        if was_pinned {
            prop_assert_eq!(
                b.placement(),
                before.placement(),
                "step {}: the pinned buffer moved ({:?})",
                step,
                op
            );
        }
        for (h, valid) in &handles {
            let usable = b.mapping(h);
            prop_assert_eq!(
                usable.is_ok(),
                *valid,
                "step {}: after {:?}, {} is {:?} but the model says {}",
                step,
                op,
                h,
                usable.err(),
                if *valid { "usable" } else { "unusable" }
            );
        }
        let violations = monitor.observe(&b, &w.platform()).unwrap();
        prop_assert!(
            violations.is_empty(),
            "step {}: after {:?}: {}",
            step,
            op,
            violations
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 3000,
        max_shrink_iters: 4096,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_lifecycle_keeps_its_invariants(
        exporter in exporter(),
        ops in proptest::collection::vec(op(), 1..48),
    ) {
        run(exporter, ops)?;
    }
}

/// The property is not vacuous: the interesting events do happen in the generated sequences.
#[test]
fn the_generated_sequences_reach_the_interesting_states() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut migrations, mut renegotiations, mut lost, mut stale, mut revoked) = (0, 0, 0, 0, 0);
    for _ in 0..300 {
        let exporter = exporter().new_tree(&mut runner).unwrap().current();
        let ops = proptest::collection::vec(op(), 1..48)
            .new_tree(&mut runner)
            .unwrap()
            .current();
        let mut w = World::new();
        let mut b = buffer(&w, exporter);
        let mut ids = Vec::new();
        let mut down = false;
        for op in ops {
            match op {
                Op::Attach { importer, .. } => {
                    let offers = catalogue(&w, importer);
                    if let Ok(a) = b.attach(&w.platform(), Importer::dynamic(&offers).unwrap()) {
                        migrations += usize::from(a.migration.is_some());
                        ids.push(a.id);
                    }
                }
                Op::Map(i) => {
                    if let Some(id) = pick(&ids, i)
                        && let Ok(m) = b.map(&w.platform(), id)
                    {
                        renegotiations += usize::from(m.change.is_some());
                    }
                }
                Op::Move(i) => {
                    let places = placements(&w, exporter);
                    if let Ok(m) = b.move_to(&w.platform(), &places[i % places.len()]) {
                        stale += m.invalidated.len();
                    }
                }
                Op::ToggleNvlink => {
                    down = !down;
                    w.fabric.set_link_down(world::NVLINK, down);
                    if let Ok(r) = b.revalidate(&w.platform()) {
                        lost += r.lost.len();
                        renegotiations += r.renegotiated.len();
                    }
                }
                Op::Revoke => revoked += usize::from(b.revoke().is_ok()),
                _ => {}
            }
        }
    }
    assert!(migrations > 10, "attach-forced migrations: {migrations}");
    assert!(renegotiations > 50, "renegotiations: {renegotiations}");
    assert!(stale > 50, "mappings invalidated by moves: {stale}");
    assert!(revoked > 10, "revokes: {revoked}");
    assert!(lost > 0, "attachments lost to a link-down: {lost}");
}
