// SPDX-License-Identifier: GPL-2.0

//! KUnit suites, run by the kernel when the module loads: the six scenarios of the
//! interconnect-negotiation proposal (as `crates/negotiate/tests/scenarios.rs` runs them in user
//! space) and the match rules of the built-in interconnects, each against an in-module
//! [`TestFabric`]. Results are KTAP lines in the kernel log; `kernel/run` reads them.
//!
//! The test macro replaces `assert!`/`assert_eq!` by KUnit assertions (a failure is reported
//! and ends the test; nothing panics). A step that must succeed before the test can go on uses
//! [`Failed`] and `?`: the reason goes to the log and the test fails.

use dmabuf_negotiate::{
    Agreement, Bandwidth, Candidate, NegotiationError, Refusal, Route, RouteKind,
};
use kernel::prelude::*;

/// A test step that could not be taken (its reason is already in the log).
pub(crate) struct Failed;

/// The agreement, or the reason there is none in the log and [`Failed`].
pub(crate) fn agreed<'a>(
    step: &str,
    result: core::result::Result<Agreement<'a>, NegotiationError<'a>>,
) -> core::result::Result<Agreement<'a>, Failed> {
    result.map_err(|e| {
        pr_err!(
            "{}: expected an agreement: {}\n",
            step,
            format_args!("{}", e)
        );
        Failed
    })
}

/// The table of a negotiation that must find nothing in common, or [`Failed`].
pub(crate) fn refused<'a>(
    step: &str,
    result: core::result::Result<Agreement<'a>, NegotiationError<'a>>,
) -> core::result::Result<&'a [Candidate], Failed> {
    match result {
        Err(NegotiationError::NoCommonInterconnect { table }) => Ok(table),
        Ok(a) => {
            pr_err!(
                "{}: expected no agreement, got {}\n",
                step,
                format_args!("{}", a.chosen().interconnect)
            );
            Err(Failed)
        }
        Err(e) => {
            pr_err!(
                "{}: expected no common interconnect: {}\n",
                step,
                format_args!("{}", e)
            );
            Err(Failed)
        }
    }
}

/// The candidate for one (exporter, importer) pair of a table.
pub(crate) fn find<'t>(
    table: &'t [Candidate],
    exporter: u16,
    importer: u16,
) -> core::result::Result<&'t Candidate, Failed> {
    table
        .iter()
        .find(|c| c.exporter_index == exporter && c.importer_index == importer)
        .ok_or_else(|| {
            pr_err!(
                "pair e{} x i{} is missing from the table\n",
                exporter,
                importer
            );
            Failed
        })
}

/// PCI P2P with bus addresses.
pub(crate) fn p2p(distance: u32, mb_s: u32, hops: u16) -> Route {
    Route::new(RouteKind::PciBusAddr { distance })
        .with_bandwidth(Bandwidth(mb_s))
        .with_hops(hops)
}

/// PCI P2P through the host bridge.
pub(crate) fn through_host(distance: u32, mb_s: u32, hops: u16) -> Route {
    Route::new(RouteKind::PciThroughHostBridge { distance })
        .with_bandwidth(Bandwidth(mb_s))
        .with_hops(hops)
}

/// Linux's refusal when no upstream bridge is shared and the host bridge is not whitelisted.
pub(crate) const NOT_WHITELISTED: Refusal = Refusal::PciP2pNotSupported {
    cause: dmabuf_negotiate::HostBridgeCause::NoCommonUpstreamBridge,
    host_bridge: dmabuf_negotiate::HostBridgeRefusal::NotWhitelisted,
    acs_known: true,
};

#[kunit_tests(dmabuf_negotiate_scenarios)]
mod scenarios {
    use super::{agreed, find, p2p, refused, through_host, Failed, NOT_WHITELISTED};
    use crate::test_fabric::TestFabric;
    use dmabuf_negotiate::{
        Bandwidth, BarSlice, Candidate, ExporterOffer, FabricId, ImporterOffer, Latency, Memory,
        Negotiator, Policy, Rejection, Relation, Route, RouteKind, Trust, Verdict, VramId,
        DMA_ADDR, PCI_BAR, PHYS, PRIVATE_IOVA, VRAM,
    };

