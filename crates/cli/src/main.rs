//! `dmabuf-ic`: the command line over dmabuf-negotiate and pci-topology. For any machine (the
//! live one, a sysfs snapshot, and with the formats work hwloc, NCCL and TOML files) it answers
//! which interconnect, which route, how good, and if refused, why and what would change it.
//!
//! - [`cli`]: options and subcommands; [`commands`]: one module per subcommand;
//!   [`render`]: one module per output kind.
//! - [`source`]: where the machine comes from; [`scenario`]: negotiation scenario files;
//!   [`simulation`]: simulated timelines; [`scenario_file`] and [`offers`]: what both file
//!   formats share (positioned errors, `[machine]`, offers and their binding).
//! - [`resolve`], [`names`], [`kind`]: device arguments, PCI ID names, device kinds;
//!   [`core_names`]: the negotiation core's ids by bus id, fabric name or importer.
//! - [`error`]: errors and exit codes; [`output`], [`style`]: formats, writing, colour.

mod cli;
mod commands;
mod core_names;
mod error;
mod location;
mod offers;
mod output;
mod render;
mod resolve;
mod scenario;
mod scenario_file;
mod simulation;
mod source;
mod style;

use dmabuf_ic::{kind, names};

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use crate::error::Exit;
use crate::output::Colour;

fn main() -> ExitCode {
    // `--no-color` also governs clap's own help and errors, which are printed while parsing.
    let no_color = std::env::args_os().any(|a| a == "--no-color");
    let command = cli::Cli::command().color(if no_color {
        clap::ColorChoice::Never
    } else {
        clap::ColorChoice::Auto
    });
    let parsed = command
        .try_get_matches()
        .and_then(|m| cli::Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(c) => c,
        Err(e) => {
            // Help and version go to stdout with status 0; usage errors to stderr with 2.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                Exit::Usage.code()
            } else {
                0
            });
        }
    };
    let colour = if cli.no_color {
        Colour::Never
    } else {
        Colour::Auto
    };
    let prog = style::paint(style::BAD, "error:");
    match commands::run(&cli) {
        Ok(outcome) => {
            for n in &outcome.notes {
                output::emit_err(&format!("dmabuf-ic: {n}\n"), colour);
            }
            if let Err(e) = output::emit(&outcome.text, colour) {
                output::emit_err(&format!("dmabuf-ic: {prog} {e}\n"), colour);
                return ExitCode::from(e.exit().code());
            }
            ExitCode::from(outcome.exit.code())
        }
        Err(e) => {
            output::emit_err(&format!("dmabuf-ic: {prog} {e}\n"), colour);
            ExitCode::from(e.exit().code())
        }
    }
}
