//! Negotiating one attachment for one placement, and telling what changed.
//!
//! The lifecycle negotiates through the ordinary [`Negotiator`]: the exporter's list is derived
//! from the placement ([`PlacementOption::exporter_offers`]), the importer's list is what it gave
//! at attach. The result is kept as an [`Agreed`]: the chosen pair, its route, and the placement
//! it was negotiated for. After a move the agreement no longer fits, and the next map negotiates
//! again; the [`Change`] it reports says what changed (old → new interconnect and route). When
//! nothing fits, [`Unreachable`] keeps the full candidate table so the reason can be shown.

use core::fmt;

use crate::interconnect::Interconnect;
use crate::storage::FallibleVec;
use crate::{
    Candidate, Describe, ExporterPolicy, Importer, Names, NegotiationError, Negotiator, Offering,
    OpaqueNames, OutOfMemory, Placement, PlacementOption, Platform, Rejection, Route, StoredOffer,
    Vec, Verdict,
};

/// The interconnect an attachment agreed on, for one placement.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Agreed {
    placement: Placement,
    offering: Offering,
    interconnect: &'static Interconnect,
    importer_offer: StoredOffer,
    exporter_index: u16,
    importer_index: u16,
    route: Route,
}

impl Agreed {
    /// The placement it was negotiated for.
    pub fn placement(&self) -> &Placement {
        &self.placement
    }

    /// The exporter's offering that was chosen.
    pub fn offering(&self) -> Offering {
        self.offering
    }

    /// The interconnect type.
    pub fn interconnect(&self) -> &'static Interconnect {
        self.interconnect
    }

    /// The importer's entry that was chosen.
    pub fn importer_offer(&self) -> &StoredOffer {
        &self.importer_offer
    }

    /// Position of the chosen entry in the exporter's list for the placement.
    pub fn exporter_index(&self) -> u16 {
        self.exporter_index
    }

    /// Position of the chosen entry in the importer's list.
    pub fn importer_index(&self) -> u16 {
        self.importer_index
    }

    /// The route the traffic takes.
    pub fn route(&self) -> &Route {
        &self.route
    }

    /// Runs the chosen pair's match operation again on the machine as it is now: the route it
    /// would take, or why it no longer matches. Pure; allocates nothing.
    pub fn recheck(&self, platform: &Platform<'_>) -> Result<Route, Rejection> {
        let Some(exporter) = self.offering.offer(&self.placement) else {
            return Err(Rejection::MalformedOffer {
                expected: "an offering that fits its placement",
            });
        };
        let importer = self.importer_offer.offer();
        self.interconnect
            .matches(platform.fabric(), exporter.args(), importer.args())
    }

    /// Whether the chosen pair still matches, by the same route.
    pub fn still_holds(&self, platform: &Platform<'_>) -> bool {
        self.recheck(platform) == Ok(self.route)
    }
}

impl Describe for Agreed {
    fn describe(&self, f: &mut fmt::Formatter<'_>, names: &dyn Names) -> fmt::Result {
        write!(f, "{} over {}", self.interconnect, self.route.named(names))
    }
}

impl fmt::Display for Agreed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.describe(f, &OpaqueNames)
    }
}

#[cfg(test)]
impl Agreed {
    /// The same agreement with another importer entry: for tests that tamper with state.
    pub(crate) fn forge_importer(agreed: &Agreed, importer_offer: StoredOffer) -> Agreed {
        Agreed {
            importer_offer,
            ..*agreed
        }
    }
}

/// No interconnect reaches a placement: the full candidate table says why for each pair.
#[derive(PartialEq, Eq, Debug)]
#[cfg_attr(feature = "alloc", derive(Clone))]
pub struct Unreachable {
    placement: Placement,
    candidates: Vec<Candidate>,
}

impl Unreachable {
    /// Why `placement` is unreachable, with a copy of the candidate table.
    fn new(placement: Placement, candidates: &[Candidate]) -> Result<Self, OutOfMemory> {
        Ok(Self {
            placement,
            candidates: Vec::try_from_slice(candidates)?,
        })
    }

    /// A copy, for the lifecycle (which cannot rely on `Clone`: see storage.rs).
    pub(crate) fn try_clone(&self) -> Result<Self, OutOfMemory> {
        Self::new(self.placement, &self.candidates)
    }

    /// The placement that could not be reached.
    pub fn placement(&self) -> &Placement {
        &self.placement
    }

