//! `dmabuf-ic`: the command line over dmabuf-negotiate and pci-topology. Everything but
//! `main` is in the library half (`dmabuf_ic`).

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use dmabuf_ic::error::Exit;
use dmabuf_ic::output::{self, Colour, OutputFormat};
use dmabuf_ic::{cli, commands, style};

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
            // Help and version go to stdout with status 0; usage errors to stderr with 2,
            // after the program's name like every other error (clap's own begin `error:`).
            if e.use_stderr() {
                output::emit_err("dmabuf-ic: ", Colour::Never);
            }
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                Exit::Usage.code()
            } else {
                0
            });
        }
    };
    let colour = if no_color {
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
            // The format the command rendered in (the options were valid: it ran).
            let format = cli.options().map_or(OutputFormat::Human, |o| o.format);
            if let Err(e) = output::emit(&outcome.text, format, colour) {
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
