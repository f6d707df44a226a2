//! The scenarios of the interconnect-negotiation proposal, each on a small fabric.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::TestFabric;
use dmabuf_negotiate::{
    Bandwidth, BarSlice, Candidate, ChosenBy, DMA_ADDR, DeviceId, ExporterDecision, ExporterOffer,
    FabricId, HostBridgeCause, HostBridgeRefusal, ImporterOffer, Latency, Memory, NegotiationError,
    Negotiator, PCI_BAR, PHYS, PRIVATE_IOVA, Policy, Ranked, Refusal, Rejection, Relation, Route,
    RouteKind, Trust, VRAM, Verdict, VramId,
};

const NVLINK: FabricId = FabricId(7);

fn p2p(distance: u32, mb_s: u32, hops: u16) -> Route {
    Route::new(RouteKind::PciBusAddr { distance })
        .with_bandwidth(Bandwidth(mb_s))
        .with_hops(hops)
}

fn through_host(distance: u32, mb_s: u32, hops: u16) -> Route {
    Route::new(RouteKind::PciThroughHostBridge { distance })
        .with_bandwidth(Bandwidth(mb_s))
        .with_hops(hops)
}

fn find(table: &[Candidate], exporter: u16, importer: u16) -> &Candidate {
    table
        .iter()
        .find(|c| c.exporter_index == exporter && c.importer_index == importer)
        .expect("every pair is in the table")
}

/// 1. A GPU shares VRAM with another function of the same GPU: `vram` wins over the P2P
///    scatterlist, which is still accepted and shown.
#[test]
fn vram_to_another_function_of_the_same_gpu() {
    let mut fabric = TestFabric::new();
    let gpu = fabric.device("gpu");
    let gpu_fn1 = fabric.function_of(gpu, "gpu.1");
    fabric.route(gpu_fn1, gpu, p2p(2, 31_500, 2));

    let exporter = [
        ExporterOffer::dma_addr(Memory::Device(gpu)),
        ExporterOffer::vram(VramId {
            owner: gpu,
            instance: 0,
        }),
    ];
    let importer = [
        ImporterOffer::dma_addr(gpu_fn1, true),
        ImporterOffer::vram(gpu_fn1),
    ];
    let mut table = [Candidate::VACANT; 4];
    let agreement = Negotiator::new(&fabric)
        .negotiate(&exporter, &importer, &mut table)
        .unwrap();

    assert!(agreement.chosen().interconnect.is(&VRAM));
    assert_eq!(agreement.route().kind, RouteKind::SameDevice);
    assert_eq!(agreement.ranked().len(), 2, "vram and dma-addr both work");
    assert!(
        agreement
            .ranked()
            .nth(1)
            .unwrap()
            .interconnect
            .is(&DMA_ADDR)
    );
    assert_eq!(agreement.candidates().len(), 4);
}

/// 2. GPU VRAM to a multipath RDMA NIC: one function behind the GPU's switch, one across the
///    host bridge. The better path wins; the other is listed with its lower quality.
#[test]
fn multipath_nic_gets_the_better_function() {
    let mut fabric = TestFabric::new();
    let gpu = fabric.device("gpu");
    let nic_near = fabric.device("nic.pf0 (behind the GPU's switch)");
    let nic_far = fabric.device("nic.pf1 (across the host bridge)");
    fabric.route(nic_near, gpu, p2p(4, 31_500, 4));
    fabric.route(nic_far, gpu, through_host(6, 31_500, 6));

    let exporter = [
        ExporterOffer::dma_addr(Memory::Device(gpu)),
        ExporterOffer::dma_addr(Memory::System { numa_node: Some(0) }),
    ];
    // The worse path first: order must not decide under BestRoute.
    let importer = [
        ImporterOffer::dma_addr(nic_far, true),
        ImporterOffer::dma_addr(nic_near, true),
    ];
    let mut table = [Candidate::VACANT; 4];
    let agreement = Negotiator::new(&fabric)
        .negotiate(&exporter, &importer, &mut table)
        .unwrap();

    let chosen = agreement.chosen();
    assert_eq!((chosen.exporter_index, chosen.importer_index), (0, 1));
    assert_eq!(
        agreement.route().kind,
        RouteKind::PciBusAddr { distance: 4 }
    );

    let far = find(agreement.candidates(), 0, 0);
    let far_route = far
        .verdict
        .accepted_route()
        .expect("the far path also works");
    assert_eq!(
        far_route.kind,
        RouteKind::PciThroughHostBridge { distance: 6 }
    );
    assert!(far_route.quality() < agreement.route().quality());
    // Ranked: both P2P paths before the system-memory fallbacks.
    let ranked: Vec<_> = agreement
        .ranked()
        .map(|c| (c.exporter_index, c.importer_index))
        .collect();
    assert_eq!(ranked[..2], [(0, 1), (0, 0)]);
    assert_eq!(agreement.ranked().len(), 4);
}

