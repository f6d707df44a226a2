//! Properties of negotiation over random machines and random offer lists.
//!
//! - The same inputs give the same answer.
//! - The answer is always a pair that both sides offered, of one interconnect type, and the
//!   table holds every pair exactly once.
//! - Trust and fabric rules are never broken by any accepted candidate.
//! - Under `BestRoute`, reordering the importer's list changes nothing but ties; under
//!   `ExporterPriority` the first acceptable pair in list order wins.
//! - Nothing panics, whatever the devices, fabrics and arguments (unknown ones included).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::TestFabric;
use dmabuf_negotiate::{
    Bandwidth, BarSlice, Candidate, DeviceId, ExporterDecision, ExporterOffer, Fabric, FabricId,
    HostBridgeCause, HostBridgeRefusal, ImporterArgs, ImporterOffer, Latency, Memory,
    NegotiationError, Negotiator, PHYS, PRIVATE_IOVA, Policy, Ranked, Refusal, Relation, Route,
    RouteKind, Trust, VramId,
};
use proptest::prelude::*;

/// How a test device is created.
#[derive(Clone, Debug)]
enum DeviceSpec {
    Own,
    FunctionOf(usize),
    VirtualFunctionOf(usize),
}

/// A random machine: devices, the route between each ordered pair, private links.
#[derive(Clone, Debug)]
struct MachineSpec {
    devices: Vec<DeviceSpec>,
    /// `routes[i][j]`: how device `i` reaches the memory of device `j`.
    routes: Vec<Vec<Result<Route, Refusal>>>,
    cpu_routes: Vec<Option<Route>>,
    links: Vec<(u32, usize, usize, Route)>,
    down: Vec<u32>,
}

fn route() -> impl Strategy<Value = Route> {
    let kind = prop_oneof![
        Just(RouteKind::SameDevice),
        (0u32..3).prop_map(|f| RouteKind::PrivateLink(FabricId(f))),
        (0u32..8).prop_map(|distance| RouteKind::PciBusAddr { distance }),
        (0u32..8).prop_map(|distance| RouteKind::PciThroughHostBridge { distance }),
        Just(RouteKind::SystemMemory),
    ];
    (
        kind,
        prop::option::of(prop_oneof![Just(15_750u32), Just(31_500), 1u32..200_000]),
        prop::option::of(prop_oneof![Just(300u32), 1u32..2_000]),
        0u16..8,
    )
        .prop_map(|(kind, bw, lat, hops)| Route {
            kind,
            bandwidth: bw.map(Bandwidth),
            latency: lat.map(Latency),
            hops,
        })
}

fn refusal() -> impl Strategy<Value = Refusal> {
    prop_oneof![
        Just(Refusal::PciP2pNotSupported {
            cause: HostBridgeCause::NoCommonUpstreamBridge,
            host_bridge: HostBridgeRefusal::NotWhitelisted,
            acs_known: true,
        }),
        Just(Refusal::PciP2pNotSupported {
            cause: HostBridgeCause::AcsRedirect,
            host_bridge: HostBridgeRefusal::RequiresSameHostBridge,
            acs_known: false,
        }),
        Just(Refusal::Other("test refusal")),
    ]
}

fn machine() -> impl Strategy<Value = MachineSpec> {
    (1usize..6)
        .prop_flat_map(|n| {
            let devices = (0..n)
                .map(|i| {
                    if i == 0 {
                        Just(DeviceSpec::Own).boxed()
                    } else {
                        prop_oneof![
                            2 => Just(DeviceSpec::Own),
                            1 => (0..i).prop_map(DeviceSpec::FunctionOf),
                            1 => (0..i).prop_map(DeviceSpec::VirtualFunctionOf),
                        ]
                        .boxed()
                    }
                })
                .collect::<Vec<_>>();
            let routes = prop::collection::vec(
                prop::collection::vec(
                    prop_oneof![3 => route().prop_map(Ok), 1 => refusal().prop_map(Err)],
                    n,
                ),
                n,
            );
            let cpu = prop::collection::vec(prop::option::of(route()), n);
            let links = prop::collection::vec((0u32..3, 0..n, 0..n, route()), 0..4);
            let down = prop::collection::vec(0u32..3, 0..2);
            (devices, routes, cpu, links, down)
        })
        .prop_map(|(devices, routes, cpu_routes, links, down)| MachineSpec {
            devices,
            routes,
            cpu_routes,
            links,
            down,
        })
}

