//! `dmabuf-ic simulate SCENARIO.toml`: a buffer's life on a real machine, event by event, with
//! the invariants checked after every event and the scenario's expectations checked where it
//! states them.

use std::fmt;
use std::path::{Path, PathBuf};

use dmabuf_negotiate::{
    Agreed, AttachmentId, DeviceId, FabricId, Names, OpaqueNames, Placement, RouteKind,
};
use pci_topology::{FunctionId, Machine, MapType};

use crate::cli::SimulateArgs;
use crate::commands::Outcome;
use crate::core_names::MachineNames;
use crate::counts::count;
use crate::error::{CliError, Exit};
use crate::limits::MAX_SIMULATION_STATES;
use crate::output::OutputFormat;
use crate::render;
use crate::scenario_file::load_machine;
use crate::simulation::{Bound, Simulation, Timeline, engine};
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
    /// The simulation bound to the machine.
    pub bound: Bound,
    /// What happened.
    pub timeline: Timeline,
}

impl Report {
    /// An importer's name.
    pub fn importer(&self, i: usize) -> &str {
        self.bound.importers.get(i).map_or("?", |s| s.name.as_str())
    }

    /// Importers' names, comma-separated.
    pub fn importers(&self, list: &[usize]) -> String {
        list.iter()
            .map(|&i| self.importer(i))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// A placement's name.
    pub fn placement(&self, i: usize) -> &str {
        self.bound
            .placements
            .get(i)
            .map_or("?", |s| s.name.as_str())
    }

    /// A placement in words: `VRAM 0 of 0000:03:00.0 at offset 0x0`, `system memory (NUMA
    /// node 0) at 0x100000000`, `BAR2 of 0000:03:00.1 [0x0 + 0x200000]`.
    pub fn placement_words(&self, i: usize) -> String {
        let Some(p) = self.bound.placements.get(i) else {
            return "?".to_owned();
        };
        let dev = p.device.map_or_else(String::new, |d| d.to_string());
        match p.placement {
            Placement::Vram { vram, offset } => {
                format!("VRAM {} of {dev} at offset {offset}", vram.instance)
            }
            Placement::System {
                numa_node: Some(n),
                phys,
            } => format!("system memory (NUMA node {n}) at {phys}"),
            Placement::System {
                numa_node: None,
                phys,
            } => format!("system memory at {phys}"),
            Placement::Bar(slice) => format!(
                "BAR{} of {dev} [{:#x} + {:#x}]",
                slice.bar, slice.offset, slice.len
            ),
        }
    }

    /// A fabric's name.
    pub fn fabric(&self, m: &Machine, f: FabricId) -> String {
        self.bound
            .fabrics
            .name(m, f)
            .unwrap_or_else(|| f.to_string())
    }

    /// Names for the core's messages: attachments by their importer's name, devices by bus id
    /// on `m`, fabrics by the names the simulation used.
    pub fn names<'a>(&'a self, m: &'a Machine) -> ReportNames<'a> {
        ReportNames {
            machine: MachineNames::new(m).with_fabrics(&self.bound.fabrics),
            report: self,
        }
    }

    /// How many expectations were checked, and how many failed.
    pub fn expectation_counts(&self) -> (usize, usize) {
        let all = self.timeline.checked().count();
        let failed = self.timeline.checked().filter(|c| !c.met).count();
        (all, failed)
    }
}

/// The names of a simulation's messages ([`Report::names`]): an attachment is its importer.
#[derive(Clone, Copy, Debug)]
pub struct ReportNames<'a> {
    machine: MachineNames<'a>,
    report: &'a Report,
}

impl Names for ReportNames<'_> {
    fn device(&self, id: DeviceId, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.machine.device(id, f)
    }

    fn fabric(&self, id: FabricId, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.machine.fabric(id, f)
    }

    fn attachment(&self, id: AttachmentId, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let attachments = &self.report.timeline.attachments;
        match attachments.iter().find(|(a, _)| *a == id) {
            Some((_, importer)) => f.write_str(self.report.importer(*importer)),
            None => OpaqueNames.attachment(id, f),
        }
    }
}

