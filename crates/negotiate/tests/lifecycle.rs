//! Each lifecycle operation on its own: what it does, what it refuses, and that a refusal leaves
//! the buffer exactly as it was.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod world;

use dmabuf_negotiate::mapping::{BarAddresses, FabricPort, TrustedImporter};
use dmabuf_negotiate::{
    AccessError, AddrRange, AddressError, AgreementState, BusAddr, DMA_ADDR, DmaAddr, DmaRefusal,
    ExporterPolicy, Importer, ImporterArgs, ImporterOffer, Iova, LifecycleError, Mapping, Monitor,
    NoMigration, PCI_BAR, PHYS, PRIVATE_IOVA, PhysAddr, Placement, Rejection, Reset, RevokeReason,
    RouteKind, Trust, VRAM, Validity, VramOffset,
};
use world::{
    NVLINK, NVLINK_BASE, RAM_PHYS, SIZE, TestIommu, VFIO_BAR_BUS, VFIO_BAR_PHYS, VFIO_SLICE_OFFSET,
    VRAM_BAR_BUS, VRAM_BAR_PHYS, VRAM_OFFSET, World, observe,
};

/// Runs an operation that must fail, and checks that the buffer did not change.
macro_rules! refused {
    ($buffer:expr, $op:expr) => {{
        let before = $buffer.clone();
        let err = $op.expect_err("the operation must be refused");
        assert_eq!(
            $buffer, before,
            "a refused operation changed the buffer: {err}"
        );
        assert!(!err.to_string().is_empty());
        err
    }};
}

#[test]
fn a_function_of_the_same_gpu_gets_vram_offsets() {
    let w = World::new();
    let mut b = w.gpu_buffer();
    let a = b
        .attach(
            &w.platform(),
            Importer::dynamic(&[
                ImporterOffer::dma_addr(w.gpu0_fn1, true),
                ImporterOffer::vram(w.gpu0_fn1),
            ])
            .unwrap(),
        )
        .unwrap();
    assert!(a.migration.is_none());
    assert!(a.agreed.interconnect().is(&VRAM));
    assert_eq!(a.agreed.route().kind, RouteKind::SameDevice);
    let m = b.map(&w.platform(), a.id).unwrap();
    assert!(m.change.is_none());
    let Mapping::Vram(vram) = b.mapping(&m.handle).unwrap() else {
        panic!("expected a VRAM mapping");
    };
    assert_eq!(
        vram.addresses_for(w.vram0()).unwrap(),
        [AddrRange::new(VramOffset::new(VRAM_OFFSET), SIZE).unwrap()]
    );
    let holding = b.holding(a.id).unwrap();
    assert_eq!(holding.validity, Validity::Valid);
    assert_eq!(holding.placement, w.vram_placement());
    assert_eq!(holding.len, SIZE);
}

#[test]
fn p2p_below_a_switch_gets_bus_addresses_and_across_the_host_bridge_iommu_addresses() {
    let w = World::new();
    let mut b = w.gpu_buffer();
    let near = b
        .attach(
            &w.platform(),
            Importer::dynamic(&[ImporterOffer::dma_addr(w.nic, true)]).unwrap(),
        )
        .unwrap();
    let far = b
        .attach(
            &w.platform(),
            Importer::dynamic(&[ImporterOffer::dma_addr(w.nic_far, true)]).unwrap(),
        )
        .unwrap();
    let near_map = b.map(&w.platform(), near.id).unwrap();
    let far_map = b.map(&w.platform(), far.id).unwrap();

    // Bus-address P2P: the NIC programs the VRAM's bus address through gpu0's BAR0.
    let Mapping::DmaAddr(m) = b.mapping(&near_map.handle).unwrap() else {
        panic!("dma-addr expected");
    };
    assert_eq!(
        m.addresses_for(w.nic).unwrap()[0].start(),
        DmaAddr::new(VRAM_BAR_BUS + VRAM_OFFSET)
    );
    assert!(
        m.addresses_for(w.nic_far).is_err(),
        "another device's addresses"
    );

    // Through the host bridge: the BAR's physical address, mapped by the far NIC's IOMMU.
    let Mapping::DmaAddr(m) = b.mapping(&far_map.handle).unwrap() else {
        panic!("dma-addr expected");
    };
    assert_eq!(
        m.addresses_for(w.nic_far).unwrap()[0].start(),
        DmaAddr::new(VRAM_BAR_PHYS + VRAM_OFFSET + TestIommu::base(w.nic_far))
    );
}

