//! `dmabuf-ic topo`: the machine as a tree.

use crate::commands::Outcome;
use crate::error::CliError;
use crate::output::OutputFormat;
use crate::render;
use crate::source::MachineSource;

/// Loads the machine and renders it.
pub fn run(source: &MachineSource, format: OutputFormat) -> Result<Outcome, CliError> {
    let loaded = source.load()?;
    let m = loaded.machine;
    let text = match format {
        OutputFormat::Human => render::human::topo::render(&m, source),
        OutputFormat::Json => render::json::topo::render(&m, source)?,
        OutputFormat::Toml => pci_topology::load::to_toml(&m),
        OutputFormat::Dot | OutputFormat::Svg => render::picture::render(&m, source, format, None),
    };
    Ok(Outcome::ok(text).with_notes(loaded.warnings))
}
