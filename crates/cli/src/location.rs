//! Places in a text file, for error messages: `path:line:column`.

use std::path::Path;

/// A 1-based line and column (in characters) of a byte offset in `text`.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    // Step back to a character boundary so that slicing is valid.
    let mut at = offset;
    while at > 0 && !text.is_char_boundary(at) {
        at -= 1;
    }
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// `path:line:column` for a byte offset in the file's text.
pub fn at(path: &Path, text: &str, offset: usize) -> String {
    let (line, column) = line_column(text, offset);
    format!("{}:{line}:{column}", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_columns_count_from_one() {
        let t = "a = 1\nbé = 2\n";
        assert_eq!(line_column(t, 0), (1, 1));
        assert_eq!(line_column(t, 4), (1, 5));
        assert_eq!(line_column(t, 6), (2, 1));
        assert_eq!(
            line_column(t, 9),
            (2, 3),
            "columns count characters, not bytes"
        );
        assert_eq!(line_column(t, 8), (2, 2), "inside a character: its start");
        assert_eq!(line_column(t, 999), (3, 1));
    }
}
