//! Why a candidate pair was not accepted.

use core::fmt;

use crate::{Describe, FabricId, Interconnect, Names, OpaqueNames, Refusal, Relation};

/// Why an interconnect's match operation rejected an exporter × importer pair.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
// A fixed `u32` tag with aligned payloads: candidates are copied on the negotiation path, and
// the default layout's packed 7-byte payloads made each copy stall (measured: twice as slow).
#[repr(u32)]
pub enum Rejection {
    /// The two entries are of different interconnect types; no match was attempted.
    DifferentInterconnects {
        /// The exporter entry's type.
        exporter: &'static Interconnect,
        /// The importer entry's type.
        importer: &'static Interconnect,
    },
    /// An entry's arguments do not have the shape its interconnect type expects.
    MalformedOffer {
        /// What the match operation expected instead.
        expected: &'static str,
    },
    /// `phys` offered to an importer that is not trusted with physical addresses.
    UntrustedImporter,
    /// `private-iova` entries name different fabrics.
    DifferentFabrics {
        /// The exporter's fabric.
        exporter: FabricId,
        /// The importer's fabric.
        importer: FabricId,
    },
    /// `vram` offsets are meaningless to this importer: it is neither a function of the owning
    /// device nor the physical function of the exporting virtual function.
    VramNotAddressable(Relation),
    /// The memory is device memory and the importer does not accept peer-to-peer addresses.
    PeerToPeerNotAccepted,
    /// A virtual function may never reach another virtual function's memory.
    VirtualFunctionIsolation,
    /// The hardware cannot carry it.
    Refused(Refusal),
    /// A driver-defined interconnect's own reason.
    Driver(&'static str),
}

impl Describe for Rejection {
    fn describe(&self, f: &mut fmt::Formatter<'_>, names: &dyn Names) -> fmt::Result {
        match self {
            Rejection::DifferentInterconnects { exporter, importer } => {
                write!(f, "different interconnects ({exporter} vs {importer})")
            }
            Rejection::MalformedOffer { expected } => {
                write!(f, "malformed offer: expected {expected}")
            }
            Rejection::UntrustedImporter => f.write_str(
                "physical addresses are given only to trusted importers (iommufd, KVM, VFIO); \
                 this importer is untrusted",
            ),
            Rejection::DifferentFabrics { exporter, importer } => {
                write!(
                    f,
                    "exporter is on {}, importer on {}",
                    exporter.named(names),
                    importer.named(names)
                )
            }
            Rejection::VramNotAddressable(relation) => write!(
                f,
                "VRAM offsets are only meaningful to the owning device or its physical function; \
                 the importer is {relation}"
            ),
            Rejection::PeerToPeerNotAccepted => {
                f.write_str("the memory is device memory and the importer does not accept P2P")
            }
            Rejection::VirtualFunctionIsolation => {
                f.write_str("a virtual function may not reach another virtual function's memory")
            }
            Rejection::Refused(refusal) => refusal.describe(f, names),
            Rejection::Driver(why) => f.write_str(why),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.describe(f, &OpaqueNames)
    }
}
