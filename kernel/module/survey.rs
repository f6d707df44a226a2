// SPDX-License-Identifier: GPL-2.0

//! The machine's PCI functions, sorted into what the reports need: the p2pmem providers the
//! kernel registered, the functions that are not bridges, and the NVMe controllers.

use dmabuf_negotiate::DeviceId;

use crate::pci_function::{PciFunction, NVME_CLASS};

/// How many functions each list holds (a guest has a few dozen).
pub(crate) const CAPACITY: usize = 128;

/// A list of device ids of fixed capacity.
pub(crate) struct DeviceIds {
    ids: [DeviceId; CAPACITY],
    len: usize,
}

impl DeviceIds {
    const fn new() -> Self {
        DeviceIds {
            ids: [DeviceId(0); CAPACITY],
            len: 0,
        }
    }

    /// Appends `id`; false when the list is full.
    fn push(&mut self, id: DeviceId) -> bool {
        match self.ids.get_mut(self.len) {
            Some(slot) => {
                *slot = id;
                // `len` indexes `ids`: it cannot saturate.
                self.len = self.len.saturating_add(1);
                true
            }
            None => false,
        }
    }

    /// The ids, in the PCI core's order.
    pub(crate) fn as_slice(&self) -> &[DeviceId] {
        self.ids.get(..self.len).unwrap_or(&[])
    }
}

/// The functions of the machine.
pub(crate) struct Survey {
    /// Functions with p2pmem (`pdev->p2pdma` set).
    pub(crate) providers: DeviceIds,
    /// Functions that are not PCI-to-PCI bridges, as `dmabuf-ic matrix --all` lists them.
    pub(crate) endpoints: DeviceIds,
    /// NVMe controllers.
    pub(crate) nvme: DeviceIds,
    /// Some list was full: the survey is incomplete.
    pub(crate) truncated: bool,
}

impl Survey {
    /// Walks every PCI function once.
    pub(crate) fn take() -> Self {
        let mut s = Survey {
            providers: DeviceIds::new(),
            endpoints: DeviceIds::new(),
            nvme: DeviceIds::new(),
            truncated: false,
        };
        for f in PciFunction::all() {
            let id = f.id();
            if f.is_p2pmem_provider() {
                s.truncated |= !s.providers.push(id);
            }
            if !f.is_bridge() {
                s.truncated |= !s.endpoints.push(id);
            }
            if f.class() == NVME_CLASS {
                s.truncated |= !s.nvme.push(id);
            }
        }
        s
    }
}
