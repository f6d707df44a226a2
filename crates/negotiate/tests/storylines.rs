//! The four storylines the simulator will show, event by event, with the invariant monitor
//! checking the buffer after every event.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod world;

use dmabuf_negotiate::mapping::{FabricPort, TrustedImporter};
use dmabuf_negotiate::{
    AccessError, AgreementState, DMA_ADDR, DmaAddr, Importer, ImporterOffer, Iova, LifecycleError,
    Mapping, Monitor, NoMigration, PHYS, PRIVATE_IOVA, PhysAddr, Refusal, Rejection, Reset,
    RevokeReason, RouteKind, Trust, VRAM, Validity,
};
use world::{
    NVLINK, NVLINK_BASE, RAM_PHYS, TestIommu, VFIO_BAR_PHYS, VFIO_SLICE_OFFSET, VRAM_BAR_BUS,
    VRAM_OFFSET, World, not_whitelisted, observe,
};

/// 1. A GPU shares VRAM with an RDMA NIC (bus-address P2P), then evicts the buffer to system
///    memory: the NIC's mapping goes stale, and its next map renegotiates to system memory.
#[test]
fn vram_shared_with_an_rdma_nic_then_evicted_to_system_memory() {
    let w = World::new();
    let mut b = w.gpu_buffer();
    let mut monitor = Monitor::new();
    observe(&mut monitor, &b, &w, "create");

    let nic = b
        .attach(
            &w.platform(),
            Importer::dynamic(&[ImporterOffer::dma_addr(w.nic, true)]).unwrap(),
        )
        .unwrap();
    observe(&mut monitor, &b, &w, "attach mlx5");
    assert!(nic.agreed.interconnect().is(&DMA_ADDR));
    assert_eq!(
        nic.agreed.route().kind,
        RouteKind::PciBusAddr { distance: 4 }
    );

    let first = b.map(&w.platform(), nic.id).unwrap();
    observe(&mut monitor, &b, &w, "map mlx5");
    let Mapping::DmaAddr(m) = b.mapping(&first.handle).unwrap() else {
        panic!("dma-addr expected");
    };
    assert_eq!(
        m.addresses_for(w.nic).unwrap()[0].start(),
        DmaAddr::new(VRAM_BAR_BUS + VRAM_OFFSET)
    );

    let eviction = b.move_to(&w.platform(), &w.ram_placement()).unwrap();
    observe(&mut monitor, &b, &w, "evict");
    assert_eq!(eviction.invalidated, vec![nic.id]);
    assert!(matches!(
        b.mapping(&first.handle),
        Err(AccessError::Stale { .. })
    ));
    assert!(matches!(
        b.holding(nic.id).unwrap().validity,
        Validity::Stale { .. }
    ));

    let second = b.map(&w.platform(), nic.id).unwrap();
    observe(&mut monitor, &b, &w, "map mlx5 again");
    let change = second.change.expect("the agreement was for VRAM");
    assert!(!change.interconnect_changed(), "dma-addr both times");
    assert!(change.route_changed());
    assert_eq!(
        change.from.route().kind,
        RouteKind::PciBusAddr { distance: 4 }
    );
    assert_eq!(change.to.route().kind, RouteKind::SystemMemory);
    assert!(second.handle.generation() > first.handle.generation());
    let Mapping::DmaAddr(m) = b.mapping(&second.handle).unwrap() else {
        panic!("dma-addr expected");
    };
    // System memory through the NIC's IOMMU: nothing of the old VRAM bus address is left.
    assert_eq!(
        m.addresses_for(w.nic).unwrap()[0].start(),
        DmaAddr::new(RAM_PHYS + TestIommu::base(w.nic))
    );
}

