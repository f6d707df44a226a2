//! A driver defines its own interconnect type without touching the crate: a `static`
//! descriptor, its own argument types, its own match operation.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::TestFabric;
use dmabuf_negotiate::{
    Bandwidth, Candidate, DMA_ADDR, DeviceId, ExporterArgs, ExporterOffer, Fabric, FabricId,
    ImporterArgs, ImporterOffer, Interconnect, Memory, NegotiationError, Negotiator, Rejection,
    Route, RouteKind, Verdict,
};

/// The exporter side of the driver's link: which device and which of its link ports.
struct AcmeExport {
    device: DeviceId,
    port: u8,
}

/// The importer side: the initiator and the ports it is cabled to.
struct AcmeImport {
    device: DeviceId,
    cabled_to: &'static [u8],
}

const ACME_FABRIC: FabricId = FabricId(42);

fn acme_match(
    fabric: &dyn Fabric,
    exporter: &ExporterArgs<'_>,
    importer: &ImporterArgs<'_>,
) -> Result<Route, Rejection> {
    let (ExporterArgs::Driver(e), ImporterArgs::Driver(i)) = (exporter, importer) else {
        return Err(Rejection::MalformedOffer {
            expected: "acme-link driver arguments",
        });
    };
    let (Some(e), Some(i)) = (
        e.downcast_ref::<AcmeExport>(),
        i.downcast_ref::<AcmeImport>(),
    ) else {
        return Err(Rejection::MalformedOffer {
            expected: "AcmeExport and AcmeImport",
        });
    };
    if !i.cabled_to.contains(&e.port) {
        return Err(Rejection::Driver("the importer is not cabled to that port"));
    }
    // The driver may still ask the machine, like any built-in type.
    fabric
        .private_route(ACME_FABRIC, i.device, e.device)
        .map_err(Rejection::Refused)
}

static ACME_LINK: Interconnect = Interconnect::new("acme-link", acme_match);
/// A second type with the same name: identity is the descriptor, not the name.
static IMPOSTOR: Interconnect = Interconnect::new("acme-link", acme_match);

fn fabric() -> (TestFabric, DeviceId, DeviceId) {
    let mut fabric = TestFabric::new();
    let a = fabric.device("acme0");
    let b = fabric.device("acme1");
    fabric.route(
        b,
        a,
        Route::new(RouteKind::PciBusAddr { distance: 4 }).with_bandwidth(Bandwidth(31_500)),
    );
    fabric.link(
        ACME_FABRIC,
        a,
        b,
        Route::new(RouteKind::PrivateLink(ACME_FABRIC)).with_bandwidth(Bandwidth(100_000)),
    );
    (fabric, a, b)
}

#[test]
fn a_driver_type_negotiates_like_a_built_in_one() {
    let (fabric, a, b) = fabric();
    let export = AcmeExport { device: a, port: 3 };
    let import = AcmeImport {
        device: b,
        cabled_to: &[1, 3],
    };
    let exporter = [
        ExporterOffer::dma_addr(Memory::Device(a)),
        ExporterOffer::new(&ACME_LINK, ExporterArgs::Driver(&export)),
    ];
    let importer = [
        ImporterOffer::dma_addr(b, true),
        ImporterOffer::new(&ACME_LINK, ImporterArgs::Driver(&import)),
    ];
    let mut table = [Candidate::VACANT; 4];
    let agreement = Negotiator::new(&fabric)
        .negotiate(&exporter, &importer, &mut table)
        .unwrap();
    assert!(agreement.chosen().interconnect.is(&ACME_LINK));
    assert_eq!(agreement.chosen().interconnect.name(), "acme-link");
    assert_eq!(agreement.route().kind, RouteKind::PrivateLink(ACME_FABRIC));
    assert!(
        agreement
            .ranked()
            .nth(1)
            .unwrap()
            .interconnect
            .is(&DMA_ADDR)
    );
}

#[test]
fn a_driver_type_rejects_with_its_own_reason() {
    let (fabric, a, b) = fabric();
    let export = AcmeExport { device: a, port: 2 };
    let import = AcmeImport {
        device: b,
        cabled_to: &[1, 3],
    };
    let exporter = [ExporterOffer::new(
        &ACME_LINK,
        ExporterArgs::Driver(&export),
    )];
    let importer = [ImporterOffer::new(
        &ACME_LINK,
        ImporterArgs::Driver(&import),
    )];
    let mut table = [Candidate::VACANT; 1];
    let err = Negotiator::new(&fabric)
        .negotiate(&exporter, &importer, &mut table)
        .unwrap_err();
    let NegotiationError::NoCommonInterconnect { table } = err else {
        panic!("{err}");
    };
    assert_eq!(
        table[0].verdict,
        Verdict::Rejected(Rejection::Driver("the importer is not cabled to that port"))
    );
}

#[test]
fn same_name_is_not_the_same_type() {
    let (fabric, a, b) = fabric();
    let export = AcmeExport { device: a, port: 1 };
    let import = AcmeImport {
        device: b,
        cabled_to: &[1],
    };
    assert!(!ACME_LINK.is(&IMPOSTOR));
    let exporter = [ExporterOffer::new(
        &ACME_LINK,
        ExporterArgs::Driver(&export),
    )];
    let importer = [ImporterOffer::new(&IMPOSTOR, ImporterArgs::Driver(&import))];
    let mut table = [Candidate::VACANT; 1];
    let err = Negotiator::new(&fabric)
        .negotiate(&exporter, &importer, &mut table)
        .unwrap_err();
    let NegotiationError::NoCommonInterconnect { table } = err else {
        panic!("{err}");
    };
    assert!(matches!(
        table[0].verdict,
        Verdict::Rejected(Rejection::DifferentInterconnects { .. })
    ));
}

#[test]
fn foreign_arguments_are_malformed_not_trusted() {
    let (fabric, a, b) = fabric();
    let not_acme = 17u32;
    let import = AcmeImport {
        device: b,
        cabled_to: &[1],
    };
    let exporter = [
        ExporterOffer::new(&ACME_LINK, ExporterArgs::Driver(&not_acme)),
        ExporterOffer::new(&ACME_LINK, ExporterArgs::Memory(Memory::Device(a))),
    ];
    let importer = [ImporterOffer::new(
        &ACME_LINK,
        ImporterArgs::Driver(&import),
    )];
    let mut table = [Candidate::VACANT; 2];
    let err = Negotiator::new(&fabric)
        .negotiate(&exporter, &importer, &mut table)
        .unwrap_err();
    let NegotiationError::NoCommonInterconnect { table } = err else {
        panic!("{err}");
    };
    assert!(table.iter().all(|c| matches!(
        c.verdict,
        Verdict::Rejected(Rejection::MalformedOffer { .. })
    )));
}
