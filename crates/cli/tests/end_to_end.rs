//! The binary as users meet it: help, exit codes, messages on standard error for bad paths,
//! unknown bus ids and bad scenario files, colour rules, and every shipped example.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Scratch, arg, fixtures, repo_root, run, run_with, scenario_machine};
use serde_json::Value;

const SWITCH: &str = "kernel-oracle/switch-vs-rootport.tar.gz";

#[test]
fn help_has_examples_and_exit_codes() {
    let r = run(&["--help"]);
    assert_eq!(r.code, 0);
    for word in [
        "topo",
        "matrix",
        "explain",
        "negotiate",
        "Examples:",
        "Exit status",
        "--sysfs",
    ] {
        assert!(
            r.stdout.contains(word),
            "--help mentions {word}:\n{}",
            r.stdout
        );
    }
    for cmd in ["topo", "matrix", "explain", "negotiate"] {
        let r = run(&[cmd, "--help"]);
        assert_eq!(r.code, 0);
        assert!(
            r.stdout.contains("Examples:"),
            "{cmd} --help:\n{}",
            r.stdout
        );
    }
    let r = run(&["--version"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.starts_with("dmabuf-ic "));
}

#[test]
fn usage_errors_exit_2() {
    let r = run(&[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("Usage"), "{}", r.stderr);
    let r = run(&["frobnicate"]);
    assert_eq!(r.code, 2);
    let r = run(&["--format", "yaml", "topo"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("json"),
        "names the possible values: {}",
        r.stderr
    );
    let r = run(&["--sysfs", "a", "topo", "--nccl", "b"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("--sysfs") && r.stderr.contains("--nccl"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.is_empty());
}

#[test]
fn every_error_starts_with_the_program_name_usage_errors_included() {
    for (line, message) in [
        ("frobnicate", "unrecognized subcommand 'frobnicate'"),
        (
            "--format yaml topo",
            "invalid value 'yaml' for '--format <FORMAT>'",
        ),
        ("topo --sysfs", "a value is required for '--sysfs <PATH>'"),
        ("--sysfs a topo --sysfs b", "--sysfs is given twice"),
    ] {
        let r = run(&line.split(' ').collect::<Vec<_>>());
        assert_eq!(r.code, 2, "{line}");
        assert!(
            r.stderr
                .starts_with(&format!("dmabuf-ic: error: {message}")),
            "{line}: {}",
            r.stderr
        );
    }
}

#[test]
fn the_same_option_before_and_after_the_command_is_a_usage_error() {
    // The last one used to win silently: a scenario of cli.md's "two sources are a usage error".
    for line in [
        "--sysfs /nonexistent/a topo --sysfs /nonexistent/b",
        "--format json topo --format human",
        "--hwloc /nonexistent/a matrix --hwloc /nonexistent/b",
    ] {
        let r = run(&line.split(' ').collect::<Vec<_>>());
        assert_eq!(r.code, 2, "{line:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("is given twice, before and after"),
            "{line:?}: {}",
            r.stderr
        );
        assert!(r.stdout.is_empty(), "{line:?}");
    }
}

#[test]
fn a_bad_path_is_named() {
    let r = run(&["--sysfs", "/nonexistent/snapshot.tar.gz", "topo"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("error"), "{}", r.stderr);
    assert!(
        r.stderr.contains("/nonexistent/snapshot.tar.gz"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.is_empty());

    let junk = Scratch::new("junk.tar.gz", "this is not an archive\n");
    let r = run(&["--sysfs", junk.path(), "matrix"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains(junk.path()), "{}", r.stderr);

    let r = run(&["negotiate", "/nonexistent/scenario.toml"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("/nonexistent/scenario.toml"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_file_of_another_kind_names_the_option_that_reads_it() {
    let hwloc = Scratch::new(
        "kind.xml",
        "<?xml version=\"1.0\"?>\n<topology version=\"3.0\">\n</topology>\n",
    );
    let nccl = Scratch::new("kind-nccl.xml", "<system version=\"1\">\n</system>\n");
    let machine = Scratch::new("kind.toml", "format = 1\n");
    let passwd = Scratch::new("passwd", "root:x:0:0:root:/root:/bin/bash\n");
    let gzip = Scratch::bytes("kind.tar.gz", &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
    let scenario = repo_root().join("examples/negotiate-1-vram-same-device.toml");
    let scenario = scenario.to_str().unwrap();
    for (option, file, found, hint) in [
        (
            "--sysfs",
            hwloc.path(),
            "an hwloc XML export",
            "read it with --hwloc",
        ),
        (
            "--machine",
            hwloc.path(),
            "an hwloc XML export",
            "read it with --hwloc",
        ),
        (
            "--hwloc",
            nccl.path(),
            "an NCCL topology file",
            "read it with --nccl",
        ),
        (
            "--machine",
            gzip.path(),
            "a gzip-compressed file",
            "read it with --sysfs",
        ),
        (
            "--sysfs",
            machine.path(),
            "a TOML file",
            "read it with --machine",
        ),
        ("--sysfs", passwd.path(), "a text file", ""),
        (
            "--nccl",
            scenario,
            "a TOML file",
            "run `dmabuf-ic negotiate",
        ),
    ] {
        let r = run(&[option, file, "topo"]);
        assert_eq!(r.code, 1, "{option} {file}: {}", r.stderr);
        assert!(
            r.stderr.contains(&format!("found {found}")) && r.stderr.contains(hint),
            "{option} {file}: {}",
            r.stderr
        );
        // Not a parser's complaint about a file it was never meant for, nor a quote of it.
        for wrong in ["cksum", "key with no value", "0x8b", "root:x"] {
            assert!(!r.stderr.contains(wrong), "{option} {file}: {}", r.stderr);
        }
    }
}

#[test]
fn a_scenario_machine_that_is_not_there_is_named_at_its_line() {
    for command in ["negotiate", "simulate"] {
        let text = "# a scenario\n[machine]\nsysfs = \"snapshots/nope.tar.gz\"\n";
        let f = Scratch::new(&format!("missing-machine-{command}.toml"), text);
        let dir = std::path::Path::new(f.path()).parent().unwrap();
        // A scenario needs more than a machine; the machine is checked when it is loaded,
        // after the file's own checks, unless the command line replaces it.
        let text = match command {
            "negotiate" => {
                format!("{text}[[exporter]]\ninterconnect = \"dma-addr\"\nmemory = \"system\"\n")
            }
            _ => format!(
                "{text}[buffer]\nsize = 4096\nexporter = \"00:00.0\"\n[[placement]]\nname = \"ram\"\nmemory = \"system\"\nphys = 0x1000\n"
            ),
        };
        std::fs::write(f.path(), text).unwrap();
        let r = run(&[command, f.path()]);
        assert_eq!(r.code, 1, "{command}: {}", r.stderr);
        let at = format!("{}:3:9: ", f.path());
        assert!(r.stderr.contains(&at), "{command}: {}", r.stderr);
        assert!(
            r.stderr.contains("`snapshots/nope.tar.gz`")
                && r.stderr.contains("relative to the scenario file")
                && r.stderr
                    .contains(&dir.join("snapshots/nope.tar.gz").display().to_string()),
            "{command}: {}",
            r.stderr
        );
    }
}

#[test]
fn an_empty_scenario_is_an_error() {
    for text in ["", "# to do\n", "description = \"later\"\n"] {
        let f = Scratch::new("empty-scenario.toml", text);
        let r = run(&["negotiate", f.path()]);
        assert_eq!(r.code, 1, "{text:?}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{text:?}: {}", r.stdout);
        assert!(
            r.stderr.contains(&format!("{}: no offers", f.path())),
            "{text:?}: {}",
            r.stderr
        );
    }
}

#[test]
fn every_source_names_a_missing_file() {
    for opt in ["--sysfs", "--hwloc", "--nccl", "--machine"] {
        let r = run(&[opt, "/nonexistent/file", "topo"]);
        assert_eq!(r.code, 1, "{opt}");
        assert!(
            r.stderr.contains("/nonexistent/file"),
            "{opt}: names the file: {}",
            r.stderr
        );
    }
}

#[test]
fn bad_machine_files_name_line_and_column() {
    let xml = Scratch::new(
        "bad.xml",
        "<topology>\n  <object type=\"Machine\">\n  <bad\n",
    );
    let r = run(&["--hwloc", xml.path(), "topo"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains(&format!("{}:3:", xml.path())),
        "{}",
        r.stderr
    );
    let nccl = Scratch::new(
        "bad-nccl.xml",
        "<system version=\"1\">\n  <cpu numaid=\"x\">\n",
    );
    let r = run(&["--nccl", nccl.path(), "matrix"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains(&format!("{}:", nccl.path())),
        "{}",
        r.stderr
    );
    let toml = Scratch::new("bad-machine.toml", "format = 1\n[[function]]\nbdf = 7\n");
    let r = run(&["--machine", toml.path(), "topo"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains(&format!("{}:", toml.path())),
        "{}",
        r.stderr
    );
    assert!(r.stdout.is_empty());
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn unknown_bus_ids_name_the_closest() {
    let Some(fx) = fixtures() else { return };
    let m = arg(&fx, SWITCH);
    let r = run(&["--sysfs", &m, "explain", "03:00.1", "05:00.0"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("no PCI function 0000:03:00.1"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("closest: 0000:03:00.0"), "{}", r.stderr);
    assert!(r.stdout.is_empty());

    let r = run(&["--sysfs", &m, "matrix", "03:00.0", "nvme7"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("`nvme7`"), "{}", r.stderr);

    let r = run(&["--sysfs", &m, "explain", "not-a-device", "05:00.0"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("provider"), "{}", r.stderr);
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn the_explain_command_negotiate_prints_runs_on_the_same_machine() {
    let Some(fx) = fixtures() else { return };
    let scenario = "examples/negotiate-6-nothing-in-common.toml";
    let (kind, machine) = scenario_machine(&repo_root().join(scenario), &fx).unwrap();
    let (option, machine) = (format!("--{kind}"), machine.display().to_string());
    let r = run(&["negotiate", scenario, &option, &machine]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    let hint = r
        .stdout
        .split_once("(dmabuf-ic ")
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(hint, _)| hint)
        .unwrap_or_else(|| panic!("no explain command in:\n{}", r.stdout));
    let words: Vec<&str> = hint.split(' ').collect();
    assert_eq!(
        words,
        [
            option.as_str(),
            machine.as_str(),
            "explain",
            "0000:01:00.0",
            "0000:02:00.0"
        ]
    );
    let r = run(&words);
    assert_eq!(r.code, 0, "dmabuf-ic {hint}: {}", r.stderr);
    assert!(
        r.stdout
            .starts_with("Can 0000:02:00.0 DMA into the memory of 0000:01:00.0?")
            && r.stdout.contains(&machine)
            && r.stdout.contains("verdict   not-supported"),
        "{}",
        r.stdout
    );
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn bad_scenarios_name_file_line_and_column() {
    let Some(fx) = fixtures() else { return };
    let m = arg(&fx, SWITCH);
    let syntax = Scratch::new(
        "syntax.toml",
        "policy = \"best-route\"\n[[exporter]\ninterconnect = 1\n",
    );
    let r = run(&["--sysfs", &m, "negotiate", syntax.path()]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains(&format!("{}:2:", syntax.path())),
        "line 2 named: {}",
        r.stderr
    );

    let unknown = Scratch::new(
        "unknown.toml",
        "[[exporter]]\ninterconnect = \"dma-addr\"\nmemory = \"0000:03:00.0\"\n\n[[importer]]\ninterconnect = \"dma-addr\"\ndevice = \"0000:04:00.1\"\n",
    );
    let r = run(&["--sysfs", &m, "negotiate", unknown.path()]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains(&format!(
            "{}:7:10: no PCI function 0000:04:00.1",
            unknown.path()
        )),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("closest: 0000:04:00.0"), "{}", r.stderr);

    let wrong_arg = Scratch::new(
        "wrong.toml",
        "[[importer]]\ninterconnect = \"vram\"\npeer2peer = false\n",
    );
    let r = run(&["--sysfs", &m, "negotiate", wrong_arg.path()]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains(":3:13: `peer2peer` does not apply"),
        "{}",
        r.stderr
    );
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn colour_only_where_wanted() {
    let Some(fx) = fixtures() else { return };
    let m = arg(&fx, SWITCH);
    let esc = '\u{1b}';
    let forced = run_with(&["--sysfs", &m, "matrix"], &[("CLICOLOR_FORCE", "1")]);
    assert_eq!(forced.code, 0);
    assert!(
        forced.stdout.contains(esc),
        "CLICOLOR_FORCE=1 colours a pipe"
    );
    let r = run_with(
        &["--sysfs", &m, "matrix", "--no-color"],
        &[("CLICOLOR_FORCE", "1")],
    );
    assert!(!r.stdout.contains(esc), "--no-color wins");
    let r = run_with(
        &["--sysfs", &m, "matrix"],
        &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")],
    );
    assert!(!r.stdout.contains(esc), "NO_COLOR wins");
    let r = run(&["--sysfs", &m, "matrix"]);
    assert!(!r.stdout.contains(esc), "no colour on a pipe");
    // Colour never changes the text.
    assert_eq!(strip(&forced.stdout), r.stdout);
    // Clap's own help follows the same rules.
    let help = run_with(&["--help"], &[("CLICOLOR_FORCE", "1")]);
    assert!(help.stdout.contains(esc));
    let help = run_with(&["--help", "--no-color"], &[("CLICOLOR_FORCE", "1")]);
    assert!(!help.stdout.contains(esc));
    // JSON is never coloured.
    let r = run_with(
        &["--sysfs", &m, "--format", "json", "topo"],
        &[("CLICOLOR_FORCE", "1")],
    );
    assert!(!r.stdout.contains(esc));
}

fn strip(s: &str) -> String {
    let mut out = String::new();
    let mut esc = false;
    for c in s.chars() {
        if esc {
            esc = !c.is_ascii_alphabetic();
        } else if c == '\u{1b}' {
            esc = true;
        } else {
            out.push(c);
        }
    }
    out
}

/// What each shipped example must agree on: (file, exit code, chosen interconnect, chosen route
/// kind).
/// (interconnect, route kind) of the chosen candidate.
type Choice = Option<(&'static str, &'static str)>;

const EXAMPLES: &[(&str, i32, Choice)] = &[
    (
        "negotiate-1-vram-same-device.toml",
        0,
        Some(("vram", "same-device")),
    ),
    (
        "negotiate-2-multipath-nic.toml",
        0,
        Some(("dma-addr", "pci-bus-addr")),
    ),
    (
        "negotiate-2b-multipath-nic-real-machine.toml",
        0,
        Some(("dma-addr", "pci-bus-addr")),
    ),
    (
        "negotiate-3a-vfio-bar-to-iommufd.toml",
        0,
        Some(("phys", "pci-bus-addr")),
    ),
    ("negotiate-3b-vfio-bar-to-untrusted.toml", 3, None),
    (
        "negotiate-3c-trust-from-the-machine.toml",
        0,
        Some(("phys", "pci-thru-host-bridge")),
    ),
    (
        "negotiate-4a-sriov-vf-to-its-pf.toml",
        0,
        Some(("vram", "same-device")),
    ),
    (
        "negotiate-4b-sriov-vf-to-another-pf.toml",
        0,
        Some(("dma-addr", "pci-bus-addr")),
    ),
    (
        "negotiate-4c-sriov-vf-to-its-pf-toml-machine.toml",
        0,
        Some(("vram", "same-device")),
    ),
    (
        "negotiate-4d-sriov-vf-to-another-pf-toml-machine.toml",
        0,
        Some(("dma-addr", "pci-thru-host-bridge")),
    ),
    (
        "negotiate-5a-nvlink-best-route.toml",
        0,
        Some(("private-iova", "private-link")),
    ),
    (
        "negotiate-5b-nvlink-exporter-priority.toml",
        0,
        Some(("dma-addr", "pci-bus-addr")),
    ),
    ("negotiate-6-nothing-in-common.toml", 3, None),
];

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn every_example_runs_and_agrees() {
    let Some(fx) = fixtures() else { return };
    let dir = repo_root().join("examples");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("negotiate-") && n.ends_with(".toml"))
        .collect();
    files.sort();
    let known: Vec<&str> = EXAMPLES.iter().map(|e| e.0).collect();
    assert_eq!(files, known, "every example has an expectation here");
    for (name, code, expect) in EXAMPLES {
        let rel = format!("examples/{name}");
        let (kind, machine) = scenario_machine(&repo_root().join(&rel), &fx).unwrap();
        let opt = format!("--{kind}");
        let m = machine.display().to_string();
        let r = run(&[&opt, &m, "--format", "json", "negotiate", &rel]);
        assert_eq!(r.code, *code, "{name}: {}", r.stderr);
        let d: Value = serde_json::from_str(&r.stdout).unwrap();
        match expect {
            Some((interconnect, route)) => {
                let c = &d["candidates"][d["chosen"].as_u64().unwrap() as usize];
                assert_eq!(c["interconnect"], *interconnect, "{name}");
                assert_eq!(c["route"]["kind"], *route, "{name}");
                // The other accepted candidates are shown, ranked below.
                assert_eq!(c["rank"], 1, "{name}");
            }
            None => {
                assert_eq!(d["agreed"], false, "{name}");
                assert!(
                    d["candidates"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .all(|c| c["outcome"] == "rejected" && c["reason"]["message"] != ""),
                    "{name}: every pair says why"
                );
                assert!(r.stderr.contains("no common interconnect"), "{}", r.stderr);
            }
        }
    }
}

#[test]
fn examples_point_at_the_shared_fixtures() {
    // Examples name their machine relative to themselves: from examples/ the shared fixtures
    // are at ../../shared/fixtures; hand-written machines are in examples/machines/.
    for e in std::fs::read_dir(repo_root().join("examples")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|x| x != "toml") {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        let doc: toml::Table = text.parse().unwrap();
        let machine = doc["machine"].as_table().unwrap();
        let (_, v) = machine.iter().next().unwrap();
        let v = v.as_str().unwrap();
        assert!(
            v.starts_with("../../shared/fixtures/")
                || (v.starts_with("machines/") && repo_root().join("examples").join(v).is_file()),
            "{}",
            p.display()
        );
    }
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn topo_writes_a_machine_that_loads_back_the_same() {
    let Some(fx) = fixtures() else { return };
    for (opt, machine) in [
        ("--sysfs", SWITCH),
        ("--hwloc", "hwloc-xml/nvidiaDGX2.xml"),
        ("--nccl", "nccl/topo_8A100_4CX6.xml"),
    ] {
        let m = arg(&fx, machine);
        let toml = run(&[opt, &m, "topo", "--format", "toml"]);
        assert_eq!(toml.code, 0, "{machine}: {}", toml.stderr);
        let file = Scratch::new(&format!("{}.toml", machine.replace('/', "-")), &toml.stdout);
        let json = |args: &[&str]| -> Value {
            let r = run(args);
            assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
            let mut v: Value = serde_json::from_str(&r.stdout).unwrap();
            v.as_object_mut().unwrap().remove("source");
            v
        };
        let original = json(&[opt, &m, "topo", "--format", "json"]);
        let again = json(&["--machine", file.path(), "topo", "--format", "json"]);
        assert_eq!(
            original, again,
            "{machine}: the TOML round trip keeps the machine"
        );
        // And the same answers.
        let pairs = |src: &[&str]| {
            let mut a = src.to_vec();
            a.extend(["matrix", "--all", "--format", "json"]);
            run(&a).stdout
        };
        assert_eq!(
            pairs(&[opt, &m]),
            pairs(&["--machine", file.path()]),
            "{machine}"
        );
    }
    // Only `topo` writes TOML.
    let m = arg(&fx, SWITCH);
    let r = run(&["--sysfs", &m, "matrix", "--format", "toml"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("does not produce --format toml"),
        "{}",
        r.stderr
    );
}