#[test]
fn an_nvlink_peer_gets_iovas_on_the_fabric() {
    let w = World::new();
    let mut b = w.gpu_buffer();
    let a = b
        .attach(
            &w.platform(),
            Importer::dynamic(&[
                ImporterOffer::dma_addr(w.gpu1, true),
                ImporterOffer::private_iova(NVLINK, w.gpu1),
            ])
            .unwrap(),
        )
        .unwrap();
    assert!(a.agreed.interconnect().is(&PRIVATE_IOVA));
    let m = b.map(&w.platform(), a.id).unwrap();
    let Mapping::PrivateIova(iova) = b.mapping(&m.handle).unwrap() else {
        panic!("private-iova expected");
    };
    let port = FabricPort {
        fabric: NVLINK,
        initiator: w.gpu1,
    };
    assert_eq!(
        iova.addresses_for(port).unwrap()[0].start(),
        Iova::new(NVLINK_BASE + VRAM_OFFSET)
    );
    assert!(
        iova.addresses_for(FabricPort {
            fabric: NVLINK,
            initiator: w.gpu0
        })
        .is_err()
    );
}

#[test]
fn phys_only_to_trusted_importers() {
    let w = World::new();
    let mut b = w.gpu_buffer();
    b.move_to(&w.platform(), &w.ram_placement()).unwrap();

    // iommufd is trusted: physical addresses, for it only.
    let trusted = b
        .attach(
            &w.platform(),
            Importer::pinning(&[ImporterOffer::phys(Trust::Iommufd, Some(w.nic))], true).unwrap(),
        )
        .unwrap();
    assert!(trusted.agreed.interconnect().is(&PHYS));
    let m = b.map(&w.platform(), trusted.id).unwrap();
    let Mapping::Phys(phys) = b.mapping(&m.handle).unwrap() else {
        panic!("phys expected");
    };
    let iommufd = TrustedImporter::new(Trust::Iommufd).unwrap();
    assert_eq!(
        phys.addresses_for(iommufd).unwrap()[0].start(),
        PhysAddr::new(RAM_PHYS)
    );
    assert!(
        phys.addresses_for(TrustedImporter::new(Trust::Kvm).unwrap())
            .is_err()
    );

    // An untrusted importer offering only phys is refused, and the reason names trust. The
    // buffer is pinned by iommufd, so the exporter cannot move it either.
    let err = refused!(
        b,
        b.attach(
            &w.platform(),
            Importer::dynamic(&[ImporterOffer::phys(Trust::Untrusted, Some(w.nic_far))]).unwrap(),
        )
    );
    let LifecycleError::Unreachable(refusal) = &err else {
        panic!("{err}");
    };
    assert!(
        refusal
            .here
            .reasons()
            .any(|(_, r)| *r == Rejection::UntrustedImporter)
    );
    assert_eq!(refusal.migration, NoMigration::Pinned(vec![trusted.id]));
    assert!(err.to_string().contains("trusted"), "{err}");

    // With dma-addr as well, it gets DMA addresses through its IOMMU instead.
    let untrusted = b
        .attach(
            &w.platform(),
            Importer::dynamic(&[
                ImporterOffer::phys(Trust::Untrusted, Some(w.nic_far)),
                ImporterOffer::dma_addr(w.nic_far, false),
            ])
            .unwrap(),
        )
        .unwrap();
    assert!(untrusted.agreed.interconnect().is(&DMA_ADDR));
    let m = b.map(&w.platform(), untrusted.id).unwrap();
    let Mapping::DmaAddr(dma) = b.mapping(&m.handle).unwrap() else {
        panic!("dma-addr expected");
    };
    assert_eq!(
        dma.addresses_for(w.nic_far).unwrap()[0].start(),
        DmaAddr::new(RAM_PHYS + TestIommu::base(w.nic_far))
    );
}