fn build(spec: &MachineSpec) -> TestFabric {
    let mut fabric = TestFabric::new();
    let mut ids = Vec::new();
    for d in &spec.devices {
        let id = match d {
            DeviceSpec::Own => fabric.device("dev"),
            // A function of a VF is not a thing; make it its own device then.
            DeviceSpec::FunctionOf(i) => fabric.function_of(ids[*i], "fn"),
            DeviceSpec::VirtualFunctionOf(i) => fabric.virtual_function_of(ids[*i], "vf"),
        };
        ids.push(id);
    }
    for (i, row) in spec.routes.iter().enumerate() {
        for (j, r) in row.iter().enumerate() {
            match r {
                Ok(route) => fabric.route(ids[i], ids[j], *route),
                Err(why) => fabric.refuse(ids[i], ids[j], *why),
            };
        }
    }
    for (j, r) in spec.cpu_routes.iter().enumerate() {
        if let Some(route) = r {
            fabric.cpu_route(ids[j], *route);
        }
    }
    for (f, a, b, route) in &spec.links {
        fabric.link(FabricId(*f), ids[*a], ids[*b], *route);
    }
    for f in &spec.down {
        fabric.set_link_down(FabricId(*f), true);
    }
    fabric
}

/// Device ids include one the fabric does not know.
fn device(n: usize) -> impl Strategy<Value = DeviceId> {
    (0..=n as u32).prop_map(DeviceId)
}

fn memory(n: usize) -> impl Strategy<Value = Memory> {
    prop_oneof![
        prop::option::of(0u16..2).prop_map(|numa_node| Memory::System { numa_node }),
        device(n).prop_map(Memory::Device),
    ]
}

fn exporter_offer(n: usize) -> impl Strategy<Value = ExporterOffer<'static>> {
    prop_oneof![
        memory(n).prop_map(ExporterOffer::dma_addr),
        memory(n).prop_map(ExporterOffer::phys),
        (device(n), 0u8..8, any::<u64>(), any::<u64>()).prop_map(|(device, bar, offset, len)| {
            ExporterOffer::pci_bar(BarSlice {
                device,
                bar,
                offset,
                len,
            })
        }),
        (device(n), 0u16..2)
            .prop_map(|(owner, instance)| ExporterOffer::vram(VramId { owner, instance })),
        (0u32..4, device(n)).prop_map(|(f, owner)| ExporterOffer::private_iova(FabricId(f), owner)),
    ]
}

fn trust() -> impl Strategy<Value = Trust> {
    prop_oneof![
        Just(Trust::Untrusted),
        Just(Trust::Iommufd),
        Just(Trust::Kvm),
        Just(Trust::Vfio)
    ]
}

fn importer_offer(n: usize) -> impl Strategy<Value = ImporterOffer<'static>> {
    prop_oneof![
        (device(n), any::<bool>()).prop_map(|(d, p2p)| ImporterOffer::dma_addr(d, p2p)),
        device(n).prop_map(ImporterOffer::pci_bar),
        device(n).prop_map(ImporterOffer::vram),
        (0u32..4, device(n)).prop_map(|(f, d)| ImporterOffer::private_iova(FabricId(f), d)),
        (trust(), prop::option::of(device(n))).prop_map(|(t, d)| ImporterOffer::phys(t, d)),
    ]
}

#[derive(Clone, Debug)]
struct Case {
    machine: MachineSpec,
    exporter: Vec<ExporterOffer<'static>>,
    importer: Vec<ImporterOffer<'static>>,
    /// A permutation of the importer list.
    shuffle: Vec<usize>,
}

fn case() -> impl Strategy<Value = Case> {
    machine().prop_flat_map(|machine| {
        let n = machine.devices.len();
        (
            Just(machine),
            prop::collection::vec(exporter_offer(n), 0..7),
            prop::collection::vec(importer_offer(n), 0..7),
        )
            .prop_flat_map(|(machine, exporter, importer)| {
                let order: Vec<usize> = (0..importer.len()).collect();
                (
                    Just(machine),
                    Just(exporter),
                    Just(importer),
                    Just(order).prop_shuffle(),
                )
            })
            .prop_map(|(machine, exporter, importer, shuffle)| Case {
                machine,
                exporter,
                importer,
                shuffle,
            })
    })
}

