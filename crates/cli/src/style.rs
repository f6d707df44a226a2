//! The colours of the human output. Renderers always emit these ANSI styles; whether they reach
//! the screen is decided when writing ([`crate::output::emit`]).

use anstyle::{AnsiColor, Style};

/// Headings.
pub const HEADING: Style = Style::new().bold().underline();
/// Bus ids and other identifiers.
pub const ID: Style = Style::new().bold();
/// Good outcomes: bus addresses, accepted, allowed.
pub const GOOD: Style = AnsiColor::Green.on_default();
/// Outcomes with a cost: through the host bridge, ACS redirect.
pub const FAIR: Style = AnsiColor::Yellow.on_default();
/// Refusals.
pub const BAD: Style = AnsiColor::Red.on_default();
/// What is not known, and secondary details.
pub const DIM: Style = Style::new().dimmed();
/// Labels in key-value lines.
pub const LABEL: Style = AnsiColor::Cyan.on_default();

/// Every style above: their escape sequences are the only ones the human output may contain
/// ([`crate::output::escape_controls`]).
pub const ALL: [Style; 7] = [HEADING, ID, GOOD, FAIR, BAD, DIM, LABEL];

/// The escape sequences the styles write: each style's start, and the reset.
pub fn sequences() -> Vec<String> {
    let mut out: Vec<String> = ALL
        .iter()
        .flat_map(|s| [s.render().to_string(), s.render_reset().to_string()])
        .filter(|s| !s.is_empty())
        .collect();
    // Longest first, so that a style of two sequences is kept whole.
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out.dedup();
    out
}

/// `text` in `style`.
pub fn paint(style: Style, text: impl std::fmt::Display) -> String {
    format!("{style}{text}{style:#}")
}

/// The width of `text` on a terminal, ANSI escape sequences excluded.
pub fn width(text: &str) -> usize {
    let mut n = 0;
    let mut in_escape = false;
    for c in text.chars() {
        if in_escape {
            if c.is_ascii_alphabetic() {
                in_escape = false;
            }
        } else if c == '\u{1b}' {
            in_escape = true;
        } else {
            n += 1;
        }
    }
    n
}

/// `text` padded with spaces to `w` columns (styles do not count).
pub fn pad(text: &str, w: usize) -> String {
    let mut s = text.to_owned();
    s.extend(std::iter::repeat_n(' ', w.saturating_sub(width(text))));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn styles_take_no_room() {
        let s = paint(BAD, "no");
        assert_eq!(width(&s), 2);
        assert_eq!(width(&pad(&s, 5)), 5);
        assert_eq!(width("ACS ↔"), 5);
    }
}
