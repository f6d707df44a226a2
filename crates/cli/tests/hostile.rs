//! Hostile and huge input to the command line: every command ends with a correct answer or a
//! clear error naming the limit it reached (docs/cli.md, Limits), and nothing an input file
//! says reaches the terminal as a control sequence. Each test is one of the reproducers of the
//! "hostile and huge input" issue, scaled to run in seconds in a debug build.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Scratch, repo_root, run};
use dmabuf_ic::limits::{MAX_CANDIDATES, MAX_IMPORTERS_SHOWN, MAX_SIMULATION_STATES};

/// The repository's hand-written machine (no fixtures needed).
fn machine_toml() -> String {
    repo_root()
        .join("examples/machines/sriov-flex-gpus.toml")
        .display()
        .to_string()
}

/// A scenario on the hand-written machine with `n` exporter and `n` importer offers.
fn scenario(n: usize) -> String {
    let mut s = format!(
        "policy = \"best-route\"\n[machine]\nmachine = \"{}\"\n",
        machine_toml()
    );
    for k in 0..n {
        let memory = ["0000:03:00.0", "system", "0000:04:00.0"][k % 3];
        s.push_str(&format!(
            "[[exporter]]\ninterconnect = \"dma-addr\"\nmemory = \"{memory}\"\n"
        ));
    }
    for k in 0..n {
        let device = ["0000:03:00.1", "0000:04:00.0", "0000:03:00.2"][k % 3];
        s.push_str(&format!(
            "[[importer]]\ninterconnect = \"dma-addr\"\ndevice = \"{device}\"\n"
        ));
    }
    s
}

#[test]
fn a_large_negotiation_is_ranked_in_full() {
    let n = 300;
    let f = Scratch::new("large.toml", &scenario(n));
    let r = run(&["--format", "json", "negotiate", f.path()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let candidates = doc["candidates"].as_array().unwrap();
    assert_eq!(candidates.len(), n * n);
    // The ranks of the accepted candidates are 1, 2, ... without a gap or a repeat, and the
    // chosen one is first.
    let mut ranks: Vec<u64> = candidates
        .iter()
        .filter_map(|c| c["rank"].as_u64())
        .collect();
    let accepted = ranks.len();
    assert!(accepted > n, "most pairs are accepted ({accepted})");
    ranks.sort_unstable();
    assert_eq!(ranks, (1..=accepted as u64).collect::<Vec<_>>());
    let chosen = doc["chosen"].as_u64().unwrap() as usize;
    assert_eq!(candidates[chosen]["rank"], 1);
}

#[test]
fn a_negotiation_over_the_limit_is_refused_before_it_starts() {
    // The 30 000 × 30 000 offers asked for 57.6 GB and aborted; the product is now
    // checked first. A side just over the square root of the limit shows the same.
    let side = (MAX_CANDIDATES as f64).sqrt() as usize + 1;
    let f = Scratch::new("over.toml", &scenario(side));
    let r = run(&["negotiate", f.path()]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "{side} exporter × {side} importer offers make {} candidate pairs; at most \
             {MAX_CANDIDATES} are negotiated",
            side * side
        )),
        "{}",
        r.stderr
    );
    assert!(r.stdout.is_empty());
}

/// A machine TOML with `n` endpoints on one root bus.
fn wide_machine(n: usize) -> String {
    let mut s = String::new();
    for i in 0..n {
        s.push_str(&format!(
            "[[function]]\nbdf = \"0000:{:02x}:{:02x}.{}\"\nparent = \"pci0000:00\"\nclass = 0x010802\n",
            i / 256,
            (i % 256) / 8,
            i % 8
        ));
    }
    s
}

