//! What every fuzzing target checks, beyond "no panic, no abort, no hang" (which libFuzzer
//! finds by itself):
//!
//! - **No internal error.** An error the command line classes as internal
//!   ([`ErrorKind::Internal`]) is a bug, whatever the input.
//! - **Errors are placed.** An error about a text file (hwloc or NCCL XML, machine TOML, a
//!   scenario, a simulation) names a line and a column that lie inside the text, except the
//!   few that are about the whole file ([`whole_file`]). An error about an archive names the
//!   archive.
//! - **Everything renders.** A machine that loads is shown by every machine command in every
//!   format it has (`topo` in human, JSON, TOML, DOT and SVG; `matrix` in human and JSON;
//!   `explain` of a few pairs in human, JSON, DOT and SVG); a scenario that binds is negotiated
//!   and shown in human, JSON, DOT and SVG; a simulation that binds runs and is shown in human
//!   and JSON. JSON parses back, SVG is well-formed XML, and the TOML description loads back
//!   into the same machine (the contract of `topo --format toml`).
//!
//! Each check panics with what broke, which libFuzzer reports as a crash with the input.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use dmabuf_ic::commands::{explain, matrix, negotiate, simulate};
use dmabuf_ic::error::{CliError, ErrorKind};
use dmabuf_ic::output::OutputFormat;
use dmabuf_ic::scenario::Scenario;
use dmabuf_ic::simulation::{Simulation, engine};
use dmabuf_ic::source::MachineSource;
use pci_topology::Machine;
use pci_topology::load::{self, LoadError, LoadWarning};

/// The name inputs are given in messages.
pub const NAME: &str = "fuzz-input";

/// The formats of `topo`.
const TOPO_FORMATS: [OutputFormat; 5] = [
    OutputFormat::Human,
    OutputFormat::Json,
    OutputFormat::Toml,
    OutputFormat::Dot,
    OutputFormat::Svg,
];

/// The formats of `explain` and `negotiate`.
const PICTURE_FORMATS: [OutputFormat; 4] = [
    OutputFormat::Human,
    OutputFormat::Json,
    OutputFormat::Dot,
    OutputFormat::Svg,
];

/// The input as text, if it is UTF-8 (the text loaders refuse other bytes before parsing).
pub fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// Whether `(line, column)` (both from 1, the column in characters) lies in `text`: on one of
/// its lines, at most just after the line's last character.
pub fn lies_in(text: &str, line: usize, column: usize) -> bool {
    // A text ending in a newline has an empty last line, where an error at the end points.
    let Some(l) = text.split('\n').nth(line.wrapping_sub(1)) else {
        return false;
    };
    column >= 1 && column <= l.chars().count() + 1
}

/// Whether a message (after `path: `) is about the whole file rather than a place in it:
/// something missing from it (`no [buffer]`, `no offers`), or a size limit of docs/cli.md.
pub fn whole_file(rest: &str) -> bool {
    rest.starts_with("no ") || rest.contains("(docs/cli.md, Limits)")
}

/// Checks an error of a text loader.
pub fn check_load_error(text: &str, e: &LoadError) {
    match e {
        LoadError::MalformedAt { line, column, .. } | LoadError::Parse { line, column, .. } => {
            assert!(
                lies_in(text, *line, *column),
                "the error's place {line}:{column} is not in the text: {e}"
            );
        }
        // A file without any PCI function: nothing in it to point at.
        LoadError::NoPci { .. } => {}
        other => panic!("an error without a place in the text: {other:?}"),
    }
    assert!(
        e.to_string().starts_with(NAME),
        "the error names its file: {e}"
    );
}

/// Checks the warnings of a text loader: each is placed inside the text.
pub fn check_warnings(text: &str, warnings: &[LoadWarning]) {
    for w in warnings {
        assert!(
            lies_in(text, w.line, w.column),
            "the warning's place {}:{} is not in the text: {w}",
            w.line,
            w.column
        );
    }
}

/// Checks an error of the command line about the text file `NAME`.
pub fn check_cli_error(text: &str, e: &CliError) {
    assert!(e.kind != ErrorKind::Internal, "an internal error: {e}");
    let message = &e.message;
    let rest = message
        .strip_prefix(NAME)
        .and_then(|r| r.strip_prefix(':'))
        .unwrap_or_else(|| panic!("the error does not start with the file's name: {message}"));
    if whole_file(rest.trim_start()) {
        return;
    }
    let mut parts = rest.splitn(3, ':');
    let (Some(line), Some(column)) = (parts.next(), parts.next()) else {
        panic!("an error without a line and column: {message}");
    };
    let (Ok(line), Ok(column)) = (line.parse::<usize>(), column.parse::<usize>()) else {
        panic!("an error without a line and column: {message}");
    };
    assert!(
        lies_in(text, line, column),
        "the error's place {line}:{column} is not in the text: {message}"
    );
}

/// Checks the output of a command in `format`.
fn check_output(format: OutputFormat, out: &str) {
    match format {
        OutputFormat::Json => {
            if let Err(e) = serde_json::from_str::<serde_json::Value>(out) {
                panic!("the JSON output does not parse: {e}");
            }
        }
        OutputFormat::Svg => well_formed_xml(out),
        _ => {}
    }
}