#[test]
fn vfio_bar_slices_map_as_bus_addresses_or_phys() {
    let w = World::new();
    let mut b = w.vfio_buffer();
    let nic = b
        .attach(
            &w.platform(),
            Importer::dynamic(&[ImporterOffer::pci_bar(w.nic)]).unwrap(),
        )
        .unwrap();
    assert!(nic.agreed.interconnect().is(&PCI_BAR));
    let m = b.map(&w.platform(), nic.id).unwrap();
    let Mapping::PciBar(bar) = b.mapping(&m.handle).unwrap() else {
        panic!("pci-bar expected");
    };
    assert_eq!(bar.slice, w.vfio_slice());
    let BarAddresses::Bus(bus) = &bar.addresses else {
        panic!("bus addresses expected below a common switch");
    };
    assert_eq!(
        bus.addresses_for(w.nic).unwrap()[0].start(),
        BusAddr::new(VFIO_BAR_BUS + VFIO_SLICE_OFFSET)
    );

    let kvm = b
        .attach(
            &w.platform(),
            Importer::pinning(&[ImporterOffer::phys(Trust::Kvm, None)], true).unwrap(),
        )
        .unwrap();
    let m = b.map(&w.platform(), kvm.id).unwrap();
    let Mapping::Phys(phys) = b.mapping(&m.handle).unwrap() else {
        panic!("phys expected");
    };
    assert_eq!(
        phys.addresses_for(TrustedImporter::new(Trust::Kvm).unwrap())
            .unwrap()[0]
            .start(),
        PhysAddr::new(VFIO_BAR_PHYS + VFIO_SLICE_OFFSET)
    );
}

#[test]
fn map_unmap_and_handles() {
    let w = World::new();
    let mut b = w.gpu_buffer();
    let a = b
        .attach(
            &w.platform(),
            Importer::dynamic(&[ImporterOffer::dma_addr(w.nic, true)]).unwrap(),
        )
        .unwrap();
    let first = b.map(&w.platform(), a.id).unwrap().handle;
    assert_eq!(
        refused!(b, b.map(&w.platform(), a.id)),
        LifecycleError::AlreadyMapped(first)
    );
    b.unmap(&first).unwrap();
    assert_eq!(b.mapping(&first), Err(AccessError::Unmapped));
    assert_eq!(
        refused!(b, b.unmap(&first)),
        LifecycleError::UnknownMapping(first)
    );
    // Same attachment, same generation: a new handle; the old one stays dead.
    let second = b.map(&w.platform(), a.id).unwrap().handle;
    assert_eq!(second.generation(), first.generation());
    assert_ne!(second, first);
    assert!(b.mapping(&second).is_ok());
    assert_eq!(b.mapping(&first), Err(AccessError::Unmapped));

    b.detach(a.id).unwrap();
    assert_eq!(b.mapping(&second), Err(AccessError::Detached(a.id)));
    assert_eq!(
        refused!(b, b.map(&w.platform(), a.id)),
        LifecycleError::UnknownAttachment(a.id)
    );
    assert_eq!(
        refused!(b, b.detach(a.id)),
        LifecycleError::UnknownAttachment(a.id)
    );
}

#[test]
fn move_invalidates_and_the_next_map_renegotiates() {
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
    let old = b.map(&w.platform(), fn1.id).unwrap().handle;
    observe(&mut monitor, &b, &w, "map");

    let moved = b.move_to(&w.platform(), &w.ram_placement()).unwrap();
    observe(&mut monitor, &b, &w, "move");
    assert_eq!(moved.from, w.vram_placement());
    assert_eq!(moved.to, w.ram_placement());
    assert_eq!(moved.invalidated, vec![fn1.id]);
    assert_eq!(moved.renegotiate, vec![fn1.id]);
    assert!(moved.generation > old.generation());
    assert_eq!(
        b.mapping(&old),
        Err(AccessError::Stale {
            issued: old.generation(),
            valid_from: moved.generation
        })
    );
    assert!(matches!(
        b.holding(fn1.id).unwrap().validity,
        Validity::Stale { .. }
    ));
    assert!(matches!(
        b.attachment(fn1.id).unwrap().state(),
        AgreementState::Outdated { .. }
    ));

    // The VRAM offset means nothing in system memory: the next map renegotiates.
    let again = b.map(&w.platform(), fn1.id).unwrap();
    observe(&mut monitor, &b, &w, "map after move");
    let change = again.change.expect("renegotiated");
    assert!(change.from.interconnect().is(&VRAM));
    assert!(change.to.interconnect().is(&DMA_ADDR));
    assert!(change.interconnect_changed());
    assert_eq!(change.to.route().kind, RouteKind::SystemMemory);
    assert!(change.to_string().contains("vram"), "{change}");
    let Mapping::DmaAddr(m) = b.mapping(&again.handle).unwrap() else {
        panic!("dma-addr expected");
    };
    assert_eq!(
        m.addresses_for(w.gpu0_fn1).unwrap()[0].start(),
        DmaAddr::new(RAM_PHYS + TestIommu::base(w.gpu0_fn1))
    );
    // The stale handle stays stale.
    assert!(b.mapping(&old).is_err());
    // And back: VRAM again.
    b.move_to(&w.platform(), &w.vram_placement()).unwrap();
    observe(&mut monitor, &b, &w, "move back");
    let back = b.map(&w.platform(), fn1.id).unwrap();
    assert!(back.agreed.interconnect().is(&VRAM));
    observe(&mut monitor, &b, &w, "map after moving back");
}

