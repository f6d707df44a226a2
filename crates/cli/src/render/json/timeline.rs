//! `simulate --format json` (docs/json-output.md, "simulate").

use dmabuf_negotiate::{
    AddressSpace, Agreed, AgreementState, Describe, DeviceId, ImporterMode, Policy, RevokeReason,
    Validity,
};
use pci_topology::{FunctionId, LinkEnd, Machine};
use serde::Serialize;

use super::negotiate::{Offer, Route, offer, route};
use super::vocab::{self, Source};
use crate::commands::simulate::{Report, acs_caveat};
use crate::error::CliError;
use crate::simulation::bind::{Action, ApertureSpec};
use crate::simulation::timeline::{Addresses, Effect, ImporterState, Step};

/// The document.
#[derive(Serialize, Debug)]
pub struct Simulation {
    /// The scenario file as given.
    pub scenario: String,
    /// Its description, or null.
    pub description: Option<String>,
    /// Where the machine came from.
    pub source: Source,
    /// The buffer and its exporter policy.
    pub buffer: BufferOut,
    /// The placements, in the exporter's order of preference.
    pub placements: Vec<PlacementOut>,
    /// The importers, in the scenario's order.
    pub importers: Vec<ImporterOut>,
    /// The start (index 0), then one entry per event run.
    pub events: Vec<StepOut>,
    /// Totals.
    pub summary: SummaryOut,
    /// Things said on standard error too (unknown fabrics).
    pub warnings: Vec<String>,
}

/// The buffer.
#[derive(Serialize, Debug)]
pub struct BufferOut {
    /// Bytes.
    pub size: u64,
    /// Bus id of the exporting function.
    pub exporter: String,
    /// Whether the exporter may move it.
    pub migratable: bool,
    /// Whether the exporter may revoke it.
    pub revocable: bool,
    /// `best-route` or `exporter-priority`.
    pub policy: &'static str,
    /// The placement it starts in.
    pub start: String,
}

/// A BAR window.
#[derive(Serialize, Debug)]
pub struct ApertureOut {
    /// BAR index.
    pub bar: u8,
    /// CPU physical address of its first byte (hex string).
    pub cpu: String,
    /// PCI bus address of its first byte (hex string).
    pub bus: String,
    /// Bytes.
    pub len: u64,
    /// `machine` (from the machine's BARs) or `scenario`.
    pub from: &'static str,
    /// Whether `bus` was taken equal to `cpu` because nothing said otherwise.
    pub bus_assumed: bool,
}

/// Where VRAM appears on a private fabric.
#[derive(Serialize, Debug)]
pub struct FabricWindowOut {
    /// The fabric.
    pub fabric: String,
    /// IOVA of VRAM offset 0 (hex string).
    pub iova: String,
    /// Bytes exposed.
    pub len: u64,
}

/// One placement.
#[derive(Serialize, Debug)]
pub struct PlacementOut {
    /// Its name.
    pub name: String,
    /// The author's label, or null.
    pub label: Option<String>,
    /// `vram`, `system` or `bar`.
    pub memory: &'static str,
    /// In words.
    pub description: String,
    /// Bus id of the device whose memory it is, or null.
    pub device: Option<String>,
    /// VRAM instance, or null.
    pub instance: Option<u16>,
    /// Offset in VRAM or in the BAR (hex string), or null.
    pub offset: Option<String>,
    /// NUMA node of system memory, or null.
    pub numa_node: Option<u16>,
    /// Physical address of system memory (hex string), or null.
    pub phys: Option<String>,
    /// BAR index of a BAR slice, or null.
    pub bar: Option<u8>,
    /// Length of a BAR slice, or null.
    pub len: Option<u64>,
    /// What the exporter offers there, in its order (`private-iova on NAME` per fabric).
    pub offers: Vec<String>,
    /// `scenario` (listed by the scenario) or `default` (the core's defaults).
    pub offers_from: &'static str,
    /// The BAR window it is addressed through, or null.
    pub aperture: Option<ApertureOut>,
    /// Private-fabric windows onto it.
    pub fabrics: Vec<FabricWindowOut>,
}