/// 3. vfio-pci exports a BAR slice: iommufd (trusted) gets `phys`; an untrusted importer that
///    offers only `phys` is refused, and the reason names trust.
#[test]
fn vfio_bar_phys_only_to_trusted_importers() {
    let mut fabric = TestFabric::new();
    let vfio_dev = fabric.device("vfio-pci device");
    let nic = fabric.device("nic");
    fabric.cpu_route(vfio_dev, Route::new(RouteKind::CpuThroughHostBridge));
    let slice = BarSlice {
        device: vfio_dev,
        bar: 2,
        offset: 0x10_0000,
        len: 0x20_0000,
    };
    let exporter = [
        ExporterOffer::pci_bar(slice),
        ExporterOffer::phys_bar(slice),
    ];

    let iommufd = [ImporterOffer::phys(Trust::Iommufd, None)];
    let mut table = [Candidate::VACANT; 2];
    let agreement = Negotiator::new(&fabric)
        .negotiate(&exporter, &iommufd, &mut table)
        .unwrap();
    assert!(agreement.chosen().interconnect.is(&PHYS));

    let untrusted = [ImporterOffer::phys(Trust::Untrusted, Some(nic))];
    let mut table = [Candidate::VACANT; 2];
    let err = Negotiator::new(&fabric)
        .negotiate(&exporter, &untrusted, &mut table)
        .unwrap_err();
    let NegotiationError::NoCommonInterconnect { table } = err else {
        panic!("expected no common interconnect, got {err}");
    };
    let phys = find(table, 1, 0);
    assert_eq!(
        phys.verdict,
        Verdict::Rejected(Rejection::UntrustedImporter)
    );
    let Verdict::Rejected(why) = phys.verdict else {
        unreachable!()
    };
    assert!(why.to_string().contains("trusted"), "{why}");
    assert_eq!(
        find(table, 0, 0).verdict,
        Verdict::Rejected(Rejection::DifferentInterconnects {
            exporter: &PCI_BAR,
            importer: &PHYS
        })
    );
}

/// 4. An SR-IOV VF exports to its PF over the IOV interconnect (`vram`); to a different PF it
///    falls back to a P2P scatterlist.
#[test]
fn sriov_vf_to_its_pf_then_to_another_pf() {
    let mut fabric = TestFabric::new();
    let pf = fabric.device("xe PF");
    let vf = fabric.virtual_function_of(pf, "xe VF1");
    let other_pf = fabric.device("another GPU's PF");
    fabric.route(pf, vf, p2p(2, 31_500, 2));
    fabric.route(other_pf, vf, p2p(4, 15_750, 4));

    let exporter = [
        ExporterOffer::vram(VramId {
            owner: vf,
            instance: 0,
        }),
        ExporterOffer::dma_addr(Memory::Device(vf)),
    ];

    let to_pf = [ImporterOffer::vram(pf), ImporterOffer::dma_addr(pf, true)];
    let mut table = [Candidate::VACANT; 4];
    let agreement = Negotiator::new(&fabric)
        .negotiate(&exporter, &to_pf, &mut table)
        .unwrap();
    assert!(agreement.chosen().interconnect.is(&VRAM));
    assert_eq!(agreement.route().kind, RouteKind::SameDevice);

    let to_other = [
        ImporterOffer::vram(other_pf),
        ImporterOffer::dma_addr(other_pf, true),
    ];
    let mut table = [Candidate::VACANT; 4];
    let agreement = Negotiator::new(&fabric)
        .negotiate(&exporter, &to_other, &mut table)
        .unwrap();
    assert!(agreement.chosen().interconnect.is(&DMA_ADDR));
    assert_eq!(
        find(agreement.candidates(), 0, 0).verdict,
        Verdict::Rejected(Rejection::VramNotAddressable(Relation::Unrelated))
    );
}

