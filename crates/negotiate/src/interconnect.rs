//! Interconnect types: `'static` singleton descriptors with a match operation.
//!
//! Like the kernel's `struct dma_buf_mapping_type`, an interconnect type is identified by the
//! address of its descriptor, never by its name: two drivers may both call something "link" and
//! stay distinct. The descriptor carries the type's match operation, which the core calls for
//! every exporter × importer pair of that type; drivers never open-code matching.
//!
//! The built-in types live in the submodules; a driver defines its own by declaring a `static`
//! [`Interconnect`] with its own [`MatchFn`], without touching this crate.

use core::fmt;
use core::ptr;

use crate::{ExporterArgs, Fabric, ImporterArgs, Rejection, Route};

mod dma_addr;
mod pci_bar;
mod phys;
mod private_iova;
mod reach;
mod vram;

/// A match operation: given the machine, an exporter entry's and an importer entry's arguments,
/// accept with the route the traffic would take, or reject with a reason.
///
/// Must be deterministic, must not panic and must not allocate, whatever the arguments.
pub type MatchFn =
    fn(&dyn Fabric, &ExporterArgs<'_>, &ImporterArgs<'_>) -> Result<Route, Rejection>;

/// An interconnect type: a name for people and a match operation for the core.
pub struct Interconnect {
    name: &'static str,
    matches: MatchFn,
}

impl Interconnect {
    /// A new interconnect type. Declare it as a `static` and refer to it by reference: its
    /// address is its identity.
    pub const fn new(name: &'static str, matches: MatchFn) -> Self {
        Self { name, matches }
    }

    /// The type's name (for people; identity is the descriptor's address).
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// Runs the type's match operation on one pair.
    pub fn matches(
        &self,
        fabric: &dyn Fabric,
        exporter: &ExporterArgs<'_>,
        importer: &ImporterArgs<'_>,
    ) -> Result<Route, Rejection> {
        (self.matches)(fabric, exporter, importer)
    }

    /// Whether `other` is this very type (the same descriptor).
    pub fn is(&self, other: &Interconnect) -> bool {
        ptr::eq(self, other)
    }
}

impl PartialEq for Interconnect {
    fn eq(&self, other: &Self) -> bool {
        self.is(other)
    }
}

impl Eq for Interconnect {}

impl core::hash::Hash for Interconnect {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        ptr::hash(self, state);
    }
}

impl fmt::Debug for Interconnect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Interconnect({})", self.name)
    }
}

impl fmt::Display for Interconnect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// `dma-addr`: a scatterlist of DMA addresses programmed by one device. Exporter:
/// [`ExporterArgs::Memory`]; importer: [`ImporterArgs::Device`]. Accepts when the hardware says
/// the device can reach the memory (system memory always; device memory per the P2P verdict, and
/// only if the importer accepts peer-to-peer).
pub static DMA_ADDR: Interconnect = Interconnect::new("dma-addr", dma_addr::matches);

/// `pci-bar`: a slice of one BAR of one function. Exporter: [`ExporterArgs::Bar`]; importer:
/// [`ImporterArgs::Device`]. Accepts when the P2P verdict lets the device reach the BAR.
pub static PCI_BAR: Interconnect = Interconnect::new("pci-bar", pci_bar::matches);

/// `vram`: offsets in one VRAM instance. Exporter: [`ExporterArgs::Vram`]; importer:
/// [`ImporterArgs::Device`]. Accepts only a function of the owning device, or the physical
/// function of the exporting virtual function (SR-IOV's IOV interconnect).
pub static VRAM: Interconnect = Interconnect::new("vram", vram::matches);

/// `private-iova`: IOVAs on one named private fabric, for one initiator. Both sides:
/// [`ExporterArgs::Fabric`] / [`ImporterArgs::Fabric`]. Accepts only when both name the same
/// fabric and the fabric connects them.
pub static PRIVATE_IOVA: Interconnect = Interconnect::new("private-iova", private_iova::matches);

/// `phys`: CPU physical addresses. Exporter: [`ExporterArgs::Memory`] or [`ExporterArgs::Bar`];
/// importer: [`ImporterArgs::Phys`]. Accepts only trusted importers (iommufd, KVM, VFIO).
pub static PHYS: Interconnect = Interconnect::new("phys", phys::matches);

/// Every built-in interconnect type.
pub static BUILT_IN: [&Interconnect; 5] = [&DMA_ADDR, &PCI_BAR, &VRAM, &PRIVATE_IOVA, &PHYS];
