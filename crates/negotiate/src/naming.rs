//! How messages name devices, fabrics and attachments.
//!
//! The core knows devices, private fabrics and attachments only by opaque ids ([`DeviceId`],
//! [`FabricId`], [`AttachmentId`]), and its messages print them as `device#3`, `fabric#1` and
//! `attachment#2`. Whoever assigned the ids knows better names (a PCI bus id, a fabric's name,
//! the importer behind an attachment). A [`Names`] gives them; every message that mentions an
//! id implements [`Describe`], and [`Describe::named`] displays it with those names:
//!
//! ```
//! use core::fmt;
//! use dmabuf_negotiate::{DeviceId, Describe, FabricId, Names, Refusal};
//!
//! /// Devices by PCI bus id; fabrics keep their opaque names.
//! struct Bus;
//! impl Names for Bus {
//!     fn device(&self, id: DeviceId, f: &mut fmt::Formatter<'_>) -> fmt::Result {
//!         write!(f, "0000:{:02x}:00.0", id.0)
//!     }
//! }
//!
//! let refusal = Refusal::NotOnFabric { fabric: FabricId(1), device: DeviceId(3) };
//! assert_eq!(refusal.to_string(), "device#3 is not on fabric#1");
//! assert_eq!(refusal.named(&Bus).to_string(), "0000:03:00.0 is not on fabric#1");
//! ```
//!
//! A type's `Display` is its description with [`OpaqueNames`]. Naming formats straight into the
//! formatter: it allocates nothing.

use core::fmt;

use crate::{AttachmentId, DeviceId, FabricId};

/// Writes the name of a device, a private fabric or an attachment into a message.
///
/// Every method has a default that writes the opaque id (`device#3`, `fabric#1`,
/// `attachment#2`); an implementation overrides those it knows better names for, and may fall
/// back to the default for ids it does not know.
pub trait Names {
    /// Writes the name of device `id` (default: `device#N`).
    fn device(&self, id: DeviceId, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "device#{}", id.0)
    }

    /// Writes the name of private fabric `id` (default: `fabric#N`).
    fn fabric(&self, id: FabricId, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fabric#{}", id.0)
    }

    /// Writes the name of attachment `id` (default: `attachment#N`).
    fn attachment(&self, id: AttachmentId, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "attachment#{}", id.get())
    }
}

/// The opaque names: `device#N`, `fabric#N`, `attachment#N`. What `Display` uses.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct OpaqueNames;

impl Names for OpaqueNames {}

/// A message (or a part of one) that mentions devices, fabrics or attachments, and can be
/// written with any [`Names`]. Its `Display` is [`Describe::describe`] with [`OpaqueNames`].
///
/// The ids themselves implement it, and so does every type of this crate whose message mentions
/// one: places and routes ([`Placement`](crate::Placement), [`Route`](crate::Route),
/// [`AddressSpace`](crate::AddressSpace), ...), reasons ([`Refusal`](crate::Refusal),
/// [`Rejection`](crate::Rejection), [`Unreachable`](crate::Unreachable), ...), the lifecycle's
/// results and errors ([`Migration`](crate::Migration),
/// [`Revalidation`](crate::Revalidation), [`LifecycleError`](crate::LifecycleError),
/// [`Violation`](crate::Violation), ...). A type that contains another writes it with the same
/// names, so a whole message is named consistently.
pub trait Describe {
    /// Writes the message, naming ids with `names`.
    fn describe(&self, f: &mut fmt::Formatter<'_>, names: &dyn Names) -> fmt::Result;

    /// The message with ids named by `names`, to display (`format!`, `to_string`, `write!`).
    fn named<'a>(&'a self, names: &'a dyn Names) -> Named<'a, Self> {
        Named { value: self, names }
    }
}

/// A [`Describe`] value with its [`Names`]: displays the message with those names. Made by
/// [`Describe::named`].
pub struct Named<'a, T: ?Sized> {
    value: &'a T,
    names: &'a dyn Names,
}

impl<T: ?Sized> Clone for Named<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: ?Sized> Copy for Named<'_, T> {}

impl<T: Describe + ?Sized> fmt::Display for Named<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.describe(f, self.names)
    }
}

impl<T: fmt::Debug + ?Sized> fmt::Debug for Named<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Named")
            .field("value", &self.value)
            .finish_non_exhaustive()
    }
}

impl Describe for DeviceId {
    fn describe(&self, f: &mut fmt::Formatter<'_>, names: &dyn Names) -> fmt::Result {
        names.device(*self, f)
    }
}

