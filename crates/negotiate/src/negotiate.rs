//! The N × M matcher: every exporter entry against every importer entry, ranked, then decided by
//! the exporter.
//!
//! 1. Every pair `(exporter[i], importer[j])` becomes a [`Candidate`], stored in list order
//!    (exporter order, then importer order). Pairs of the same interconnect type go through that
//!    type's match operation, which accepts with a [`Route`] or rejects with a [`Rejection`];
//!    pairs of different types are rejected without a match.
//! 2. The exporter may veto any accepted candidate ([`ExporterDecision::veto`]).
//! 3. The [`Policy`] ranks the accepted candidates; the best is tracked while the table is
//!    filled, so no sorting happens on the negotiation path. [`Ranked`] walks them in rank order
//!    on demand: with an order the caller provides ([`Negotiator::negotiate_ranked`]), sorted
//!    once in O(A log A) for A accepted candidates and walked in O(1) a step; without one, each
//!    step scans the table (O(N × M)), which is cheap for the short lists drivers exchange.
//! 4. The exporter picks one of them ([`ExporterDecision::pick`]; by default the policy's best),
//!    and the [`Agreement`] records what it chose and whether it overrode the policy.
//!
//! The caller provides the table's storage (`&mut [Candidate]` of at least N × M entries, e.g. an
//! array on the stack), and for a ranked negotiation the order's (`&mut [u32]`, as many):
//! negotiation never allocates, and never panics, whatever the offers.

use core::cmp::Ordering;
use core::fmt;

use crate::interconnect::{DMA_ADDR, Interconnect};
use crate::{ExporterOffer, Fabric, ImporterOffer, Quality, Rejection, Route};

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
// A fixed `u32` tag with aligned payloads: candidates are copied on the negotiation path, and
// the default layout's packed 7-byte payloads made each copy stall (measured: twice as slow).
#[repr(u32)]
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

    /// Pick one of the accepted candidates, walked best first in the policy's order by `ranked`.
    /// Return its position in that order. Default: the policy's choice, `0`.
    fn pick(&mut self, ranked: Ranked<'_>) -> usize {
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
    /// The accepted positions in rank order, when the negotiation was ranked.
    order: Option<&'t [u32]>,
    accepted: usize,
    best: usize,
    chosen: usize,
    route: Route,
    policy: Policy,
}

