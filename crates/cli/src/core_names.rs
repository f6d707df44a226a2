//! The negotiation core's ids by the names people know: a device by its bus id, a private
//! fabric by its name. The core writes every message through these ([`Describe::named`]), so no
//! message is rewritten after the fact. An id the machine does not know keeps the core's opaque
//! name (`device#N`, `fabric#N`).
//!
//! [`Describe::named`]: dmabuf_negotiate::Describe::named

use std::fmt;

use dmabuf_negotiate::{DeviceId, FabricId, Names, OpaqueNames};
use pci_topology::{FunctionId, Machine};

use crate::offers::FabricNames;

/// Devices by bus id on a machine, and fabrics by the names a file gave them (when given).
#[derive(Clone, Copy, Debug)]
pub struct MachineNames<'a> {
    machine: &'a Machine,
    fabrics: Option<&'a FabricNames>,
}

impl<'a> MachineNames<'a> {
    /// Devices by bus id on `machine`; fabrics keep their opaque names.
    pub fn new(machine: &'a Machine) -> Self {
        Self {
            machine,
            fabrics: None,
        }
    }

    /// The same, with fabrics named by `fabrics` (the machine's, and unknown ones from a file).
    pub fn with_fabrics(self, fabrics: &'a FabricNames) -> Self {
        Self {
            fabrics: Some(fabrics),
            ..self
        }
    }
}

impl Names for MachineNames<'_> {
    fn device(&self, id: DeviceId, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.machine.function(FunctionId::from(id)) {
            Some(function) => write!(f, "{}", function.bdf),
            None => OpaqueNames.device(id, f),
        }
    }

    fn fabric(&self, id: FabricId, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.fabrics.and_then(|n| n.name(self.machine, id)) {
            Some(name) => f.write_str(&name),
            None => OpaqueNames.fabric(id, f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dmabuf_negotiate::{Describe, Refusal};
    use pci_topology::{Bdf, Function, HostBridge, LinkKind, PrivateFabric, Upstream};

    #[test]
    fn ids_become_names_and_unknown_ones_stay_opaque() {
        let mut b = Machine::builder();
        let hb = b.host_bridge(HostBridge::new(0, 0));
        b.function(Function::new(
            Bdf::new(0, 3, 0, 0),
            Upstream::HostBridge(hb),
        ));
        let nvlink = b.fabric(PrivateFabric {
            name: "nvlink0".to_owned(),
            kind: LinkKind::NvLink,
        });
        let m = b.build().unwrap();
        let fabrics = FabricNames::default();
        let names = MachineNames::new(&m).with_fabrics(&fabrics);
        let not_on = |fabric, device| Refusal::NotOnFabric { fabric, device };
        assert_eq!(
            not_on(nvlink, DeviceId(0)).named(&names).to_string(),
            "0000:03:00.0 is not on nvlink0"
        );
        assert_eq!(
            not_on(FabricId(4), DeviceId(9)).named(&names).to_string(),
            "device#9 is not on fabric#4"
        );
        assert_eq!(
            not_on(nvlink, DeviceId(0))
                .named(&MachineNames::new(&m))
                .to_string(),
            "0000:03:00.0 is not on fabric#0",
            "without fabric names, fabrics stay opaque"
        );
    }
}
