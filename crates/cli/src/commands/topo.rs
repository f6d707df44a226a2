//! `dmabuf-ic topo`: the machine as a tree.

use crate::commands::Outcome;
use crate::error::CliError;
use crate::output::OutputFormat;
use crate::render;
use crate::source::MachineSource;

/// Loads the machine and renders it.
pub fn run(source: &MachineSource, format: OutputFormat) -> Result<Outcome, CliError> {
    let m = source.load()?;
    let text = match format {
        OutputFormat::Human => render::human::topo::render(&m, source),
        OutputFormat::Json => render::json::topo::render(&m, source)?,
    };
    Ok(Outcome::ok(text))
}