/// 2. vfio-pci exports a BAR slice to iommufd (physical addresses, pinned but revocable); the
///    device is reset, which revokes the buffer for good.
#[test]
fn vfio_bar_shared_with_iommufd_then_the_device_is_reset() {
    let w = World::new();
    let mut b = w.vfio_buffer();
    let mut monitor = Monitor::new();

    // A pinned importer that cannot give its mapping back is refused up front.
    let before = b.clone();
    assert_eq!(
        b.attach(
            &w.platform(),
            Importer::pinning(&[ImporterOffer::phys(Trust::Vfio, Some(w.nic))], false).unwrap(),
        ),
        Err(LifecycleError::ImporterNotRevocable)
    );
    assert_eq!(b, before);

    let iommufd = b
        .attach(
            &w.platform(),
            Importer::pinning(&[ImporterOffer::phys(Trust::Iommufd, Some(w.nic))], true).unwrap(),
        )
        .unwrap();
    observe(&mut monitor, &b, &w, "attach iommufd");
    assert!(iommufd.agreed.interconnect().is(&PHYS));
    assert!(b.is_pinned());
    let mapped = b.map(&w.platform(), iommufd.id).unwrap();
    observe(&mut monitor, &b, &w, "map iommufd");
    let Mapping::Phys(phys) = b.mapping(&mapped.handle).unwrap() else {
        panic!("phys expected");
    };
    assert_eq!(
        phys.addresses_for(TrustedImporter::new(Trust::Iommufd).unwrap())
            .unwrap()[0]
            .start(),
        PhysAddr::new(VFIO_BAR_PHYS + VFIO_SLICE_OFFSET)
    );

    let Reset::Revoked(revocation) = b.device_reset(w.vfio).unwrap() else {
        panic!("a reset of the exporting device revokes");
    };
    observe(&mut monitor, &b, &w, "device reset");
    assert_eq!(revocation.reason, RevokeReason::DeviceReset(w.vfio));
    assert_eq!(revocation.invalidated, vec![iommufd.id]);
    assert_eq!(
        b.mapping(&mapped.handle),
        Err(AccessError::Revoked(RevokeReason::DeviceReset(w.vfio)))
    );
    assert_eq!(
        b.holding(iommufd.id).unwrap().validity,
        Validity::Revoked(RevokeReason::DeviceReset(w.vfio))
    );
    assert!(matches!(
        b.map(&w.platform(), iommufd.id),
        Err(LifecycleError::Revoked(_))
    ));
    observe(&mut monitor, &b, &w, "map refused");
    b.unmap(&mapped.handle).unwrap();
    b.detach(iommufd.id).unwrap();
    observe(&mut monitor, &b, &w, "detach");
}

fn nvlink_peer(w: &World) -> Importer {
    Importer::dynamic(&[
        ImporterOffer::private_iova(NVLINK, w.gpu1),
        ImporterOffer::dma_addr(w.gpu1, true),
    ])
    .unwrap()
}

/// 3a. Two GPUs over NVLink; the link goes down and the peer falls back to PCIe P2P without the
///     buffer moving. When the link comes back nothing churns.
#[test]
fn two_gpus_over_nvlink_fall_back_to_pcie_p2p() {
    let mut w = World::new();
    let mut b = w.gpu_buffer();
    let mut monitor = Monitor::new();
    let peer = b.attach(&w.platform(), nvlink_peer(&w)).unwrap();
    assert!(peer.agreed.interconnect().is(&PRIVATE_IOVA));
    let over_nvlink = b.map(&w.platform(), peer.id).unwrap();
    observe(&mut monitor, &b, &w, "map over NVLink");
    let Mapping::PrivateIova(m) = b.mapping(&over_nvlink.handle).unwrap() else {
        panic!("private-iova expected");
    };
    let port = FabricPort {
        fabric: NVLINK,
        initiator: w.gpu1,
    };
    assert_eq!(
        m.addresses_for(port).unwrap()[0].start(),
        Iova::new(NVLINK_BASE + VRAM_OFFSET)
    );

    w.fabric.set_link_down(NVLINK, true);
    let revalidation = b.revalidate(&w.platform()).unwrap();
    observe(&mut monitor, &b, &w, "NVLink down");
    assert!(revalidation.migration.is_none());
    assert!(revalidation.lost.is_empty());
    assert_eq!(revalidation.invalidated, vec![peer.id]);
    let [fallback] = revalidation.renegotiated.as_slice() else {
        panic!("one attachment falls back: {revalidation}");
    };
    assert!(fallback.change.from.interconnect().is(&PRIVATE_IOVA));
    assert!(fallback.change.to.interconnect().is(&DMA_ADDR));
    assert_eq!(
        fallback.change.to.route().kind,
        RouteKind::PciBusAddr { distance: 4 }
    );
    assert!(matches!(
        b.mapping(&over_nvlink.handle),
        Err(AccessError::Stale { .. })
    ));

    let over_pcie = b.map(&w.platform(), peer.id).unwrap();
    observe(&mut monitor, &b, &w, "map over PCIe");
    assert!(over_pcie.change.is_none(), "renegotiated at the link-down");
    let Mapping::DmaAddr(m) = b.mapping(&over_pcie.handle).unwrap() else {
        panic!("dma-addr expected");
    };
    assert_eq!(
        m.addresses_for(w.gpu1).unwrap()[0].start(),
        DmaAddr::new(VRAM_BAR_BUS + VRAM_OFFSET)
    );

    w.fabric.set_link_down(NVLINK, false);
    let up = b.revalidate(&w.platform()).unwrap();
    observe(&mut monitor, &b, &w, "NVLink up");
    assert!(up.is_empty(), "a working agreement is left alone: {up}");
    assert!(b.mapping(&over_pcie.handle).is_ok());
}