    type Outcome = core::result::Result<(), Failed>;

    const NVLINK: FabricId = FabricId(7);

    /// 1. VRAM to another function of the same GPU: `vram` wins over the P2P scatterlist,
    ///    which is still accepted and ranked second.
    #[test]
    fn vram_to_another_function_of_the_same_gpu() -> Outcome {
        let mut fabric = TestFabric::new();
        let gpu = fabric.device();
        let gpu_fn1 = fabric.function_of(gpu);
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
        let agreement = agreed(
            "vram",
            Negotiator::new(&fabric).negotiate(&exporter, &importer, &mut table),
        )?;
        assert!(agreement.chosen().interconnect.is(&VRAM));
        assert_eq!(agreement.route().kind, RouteKind::SameDevice);
        assert_eq!(agreement.ranked().len(), 2);
        assert!(agreement
            .ranked()
            .nth(1)
            .is_some_and(|c| c.interconnect.is(&DMA_ADDR)));
        assert_eq!(agreement.candidates().len(), 4);
        Ok(())
    }

    /// 2. A multipath NIC: the function behind the GPU's switch wins over the one across the
    ///    host bridge, whatever the importer's order; both rank before system memory.
    #[test]
    fn multipath_nic_gets_the_better_function() -> Outcome {
        let mut fabric = TestFabric::new();
        let gpu = fabric.device();
        let nic_near = fabric.device();
        let nic_far = fabric.device();
        fabric.route(nic_near, gpu, p2p(4, 31_500, 4));
        fabric.route(nic_far, gpu, through_host(6, 31_500, 6));
        let exporter = [
            ExporterOffer::dma_addr(Memory::Device(gpu)),
            ExporterOffer::dma_addr(Memory::System { numa_node: Some(0) }),
        ];
        let importer = [
            ImporterOffer::dma_addr(nic_far, true),
            ImporterOffer::dma_addr(nic_near, true),
        ];
        let mut table = [Candidate::VACANT; 4];
        let agreement = agreed(
            "multipath",
            Negotiator::new(&fabric).negotiate(&exporter, &importer, &mut table),
        )?;
        let chosen = agreement.chosen();
        assert_eq!((chosen.exporter_index, chosen.importer_index), (0, 1));
        assert_eq!(
            agreement.route().kind,
            RouteKind::PciBusAddr { distance: 4 }
        );
        let far = find(agreement.candidates(), 0, 0)?;
        let far_route = far.verdict.accepted_route();
        assert!(
            far_route.is_some_and(|r| r.kind == RouteKind::PciThroughHostBridge { distance: 6 })
        );
        assert!(far_route.is_some_and(|r| r.quality() < agreement.route().quality()));
        let mut ranked = agreement
            .ranked()
            .map(|c| (c.exporter_index, c.importer_index));
        assert_eq!(ranked.next(), Some((0, 1)));
        assert_eq!(ranked.next(), Some((0, 0)));
        assert_eq!(agreement.ranked().len(), 4);
        Ok(())
    }

