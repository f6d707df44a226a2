//! Output formats and where output goes.
//!
//! Every command renders into a `String` (human text with ANSI styles, or JSON), which
//! [`emit`] writes to standard output through `anstream`: styles reach a terminal only, and are
//! stripped when the output is a pipe or a file, when `NO_COLOR` is set, or with `--no-color`.

use std::borrow::Cow;
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

/// `text` with every control character escaped (`\u{1b}`, `\u{7}`, `\0`, `\r`, and the C1
/// controls), except line breaks, tabs and the escape sequences of the program's own styles
/// (`keep`, [`style::sequences`](crate::style::sequences)): names, labels and messages from
/// input files cannot clear the screen, move the cursor or set the window title.
pub fn escape_controls<'a>(text: &'a str, keep: &[String]) -> Cow<'a, str> {
    let unsafe_char = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c == '\u{1b}' {
            if let Some(k) = keep.iter().find(|k| rest.starts_with(k.as_str())) {
                out.push_str(k);
                rest = &rest[k.len()..];
                continue;
            }
        }
        if unsafe_char(c) {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    Cow::Owned(out)
}

/// Writes rendered output to standard output; human text with its control characters escaped
/// ([`escape_controls`]).
pub fn emit(text: &str, format: OutputFormat, colour: Colour) -> Result<(), CliError> {
    let text = match format {
        OutputFormat::Human => escape_controls(text, &crate::style::sequences()),
        _ => Cow::Borrowed(text),
    };
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

/// Writes a message to standard error, styled like the rest (on a terminal only), with its
/// control characters escaped ([`escape_controls`]): messages quote input files and other
/// programs' errors.
pub fn emit_err(text: &str, colour: Colour) {
    let text = escape_controls(text, &crate::style::sequences());
    let mut err = anstream::AutoStream::new(std::io::stderr().lock(), colour.choice());
    // Nothing sensible can be done if standard error itself is gone.
    let _ = err.write_all(text.as_bytes()).and_then(|()| err.flush());
}

/// Serialises a JSON document, pretty-printed, with a final newline. DEL and the C1 control
/// characters, which JSON allows raw, are written as `\u00XX` escapes: the same document,
/// safe to print on a terminal.
pub fn to_json<T: serde::Serialize>(value: &T) -> Result<String, CliError> {
    let mut bytes = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(
        &mut bytes,
        TerminalSafe(serde_json::ser::PrettyFormatter::new()),
    );
    value
        .serialize(&mut ser)
        .map_err(|e| CliError::internal(format!("cannot serialise the JSON output: {e}")))?;
    let mut s = String::from_utf8(bytes)
        .map_err(|e| CliError::internal(format!("the JSON output is not UTF-8: {e}")))?;
    s.push('\n');
    Ok(s)
}

/// serde_json's pretty formatter, with the control characters it leaves raw in strings (DEL,
/// C1) escaped.
struct TerminalSafe(serde_json::ser::PrettyFormatter<'static>);

impl serde_json::ser::Formatter for TerminalSafe {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        // DEL is 0x7f; the C1 controls are 0xc2 0x80 to 0xc2 0x9f in UTF-8.
        if !fragment.bytes().any(|b| b == 0x7f || b == 0xc2) {
            return w.write_all(fragment.as_bytes());
        }
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if c.is_control() {
                w.write_all(&fragment.as_bytes()[start..i])?;
                write!(w, "\\u{:04x}", u32::from(c))?;
                start = i + c.len_utf8();
            }
        }
        w.write_all(&fragment.as_bytes()[start..])
    }

    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_array(w)
    }

    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array(w)
    }

    fn begin_array_value<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_array_value(w, first)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array_value(w)
    }

    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object(w)
    }

    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object(w)
    }

    fn begin_object_key<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_object_key(w, first)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object_value(w)
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object_value(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::style;

    #[test]
    fn controls_are_escaped_but_the_programs_own_styles_kept() {
        let keep = style::sequences();
        let own = style::paint(style::BAD, "refused");
        assert_eq!(escape_controls(&own, &keep), own.as_str());
        let hostile = "\u{1b}]0;owned\u{7}\u{1b}[2Jmodel\u{0}\r\u{9b}1m\ttab\nline";
        assert_eq!(
            escape_controls(hostile, &keep),
            "\\u{1b}]0;owned\\u{7}\\u{1b}[2Jmodel\\0\\r\\u{9b}1m\ttab\nline"
        );
        assert!(matches!(escape_controls("plain", &keep), Cow::Borrowed(_)));
    }

    #[test]
    fn json_escapes_what_it_would_leave_raw() {
        let text = "a\u{1b}b\u{7f}c\u{9b}d é";
        let json = to_json(&serde_json::json!({ "s": text })).unwrap();
        assert!(!json.chars().any(|c| c.is_control() && c != '\n'), "{json}");
        let back: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back["s"], text);
        assert_eq!(
            json,
            serde_json::to_string_pretty(&serde_json::json!({ "s": "x" }))
                .unwrap()
                .replace("\"x\"", "\"a\\u001bb\\u007fc\\u009bd é\"")
                + "\n"
        );
    }
}
