//! What the README and docs/ promise a new user: how to get the binary they show.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::repo_root;

fn readme() -> String {
    std::fs::read_to_string(repo_root().join("README.md")).unwrap()
}

#[test]
fn the_readme_says_how_to_get_the_binary_the_docs_run() {
    let readme = readme();
    // `cargo install --path P` must name the package that builds `dmabuf-ic`.
    let install = readme
        .split("cargo install --path ")
        .nth(1)
        .expect("README.md says `cargo install --path ...`");
    let path: String = install
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '`')
        .collect();
    let manifest = std::fs::read_to_string(repo_root().join(&path).join("Cargo.toml"))
        .unwrap_or_else(|e| panic!("README.md installs from {path}: {e}"));
    let manifest: toml::Table = manifest.parse().unwrap();
    let bins = manifest["bin"].as_array().unwrap();
    assert!(
        bins.iter().any(|b| b["name"].as_str() == Some("dmabuf-ic")),
        "{path} does not build dmabuf-ic"
    );
    assert!(
        readme.contains("`cargo build --release`") && readme.contains("target/release/dmabuf-ic"),
        "README.md names the release build and where the binary lands"
    );
}

#[test]
fn the_exit_status_table_names_every_format_a_command_refuses() {
    let cli = std::fs::read_to_string(repo_root().join("docs/cli.md")).unwrap();
    let usage = cli
        .lines()
        .find(|l| l.starts_with("| 2 |"))
        .expect("cli.md has a row for status 2");
    let mut refused = 0;
    for (command, args) in [
        ("topo", &[][..]),
        ("matrix", &[]),
        ("explain", &["a", "b"]),
        ("negotiate", &["/nonexistent/s.toml"]),
        ("simulate", &["/nonexistent/s.toml"]),
    ] {
        for format in ["toml", "svg", "dot"] {
            let mut line = vec!["--format", format, command];
            line.extend_from_slice(args);
            let r = common::run(&line);
            if r.code == 2 && r.stderr.contains("does not produce --format") {
                refused += 1;
                // One clause names both: "`svg` and `dot` on `matrix` and `simulate`".
                let named = usage.split(';').any(|c| {
                    c.contains(&format!("`{format}`")) && c.contains(&format!("`{command}`"))
                });
                assert!(
                    named,
                    "`{command}` refuses --format {format}, and cli.md's status 2 does not say so: {usage}"
                );
            }
        }
    }
    assert!(refused >= 5, "{refused} refusals");
}

/// A command and the output the docs show for it.
struct Example {
    /// `file:line` of the command.
    at: String,
    /// The command line, without the prompt.
    command: String,
    /// The lines shown after it (`...` stands for lines left out; within a line, for a part).
    shown: Vec<String>,
}

/// The Markdown files whose examples are checked.
fn markdown_files() -> Vec<std::path::PathBuf> {
    let mut files = vec![repo_root().join("README.md")];
    let mut docs: Vec<_> = std::fs::read_dir(repo_root().join("docs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// The fenced blocks of a Markdown text: (line of the opening fence, info string, lines).
fn blocks(text: &str) -> Vec<(usize, String, Vec<String>)> {
    let mut out = Vec::new();
    let mut open: Option<(usize, String, Vec<String>)> = None;
    for (k, line) in text.lines().enumerate() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(info)) => open = Some((k + 1, info.trim().to_owned(), Vec::new())),
            (Some(_), Some(_)) => out.extend(open.take()),
            (Some((_, _, lines)), None) => lines.push(line.to_owned()),
            (None, None) => {}
        }
    }
    out
}

/// Every `$ dmabuf-ic ...` in a fenced block, with the lines shown after it.
fn examples() -> Vec<Example> {
    let mut out = Vec::new();
    for file in markdown_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let name = file
            .strip_prefix(repo_root())
            .unwrap()
            .display()
            .to_string();
        for (start, _, lines) in blocks(&text) {
            for (k, line) in lines.iter().enumerate() {
                let Some(command) = line.strip_prefix("$ dmabuf-ic ") else {
                    continue;
                };
                let shown = lines[k + 1..]
                    .iter()
                    .take_while(|l| !l.starts_with("$ "))
                    .cloned()
                    .collect();
                out.push(Example {
                    at: format!("{name}:{}", start + k + 1),
                    command: command.to_owned(),
                    shown,
                });
            }
        }
    }
    out
}

