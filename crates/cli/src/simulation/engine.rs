//! Running a timeline: each event is applied to one [`Buffer`] through its lifecycle
//! operations, on the machine as it is at that moment (links taken down rebuild it, see
//! [`super::links`]); then the invariant [`Monitor`] looks at the buffer, the state of every
//! importer is recorded, and the event's expectations are checked. The simulation stops after
//! the first event that breaks an invariant: what follows would build on a broken state.
//!
//! DMA addresses are those of a machine without IOMMU translation ([`Platform::new`]: the
//! physical address): behind an IOMMU the kernel hands out IOVAs no snapshot records.

use dmabuf_negotiate::{
    AttachmentId, Buffer, DeviceId, LifecycleError, Monitor, Platform, Reset, Revalidation,
    Revocation,
};
use pci_topology::Machine;

use super::bind::{Action, Bound};
use super::links::LinkState;
use super::timeline::{
    Addresses, BufferState, Effect, ImporterState, MappingState, Refusal, Step, Timeline,
};
use crate::error::CliError;

/// Deliberate faults, to test that broken invariants are caught and reported.
#[cfg(test)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Faults {
    /// Take links down without telling the buffer (no revalidation).
    pub forget_revalidation: bool,
}

/// The state of a running simulation.
struct Engine<'b> {
    original: &'b Machine,
    bound: &'b Bound,
    links: LinkState,
    machine: Machine,
    buffer: Buffer,
    monitor: Monitor,
    attached: Vec<Option<AttachmentId>>,
    attachments: Vec<(AttachmentId, usize)>,
    #[cfg(test)]
    faults: Faults,
}

/// Runs the timeline of `bound` on `m`.
pub fn run(m: &Machine, bound: &Bound) -> Result<Timeline, CliError> {
    Engine::new(m, bound)?.run()
}

/// Runs with deliberate faults.
#[cfg(test)]
pub fn run_with_faults(m: &Machine, bound: &Bound, faults: Faults) -> Result<Timeline, CliError> {
    let mut e = Engine::new(m, bound)?;
    e.faults = faults;
    e.run()
}

fn internal(e: impl std::fmt::Display) -> CliError {
    CliError::internal(e.to_string())
}

impl<'b> Engine<'b> {
    fn new(m: &'b Machine, bound: &'b Bound) -> Result<Self, CliError> {
        let start = bound
            .placements
            .get(bound.start)
            .ok_or_else(|| internal("the start placement is missing"))?
            .placement;
        // The policy was validated when binding; this cannot fail.
        let buffer = Buffer::new_in(bound.size, bound.policy.clone(), &start).map_err(internal)?;
        Ok(Self {
            original: m,
            bound,
            links: LinkState::of(m),
            machine: m.clone(),
            buffer,
            monitor: Monitor::new(),
            attached: vec![None; bound.importers.len()],
            attachments: Vec::new(),
            #[cfg(test)]
            faults: Faults::default(),
        })
    }

    fn run(mut self) -> Result<Timeline, CliError> {
        let mut steps = Vec::new();
        let first = self.step(None, None, Vec::new())?;
        let stop = !first.violations.is_empty();
        steps.push(first);
        if !stop {
            for (k, event) in self.bound.events.iter().enumerate() {
                let (refusal, effects) = match self.apply(&event.action)? {
                    Ok(effects) => (None, effects),
                    Err(refusal) => (Some(refusal), Vec::new()),
                };
                let mut step = self.step(Some(k), refusal, effects)?;
                let importers = self.bound.importer_names();
                let placements = self.bound.placement_names();
                step.expectations = event
                    .expect
                    .iter()
                    .map(|x| x.check(&step, &importers, &placements))
                    .collect();
                let stop = !step.violations.is_empty();
                steps.push(step);
                if stop {
                    break;
                }
            }
        }
        Ok(Timeline {
            steps,
            attachments: self.attachments,
        })
    }

    /// Observes the buffer and records the state after an event.
    fn step(
        &mut self,
        event: Option<usize>,
        refusal: Option<Refusal>,
        effects: Vec<Effect>,
    ) -> Result<Step, CliError> {
        let violations = self
            .monitor
            .observe(&self.buffer, &Platform::new(&self.machine))
            .map_err(internal)?;
        let b = &self.buffer;
        let buffer = BufferState {
            placement: self.bound.placement_index(b.placement()).unwrap_or(0),
            generation: b.generation(),
            revoked: b.revoked(),
            pinned_by: b
                .pinned_by()
                .filter_map(|id| self.importer_of(id))
                .collect(),
        };
        let importers = self
            .attached
            .iter()
            .map(|id| {
                let Some(attachment) = id.and_then(|id| b.attachment(id)) else {
                    return ImporterState::DETACHED;
                };
                let mapping = b.holding(attachment.id()).map(|holding| MappingState {
                    addresses: b.mapping(&holding.handle).ok().map(Addresses::of),
                    holding,
                });
                ImporterState {
                    attachment: Some(attachment.id()),
                    agreement: Some(attachment.state().clone()),
                    mapping,
                    pins: attachment.pins(),
                    pinning: attachment.is_pinning(),
                }
            })
            .collect();
        Ok(Step {
            event,
            refusal,
            effects,
            buffer,
            importers,
            violations,
            expectations: Vec::new(),
        })
    }