impl<'t> Agreement<'t> {
    /// The chosen candidate.
    pub fn chosen(&self) -> &'t Candidate {
        let table: &'t [Candidate] = self.table;
        // `chosen < table.len()` is established by `negotiate`; `get` keeps a panic path out of
        // kernel builds.
        table.get(self.chosen).unwrap_or(&Candidate::VACANT)
    }

    /// Every candidate, in list order: exporter order, then importer order.
    pub fn candidates(&self) -> &'t [Candidate] {
        self.table
    }

    /// The position of the chosen candidate in [`candidates`](Self::candidates).
    pub fn chosen_position(&self) -> usize {
        self.chosen
    }

    /// The accepted (not vetoed) candidates, best first in the policy's order.
    pub fn ranked(&self) -> Ranked<'t> {
        match self.order {
            Some(order) => Ranked::ordered(self.table, self.policy, order),
            None => Ranked::new(self.table, self.policy, self.best, self.accepted),
        }
    }

    /// The positions in [`candidates`](Self::candidates) of the accepted candidates, best
    /// first, when the negotiation was ranked ([`Negotiator::negotiate_ranked`]).
    pub fn ranked_positions(&self) -> Option<&'t [u32]> {
        self.order
    }

    /// The policy used for ranking.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// Whether the policy's first candidate was taken or the exporter chose another.
    pub fn chosen_by(&self) -> ChosenBy {
        if self.chosen == self.best {
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

/// The accepted candidates of a table, best first in a policy's order.
///
/// Nothing is allocated. Over an order ([`Negotiator::negotiate_ranked`]) each step costs O(1);
/// without one each step scans the table (O(N × M)), which suits the exporter's pick among a
/// few candidates, not a walk over thousands.
#[derive(Clone, Copy, Debug)]
pub struct Ranked<'t> {
    table: &'t [Candidate],
    policy: Policy,
    /// The accepted positions in rank order, and how many of them were walked.
    order: Option<(&'t [u32], usize)>,
    next: Option<usize>,
    remaining: usize,
}

impl<'t> Ranked<'t> {
    fn new(table: &'t [Candidate], policy: Policy, best: usize, accepted: usize) -> Self {
        Self {
            table,
            policy,
            order: None,
            next: (accepted > 0).then_some(best),
            remaining: accepted,
        }
    }

    fn ordered(table: &'t [Candidate], policy: Policy, order: &'t [u32]) -> Self {
        Self {
            table,
            policy,
            order: Some((order, 0)),
            next: None,
            remaining: order.len(),
        }
    }
}

impl<'t> Ranked<'t> {
    /// The table position of the next candidate in rank order.
    fn next_position(&mut self) -> Option<usize> {
        if let Some((order, walked)) = &mut self.order {
            let position = usize::try_from(*order.get(*walked)?).ok()?;
            *walked = walked.saturating_add(1);
            self.remaining = self.remaining.saturating_sub(1);
            return Some(position);
        }
        let position = self.next?;
        let current = self.table.get(position)?;
        self.remaining = self.remaining.saturating_sub(1);
        // The next one is the best of those ranked after the current one. An index loop over a
        // bounded range: iterator adaptors (`enumerate`, `zip`) keep overflow-checked counters,
        // which a kernel build (overflow checks on) would keep as a panic path.
        let policy = self.policy;
        let mut next: Option<usize> = None;
        for k in 0..self.table.len() {
            let Some(c) = self.table.get(k) else { break };
            if !c.is_accepted() || rank(policy, c, current) != Ordering::Greater {
                continue;
            }
            let better = match next.and_then(|n| self.table.get(n)) {
                None => true,
                Some(best) => rank(policy, c, best) == Ordering::Less,
            };
            if better {
                next = Some(k);
            }
        }
        self.next = next;
        Some(position)
    }
}

impl<'t> Iterator for Ranked<'t> {
    type Item = &'t Candidate;

    fn next(&mut self) -> Option<&'t Candidate> {
        let table: &'t [Candidate] = self.table;
        table.get(self.next_position()?)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for Ranked<'_> {}

/// Why a negotiation produced no agreement.
#[derive(Clone, Copy, Debug)]
pub enum NegotiationError<'t> {
    /// No pair was accepted (or the exporter vetoed all). The table says why for each pair.
    NoCommonInterconnect {
        /// Every candidate with its rejection, in exporter order, then importer order.
        table: &'t [Candidate],
    },
    /// The table storage (or the order's, for a ranked negotiation) cannot hold N × M entries.
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
    pub fn negotiate_with<'t, D: ExporterDecision + ?Sized>(
        &self,
        exporter: &[ExporterOffer<'_>],
        importer: &[ImporterOffer<'_>],
        decision: &mut D,
        table: &'t mut [Candidate],
    ) -> Result<Agreement<'t>, NegotiationError<'t>> {
        let (table, accepted, best) = self.fill(exporter, importer, decision, table)?;
        let position = decision.pick(Ranked::new(table, self.policy, best, accepted));
        let chosen = if position == 0 {
            Some(best)
        } else {
            let mut ranked = Ranked::new(table, self.policy, best, accepted);
            (0..=position)
                .map(|_| ranked.next_position())
                .last()
                .flatten()
        };
        self.agreement(table, None, accepted, best, chosen, position)
    }

    /// Negotiates as [`negotiate_with`](Self::negotiate_with), and ranks the accepted
    /// candidates into `order` (storage for at least N × M positions, like the table's): one
    /// sort, O(A log A) for A accepted candidates, without allocating. The exporter's pick and
    /// [`Agreement::ranked`] then walk that order in O(1) a step, so that even lists of
    /// thousands of entries are ranked and explained in O(N·M·log(N·M)).
    pub fn negotiate_ranked<'t, D: ExporterDecision + ?Sized>(
        &self,
        exporter: &[ExporterOffer<'_>],
        importer: &[ImporterOffer<'_>],
        decision: &mut D,
        table: &'t mut [Candidate],
        order: &'t mut [u32],
    ) -> Result<Agreement<'t>, NegotiationError<'t>> {
        let needed = exporter.len().saturating_mul(importer.len());
        if order.len() < needed {
            return Err(NegotiationError::TableTooSmall {
                needed,
                capacity: order.len(),
            });
        }
        let (table, accepted, best) = self.fill(exporter, importer, decision, table)?;
        // The accepted positions in list order (exporter, then importer), which is the order
        // of ties; positions fit: N × M < 2^32 for lists of at most 65 535 entries.
        let mut n = 0usize;
        for (k, c) in table.iter().enumerate() {
            if let (true, Ok(k), Some(slot)) = (c.is_accepted(), u32::try_from(k), order.get_mut(n))
            {
                *slot = k;
                n += 1;
            }
        }
        let order: &'t mut [u32] = order.get_mut(..n).unwrap_or_default();
        if self.policy == Policy::BestRoute {
            let quality = |k: u32| {
                usize::try_from(k)
                    .ok()
                    .and_then(|k| table.get(k))
                    .and_then(|c| c.verdict.accepted_route())
                    .map(Route::quality)
            };
            // Higher quality first, then list order (positions are distinct: a total order).
            heapsort(order, |a, b| {
                quality(a) > quality(b) || (quality(a) == quality(b) && a < b)
            });
        }
        let order: &'t [u32] = order;
        let position = decision.pick(Ranked::ordered(table, self.policy, order));
        let chosen = order.get(position).and_then(|&k| usize::try_from(k).ok());
        self.agreement(table, Some(order), accepted, best, chosen, position)
    }

    /// Fills the table in list order, asking `decision` to veto accepted candidates, and
    /// keeps the policy's best: the filled table, how many were accepted, and the best's
    /// position.
    fn fill<'t, D: ExporterDecision + ?Sized>(
        &self,
        exporter: &[ExporterOffer<'_>],
        importer: &[ImporterOffer<'_>],
        decision: &mut D,
        table: &'t mut [Candidate],
    ) -> Result<(&'t [Candidate], usize, usize), NegotiationError<'t>> {
        if exporter.len() > usize::from(u16::MAX) || importer.len() > usize::from(u16::MAX) {
            return Err(NegotiationError::TooManyOffers);
        }
        let needed = exporter.len().saturating_mul(importer.len());
        let capacity = table.len();
        let Some(table) = table.get_mut(..needed) else {
            return Err(NegotiationError::TableTooSmall { needed, capacity });
        };

        // One pass in list order: fill the table and keep the policy's best so far. Ties keep
        // the earlier candidate, which is the one first in exporter, then importer order.
        let policy = self.policy;
        let mut accepted = 0usize;
        let mut best: Option<(usize, Quality)> = None;
        // Bounded ranges, not `enumerate()` or `0u16..`, whose counters are overflow-checked:
        // a kernel build (overflow checks on) would keep that as a panic path.
        let mut slots = (0..needed).zip(table.iter_mut());
        // `0..u16::MAX` gives exactly the 65 535 indices a list may have; an inclusive range
        // would do too, but its end check costs a third of a 4 × 4 negotiation.
        for (ei, e) in (0..u16::MAX).zip(exporter) {
            for (ii, i) in (0..u16::MAX).zip(importer) {
                let Some((k, slot)) = slots.next() else {
                    break;
                };
                let verdict = if e.interconnect().is(i.interconnect()) {
                    match e.interconnect().matches(self.fabric, e.args(), i.args()) {
                        Ok(route) => Verdict::Accepted(route),
                        Err(rejection) => Verdict::Rejected(rejection),
                    }
                } else {
                    Verdict::Rejected(Rejection::DifferentInterconnects {
                        exporter: e.interconnect(),
                        importer: i.interconnect(),
                    })
                };
                *slot = Candidate {
                    exporter_index: ei,
                    importer_index: ii,
                    interconnect: e.interconnect(),
                    verdict,
                };
                if let Verdict::Accepted(route) = slot.verdict {
                    if let Some(reason) = decision.veto(slot) {
                        slot.verdict = Verdict::Vetoed { route, reason };
                        continue;
                    }
                    // At most one per table slot: it cannot saturate.
                    accepted = accepted.saturating_add(1);
                    let quality = route.quality();
                    let better = match (policy, best) {
                        (_, None) => true,
                        (Policy::BestRoute, Some((_, q))) => quality > q,
                        (Policy::ExporterPriority, Some(_)) => false,
                    };
                    if better {
                        best = Some((k, quality));
                    }
                }
            }
        }
        let table: &'t [Candidate] = table;
        match best {
            Some((best, _)) => Ok((table, accepted, best)),
            None => Err(NegotiationError::NoCommonInterconnect { table }),
        }
    }

    /// The agreement on the candidate at `chosen`, which the exporter picked as `position`.
    fn agreement<'t>(
        &self,
        table: &'t [Candidate],
        order: Option<&'t [u32]>,
        accepted: usize,
        best: usize,
        chosen: Option<usize>,
        position: usize,
    ) -> Result<Agreement<'t>, NegotiationError<'t>> {
        let Some((chosen, Verdict::Accepted(route))) =
            chosen.and_then(|k| Some((k, table.get(k)?.verdict)))
        else {
            return Err(NegotiationError::InvalidPick {
                picked: position,
                accepted,
            });
        };
        Ok(Agreement {
            table,
            order,
            accepted,
            best,
            chosen,
            route,
            policy: self.policy,
        })
    }
}

/// Sorts `v` in place so that `before(a, b)` holds for every earlier `a` and later `b`:
/// heapsort, O(n log n), without allocating. Not `sort_unstable_by`: core's sort keeps
/// overflow-checked arithmetic, which a kernel build (overflow checks on) would keep as panic
/// paths; here every index is checked and every step saturates.
fn heapsort(v: &mut [u32], before: impl Fn(u32, u32) -> bool) {
    let at = |v: &[u32], i: usize| v.get(i).copied().unwrap_or(0);
    let swap = |v: &mut [u32], i: usize, j: usize| {
        let (a, b) = (at(v, i), at(v, j));
        if let Some(x) = v.get_mut(i) {
            *x = b;
        }
        if let Some(y) = v.get_mut(j) {
            *y = a;
        }
    };
    // Moves v[root] down the heap v[..end], whose parents come after their children in the
    // final order (a heap on "comes last").
    let sift = |v: &mut [u32], mut root: usize, end: usize| loop {
        let left = root.saturating_mul(2).saturating_add(1);
        if left >= end {
            return;
        }
        let right = left.saturating_add(1);
        let child = if right < end && before(at(v, left), at(v, right)) {
            right
        } else {
            left
        };
        if !before(at(v, root), at(v, child)) {
            return;
        }
        swap(v, root, child);
        root = child;
    };
    let n = v.len();
    for root in (0..n / 2).rev() {
        sift(v, root, n);
    }
    for end in (1..n).rev() {
        swap(v, 0, end);
        sift(v, 0, end);
    }
}

/// The rank order of two accepted candidates under `policy` (`Less` = better). `BestRoute`:
/// higher quality first, then exporter order, then importer order. `ExporterPriority`: exporter
/// order, then importer order. Unique for distinct pairs, so the order is total.
fn rank(policy: Policy, a: &Candidate, b: &Candidate) -> Ordering {
    let by_order = a
        .exporter_index
        .cmp(&b.exporter_index)
        .then(a.importer_index.cmp(&b.importer_index));
    match policy {
        Policy::ExporterPriority => by_order,
        Policy::BestRoute => {
            let quality = |c: &Candidate| c.verdict.accepted_route().map(Route::quality);
            quality(b).cmp(&quality(a)).then(by_order)
        }
    }
}
