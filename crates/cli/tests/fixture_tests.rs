//! Every test that reads the shared fixtures says so in its attributes:
//! `#[cfg_attr(no_fixtures, ignore = "...")]`. The build script (`crates/fixtures-cfg.rs`) sets
//! `no_fixtures` when the folder is missing, so a clone without `../shared` counts those tests
//! as ignored in the test summary instead of passing them silently (under `CI=true` they run and
//! fail). This reads the tests of every crate and names those that lack the attribute.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};

/// A function in a test file: its name, the attribute lines above it, and its body.
struct Item {
    name: String,
    attrs: Vec<String>,
    body: String,
    at: String,
}

impl Item {
    fn is_test(&self) -> bool {
        self.attrs.iter().any(|a| a == "#[test]")
    }
}

/// The functions of a rustfmt-formatted file: `fn NAME` at any indentation, up to the closing
/// brace at the same indentation.
fn items(path: &Path, text: &str) -> Vec<Item> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let indent = &line[..line.len() - line.trim_start().len()];
        let rest = line.trim_start();
        let rest = rest.strip_prefix("pub ").unwrap_or(rest);
        let Some(name) = rest.strip_prefix("fn ") else {
            i += 1;
            continue;
        };
        let name: String = name
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let close = format!("{indent}}}");
        let end = (i..lines.len())
            .find(|&j| lines[j] == close)
            .unwrap_or(lines.len());
        let mut attrs = Vec::new();
        let mut a = i;
        while a > 0 && lines[a - 1].trim_start().starts_with("#[") {
            a -= 1;
            attrs.push(lines[a].trim().to_owned());
        }
        out.push(Item {
            name,
            attrs,
            body: lines[(i + 1).min(end)..end].join("\n"),
            at: format!("{}:{}", path.display(), i + 1),
        });
        i = end + 1;
    }
    out
}

/// Whether `text` names `word` as a whole identifier.
fn mentions(text: &str, word: &str) -> bool {
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(word).any(|(k, _)| {
        let before = text[..k].chars().next_back();
        let after = text[k + word.len()..].chars().next();
        !before.is_some_and(ident) && !after.is_some_and(ident)
    })
}

/// The `.rs` files of a crate's `tests/` folder and its subfolders.
fn test_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(test_files(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// The tests of one crate that read the fixtures (directly, or through helpers that do) and do
/// not carry the attribute.
fn unmarked(crate_dir: &Path) -> Vec<String> {
    let mut all = Vec::new();
    for f in test_files(&crate_dir.join("tests")) {
        // This file's own strings name the patterns it looks for.
        if f.file_name().is_some_and(|n| n == "fixture_tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        all.extend(items(&f, &text));
    }
    // Helpers that reach the fixtures, to a fixed point.
    let mut helpers: Vec<String> = Vec::new();
    loop {
        let reads = |i: &Item| {
            i.body.contains("fixtures()") || helpers.iter().any(|h| mentions(&i.body, h))
        };
        let new: Vec<String> = all
            .iter()
            .filter(|i| !i.is_test() && i.name != "fixtures" && !helpers.contains(&i.name))
            .filter(|i| reads(i))
            .map(|i| i.name.clone())
            .collect();
        if new.is_empty() {
            break;
        }
        helpers.extend(new);
    }
    all.iter()
        .filter(|i| i.is_test())
        .filter(|i| i.body.contains("fixtures()") || helpers.iter().any(|h| mentions(&i.body, h)))
        .filter(|i| {
            !i.attrs
                .iter()
                .any(|a| a.starts_with("#[cfg_attr(no_fixtures, ignore"))
        })
        .map(|i| format!("{} ({})", i.name, i.at))
        .collect()
}

#[test]
fn every_test_that_reads_the_fixtures_is_ignored_without_them() {
    let crates = common::repo_root().join("crates");
    let mut missing = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&crates)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .collect();
    dirs.sort();
    for d in &dirs {
        missing.extend(unmarked(d));
    }
    assert!(
        missing.is_empty(),
        "these tests read the shared fixtures but would pass silently without them; mark each \
         #[cfg_attr(no_fixtures, ignore = \"needs ../shared/fixtures or DMABUF_IC_FIXTURES\")]:\n  {}",
        missing.join("\n  ")
    );
}

#[test]
fn the_scan_finds_tests_that_read_the_fixtures_through_helpers() {
    let text = "\
fn corpus() -> Vec<u8> {
    let Some(fx) = common::fixtures() else { return Vec::new() };
    read(fx)
}

fn lazy() -> &'static [u8] {
    CELL.get_or_init(corpus)
}

#[test]
fn reads_through_a_helper() {
    assert!(lazy().is_empty());
}

#[test]
#[cfg_attr(no_fixtures, ignore = \"needs ../shared/fixtures or DMABUF_IC_FIXTURES\")]
fn marked() {
    let Some(fx) = fixtures() else { return };
}

#[test]
fn reads_nothing() {
    assert_eq!(1 + 1, 2);
}
";
    let dir = std::env::temp_dir().join(format!("dmabuf-ic-fixture-scan-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("tests")).unwrap();
    std::fs::write(dir.join("tests/x.rs"), text).unwrap();
    let found = unmarked(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("reads_through_a_helper"), "{found:?}");
}