/// 5. Two GPUs with a private NVLink and PCIe P2P both possible: the private link wins under
///    `BestRoute`; under `ExporterPriority` the exporter's order decides.
#[test]
fn nvlink_versus_pcie_under_both_policies() {
    let mut fabric = TestFabric::new();
    let gpu0 = fabric.device("gpu0");
    let gpu1 = fabric.device("gpu1");
    fabric.route(gpu1, gpu0, p2p(4, 31_500, 4));
    fabric.link(
        NVLINK,
        gpu0,
        gpu1,
        Route::new(RouteKind::PrivateLink(NVLINK))
            .with_bandwidth(Bandwidth(300_000))
            .with_latency(Latency(700))
            .with_hops(1),
    );
    // The exporter lists PCIe first.
    let exporter = [
        ExporterOffer::dma_addr(Memory::Device(gpu0)),
        ExporterOffer::private_iova(NVLINK, gpu0),
    ];
    let importer = [
        ImporterOffer::dma_addr(gpu1, true),
        ImporterOffer::private_iova(NVLINK, gpu1),
    ];

    let mut table = [Candidate::VACANT; 4];
    let best = Negotiator::new(&fabric)
        .negotiate(&exporter, &importer, &mut table)
        .unwrap();
    assert!(best.chosen().interconnect.is(&PRIVATE_IOVA));
    assert_eq!(best.route().kind, RouteKind::PrivateLink(NVLINK));
    assert_eq!(best.policy(), Policy::BestRoute);

    let mut table = [Candidate::VACANT; 4];
    let priority = Negotiator::new(&fabric)
        .with_policy(Policy::ExporterPriority)
        .negotiate(&exporter, &importer, &mut table)
        .unwrap();
    assert!(priority.chosen().interconnect.is(&DMA_ADDR));
    assert_eq!(priority.route().kind, RouteKind::PciBusAddr { distance: 4 });
    // The private link is still accepted and shown.
    assert!(
        priority
            .ranked()
            .nth(1)
            .unwrap()
            .interconnect
            .is(&PRIVATE_IOVA)
    );
}

/// 6. Nothing in common: the error's table says why each pair failed.
#[test]
fn nothing_in_common_explains_every_pair() {
    let mut fabric = TestFabric::new();
    let gpu = fabric.device("gpu");
    let nic = fabric.device("nic");
    let other = FabricId(9);
    fabric.link(NVLINK, gpu, gpu, Route::new(RouteKind::PrivateLink(NVLINK)));
    fabric.refuse(
        nic,
        gpu,
        Refusal::PciP2pNotSupported {
            cause: HostBridgeCause::NoCommonUpstreamBridge,
            host_bridge: HostBridgeRefusal::NotWhitelisted,
            acs_known: true,
        },
    );

    let exporter = [
        ExporterOffer::vram(VramId {
            owner: gpu,
            instance: 0,
        }),
        ExporterOffer::private_iova(NVLINK, gpu),
        ExporterOffer::dma_addr(Memory::Device(gpu)),
    ];
    let importer = [
        ImporterOffer::vram(nic),
        ImporterOffer::private_iova(other, nic),
        ImporterOffer::dma_addr(nic, true),
    ];
    let mut table = [Candidate::VACANT; 9];
    let err = Negotiator::new(&fabric)
        .negotiate(&exporter, &importer, &mut table)
        .unwrap_err();
    let NegotiationError::NoCommonInterconnect { table } = err else {
        panic!("expected no common interconnect, got {err}");
    };
    assert_eq!(table.len(), 9);
    // In exporter order, then importer order.
    let order: Vec<_> = table
        .iter()
        .map(|c| (c.exporter_index, c.importer_index))
        .collect();
    assert_eq!(order[..3], [(0, 0), (0, 1), (0, 2)]);

    assert_eq!(
        find(table, 0, 0).verdict,
        Verdict::Rejected(Rejection::VramNotAddressable(Relation::Unrelated))
    );
    assert_eq!(
        find(table, 1, 1).verdict,
        Verdict::Rejected(Rejection::DifferentFabrics {
            exporter: NVLINK,
            importer: other
        })
    );
    let Verdict::Rejected(Rejection::Refused(refusal)) = find(table, 2, 2).verdict else {
        panic!("dma-addr must be refused by the fabric");
    };
    assert!(refusal.to_string().contains("not whitelisted"), "{refusal}");
    for c in table {
        let Verdict::Rejected(why) = c.verdict else {
            panic!("nothing may be accepted");
        };
        assert!(!why.to_string().is_empty());
    }
}

