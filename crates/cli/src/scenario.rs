//! Negotiation scenarios: a TOML file naming a machine source, a policy, and the exporter's and
//! the importer's offers (docs/scenario-format.md).
//!
//! Reading happens in two steps. [`Scenario::read`] parses the file and checks its shape (every
//! error names the file, line and column). [`Scenario::bind`] then resolves bus ids, fabrics
//! and BARs against the loaded machine and builds the negotiation core's offers. The parts any
//! scenario file shares are in [`crate::scenario_file`] (the text, the `[machine]` section) and
//! [`crate::offers`] (offers and their binding).

use std::path::{Path, PathBuf};

use dmabuf_negotiate::{ExporterOffer, FabricId, ImporterOffer, Policy};
use pci_topology::Machine;
use serde::Deserialize;
use toml::Spanned;

use crate::error::CliError;
use crate::offers::{Binder, FabricNames, RawOffer, check_shape};
pub use crate::offers::{MemorySpec, OfferSpec, Side};
use crate::scenario_file::{NamedMachine, RawMachine, ScenarioFile};

/// The file as written.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    description: Option<String>,
    machine: Option<Spanned<RawMachine>>,
    policy: Option<Spanned<String>>,
    #[serde(default)]
    exporter: Vec<Spanned<RawOffer>>,
    #[serde(default)]
    importer: Vec<Spanned<RawOffer>>,
}

/// A parsed scenario, not yet bound to a machine.
#[derive(Debug)]
pub struct Scenario {
    /// The file.
    pub path: PathBuf,
    /// Its description.
    pub description: Option<String>,
    /// The machine it names (paths resolved against the scenario's folder); `None`: the live
    /// machine.
    pub machine: Option<NamedMachine>,
    /// The ranking policy.
    pub policy: Policy,
    file: ScenarioFile,
    exporter: Vec<Spanned<RawOffer>>,
    importer: Vec<Spanned<RawOffer>>,
}

/// The offers of a scenario, bound to a machine.
#[derive(Debug)]
pub struct Bound {
    /// The exporter's list, for the negotiation core.
    pub exporter: Vec<ExporterOffer<'static>>,
    /// The importer's list.
    pub importer: Vec<ImporterOffer<'static>>,
    /// The exporter's list as written.
    pub exporter_specs: Vec<OfferSpec>,
    /// The importer's list as written.
    pub importer_specs: Vec<OfferSpec>,
    /// The fabric names the offers used (with those the machine does not have).
    pub fabrics: FabricNames,
    /// Things worth saying that do not stop the negotiation.
    pub warnings: Vec<String>,
}

impl Bound {
    /// The name of a fabric id: the machine's fabric, or an unknown name from the scenario.
    pub fn fabric_name(&self, m: &Machine, id: FabricId) -> Option<String> {
        self.fabrics.name(m, id)
    }
}

/// The ranking policy a file names: `best-route` (default) or `exporter-priority`.
pub fn policy(file: &ScenarioFile, p: Option<&Spanned<String>>) -> Result<Policy, CliError> {
    let Some(p) = p else {
        return Ok(Policy::BestRoute);
    };
    match p.get_ref().as_str() {
        "best-route" => Ok(Policy::BestRoute),
        "exporter-priority" => Ok(Policy::ExporterPriority),
        other => Err(file.err(
            p.span(),
            format!("unknown policy `{other}`; expected `best-route` or `exporter-priority`"),
        )),
    }
}

impl Scenario {
    /// Reads and checks a scenario file.
    pub fn read(path: &Path) -> Result<Self, CliError> {
        Self::from_file(ScenarioFile::read(path, "scenario")?)
    }

    /// Parses a scenario's text; `path` names it in errors and anchors relative paths.
    pub fn parse(path: &Path, text: String) -> Result<Self, CliError> {
        Self::from_file(ScenarioFile {
            path: path.to_owned(),
            text,
        })
    }

    fn from_file(file: ScenarioFile) -> Result<Self, CliError> {
        let raw: RawScenario =
            file.parse("the scenario format is described in docs/scenario-format.md")?;
        let policy = policy(&file, raw.policy.as_ref())?;
        let machine = file.machine(raw.machine.as_ref())?;
        for (side, list) in [
            (Side::Exporter, &raw.exporter),
            (Side::Importer, &raw.importer),
        ] {
            for o in list {
                check_shape(side, o.get_ref()).map_err(|(span, msg)| file.err(span, msg))?;
            }
        }
        if raw.exporter.is_empty() && raw.importer.is_empty() {
            return Err(CliError::input(format!(
                "{}: no offers: a scenario lists the exporter's ([[exporter]] tables) and the \
                 importer's ([[importer]] tables)",
                file.path.display()
            ))
            .note("the scenario format is described in docs/scenario-format.md"));
        }
        Ok(Self {
            path: file.path.clone(),
            description: raw.description,
            machine,
            policy,
            file,
            exporter: raw.exporter,
            importer: raw.importer,
        })
    }