#[test]
fn moves_that_are_refused() {
    let w = World::new();
    let mut b = w.gpu_buffer();
    assert_eq!(
        refused!(b, b.move_to(&w.platform(), &w.vram_placement())),
        LifecycleError::AlreadyThere(w.vram_placement())
    );
    let elsewhere = Placement::system(None, PhysAddr::new(0x9000_0000));
    assert_eq!(
        refused!(b, b.move_to(&w.platform(), &elsewhere)),
        LifecycleError::UnknownPlacement(elsewhere)
    );
    // An importer that understands only VRAM offsets would be cut off by a move to RAM.
    let vram_only = b
        .attach(
            &w.platform(),
            Importer::dynamic(&[ImporterOffer::vram(w.gpu0_fn1)]).unwrap(),
        )
        .unwrap();
    let handle = b.map(&w.platform(), vram_only.id).unwrap().handle;
    let err = refused!(b, b.move_to(&w.platform(), &w.ram_placement()));
    let LifecycleError::MoveBlocked {
        attachment,
        unreachable,
    } = err
    else {
        panic!("{err}");
    };
    assert_eq!(attachment, vram_only.id);
    assert_eq!(*unreachable.placement(), w.ram_placement());
    assert!(b.mapping(&handle).is_ok(), "nothing was invalidated");
    b.detach(vram_only.id).unwrap();

    // A policy that does not migrate.
    let mut fixed = dmabuf_negotiate::Buffer::new(SIZE, w.gpu_policy().migratable(false)).unwrap();
    assert_eq!(
        refused!(fixed, fixed.move_to(&w.platform(), &w.ram_placement())),
        LifecycleError::MigrationNotAllowed
    );
}

#[test]
fn pins_stop_moves_until_released() {
    let w = World::new();
    let mut b = w.gpu_buffer();
    let rdma = b
        .attach(
            &w.platform(),
            Importer::dynamic(&[ImporterOffer::dma_addr(w.nic, true)]).unwrap(),
        )
        .unwrap();
    b.pin(rdma.id).unwrap();
    b.pin(rdma.id).unwrap();
    assert!(b.is_pinned());
    assert_eq!(
        b.attachment(rdma.id).unwrap().pinned_at(),
        Some(&w.vram_placement())
    );
    assert_eq!(
        refused!(b, b.move_to(&w.platform(), &w.ram_placement())),
        LifecycleError::Pinned { by: vec![rdma.id] }
    );
    b.unpin(rdma.id).unwrap();
    assert!(b.is_pinned(), "pins nest");
    b.unpin(rdma.id).unwrap();
    assert!(!b.is_pinned());
    assert_eq!(b.attachment(rdma.id).unwrap().pinned_at(), None);
    assert_eq!(
        refused!(b, b.unpin(rdma.id)),
        LifecycleError::NotPinned(rdma.id)
    );
    b.move_to(&w.platform(), &w.ram_placement()).unwrap();

    // A static importer pins from attach to detach; its pin cannot be released by unpin.
    let pinned = b
        .attach(
            &w.platform(),
            Importer::pinning(&[ImporterOffer::dma_addr(w.nic_far, false)], false).unwrap(),
        )
        .unwrap();
    assert!(b.is_pinned());
    assert_eq!(
        refused!(b, b.unpin(pinned.id)),
        LifecycleError::NotPinned(pinned.id)
    );
    assert_eq!(
        refused!(b, b.move_to(&w.platform(), &w.vram_placement())),
        LifecycleError::Pinned {
            by: vec![pinned.id]
        }
    );
    b.detach(pinned.id).unwrap();
    b.move_to(&w.platform(), &w.vram_placement()).unwrap();
}