/// The words of a plain command line: separated by spaces, single or double quotes kept
/// together. Anything a shell would do more with (pipes, redirections, `;`, `$`) is refused:
/// an example is one run of the program.
fn words(at: &str, line: &str) -> Vec<String> {
    assert!(
        !line.contains(['|', '>', '<', ';', '&', '$', '`']),
        "{at}: `{line}` is not a plain command"
    );
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quote = None;
    let mut any = false;
    for c in line.chars() {
        match (quote, c) {
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (Some(q), c) if c == q => quote = None,
            (None, ' ') => {
                if any {
                    out.push(std::mem::take(&mut word));
                }
                any = false;
            }
            (_, c) => {
                word.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(word);
    }
    out
}

/// Whether an actual line is what a shown line shows: the same, or the same with each `...` of
/// the shown line standing for any text.
fn line_shows(shown: &str, actual: &str) -> bool {
    let (shown, actual) = (shown.trim_end(), actual.trim_end());
    if shown == actual {
        return true;
    }
    let parts: Vec<&str> = shown.split("...").collect();
    if parts.len() < 2 {
        return false;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !actual.starts_with(first) || actual.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &actual[first.len()..];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

/// Whether the lines shown are the actual output with lines left out where a line `...` is.
fn output_shows(shown: &[String], actual: &[&str]) -> bool {
    // known[i][j]: whether shown[i..] shows actual[j..].
    let (n, m) = (shown.len(), actual.len());
    let mut known = vec![vec![false; m + 1]; n + 1];
    known[n][m] = true;
    for i in (0..n).rev() {
        for j in (0..=m).rev() {
            known[i][j] = if shown[i].trim() == "..." {
                known[i + 1][j] || (j < m && known[i][j + 1])
            } else {
                j < m && line_shows(&shown[i], actual[j]) && known[i + 1][j + 1]
            };
        }
    }
    known[0][0]
}

/// Runs an example from the repository's root, the fixtures named as the docs name them
/// (`../shared/fixtures`), and gives what a terminal shows: standard error (notes and
/// warnings come first), then standard output.
fn run_example(fx: &std::path::Path, ex: &Example) -> String {
    let shared = "../shared/fixtures";
    let fixtures = fx.display().to_string();
    let mut args: Vec<String> = words(&ex.at, &ex.command)
        .into_iter()
        .map(|w| match w.strip_prefix(shared) {
            Some(rest) => format!("{fixtures}{rest}"),
            None => w,
        })
        .collect();
    // A scenario's machine is named relative to the scenario, from examples/ to the shared
    // fixtures; where the fixtures are elsewhere, the command line names them instead.
    let default = repo_root().join("..").join("shared/fixtures");
    if default.canonicalize().ok().as_deref() != Some(fx) {
        if let Some(scenario) = args.iter().find(|a| a.ends_with(".toml")) {
            if let Some((kind, m)) = common::scenario_machine(&repo_root().join(scenario), fx) {
                if m.starts_with(fx) {
                    args.insert(0, m.display().to_string());
                    args.insert(0, format!("--{kind}"));
                }
            }
        }
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = common::run(&refs);
    format!("{}{}", r.stderr, r.stdout).replace(&fixtures, shared)
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn every_example_in_the_docs_shows_what_its_command_prints() {
    let Some(fx) = common::fixtures() else { return };
    let examples = examples();
    assert!(examples.len() >= 6, "{} examples found", examples.len());
    let mut wrong = Vec::new();
    for ex in &examples {
        let actual = run_example(&fx, ex);
        let lines: Vec<&str> = actual.lines().collect();
        if !output_shows(&ex.shown, &lines) {
            wrong.push(format!(
                "{}: `dmabuf-ic {}` shows\n{}\nbut prints\n{}",
                ex.at,
                ex.command,
                ex.shown.join("\n"),
                actual
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn every_picture_in_the_docs_is_what_its_command_draws() {
    let Some(fx) = common::fixtures() else { return };
    let mut pictures = 0;
    for file in markdown_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        for (start, _, lines) in blocks(&text) {
            // `dmabuf-ic ... \` continued lines, `> docs/images/NAME`.
            let joined = lines.join("\n").replace("\\\n", " ");
            for line in joined.lines() {
                let Some((command, target)) = line.split_once(" > docs/images/") else {
                    continue;
                };
                let Some(command) = command.trim().strip_prefix("dmabuf-ic ") else {
                    continue;
                };
                let at = format!("{}:{start}", file.display());
                let ex = Example {
                    at: at.clone(),
                    command: command.split_whitespace().collect::<Vec<_>>().join(" "),
                    shown: Vec::new(),
                };
                let drawn = run_example(&fx, &ex);
                let path = repo_root().join("docs/images").join(target.trim());
                let kept = std::fs::read_to_string(&path).unwrap();
                assert!(
                    drawn == kept,
                    "{at}: docs/images/{} is not what `dmabuf-ic {}` draws now: run it again",
                    target.trim(),
                    ex.command
                );
                pictures += 1;
            }
        }
    }
    assert!(pictures >= 1, "no picture command found");
}

#[test]
fn shown_output_leaves_lines_out_only_where_it_says_so() {
    let shown: Vec<String> = ["a", "...", "d ... f", "g"].map(String::from).to_vec();
    assert!(output_shows(&shown, &["a", "b", "c", "d e f", "g"]));
    assert!(output_shows(&shown, &["a", "d x f", "g"]));
    // A line left out without `...` is a mismatch, and so is a changed line.
    let strict: Vec<String> = ["a", "c"].map(String::from).to_vec();
    assert!(!output_shows(&strict, &["a", "b", "c"]));
    assert!(!output_shows(&shown, &["a", "d e", "g"]));
    assert!(!output_shows(&shown, &["a", "d e f", "g", "h"]));
    // Program output that itself holds `...` is shown by itself.
    assert!(line_shows("x, ... (6 bundles)", "x, ... (6 bundles)"));
    assert_eq!(
        words("t", "--sysfs 'a b' explain 1 2"),
        ["--sysfs", "a b", "explain", "1", "2"]
    );
}
