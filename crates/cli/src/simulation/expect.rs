//! Expectations: what a scenario says must hold after an event, checked against what the
//! simulation found. Each is compared as a word of the documented vocabulary (the same words
//! as the JSON output), so a failure reads `nic mapping: expected valid, found stale`.

use super::timeline::{ImporterState, Step};

/// What an expectation is about.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum What {
    /// The event's outcome: `ok` or `refused`.
    Outcome,
    /// Why it was refused (a reason code), or `none`.
    Reason,
    /// The buffer's placement, by name.
    Placement,
    /// The buffer's generation.
    Generation,
    /// Whether the buffer is revoked.
    Revoked,
    /// Whether anything pins the buffer.
    Pinned,
    /// Whether the importer is attached.
    Attached(usize),
    /// The importer's agreement: `current`, `outdated`, `lost`, `none`.
    Agreement(usize),
    /// The interconnect of the importer's (latest) agreement.
    Interconnect(usize),
    /// The route kind of the importer's (latest) agreement.
    Route(usize),
    /// The importer's mapping: `valid`, `stale`, `revoked`, `none`.
    Mapping(usize),
    /// The generation the importer's mapping was issued in.
    MappingGeneration(usize),
    /// The importer's explicit pins.
    Pins(usize),
}

/// One expectation of one event.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Expectation {
    /// `path:line:column` of the key in the scenario.
    pub at: String,
    /// What it is about.
    pub what: What,
    /// The expected word or number.
    pub expected: String,
}

/// An expectation checked.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Checked {
    /// `path:line:column` of the key in the scenario.
    pub at: String,
    /// What it is about, in words (`nic mapping`).
    pub subject: String,
    /// Expected.
    pub expected: String,
    /// Found.
    pub found: String,
    /// Whether they agree.
    pub met: bool,
}

impl Expectation {
    /// Checks this expectation against a step. `importers` and `placements` are the names.
    pub fn check(&self, step: &Step, importers: &[String], placements: &[String]) -> Checked {
        let name = |i: usize| importers.get(i).map_or("?", String::as_str);
        let state = |i: usize| step.importers.get(i);
        let (subject, found) = match self.what {
            What::Outcome => ("outcome".to_owned(), step.outcome_word().to_owned()),
            What::Reason => (
                "reason".to_owned(),
                step.refusal
                    .as_ref()
                    .map_or("none", |r| r.code())
                    .to_owned(),
            ),
            What::Placement => (
                "placement".to_owned(),
                placements
                    .get(step.buffer.placement)
                    .cloned()
                    .unwrap_or_default(),
            ),
            What::Generation => (
                "generation".to_owned(),
                step.buffer.generation.get().to_string(),
            ),
            What::Revoked => (
                "revoked".to_owned(),
                step.buffer.revoked.is_some().to_string(),
            ),
            What::Pinned => (
                "pinned".to_owned(),
                (!step.buffer.pinned_by.is_empty()).to_string(),
            ),
            What::Attached(i) => (
                format!("{} attached", name(i)),
                state(i).is_some_and(ImporterState::is_attached).to_string(),
            ),
            What::Agreement(i) => (
                format!("{} agreement", name(i)),
                state(i)
                    .map_or("none", ImporterState::agreement_word)
                    .to_owned(),
            ),
            What::Interconnect(i) => (
                format!("{} interconnect", name(i)),
                state(i)
                    .and_then(|s| s.agreement.as_ref())
                    .map_or("none", |a| a.latest().interconnect().name())
                    .to_owned(),
            ),
            What::Route(i) => (
                format!("{} route", name(i)),
                state(i)
                    .and_then(|s| s.agreement.as_ref())
                    .map_or("none", |a| {
                        crate::render::json::vocab::route_kind(a.latest().route().kind)
                    })
                    .to_owned(),
            ),
            What::Mapping(i) => (
                format!("{} mapping", name(i)),
                state(i)
                    .map_or("none", ImporterState::mapping_word)
                    .to_owned(),
            ),
            What::MappingGeneration(i) => (
                format!("{} mapping generation", name(i)),
                state(i).and_then(|s| s.mapping.as_ref()).map_or_else(
                    || "none".to_owned(),
                    |m| m.holding.handle.generation().get().to_string(),
                ),
            ),
            What::Pins(i) => (
                format!("{} pins", name(i)),
                state(i).map_or(0, |s| s.pins).to_string(),
            ),
        };
        Checked {
            at: self.at.clone(),
            met: found == self.expected,
            subject,
            expected: self.expected.clone(),
            found,
        }
    }
}