#[test]
fn revoke_is_permanent() {
    let w = World::new();
    let mut gpu = w.gpu_buffer();
    assert_eq!(
        refused!(gpu, gpu.revoke()),
        LifecycleError::ExporterNotRevocable
    );

    let mut b = w.vfio_buffer();
    let mut monitor = Monitor::new();
    // A static importer that cannot give mappings back is refused up front.
    assert_eq!(
        refused!(
            b,
            b.attach(
                &w.platform(),
                Importer::pinning(&[ImporterOffer::pci_bar(w.nic)], false).unwrap()
            )
        ),
        LifecycleError::ImporterNotRevocable
    );
    let iommufd = b
        .attach(
            &w.platform(),
            Importer::pinning(&[ImporterOffer::phys(Trust::Iommufd, Some(w.nic))], true).unwrap(),
        )
        .unwrap();
    let rdma = b
        .attach(
            &w.platform(),
            Importer::dynamic(&[ImporterOffer::pci_bar(w.nic)]).unwrap(),
        )
        .unwrap();
    let h1 = b.map(&w.platform(), iommufd.id).unwrap().handle;
    let h2 = b.map(&w.platform(), rdma.id).unwrap().handle;
    b.pin(rdma.id).unwrap();
    observe(&mut monitor, &b, &w, "maps");

    let revocation = b.revoke().unwrap();
    observe(&mut monitor, &b, &w, "revoke");
    assert_eq!(revocation.reason, RevokeReason::Exporter);
    assert_eq!(revocation.invalidated, vec![iommufd.id, rdma.id]);
    assert!(revocation.unrevocable.is_empty());
    for h in [h1, h2] {
        assert_eq!(
            b.mapping(&h),
            Err(AccessError::Revoked(RevokeReason::Exporter))
        );
    }
    let revoked = LifecycleError::Revoked(RevokeReason::Exporter);
    assert_eq!(refused!(b, b.map(&w.platform(), rdma.id)), revoked);
    assert_eq!(refused!(b, b.pin(rdma.id)), revoked);
    assert_eq!(
        refused!(
            b,
            b.attach(
                &w.platform(),
                Importer::dynamic(&[ImporterOffer::pci_bar(w.nic)]).unwrap()
            )
        ),
        revoked
    );
    assert_eq!(refused!(b, b.revoke()), LifecycleError::AlreadyRevoked);
    // Giving back and leaving still work.
    b.unpin(rdma.id).unwrap();
    b.unmap(&h2).unwrap();
    b.detach(rdma.id).unwrap();
    b.detach(iommufd.id).unwrap();
    observe(&mut monitor, &b, &w, "teardown");
    assert!(b.attachments().is_empty());
}

#[test]
fn device_resets() {
    let w = World::new();
    let mut b = w.gpu_buffer();
    let mut monitor = Monitor::new();
    let near = b
        .attach(
            &w.platform(),
            Importer::dynamic(&[ImporterOffer::dma_addr(w.nic, true)]).unwrap(),
        )
        .unwrap();
    let peer = b
        .attach(
            &w.platform(),
            Importer::dynamic(&[ImporterOffer::private_iova(NVLINK, w.gpu1)]).unwrap(),
        )
        .unwrap();
    let hn = b.map(&w.platform(), near.id).unwrap().handle;
    let hp = b.map(&w.platform(), peer.id).unwrap().handle;
    assert_eq!(b.device_reset(w.vfio).unwrap(), Reset::Unaffected);

    // An importer's device: only its mappings go stale.
    let Reset::Importers {
        attachments,
        invalidated,
        ..
    } = b.device_reset(w.nic).unwrap()
    else {
        panic!("the NIC is an importer");
    };
    observe(&mut monitor, &b, &w, "NIC reset");
    assert_eq!(attachments, vec![near.id]);
    assert_eq!(invalidated, vec![near.id]);
    assert!(matches!(b.mapping(&hn), Err(AccessError::Stale { .. })));
    assert!(b.mapping(&hp).is_ok());
    let hn = b.map(&w.platform(), near.id).unwrap();
    assert!(hn.change.is_none(), "same placement, same agreement");

    // The exporter's device: revoked, although this exporter does not revoke by itself.
    let Reset::Revoked(revocation) = b.device_reset(w.gpu0).unwrap() else {
        panic!("the exporter reset revokes");
    };
    observe(&mut monitor, &b, &w, "GPU reset");
    assert_eq!(revocation.reason, RevokeReason::DeviceReset(w.gpu0));
    assert!(b.mapping(&hp).is_err());
    assert!(b.mapping(&hn.handle).is_err());
    assert_eq!(
        refused!(b, b.map(&w.platform(), near.id)),
        LifecycleError::Revoked(RevokeReason::DeviceReset(w.gpu0))
    );
    assert_eq!(b.device_reset(w.gpu0).unwrap(), Reset::Unaffected);
}

