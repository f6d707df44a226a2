//! Text for pictures: estimated widths (so that text fits its boxes without a font engine),
//! wrapping, shortening, and XML escaping.
//!
//! Widths are DejaVu Sans advance widths (and DejaVu Sans Mono's for identifiers): DejaVu is
//! the widest of the common sans-serif defaults (Verdana, its model, is about as wide; Arial and
//! Helvetica are narrower), so text measured with it fits whichever of them the viewer has.
//! Characters outside ASCII count as one em.

/// DejaVu Sans advance widths of ASCII 32..=126, in thousandths of an em.
const SANS: [u16; 95] = [
    318, 401, 460, 838, 636, 950, 780, 275, 390, 390, 500, 838, 318, 361, 318, 337, 636, 636, 636,
    636, 636, 636, 636, 636, 636, 636, 337, 337, 838, 838, 838, 531, 1000, 684, 686, 698, 770, 632,
    575, 775, 752, 295, 295, 656, 557, 863, 748, 787, 603, 787, 695, 635, 611, 732, 684, 989, 685,
    611, 685, 390, 337, 390, 838, 500, 500, 613, 635, 550, 635, 615, 352, 635, 634, 278, 278, 579,
    278, 974, 634, 612, 635, 635, 411, 521, 392, 634, 592, 818, 592, 592, 525, 636, 337, 636, 838,
];

/// DejaVu Sans Bold advance widths of ASCII 32..=126, in thousandths of an em.
const SANS_BOLD: [u16; 95] = [
    348, 456, 521, 838, 696, 1002, 872, 306, 457, 457, 523, 838, 380, 415, 380, 365, 696, 696, 696,
    696, 696, 696, 696, 696, 696, 696, 400, 400, 838, 838, 838, 580, 1000, 774, 762, 734, 830, 683,
    683, 821, 837, 372, 372, 775, 637, 995, 837, 850, 733, 850, 770, 720, 682, 812, 774, 1103, 771,
    724, 725, 457, 365, 457, 838, 500, 500, 675, 716, 593, 716, 678, 435, 716, 712, 343, 343, 665,
    343, 1042, 712, 687, 716, 716, 493, 595, 478, 712, 652, 924, 645, 652, 582, 712, 365, 712, 838,
];

/// DejaVu Sans Mono's advance width, in thousandths of an em.
const MONO: u16 = 602;

/// Safety margin on estimated widths (other fonts, hinting, rounding).
const MARGIN: f32 = 1.04;

/// A font the pictures use.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Face {
    /// Sans-serif, regular.
    Sans,
    /// Sans-serif, bold.
    SansBold,
    /// Monospace (bus addresses, IDs).
    Mono,
}

impl Face {
    /// The CSS `font-family` list, widest first.
    pub const fn family(self) -> &'static str {
        match self {
            Face::Sans | Face::SansBold => "'DejaVu Sans', Verdana, Arial, Helvetica, sans-serif",
            Face::Mono => "'DejaVu Sans Mono', Menlo, Consolas, monospace",
        }
    }
}

/// The estimated width of `text` in `face` at `size` pixels.
pub fn width(text: &str, face: Face, size: f32) -> f32 {
    let units: u32 = text
        .chars()
        .map(|c| {
            let code = c as u32;
            match face {
                Face::Mono => u32::from(MONO),
                Face::Sans | Face::SansBold if (32..=126).contains(&code) => {
                    let table = if face == Face::Sans {
                        &SANS
                    } else {
                        &SANS_BOLD
                    };
                    u32::from(table[(code - 32) as usize])
                }
                _ => 1000,
            }
        })
        .sum();
    units as f32 / 1000.0 * size * MARGIN
}

/// `text` cut to fit `max` pixels, with `…` at the end when it was cut.
pub fn ellipsize(text: &str, face: Face, size: f32, max: f32) -> String {
    if width(text, face, size) <= max {
        return text.to_owned();
    }
    let ell = width("…", face, size);
    let mut out = String::new();
    let mut w = 0.0;
    for c in text.chars() {
        let cw = width(c.encode_utf8(&mut [0; 4]), face, size);
        if w + cw + ell > max {
            break;
        }
        out.push(c);
        w += cw;
    }
    let trimmed = out.trim_end();
    format!("{trimmed}…")
}

/// `text` broken at spaces into at most `lines` lines of at most `max` pixels; the last line
/// is shortened with `…` if the text does not fit.
pub fn wrap(text: &str, face: Face, size: f32, max: f32, lines: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut i = 0;
    while i < words.len() {
        let word = words[i];
        let candidate = if cur.is_empty() {
            word.to_owned()
        } else {
            format!("{cur} {word}")
        };
        if width(&candidate, face, size) <= max || cur.is_empty() {
            cur = candidate;
            i += 1;
            continue;
        }
        if out.len() + 1 == lines {
            break;
        }
        out.push(std::mem::take(&mut cur));
    }
    if out.len() < lines {
        let rest = if i < words.len() {
            let tail = words[i..].join(" ");
            if cur.is_empty() {
                tail
            } else {
                format!("{cur} {tail}")
            }
        } else {
            cur
        };
        if !rest.is_empty() || out.is_empty() {
            out.push(ellipsize(&rest, face, size, max));
        }
    }
    out.into_iter()
        .map(|l| ellipsize(&l, face, size, max))
        .collect()
}

/// `text` with `&`, `<`, `>`, `"` and `'` escaped, and control characters other than tab, newline
/// and carriage return (XML 1.0 forbids C0 and discourages DEL and C1) replaced by `�`.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c.is_control() || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_grow_with_text_and_mono_is_uniform() {
        assert!(width("WWW", Face::Sans, 12.0) > width("iii", Face::Sans, 12.0));
        assert!(width("abc", Face::SansBold, 12.0) > width("abc", Face::Sans, 12.0));
        let w = width("0000:00:00.0", Face::Mono, 10.0);
        assert!((w - 12.0 * 6.02 * MARGIN).abs() < 0.01);
    }

    #[test]
    fn wrapping_fits_and_ellipsizes() {
        let lines = wrap(
            "GV100GL [Tesla V100 SXM3 32GB] with a much longer name than fits",
            Face::SansBold,
            12.0,
            150.0,
            2,
        );
        assert_eq!(lines.len(), 2);
        for l in &lines {
            assert!(width(l, Face::SansBold, 12.0) <= 150.0, "{l}");
        }
        assert!(lines[1].ends_with('…'));
        assert_eq!(wrap("short", Face::Sans, 12.0, 150.0, 2), vec!["short"]);
        assert_eq!(wrap("", Face::Sans, 12.0, 150.0, 2), vec![""]);
        let long = wrap(
            "Supercalifragilisticexpialidocious",
            Face::Sans,
            12.0,
            60.0,
            2,
        );
        assert_eq!(long.len(), 1);
        assert!(width(&long[0], Face::Sans, 12.0) <= 60.0);
    }

    #[test]
    fn escaping() {
        assert_eq!(
            xml_escape("a<b & \"c\" 'd'>"),
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;"
        );
        assert_eq!(xml_escape("x\u{1}y"), "x\u{fffd}y");
    }
}