/// One importer.
#[derive(Serialize, Debug)]
pub struct ImporterOut {
    /// Its name.
    pub name: String,
    /// The author's label, or null.
    pub label: Option<String>,
    /// `dynamic` or `static`.
    pub mode: &'static str,
    /// Whether it can give its mappings back when the exporter revokes.
    pub revocable: bool,
    /// Its offers, in its order (as in `negotiate`).
    pub offers: Vec<Offer>,
}

/// What an event was.
#[derive(Serialize, Debug)]
pub struct ActionOut {
    /// `start`, `attach`, `detach`, `map`, `unmap`, `pin`, `unpin`, `access`, `move`,
    /// `revoke`, `link-down`, `link-up`, `device-reset`.
    pub kind: &'static str,
    /// The importer acting, or null.
    pub importer: Option<String>,
    /// The placement moved to, or null.
    pub placement: Option<String>,
    /// The fabric of a link event, or null.
    pub fabric: Option<String>,
    /// The devices a link event names (none: every link of the fabric).
    pub between: Vec<String>,
    /// The device reset, or null.
    pub device: Option<String>,
}

/// Why an event was refused.
#[derive(Serialize, Debug)]
pub struct ReasonOut {
    /// A stable code (docs/json-output.md).
    pub code: &'static str,
    /// In words.
    pub message: String,
}

/// An agreement.
#[derive(Serialize, Debug)]
pub struct AgreementOut {
    /// The interconnect.
    pub interconnect: &'static str,
    /// The route and its quality.
    pub route: Route,
    /// For a PCI route computed with unknown ACS taken as off: the map type were it on.
    pub map_type_if_acs_on: Option<&'static str>,
}

/// A revocation's reason.
#[derive(Serialize, Debug)]
pub struct RevokedOut {
    /// `exporter` or `device-reset`.
    pub reason: &'static str,
    /// The device reset, or null.
    pub device: Option<String>,
}

/// A range of addresses.
#[derive(Serialize, Debug)]
pub struct RangeOut {
    /// First address (hex string).
    pub start: String,
    /// Bytes.
    pub len: u64,
}

/// The space addresses are valid in.
#[derive(Serialize, Debug)]
pub struct SpaceOut {
    /// `device` (DMA addresses), `pci-bus`, `vram`, `fabric` or `physical`.
    pub kind: &'static str,
    /// The device that programs them (or owns the VRAM, or initiates on the fabric), or null.
    pub device: Option<String>,
    /// The fabric, or null.
    pub fabric: Option<String>,
    /// The trusted importer of physical addresses, or null.
    pub trust: Option<&'static str>,
    /// In words.
    pub description: String,
}

/// Addresses of a usable mapping.
#[derive(Serialize, Debug)]
pub struct AddressesOut {
    /// `dma`, `bus`, `vram-offset`, `iova` or `phys`.
    pub kind: &'static str,
    /// Where they are valid.
    pub space: SpaceOut,
    /// The ranges.
    pub ranges: Vec<RangeOut>,
}

/// A private link.
#[derive(Serialize, Debug)]
pub struct LinkOut {
    /// The fabric.
    pub fabric: String,
    /// One end (bus id, `cpu` or `cpu:N`).
    pub a: String,
    /// The other end.
    pub b: String,
    /// Parallel links in the bundle.
    pub count: u16,
}

