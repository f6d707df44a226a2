//! `dmabuf-ic topo`: the machine as a tree.

use pci_topology::Machine;

use crate::commands::Outcome;
use crate::error::CliError;
use crate::output::OutputFormat;
use crate::render;
use crate::source::MachineSource;

/// Loads the machine and renders it.
pub fn run(source: &MachineSource, format: OutputFormat) -> Result<Outcome, CliError> {
    let loaded = source.load()?;
    let text = render(&loaded.machine, source, format)?;
    Ok(Outcome::ok(text).with_notes(loaded.warnings))
}

/// The machine in `format`.
pub fn render(
    m: &Machine,
    source: &MachineSource,
    format: OutputFormat,
) -> Result<String, CliError> {
    Ok(match format {
        OutputFormat::Human => render::human::topo::render(m, source),
        OutputFormat::Json => render::json::topo::render(m, source)?,
        OutputFormat::Toml => pci_topology::load::to_toml(m),
        OutputFormat::Dot | OutputFormat::Svg => render::picture::render(m, source, format, None),
    })
}
