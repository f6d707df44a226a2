//! Where pictures get the names of vendors, devices and classes.
//!
//! The renderers take any [`Names`]; [`PciIds`] looks them up in the PCI ID database (the
//! `pci-ids` crate, which embeds `pci.ids`), [`NoNames`] knows none (pictures then show IDs
//! and class codes only, which keeps test snapshots independent of the database's version).

use pci_topology::ClassCode;

/// A source of vendor, device and class names.
pub trait Names {
    /// The vendor's name.
    fn vendor(&self, vendor: u16) -> Option<&str>;
    /// The device's name.
    fn device(&self, vendor: u16, device: u16) -> Option<&str>;
    /// The class's name: the subclass name (`3D controller`), else the base class name.
    fn class(&self, class: ClassCode) -> Option<&str>;
}

/// Names from the PCI ID database.
#[derive(Clone, Copy, Debug, Default)]
pub struct PciIds;

impl Names for PciIds {
    fn vendor(&self, vendor: u16) -> Option<&str> {
        crate::names::vendor(vendor)
    }

    fn device(&self, vendor: u16, device: u16) -> Option<&str> {
        crate::names::device(vendor, device)
    }

    fn class(&self, class: ClassCode) -> Option<&str> {
        crate::names::class(class)
    }
}

/// No names at all: pictures show IDs and class codes.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoNames;

impl Names for NoNames {
    fn vendor(&self, _vendor: u16) -> Option<&str> {
        None
    }

    fn device(&self, _vendor: u16, _device: u16) -> Option<&str> {
        None
    }

    fn class(&self, _class: ClassCode) -> Option<&str> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_answers_and_no_names_does_not() {
        assert_eq!(PciIds.vendor(0x10de), Some("NVIDIA Corporation"));
        assert_eq!(PciIds.class(ClassCode(0x060400)), Some("PCI bridge"));
        assert_eq!(PciIds.device(0x10de, 0xffff), None);
        assert_eq!(NoNames.vendor(0x10de), None);
    }
}
