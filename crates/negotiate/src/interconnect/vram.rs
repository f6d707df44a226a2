//! Match operation of `vram`.

use crate::{ExporterArgs, Fabric, ImporterArgs, Rejection, Relation, Route, RouteKind};

pub(super) fn matches(
    fabric: &dyn Fabric,
    exporter: &ExporterArgs<'_>,
    importer: &ImporterArgs<'_>,
) -> Result<Route, Rejection> {
    let ExporterArgs::Vram(vram) = exporter else {
        return Err(Rejection::MalformedOffer {
            expected: "vram exporter arguments: a VRAM instance",
        });
    };
    let ImporterArgs::Device { device, .. } = importer else {
        return Err(Rejection::MalformedOffer {
            expected: "vram importer arguments: a device",
        });
    };
    match fabric.relation(*device, vram.owner) {
        Relation::SameFunction | Relation::SameDevice | Relation::PhysicalFunctionOf => {
            Ok(Route::new(RouteKind::SameDevice))
        }
        other => Err(Rejection::VramNotAddressable(other)),
    }
}
