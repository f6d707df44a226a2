//! Match operation of `private-iova`.

use super::reach::isolated;
use crate::{ExporterArgs, Fabric, ImporterArgs, Rejection, Route};

pub(super) fn matches(
    fabric: &dyn Fabric,
    exporter: &ExporterArgs<'_>,
    importer: &ImporterArgs<'_>,
) -> Result<Route, Rejection> {
    let ExporterArgs::Fabric {
        fabric: exporter_fabric,
        owner,
    } = exporter
    else {
        return Err(Rejection::MalformedOffer {
            expected: "private-iova exporter arguments: a fabric and the owning device",
        });
    };
    let ImporterArgs::Fabric {
        fabric: importer_fabric,
        initiator,
    } = importer
    else {
        return Err(Rejection::MalformedOffer {
            expected: "private-iova importer arguments: a fabric and the initiator",
        });
    };
    if exporter_fabric != importer_fabric {
        return Err(Rejection::DifferentFabrics {
            exporter: *exporter_fabric,
            importer: *importer_fabric,
        });
    }
    isolated(fabric, *initiator, *owner)?;
    fabric
        .private_route(*exporter_fabric, *initiator, *owner)
        .map_err(Rejection::Refused)
}