/// 3b. Two GPUs over NVLink where PCIe P2P is refused: when the link goes down the exporter
///     moves the buffer to system memory, the one place the peer still reaches.
#[test]
fn two_gpus_over_nvlink_fall_back_to_system_memory() {
    let mut w = World::new();
    w.fabric.refuse(w.gpu1, w.gpu0, not_whitelisted());
    let mut b = w.gpu_buffer();
    let mut monitor = Monitor::new();
    let peer = b.attach(&w.platform(), nvlink_peer(&w)).unwrap();
    let fn1 = b
        .attach(
            &w.platform(),
            Importer::dynamic(&[
                ImporterOffer::vram(w.gpu0_fn1),
                ImporterOffer::dma_addr(w.gpu0_fn1, true),
            ])
            .unwrap(),
        )
        .unwrap();
    let h_peer = b.map(&w.platform(), peer.id).unwrap().handle;
    let h_fn1 = b.map(&w.platform(), fn1.id).unwrap().handle;
    observe(&mut monitor, &b, &w, "maps");

    w.fabric.set_link_down(NVLINK, true);
    let revalidation = b.revalidate(&w.platform()).unwrap();
    observe(&mut monitor, &b, &w, "NVLink down");
    let migration = revalidation.migration.as_ref().expect("moved to RAM");
    assert_eq!(migration.to, w.ram_placement());
    assert_eq!(revalidation.invalidated, vec![peer.id, fn1.id]);
    assert!(b.mapping(&h_peer).is_err() && b.mapping(&h_fn1).is_err());

    let peer_map = b.map(&w.platform(), peer.id).unwrap();
    let fn1_map = b.map(&w.platform(), fn1.id).unwrap();
    observe(&mut monitor, &b, &w, "maps in RAM");
    for (mapped, from) in [(&peer_map, &PRIVATE_IOVA), (&fn1_map, &VRAM)] {
        let change = mapped.change.expect("renegotiated for RAM");
        assert!(change.from.interconnect().is(from));
        assert!(change.to.interconnect().is(&DMA_ADDR));
        assert_eq!(change.to.route().kind, RouteKind::SystemMemory);
    }
}

/// 3c. The same, but the peer pinned the buffer: it cannot move, so the peer is lost with the
///     reason, until the link comes back.
#[test]
fn a_pinned_nvlink_peer_is_lost_until_the_link_returns() {
    let mut w = World::new();
    w.fabric.refuse(w.gpu1, w.gpu0, not_whitelisted());
    let mut b = w.gpu_buffer();
    let mut monitor = Monitor::new();
    let peer = b.attach(&w.platform(), nvlink_peer(&w)).unwrap();
    b.pin(peer.id).unwrap();
    let handle = b.map(&w.platform(), peer.id).unwrap().handle;

    w.fabric.set_link_down(NVLINK, true);
    let revalidation = b.revalidate(&w.platform()).unwrap();
    observe(&mut monitor, &b, &w, "NVLink down");
    assert_eq!(
        revalidation.no_migration,
        Some(NoMigration::Pinned(vec![peer.id]))
    );
    let [lost] = revalidation.lost.as_slice() else {
        panic!("the peer is lost: {revalidation}");
    };
    assert!(
        lost.reason
            .reasons()
            .any(|(_, r)| *r == Rejection::Refused(Refusal::LinkDown(NVLINK)))
    );
    assert_eq!(*b.placement(), w.vram_placement(), "pinned: did not move");
    assert!(b.mapping(&handle).is_err());
    assert!(matches!(
        b.attachment(peer.id).unwrap().state(),
        AgreementState::Lost { .. }
    ));
    let before = b.clone();
    assert!(matches!(
        b.map(&w.platform(), peer.id),
        Err(LifecycleError::Renegotiation { .. })
    ));
    assert_eq!(b, before);
    assert_eq!(b.pin(peer.id), Err(LifecycleError::Lost(peer.id)));

    w.fabric.set_link_down(NVLINK, false);
    let up = b.revalidate(&w.platform()).unwrap();
    observe(&mut monitor, &b, &w, "NVLink up");
    assert_eq!(up.recovered.len(), 1);
    let again = b.map(&w.platform(), peer.id).unwrap();
    observe(&mut monitor, &b, &w, "map again");
    assert!(again.agreed.interconnect().is(&PRIVATE_IOVA));
}