/// For an agreement over a PCI route computed with unknown ACS states taken as off, the map
/// type were they on (when it would differ).
pub fn acs_caveat(m: &Machine, agreed: &Agreed) -> Option<MapType> {
    if !matches!(
        agreed.route().kind,
        RouteKind::PciBusAddr { .. } | RouteKind::PciThroughHostBridge { .. }
    ) {
        return None;
    }
    let provider = agreed.placement().owner()?;
    let client: DeviceId = agreed.importer_offer().device()?;
    let v = m.p2p_fast(FunctionId::from(provider), FunctionId::from(client))?;
    (!v.acs_known() && v.map_type_if_acs_on() != v.map_type()).then(|| v.map_type_if_acs_on())
}

/// The exit status a finished simulation asks for, and the note that goes with it.
pub fn verdict(r: &Report) -> (Exit, Option<String>) {
    if let Some(step) = r.timeline.broken() {
        let at = step.event.map_or_else(
            || "at the start".to_owned(),
            |k| {
                let line = r.bound.events.get(k).map_or(0, |e| e.line);
                format!("after event #{} (line {line})", k + 1)
            },
        );
        return (
            Exit::InvariantBroken,
            Some(format!(
                "{} broken {at}; the simulation stopped there",
                count(step.violations.len() as u64, "invariant")
            )),
        );
    }
    let (all, failed) = r.expectation_counts();
    if failed > 0 {
        let first = r
            .timeline
            .checked()
            .find(|c| !c.met)
            .map_or_else(String::new, |c| {
                format!(
                    " (first: {}: {}: expected {}, found {})",
                    c.at, c.subject, c.expected, c.found
                )
            });
        return (
            Exit::ExpectationFailed,
            Some(format!(
                "{failed} of {} failed{first}",
                count(all as u64, "expectation")
            )),
        );
    }
    (Exit::Ok, None)
}

/// Renders a finished simulation and decides the exit status.
pub fn finish(
    m: &Machine,
    report: &Report,
    format: OutputFormat,
    mut notes: Vec<String>,
) -> Result<Outcome, CliError> {
    let text = match format {
        OutputFormat::Human => render::human::timeline::render(m, report),
        OutputFormat::Json => render::json::timeline::render(m, report)?,
        other => return Err(super::unsupported("simulate", other)),
    };
    let (exit, note) = verdict(report);
    notes.extend(note);
    Ok(Outcome { text, exit, notes })
}

/// Refuses a simulation that would record more than [`MAX_SIMULATION_STATES`] importer states
/// before it runs.
pub fn check_size(path: &Path, bound: &Bound) -> Result<(), CliError> {
    let (importers, steps) = (bound.importers.len(), bound.events.len() + 1);
    let states = importers.saturating_mul(steps);
    if states <= MAX_SIMULATION_STATES {
        return Ok(());
    }
    Err(CliError::input(format!(
        "{}: {importers} importers over {} events would record {states} importer states; at \
         most {MAX_SIMULATION_STATES} are recorded (docs/cli.md, Limits)",
        path.display(),
        steps - 1
    ))
    .note("split the timeline into several simulations, or follow fewer importers"))
}