/// Panics unless `text` is well-formed XML.
fn well_formed_xml(text: &str) {
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut depth = 0usize;
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Start(_)) => depth += 1,
            Ok(quick_xml::events::Event::End(_)) => depth = depth.saturating_sub(1),
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!(
                "the SVG is not well-formed XML at byte {}: {e}",
                reader.error_position()
            ),
        }
    }
    assert_eq!(depth, 0, "the SVG ends with elements open");
}

/// Unwraps a rendering: an error here is a bug (renderers fail only on internal errors).
fn rendered(what: &str, r: Result<String, CliError>) -> String {
    r.unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// Shows a loaded machine with every machine command in every format.
pub fn render_machine(m: &Machine, source: &MachineSource) {
    for format in TOPO_FORMATS {
        let out = rendered("topo", dmabuf_ic::commands::topo::render(m, source, format));
        check_output(format, &out);
        if format == OutputFormat::Toml {
            let back = load::parse_toml("written.toml", &out)
                .unwrap_or_else(|e| panic!("topo --format toml does not load back: {e}\n{out}"));
            assert!(
                back == *m,
                "topo --format toml loads back into another machine\n{out}"
            );
        }
    }
    // The matrix and a few explanations, over a bounded number of endpoints.
    let devices: Vec<_> = m.endpoints().take(16).collect();
    let x = matrix::compute(m, devices.clone(), matrix::Selection::All);
    for format in [OutputFormat::Human, OutputFormat::Json] {
        check_output(
            format,
            &rendered("matrix", matrix::render(m, source, format, &x)),
        );
    }
    let pairs = devices
        .iter()
        .flat_map(|&p| devices.iter().map(move |&c| (p, c)))
        .take(4);
    for (p, c) in pairs {
        let Some(x) = explain::compute(m, p, c) else {
            panic!("no explanation for two functions of the machine");
        };
        for format in PICTURE_FORMATS {
            check_output(
                format,
                &rendered("explain", explain::render(m, source, format, &x)),
            );
        }
    }
}

/// The machines scenarios and simulations are bound to: the project's hand-written machine
/// (an SR-IOV GPU server with a switch) and a generated one with an NVLink-like fabric-free
/// tree of switches.
pub fn machines() -> &'static [(MachineSource, Machine)] {
    static MACHINES: OnceLock<Vec<(MachineSource, Machine)>> = OnceLock::new();
    MACHINES.get_or_init(|| {
        let sriov = include_str!("../../examples/machines/sriov-flex-gpus.toml");
        let sriov = load::parse_toml("sriov-flex-gpus.toml", sriov)
            .unwrap_or_else(|e| panic!("the example machine loads: {e}"));
        let synth = pci_topology::synth::generate(&pci_topology::synth::SynthSpec::default())
            .unwrap_or_else(|e| panic!("the generated machine builds: {e}"));
        vec![
            (
                MachineSource::Toml(PathBuf::from("sriov-flex-gpus.toml")),
                sriov,
            ),
            (MachineSource::Toml(PathBuf::from("synth.toml")), synth),
        ]
    })
}

/// Parses a scenario, binds it to each machine, negotiates and shows the result in every
/// format.
pub fn scenario(text: &str) {
    let scenario = match Scenario::parse(Path::new(NAME), text.to_owned()) {
        Ok(s) => s,
        Err(e) => return check_cli_error(text, &e),
    };
    for (source, m) in machines() {
        let bound = match scenario.bind(m) {
            Ok(b) => b,
            Err(e) => {
                check_cli_error(text, &e);
                continue;
            }
        };
        let report = match negotiate::negotiate(m, &scenario, source.clone(), bound) {
            Ok(r) => r,
            Err(e) => {
                check_cli_error(text, &e);
                continue;
            }
        };
        for format in PICTURE_FORMATS {
            check_output(
                format,
                &rendered("negotiate", negotiate::render(m, &report, format)),
            );
        }
    }
}

/// Parses a simulation, binds it to each machine, runs it and shows the timeline in human and
/// JSON.
pub fn simulation(text: &str) {
    let simulation = match Simulation::parse(Path::new(NAME), text.to_owned()) {
        Ok(s) => s,
        Err(e) => return check_cli_error(text, &e),
    };
    for (source, m) in machines() {
        let bound = match simulation
            .bind(m)
            .and_then(|b| simulate::check_size(&simulation.path, &b).map(|()| b))
        {
            Ok(b) => b,
            Err(e) => {
                check_cli_error(text, &e);
                continue;
            }
        };
        let timeline = match engine::run(m, &bound) {
            Ok(t) => t,
            Err(e) => {
                check_cli_error(text, &e);
                continue;
            }
        };
        let report = simulate::Report {
            scenario: simulation.path.clone(),
            description: simulation.description.clone(),
            source: source.clone(),
            bound,
            timeline,
        };
        for format in [OutputFormat::Human, OutputFormat::Json] {
            let out = simulate::finish(m, &report, format, Vec::new())
                .unwrap_or_else(|e| panic!("simulate: {e}"));
            check_output(format, &out.text);
        }
    }
}