/// Something an event did.
#[derive(Serialize, Debug)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum EffectOut {
    /// An importer attached.
    Agreed {
        /// The importer.
        importer: String,
        /// What it agreed on.
        agreement: AgreementOut,
    },
    /// The exporter moved the buffer.
    Migrated {
        /// From this placement.
        from: String,
        /// To this one.
        to: String,
        /// The generation the move started.
        generation: u64,
        /// Importers that renegotiate at their next map.
        renegotiate: Vec<String>,
    },
    /// These importers' valid mappings became stale.
    Invalidated {
        /// The importers.
        importers: Vec<String>,
        /// Mappings issued before this generation are stale.
        generation: u64,
    },
    /// An agreement changed.
    Renegotiated {
        /// The importer.
        importer: String,
        /// Before.
        from: AgreementOut,
        /// After.
        to: AgreementOut,
    },
    /// An importer was given a mapping.
    Mapped {
        /// The importer.
        importer: String,
        /// Issued in.
        generation: u64,
        /// Its addresses.
        addresses: AddressesOut,
    },
    /// An importer gave its mapping back.
    Unmapped {
        /// The importer.
        importer: String,
        /// The mapping's generation.
        generation: u64,
    },
    /// An importer took a pin.
    Pinned {
        /// The importer.
        importer: String,
        /// Its explicit pins now.
        pins: u32,
    },
    /// An importer released a pin.
    Unpinned {
        /// The importer.
        importer: String,
        /// Its explicit pins now.
        pins: u32,
    },
    /// An importer detached.
    Detached {
        /// The importer.
        importer: String,
    },
    /// The buffer was revoked for good.
    Revoked {
        /// Why.
        revoked: RevokedOut,
        /// The generation it started.
        generation: u64,
        /// Static importers that cannot give their mappings back.
        unrevocable: Vec<String>,
    },
    /// An importer's device was reset.
    ImporterReset {
        /// Importers whose offers name the device.
        importers: Vec<String>,
        /// The generation it started.
        generation: u64,
    },
    /// An importer reaches the buffer by nothing any more.
    Lost {
        /// The importer.
        importer: String,
        /// Why.
        reason: String,
    },
    /// A lost importer reaches the buffer again.
    Recovered {
        /// The importer.
        importer: String,
        /// Its agreement.
        agreement: AgreementOut,
    },
    /// The exporter did not move the buffer to rescue lost importers.
    NotMoved {
        /// Why.
        reason: String,
    },
    /// Private links changed state (empty: none changed).
    Links {
        /// Up or down now.
        up: bool,
        /// The links that changed.
        links: Vec<LinkOut>,
    },
    /// An importer used its mapping and got addresses.
    Accessed {
        /// The importer.
        importer: String,
        /// The addresses.
        addresses: AddressesOut,
    },
    /// Nothing of the buffer was affected.
    Unaffected,
}

/// The buffer after an event.
#[derive(Serialize, Debug)]
pub struct BufferStateOut {
    /// Its placement.
    pub placement: String,
    /// Its generation.
    pub generation: u64,
    /// Why it was revoked, or null.
    pub revoked: Option<RevokedOut>,
    /// The importers that pin it.
    pub pinned_by: Vec<String>,
}

/// An importer's agreement after an event.
#[derive(Serialize, Debug)]
pub struct AgreementStateOut {
    /// `current`, `outdated` (renegotiates at its next map) or `lost`.
    pub state: &'static str,
    /// The interconnect of the (latest) agreement.
    pub interconnect: &'static str,
    /// Its route.
    pub route: Route,
    /// For a PCI route computed with unknown ACS taken as off: the map type were it on.
    pub map_type_if_acs_on: Option<&'static str>,
    /// Why it is lost, or null.
    pub lost_reason: Option<String>,
}

/// The mapping an importer holds.
#[derive(Serialize, Debug)]
pub struct MappingOut {
    /// Issued in.
    pub generation: u64,
    /// `valid`, `stale` or `revoked`.
    pub validity: &'static str,
    /// For a stale mapping: only mappings from this generation on are valid; else null.
    pub valid_from: Option<u64>,
    /// The interconnect it was issued for.
    pub interconnect: &'static str,
    /// The placement it was derived from.
    pub placement: String,
    /// Where its addresses are valid.
    pub space: SpaceOut,
    /// Bytes.
    pub len: u64,
    /// The addresses, only while valid; null otherwise.
    pub addresses: Option<AddressesOut>,
}

/// One importer after an event.
#[derive(Serialize, Debug)]
pub struct ImporterStateOut {
    /// Its name.
    pub name: String,
    /// Whether it is attached.
    pub attached: bool,
    /// Its agreement, or null when not attached.
    pub agreement: Option<AgreementStateOut>,
    /// Its mapping, or null.
    pub mapping: Option<MappingOut>,
    /// Explicit pins.
    pub pins: u32,
    /// Whether it pins the buffer (a static importer always does).
    pub pinning: bool,
}

