//! The N × M matcher: every exporter entry against every importer entry, ranked, then decided by
//! the exporter.
//!
//! 1. Every pair `(exporter[i], importer[j])` becomes a [`Candidate`]. Pairs of the same
//!    interconnect type go through that type's match operation, which accepts with a [`Route`] or
//!    rejects with a [`Rejection`]; pairs of different types are rejected without a match.
//! 2. The exporter may veto any accepted candidate ([`ExporterDecision::veto`]).
//! 3. The table is sorted: accepted candidates first, in the [`Policy`]'s order, then vetoed and
//!    rejected ones in exporter order, then importer order.
//! 4. The exporter picks among the accepted ones ([`ExporterDecision::pick`]; by default the
//!    policy's first), and the [`Agreement`] records what it chose and whether it overrode the
//!    policy.
//!
//! The caller provides the table's storage (`&mut [Candidate]` of at least N × M entries, e.g. an
//! array on the stack): negotiation never allocates, and never panics, whatever the offers.

use core::cmp::Ordering;
use core::fmt;

use crate::interconnect::{DMA_ADDR, Interconnect};
use crate::{ExporterOffer, Fabric, ImporterOffer, Rejection, Route};

/// How accepted candidates are ranked.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum Policy {
    /// The 2026 RFC's rule: walk the exporter's list in order; the first importer entry (in
    /// importer order) that matches wins. Route quality is computed and shown but does not rank.
    ExporterPriority,
    /// Highest [`Quality`](crate::Quality) of route wins; ties are broken by exporter order, then
    /// importer order.
    #[default]
    BestRoute,
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Policy::ExporterPriority => "exporter-priority",
            Policy::BestRoute => "best-route",
        })
    }
}

/// The outcome of one pair.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Verdict {
    /// The match operation accepted, with this route.
    Accepted(Route),
    /// The match operation accepted, but the exporter vetoed it.
    Vetoed {
        /// The route the pair would have used.
        route: Route,
        /// The exporter's reason.
        reason: &'static str,
    },
    /// The match operation rejected the pair (or their types differ).
    Rejected(Rejection),
}

impl Verdict {
    /// The route, if the pair was accepted and not vetoed.
    pub const fn accepted_route(&self) -> Option<&Route> {
        match self {
            Verdict::Accepted(route) => Some(route),
            _ => None,
        }
    }
}

/// One exporter × importer pair and its verdict.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Candidate {
    /// Position of the entry in the exporter's list.
    pub exporter_index: u16,
    /// Position of the entry in the importer's list.
    pub importer_index: u16,
    /// The exporter entry's interconnect type.
    pub interconnect: &'static Interconnect,
    /// The outcome.
    pub verdict: Verdict,
}

impl Candidate {
    /// A filler value for table storage (`[Candidate::VACANT; N]`); every slot the negotiation
    /// uses is overwritten.
    pub const VACANT: Candidate = Candidate {
        exporter_index: 0,
        importer_index: 0,
        interconnect: &DMA_ADDR,
        verdict: Verdict::Rejected(Rejection::MalformedOffer {
            expected: "a negotiated candidate (this slot was never filled)",
        }),
    };

    /// Whether the pair was accepted and not vetoed.
    pub const fn is_accepted(&self) -> bool {
        matches!(self.verdict, Verdict::Accepted(_))
    }
}

/// The exporter's final say.
///
/// The kernel lets the exporter decide in its attach; here it sees every accepted candidate
/// (veto) and the ranked survivors (pick).
pub trait ExporterDecision {
    /// Return a reason to veto an accepted candidate. Default: veto nothing.
    fn veto(&mut self, candidate: &Candidate) -> Option<&'static str> {
        let _ = candidate;
        None
    }

    /// Pick one of the accepted candidates, given best first in the policy's order. Return its
    /// position in `ranked`. Default: the policy's choice, `0`.
    fn pick(&mut self, ranked: &[Candidate]) -> usize {
        let _ = ranked;
        0
    }
}

/// An exporter that follows the policy: vetoes nothing, picks the policy's first.
#[derive(Clone, Copy, Debug, Default)]
pub struct FollowPolicy;

impl ExporterDecision for FollowPolicy {}

/// Who made the final choice.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ChosenBy {
    /// The policy's first candidate was taken.
    Policy,
    /// The exporter picked a candidate other than the policy's first.
    Exporter,
}

/// A successful negotiation: the chosen pair and the full candidate table.
#[derive(Clone, Copy, Debug)]
pub struct Agreement<'t> {
    table: &'t [Candidate],
    accepted: usize,
    chosen: usize,
    route: Route,
    policy: Policy,
}

impl<'t> Agreement<'t> {
    /// The chosen candidate.
    pub fn chosen(&self) -> &'t Candidate {
        let table: &'t [Candidate] = self.table;
        // `chosen < accepted <= table.len()` is established by `negotiate`.
        &table[self.chosen]
    }

    /// Every candidate: accepted ones best first in the policy's order, then vetoed and rejected
    /// ones in exporter order, then importer order.
    pub fn candidates(&self) -> &'t [Candidate] {
        self.table
    }

    /// The accepted candidates, best first.
    pub fn accepted(&self) -> &'t [Candidate] {
        let table: &'t [Candidate] = self.table;
        &table[..self.accepted]
    }

    /// The policy used for ranking.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// Whether the policy's first candidate was taken or the exporter chose another.
    pub fn chosen_by(&self) -> ChosenBy {
        if self.chosen == 0 {
            ChosenBy::Policy
        } else {
            ChosenBy::Exporter
        }
    }

    /// The chosen route.
    pub fn route(&self) -> Route {
        self.route
    }
}

