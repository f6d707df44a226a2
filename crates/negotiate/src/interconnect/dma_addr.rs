//! Match operation of `dma-addr`.

use super::reach::device_reaches;
use crate::{ExporterArgs, Fabric, ImporterArgs, Rejection, Route};

pub(super) fn matches(
    fabric: &dyn Fabric,
    exporter: &ExporterArgs<'_>,
    importer: &ImporterArgs<'_>,
) -> Result<Route, Rejection> {
    let ExporterArgs::Memory(memory) = exporter else {
        return Err(Rejection::MalformedOffer {
            expected: "dma-addr exporter arguments: the memory",
        });
    };
    let ImporterArgs::Device { device, peer2peer } = importer else {
        return Err(Rejection::MalformedOffer {
            expected: "dma-addr importer arguments: a device",
        });
    };
    device_reaches(fabric, *device, *peer2peer, *memory)
}
