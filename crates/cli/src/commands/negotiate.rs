//! `dmabuf-ic negotiate SCENARIO.toml`: one negotiation on a real machine, with the full
//! candidate table.

use std::path::PathBuf;

use dmabuf_negotiate::{
    Candidate, ChosenBy, NegotiationError, Negotiator, Policy, Refusal, Rejection, RouteKind,
    Verdict,
};
use pci_topology::{Bdf, Machine, MapType};

use crate::cli::NegotiateArgs;
use crate::commands::Outcome;
use crate::core_names::MachineNames;
use crate::error::{CliError, Exit};
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
    /// Positions of the accepted candidates, best first under the policy.
    pub ranked: Vec<usize>,
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
        self.ranked
            .iter()
            .position(|&p| p == position)
            .map(|r| r + 1)
    }

    /// The chosen candidate.
    pub fn chosen_candidate(&self) -> Option<&Candidate> {
        self.chosen.and_then(|c| self.candidates.get(c))
    }
}

fn position(table: &[Candidate], c: &Candidate) -> Option<usize> {
    table
        .iter()
        .position(|x| x.exporter_index == c.exporter_index && x.importer_index == c.importer_index)
}

/// Negotiates a bound scenario on a machine.
pub fn negotiate(
    m: &Machine,
    scenario: &Scenario,
    source: MachineSource,
    bound: Bound,
) -> Result<Report, CliError> {
    let n = bound.exporter.len().saturating_mul(bound.importer.len());
    let mut table = vec![Candidate::VACANT; n];
    let negotiator = Negotiator::new(m).with_policy(scenario.policy);
    let (candidates, chosen, ranked, chosen_by) =
        match negotiator.negotiate(&bound.exporter, &bound.importer, &mut table) {
            Ok(a) => {
                let all = a.candidates().to_vec();
                let chosen = position(&all, a.chosen());
                let ranked = a.ranked().filter_map(|c| position(&all, c)).collect();
                (all, chosen, ranked, Some(a.chosen_by()))
            }
            Err(NegotiationError::NoCommonInterconnect { table }) => {
                (table.to_vec(), None, Vec::new(), None)
            }
            Err(NegotiationError::TooManyOffers) => {
                return Err(CliError::input(format!(
                    "{}: an offer list has more than 65535 entries",
                    scenario.path.display()
                )));
            }
            Err(e) => return Err(CliError::internal(format!("negotiation failed: {e}"))),
        };
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
        ranked,
        chosen_by,
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
    let text = match format {
        OutputFormat::Human => render::human::negotiate::render(&m, &report),
        OutputFormat::Json | OutputFormat::Toml => render::json::negotiate::render(&m, &report)?,
        OutputFormat::Dot | OutputFormat::Svg => {
            let h = render::picture::negotiation_highlight(&m, &report);
            render::picture::render(&m, &report.source, format, Some(&h))
        }
    };
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