#[test]
fn a_matrix_too_large_is_refused_with_its_size() {
    // The 100 000 functions asked for 40 GB; here 1100 NVMe functions, over the
    // 1024 devices a matrix may have.
    let f = Scratch::new("wide.toml", &wide_machine(1100));
    let r = run(&["--machine", f.path(), "matrix"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("a matrix of the 1100 devices")
            && r.stderr.contains("would hold 1210000 pairs (about ")
            && r.stderr.contains("at most 1048576 pairs are computed")
            && r.stderr.contains("name the devices to compare"),
        "{}",
        r.stderr
    );
    // Naming a few of them works.
    let r = run(&[
        "--machine",
        f.path(),
        "--format",
        "json",
        "matrix",
        "0000:00:00.0",
        "0000:01:00.0",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn the_deepest_tree_is_drawn_without_recursion() {
    // 256 bridges, then an endpoint: every line of the tree, in every format.
    let depth = pci_topology::limits::MAX_BRIDGE_DEPTH;
    let mut s = String::new();
    for i in 0..=depth {
        let bdf = format!("{:04x}:{:02x}:00.0", i / 256, i % 256);
        s.push_str(&format!("[[function]]\nbdf = \"{bdf}\"\n"));
        if i < depth {
            s.push_str("class = 0x060400\nheader_type = 1\n");
        }
        if i > 0 {
            s.push_str(&format!(
                "parent = \"{:04x}:{:02x}:00.0\"\n",
                (i - 1) / 256,
                (i - 1) % 256
            ));
        }
    }
    let f = Scratch::new("deep.toml", &s);
    let r = run(&["--machine", f.path(), "topo"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains(&format!("{:04x}:{:02x}:00.0", depth / 256, depth % 256))
    );
    assert_eq!(r.stdout.matches("└─ ").count(), depth + 1);
    for format in ["json", "svg", "dot", "toml"] {
        let r = run(&["--machine", f.path(), "--format", format, "topo"]);
        assert_eq!(r.code, 0, "{format}: {}", r.stderr);
    }
}

/// A simulation on the hand-written machine: `importers` importers attach and map, then the
/// buffer moves back and forth for the remaining events.
fn simulation(importers: usize, events: usize) -> String {
    let mut s = format!(
        "[machine]\nmachine = \"{}\"\n[buffer]\nsize = 0x10000\nexporter = \"0000:03:00.0\"\n\
         [[placement]]\nname = \"ram\"\nmemory = \"system\"\nphys = 0x1000_0000\n\
         [[placement]]\nname = \"ram2\"\nmemory = \"system\"\nphys = 0x2000_0000\n",
        machine_toml()
    );
    for k in 0..importers {
        s.push_str(&format!(
            "[[importer]]\nname = \"i{k}\"\nmode = \"dynamic\"\n[[importer.offer]]\n\
             interconnect = \"dma-addr\"\ndevice = \"0000:04:00.0\"\n"
        ));
    }
    let mut list: Vec<String> = Vec::new();
    for k in 0..importers {
        list.push(format!("attach = \"i{k}\""));
        list.push(format!("map = \"i{k}\""));
    }
    let mut t = 0;
    while list.len() < events {
        list.push(format!("move = \"{}\"", ["ram2", "ram"][t % 2]));
        t += 1;
    }
    for e in list.iter().take(events) {
        s.push_str(&format!("[[event]]\n{e}\n"));
    }
    s
}

#[test]
fn a_large_simulation_shows_what_changed() {
    // 40 importers: each event shows the importers it changed (at most MAX_IMPORTERS_SHOWN)
    // and counts the others, instead of every importer after every event.
    let importers = 40;
    let events = 2 * importers + 6;
    let f = Scratch::new("sim.toml", &simulation(importers, events));
    let r = run(&["simulate", f.path()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let steps: Vec<&str> = r.stdout.split("\n#").skip(1).collect();
    assert_eq!(steps.len(), events + 1, "the start and every event");
    // An attach changes one importer: it alone is shown.
    let attach = steps.iter().find(|s| s.contains("attach i7")).unwrap();
    assert!(attach.contains("(39 importers unchanged;"), "{attach}");
    // A move changes them all: a bounded number is shown.
    let moved = steps.iter().rfind(|s| s.contains("move to ram2")).unwrap();
    let shown = (0..importers)
        .filter(|k| moved.contains(&format!("\n    i{k} ")))
        .count();
    assert_eq!(shown, MAX_IMPORTERS_SHOWN, "{moved}");
    assert!(
        moved.contains(&format!(
            "({} more importers changed;",
            importers - MAX_IMPORTERS_SHOWN
        )),
        "{moved}"
    );
    // JSON keeps every importer's state after every event.
    let r = run(&["--format", "json", "simulate", f.path()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let steps = doc["events"].as_array().unwrap();
    assert_eq!(steps.len(), events + 1);
    for step in steps {
        assert_eq!(step["importers"].as_array().unwrap().len(), importers);
    }
}

#[test]
fn a_simulation_over_the_limit_is_refused_before_it_runs() {
    // The 1000 importers and 3000 events printed 303 MB.
    let importers = 100;
    let events = MAX_SIMULATION_STATES / importers + 1;
    let f = Scratch::new("huge-sim.toml", &simulation(importers, events));
    let r = run(&["simulate", f.path()]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "{importers} importers over {events} events would record {} importer states; at \
             most {MAX_SIMULATION_STATES} are recorded",
            importers * (events + 1)
        )),
        "{}",
        r.stderr
    );
}

/// Whether `s` holds no control character but line breaks and tabs.
fn clean(s: &str) -> bool {
    !s.chars().any(|c| c.is_control() && c != '\n' && c != '\t')
}

#[test]
fn control_characters_from_input_never_reach_the_terminal() {
    // A machine whose CPU model carries escape sequences: clear the
    // screen, set the window title, ring the bell, a C1 CSI.
    let text = std::fs::read_to_string(machine_toml()).unwrap().replace(
        "model_name = \"AMD EPYC 9354 32-Core Processor\"",
        "model_name = \"EPYC \\u001b[2J\\u001b]0;owned\\u0007\\u009b31m\"",
    );
    assert!(text.contains("\\u001b[2J"));
    let f = Scratch::new("evil.toml", &text);
    for format in ["human", "json", "svg", "dot"] {
        let r = run(&["--machine", f.path(), "--format", format, "topo"]);
        assert_eq!(r.code, 0, "{format}: {}", r.stderr);
        assert!(
            clean(&r.stdout),
            "{format}: raw control characters in the output"
        );
        if format == "human" {
            assert!(
                r.stdout
                    .contains("EPYC \\u{1b}[2J\\u{1b}]0;owned\\u{7}\\u{9b}31m")
            );
        }
    }
    // Errors quote what they were given: a scenario path with a title sequence.
    let r = run(&["negotiate", "/nonexistent/\u{1b}]0;owned\u{7}.toml"]);
    assert_eq!(r.code, 1);
    assert!(clean(&r.stderr), "{:?}", r.stderr);
    assert!(r.stderr.contains("\\u{1b}]0;owned\\u{7}"), "{}", r.stderr);
}

#[test]
fn control_characters_from_every_kind_of_input_are_escaped() {
    // The other sources of escape sequences: an hwloc `CPUModel`, a scenario's and a
    // simulation's `description`, an archive member's name in an error.
    let shown = "\\u{1b}]0;owned\\u{7}\\u{1b}[2J";
    let xml = Scratch::new(
        "evil.xml",
        "<topology>\n<object type=\"Machine\">\n<object type=\"Package\" os_index=\"0\">\n\
         <info name=\"CPUVendor\" value=\"AuthenticAMD\"/>\n\
         <info name=\"CPUModel\" value=\"EPYC &#27;]0;owned&#7;&#27;[2J\"/>\n</object>\n\
         <object type=\"Bridge\" bridge_type=\"0-1\" bridge_pci=\"0000:[00-01]\">\n\
         <object type=\"PCIDev\" pci_busid=\"0000:00:01.0\" \
         pci_type=\"0200 [15b3:1017] [0000:0000] 00\"/>\n</object>\n</object>\n</topology>\n",
    );
    let r = run(&["--hwloc", xml.path(), "topo"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(clean(&r.stdout), "{:?}", r.stdout);
    assert!(r.stdout.contains(&format!("EPYC {shown}")), "{}", r.stdout);

    let description = "description = \"hi \\u001b]0;owned\\u0007\\u001b[2J\"\n";
    let negotiation = Scratch::new(
        "evil-scenario.toml",
        &(description.to_owned() + &scenario(1)),
    );
    let simulated = Scratch::new(
        "evil-simulation.toml",
        &(description.to_owned() + &simulation(1, 2)),
    );
    for (command, f) in [("negotiate", &negotiation), ("simulate", &simulated)] {
        let r = run(&[command, f.path()]);
        assert_eq!(r.code, 0, "{command}: {}", r.stderr);
        assert!(clean(&r.stdout), "{command}: {:?}", r.stdout);
        assert!(
            r.stdout.contains(&format!("hi {shown}")),
            "{command}: {}",
            r.stdout
        );
    }

    // A member that says it holds 16 GB: the error names it.
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(16 << 30);
    header
        .set_path("top/sys/\u{1b}]0;owned\u{7}\u{1b}[2J")
        .unwrap();
    header.set_cksum();
    let mut archive = header.as_bytes().to_vec();
    archive.extend_from_slice(&[0u8; 1024]);
    let f = Scratch::bytes("evil.tar", &archive);
    let r = run(&["--sysfs", f.path(), "topo"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(clean(&r.stderr), "{:?}", r.stderr);
    assert!(
        r.stderr
            .contains(&format!("evil.tar:top/sys/{shown}: larger than 16 MiB")),
        "{}",
        r.stderr
    );
}

#[test]
fn messages_say_what_was_expected_in_words() {
    // An integer beyond TOML's range where the format takes a string for it.
    let mut text = wide_machine(1);
    text.push_str("bars = [{ index = 0, start = 18446744073709551616, end = 1, flags = 0 }]\n");
    let f = Scratch::new("big.toml", &text);
    let r = run(&["--machine", f.path(), "topo"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "{}:5:30: expected an integer TOML can hold (-2^63 to 2^63 - 1; values of up to 64 \
             bits above that are written as strings \"0x...\"",
            f.path()
        )),
        "{}",
        r.stderr
    );
    // An unknown XML entity: its place as line and column, not quick-xml's byte range.
    let xml = Scratch::new(
        "entity.xml",
        "<topology>\n<object type=\"Machine\" name=\"a &foo; b\">\n</object>\n</topology>\n",
    );
    let r = run(&["--hwloc", xml.path(), "topo"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "{}:2:32: expected a valid value for name, found the unknown entity `&foo;` (XML \
             predefines",
            xml.path()
        )) && !r.stderr.contains(".."),
        "{}",
        r.stderr
    );
    // A blank name, with the article English wants.
    let text = simulation(1, 2).replace("name = \"i0\"", "name = \" \"");
    let f = Scratch::new("blank.toml", &text);
    let r = run(&["simulate", f.path()]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("every importer needs a non-empty name"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_device_or_a_pipe_as_an_input_is_an_error_not_a_wait() {
    // The issue's `[machine] sysfs = "/dev/zero"`.
    let f = Scratch::new(
        "zero.toml",
        "[machine]\nsysfs = \"/dev/zero\"\n[[exporter]]\ninterconnect = \"dma-addr\"\nmemory = \"system\"\n",
    );
    let r = run(&["negotiate", f.path()]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("a character device"), "{}", r.stderr);
    for args in [
        &["--sysfs", "/dev/zero", "topo"][..],
        &["--machine", "/dev/zero", "topo"],
        &["negotiate", "/dev/zero"],
    ] {
        let r = run(args);
        assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("character device"),
            "{args:?}: {}",
            r.stderr
        );
    }
}
