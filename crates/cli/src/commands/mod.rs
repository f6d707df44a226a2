//! One module per subcommand. Each loads what it needs, computes its answer, and hands it to
//! the renderer of the chosen format.

pub mod explain;
pub mod matrix;
pub mod negotiate;
pub mod simulate;
pub mod snapshot;
pub mod topo;

use crate::cli::{Cli, Command};
use crate::error::{CliError, Exit};
use crate::output::OutputFormat;
use crate::source::MachineSource;

/// What a command produced: the rendered output and the exit code it asks for.
#[derive(Debug)]
pub struct Outcome {
    /// The output for standard output.
    pub text: String,
    /// The exit code (0; 3 for `negotiate` without agreement; 4 or 5 for `simulate`).
    pub exit: Exit,
    /// Notes for standard error (warnings), printed before the output.
    pub notes: Vec<String>,
}

impl Outcome {
    /// A successful outcome.
    pub fn ok(text: String) -> Self {
        Self {
            text,
            exit: Exit::Ok,
            notes: Vec::new(),
        }
    }

    /// The same outcome with notes for standard error.
    pub fn with_notes(mut self, notes: Vec<String>) -> Self {
        self.notes.extend(notes);
        self
    }
}

/// The usage error for a format a command does not produce.
pub fn unsupported(command: &str, format: OutputFormat) -> CliError {
    CliError::usage(format!(
        "`{command}` does not produce --format {}",
        format.name()
    ))
    .note(
        "toml writes the machine and is for `topo`; dot and svg draw it (`topo`, `explain`, \
         `negotiate`); every command has human and json",
    )
}

/// Runs the command the line asks for.
pub fn run(cli: &Cli) -> Result<Outcome, CliError> {
    let options = cli.options()?;
    let (source, format) = (options.source, options.format);
    match &cli.command {
        Command::Topo(_) => topo::run(&source.unwrap_or(MachineSource::Live), format),
        Command::Matrix(a) => matrix::run(&source.unwrap_or(MachineSource::Live), format, a),
        Command::Explain(a) => explain::run(&source.unwrap_or(MachineSource::Live), format, a),
        Command::Negotiate(a) => negotiate::run(source, format, a),
        Command::Simulate(a) => simulate::run(source, format, a),
        Command::Snapshot(a) => snapshot::run(source, format, a),
    }
}