/// An expectation checked.
#[derive(Serialize, Debug)]
pub struct CheckedOut {
    /// `path:line:column` in the scenario.
    pub at: String,
    /// What it is about (`nic mapping`).
    pub subject: String,
    /// Expected.
    pub expected: String,
    /// Found.
    pub found: String,
    /// Whether they agree.
    pub met: bool,
}

/// One event and its consequences.
#[derive(Serialize, Debug)]
pub struct StepOut {
    /// 0 for the start, then 1, 2, ... in the scenario's order.
    pub index: usize,
    /// The event's line in the scenario, or null for the start.
    pub line: Option<usize>,
    /// What it was.
    pub action: ActionOut,
    /// The author's note, or null.
    pub note: Option<String>,
    /// `ok` or `refused`.
    pub outcome: &'static str,
    /// Why it was refused, or null.
    pub reason: Option<ReasonOut>,
    /// What it did, in order.
    pub effects: Vec<EffectOut>,
    /// The buffer afterwards.
    pub buffer: BufferStateOut,
    /// Every importer afterwards.
    pub importers: Vec<ImporterStateOut>,
    /// Invariants broken after it (in words); empty when all held.
    pub violations: Vec<String>,
    /// Its expectations, checked.
    pub expectations: Vec<CheckedOut>,
}

/// Totals.
#[derive(Serialize, Debug)]
pub struct SummaryOut {
    /// Events run (the start not counted).
    pub events: usize,
    /// Events in the scenario.
    pub events_in_scenario: usize,
    /// Events refused.
    pub refused: usize,
    /// Whether every invariant held after every event.
    pub invariants_held: bool,
    /// The index of the event after which an invariant broke (the last one run), or null.
    pub stopped_after: Option<usize>,
    /// Expectations checked.
    pub expectations: usize,
    /// Expectations that failed.
    pub expectations_failed: usize,
}

struct Cx<'a> {
    m: &'a Machine,
    r: &'a Report,
}