    /// Every candidate pair with its rejection (exporter order, then importer order).
    pub fn candidates(&self) -> &[Candidate] {
        &self.candidates
    }

    /// The rejections of pairs of the same interconnect type: the reasons worth reading.
    pub fn reasons(&self) -> impl Iterator<Item = (&'static Interconnect, &Rejection)> + '_ {
        self.candidates.iter().filter_map(|c| match &c.verdict {
            Verdict::Rejected(Rejection::DifferentInterconnects { .. }) => None,
            Verdict::Rejected(r) => Some((c.interconnect, r)),
            _ => None,
        })
    }
}

impl Describe for Unreachable {
    fn describe(&self, f: &mut fmt::Formatter<'_>, names: &dyn Names) -> fmt::Result {
        write!(
            f,
            "no common interconnect reaches {}",
            self.placement.named(names)
        )?;
        let mut reasons = self.reasons().peekable();
        if reasons.peek().is_none() {
            return f.write_str(" (no offer of the same interconnect type on both sides)");
        }
        let mut sep = ": ";
        for (interconnect, why) in reasons {
            write!(f, "{sep}{interconnect}: {why}", why = why.named(names))?;
            sep = "; ";
        }
        Ok(())
    }
}

impl fmt::Display for Unreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.describe(f, &OpaqueNames)
    }
}

/// What a renegotiation changed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Change {
    /// The agreement before (for an earlier placement, or over a route that is gone).
    pub from: Agreed,
    /// The agreement now.
    pub to: Agreed,
}

impl Change {
    /// Whether the interconnect type changed.
    pub fn interconnect_changed(&self) -> bool {
        !self.from.interconnect.is(self.to.interconnect)
    }

    /// Whether the route changed.
    pub fn route_changed(&self) -> bool {
        self.from.route != self.to.route
    }
}

impl Describe for Change {
    fn describe(&self, f: &mut fmt::Formatter<'_>, names: &dyn Names) -> fmt::Result {
        write!(f, "{} → {}", self.from.named(names), self.to.named(names))
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.describe(f, &OpaqueNames)
    }
}

/// Negotiates `importer` against what the exporter offers at `option`: the agreement, or why
/// nothing reaches the placement. The outer error is an allocation failure (of the lists, the
/// candidate table, or the copy of it an [`Unreachable`] keeps), never a verdict.
pub(crate) fn negotiate_at(
    platform: &Platform<'_>,
    policy: &ExporterPolicy,
    option: &PlacementOption,
    importer: &Importer,
) -> Result<Result<Agreed, Unreachable>, OutOfMemory> {
    let placement = *option.placement();
    // Offerings are validated to fit their placement, so the two lists line up; keep them
    // paired anyway rather than trust it.
    let mut offerings = Vec::try_with_room(option.offerings().len())?;
    let mut exporter = Vec::try_with_room(option.offerings().len())?;
    for &o in option.offerings() {
        if let Some(offer) = o.offer(&placement) {
            offerings.try_push(o)?;
            exporter.try_push(offer)?;
        }
    }
    let importer_offers = importer.negotiation_offers()?;
    let cells = exporter.len().saturating_mul(importer_offers.len());
    let mut table = Vec::try_from_iter(core::iter::repeat_n(Candidate::VACANT, cells))?;
    let agreement = match Negotiator::new(platform.fabric())
        .with_policy(policy.negotiation_policy())
        .negotiate(&exporter, &importer_offers, &mut table)
    {
        Ok(agreement) => agreement,
        Err(NegotiationError::NoCommonInterconnect { table }) => {
            return Ok(Err(Unreachable::new(placement, table)?));
        }
        // The table is sized for the lists, the lists are bounded, and the exporter follows the
        // policy: these cannot happen, and if they did, nothing would be reachable.
        Err(_) => return Ok(Err(Unreachable::new(placement, &[])?)),
    };
    let chosen = agreement.chosen();
    let (Some(&offering), Some(&importer_offer)) = (
        offerings.get(usize::from(chosen.exporter_index)),
        importer.offers().get(usize::from(chosen.importer_index)),
    ) else {
        return Ok(Err(Unreachable::new(placement, agreement.candidates())?));
    };
    Ok(Ok(Agreed {
        placement,
        offering,
        interconnect: chosen.interconnect,
        importer_offer,
        exporter_index: chosen.exporter_index,
        importer_index: chosen.importer_index,
        route: agreement.route(),
    }))
}
