// SPDX-License-Identifier: GPL-2.0

//! A PCI function's address as the kernel names it (`DDDD:BB:SS.F`), for the log lines of both
//! modules.

use core::fmt;

/// A function's id, `domain << 16 | bus << 8 | devfn` (as `dmabuf-negotiate`'s `DeviceId`),
/// written as `DDDD:BB:SS.F`.
#[derive(Clone, Copy)]
pub(crate) struct PciName(pub(crate) u32);

impl fmt::Display for PciName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        write!(
            f,
            "{:04x}:{:02x}:{:02x}.{}",
            d >> 16,
            (d >> 8) & 0xff,
            (d >> 3) & 0x1f,
            d & 7
        )
    }
}