/// Negotiates into a fresh Vec-backed table; returns the table and the chosen position.
fn run(
    fabric: &TestFabric,
    policy: Policy,
    exporter: &[ExporterOffer<'_>],
    importer: &[ImporterOffer<'_>],
) -> (Vec<Candidate>, Option<usize>) {
    let mut storage = vec![Candidate::VACANT; exporter.len() * importer.len()];
    match Negotiator::new(fabric)
        .with_policy(policy)
        .negotiate(exporter, importer, &mut storage)
    {
        Ok(a) => {
            let chosen = a
                .candidates()
                .iter()
                .position(|c| std::ptr::eq(c, a.chosen()));
            (a.candidates().to_vec(), chosen)
        }
        Err(NegotiationError::NoCommonInterconnect { table }) => (table.to_vec(), None),
        Err(e) => panic!("unexpected error: {e}"),
    }
}

fn importer_device(offer: &ImporterOffer<'_>) -> Option<DeviceId> {
    match offer.args() {
        ImporterArgs::Device { device, .. } => Some(*device),
        ImporterArgs::Fabric { initiator, .. } => Some(*initiator),
        ImporterArgs::Phys { device, .. } => *device,
        ImporterArgs::Driver(_) => None,
    }
}

fn exporter_owner(offer: &ExporterOffer<'_>) -> Option<DeviceId> {
    use dmabuf_negotiate::ExporterArgs;
    match offer.args() {
        ExporterArgs::Memory(Memory::Device(d)) => Some(*d),
        ExporterArgs::Memory(Memory::System { .. }) => None,
        ExporterArgs::Bar(slice) => Some(slice.device),
        ExporterArgs::Vram(v) => Some(v.owner),
        ExporterArgs::Fabric { owner, .. } => Some(*owner),
        ExporterArgs::Driver(_) => None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn same_inputs_same_answer(case in case(), priority in any::<bool>()) {
        let fabric = build(&case.machine);
        let policy = if priority { Policy::ExporterPriority } else { Policy::BestRoute };
        let first = run(&fabric, policy, &case.exporter, &case.importer);
        let second = run(&fabric, policy, &case.exporter, &case.importer);
        prop_assert_eq!(first, second);
    }

    #[test]
    fn the_answer_is_a_pair_both_sides_offered(case in case(), priority in any::<bool>()) {
        let fabric = build(&case.machine);
        let policy = if priority { Policy::ExporterPriority } else { Policy::BestRoute };
        let (table, chosen) = run(&fabric, policy, &case.exporter, &case.importer);

        let mut pairs: Vec<_> = table.iter().map(|c| (c.exporter_index, c.importer_index)).collect();
        pairs.sort_unstable();
        let expected: Vec<_> = (0..case.exporter.len() as u16)
            .flat_map(|e| (0..case.importer.len() as u16).map(move |i| (e, i)))
            .collect();
        prop_assert_eq!(pairs, expected, "every pair exactly once");

        if let Some(chosen) = chosen {
            let c = &table[chosen];
            let e = &case.exporter[usize::from(c.exporter_index)];
            let i = &case.importer[usize::from(c.importer_index)];
            prop_assert!(c.is_accepted());
            prop_assert!(c.interconnect.is(e.interconnect()));
            prop_assert!(c.interconnect.is(i.interconnect()));
        } else {
            prop_assert!(table.iter().all(|c| !c.is_accepted()));
        }
    }

    #[test]
    fn trust_and_fabric_rules_hold(case in case()) {
        let fabric = build(&case.machine);
        let (table, _) = run(&fabric, Policy::BestRoute, &case.exporter, &case.importer);
        for c in table.iter().filter(|c| c.is_accepted()) {
            let e = &case.exporter[usize::from(c.exporter_index)];
            let i = &case.importer[usize::from(c.importer_index)];
            if c.interconnect.is(&PHYS) {
                let ImporterArgs::Phys { trust, .. } = i.args() else {
                    panic!("accepted phys with non-phys importer arguments");
                };
                prop_assert!(trust.is_trusted(), "phys given to {trust}");
            }
            if c.interconnect.is(&PRIVATE_IOVA) {
                let (
                    dmabuf_negotiate::ExporterArgs::Fabric { fabric: fe, owner },
                    ImporterArgs::Fabric { fabric: fi, initiator },
                ) = (e.args(), i.args()) else {
                    panic!("accepted private-iova with other arguments");
                };
                prop_assert_eq!(fe, fi);
                prop_assert!(fabric.private_route(*fe, *initiator, *owner).is_ok());
            }
            if let (Some(importer), Some(owner)) = (importer_device(i), exporter_owner(e)) {
                prop_assert_ne!(
                    fabric.relation(importer, owner),
                    Relation::OtherVirtualFunction,
                    "a VF reached another VF's memory"
                );
            }
        }
    }

    #[test]
    fn best_route_ignores_importer_order_but_for_ties(case in case()) {
        let fabric = build(&case.machine);
        let shuffled: Vec<_> = case.shuffle.iter().map(|&k| case.importer[k]).collect();
        let (table, chosen) = run(&fabric, Policy::BestRoute, &case.exporter, &case.importer);
        let (table2, chosen2) = run(&fabric, Policy::BestRoute, &case.exporter, &shuffled);
        prop_assert_eq!(chosen.is_some(), chosen2.is_some());
        if let (Some(a), Some(b)) = (chosen, chosen2) {
            let (a, b) = (&table[a], &table2[b]);
            let qa = a.verdict.accepted_route().unwrap().quality();
            let qb = b.verdict.accepted_route().unwrap().quality();
            prop_assert_eq!(qa, qb, "same best quality");
            prop_assert_eq!(a.exporter_index, b.exporter_index, "exporter order breaks ties first");
            // The importer entry chosen after shuffling was an equally good choice before.
            let original = case.shuffle[usize::from(b.importer_index)] as u16;
            let before = table
                .iter()
                .find(|c| c.exporter_index == a.exporter_index && c.importer_index == original)
                .unwrap();
            prop_assert_eq!(before.verdict.accepted_route().map(|r| r.quality()), Some(qa));
        }
    }

    #[test]
    fn exporter_priority_takes_the_first_acceptable_pair(case in case()) {
        let fabric = build(&case.machine);
        let (table, chosen) = run(&fabric, Policy::ExporterPriority, &case.exporter, &case.importer);
        if let Some(chosen) = chosen {
            let c = &table[chosen];
            let first = table
                .iter()
                .filter(|c| c.is_accepted())
                .map(|c| (c.exporter_index, c.importer_index))
                .min()
                .unwrap();
            prop_assert_eq!((c.exporter_index, c.importer_index), first);
        }
    }

    #[test]
    fn ranked_walks_the_accepted_candidates_best_first(case in case(), priority in any::<bool>()) {
        let fabric = build(&case.machine);
        let policy = if priority { Policy::ExporterPriority } else { Policy::BestRoute };
        let mut storage = vec![Candidate::VACANT; case.exporter.len() * case.importer.len()];
        let Ok(agreement) = Negotiator::new(&fabric)
            .with_policy(policy)
            .negotiate(&case.exporter, &case.importer, &mut storage)
        else {
            return Ok(());
        };
        let ranked: Vec<&Candidate> = agreement.ranked().collect();
        let accepted = agreement.candidates().iter().filter(|c| c.is_accepted()).count();
        prop_assert_eq!(ranked.len(), accepted);
        prop_assert_eq!(agreement.ranked().len(), accepted);
        prop_assert!(std::ptr::eq(ranked[0], agreement.chosen()));
        for pair in ranked.windows(2) {
            let order = |c: &Candidate| (c.exporter_index, c.importer_index);
            let quality = |c: &Candidate| c.verdict.accepted_route().unwrap().quality();
            match policy {
                Policy::ExporterPriority => prop_assert!(order(pair[0]) < order(pair[1])),
                Policy::BestRoute => prop_assert!(
                    quality(pair[0]) > quality(pair[1])
                        || (quality(pair[0]) == quality(pair[1]) && order(pair[0]) < order(pair[1]))
                ),
            }
        }
    }

    #[test]
    fn a_ranked_negotiation_agrees_with_the_scanning_one(
        case in case(),
        priority in any::<bool>(),
        pick in 0usize..6,
    ) {
        // The exporter picks the `pick`-th candidate (the last if there are fewer).
        struct Pick(usize);
        impl ExporterDecision for Pick {
            fn pick(&mut self, ranked: Ranked<'_>) -> usize {
                self.0.min(ranked.len().saturating_sub(1))
            }
        }
        let fabric = build(&case.machine);
        let policy = if priority { Policy::ExporterPriority } else { Policy::BestRoute };
        let negotiator = Negotiator::new(&fabric).with_policy(policy);
        let n = case.exporter.len() * case.importer.len();
        let (mut t1, mut t2, mut order) = (vec![Candidate::VACANT; n], vec![Candidate::VACANT; n], vec![0u32; n]);
        let scanned = negotiator.negotiate_with(&case.exporter, &case.importer, &mut Pick(pick), &mut t1);
        let ranked = negotiator.negotiate_ranked(&case.exporter, &case.importer, &mut Pick(pick), &mut t2, &mut order);
        match (scanned, ranked) {
            (Ok(a), Ok(b)) => {
                prop_assert_eq!(a.candidates(), b.candidates());
                prop_assert_eq!(a.chosen_position(), b.chosen_position());
                prop_assert_eq!(a.chosen_by(), b.chosen_by());
                let walk = |x: &dmabuf_negotiate::Agreement<'_>| -> Vec<(u16, u16)> {
                    x.ranked().map(|c| (c.exporter_index, c.importer_index)).collect()
                };
                prop_assert_eq!(walk(&a), walk(&b));
                let positions: Vec<usize> = b.ranked_positions().unwrap().iter().map(|&k| k as usize).collect();
                let scanned_positions: Vec<usize> = a
                    .ranked()
                    .map(|c| usize::from(c.exporter_index) * case.importer.len() + usize::from(c.importer_index))
                    .collect();
                prop_assert_eq!(positions, scanned_positions);
            }
            (Err(NegotiationError::NoCommonInterconnect { .. }), Err(NegotiationError::NoCommonInterconnect { .. })) => {}
            (a, b) => prop_assert!(false, "{:?} / {:?}", a.map(|x| x.chosen_position()), b.map(|x| x.chosen_position())),
        }
    }
}