    /// 3. vfio-pci exports a BAR slice: iommufd (trusted) gets `phys`; an untrusted importer
    ///    that offers only `phys` is refused, because it is not trusted.
    #[test]
    fn vfio_bar_phys_only_to_trusted_importers() -> Outcome {
        let mut fabric = TestFabric::new();
        let vfio_dev = fabric.device();
        let nic = fabric.device();
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
        let agreement = agreed(
            "iommufd",
            Negotiator::new(&fabric).negotiate(&exporter, &iommufd, &mut table),
        )?;
        assert!(agreement.chosen().interconnect.is(&PHYS));

        let untrusted = [ImporterOffer::phys(Trust::Untrusted, Some(nic))];
        let mut table = [Candidate::VACANT; 2];
        let table = refused(
            "untrusted",
            Negotiator::new(&fabric).negotiate(&exporter, &untrusted, &mut table),
        )?;
        assert_eq!(
            find(table, 1, 0)?.verdict,
            Verdict::Rejected(Rejection::UntrustedImporter)
        );
        assert_eq!(
            find(table, 0, 0)?.verdict,
            Verdict::Rejected(Rejection::DifferentInterconnects {
                exporter: &PCI_BAR,
                importer: &PHYS
            })
        );
        Ok(())
    }

    /// 4. An SR-IOV VF exports to its PF over `vram` (the IOV interconnect); to another PF it
    ///    falls back to a P2P scatterlist, and `vram` is refused as not addressable.
    #[test]
    fn sriov_vf_to_its_pf_then_to_another_pf() -> Outcome {
        let mut fabric = TestFabric::new();
        let pf = fabric.device();
        let vf = fabric.virtual_function_of(pf);
        let other_pf = fabric.device();
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
        let agreement = agreed(
            "to its PF",
            Negotiator::new(&fabric).negotiate(&exporter, &to_pf, &mut table),
        )?;
        assert!(agreement.chosen().interconnect.is(&VRAM));
        assert_eq!(agreement.route().kind, RouteKind::SameDevice);

        let to_other = [
            ImporterOffer::vram(other_pf),
            ImporterOffer::dma_addr(other_pf, true),
        ];
        let mut table = [Candidate::VACANT; 4];
        let agreement = agreed(
            "to another PF",
            Negotiator::new(&fabric).negotiate(&exporter, &to_other, &mut table),
        )?;
        assert!(agreement.chosen().interconnect.is(&DMA_ADDR));
        assert_eq!(
            find(agreement.candidates(), 0, 0)?.verdict,
            Verdict::Rejected(Rejection::VramNotAddressable(Relation::Unrelated))
        );
        Ok(())
    }

    /// 5. NVLink and PCIe P2P both possible: the private link wins under best-route; under
    ///    exporter-priority the exporter's order decides and NVLink is ranked second.
    #[test]
    fn nvlink_versus_pcie_under_both_policies() -> Outcome {
        let mut fabric = TestFabric::new();
        let gpu0 = fabric.device();
        let gpu1 = fabric.device();
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
        let exporter = [
            ExporterOffer::dma_addr(Memory::Device(gpu0)),
            ExporterOffer::private_iova(NVLINK, gpu0),
        ];
        let importer = [
            ImporterOffer::dma_addr(gpu1, true),
            ImporterOffer::private_iova(NVLINK, gpu1),
        ];
        let mut table = [Candidate::VACANT; 4];
        let best = agreed(
            "best-route",
            Negotiator::new(&fabric).negotiate(&exporter, &importer, &mut table),
        )?;
        assert!(best.chosen().interconnect.is(&PRIVATE_IOVA));
        assert_eq!(best.route().kind, RouteKind::PrivateLink(NVLINK));
        assert_eq!(best.policy(), Policy::BestRoute);

        let mut table = [Candidate::VACANT; 4];
        let priority = agreed(
            "exporter-priority",
            Negotiator::new(&fabric)
                .with_policy(Policy::ExporterPriority)
                .negotiate(&exporter, &importer, &mut table),
        )?;
        assert!(priority.chosen().interconnect.is(&DMA_ADDR));
        assert_eq!(priority.route().kind, RouteKind::PciBusAddr { distance: 4 });
        assert!(priority
            .ranked()
            .nth(1)
            .is_some_and(|c| c.interconnect.is(&PRIVATE_IOVA)));
        Ok(())
    }

