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
