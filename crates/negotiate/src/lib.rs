//! # dmabuf-negotiate
//!
//! dma-buf interconnect negotiation, as proposed on dri-devel: the exporter and the importer of
//! a buffer each list the interconnects they can use, common code matches the lists with each
//! interconnect type's own match operation, asks the hardware whether and how the importer can
//! reach the memory, ranks the options by quality of route, and lets the exporter decide.
//!
//! - [`Interconnect`] types are `'static` singletons with a match operation; the built-in ones
//!   are [`DMA_ADDR`], [`PCI_BAR`], [`VRAM`], [`PRIVATE_IOVA`] and [`PHYS`], and a driver can
//!   declare its own without touching this crate.
//! - [`ExporterOffer`] and [`ImporterOffer`] are `{interconnect, arguments}` list entries.
//! - A [`Fabric`] answers the hardware questions (pci-topology implements it for real machines).
//! - [`Negotiator`] matches N × M pairs under a [`Policy`], consults an [`ExporterDecision`], and
//!   returns an [`Agreement`] or a [`NegotiationError`], both carrying the full candidate table.
//! - [`Route`] and [`Quality`] describe and order routes; [`Mapping`] and the address newtypes in
//!   [`address`] keep every address in its own space.
//!
//! The attachment lifecycle keeps every attachment correct while the buffer moves and gets
//! revoked: a [`Buffer`] has a [`Placement`], an [`ExporterPolicy`] (where it may live, what it
//! offers there, whether it may migrate or revoke) and [`Attachment`]s; its operations (attach,
//! pin, map, unmap, move, revoke, device reset, revalidate after a link failure, detach) either
//! succeed completely or fail with a [`LifecycleError`] and change nothing. Mappings are reached
//! only through a [`MappingHandle`] checked against the buffer's generations, with addresses
//! derived from the current placement ([`addressing`]). [`invariants`] checks the promises;
//! `SharedBuffer` (feature `std`) shares a buffer between threads.
//!
//! Messages name devices, fabrics and attachments by opaque ids (`device#3`, `fabric#1`,
//! `attachment#2`): the core knows nothing better. Whoever assigned the ids can give their
//! names through a [`Names`], and every message type that mentions an id displays with them
//! through [`Describe::named`] ([`naming`]); `Display` uses [`OpaqueNames`].
//!
//! The crate is `no_std`. Negotiation itself neither allocates nor panics: the caller provides
//! the candidate table's storage (on the stack if it likes). The lifecycle allocates (its
//! attachments, owned copies of offers), but only around negotiation, never in it, and every
//! allocation can fail: an operation that runs out of memory fails with
//! [`LifecycleError::OutOfMemory`] and changes nothing.
//!
//! ## Features
//! - `alloc`: the attachment lifecycle (everything from [`Buffer`] on), keeping its lists in
//!   `alloc`'s `Vec`. Without it the crate is the matching core alone (interconnects, offers,
//!   the negotiator, routes, the [`Fabric`] trait, addresses, devices, naming, [`Platform`]),
//!   with no `alloc` at all: what the negotiation module in `kernel/` compiles.
//! - `std` (default, implies `alloc`): `SharedBuffer`, a buffer shared between threads.
//!
//! Inside Linux, `kernel/` builds the crate with `--cfg kernel` (and the kernel's own `kernel`
//! crate): the lifecycle then keeps its lists in the kernel's `KVec`, with the same code; its
//! types are not `Clone` there, since copying a `KVec` can fail.
//!
//! ```
//! use dmabuf_negotiate::*;
//!
//! /// A fabric where every device reaches every memory by PCI P2P with bus addresses.
//! struct Flat;
//! impl Fabric for Flat {
//!     fn reach(&self, _: Initiator, _: Memory) -> Result<Route, Refusal> {
//!         Ok(Route::new(RouteKind::PciBusAddr { distance: 4 }))
//!     }
//!     fn private_route(&self, f: FabricId, d: DeviceId, _: DeviceId) -> Result<Route, Refusal> {
//!         Err(Refusal::NotOnFabric { fabric: f, device: d })
//!     }
//!     fn relation(&self, a: DeviceId, b: DeviceId) -> Relation {
//!         if a == b { Relation::SameFunction } else { Relation::Unrelated }
//!     }
//! }
//!
//! let gpu = DeviceId(0);
//! let nic = DeviceId(1);
//! let exporter = [
//!     ExporterOffer::vram(VramId { owner: gpu, instance: 0 }),
//!     ExporterOffer::dma_addr(Memory::Device(gpu)),
//! ];
//! let importer = [ImporterOffer::dma_addr(nic, true)];
//! let mut table = [Candidate::VACANT; 2];
//! let agreement = Negotiator::new(&Flat).negotiate(&exporter, &importer, &mut table).unwrap();
//! assert!(agreement.chosen().interconnect.is(&DMA_ADDR));
//! assert_eq!(agreement.candidates().len(), 2);
//! ```

// Inside Linux the kernel's build declares `no_std` itself (`-Zcrate-attr=no_std`).
#![cfg_attr(not(any(feature = "std", kernel)), no_std)]
#![deny(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;