impl Cx<'_> {
    fn bdf(&self, d: DeviceId) -> String {
        self.m
            .function(FunctionId::from(d))
            .map_or_else(|| d.to_string(), |f| vocab::bdf(f.bdf))
    }

    fn name(&self, i: usize) -> String {
        self.r.importer(i).to_owned()
    }

    fn names(&self, list: &[usize]) -> Vec<String> {
        list.iter().map(|&i| self.name(i)).collect()
    }

    /// A core message with the simulation's names.
    fn text(&self, message: &impl Describe) -> String {
        message.named(&self.r.names(self.m)).to_string()
    }

    fn route(&self, a: &Agreed) -> Route {
        let fabric = |f| self.r.fabric(self.m, f);
        route(a.route(), &fabric)
    }

    fn agreement(&self, a: &Agreed) -> AgreementOut {
        AgreementOut {
            interconnect: a.interconnect().name(),
            route: self.route(a),
            map_type_if_acs_on: acs_caveat(self.m, a).map(vocab::map_type),
        }
    }

    fn space(&self, s: AddressSpace) -> SpaceOut {
        let (kind, device, fabric, trust) = match s {
            AddressSpace::Device(d) => ("device", Some(self.bdf(d)), None, None),
            AddressSpace::PciBus(d) => ("pci-bus", Some(self.bdf(d)), None, None),
            AddressSpace::Vram(v) => ("vram", Some(self.bdf(v.owner)), None, None),
            AddressSpace::Fabric(p) => (
                "fabric",
                Some(self.bdf(p.initiator)),
                Some(self.r.fabric(self.m, p.fabric)),
                None,
            ),
            AddressSpace::Physical(t) => ("physical", None, None, Some(vocab::trust(t.trust()))),
        };
        SpaceOut {
            kind,
            device,
            fabric,
            trust,
            description: self.text(&s),
        }
    }

    fn addresses(&self, a: &Addresses) -> AddressesOut {
        AddressesOut {
            kind: a.kind,
            space: self.space(a.space),
            ranges: a
                .ranges
                .iter()
                .map(|&(start, len)| RangeOut {
                    start: vocab::address(start),
                    len,
                })
                .collect(),
        }
    }

    fn revoked(&self, r: RevokeReason) -> RevokedOut {
        match r {
            RevokeReason::Exporter => RevokedOut {
                reason: "exporter",
                device: None,
            },
            RevokeReason::DeviceReset(d) => RevokedOut {
                reason: "device-reset",
                device: Some(self.bdf(d)),
            },
        }
    }

    fn link(&self, index: usize) -> Option<LinkOut> {
        let l = self.m.links().get(index)?;
        let end = |e: &LinkEnd| match e {
            LinkEnd::Function(f) => self.m.name(*f),
            LinkEnd::Cpu { numa_node: Some(n) } => format!("cpu:{n}"),
            LinkEnd::Cpu { numa_node: None } => "cpu".to_owned(),
        };
        Some(LinkOut {
            fabric: self.r.fabric(self.m, l.fabric),
            a: end(&l.a),
            b: end(&l.b),
            count: l.count,
        })
    }

    fn effect(&self, e: &Effect) -> EffectOut {
        match e {
            Effect::Agreed { importer, agreed } => EffectOut::Agreed {
                importer: self.name(*importer),
                agreement: self.agreement(agreed),
            },
            Effect::Migrated {
                from,
                to,
                generation,
                renegotiate,
            } => EffectOut::Migrated {
                from: self.r.placement(*from).to_owned(),
                to: self.r.placement(*to).to_owned(),
                generation: generation.get(),
                renegotiate: self.names(renegotiate),
            },
            Effect::Invalidated {
                importers,
                generation,
            } => EffectOut::Invalidated {
                importers: self.names(importers),
                generation: generation.get(),
            },
            Effect::Renegotiated { importer, change } => EffectOut::Renegotiated {
                importer: self.name(*importer),
                from: self.agreement(&change.from),
                to: self.agreement(&change.to),
            },
            Effect::Mapped {
                importer,
                generation,
                addresses,
            } => EffectOut::Mapped {
                importer: self.name(*importer),
                generation: generation.get(),
                addresses: self.addresses(addresses),
            },
            Effect::Unmapped {
                importer,
                generation,
            } => EffectOut::Unmapped {
                importer: self.name(*importer),
                generation: generation.get(),
            },
            Effect::Pinned { importer, pins } => EffectOut::Pinned {
                importer: self.name(*importer),
                pins: *pins,
            },
            Effect::Unpinned { importer, pins } => EffectOut::Unpinned {
                importer: self.name(*importer),
                pins: *pins,
            },
            Effect::Detached { importer } => EffectOut::Detached {
                importer: self.name(*importer),
            },
            Effect::Revoked {
                reason,
                generation,
                unrevocable,
            } => EffectOut::Revoked {
                revoked: self.revoked(*reason),
                generation: generation.get(),
                unrevocable: self.names(unrevocable),
            },
            Effect::ImporterReset {
                importers,
                generation,
            } => EffectOut::ImporterReset {
                importers: self.names(importers),
                generation: generation.get(),
            },
            Effect::Lost { importer, reason } => EffectOut::Lost {
                importer: self.name(*importer),
                reason: self.text(reason),
            },
            Effect::Recovered { importer, agreed } => EffectOut::Recovered {
                importer: self.name(*importer),
                agreement: self.agreement(agreed),
            },
            Effect::NotMoved { why } => EffectOut::NotMoved {
                reason: self.text(why),
            },
            Effect::Links { links, up } => EffectOut::Links {
                up: *up,
                links: links.iter().filter_map(|&l| self.link(l)).collect(),
            },
            Effect::Accessed {
                importer,
                addresses,
            } => EffectOut::Accessed {
                importer: self.name(*importer),
                addresses: self.addresses(addresses),
            },
            Effect::Unaffected => EffectOut::Unaffected,
        }
    }

    fn importer_state(&self, i: usize, s: &ImporterState) -> ImporterStateOut {
        let agreement = s.agreement.as_ref().map(|a| {
            let latest = a.latest();
            AgreementStateOut {
                state: s.agreement_word(),
                interconnect: latest.interconnect().name(),
                route: self.route(latest),
                map_type_if_acs_on: acs_caveat(self.m, latest).map(vocab::map_type),
                lost_reason: match a {
                    AgreementState::Lost { reason, .. } => Some(self.text(reason)),
                    _ => None,
                },
            }
        });
        let mapping = s.mapping.as_ref().map(|ms| {
            let h = &ms.holding;
            MappingOut {
                generation: h.handle.generation().get(),
                validity: s.mapping_word(),
                valid_from: match h.validity {
                    Validity::Stale { valid_from } => Some(valid_from.get()),
                    _ => None,
                },
                interconnect: h.interconnect.name(),
                placement: self.r.bound.placement_index(&h.placement).map_or_else(
                    || self.text(&h.placement),
                    |p| self.r.placement(p).to_owned(),
                ),
                space: self.space(h.space),
                len: h.len,
                addresses: ms.addresses.as_ref().map(|a| self.addresses(a)),
            }
        });
        ImporterStateOut {
            name: self.name(i),
            attached: s.is_attached(),
            agreement,
            mapping,
            pins: s.pins,
            pinning: s.pinning,
        }
    }

    fn action(&self, a: Option<&Action>) -> ActionOut {
        let mut out = ActionOut {
            kind: "start",
            importer: None,
            placement: None,
            fabric: None,
            between: Vec::new(),
            device: None,
        };
        let Some(a) = a else {
            return out;
        };
        let (kind, importer) = match a {
            Action::Attach(i) => ("attach", Some(*i)),
            Action::Detach(i) => ("detach", Some(*i)),
            Action::Map(i) => ("map", Some(*i)),
            Action::Unmap(i) => ("unmap", Some(*i)),
            Action::Pin(i) => ("pin", Some(*i)),
            Action::Unpin(i) => ("unpin", Some(*i)),
            Action::Access(i) => ("access", Some(*i)),
            Action::Move(p) => {
                out.placement = Some(self.r.placement(*p).to_owned());
                ("move", None)
            }
            Action::Revoke => ("revoke", None),
            Action::Links { up, selection } => {
                out.fabric = Some(self.r.fabric(self.m, selection.fabric));
                out.between = selection.ends.iter().map(|b| vocab::bdf(*b)).collect();
                (if *up { "link-up" } else { "link-down" }, None)
            }
            Action::DeviceReset { bdf, .. } => {
                out.device = Some(vocab::bdf(*bdf));
                ("device-reset", None)
            }
        };
        out.kind = kind;
        out.importer = importer.map(|i| self.name(i));
        out
    }

    fn step(&self, index: usize, s: &Step) -> StepOut {
        let event = s.event.and_then(|e| self.r.bound.events.get(e));
        StepOut {
            index,
            line: event.map(|e| e.line),
            action: self.action(event.map(|e| &e.action)),
            note: event.and_then(|e| e.note.clone()),
            outcome: s.outcome_word(),
            reason: s.refusal.as_ref().map(|r| ReasonOut {
                code: r.code(),
                message: self.text(r),
            }),
            effects: s.effects.iter().map(|e| self.effect(e)).collect(),
            buffer: BufferStateOut {
                placement: self.r.placement(s.buffer.placement).to_owned(),
                generation: s.buffer.generation.get(),
                revoked: s.buffer.revoked.map(|r| self.revoked(r)),
                pinned_by: self.names(&s.buffer.pinned_by),
            },
            importers: s
                .importers
                .iter()
                .enumerate()
                .map(|(i, st)| self.importer_state(i, st))
                .collect(),
            violations: s.violations.iter().map(|v| self.text(v)).collect(),
            expectations: s
                .expectations
                .iter()
                .map(|c| CheckedOut {
                    at: c.at.clone(),
                    subject: c.subject.clone(),
                    expected: c.expected.clone(),
                    found: c.found.clone(),
                    met: c.met,
                })
                .collect(),
        }
    }
}

