//! Output formats and where output goes.
//!
//! Every command renders into a `String` (human text with ANSI styles, or JSON), which
//! [`emit`] writes to standard output through `anstream`: styles reach a terminal only, and are
//! stripped when the output is a pipe or a file, when `NO_COLOR` is set, or with `--no-color`.

use std::io::Write;

use clap::ValueEnum;

use crate::error::CliError;

/// The output formats. `Human` is the default; `Json` is the documented contract
/// (docs/json-output.md); `Toml` is the project's machine description (`topo` only); `Dot` and
/// `Svg` are pictures of the machine (docs/pictures.md), with the route of `explain` and
/// `negotiate` highlighted. Each command says which formats it supports.
#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum)]
pub enum OutputFormat {
    /// Text for people, with colour on a terminal.
    Human,
    /// JSON for tools (see docs/json-output.md).
    Json,
    /// The machine in the project's TOML description (docs/machine-format.md); `topo` only.
    Toml,
    /// A picture of the machine for Graphviz (`dot -Tsvg`); `topo`, `explain`, `negotiate`.
    Dot,
    /// A picture of the machine as SVG, drawn without Graphviz; `topo`, `explain`,
    /// `negotiate`.
    Svg,
}

impl OutputFormat {
    /// The name as given on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            OutputFormat::Human => "human",
            OutputFormat::Json => "json",
            OutputFormat::Toml => "toml",
            OutputFormat::Dot => "dot",
            OutputFormat::Svg => "svg",
        }
    }

    /// Whether this is a picture (`dot` or `svg`).
    pub const fn is_picture(self) -> bool {
        matches!(self, OutputFormat::Dot | OutputFormat::Svg)
    }
}

/// Whether styles may be emitted at all (`--no-color` turns them off; `NO_COLOR` and a
/// non-terminal are handled by `anstream`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Colour {
    /// Colour if standard output is a terminal and `NO_COLOR` is not set.
    Auto,
    /// Never.
    Never,
}

impl Colour {
    fn choice(self) -> anstream::ColorChoice {
        match self {
            Colour::Auto => anstream::ColorChoice::Auto,
            Colour::Never => anstream::ColorChoice::Never,
        }
    }
}

/// Writes rendered output to standard output.
pub fn emit(text: &str, colour: Colour) -> Result<(), CliError> {
    let mut out = anstream::AutoStream::new(std::io::stdout().lock(), colour.choice());
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        // A closed pipe (`dmabuf-ic topo | head`) is not an error worth a message.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::input(format!(
            "cannot write to standard output: {e}"
        ))),
    }
}

/// Writes a message to standard error, styled like the rest (on a terminal only).
pub fn emit_err(text: &str, colour: Colour) {
    let mut err = anstream::AutoStream::new(std::io::stderr().lock(), colour.choice());
    // Nothing sensible can be done if standard error itself is gone.
    let _ = err.write_all(text.as_bytes()).and_then(|()| err.flush());
}

/// Serialises a JSON document, pretty-printed, with a final newline.
pub fn to_json<T: serde::Serialize>(value: &T) -> Result<String, CliError> {
    let mut s = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::internal(format!("cannot serialise the JSON output: {e}")))?;
    s.push('\n');
    Ok(s)
}
