//! Snapshots of `simulate`'s human timeline for every shipped example, on its machine (a shared
//! fixture rebased on the fixtures folder in use, or a machine shipped with the examples): no
//! colour (standard output is a pipe), the fixtures folder redacted.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::{fixtures, redact, repo_root, run, scenario_machine};

/// The simulation examples, in file order.
pub const EXAMPLES: [&str; 5] = [
    "simulate-1-vram-evicted-for-an-rdma-nic.toml",
    "simulate-2-vfio-bar-revoked-on-reset.toml",
    "simulate-3a-nvlink-down-falls-back-to-pcie.toml",
    "simulate-3b-nvlink-down-falls-back-to-system-memory.toml",
    "simulate-4-late-importer-forces-a-migration.toml",
];

/// Runs an example on its machine with `extra` arguments; returns (status, stdout, stderr).
fn simulate(fx: &Path, name: &str, extra: &[&str]) -> (i32, String, String) {
    let rel = format!("examples/{name}");
    let (kind, machine) =
        scenario_machine(&repo_root().join(&rel), fx).expect("the example names a machine");
    let opt = format!("--{kind}");
    let m = machine.display().to_string();
    let mut args: Vec<&str> = Vec::new();
    // A shared fixture is named from the fixtures folder in use; a machine shipped with the
    // examples is left to the scenario.
    if machine.starts_with(fx) {
        args.extend([opt.as_str(), m.as_str()]);
    }
    args.extend(["simulate", rel.as_str()]);
    args.extend_from_slice(extra);
    let r = run(&args);
    (r.code, redact(&r.stdout, fx), r.stderr)
}

#[test]
fn every_simulation_example_has_a_snapshot() {
    let mut files: Vec<String> = std::fs::read_dir(repo_root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("simulate-") && n.ends_with(".toml"))
        .collect();
    files.sort();
    assert_eq!(files, EXAMPLES, "every example is snapshotted here");
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn simulation_timelines() {
    let Some(fx) = fixtures() else { return };
    for name in EXAMPLES {
        let (code, out, err) = simulate(&fx, name, &[]);
        assert_eq!(code, 0, "{name}: {err}");
        assert!(!out.contains('\u{1b}'), "no colour on a pipe: {name}");
        assert!(
            out.contains("invariants held after every event"),
            "{name}: {out}"
        );
        assert!(!out.contains("✗"), "{name}: no expectation failed: {out}");
        insta::assert_snapshot!(name.trim_end_matches(".toml"), out);
    }
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn timelines_name_devices_importers_and_fabrics_not_internal_ids() {
    let Some(fx) = fixtures() else { return };
    for name in EXAMPLES {
        let (_, out, _) = simulate(&fx, name, &[]);
        for internal in ["device#", "fabric#", "attachment#"] {
            assert!(!out.contains(internal), "{name} says {internal}: {out}");
        }
    }
}