    fn importer_of(&self, id: AttachmentId) -> Option<usize> {
        self.attachments
            .iter()
            .find(|(a, _)| *a == id)
            .map(|(_, i)| *i)
    }

    fn importers_of(&self, ids: &[AttachmentId]) -> Vec<usize> {
        ids.iter().filter_map(|&id| self.importer_of(id)).collect()
    }

    /// The effects of a revocation, by the exporter or by a reset of its device.
    fn revoked(&self, r: &Revocation, effects: &mut Vec<Effect>) {
        effects.push(Effect::Revoked {
            reason: r.reason,
            generation: r.generation,
            unrevocable: self.importers_of(&r.unrevocable),
        });
        if !r.invalidated.is_empty() {
            effects.push(Effect::Invalidated {
                importers: self.importers_of(&r.invalidated),
                generation: r.generation,
            });
        }
    }

    fn id(&self, importer: usize) -> Result<AttachmentId, Refusal> {
        self.attached
            .get(importer)
            .copied()
            .flatten()
            .ok_or(Refusal::NotAttached)
    }

    fn migration(&self, m: &dmabuf_negotiate::Migration, effects: &mut Vec<Effect>) {
        effects.push(Effect::Migrated {
            from: self.bound.placement_index(&m.from).unwrap_or(0),
            to: self.bound.placement_index(&m.to).unwrap_or(0),
            generation: m.generation,
            renegotiate: self.importers_of(&m.renegotiate),
        });
        if !m.invalidated.is_empty() {
            effects.push(Effect::Invalidated {
                importers: self.importers_of(&m.invalidated),
                generation: m.generation,
            });
        }
    }

