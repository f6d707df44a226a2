//! `dmabuf-ic negotiate SCENARIO.toml`: one negotiation on a real machine, with the full
//! candidate table.

use std::path::PathBuf;

use dmabuf_negotiate::{
    Candidate, ChosenBy, FollowPolicy, NegotiationError, Negotiator, Policy, Refusal, Rejection,
    RouteKind, Verdict,
};
use pci_topology::{Bdf, Machine, MapType};

use crate::cli::NegotiateArgs;
use crate::commands::Outcome;
use crate::core_names::MachineNames;
use crate::error::{CliError, Exit};
use crate::limits::MAX_CANDIDATES;
use crate::output::OutputFormat;
use crate::render;
use crate::scenario::{Bound, MemorySpec, Scenario};
use crate::scenario_file::load_machine;
use crate::source::MachineSource;

/// The answer.
#[derive(Debug)]
pub struct Report {
    /// The scenario file.
    pub scenario: PathBuf,
    /// Its description.
    pub description: Option<String>,
    /// The machine's source (the scenario's, or the command line's).
    pub source: MachineSource,
    /// The policy.
    pub policy: Policy,
    /// The offers.
    pub bound: Bound,
    /// Every candidate, in exporter order, then importer order.
    pub candidates: Vec<Candidate>,
    /// Position of the chosen candidate in `candidates`, if any was agreed.
    pub chosen: Option<usize>,
    /// Per candidate: its rank among the accepted ones (1 = best), if it was accepted.
    pub ranks: Vec<Option<u32>>,
    /// Who made the final choice.
    pub chosen_by: Option<ChosenBy>,
    /// Per candidate: for a PCI route (or refusal) whose verdict assumed unknown ACS states
    /// off and would differ were they on, the map type it would then be.
    pub acs_caveats: Vec<Option<MapType>>,
}

/// The PCI provider and client of a candidate whose outcome is a PCI P2P route or a PCI P2P
/// refusal: the exporter's device memory (or BAR) and the importer's device.
pub fn pci_pair(bound: &Bound, c: &Candidate) -> Option<(Bdf, Bdf)> {
    let pci = match &c.verdict {
        Verdict::Accepted(r) | Verdict::Vetoed { route: r, .. } => matches!(
            r.kind,
            RouteKind::PciBusAddr { .. } | RouteKind::PciThroughHostBridge { .. }
        ),
        Verdict::Rejected(Rejection::Refused(Refusal::PciP2pNotSupported { .. })) => true,
        Verdict::Rejected(_) => false,
    };
    if !pci {
        return None;
    }
    let e = bound.exporter_specs.get(usize::from(c.exporter_index))?;
    let i = bound.importer_specs.get(usize::from(c.importer_index))?;
    let provider = match &e.memory {
        Some(MemorySpec::Device(d)) => Some(*d),
        _ => e.device,
    }?;
    Some((provider, i.device?))
}

impl Report {
    /// Names for the core's messages: bus ids on `m`, and the fabric names the scenario used.
    pub fn names<'a>(&'a self, m: &'a Machine) -> MachineNames<'a> {
        MachineNames::new(m).with_fabrics(&self.bound.fabrics)
    }

    /// The rank (1 = best) of a candidate, if it was accepted.
    pub fn rank_of(&self, position: usize) -> Option<usize> {
        self.ranks
            .get(position)
            .copied()
            .flatten()
            .and_then(|r| usize::try_from(r).ok())
    }

    /// The chosen candidate.
    pub fn chosen_candidate(&self) -> Option<&Candidate> {
        self.chosen.and_then(|c| self.candidates.get(c))
    }
}

/// Negotiates a bound scenario on a machine.
pub fn negotiate(
    m: &Machine,
    scenario: &Scenario,
    source: MachineSource,
    bound: Bound,
) -> Result<Report, CliError> {
    let (e, i) = (bound.exporter.len(), bound.importer.len());
    let n = e.saturating_mul(i);
    if n > MAX_CANDIDATES {
        return Err(CliError::input(format!(
            "{}: {e} exporter × {i} importer offers make {n} candidate pairs; at most \
             {MAX_CANDIDATES} are negotiated (docs/cli.md, Limits)",
            scenario.path.display()
        )));
    }
    // The table and the order are the report's: nothing is copied out of them.
    let mut candidates = vec![Candidate::VACANT; n];
    let mut order = vec![0u32; n];
    let negotiator = Negotiator::new(m).with_policy(scenario.policy);
    let outcome = negotiator.negotiate_ranked(
        &bound.exporter,
        &bound.importer,
        &mut FollowPolicy,
        &mut candidates,
        &mut order,
    );
    let (chosen, accepted, chosen_by) = match outcome {
        Ok(a) => (
            Some(a.chosen_position()),
            a.ranked_positions().map_or(0, <[u32]>::len),
            Some(a.chosen_by()),
        ),
        Err(NegotiationError::NoCommonInterconnect { .. }) => (None, 0, None),
        Err(NegotiationError::TooManyOffers) => {
            return Err(CliError::input(format!(
                "{}: an offer list has more than 65535 entries",
                scenario.path.display()
            )));
        }
        Err(e) => return Err(CliError::internal(format!("negotiation failed: {e}"))),
    };
    let mut ranks = vec![None; n];
    for (rank, &k) in (1u32..).zip(order.iter().take(accepted)) {
        if let Some(slot) = usize::try_from(k).ok().and_then(|k| ranks.get_mut(k)) {
            *slot = Some(rank);
        }
    }
    let acs_caveats = candidates
        .iter()
        .map(|c| {
            let (p, cl) = pci_pair(&bound, c)?;
            let v = m.p2p_fast(m.find(p)?, m.find(cl)?)?;
            (!v.acs_known() && v.map_type_if_acs_on() != v.map_type())
                .then(|| v.map_type_if_acs_on())
        })
        .collect();
    Ok(Report {
        acs_caveats,
        scenario: scenario.path.clone(),
        description: scenario.description.clone(),
        source,
        policy: scenario.policy,
        bound,
        candidates,
        chosen,
        ranks,
        chosen_by,
    })
}

/// A negotiation's report in `format` (JSON for `toml`).
pub fn render(m: &Machine, report: &Report, format: OutputFormat) -> Result<String, CliError> {
    Ok(match format {
        OutputFormat::Human => render::human::negotiate::render(m, report),
        OutputFormat::Json | OutputFormat::Toml => render::json::negotiate::render(m, report)?,
        OutputFormat::Dot | OutputFormat::Svg => {
            let h = render::picture::negotiation_highlight(m, report);
            render::picture::render(m, &report.source, format, Some(&h))
        }
    })
}

/// Reads the scenario, loads its machine, negotiates and renders.
pub fn run(
    source: Option<MachineSource>,
    format: OutputFormat,
    args: &NegotiateArgs,
) -> Result<Outcome, CliError> {
    if format == OutputFormat::Toml {
        return Err(super::unsupported("negotiate", format));
    }
    let scenario = Scenario::read(&args.scenario)?;
    let (source, loaded) = load_machine(source, scenario.machine.as_ref())?;
    let m = loaded.machine;
    let bound = scenario.bind(&m)?;
    let mut notes = loaded.warnings;
    notes.extend(bound.warnings.iter().cloned());
    let report = negotiate(&m, &scenario, source, bound)?;
    let text = render(&m, &report, format)?;
    let exit = if report.chosen.is_some() {
        Exit::Ok
    } else {
        notes.push(
            "no common interconnect: every candidate pair was refused (see the table)".to_owned(),
        );
        Exit::NoAgreement
    };
    Ok(Outcome { text, exit, notes })
}
