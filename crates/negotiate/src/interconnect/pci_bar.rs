//! Match operation of `pci-bar`.

use super::reach::device_reaches;
use crate::{ExporterArgs, Fabric, ImporterArgs, Memory, Rejection, Route};

pub(super) fn matches(
    fabric: &dyn Fabric,
    exporter: &ExporterArgs<'_>,
    importer: &ImporterArgs<'_>,
) -> Result<Route, Rejection> {
    let ExporterArgs::Bar(slice) = exporter else {
        return Err(Rejection::MalformedOffer {
            expected: "pci-bar exporter arguments: a BAR slice",
        });
    };
    if !slice.is_well_formed() {
        return Err(Rejection::MalformedOffer {
            expected: "a non-empty slice of BAR 0 to 5",
        });
    }
    let ImporterArgs::Device { device, peer2peer } = importer else {
        return Err(Rejection::MalformedOffer {
            expected: "pci-bar importer arguments: a device",
        });
    };
    device_reaches(fabric, *device, *peer2peer, Memory::Device(slice.device))
}