    /// Applies one action. The outer error is a bug or an exhausted machine; the inner one is
    /// a refusal, which is part of the story.
    fn apply(&mut self, action: &Action) -> Result<Result<Vec<Effect>, Refusal>, CliError> {
        let lifecycle = Refusal::Lifecycle;
        let mut effects = Vec::new();
        match action {
            Action::Attach(i) => {
                if self.attached.get(*i).copied().flatten().is_some() {
                    return Ok(Err(Refusal::AlreadyAttached));
                }
                let importer = self
                    .bound
                    .importers
                    .get(*i)
                    .ok_or_else(|| internal("an event names a missing importer"))?
                    .importer
                    .clone();
                let platform = Platform::new(&self.machine);
                let attached = match self.buffer.attach(&platform, importer) {
                    Ok(a) => a,
                    Err(e) => return Ok(Err(lifecycle(e))),
                };
                self.attachments.push((attached.id, *i));
                if let Some(slot) = self.attached.get_mut(*i) {
                    *slot = Some(attached.id);
                }
                if let Some(m) = &attached.migration {
                    self.migration(m, &mut effects);
                }
                effects.push(Effect::Agreed {
                    importer: *i,
                    agreed: attached.agreed,
                });
            }
            Action::Detach(i) => {
                let id = match self.id(*i) {
                    Ok(id) => id,
                    Err(r) => return Ok(Err(r)),
                };
                if let Err(e) = self.buffer.detach(id) {
                    return Ok(Err(lifecycle(e)));
                }
                if let Some(slot) = self.attached.get_mut(*i) {
                    *slot = None;
                }
                effects.push(Effect::Detached { importer: *i });
            }
            Action::Map(i) => {
                let id = match self.id(*i) {
                    Ok(id) => id,
                    Err(r) => return Ok(Err(r)),
                };
                let platform = Platform::new(&self.machine);
                let mapped = match self.buffer.map(&platform, id) {
                    Ok(m) => m,
                    Err(e) => return Ok(Err(lifecycle(e))),
                };
                if let Some(change) = mapped.change {
                    effects.push(Effect::Renegotiated {
                        importer: *i,
                        change,
                    });
                }
                let addresses = self
                    .buffer
                    .mapping(&mapped.handle)
                    .map(Addresses::of)
                    .map_err(|e| internal(format!("a fresh mapping is not usable: {e}")))?;
                effects.push(Effect::Mapped {
                    importer: *i,
                    generation: mapped.handle.generation(),
                    addresses,
                });
            }
            Action::Unmap(i) | Action::Access(i) => {
                let id = match self.id(*i) {
                    Ok(id) => id,
                    Err(r) => return Ok(Err(r)),
                };
                let Some(handle) = self.buffer.attachment(id).and_then(|a| a.held()) else {
                    return Ok(Err(Refusal::NotMapped));
                };
                if matches!(action, Action::Access(_)) {
                    match self.buffer.mapping(&handle) {
                        Ok(m) => effects.push(Effect::Accessed {
                            importer: *i,
                            addresses: Addresses::of(m),
                        }),
                        Err(e) => return Ok(Err(Refusal::Access(e))),
                    }
                } else {
                    if let Err(e) = self.buffer.unmap(&handle) {
                        return Ok(Err(lifecycle(e)));
                    }
                    effects.push(Effect::Unmapped {
                        importer: *i,
                        generation: handle.generation(),
                    });
                }
            }
            Action::Pin(i) | Action::Unpin(i) => {
                let id = match self.id(*i) {
                    Ok(id) => id,
                    Err(r) => return Ok(Err(r)),
                };
                let pin = matches!(action, Action::Pin(_));
                let done = if pin {
                    self.buffer.pin(id)
                } else {
                    self.buffer.unpin(id)
                };
                if let Err(e) = done {
                    return Ok(Err(lifecycle(e)));
                }
                let pins = self.buffer.attachment(id).map_or(0, |a| a.pins());
                effects.push(if pin {
                    Effect::Pinned { importer: *i, pins }
                } else {
                    Effect::Unpinned { importer: *i, pins }
                });
            }
            Action::Move(p) => {
                let to = self
                    .bound
                    .placements
                    .get(*p)
                    .ok_or_else(|| internal("an event names a missing placement"))?
                    .placement;
                let platform = Platform::new(&self.machine);
                match self.buffer.move_to(&platform, &to) {
                    Ok(m) => self.migration(&m, &mut effects),
                    Err(e) => return Ok(Err(lifecycle(e))),
                }
            }
            Action::Revoke => match self.buffer.revoke() {
                Ok(r) => self.revoked(&r, &mut effects),
                Err(e) => return Ok(Err(lifecycle(e))),
            },
            Action::DeviceReset { device, .. } => {
                match self.buffer.device_reset(DeviceId::from(*device)) {
                    Ok(Reset::Revoked(r)) => self.revoked(&r, &mut effects),
                    Ok(Reset::Importers {
                        generation,
                        attachments,
                        invalidated,
                    }) => {
                        effects.push(Effect::ImporterReset {
                            importers: self.importers_of(&attachments),
                            generation,
                        });
                        if !invalidated.is_empty() {
                            effects.push(Effect::Invalidated {
                                importers: self.importers_of(&invalidated),
                                generation,
                            });
                        }
                    }
                    Ok(Reset::Unaffected) => effects.push(Effect::Unaffected),
                    Err(e) => return Ok(Err(lifecycle(e))),
                }
            }
            Action::Links { up, selection } => {
                let changed = self.links.set(&selection.links, *up);
                effects.push(Effect::Links {
                    links: changed.clone(),
                    up: *up,
                });
                if changed.is_empty() {
                    return Ok(Ok(effects));
                }
                self.machine = self.links.apply(self.original).map_err(internal)?;
                #[cfg(test)]
                if self.faults.forget_revalidation {
                    return Ok(Ok(effects));
                }
                let platform = Platform::new(&self.machine);
                let outcome = match self.buffer.revalidate(&platform) {
                    Ok(o) => o,
                    Err(e @ LifecycleError::Exhausted(_)) => return Ok(Err(lifecycle(e))),
                    Err(e) => return Err(internal(e)),
                };
                self.revalidation(&outcome, &mut effects);
            }
        }
        Ok(Ok(effects))
    }

    fn revalidation(&self, r: &Revalidation, effects: &mut Vec<Effect>) {
        if r.is_empty() {
            effects.push(Effect::Unaffected);
            return;
        }
        for x in &r.renegotiated {
            if let Some(importer) = self.importer_of(x.attachment) {
                effects.push(Effect::Renegotiated {
                    importer,
                    change: x.change,
                });
            }
        }
        for (id, agreed) in &r.recovered {
            if let Some(importer) = self.importer_of(*id) {
                effects.push(Effect::Recovered {
                    importer,
                    agreed: *agreed,
                });
            }
        }
        if let Some(m) = &r.migration {
            self.migration(m, effects);
            return;
        }
        for l in &r.lost {
            if let Some(importer) = self.importer_of(l.attachment) {
                effects.push(Effect::Lost {
                    importer,
                    reason: l.reason.clone(),
                });
            }
        }
        if let Some(why) = &r.no_migration {
            effects.push(Effect::NotMoved { why: why.clone() });
        }
        if let (false, Some(generation)) = (r.invalidated.is_empty(), r.generation) {
            effects.push(Effect::Invalidated {
                importers: self.importers_of(&r.invalidated),
                generation,
            });
        }
    }
}
