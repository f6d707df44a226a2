//! Shared test helpers: where the fixtures are, and running the binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The shared fixtures folder: `$DMABUF_IC_FIXTURES`, else `../../../shared/fixtures` from this
/// crate. When it is missing, `None` (the caller skips, saying so), unless `CI=true`, where a
/// missing folder fails the test.
pub fn fixtures() -> Option<PathBuf> {
    let dir = std::env::var_os("DMABUF_IC_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
        });
    if dir.is_dir() {
        return Some(dir.canonicalize().unwrap_or(dir));
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "fixtures folder {} is missing (set DMABUF_IC_FIXTURES); CI=true requires it",
            dir.display()
        );
    }
    eprintln!(
        "SKIPPED: fixtures folder {} is missing (set DMABUF_IC_FIXTURES to run this test)",
        dir.display()
    );
    None
}

/// The repository's root (where `examples/` and `docs/` are).
pub fn repo_root() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    p.canonicalize().unwrap_or(p)
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    /// Exit code (-1 if killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs `dmabuf-ic` with `args` from the repository's root, with colour left to its defaults
/// (standard output is a pipe, so there is none) and no colour-forcing variables inherited.
pub fn run(args: &[&str]) -> Run {
    run_with(args, &[])
}

/// Like [`run`], with extra environment variables.
pub fn run_with(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dmabuf-ic"));
    cmd.args(args)
        .current_dir(repo_root())
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("CLICOLOR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("the binary runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    }
}

/// A fixture's path as an argument.
pub fn arg(fx: &Path, rel: &str) -> String {
    fx.join(rel).display().to_string()
}

/// Replaces the fixtures folder's absolute path by `<fixtures>`, so snapshots do not depend on
/// where the fixtures are.
pub fn redact(text: &str, fx: &Path) -> String {
    text.replace(&fx.display().to_string(), "<fixtures>")
}

/// The machine a scenario names (`[machine] sysfs = ...` relative to the scenario): a shared
/// fixture is rebased on the fixtures folder in use, e.g. `("sysfs",
/// "<fx>/kernel-oracle/x.tar.gz")`; a machine shipped with the examples is taken as it is.
pub fn scenario_machine(scenario: &Path, fx: &Path) -> Option<(String, PathBuf)> {
    let text = std::fs::read_to_string(scenario).ok()?;
    let doc: toml::Table = text.parse().ok()?;
    let machine = doc.get("machine")?.as_table()?;
    let (kind, value) = machine.iter().next()?;
    let rel = value.as_str()?;
    let path = match rel.split_once("shared/fixtures/") {
        Some((_, inside)) => fx.join(inside),
        None => scenario.parent()?.join(rel),
    };
    Some((kind.clone(), path))
}

/// A scratch file in the temporary folder, removed when dropped.
pub struct Scratch(PathBuf);

impl Scratch {
    /// Writes `text` to a file whose name ends in `name`.
    pub fn new(name: &str, text: &str) -> Self {
        Self::bytes(name, text.as_bytes())
    }

    /// Writes `bytes` to a file whose name ends in `name`.
    pub fn bytes(name: &str, bytes: &[u8]) -> Self {
        let p = std::env::temp_dir().join(format!("dmabuf-ic-test-{}-{name}", std::process::id()));
        std::fs::write(&p, bytes).unwrap();
        Self(p)
    }

    /// Its path, as an argument.
    pub fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
