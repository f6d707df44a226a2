//! The host-bridge whitelist of Linux's P2PDMA, as data.
//!
//! When peer-to-peer traffic has to cross a host bridge (no common upstream bridge, or ACS
//! redirect on the path), Linux allows it only if the CPU is an AMD Zen or later, or if the root
//! complex is in `pci_p2pdma_whitelist[]` (`drivers/pci/p2pdma.c`). The table differs between
//! kernel releases and vendor trees, so it is data with the release it describes:
//! [`Whitelist::LINUX_7_2`] is the upstream table of Linux 7.2, and a machine can carry another
//! (see [`MachineBuilder::whitelist`](crate::MachineBuilder::whitelist)).

use std::borrow::Cow;
use std::fmt;

/// One whitelist entry: a root-complex device that forwards peer-to-peer traffic.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct WhitelistEntry {
    /// PCI vendor ID of the device checked on the host bridge's root bus.
    pub vendor: u16,
    /// PCI device ID, or `None` for any device of the vendor (`PCI_ANY_ID`).
    pub device: Option<u16>,
    /// Whether the entry only allows traffic that stays within one host bridge
    /// (`REQ_SAME_HOST_BRIDGE`).
    pub requires_same_host_bridge: bool,
    /// What the hardware is, as the kernel's comment names it.
    pub note: Cow<'static, str>,
}

impl WhitelistEntry {
    /// An entry from static data.
    pub const fn new(
        vendor: u16,
        device: Option<u16>,
        requires_same_host_bridge: bool,
        note: &'static str,
    ) -> Self {
        Self {
            vendor,
            device,
            requires_same_host_bridge,
            note: Cow::Borrowed(note),
        }
    }

    /// Whether a device with these IDs matches the entry.
    pub fn matches(&self, vendor: u16, device: u16) -> bool {
        self.vendor == vendor && self.device.is_none_or(|d| d == device)
    }
}

impl fmt::Display for WhitelistEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.device {
            Some(d) => write!(f, "{:04x}:{:04x}", self.vendor, d)?,
            None => write!(f, "{:04x}:any", self.vendor)?,
        }
        write!(f, " ({})", self.note)?;
        if self.requires_same_host_bridge {
            f.write_str(" [same host bridge only]")?;
        }
        Ok(())
    }
}

/// A host-bridge whitelist and the kernel release it describes.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Whitelist {
    /// The kernel release (or vendor tree) the table describes, e.g. `"Linux 7.2"`.
    pub release: Cow<'static, str>,
    /// The entries, in the kernel's order (the first match decides).
    pub entries: Cow<'static, [WhitelistEntry]>,
}

const INTEL: u16 = 0x8086;
const GOOGLE: u16 = 0x1ae0;

static LINUX_7_2_ENTRIES: [WhitelistEntry; 21] = [
    WhitelistEntry::new(INTEL, Some(0x3c00), true, "Intel Xeon E5/Core i7"),
    WhitelistEntry::new(INTEL, Some(0x3c01), true, "Intel Xeon E5/Core i7"),
    WhitelistEntry::new(INTEL, Some(0x2f00), true, "Intel Xeon E5 v3"),
    WhitelistEntry::new(INTEL, Some(0x2f01), true, "Intel Xeon E5 v3"),
    WhitelistEntry::new(INTEL, Some(0x2030), false, "Intel Skylake-SP"),
    WhitelistEntry::new(INTEL, Some(0x2031), false, "Intel Skylake-SP"),
    WhitelistEntry::new(INTEL, Some(0x2032), false, "Intel Skylake-SP"),
    WhitelistEntry::new(INTEL, Some(0x2033), false, "Intel Skylake-SP"),
    WhitelistEntry::new(INTEL, Some(0x2020), false, "Intel Skylake-SP"),
    WhitelistEntry::new(INTEL, Some(0x09a2), false, "Intel Ice Lake-SP"),
    WhitelistEntry::new(INTEL, Some(0x0b25), false, "Intel DSA (Sapphire Rapids)"),
    WhitelistEntry::new(INTEL, Some(0x0cfe), false, "Intel IAX (Sapphire Rapids)"),
    WhitelistEntry::new(INTEL, Some(0x11fb), false, "Intel DSA (Granite Rapids-D)"),
    WhitelistEntry::new(INTEL, Some(0x1212), false, "Intel DSA (Diamond Rapids)"),
    WhitelistEntry::new(INTEL, Some(0x1216), false, "Intel IAA (Diamond Rapids)"),
    WhitelistEntry::new(INTEL, Some(0x4940), false, "Intel QAT 4xxx"),
    WhitelistEntry::new(INTEL, Some(0x4942), false, "Intel QAT 401xx"),
    WhitelistEntry::new(INTEL, Some(0x4944), false, "Intel QAT 402xx"),
    WhitelistEntry::new(INTEL, Some(0x4946), false, "Intel QAT 420xx"),
    WhitelistEntry::new(INTEL, Some(0x4948), false, "Intel QAT 6xxx"),
    WhitelistEntry::new(GOOGLE, None, false, "Google SoCs"),
];

impl Whitelist {
    /// The upstream table of Linux 7.2 (`pci_p2pdma_whitelist[]`).
    pub const LINUX_7_2: Whitelist = Whitelist {
        release: Cow::Borrowed("Linux 7.2"),
        entries: Cow::Borrowed(&LINUX_7_2_ENTRIES),
    };

    /// The first entry matching a device, as the kernel's loop finds it.
    pub fn lookup(&self, vendor: u16, device: u16) -> Option<&WhitelistEntry> {
        self.entries.iter().find(|e| e.matches(vendor, device))
    }
}

impl Default for Whitelist {
    fn default() -> Self {
        Self::LINUX_7_2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_7_2_table() {
        let w = Whitelist::LINUX_7_2;
        assert_eq!(w.release, "Linux 7.2");
        assert!(
            w.lookup(0x8086, 0x3c00)
                .is_some_and(|e| e.requires_same_host_bridge)
        );
        assert!(
            w.lookup(0x8086, 0x2020)
                .is_some_and(|e| !e.requires_same_host_bridge)
        );
        assert!(w.lookup(0x1ae0, 0x1234).is_some());
        assert!(
            w.lookup(0x8086, 0x29c0).is_none(),
            "QEMU q35 host bridge is not listed"
        );
        assert!(w.lookup(0x1022, 0x1480).is_none());
    }
}
