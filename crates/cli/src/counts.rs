//! Counts for people: a number with its noun, plural unless it is one (`1 bridge`, `0 bridges`,
//! `2 switches`), the same in every output.

/// `n` and its noun, plural unless `n` is 1.
pub fn count(n: impl Into<u64>, noun: &str) -> String {
    let n = n.into();
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {}", plural(noun))
    }
}

/// The plural of a noun of this program's vocabulary: `bridge` → `bridges`, `switch` →
/// `switches`, `host bridge` → `host bridges`.
pub fn plural(noun: &str) -> String {
    if ["s", "x", "ch", "sh"].iter().any(|e| noun.ends_with(e)) {
        format!("{noun}es")
    } else {
        format!("{noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_agree_with_their_number() {
        assert_eq!(count(1u32, "bridge"), "1 bridge");
        assert_eq!(count(0u32, "bridge"), "0 bridges");
        assert_eq!(count(2u64, "host bridge"), "2 host bridges");
        assert_eq!(count(3u8, "switch"), "3 switches");
        assert_eq!(count(1u8, "hop"), "1 hop");
    }
}