#[test]
fn failures_of_the_machine_leave_no_partial_state() {
    let mut w = World::new();
    w.iommu.refuse.push(w.nic_far);
    let mut b = w.gpu_buffer();
    let far = b
        .attach(
            &w.platform(),
            Importer::dynamic(&[ImporterOffer::dma_addr(w.nic_far, true)]).unwrap(),
        )
        .unwrap();
    let err = refused!(b, b.map(&w.platform(), far.id));
    assert_eq!(
        err,
        LifecycleError::Address(AddressError::Dma(DmaRefusal {
            device: w.nic_far,
            reason: "IOMMU domain full"
        }))
    );
    // Driver-specific importer arguments cannot be kept by an attachment.
    let token = 1u8;
    assert_eq!(
        Importer::dynamic(&[ImporterOffer::new(&DMA_ADDR, ImporterArgs::Driver(&token))]),
        Err(LifecycleError::DriverArguments { index: 0 })
    );
    // A policy that cannot address its placement is refused when the buffer is made.
    let bad = ExporterPolicy::new(w.gpu0, dmabuf_negotiate::Apertures::new()).place_with(
        w.vram_placement(),
        vec![dmabuf_negotiate::Offering::DmaAddr],
    );
    assert!(matches!(
        dmabuf_negotiate::Buffer::new(SIZE, bad),
        Err(LifecycleError::Policy(_))
    ));
}

#[test]
fn a_virtual_function_never_reaches_another() {
    let w = World::new();
    let vf_vram = dmabuf_negotiate::VramId {
        owner: w.vf1,
        instance: 0,
    };
    // The VF's VRAM is visible through its BAR, so P2P would be possible by the PCI rules.
    let apertures = dmabuf_negotiate::Apertures::new().with_vram(dmabuf_negotiate::VramAperture {
        vram: vf_vram,
        bar: 0,
        window: dmabuf_negotiate::BusWindow::new(
            PhysAddr::new(0x40_0000_0000),
            BusAddr::new(0xd000_0000),
            0x100_0000,
        )
        .unwrap(),
    });
    let policy = ExporterPolicy::new(w.vf1, apertures)
        .place(Placement::vram(vf_vram, VramOffset::new(0)), SIZE)
        .place(Placement::system(None, PhysAddr::new(RAM_PHYS)), SIZE);
    let mut b = dmabuf_negotiate::Buffer::new(SIZE, policy).unwrap();
    // The PF reaches its VF's VRAM over the IOV interconnect.
    let pf = b
        .attach(
            &w.platform(),
            Importer::dynamic(&[ImporterOffer::vram(w.pf)]).unwrap(),
        )
        .unwrap();
    assert!(pf.agreed.interconnect().is(&VRAM));
    // Another VF cannot reach VF1's VRAM, even by P2P the PCI rules would allow; the PF pins
    // nothing, but it understands only VRAM offsets, so the exporter cannot move to RAM either.
    let err = refused!(
        b,
        b.attach(
            &w.platform(),
            Importer::dynamic(&[
                ImporterOffer::vram(w.vf2),
                ImporterOffer::dma_addr(w.vf2, true)
            ])
            .unwrap(),
        )
    );
    let LifecycleError::Unreachable(refusal) = err else {
        panic!("{err}");
    };
    assert!(
        refusal
            .here
            .reasons()
            .any(|(_, r)| *r == Rejection::VirtualFunctionIsolation)
    );
    assert!(matches!(refusal.migration, NoMigration::NoPlacement(_)));
    // Once the PF leaves, the exporter moves to RAM for the VF.
    b.detach(pf.id).unwrap();
    let vf = b
        .attach(
            &w.platform(),
            Importer::dynamic(&[
                ImporterOffer::vram(w.vf2),
                ImporterOffer::dma_addr(w.vf2, true),
            ])
            .unwrap(),
        )
        .unwrap();
    assert_eq!(vf.agreed.route().kind, RouteKind::SystemMemory);
    assert!(vf.migration.is_some());
}