impl Describe for FabricId {
    fn describe(&self, f: &mut fmt::Formatter<'_>, names: &dyn Names) -> fmt::Result {
        names.fabric(*self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::{String, ToString};
    use alloc::vec;

    use crate::renegotiation::negotiate_at;
    use crate::testing::{FAR, FLAT, GPU, LINK, PEER, SIZE, VRAM, buffer, ram, vram};
    use crate::{
        AccessError, AddressError, AddressSpace, AgreementState, ApertureError, AttachRefusal,
        BarSlice, Blocked, BufferId, Change, DmaRefusal, Generation, Holding, ImporterOffer,
        LifecycleError, LostAttachment, MappingHandle, Memory, Migration, NoMigration, Offering,
        PRIVATE_IOVA, Placement, Platform, PolicyError, Refusal, Rejection, Renegotiated,
        Revalidation, RevokeReason, Route, RouteKind, Validity, Violation,
    };

    /// Marks every id, so a test sees which ones went through the names.
    struct Marks;
    impl Names for Marks {
        fn device(&self, id: DeviceId, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "<dev {}>", id.0)
        }
        fn fabric(&self, id: FabricId, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "<fab {}>", id.0)
        }
        fn attachment(&self, id: AttachmentId, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "<att {}>", id.0)
        }
    }

    /// The opaque text with each id replaced by its mark.
    fn marked(text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        loop {
            let next = [
                ("device#", "dev"),
                ("fabric#", "fab"),
                ("attachment#", "att"),
            ]
            .into_iter()
            .filter_map(|(tag, mark)| rest.find(tag).map(|i| (i, tag, mark)))
            .min();
            let Some((i, tag, mark)) = next else {
                out.push_str(rest);
                return out;
            };
            out.push_str(&rest[..i]);
            let after = &rest[i + tag.len()..];
            let digits = after.bytes().take_while(u8::is_ascii_digit).count();
            out.push_str(&alloc::format!("<{mark} {}>", &after[..digits]));
            rest = &after[digits..];
        }
    }

    /// Named with [`Marks`], the message is its `Display` with every id marked: every id goes
    /// through the names, and nothing else changes.
    fn check<T: Describe + fmt::Display>(value: &T) {
        let opaque = value.to_string();
        assert!(opaque.contains('#'), "the example names no id: {opaque}");
        assert_eq!(value.named(&Marks).to_string(), marked(&opaque));
    }

    #[test]
    fn opaque_names_are_the_display() {
        assert_eq!(DeviceId(3).to_string(), "device#3");
        assert_eq!(DeviceId(3).named(&OpaqueNames).to_string(), "device#3");
        assert_eq!(FabricId(1).to_string(), "fabric#1");
        assert_eq!(AttachmentId(2).to_string(), "attachment#2");
        assert_eq!(
            Refusal::NotOnFabric {
                fabric: FabricId(1),
                device: DeviceId(3)
            }
            .named(&Marks)
            .to_string(),
            "<dev 3> is not on <fab 1>"
        );
    }

    #[test]
    fn every_message_names_its_ids_through_the_names() {
        let id = AttachmentId(2);
        let other = AttachmentId(5);
        let slice = BarSlice {
            device: FAR,
            bar: 2,
            offset: 0x1000,
            len: SIZE,
        };
        let bar = Placement::bar(slice);
        check(&DeviceId(3));
        check(&FabricId(1));
        check(&id);
        check(&VRAM);
        check(&slice);
        check(&Memory::Device(GPU));
        check(&Offering::PrivateIova(LINK));
        let route = Route::new(RouteKind::PrivateLink(LINK));
        check(&route.kind);
        check(&route);
        check(&vram());
        check(&bar);
        for refusal in [
            Refusal::UnknownDevice(PEER),
            Refusal::UnknownFabric(LINK),
            Refusal::NotOnFabric {
                fabric: LINK,
                device: FAR,
            },
            Refusal::LinkDown(LINK),
            Refusal::NotPci(FAR),
        ] {
            check(&refusal);
            check(&Rejection::Refused(refusal));
        }
        check(&Rejection::DifferentFabrics {
            exporter: LINK,
            importer: FabricId(9),
        });
        for e in [
            PolicyError::DuplicatePlacement(bar),
            PolicyError::TooSmall {
                placement: bar,
                size: SIZE,
            },
            PolicyError::NothingOffered(bar),
            PolicyError::OfferingDoesNotFit {
                placement: bar,
                offering: Offering::PrivateIova(LINK),
            },
            PolicyError::NoAperture {
                placement: vram(),
                offering: Offering::DmaAddr,
            },
            PolicyError::TooManyOfferings(bar),
        ] {
            check(&e);
            check(&LifecycleError::Policy(e));
        }
        for space in [
            AddressSpace::Device(PEER),
            AddressSpace::PciBus(PEER),
            AddressSpace::Vram(VRAM),
            AddressSpace::Fabric(crate::mapping::FabricPort {
                fabric: LINK,
                initiator: PEER,
            }),
        ] {
            check(&space);
        }
        let dma = DmaRefusal {
            device: FAR,
            reason: "no IOMMU domain",
        };
        check(&dma);
        for e in [
            AddressError::Aperture {
                placement: vram(),
                error: ApertureError::NoWindow,
            },
            AddressError::Dma(dma),
            AddressError::DmaLength { device: FAR },
        ] {
            check(&e);
            check(&LifecycleError::Address(e));
        }
        let reset = RevokeReason::DeviceReset(GPU);
        check(&reset);
        check(&Validity::Revoked(reset));
        let handle = MappingHandle::new(BufferId::fresh(), id, Generation::FIRST, 4);
        check(&handle);
        check(&AccessError::Revoked(reset));
        check(&AccessError::Detached(id));
        check(&Holding {
            handle,
            placement: vram(),
            interconnect: &PRIVATE_IOVA,
            space: AddressSpace::Device(PEER),
            len: SIZE,
            validity: Validity::Revoked(reset),
        });

        // Agreements, and an importer that reaches nothing (on a fabric the exporter is not on).
        let b = buffer();
        let option = &b.policy().placements()[0];
        let platform = Platform::new(&FLAT);
        let nvlink = crate::Importer::dynamic(&[ImporterOffer::private_iova(LINK, PEER)]).unwrap();
        let agreed = negotiate_at(&platform, b.policy(), option, &nvlink)
            .unwrap()
            .unwrap();
        check(&agreed);
        let p2p = crate::Importer::dynamic(&[ImporterOffer::dma_addr(PEER, true)]).unwrap();
        let p2p = negotiate_at(&platform, b.policy(), option, &p2p)
            .unwrap()
            .unwrap();
        check(&Change {
            from: agreed,
            to: p2p,
        });
        let stranger =
            crate::Importer::dynamic(&[ImporterOffer::private_iova(FabricId(9), FAR)]).unwrap();
        let unreachable = negotiate_at(&platform, b.policy(), option, &stranger)
            .unwrap()
            .unwrap_err();
        check(&unreachable);
        check(&AgreementState::Current(agreed));
        check(&AgreementState::Outdated { previous: agreed });
        check(&AgreementState::Lost {
            previous: agreed,
            reason: unreachable.clone(),
        });

        let migration = Migration {
            from: vram(),
            to: ram(),
            generation: Generation::FIRST,
            invalidated: vec![id],
            renegotiate: vec![id],
        };
        check(&migration);
        let blocked = NoMigration::NoPlacement(vec![
            Blocked {
                placement: bar,
                by: Some(id),
            },
            Blocked {
                placement: vram(),
                by: None,
            },
        ]);
        check(&blocked);
        check(&NoMigration::Pinned(vec![id, other]));
        let refusal = AttachRefusal {
            here: unreachable.clone(),
            migration: blocked.clone(),
        };
        check(&refusal);
        for e in [
            LifecycleError::Revoked(reset),
            LifecycleError::UnknownAttachment(id),
            LifecycleError::Unreachable(refusal),
            LifecycleError::AlreadyMapped(handle),
            LifecycleError::UnknownMapping(handle),
            LifecycleError::NotPinned(id),
            LifecycleError::Lost(id),
            LifecycleError::Pinned {
                by: vec![id, other],
            },
            LifecycleError::UnknownPlacement(bar),
            LifecycleError::AlreadyThere(bar),
            LifecycleError::MoveBlocked {
                attachment: id,
                unreachable: unreachable.clone(),
            },
            LifecycleError::Renegotiation {
                attachment: id,
                unreachable: unreachable.clone(),
            },
        ] {
            check(&e);
        }
        check(&Revalidation {
            generation: Some(Generation::FIRST),
            renegotiated: vec![Renegotiated {
                attachment: id,
                change: Change {
                    from: agreed,
                    to: p2p,
                },
            }],
            recovered: vec![(other, agreed)],
            migration: Some(migration),
            lost: vec![LostAttachment {
                attachment: id,
                reason: unreachable.clone(),
            }],
            no_migration: Some(blocked),
            invalidated: vec![id],
        });

        for v in [
            Violation::MappingOfOtherPlacement {
                attachment: id,
                mapped: vram(),
                current: bar,
            },
            Violation::MappingAfterRevoke(id),
            Violation::MappingWithoutAgreement(id),
            Violation::MappingDiffers(id),
            Violation::MappingMisaddressed {
                attachment: id,
                space: AddressSpace::Device(PEER),
            },
            Violation::AgreementForOtherPlacement(id),
            Violation::PhysToUntrusted(id),
            Violation::PrivateIovaOffFabric {
                attachment: id,
                fabric: LINK,
            },
            Violation::VirtualFunctionReach {
                attachment: id,
                device: FAR,
            },
            Violation::RouteGone {
                attachment: id,
                rejection: Some(Rejection::Refused(Refusal::LinkDown(LINK))),
            },
            Violation::RouteGone {
                attachment: id,
                rejection: None,
            },
            Violation::ForeignImporterOffer(id),
            Violation::Unreachable {
                attachment: id,
                reason: unreachable.clone(),
            },
            Violation::PinnedElsewhere {
                attachment: id,
                pinned_at: bar,
                current: vram(),
            },
            Violation::PinNotRecorded(id),
            Violation::FutureGeneration(id),
            Violation::PinnedBufferMoved {
                from: vram(),
                to: bar,
            },
            Violation::MappedAfterRevoke(handle),
            Violation::SurvivedInvalidation(handle),
            Violation::StaleMappingRevived(handle),
        ] {
            check(&v);
        }
        // Messages without ids are left as they are.
        assert_eq!(
            Rejection::Refused(Refusal::Other("why"))
                .named(&Marks)
                .to_string(),
            "why"
        );
    }
}