fn aperture(a: &ApertureSpec) -> ApertureOut {
    ApertureOut {
        bar: a.bar,
        cpu: vocab::address(a.cpu),
        bus: vocab::address(a.bus),
        len: a.len,
        from: if a.from_machine {
            "machine"
        } else {
            "scenario"
        },
        bus_assumed: a.bus_assumed,
    }
}

/// Builds the document.
pub fn build(m: &Machine, r: &Report) -> Simulation {
    let cx = Cx { m, r };
    let b = &r.bound;
    let placements = b
        .placements
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let (instance, offset, numa_node, phys, bar, len) = match p.placement {
                dmabuf_negotiate::Placement::Vram { vram, offset } => (
                    Some(vram.instance),
                    Some(vocab::address(offset.raw())),
                    None,
                    None,
                    None,
                    None,
                ),
                dmabuf_negotiate::Placement::System { numa_node, phys } => (
                    None,
                    None,
                    numa_node,
                    Some(vocab::address(phys.raw())),
                    None,
                    None,
                ),
                dmabuf_negotiate::Placement::Bar(s) => (
                    None,
                    Some(vocab::address(s.offset)),
                    None,
                    None,
                    Some(s.bar),
                    Some(s.len),
                ),
            };
            PlacementOut {
                name: p.name.clone(),
                label: p.label.clone(),
                memory: p.memory,
                description: r.placement_words(i),
                device: p.device.map(vocab::bdf),
                instance,
                offset,
                numa_node,
                phys,
                bar,
                len,
                offers: b
                    .policy
                    .placements()
                    .get(i)
                    .map(|o| o.offerings().iter().map(|x| cx.text(x)).collect())
                    .unwrap_or_default(),
                offers_from: if p.offers_given {
                    "scenario"
                } else {
                    "default"
                },
                aperture: p.aperture.as_ref().map(aperture),
                fabrics: p
                    .fabrics
                    .iter()
                    .map(|w| FabricWindowOut {
                        fabric: r.fabric(m, w.fabric),
                        iova: vocab::address(w.iova),
                        len: w.len,
                    })
                    .collect(),
            }
        })
        .collect();
    let importers = b
        .importers
        .iter()
        .map(|i| ImporterOut {
            name: i.name.clone(),
            label: i.label.clone(),
            mode: match i.importer.mode() {
                ImporterMode::Dynamic => "dynamic",
                ImporterMode::Static { .. } => "static",
            },
            revocable: i.importer.is_revocable(),
            offers: i.offers.iter().map(offer).collect(),
        })
        .collect();
    let steps = &r.timeline.steps;
    let (expectations, failed) = r.expectation_counts();
    let broken = steps.iter().position(|s| !s.violations.is_empty());
    Simulation {
        scenario: r.scenario.display().to_string(),
        description: r.description.clone(),
        source: Source::of(&r.source),
        buffer: BufferOut {
            size: b.size,
            exporter: vocab::bdf(b.exporter_bdf),
            migratable: b.policy.may_migrate(),
            revocable: b.policy.is_revocable(),
            policy: match b.policy.negotiation_policy() {
                Policy::BestRoute => "best-route",
                Policy::ExporterPriority => "exporter-priority",
            },
            start: r.placement(b.start).to_owned(),
        },
        placements,
        importers,
        events: steps
            .iter()
            .enumerate()
            .map(|(k, s)| cx.step(k, s))
            .collect(),
        summary: SummaryOut {
            events: steps.len().saturating_sub(1),
            events_in_scenario: b.events.len(),
            refused: steps.iter().filter(|s| s.refusal.is_some()).count(),
            invariants_held: broken.is_none(),
            stopped_after: broken,
            expectations,
            expectations_failed: failed,
        },
        warnings: b.warnings.clone(),
    }
}

/// Renders the document.
pub fn render(m: &Machine, r: &Report) -> Result<String, CliError> {
    crate::output::to_json(&build(m, r))
}