// The lifecycle's vector, always grown fallibly (storage.rs): `alloc`'s in user space, the
// kernel's `KVec` when kernel/'s Kbuild builds the crate inside Linux with `--cfg kernel`.
#[cfg(feature = "alloc")]
use alloc::vec::Vec;
#[cfg(all(kernel, not(feature = "alloc")))]
use kernel::alloc::KVec as Vec;

// The matching core: no allocation, no lifecycle types.
pub mod address;
mod attachment_id;
mod device;
mod fabric;
pub mod interconnect;
pub mod naming;
mod negotiate;
mod offer;
mod platform;
mod rejection;
mod route;

// The attachment lifecycle is compiled where there is a vector to keep its lists in (feature
// `alloc`, or inside Linux: `--cfg kernel`). Each item carries the attribute itself (no macro
// around them), so that rustfmt formats these files too.
#[cfg(any(feature = "alloc", kernel))]
pub mod addressing;
#[cfg(any(feature = "alloc", kernel))]
mod apertures;
#[cfg(any(feature = "alloc", kernel))]
mod attachment;
#[cfg(any(feature = "alloc", kernel))]
mod buffer;
#[cfg(any(feature = "alloc", kernel))]
mod exporter_policy;
#[cfg(any(feature = "alloc", kernel))]
mod generation;
#[cfg(any(feature = "alloc", kernel))]
mod importer;
#[cfg(any(feature = "alloc", kernel))]
pub mod invariants;
#[cfg(any(feature = "alloc", kernel))]
mod lifecycle_error;
#[cfg(any(feature = "alloc", kernel))]
pub mod mapping;
#[cfg(any(feature = "alloc", kernel))]
mod migration;
#[cfg(any(feature = "alloc", kernel))]
mod placement;
#[cfg(any(feature = "alloc", kernel))]
mod renegotiation;
#[cfg(any(feature = "alloc", kernel))]
mod revalidation;
#[cfg(any(feature = "alloc", kernel))]
mod revocation;
#[cfg(feature = "std")]
mod shared;
#[cfg(any(feature = "alloc", kernel))]
mod storage;
#[cfg(test)]
mod testing;

pub use address::{AddrRange, BusAddr, BusWindow, DmaAddr, Iova, PhysAddr, VramOffset};
pub use attachment_id::AttachmentId;
pub use device::{BarSlice, DeviceId, FabricId, VramId};
pub use fabric::{
    Fabric, HostBridgeCause, HostBridgeRefusal, Initiator, Memory, Refusal, Relation,
};
pub use interconnect::{DMA_ADDR, Interconnect, MatchFn, PCI_BAR, PHYS, PRIVATE_IOVA, VRAM};
pub use naming::{Describe, Named, Names, OpaqueNames};
pub use negotiate::{
    Agreement, Candidate, ChosenBy, ExporterDecision, FollowPolicy, NegotiationError, Negotiator,
    Policy, Ranked, Verdict,
};
pub use offer::{ExporterArgs, ExporterOffer, ImporterArgs, ImporterOffer, Trust};
pub use platform::{DirectMapped, DmaMapper, DmaRefusal, Platform};
pub use rejection::Rejection;
pub use route::{Bandwidth, Gbps, Latency, Quality, Route, RouteKind, Tier};

#[cfg(any(feature = "alloc", kernel))]
pub use addressing::AddressError;
#[cfg(any(feature = "alloc", kernel))]
pub use apertures::{ApertureError, Apertures, BarAperture, FabricAperture, VramAperture};
#[cfg(any(feature = "alloc", kernel))]
pub use attachment::{AgreementState, Attachment, Holding, Validity};
#[cfg(any(feature = "alloc", kernel))]
pub use buffer::{Attached, Buffer, Mapped};
#[cfg(any(feature = "alloc", kernel))]
pub use exporter_policy::{ExporterPolicy, MAX_OFFERINGS, Offering, PlacementOption, PolicyError};
#[cfg(any(feature = "alloc", kernel))]
pub use generation::{AccessError, BufferId, Generation, MappingHandle};
#[cfg(any(feature = "alloc", kernel))]
pub use importer::{Importer, ImporterMode, MAX_IMPORTER_OFFERS, StoredArgs, StoredOffer};
#[cfg(any(feature = "alloc", kernel))]
pub use invariants::{Monitor, Violation};
#[cfg(any(feature = "alloc", kernel))]
pub use lifecycle_error::{AttachRefusal, LifecycleError};
#[cfg(any(feature = "alloc", kernel))]
pub use mapping::{AddressSpace, Mapping};
#[cfg(any(feature = "alloc", kernel))]
pub use migration::{Blocked, Migration, NoMigration};
#[cfg(any(feature = "alloc", kernel))]
pub use placement::Placement;
#[cfg(any(feature = "alloc", kernel))]
pub use renegotiation::{Agreed, Change, Unreachable};
#[cfg(any(feature = "alloc", kernel))]
pub use revalidation::{LostAttachment, Renegotiated, Revalidation};
#[cfg(any(feature = "alloc", kernel))]
pub use revocation::{Reset, Revocation, RevokeReason};
#[cfg(feature = "std")]
pub use shared::SharedBuffer;
#[cfg(any(feature = "alloc", kernel))]
pub use storage::OutOfMemory;
