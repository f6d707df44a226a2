// SPDX-License-Identifier: GPL-2.0

//! PCI functions of the running kernel, as the negotiation core names devices.
//!
//! A [`PciFunction`] is a counted reference to a `struct pci_dev` (released with
//! `pci_dev_put()` when dropped); [`PciFunction::all`] walks every function the PCI core knows.
//! Ids are the function's address: `DeviceId(domain << 16 | bus << 8 | devfn)`.
//!
//! Fields are read through the raw pointer, one at a time, never through a Rust reference to
//! the whole `struct pci_dev` (other CPUs may write its other fields). Each field read here is
//! set when the PCI core enumerates the function and does not change while a reference is held.

use core::fmt;
use core::ptr::NonNull;

use dmabuf_negotiate::DeviceId;
use kernel::bindings;
use kernel::ffi::c_char;

/// PCI class code (base class, subclass, programming interface) of an NVMe controller.
pub(crate) const NVME_CLASS: u32 = 0x01_08_02;

/// A counted reference to one PCI function.
pub(crate) struct PciFunction(NonNull<bindings::pci_dev>);

impl PciFunction {
    /// The function with this id, if the kernel knows it.
    pub(crate) fn lookup(id: DeviceId) -> Option<Self> {
        let (domain, bus, devfn) = (id.0 >> 16, (id.0 >> 8) & 0xff, id.0 & 0xff);
        let domain = i32::try_from(domain).ok()?;
        // SAFETY: a lookup without preconditions; it returns a counted reference or NULL.
        let pdev = unsafe { bindings::pci_get_domain_bus_and_slot(domain, bus, devfn) };
        NonNull::new(pdev).map(Self)
    }

    /// The PCI function whose `struct device` `dev` is, or `None` if `dev` is not on the PCI
    /// bus (the kernel's `dev_is_pci()` and `to_pci_dev()`).
    ///
    /// # Safety
    ///
    /// `dev` is a live device (the caller holds a reference for the duration of the call).
    // Used by kernel/dmabuf's exporter, which compiles this file too; negotiate_kernel does not.
    #[allow(dead_code)]
    pub(crate) unsafe fn of_device(dev: NonNull<bindings::device>) -> Option<Self> {
        // SAFETY: a live device (the caller's contract): `bus` is set when it is added. Only the
        // address of `pci_bus_type` is taken.
        let on_pci =
            unsafe { core::ptr::eq((*dev.as_ptr()).bus, &raw const bindings::pci_bus_type) };
        if !on_pci {
            return None;
        }
        // SAFETY: a device on the PCI bus is the `dev` field of a `struct pci_dev`.
        let pdev = unsafe { kernel::container_of!(dev.as_ptr(), bindings::pci_dev, dev) };
        NonNull::new(pdev).map(Self::get)
    }

    /// Every PCI function, in the PCI core's order.
    pub(crate) fn all() -> Functions {
        Functions(core::ptr::null_mut())
    }

    /// The `struct pci_dev`, valid while `self` lives.
    pub(crate) fn as_ptr(&self) -> *mut bindings::pci_dev {
        self.0.as_ptr()
    }

    /// The embedded `struct device`, valid while `self` lives.
    pub(crate) fn as_device(&self) -> *mut bindings::device {
        // SAFETY: `self.0` is a valid pci_dev (counted reference); this takes the address of a
        // field without reading it.
        unsafe { &raw mut (*self.as_ptr()).dev }
    }

    /// Another counted reference to the same function.
    fn get(pdev: NonNull<bindings::pci_dev>) -> Self {
        // SAFETY: the caller holds a reference to `pdev`, so its count is not zero.
        unsafe { bindings::pci_dev_get(pdev.as_ptr()) };
        Self(pdev)
    }

    /// The kernel's name of the function (`0000:03:00.0`).
    pub(crate) fn name(&self) -> &[u8] {
        // SAFETY: `dev.kobj.name` is the NUL-terminated name the PCI core gave the device when
        // it added it (what `dev_name()` returns); it lives as long as the device.
        let name: *const c_char = unsafe { (*self.as_ptr()).dev.kobj.name };
        if name.is_null() {
            return b"?";
        }
        // SAFETY: as above, a valid NUL-terminated string that outlives `self`; its bytes
        // before the NUL.
        unsafe { core::slice::from_raw_parts(name, bindings::strlen(name)) }
    }

    /// The PCI domain, read from the name (x86 keeps it in the host bridge's private data).
    fn domain(&self) -> u32 {
        self.name()
            .iter()
            .take_while(|&&c| c != b':')
            .try_fold(0u32, |acc, &c| {
                let digit = char::from(c).to_digit(16)?;
                acc.checked_mul(16)?.checked_add(digit)
            })
            .unwrap_or(0)
    }

    /// The id by which the negotiation names this function.
    pub(crate) fn id(&self) -> DeviceId {
        // SAFETY: `bus` and `devfn` are set at enumeration; the bus outlives its devices.
        let (bus, devfn) = unsafe {
            let pdev = self.as_ptr();
            (u32::from((*(*pdev).bus).number), (*pdev).devfn)
        };
        DeviceId((self.domain() << 16) | (bus << 8) | (devfn & 0xff))
    }