    /// 6. Nothing in common: the table holds every pair, in exporter then importer order,
    ///    each with its reason.
    #[test]
    fn nothing_in_common_explains_every_pair() -> Outcome {
        let mut fabric = TestFabric::new();
        let gpu = fabric.device();
        let nic = fabric.device();
        let other = FabricId(9);
        fabric.link(NVLINK, gpu, gpu, Route::new(RouteKind::PrivateLink(NVLINK)));
        fabric.refuse(nic, gpu, NOT_WHITELISTED);
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
        let table = refused(
            "nothing in common",
            Negotiator::new(&fabric).negotiate(&exporter, &importer, &mut table),
        )?;
        assert_eq!(table.len(), 9);
        let mut order = table.iter().map(|c| (c.exporter_index, c.importer_index));
        assert_eq!(order.next(), Some((0, 0)));
        assert_eq!(order.next(), Some((0, 1)));
        assert_eq!(order.next(), Some((0, 2)));
        assert_eq!(
            find(table, 0, 0)?.verdict,
            Verdict::Rejected(Rejection::VramNotAddressable(Relation::Unrelated))
        );
        assert_eq!(
            find(table, 1, 1)?.verdict,
            Verdict::Rejected(Rejection::DifferentFabrics {
                exporter: NVLINK,
                importer: other
            })
        );
        assert_eq!(
            find(table, 2, 2)?.verdict,
            Verdict::Rejected(Rejection::Refused(NOT_WHITELISTED))
        );
        assert!(table
            .iter()
            .all(|c| matches!(c.verdict, Verdict::Rejected(_))));
        Ok(())
    }
}

#[kunit_tests(dmabuf_negotiate_match_rules)]
mod match_rules {
    use super::p2p;
    use crate::test_fabric::TestFabric;
    use dmabuf_negotiate::{
        BarSlice, Candidate, DeviceId, ExporterArgs, ExporterOffer, Fabric, FabricId,
        ImporterOffer, Memory, NegotiationError, Negotiator, Refusal, Rejection, Relation, Route,
        RouteKind, Trust, Verdict, VramId, PCI_BAR,
    };

    const NVLINK: FabricId = FabricId(7);

    /// The verdict on one exporter offer against one importer offer.
    fn verdict(
        fabric: &dyn Fabric,
        exporter: ExporterOffer<'_>,
        importer: ImporterOffer<'_>,
    ) -> Verdict {
        let mut table = [Candidate::VACANT; 1];
        match Negotiator::new(fabric).negotiate(&[exporter], &[importer], &mut table) {
            Ok(a) => a.chosen().verdict,
            Err(NegotiationError::NoCommonInterconnect { table }) => table.first().map_or(
                Verdict::Rejected(Rejection::MalformedOffer {
                    expected: "a table",
                }),
                |c| c.verdict,
            ),
            Err(_) => Verdict::Rejected(Rejection::MalformedOffer {
                expected: "one pair",
            }),
        }
    }

    fn accepted(v: &Verdict) -> bool {
        matches!(v, Verdict::Accepted(_))
    }

    /// `phys` goes only to trusted importers (iommufd, KVM, VFIO), never to an untrusted one,
    /// whatever the route.
    #[test]
    fn phys_only_to_trusted_importers() {
        let mut fabric = TestFabric::new();
        let gpu = fabric.device();
        let nic = fabric.device();
        fabric.route(nic, gpu, p2p(4, 31_500, 4));
        fabric.cpu_route(gpu, Route::new(RouteKind::CpuThroughHostBridge));
        let memory = ExporterOffer::phys(Memory::Device(gpu));
        for trust in [Trust::Iommufd, Trust::Kvm, Trust::Vfio] {
            assert!(accepted(&verdict(
                &fabric,
                memory,
                ImporterOffer::phys(trust, Some(nic))
            )));
            assert!(accepted(&verdict(
                &fabric,
                memory,
                ImporterOffer::phys(trust, None)
            )));
        }
        assert_eq!(
            verdict(
                &fabric,
                memory,
                ImporterOffer::phys(Trust::Untrusted, Some(nic))
            ),
            Verdict::Rejected(Rejection::UntrustedImporter)
        );
        assert_eq!(
            verdict(&fabric, memory, ImporterOffer::phys(Trust::Untrusted, None)),
            Verdict::Rejected(Rejection::UntrustedImporter)
        );
    }