    /// Resolves the offers against a machine.
    pub fn bind(&self, m: &Machine) -> Result<Bound, CliError> {
        let mut binder = Binder::new(&self.file, m);
        let mut warnings = Vec::new();
        if self.exporter.is_empty() || self.importer.is_empty() {
            warnings.push(format!(
                "{}: the {} list is empty: nothing can be agreed",
                self.path.display(),
                if self.exporter.is_empty() {
                    "exporter"
                } else {
                    "importer"
                }
            ));
        }
        let mut exporter = Vec::new();
        let mut exporter_specs = Vec::new();
        for (i, o) in self.exporter.iter().enumerate() {
            let (offer, spec) = binder.exporter(i, o.get_ref())?;
            exporter.push(offer);
            exporter_specs.push(spec);
        }
        let mut importer = Vec::new();
        let mut importer_specs = Vec::new();
        for (i, o) in self.importer.iter().enumerate() {
            let (offer, spec) = binder.importer(i, o.get_ref())?;
            importer.push(offer);
            importer_specs.push(spec);
        }
        warnings.extend(binder.warnings);
        Ok(Bound {
            exporter,
            importer,
            exporter_specs,
            importer_specs,
            fabrics: binder.fabrics,
            warnings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::MachineSource;

    fn parse(text: &str) -> Result<Scenario, CliError> {
        Scenario::parse(Path::new("s.toml"), text.to_owned())
    }

    #[test]
    fn errors_name_line_and_column() {
        let e = parse("policy = \"fastest\"\n").unwrap_err();
        assert!(
            e.message.starts_with("s.toml:1:10: unknown policy"),
            "{}",
            e.message
        );
        let e = parse("[[exporter]]\ninterconnect = \"vrma\"\n").unwrap_err();
        assert!(e.message.starts_with("s.toml:2:16:"), "{}", e.message);
        assert!(e.message.contains("did you mean `vram`"), "{}", e.message);
        let e = parse("[[importer]]\ninterconnect = \"vram\"\ntrust = \"kvm\"\n").unwrap_err();
        assert!(e.message.starts_with("s.toml:3:9:"), "{}", e.message);
        let e = parse("[[importer]]\ninterconect = \"vram\"\n").unwrap_err();
        assert!(e.message.starts_with("s.toml:2:1:"), "{}", e.message);
        let e = parse("policy = [\n").unwrap_err();
        assert!(e.message.starts_with("s.toml:"), "{}", e.message);
    }

    const OFFERS: &str = "[[exporter]]\ninterconnect = \"dma-addr\"\nmemory = \"system\"\n";

    #[test]
    fn machine_paths_are_relative_to_the_scenario() {
        let s = Scenario::parse(
            Path::new("examples/negotiate/x.toml"),
            format!("[machine]\nsysfs = \"../m.tar.gz\"\n{OFFERS}"),
        )
        .unwrap();
        let named = s.machine.unwrap();
        assert_eq!(
            named.source,
            MachineSource::Sysfs(PathBuf::from("examples/m.tar.gz"))
        );
        assert_eq!(named.at, "examples/negotiate/x.toml:2:9");
        assert!(parse(&format!("[machine]\nsysfs = \"a\"\nnccl = \"b\"\n{OFFERS}")).is_err());
        assert_eq!(parse(OFFERS).unwrap().policy, Policy::BestRoute);
    }

    #[test]
    fn a_scenario_without_offers_is_an_error() {
        for text in ["", "# nothing yet\n", "[machine]\nlive = true\n"] {
            let e = parse(text).unwrap_err();
            assert!(e.message.starts_with("s.toml: no offers"), "{text:?}: {e}");
        }
    }

    #[test]
    fn a_missing_machine_is_an_error_at_its_line_relative_to_the_scenario() {
        let s = Scenario::parse(
            Path::new("/nonexistent/dir/s.toml"),
            format!("[machine]\nsysfs = \"snap.tar.gz\"\n{OFFERS}"),
        )
        .unwrap();
        let e = s.machine.unwrap().load().unwrap_err().to_string();
        assert!(e.starts_with("/nonexistent/dir/s.toml:2:9: "), "{e}");
        assert!(e.contains("`snap.tar.gz`"), "{e}");
        assert!(e.contains("relative to the scenario file"), "{e}");
        assert!(e.contains("/nonexistent/dir/snap.tar.gz"), "{e}");
    }
}
