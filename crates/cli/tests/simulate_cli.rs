//! `dmabuf-ic simulate` as users meet it: exit statuses (0 ok, 5 a failed expectation, 1 a bad
//! file with its line and column, 2 usage), messages on standard error, help, and no panic on
//! malformed files.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Scratch, fixtures, repo_root, run};
use serde_json::Value;

/// A scratch simulation file, with the examples' machine path (relative to `examples/`) made
/// absolute so that it still resolves from the temporary folder.
fn scratch(name: &str, text: &str) -> Scratch {
    let machines = repo_root().join("examples/machines");
    let text = text.replace(
        "machine = \"machines/",
        &format!("machine = \"{}/", machines.display()),
    );
    Scratch::new(&format!("simulate-{name}.toml"), &text)
}

/// Example 2 runs on a machine shipped with the examples: no fixtures needed.
const VFIO: &str = "examples/simulate-2-vfio-bar-revoked-on-reset.toml";

fn example(name: &str) -> String {
    std::fs::read_to_string(repo_root().join(name)).unwrap()
}

/// The line and column where `needle` starts in `text`.
fn position(text: &str, needle: &str) -> (usize, usize) {
    let at = text.find(needle).unwrap();
    let line = text[..at].matches('\n').count() + 1;
    let col = at - text[..at].rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

#[test]
fn an_example_runs_with_status_0() {
    let r = run(&["simulate", VFIO]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.is_empty(), "{}", r.stderr);
    assert!(r.stdout.contains("invariants held after every event"));
    let r = run(&["--format", "json", "simulate", VFIO]);
    assert_eq!(r.code, 0);
    let d: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(d["summary"]["expectations_failed"], 0);
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn every_example_runs_with_status_0() {
    let Some(fx) = fixtures() else { return };
    for e in std::fs::read_dir(repo_root().join("examples")).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if !(name.starts_with("simulate-") && name.ends_with(".toml")) {
            continue;
        }
        let rel = format!("examples/{name}");
        let (kind, machine) = common::scenario_machine(&repo_root().join(&rel), &fx).unwrap();
        let opt = format!("--{kind}");
        let m = machine.display().to_string();
        let r = run(&[&opt, &m, "simulate", &rel]);
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
    }
}

#[test]
fn a_vram_offset_outside_its_bar_is_an_error_not_a_dropped_offer() {
    // 0000:03:00.0's BAR2 is 16 GiB: a buffer at 20 GiB has no bus address through it. The
    // core's defaults would leave dma-addr out, and the NIC fall back to system memory.
    let text = r#"[machine]
machine = "machines/sriov-flex-gpus.toml"

[buffer]
size = 0x200000
exporter = "0000:03:00.0"

[[placement]]
name = "vram"
memory = "vram"
device = "0000:03:00.0"
offset = 0x500000000

[[placement]]
name = "ram"
memory = "system"
phys = 0x1_0000_0000

[[importer]]
name = "gpu"

[[importer.offer]]
interconnect = "dma-addr"
device = "0000:04:00.0"

[[event]]
attach = "gpu"
"#;
    let f = scratch("vram-outside-bar", text);
    let r = run(&["simulate", f.path()]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    let (line, col) = position(text, "name = \"vram\"");
    assert!(
        r.stderr.contains(&format!(
            "{}:{line}:{}: placement `vram`: dma-addr",
            f.path(),
            col + 7
        )),
        "{}",
        r.stderr
    );
    // Within the BAR it runs.
    let inside = scratch(
        "vram-inside-bar",
        &text.replace("0x500000000", "0x300000000"),
    );
    let r = run(&["simulate", inside.path()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("offers vram, dma-addr"), "{}", r.stdout);
}

#[test]
fn a_failed_expectation_exits_5_and_says_where() {
    let text = example(VFIO).replace(
        r#"expect = { outcome = "refused", reason = "revoked" }

[[event]]
map = "iommufd""#,
        r#"expect = { outcome = "ok" }

[[event]]
map = "iommufd""#,
    );
    let (line, col) = position(&text, r#""ok" }"#);
    let s = scratch("failed", &text);
    let r = run(&["simulate", s.path()]);
    assert_eq!(r.code, 5, "{}\n{}", r.stdout, r.stderr);
    let at = format!("{}:{line}:{col}", s.path());
    assert!(
        r.stderr.contains("1 of 26 expectations failed") && r.stderr.contains(&at),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("outcome: expected ok, found refused"),
        "{}",
        r.stderr
    );
    // The whole timeline is still printed, the failure marked where it happened.
    assert!(
        r.stdout.contains("✗ outcome: expected ok, found refused"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("1 of 26 expectations failed"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("#13  detach kvm"), "ran to the end");
    // JSON too, with status 5.
    let r = run(&["--format", "json", "simulate", s.path()]);
    assert_eq!(r.code, 5);
    let d: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(d["summary"]["expectations_failed"], 1);
    let failed: Vec<&Value> = d["events"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| e["expectations"].as_array().unwrap())
        .filter(|c| c["met"] == false)
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["found"], "refused");
    assert_eq!(failed[0]["at"], at.as_str());
}

#[test]
fn bad_files_name_line_and_column() {
    let base = example(VFIO);
    // (what to replace, by what, the text whose position is reported, what the message says)
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            r#"attach = "kvm""#,
            r#"attach = "kmv""#,
            r#""kmv""#,
            "no importer `kmv`; the file declares iommufd, kvm, pinned-dma",
        ),
        (
            r#"device = "0000:04:00.0""#,
            r#"device = "0000:04:00.1""#,
            r#""0000:04:00.1""#,
            "no PCI function 0000:04:00.1 on this machine",
        ),
        (
            r#"mode = "static"
revocable = true"#,
            r#"mode = "statik"
revocable = true"#,
            r#""statik""#,
            "unknown importer mode `statik` (did you mean `static`?)",
        ),
        (
            r#"device_reset = "0000:03:00.1""#,
            r#"link_down = "nvlink""#,
            r#""nvlink""#,
            "no private fabric `nvlink` on this machine (it has none)",
        ),
        (
            r#"memory = "bar""#,
            r#"memory = "bar"
phys = 0x1000"#,
            "0x1000\n",
            "`phys` does not apply to a `bar` placement",
        ),
        (
            r#"expect = { outcome = "ok", importer = [{ name = "iommufd", mapping = "none" }] }"#,
            r#"expect = { outcome = "ok", importer = [{ name = "iommufd", mapping = "gone" }] }"#,
            r#""gone""#,
            "unknown mapping state `gone`",
        ),
    ];
    for (from, to, at, says) in cases {
        assert!(base.contains(from), "{from}");
        let text = base.replacen(from, to, 1);
        let (line, col) = position(&text, at);
        let s = scratch("bad", &text);
        let r = run(&["simulate", s.path()]);
        assert_eq!(r.code, 1, "{says}: {}", r.stderr);
        let expected = format!("{}:{line}:{col}: {says}", s.path());
        assert!(
            r.stderr.contains(&expected),
            "expected {expected}\ngot {}",
            r.stderr
        );
        assert!(r.stdout.is_empty());
    }
    // A TOML syntax error.
    let s = scratch("syntax", "[buffer\nsize = 1\n");
    let r = run(&["simulate", s.path()]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains(&format!("{}:1:", s.path())),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("docs/simulation-format.md"),
        "{}",
        r.stderr
    );
    // A file that does not exist.
    let r = run(&["simulate", "/nonexistent/simulation.toml"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("/nonexistent/simulation.toml"),
        "{}",
        r.stderr
    );
}

#[test]
fn malformed_files_never_panic() {
    let base = example(VFIO);
    let mut texts: Vec<String> = vec![
        String::new(),
        "[buffer]\nsize = 0\nexporter = \"x\"\n".into(),
        "[buffer]\nsize = -1\nexporter = \"x\"\n".into(),
        "[[event]]\nrevoke = true\n".into(),
        base.replace("size = 0x200000", "size = 0xffffffffffffffff"),
        base.replace("offset = 0x100000", "offset = 0xffffffffffffff00"),
        base.replace("bar = 2", "bar = 9"),
        base.replace(
            "bar = 2",
            "bar = 2\naperture = { cpu = 0xffffffffffffffff, len = 0x10 }",
        ),
        base.replace("bar = 2", "bar = 2\naperture = { bar = 1 }"),
        base.replace(
            "migratable = false",
            "migratable = false\nstart = \"nowhere\"",
        ),
        base.replace(
            "[[event]]\nattach = \"pinned-dma\"",
            "[[event]]\nattach = \"pinned-dma\"\nbetween = [\"a\", \"b\", \"c\"]",
        ),
        base.replace(
            "interconnect = \"phys\"\ntrust = \"kvm\"",
            "interconnect = \"phys\"\ntrust = \"root\"",
        ),
        base.replace(
            "[[importer.offer]]\ninterconnect = \"phys\"\ntrust = \"kvm\"\n",
            "",
        ),
        base.replace("name = \"kvm\"", "name = \"\""),
    ];
    // Truncated at every tenth of the file.
    for k in 1..10 {
        let mut cut = base.len() * k / 10;
        while !base.is_char_boundary(cut) {
            cut -= 1;
        }
        texts.push(base[..cut].to_owned());
    }
    for (k, t) in texts.iter().enumerate() {
        let s = scratch(&format!("malformed-{k}"), t);
        let r = run(&["simulate", s.path()]);
        assert!(
            r.code == 0 || r.code == 1 || r.code == 5,
            "case {k}: status {}\n{}\n{t}",
            r.code,
            r.stderr
        );
        assert!(!r.stderr.contains("panicked"), "case {k}: {}", r.stderr);
        if r.code == 1 {
            assert!(r.stderr.contains("error:"), "case {k}: {}", r.stderr);
        }
    }
}

#[test]
fn usage_help_and_formats() {
    let r = run(&["--help"]);
    assert!(r.stdout.contains("simulate"), "{}", r.stdout);
    assert!(r.stdout.contains("5 `simulate`"), "{}", r.stdout);
    let r = run(&["simulate", "--help"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("Examples:") && r.stdout.contains("Exit status"));
    let r = run(&["simulate"]);
    assert_eq!(r.code, 2);
    let r = run(&["--format", "toml", "simulate", VFIO]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("does not produce --format toml"),
        "{}",
        r.stderr
    );
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn a_source_on_the_command_line_replaces_the_scenarios() {
    // The same timeline on the same machine named on the command line.
    let r = run(&[
        "--machine",
        "examples/machines/sriov-flex-gpus.toml",
        "simulate",
        VFIO,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let Some(fx) = fixtures() else { return };
    // On a machine without the vfio function, the file's device names are refused.
    let m = common::arg(&fx, "kernel-oracle/switch-vs-rootport.tar.gz");
    let r = run(&["--sysfs", &m, "simulate", VFIO]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("no PCI function 0000:03:00.1"),
        "{}",
        r.stderr
    );
}