#[test]
fn a_buffer_can_be_shared_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<dmabuf_negotiate::Buffer>();
    send_sync::<dmabuf_negotiate::SharedBuffer>();
    send_sync::<LifecycleError>();
}

#[test]
fn a_buffer_can_start_anywhere_in_its_policy_and_lists_are_bounded() {
    let w = World::new();
    let b = dmabuf_negotiate::Buffer::new_in(SIZE, w.gpu_policy(), &w.ram_placement()).unwrap();
    assert_eq!(*b.placement(), w.ram_placement());
    let elsewhere = Placement::system(None, PhysAddr::new(0x9000_0000));
    assert_eq!(
        dmabuf_negotiate::Buffer::new_in(SIZE, w.gpu_policy(), &elsewhere),
        Err(LifecycleError::UnknownPlacement(elsewhere))
    );
    let many =
        vec![ImporterOffer::dma_addr(w.nic, true); dmabuf_negotiate::MAX_IMPORTER_OFFERS + 1];
    assert_eq!(
        Importer::dynamic(&many),
        Err(LifecycleError::TooManyOffers(many.len()))
    );
}

#[test]
fn a_static_importer_on_a_failed_link_falls_back_and_is_told() {
    let mut w = World::new();
    let mut b = w.gpu_buffer();
    let mut monitor = Monitor::new();
    let peer = b
        .attach(
            &w.platform(),
            Importer::pinning(
                &[
                    ImporterOffer::private_iova(NVLINK, w.gpu1),
                    ImporterOffer::dma_addr(w.gpu1, true),
                ],
                false,
            )
            .unwrap(),
        )
        .unwrap();
    let h = b.map(&w.platform(), peer.id).unwrap().handle;
    w.fabric.set_link_down(NVLINK, true);
    let r = b.revalidate(&w.platform()).unwrap();
    observe(&mut monitor, &b, &w, "NVLink down");
    assert_eq!(r.invalidated, vec![peer.id]);
    assert_eq!(r.renegotiated.len(), 1);
    assert!(r.migration.is_none());
    assert!(matches!(b.mapping(&h), Err(AccessError::Stale { .. })));
    assert_eq!(*b.placement(), w.vram_placement());
    let again = b.map(&w.platform(), peer.id).unwrap();
    assert!(again.agreed.interconnect().is(&DMA_ADDR));
    observe(&mut monitor, &b, &w, "remap");
}

#[test]
fn a_handle_opens_only_its_own_buffer() {
    let w = World::new();
    let nic = || Importer::dynamic(&[ImporterOffer::dma_addr(w.nic, true)]).unwrap();
    let (mut a, mut b) = (w.gpu_buffer(), w.gpu_buffer());
    assert_ne!(a.id(), b.id());
    let ia = a.attach(&w.platform(), nic()).unwrap().id;
    let ib = b.attach(&w.platform(), nic()).unwrap().id;
    assert_eq!(ia, ib, "same attachment numbers in both buffers");
    let ha = a.map(&w.platform(), ia).unwrap().handle;
    let hb = b.map(&w.platform(), ib).unwrap().handle;
    assert_eq!(
        (ha.generation(), ha.serial()),
        (hb.generation(), hb.serial())
    );
    assert_eq!(b.mapping(&ha), Err(AccessError::OtherBuffer(a.id())));
    assert_eq!(
        refused!(b, b.unmap(&ha)),
        LifecycleError::UnknownMapping(ha)
    );
    assert!(a.mapping(&ha).is_ok() && b.mapping(&hb).is_ok());
}