    /// `private-iova` only between members of the same fabric, and only while its links are up.
    #[test]
    fn private_iova_only_on_the_fabric() {
        let mut fabric = TestFabric::new();
        let gpu0 = fabric.device();
        let gpu1 = fabric.device();
        let outsider = fabric.device();
        fabric.link(
            NVLINK,
            gpu0,
            gpu1,
            Route::new(RouteKind::PrivateLink(NVLINK)),
        );
        let offer = ExporterOffer::private_iova(NVLINK, gpu0);
        assert!(accepted(&verdict(
            &fabric,
            offer,
            ImporterOffer::private_iova(NVLINK, gpu1)
        )));
        assert_eq!(
            verdict(
                &fabric,
                offer,
                ImporterOffer::private_iova(NVLINK, outsider)
            ),
            Verdict::Rejected(Rejection::Refused(Refusal::NotOnFabric {
                fabric: NVLINK,
                device: outsider
            }))
        );
        assert_eq!(
            verdict(
                &fabric,
                offer,
                ImporterOffer::private_iova(FabricId(9), gpu1)
            ),
            Verdict::Rejected(Rejection::DifferentFabrics {
                exporter: NVLINK,
                importer: FabricId(9)
            })
        );
        fabric.set_link_down(NVLINK);
        assert_eq!(
            verdict(&fabric, offer, ImporterOffer::private_iova(NVLINK, gpu1)),
            Verdict::Rejected(Rejection::Refused(Refusal::LinkDown(NVLINK)))
        );
    }

    /// VRAM offsets mean something only to the owning function, another function of the same
    /// device, or the physical function of an exporting VF.
    #[test]
    fn vram_only_within_the_owning_device() {
        let mut fabric = TestFabric::new();
        let gpu = fabric.device();
        let gpu_fn1 = fabric.function_of(gpu);
        let vf = fabric.virtual_function_of(gpu);
        let vf2 = fabric.virtual_function_of(gpu);
        let other = fabric.device();
        let of = |owner: DeviceId| ExporterOffer::vram(VramId { owner, instance: 0 });
        assert!(accepted(&verdict(
            &fabric,
            of(gpu),
            ImporterOffer::vram(gpu)
        )));
        assert!(accepted(&verdict(
            &fabric,
            of(gpu),
            ImporterOffer::vram(gpu_fn1)
        )));
        assert!(accepted(&verdict(
            &fabric,
            of(vf),
            ImporterOffer::vram(gpu)
        )));
        assert_eq!(
            verdict(&fabric, of(gpu), ImporterOffer::vram(other)),
            Verdict::Rejected(Rejection::VramNotAddressable(Relation::Unrelated))
        );
        assert_eq!(
            verdict(&fabric, of(gpu), ImporterOffer::vram(vf)),
            Verdict::Rejected(Rejection::VramNotAddressable(Relation::VirtualFunctionOf))
        );
        assert_eq!(
            verdict(&fabric, of(vf), ImporterOffer::vram(vf2)),
            Verdict::Rejected(Rejection::VramNotAddressable(
                Relation::OtherVirtualFunction
            ))
        );
    }