/// Why a negotiation produced no agreement.
#[derive(Clone, Copy, Debug)]
pub enum NegotiationError<'t> {
    /// No pair was accepted (or the exporter vetoed all). The table says why for each pair.
    NoCommonInterconnect {
        /// Every candidate with its rejection, in exporter order, then importer order.
        table: &'t [Candidate],
    },
    /// The table storage cannot hold N × M candidates.
    TableTooSmall {
        /// N × M.
        needed: usize,
        /// What was provided.
        capacity: usize,
    },
    /// A list is longer than 65 535 entries.
    TooManyOffers,
    /// The exporter picked a position outside the accepted candidates.
    InvalidPick {
        /// The position it returned.
        picked: usize,
        /// How many candidates were accepted.
        accepted: usize,
    },
}

impl fmt::Display for NegotiationError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NegotiationError::NoCommonInterconnect { table } => {
                write!(
                    f,
                    "no common interconnect among {} candidate pairs",
                    table.len()
                )
            }
            NegotiationError::TableTooSmall { needed, capacity } => write!(
                f,
                "candidate table holds {capacity} entries but {needed} are needed"
            ),
            NegotiationError::TooManyOffers => {
                f.write_str("an offer list has more than 65535 entries")
            }
            NegotiationError::InvalidPick { picked, accepted } => write!(
                f,
                "the exporter picked candidate {picked} of {accepted} accepted ones"
            ),
        }
    }
}

impl core::error::Error for NegotiationError<'_> {}

/// Runs negotiations against one fabric with one policy.
#[derive(Clone, Copy)]
pub struct Negotiator<'f> {
    fabric: &'f dyn Fabric,
    policy: Policy,
}

impl fmt::Debug for Negotiator<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Negotiator")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl<'f> Negotiator<'f> {
    /// A negotiator asking `fabric`, with the default policy ([`Policy::BestRoute`]).
    pub fn new(fabric: &'f dyn Fabric) -> Self {
        Self {
            fabric,
            policy: Policy::default(),
        }
    }

    /// The same negotiator with another policy.
    pub fn with_policy(self, policy: Policy) -> Self {
        Self { policy, ..self }
    }

    /// The policy in use.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// Negotiates with an exporter that follows the policy.
    pub fn negotiate<'t>(
        &self,
        exporter: &[ExporterOffer<'_>],
        importer: &[ImporterOffer<'_>],
        table: &'t mut [Candidate],
    ) -> Result<Agreement<'t>, NegotiationError<'t>> {
        self.negotiate_with(exporter, importer, &mut FollowPolicy, table)
    }

    /// Negotiates, letting `decision` veto candidates and make the final pick.
    pub fn negotiate_with<'t>(
        &self,
        exporter: &[ExporterOffer<'_>],
        importer: &[ImporterOffer<'_>],
        decision: &mut dyn ExporterDecision,
        table: &'t mut [Candidate],
    ) -> Result<Agreement<'t>, NegotiationError<'t>> {
        if exporter.len() > usize::from(u16::MAX) || importer.len() > usize::from(u16::MAX) {
            return Err(NegotiationError::TooManyOffers);
        }
        let needed = exporter.len().saturating_mul(importer.len());
        let capacity = table.len();
        let Some(table) = table.get_mut(..needed) else {
            return Err(NegotiationError::TableTooSmall { needed, capacity });
        };

        let mut slots = table.iter_mut();
        let mut accepted = 0usize;
        for (ei, e) in (0u16..).zip(exporter) {
            for (ii, i) in (0u16..).zip(importer) {
                let verdict = if e.interconnect().is(i.interconnect()) {
                    match e.interconnect().matches(self.fabric, e.args(), i.args()) {
                        Ok(route) => Verdict::Accepted(route),
                        Err(rejection) => Verdict::Rejected(rejection),
                    }
                } else {
                    Verdict::Rejected(Rejection::DifferentInterconnects {
                        exporter: e.interconnect().name(),
                        importer: i.interconnect().name(),
                    })
                };
                let mut candidate = Candidate {
                    exporter_index: ei,
                    importer_index: ii,
                    interconnect: e.interconnect(),
                    verdict,
                };
                if let Verdict::Accepted(route) = candidate.verdict {
                    match decision.veto(&candidate) {
                        Some(reason) => candidate.verdict = Verdict::Vetoed { route, reason },
                        None => accepted += 1,
                    }
                }
                if let Some(slot) = slots.next() {
                    *slot = candidate;
                }
            }
        }

        let policy = self.policy;
        table.sort_unstable_by(|a, b| rank(policy, a, b));
        let table: &'t [Candidate] = table;
        if accepted == 0 {
            return Err(NegotiationError::NoCommonInterconnect { table });
        }
        let chosen = decision.pick(&table[..accepted]);
        let route = match table[..accepted].get(chosen).map(|c| c.verdict) {
            Some(Verdict::Accepted(route)) => route,
            _ => {
                return Err(NegotiationError::InvalidPick {
                    picked: chosen,
                    accepted,
                });
            }
        };
        Ok(Agreement {
            table,
            accepted,
            chosen,
            route,
            policy,
        })
    }
}

/// The table order: accepted first, ranked by the policy; then everything else in list order.
fn rank(policy: Policy, a: &Candidate, b: &Candidate) -> Ordering {
    let by_order = |a: &Candidate, b: &Candidate| {
        a.exporter_index
            .cmp(&b.exporter_index)
            .then(a.importer_index.cmp(&b.importer_index))
    };
    match (a.verdict.accepted_route(), b.verdict.accepted_route()) {
        (Some(ra), Some(rb)) => match policy {
            Policy::BestRoute => rb.quality().cmp(&ra.quality()).then(by_order(a, b)),
            Policy::ExporterPriority => by_order(a, b),
        },
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => by_order(a, b),
    }
}
