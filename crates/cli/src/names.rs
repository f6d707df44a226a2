//! Names from the PCI ID database (the `pci-ids` crate, which embeds pci.ids): vendors,
//! devices and classes. Nothing here is a hand-kept table; an ID the database does not know
//! has no name, and callers say "unknown".

use pci_ids::FromId;
use pci_topology::{ClassCode, Function};

/// The vendor's name.
pub fn vendor(id: u16) -> Option<&'static str> {
    pci_ids::Vendor::from_id(id).map(pci_ids::Vendor::name)
}

/// The device's name.
pub fn device(vendor: u16, device: u16) -> Option<&'static str> {
    pci_ids::Device::from_vid_pid(vendor, device).map(pci_ids::Device::name)
}

/// The class's name: the subclass name (`3D controller`, `Non-Volatile memory controller`),
/// else the base class name.
pub fn class(code: ClassCode) -> Option<&'static str> {
    let base = code.base();
    let sub = (code.class_id() & 0xff) as u8;
    pci_ids::Subclass::from_cid_sid(base, sub)
        .map(pci_ids::Subclass::name)
        .or_else(|| pci_ids::Class::from_id(base).map(pci_ids::Class::name))
}

/// The names of one function, each `None` when the database (or the source) does not know it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FunctionNames {
    /// Vendor name.
    pub vendor: Option<&'static str>,
    /// Device name.
    pub device: Option<&'static str>,
    /// Class name.
    pub class: Option<&'static str>,
}

impl FunctionNames {
    /// Looks up a function's names.
    pub fn of(f: &Function) -> Self {
        Self {
            vendor: f.vendor.and_then(vendor),
            device: f.vendor.zip(f.device).and_then(|(v, d)| device(v, d)),
            class: f.class.and_then(class),
        }
    }

    /// `Vendor Device`, with `unknown` for what is not known.
    pub fn label(&self) -> String {
        match (self.vendor, self.device) {
            (Some(v), Some(d)) => format!("{v} {d}"),
            (Some(v), None) => format!("{v}, unknown device"),
            (None, _) => "unknown device".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_answers() {
        assert_eq!(vendor(0x10de), Some("NVIDIA Corporation"));
        assert_eq!(vendor(0x1af4), Some("Red Hat, Inc."));
        assert!(device(0x1b36, 0x0010).is_some_and(|d| d.contains("NVM")));
        assert_eq!(
            class(ClassCode(0x010802)),
            Some("Non-Volatile memory controller")
        );
        assert_eq!(class(ClassCode(0x060400)), Some("PCI bridge"));
        assert_eq!(vendor(0x1234), None, "QEMU's VGA vendor ID is not assigned");
    }
}