    /// Device memory goes over P2P only to an importer that accepts P2P addresses (Linux's
    /// `allow_peer2peer`), for `dma-addr` and `pci-bar` alike; system memory needs no P2P.
    #[test]
    fn p2p_only_to_importers_that_accept_it() {
        let mut fabric = TestFabric::new();
        let gpu = fabric.device();
        let peer = fabric.device();
        fabric.route(peer, gpu, p2p(4, 31_500, 4));
        let device_memory = ExporterOffer::dma_addr(Memory::Device(gpu));
        assert!(accepted(&verdict(
            &fabric,
            device_memory,
            ImporterOffer::dma_addr(peer, true)
        )));
        assert_eq!(
            verdict(&fabric, device_memory, ImporterOffer::dma_addr(peer, false)),
            Verdict::Rejected(Rejection::PeerToPeerNotAccepted)
        );
        let system = ExporterOffer::dma_addr(Memory::System { numa_node: None });
        assert!(accepted(&verdict(
            &fabric,
            system,
            ImporterOffer::dma_addr(peer, false)
        )));
        let slice = ExporterOffer::pci_bar(BarSlice {
            device: gpu,
            bar: 2,
            offset: 0,
            len: 4096,
        });
        assert!(accepted(&verdict(
            &fabric,
            slice,
            ImporterOffer::pci_bar(peer)
        )));
    }

    /// What the fabric refuses stays refused (the kernel's P2P verdict is final), two VFs never
    /// reach each other even where PCI would allow it, and unknown devices are refused.
    #[test]
    fn refusals_and_isolation() {
        let mut fabric = TestFabric::new();
        let pf = fabric.device();
        let vf1 = fabric.virtual_function_of(pf);
        let vf2 = fabric.virtual_function_of(pf);
        let far = fabric.device();
        fabric.route(vf2, vf1, p2p(2, 31_500, 2));
        fabric.refuse(far, pf, super::NOT_WHITELISTED);
        assert_eq!(
            verdict(
                &fabric,
                ExporterOffer::dma_addr(Memory::Device(pf)),
                ImporterOffer::dma_addr(far, true)
            ),
            Verdict::Rejected(Rejection::Refused(super::NOT_WHITELISTED))
        );
        assert_eq!(
            verdict(
                &fabric,
                ExporterOffer::dma_addr(Memory::Device(vf1)),
                ImporterOffer::dma_addr(vf2, true)
            ),
            Verdict::Rejected(Rejection::VirtualFunctionIsolation)
        );
        assert_eq!(
            verdict(
                &fabric,
                ExporterOffer::dma_addr(Memory::Device(DeviceId(999))),
                ImporterOffer::dma_addr(far, true)
            ),
            Verdict::Rejected(Rejection::Refused(Refusal::UnknownDevice(DeviceId(999))))
        );
    }

    /// Malformed offers (a BAR beyond 5, arguments that do not fit the type) are rejected, not
    /// trusted; a table too small for the pairs is an error, not a partial answer.
    #[test]
    fn malformed_offers_and_small_tables() {
        let mut fabric = TestFabric::new();
        let gpu = fabric.device();
        let peer = fabric.device();
        fabric.route(peer, gpu, p2p(4, 31_500, 4));
        let bad_bar = BarSlice {
            device: gpu,
            bar: 6,
            offset: 0,
            len: 4096,
        };
        assert!(matches!(
            verdict(
                &fabric,
                ExporterOffer::pci_bar(bad_bar),
                ImporterOffer::pci_bar(peer)
            ),
            Verdict::Rejected(Rejection::MalformedOffer { .. })
        ));
        let confused = ExporterOffer::new(&PCI_BAR, ExporterArgs::Memory(Memory::Device(gpu)));
        assert!(matches!(
            verdict(&fabric, confused, ImporterOffer::pci_bar(peer)),
            Verdict::Rejected(Rejection::MalformedOffer { .. })
        ));
        let exporter = [ExporterOffer::dma_addr(Memory::System { numa_node: None }); 3];
        let importer = [ImporterOffer::dma_addr(gpu, true); 3];
        let mut table = [Candidate::VACANT; 8];
        assert!(matches!(
            Negotiator::new(&fabric).negotiate(&exporter, &importer, &mut table),
            Err(NegotiationError::TableTooSmall {
                needed: 9,
                capacity: 8
            })
        ));
    }
}