/// Reads the scenario, loads its machine, runs the timeline and renders.
pub fn run(
    source: Option<MachineSource>,
    format: OutputFormat,
    args: &SimulateArgs,
) -> Result<Outcome, CliError> {
    if !matches!(format, OutputFormat::Human | OutputFormat::Json) {
        return Err(super::unsupported("simulate", format));
    }
    let simulation = Simulation::read(&args.scenario)?;
    let (source, loaded) = load_machine(source, simulation.machine.as_ref())?;
    let m = loaded.machine;
    let bound = simulation.bind(&m)?;
    check_size(&simulation.path, &bound)?;
    let mut notes = loaded.warnings;
    notes.extend(bound.warnings.iter().cloned());
    let timeline = engine::run(&m, &bound)?;
    let report = Report {
        scenario: simulation.path.clone(),
        description: simulation.description.clone(),
        source,
        bound,
        timeline,
    };
    finish(&m, &report, format, notes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulation::engine::{Faults, run_with_faults};
    use dmabuf_negotiate::Bandwidth;
    use pci_topology::{
        Bar, Bdf, CpuInfo, CpuVendor, Function, HostBridge, LinkEnd, LinkKind, PrivateFabric,
        PrivateLink, Upstream,
    };
    use std::path::Path;

    /// Two GPUs on one root bus, joined by NVLink, each with a 1 GiB prefetchable BAR1.
    fn machine() -> Machine {
        machine_with(CpuInfo::default())
    }

    fn machine_with(cpu: CpuInfo) -> Machine {
        let mut b = Machine::builder();
        b.cpu(cpu);
        let hb = b.host_bridge(HostBridge::new(0, 0));
        let gpu = |bus: u8, start: u64| {
            let mut f = Function::new(Bdf::new(0, bus, 0, 0), Upstream::HostBridge(hb));
            f.bars = vec![Bar {
                index: 1,
                start,
                end: start + (1 << 30) - 1,
                flags: 0x2200,
            }];
            f
        };
        let g0 = b.function(gpu(1, 0x40_0000_0000));
        let g1 = b.function(gpu(2, 0x80_0000_0000));
        let nv = b.fabric(PrivateFabric {
            name: "nvlink0".into(),
            kind: LinkKind::NvLink,
        });
        b.link(PrivateLink {
            fabric: nv,
            a: LinkEnd::Function(g0),
            b: LinkEnd::Function(g1),
            bandwidth: Some(Bandwidth(25_000)),
            latency: None,
            nccl_bandwidth: None,
            count: 4,
            up: true,
        });
        b.build().unwrap()
    }

    const SCENARIO: &str = r#"
[buffer]
size = 0x10000
exporter = "01:00.0"

[[placement]]
name = "vram"
memory = "vram"
device = "01:00.0"
fabrics = [{ fabric = "nvlink0", iova = 0x1000_0000_0000, len = 0x4000_0000 }]

[[placement]]
name = "ram"
memory = "system"
phys = 0x1000_0000

[[importer]]
name = "peer"
[[importer.offer]]
interconnect = "private-iova"
fabric = "nvlink0"
device = "02:00.0"
[[importer.offer]]
interconnect = "dma-addr"
device = "02:00.0"

[[event]]
attach = "peer"
expect = { importer = [{ name = "peer", interconnect = "private-iova" }] }

[[event]]
map = "peer"

[[event]]
link_down = "nvlink0"
expect = { importer = [{ name = "peer", mapping = "stale" }] }

[[event]]
map = "peer"
"#;

    fn report(m: &Machine, text: &str, faults: Faults) -> Report {
        let sim = Simulation::parse(Path::new("t.toml"), text.to_owned()).unwrap();
        let bound = sim.bind(m).unwrap();
        let timeline = run_with_faults(m, &bound, faults).unwrap();
        Report {
            scenario: sim.path.clone(),
            description: None,
            source: MachineSource::Live,
            bound,
            timeline,
        }
    }

    #[test]
    fn a_consistent_run_exits_0() {
        let m = machine();
        let r = report(&m, SCENARIO, Faults::default());
        assert_eq!(r.timeline.steps.len(), 5);
        assert!(r.timeline.broken().is_none());
        assert_eq!(r.expectation_counts(), (2, 0));
        let out = finish(&m, &r, OutputFormat::Human, Vec::new()).unwrap();
        assert_eq!(out.exit, Exit::Ok);
        assert!(out.notes.is_empty());
    }

    /// The machine changes behind the buffer's back (a link goes down and nobody revalidates):
    /// the monitor sees an agreement over a dead route, the simulation stops at that event and
    /// asks for status 4, and both renderers show the violation.
    #[test]
    fn a_broken_invariant_stops_the_run_with_status_4() {
        let m = machine();
        let faults = Faults {
            forget_revalidation: true,
        };
        let r = report(&m, SCENARIO, faults);
        assert_eq!(
            r.timeline.steps.len(),
            4,
            "stopped after the link went down"
        );
        let broken = r.timeline.broken().unwrap();
        assert_eq!(broken.event, Some(2));
        assert!(
            broken
                .violations
                .iter()
                .any(|v| matches!(v, dmabuf_negotiate::Violation::RouteGone { .. })),
            "{:?}",
            broken.violations
        );

        let human = finish(&m, &r, OutputFormat::Human, Vec::new()).unwrap();
        assert_eq!(human.exit, Exit::InvariantBroken);
        assert_eq!(human.exit.code(), 4);
        assert!(human.text.contains("✗ invariant broken:"), "{}", human.text);
        assert!(human.text.contains("no longer matches"), "{}", human.text);
        assert!(
            human.notes.iter().any(|n| n.contains("after event #3")),
            "{:?}",
            human.notes
        );

        let json = finish(&m, &r, OutputFormat::Json, Vec::new()).unwrap();
        assert_eq!(json.exit, Exit::InvariantBroken);
        let d: serde_json::Value = serde_json::from_str(&json.text).unwrap();
        assert_eq!(d["summary"]["invariants_held"], false);
        assert_eq!(d["summary"]["stopped_after"], 3);
        assert_eq!(d["summary"]["events"], 3);
        assert_eq!(d["summary"]["events_in_scenario"], 4);
        assert!(
            d["events"][3]["violations"][0]
                .as_str()
                .unwrap()
                .contains("peer")
        );
    }

    #[test]
    fn a_failed_expectation_exits_5() {
        let m = machine();
        let text = SCENARIO.replace(
            r#"expect = { importer = [{ name = "peer", mapping = "stale" }] }"#,
            r#"expect = { importer = [{ name = "peer", mapping = "valid" }] }"#,
        );
        let r = report(&m, &text, Faults::default());
        assert!(r.timeline.broken().is_none());
        assert_eq!(r.expectation_counts(), (2, 1));
        let out = finish(&m, &r, OutputFormat::Human, Vec::new()).unwrap();
        assert_eq!(out.exit, Exit::ExpectationFailed);
        assert_eq!(out.exit.code(), 5);
        let note = out.notes.join("\n");
        assert!(
            note.contains("1 of 2 expectations failed")
                && note.contains("peer mapping: expected valid, found stale"),
            "{note}"
        );
        assert!(note.contains("t.toml:"), "names the place: {note}");
    }

    #[test]
    fn bus_addresses_taken_from_cpu_addresses_are_flagged_off_x86() {
        let sim = Simulation::parse(Path::new("t.toml"), SCENARIO.to_owned()).unwrap();
        let x86 = sim.bind(&machine()).unwrap();
        assert!(x86.warnings.is_empty(), "{:?}", x86.warnings);
        let aperture = x86.placements[0].aperture.unwrap();
        assert!(aperture.bus_assumed && aperture.from_machine);
        assert_eq!(
            (aperture.bar, aperture.cpu, aperture.bus),
            (1, 0x40_0000_0000, 0x40_0000_0000)
        );
        let power = machine_with(CpuInfo {
            vendor: CpuVendor::Other("IBM POWER9".into()),
            ..CpuInfo::default()
        });
        let bound = sim.bind(&power).unwrap();
        assert!(
            bound
                .warnings
                .iter()
                .any(|w| w.contains("IBM POWER9") && w.contains("aperture.bus")),
            "{:?}",
            bound.warnings
        );
    }
}
