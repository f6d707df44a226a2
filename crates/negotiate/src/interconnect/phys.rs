//! Match operation of `phys`.

use super::reach::device_reaches;
use crate::{ExporterArgs, Fabric, ImporterArgs, Initiator, Memory, Rejection, Route};

pub(super) fn matches(
    fabric: &dyn Fabric,
    exporter: &ExporterArgs<'_>,
    importer: &ImporterArgs<'_>,
) -> Result<Route, Rejection> {
    let memory = match exporter {
        ExporterArgs::Memory(memory) => *memory,
        ExporterArgs::Bar(slice) if slice.is_well_formed() => Memory::Device(slice.device),
        ExporterArgs::Bar(_) => {
            return Err(Rejection::MalformedOffer {
                expected: "a non-empty slice of BAR 0 to 5",
            });
        }
        _ => {
            return Err(Rejection::MalformedOffer {
                expected: "phys exporter arguments: the memory or a BAR slice",
            });
        }
    };
    let ImporterArgs::Phys { trust, device } = importer else {
        return Err(Rejection::MalformedOffer {
            expected: "phys importer arguments: the importer's trust",
        });
    };
    if !trust.is_trusted() {
        return Err(Rejection::UntrustedImporter);
    }
    match device {
        // A trusted importer programs the physical addresses into an IOMMU for this device.
        Some(device) => device_reaches(fabric, *device, true, memory),
        None => fabric
            .reach(Initiator::Cpu, memory)
            .map_err(Rejection::Refused),
    }
}