/// 4. A less capable importer (a NIC whose P2P to the GPU the kernel refuses) attaches late:
///    the exporter moves the buffer to system memory, invalidating everyone; each renegotiates
///    at its next map. If someone cannot follow, the late importer is refused instead.
#[test]
fn a_less_capable_importer_attaching_late_forces_a_migration() {
    let w = World::new();
    let mut b = w.gpu_buffer();
    let mut monitor = Monitor::new();
    let fn1 = b
        .attach(
            &w.platform(),
            Importer::dynamic(&[
                ImporterOffer::vram(w.gpu0_fn1),
                ImporterOffer::dma_addr(w.gpu0_fn1, true),
            ])
            .unwrap(),
        )
        .unwrap();
    let peer = b.attach(&w.platform(), nvlink_peer(&w)).unwrap();
    let h_fn1 = b.map(&w.platform(), fn1.id).unwrap().handle;
    let h_peer = b.map(&w.platform(), peer.id).unwrap().handle;
    observe(&mut monitor, &b, &w, "maps in VRAM");

    // First a late importer that understands only VRAM offsets of another device: nothing the
    // exporter could do helps it.
    let before = b.clone();
    let err = b
        .attach(
            &w.platform(),
            Importer::dynamic(&[ImporterOffer::vram(w.nic_nop2p)]).unwrap(),
        )
        .unwrap_err();
    assert_eq!(b, before);
    let LifecycleError::Unreachable(refusal) = &err else {
        panic!("{err}");
    };
    let NoMigration::NoPlacement(blocked) = &refusal.migration else {
        panic!("{err}");
    };
    assert_eq!(blocked[0].placement, w.ram_placement());
    assert_eq!(blocked[0].by, None, "the newcomer itself cannot reach RAM");
    observe(&mut monitor, &b, &w, "refused attach");

    let weak = b
        .attach(
            &w.platform(),
            Importer::dynamic(&[ImporterOffer::dma_addr(w.nic_nop2p, true)]).unwrap(),
        )
        .unwrap();
    observe(&mut monitor, &b, &w, "attach the weak NIC");
    let migration = weak.migration.as_ref().expect("the exporter moved");
    assert_eq!(migration.from, w.vram_placement());
    assert_eq!(migration.to, w.ram_placement());
    assert_eq!(migration.invalidated, vec![fn1.id, peer.id]);
    assert_eq!(weak.agreed.route().kind, RouteKind::SystemMemory);
    assert!(b.mapping(&h_fn1).is_err() && b.mapping(&h_peer).is_err());

    for id in [fn1.id, peer.id, weak.id] {
        b.map(&w.platform(), id).unwrap();
        observe(&mut monitor, &b, &w, "map in RAM");
    }
    for id in [fn1.id, peer.id, weak.id] {
        let agreed = b
            .attachment(id)
            .unwrap()
            .state()
            .current()
            .copied()
            .unwrap();
        assert!(agreed.interconnect().is(&DMA_ADDR));
    }
    // The weak NIC's addresses are its own IOMMU's view of the RAM.
    let h = b.attachment(weak.id).unwrap().held().unwrap();
    let Mapping::DmaAddr(m) = b.mapping(&h).unwrap() else {
        panic!("dma-addr expected");
    };
    assert_eq!(
        m.addresses_for(w.nic_nop2p).unwrap()[0].start(),
        DmaAddr::new(RAM_PHYS + TestIommu::base(w.nic_nop2p))
    );

    // Had the NVLink peer pinned the buffer, the weak NIC would have been refused.
    let mut pinned = w.gpu_buffer();
    let peer = pinned.attach(&w.platform(), nvlink_peer(&w)).unwrap();
    pinned.pin(peer.id).unwrap();
    let err = pinned
        .attach(
            &w.platform(),
            Importer::dynamic(&[ImporterOffer::dma_addr(w.nic_nop2p, true)]).unwrap(),
        )
        .unwrap_err();
    let LifecycleError::Unreachable(refusal) = &err else {
        panic!("{err}");
    };
    assert_eq!(refusal.migration, NoMigration::Pinned(vec![peer.id]));
    assert!(err.to_string().contains("pinned"), "{err}");
}
