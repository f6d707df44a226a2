//! The reachability rule shared by the interconnects that hand out device-usable addresses.

use crate::{DeviceId, Fabric, Initiator, Memory, Rejection, Relation, Route};

/// Can `device` access `memory`? Device memory requires the importer to accept peer-to-peer and
/// respects virtual-function isolation; then the fabric decides.
pub(super) fn device_reaches(
    fabric: &dyn Fabric,
    device: DeviceId,
    peer2peer: bool,
    memory: Memory,
) -> Result<Route, Rejection> {
    if let Memory::Device(owner) = memory {
        if !peer2peer {
            return Err(Rejection::PeerToPeerNotAccepted);
        }
        isolated(fabric, device, owner)?;
    }
    fabric
        .reach(Initiator::Device(device), memory)
        .map_err(Rejection::Refused)
}

/// Refuses when `importer` and `owner` are two distinct virtual functions.
pub(super) fn isolated(
    fabric: &dyn Fabric,
    importer: DeviceId,
    owner: DeviceId,
) -> Result<(), Rejection> {
    match fabric.relation(importer, owner) {
        Relation::OtherVirtualFunction => Err(Rejection::VirtualFunctionIsolation),
        _ => Ok(()),
    }
}