    /// Bus and slot, without the function number: the physical device.
    pub(crate) fn slot(&self) -> u32 {
        self.id().0 >> 3
    }

    /// The 24-bit class code.
    pub(crate) fn class(&self) -> u32 {
        // SAFETY: set at enumeration.
        unsafe { (*self.as_ptr()).class }
    }

    /// Whether this is a PCI-to-PCI (or CardBus) bridge: a root port, a switch port, ...
    pub(crate) fn is_bridge(&self) -> bool {
        // SAFETY: set at enumeration.
        let header =
            u32::from(unsafe { (*self.as_ptr()).hdr_type }) & bindings::PCI_HEADER_TYPE_MASK;
        header == bindings::PCI_HEADER_TYPE_BRIDGE || header == bindings::PCI_HEADER_TYPE_CARDBUS
    }

    /// Whether the function registered peer-to-peer memory with the P2PDMA core (the NVMe
    /// driver does so for a controller memory buffer).
    pub(crate) fn is_p2pmem_provider(&self) -> bool {
        // SAFETY: `p2pdma` is an RCU pointer that P2PDMA sets once when the provider registers;
        // only its being set is read, never what it points to.
        let p2pdma = unsafe { core::ptr::read_volatile(&raw const (*self.as_ptr()).p2pdma) };
        !p2pdma.is_null()
    }

    /// For an SR-IOV virtual function, its physical function (the kernel's `pci_physfn()`).
    pub(crate) fn physfn(&self) -> Option<Self> {
        let pdev = self.as_ptr();
        // SAFETY: `is_virtfn` is set when the VF is created, before it is added to the bus.
        if unsafe { bindings::pci_dev::is_virtfn_raw(pdev) } == 0 {
            return None;
        }
        // SAFETY: for a VF the union holds `physfn`, the PF that the VF holds a reference to.
        let pf = unsafe { (*pdev).__bindgen_anon_1.physfn };
        NonNull::new(pf).map(Self::get)
    }

    /// The bridge above the function (the kernel's `pci_upstream_bridge()`: a VF counts as its
    /// PF), or `None` on a root bus.
    pub(crate) fn upstream_bridge(&self) -> Option<Self> {
        let pf = self.physfn();
        let dev = pf.as_ref().unwrap_or(self).as_ptr();
        // SAFETY: the bus of a counted device is valid; a root bus has no parent.
        let bridge = unsafe {
            let bus = (*dev).bus;
            if (*bus).parent.is_null() {
                return None;
            }
            (*bus).self_
        };
        NonNull::new(bridge).map(Self::get)
    }

    /// Whether the function's ACS control register redirects peer-to-peer requests,
    /// completions or egress upstream (request redirect, completion redirect, egress control:
    /// the bits Linux's `pci_bridge_has_acs_redir()` tests).
    pub(crate) fn acs_redirects(&self) -> bool {
        // SAFETY: `acs_cap` is found when the function is enumerated.
        let pos = unsafe { (*self.as_ptr()).acs_cap };
        if pos == 0 {
            return false;
        }
        let mut ctrl: u16 = 0;
        let mask = bindings::PCI_ACS_RR | bindings::PCI_ACS_CR | bindings::PCI_ACS_EC;
        // SAFETY: a config-space read of a valid device into a local.
        let rc = unsafe {
            bindings::pci_read_config_word(
                self.as_ptr(),
                i32::from(pos) + bindings::PCI_ACS_CTRL as i32,
                &mut ctrl,
            )
        };
        rc == 0 && u32::from(ctrl) & mask != 0
    }
}

impl PartialEq for PciFunction {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Drop for PciFunction {
    fn drop(&mut self) {
        // SAFETY: `self` owns one reference, given back here.
        unsafe { bindings::pci_dev_put(self.as_ptr()) };
    }
}

impl fmt::Display for PciFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &c in self.name() {
            fmt::Write::write_char(f, char::from(c))?;
        }
        Ok(())
    }
}

/// The walk over every PCI function (`for_each_pci_dev`), yielding counted references.
pub(crate) struct Functions(*mut bindings::pci_dev);

impl Iterator for Functions {
    type Item = PciFunction;

    fn next(&mut self) -> Option<PciFunction> {
        // SAFETY: `pci_get_device()` gives back the reference the walk holds on `self.0` (NULL
        // at the start) and returns the next function with a new one, or NULL at the end.
        self.0 = unsafe { bindings::pci_get_device(!0, !0, self.0) };
        NonNull::new(self.0).map(PciFunction::get)
    }
}

impl Drop for Functions {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: the walk's own reference on the function it stopped at.
            unsafe { bindings::pci_dev_put(self.0) };
        }
    }
}

impl Clone for PciFunction {
    fn clone(&self) -> Self {
        Self::get(self.0)
    }
}
