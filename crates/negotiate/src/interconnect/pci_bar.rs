//! Match operation of `pci-bar`.

use super::reach::device_reaches;
use crate::{ExporterArgs, Fabric, ImporterArgs, Memory, Rejection, Route};

/// A PCI function has six BARs.
const BAR_COUNT: u8 = 6;

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
    if slice.bar >= BAR_COUNT || slice.len == 0 || slice.offset.checked_add(slice.len).is_none() {
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