/// The exporter's final say: a veto is recorded with the route it refused, and a pick other than
/// the policy's first is recorded as the exporter's choice.
#[test]
fn exporter_vetoes_and_picks() {
    let mut fabric = TestFabric::new();
    let gpu0 = fabric.device("gpu0");
    let gpu1 = fabric.device("gpu1");
    fabric.route(gpu1, gpu0, p2p(4, 31_500, 4));
    fabric.link(
        NVLINK,
        gpu0,
        gpu1,
        Route::new(RouteKind::PrivateLink(NVLINK)).with_bandwidth(Bandwidth(300_000)),
    );
    let exporter = [
        ExporterOffer::private_iova(NVLINK, gpu0),
        ExporterOffer::dma_addr(Memory::Device(gpu0)),
        ExporterOffer::dma_addr(Memory::System { numa_node: None }),
    ];
    let importer = [
        ImporterOffer::private_iova(NVLINK, gpu1),
        ImporterOffer::dma_addr(gpu1, true),
    ];

    struct NoNvlinkPickLast;
    impl ExporterDecision for NoNvlinkPickLast {
        fn veto(&mut self, c: &Candidate) -> Option<&'static str> {
            c.interconnect
                .is(&PRIVATE_IOVA)
                .then_some("NVLink reserved for collectives")
        }
        fn pick(&mut self, ranked: Ranked<'_>) -> usize {
            ranked.len() - 1
        }
    }

    let mut table = [Candidate::VACANT; 6];
    let agreement = Negotiator::new(&fabric)
        .negotiate_with(&exporter, &importer, &mut NoNvlinkPickLast, &mut table)
        .unwrap();
    assert_eq!(agreement.chosen_by(), ChosenBy::Exporter);
    assert_eq!(agreement.route().kind, RouteKind::SystemMemory);
    assert_eq!(agreement.ranked().len(), 2);
    let vetoed = find(agreement.candidates(), 0, 0);
    assert!(matches!(
        vetoed.verdict,
        Verdict::Vetoed {
            reason: "NVLink reserved for collectives",
            route: Route {
                kind: RouteKind::PrivateLink(NVLINK),
                ..
            }
        }
    ));

    struct PickOutOfRange;
    impl ExporterDecision for PickOutOfRange {
        fn pick(&mut self, ranked: Ranked<'_>) -> usize {
            ranked.len()
        }
    }
    let mut table = [Candidate::VACANT; 6];
    let err = Negotiator::new(&fabric)
        .negotiate_with(&exporter, &importer, &mut PickOutOfRange, &mut table)
        .unwrap_err();
    assert!(matches!(
        err,
        NegotiationError::InvalidPick {
            picked: 3,
            accepted: 3
        }
    ));
}

/// The kernel's rules that do not depend on the route: P2P must be accepted by the importer, a
/// VF never reaches another VF, private links go down, BAR slices must be sane.
#[test]
fn rules_beyond_the_route() {
    let mut fabric = TestFabric::new();
    let pf = fabric.device("nic PF");
    let vf1 = fabric.virtual_function_of(pf, "VF1");
    let vf2 = fabric.virtual_function_of(pf, "VF2");
    let gpu = fabric.device("gpu");
    let peer = fabric.device("gpu peer");
    fabric.route(vf2, vf1, p2p(2, 31_500, 2));
    fabric.route(peer, gpu, p2p(4, 31_500, 4));
    fabric.link(
        NVLINK,
        gpu,
        peer,
        Route::new(RouteKind::PrivateLink(NVLINK)),
    );
    let verdict = |exporter: ExporterOffer, importer: ImporterOffer, fabric: &TestFabric| {
        let mut table = [Candidate::VACANT; 1];
        match Negotiator::new(fabric).negotiate(&[exporter], &[importer], &mut table) {
            Ok(a) => a.chosen().verdict,
            Err(NegotiationError::NoCommonInterconnect { table }) => table[0].verdict,
            Err(e) => panic!("{e}"),
        }
    };

    assert_eq!(
        verdict(
            ExporterOffer::dma_addr(Memory::Device(gpu)),
            ImporterOffer::dma_addr(peer, false),
            &fabric
        ),
        Verdict::Rejected(Rejection::PeerToPeerNotAccepted)
    );
    // System memory needs no P2P acceptance.
    assert!(matches!(
        verdict(
            ExporterOffer::dma_addr(Memory::System { numa_node: None }),
            ImporterOffer::dma_addr(peer, false),
            &fabric
        ),
        Verdict::Accepted(_)
    ));
    // Two VFs: refused although the PCI verdict would allow it (a VF is treated as its PF).
    assert_eq!(
        verdict(
            ExporterOffer::dma_addr(Memory::Device(vf1)),
            ImporterOffer::dma_addr(vf2, true),
            &fabric
        ),
        Verdict::Rejected(Rejection::VirtualFunctionIsolation)
    );
    assert_eq!(
        verdict(
            ExporterOffer::phys(Memory::Device(vf1)),
            ImporterOffer::phys(Trust::Vfio, Some(vf2)),
            &fabric
        ),
        Verdict::Rejected(Rejection::VirtualFunctionIsolation)
    );
    let bad_bar = BarSlice {
        device: gpu,
        bar: 6,
        offset: 0,
        len: 4096,
    };
    assert!(matches!(
        verdict(
            ExporterOffer::pci_bar(bad_bar),
            ImporterOffer::pci_bar(peer),
            &fabric
        ),
        Verdict::Rejected(Rejection::MalformedOffer { .. })
    ));
    assert!(matches!(
        verdict(
            ExporterOffer::phys_bar(bad_bar),
            ImporterOffer::phys(Trust::Iommufd, None),
            &fabric
        ),
        Verdict::Rejected(Rejection::MalformedOffer { .. })
    ));
    // A hand-built entry whose arguments do not fit its type is malformed, not trusted.
    let confused = ExporterOffer::new(
        &PCI_BAR,
        dmabuf_negotiate::ExporterArgs::Memory(Memory::Device(gpu)),
    );
    assert!(matches!(
        verdict(confused, ImporterOffer::pci_bar(peer), &fabric),
        Verdict::Rejected(Rejection::MalformedOffer { .. })
    ));

    let mut down = fabric.clone();
    down.set_link_down(NVLINK, true);
    assert_eq!(
        verdict(
            ExporterOffer::private_iova(NVLINK, gpu),
            ImporterOffer::private_iova(NVLINK, peer),
            &down
        ),
        Verdict::Rejected(Rejection::Refused(Refusal::LinkDown(NVLINK)))
    );
    assert_eq!(
        verdict(
            ExporterOffer::private_iova(NVLINK, gpu),
            ImporterOffer::private_iova(NVLINK, pf),
            &fabric
        ),
        Verdict::Rejected(Rejection::Refused(Refusal::NotOnFabric {
            fabric: NVLINK,
            device: pf
        }))
    );
    // Devices the fabric does not know are refused, not a panic.
    assert_eq!(
        verdict(
            ExporterOffer::dma_addr(Memory::Device(DeviceId(999))),
            ImporterOffer::dma_addr(peer, true),
            &fabric
        ),
        Verdict::Rejected(Rejection::Refused(Refusal::UnknownDevice(DeviceId(999))))
    );
}

/// Storage that cannot hold the table is an error, never a panic or a partial answer.
#[test]
fn table_storage_must_fit() {
    let mut fabric = TestFabric::new();
    let gpu = fabric.device("gpu");
    let exporter = [ExporterOffer::dma_addr(Memory::System { numa_node: None }); 3];
    let importer = [ImporterOffer::dma_addr(gpu, true); 3];
    let mut table = [Candidate::VACANT; 8];
    let err = Negotiator::new(&fabric)
        .negotiate(&exporter, &importer, &mut table)
        .unwrap_err();
    assert!(matches!(
        err,
        NegotiationError::TableTooSmall {
            needed: 9,
            capacity: 8
        }
    ));
    // Empty lists: nothing to agree on.
    let mut table = [Candidate::VACANT; 0];
    assert!(matches!(
        Negotiator::new(&fabric).negotiate(&[], &importer, &mut table),
        Err(NegotiationError::NoCommonInterconnect { table: [] })
    ));
}
