//! Snapshots of the human output on fixture machines (kernel-oracle and hwloc sysfs
//! snapshots, hwloc XML and NCCL files): no colour (standard output is a pipe), the fixtures folder redacted.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::{arg, fixtures, redact, run, scenario_machine};

const SWITCH: &str = "kernel-oracle/switch-vs-rootport.tar.gz";
const SWITCH_ZEN: &str = "kernel-oracle/switch-vs-rootport-zen.tar.gz";
const MULTIFUNCTION: &str = "kernel-oracle/multifunction.tar.gz";
const VE: &str = "hwloc-sysfs/32intel64-2p8co2t+8ve.tar.bz2";
const LOCALITIES: &str = "hwloc-sysfs/fakepcilocalities.tar.bz2";
const NCCL_2: &str = "nccl/topo_2A100_1CX6.xml";
const DGX2: &str = "hwloc-xml/nvidiaDGX2.xml";

/// Runs a command on a fixture machine; it must succeed. Returns redacted stdout.
fn ok(fx: &Path, machine: &str, args: &[&str]) -> String {
    let m = arg(fx, machine);
    let opt = if machine.starts_with("nccl/") {
        "--nccl"
    } else if machine.starts_with("hwloc-xml/") {
        "--hwloc"
    } else {
        "--sysfs"
    };
    let mut all = vec![opt, m.as_str()];
    all.extend_from_slice(args);
    let r = run(&all);
    assert_eq!(r.code, 0, "{all:?}\nstderr: {}", r.stderr);
    assert!(!r.stdout.contains('\u{1b}'), "no colour on a pipe: {all:?}");
    redact(&r.stdout, fx)
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn topo_of_a_kernel_oracle_machine() {
    let Some(fx) = fixtures() else { return };
    insta::assert_snapshot!("topo_switch_vs_rootport", ok(&fx, SWITCH, &["topo"]));
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn topo_of_a_real_machine_with_unknown_acs() {
    let Some(fx) = fixtures() else { return };
    insta::assert_snapshot!("topo_32intel64_ve", ok(&fx, VE, &["topo"]));
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn topo_of_a_four_socket_machine() {
    let Some(fx) = fixtures() else { return };
    insta::assert_snapshot!("topo_fakepcilocalities", ok(&fx, LOCALITIES, &["topo"]));
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn topo_of_an_nccl_dump_with_nvlink() {
    let Some(fx) = fixtures() else { return };
    let out = ok(&fx, NCCL_2, &["topo"]);
    assert!(out.contains("collapses each PCIe switch"), "{out}");
    assert!(out.contains("nvlink0 (NVLink)"), "{out}");
    insta::assert_snapshot!("topo_nccl_2a100", out);
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn matrix_of_a_dgx2_from_hwloc_xml() {
    let Some(fx) = fixtures() else { return };
    let out = ok(&fx, DGX2, &["matrix"]);
    assert!(out.contains("16 of"), "the 16 V100: {out}");
    insta::assert_snapshot!("matrix_dgx2", out);
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn explain_on_collapsed_switches() {
    let Some(fx) = fixtures() else { return };
    insta::assert_snapshot!(
        "explain_nccl_collapsed",
        ok(&fx, NCCL_2, &["explain", "13:00.0", "19:00.0"])
    );
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn matrix_default_and_all() {
    let Some(fx) = fixtures() else { return };
    insta::assert_snapshot!("matrix_switch_vs_rootport", ok(&fx, SWITCH, &["matrix"]));
    insta::assert_snapshot!(
        "matrix_switch_vs_rootport_zen_all",
        ok(&fx, SWITCH_ZEN, &["matrix", "--all"])
    );
    insta::assert_snapshot!("matrix_32intel64_ve", ok(&fx, VE, &["matrix"]));
    insta::assert_snapshot!("matrix_fakepcilocalities", ok(&fx, LOCALITIES, &["matrix"]));
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn matrix_of_23_devices_stays_within_100_columns() {
    let Some(fx) = fixtures() else { return };
    let out = ok(
        &fx,
        "hwloc-sysfs/40intel64-2g2n4c+pcilocality.tar.bz2",
        &["matrix", "--all"],
    );
    assert!(out.contains("23 of 23 endpoints"), "{out}");
    // Three matrices, each in blocks of a header and 23 rows; the classes' four-character
    // cells do not fit 23 columns in 100, so they come in two blocks.
    let grids = matrix_lines(&out);
    assert_eq!(grids.len(), 4 * 24, "{out}");
    within(100, &grids);
    insta::assert_snapshot!("matrix_40intel64_pcilocality_all", out);
}

/// The lines of the three matrices: from each title to the blank line or note after it.
fn matrix_lines(out: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut inside = false;
    for l in out.lines() {
        if l.starts_with("P2P verdict")
            || l.starts_with("Path class")
            || l.starts_with("Route bandwidth")
        {
            inside = true;
        } else if l.starts_with("note:") || l.starts_with("Legend") {
            inside = false;
        } else if inside && !l.is_empty() {
            lines.push(l);
        }
    }
    lines
}

fn within(width: usize, lines: &[&str]) {
    for l in lines {
        assert!(
            l.chars().count() <= width,
            "{} columns: {l}",
            l.chars().count()
        );
    }
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn matrix_of_16_gpus_fits_100_columns_and_more_devices_come_in_blocks() {
    let Some(fx) = fixtures() else { return };
    let out = ok(&fx, DGX2, &["matrix"]);
    assert!(out.contains("16 of 28 endpoints"), "{out}");
    let grids = matrix_lines(&out);
    assert_eq!(grids.len(), 3 * 17, "one block per matrix:\n{out}");
    within(100, &grids);
    // Every endpoint of the DGX-2: 28 columns do not fit; every row comes again in a second
    // block, and every line still fits.
    let all = ok(&fx, DGX2, &["matrix", "--all"]);
    let grids = matrix_lines(&all);
    assert_eq!(grids.len(), 3 * 2 * 29, "two blocks per matrix:\n{all}");
    within(100, &grids);
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn matrix_names_devices_by_kind_and_answers_which_nic_for_which_gpu() {
    let Some(fx) = fixtures() else { return };
    let out = ok(&fx, "nccl/topo_8A100_4CX6.xml", &["matrix"]);
    // Grouped by kind, with tags and OS names: the GPUs first, then the NICs, though the NIC
    // 0000:06:00.0 has the lowest bus id.
    let gpus = out
        .find("GPUs and displays\n  G0  0000:13:00.0  nvml0")
        .unwrap();
    let nics = out
        .find("NICs and InfiniBand\n  N0  0000:06:00.0  mlx5_bond_0")
        .unwrap();
    assert!(gpus < nics, "{out}");
    // One line per GPU: its nearest NIC, P2P or not.
    assert!(
        out.contains("  G0 0000:13:00.0 → N1 mlx5_bond_1  B5? · PXB · 31.5 GB/s\n"),
        "{out}"
    );
    assert!(
        out.contains("  G7 0000:b3:00.0 → N4 mlx5_bond_4  B3? · PXB · 31.5 GB/s\n"),
        "{out}"
    );
    // The matrices are labelled by the tags.
    assert!(
        out.contains("\n     G0   G1   G2   G3   G4   G5   G6   G7   N0   N1   N2   N3   N4\n"),
        "{out}"
    );
    // A machine whose NIC gets no P2P to its GPU says so.
    let refused = ok(&fx, SWITCH, &["matrix", "--all"]);
    assert!(
        refused.contains("  G0 0000:00:01.0 → N0  -- no P2P to any NIC; nearest by path (PHB)\n"),
        "{refused}"
    );
    insta::assert_snapshot!("matrix_nccl_8a100", out);
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn matrix_of_named_devices_in_the_given_order() {
    let Some(fx) = fixtures() else { return };
    let out = ok(
        &fx,
        SWITCH,
        &["matrix", "05:00.0", "0000:03:00.0", "04:00.0"],
    );
    insta::assert_snapshot!("matrix_switch_vs_rootport_named", out);
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn explain_refused_bus_addr_and_unknowns() {
    let Some(fx) = fixtures() else { return };
    // Refused by the kernel: different root ports, host bridge not whitelisted, not a Zen.
    insta::assert_snapshot!(
        "explain_refused_across_root_ports",
        ok(&fx, SWITCH, &["explain", "03:00.0", "05:00.0"])
    );
    // The same pair on a Zen CPU: through the host bridge; a free slot would do better.
    insta::assert_snapshot!(
        "explain_zen_through_host_bridge",
        ok(&fx, SWITCH_ZEN, &["explain", "03:00.0", "05:00.0"])
    );
    // Below one switch: bus addresses.
    insta::assert_snapshot!(
        "explain_bus_addr_below_switch",
        ok(&fx, SWITCH, &["explain", "03:00.0", "04:00.0"])
    );
    // Two functions of one device.
    insta::assert_snapshot!(
        "explain_two_functions",
        ok(&fx, MULTIFUNCTION, &["explain", "01:00.0", "01:00.1"])
    );
    // ACS unknown (64-byte configs): both outcomes.
    insta::assert_snapshot!(
        "explain_acs_unknown",
        ok(&fx, VE, &["explain", "1b:00.0", "1a:00.0"])
    );
    // A root-bus function whose port type is unknown decides the host-bridge check.
    insta::assert_snapshot!(
        "explain_port_type_unknown",
        ok(&fx, VE, &["explain", "1b:00.0", "60:00.0"])
    );
}

/// The hand-written machine shipped with the examples (no fixture has ACS redirect on, or
/// SR-IOV virtual functions with their physical function).
const SRIOV: &str = "examples/machines/sriov-flex-gpus.toml";

#[test]
fn explain_acs_redirect_and_its_parameter() {
    let r = run(&["--machine", SRIOV, "explain", "03:00.0", "04:00.0"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("boot with pci=disable_acs_redir=0000:02:00.0;0000:02:01.0"),
        "{}",
        r.stdout
    );
    insta::assert_snapshot!("explain_acs_redirect", r.stdout);
    let r = run(&["--machine", SRIOV, "topo"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    insta::assert_snapshot!("topo_sriov_toml_machine", r.stdout);
}

/// Runs an example scenario on its fixture machine (rebased on the fixtures in use).
fn scenario(fx: &Path, name: &str) -> (i32, String) {
    let rel = format!("examples/{name}");
    let path = common::repo_root().join(&rel);
    let (kind, machine) = scenario_machine(&path, fx).expect("the example names a machine");
    let opt = format!("--{kind}");
    let m = machine.display().to_string();
    // A shared fixture is named from the fixtures folder in use; a machine shipped with the
    // examples is left to the scenario (its path then prints relative to the repository).
    let r = if machine.starts_with(fx) {
        run(&[opt.as_str(), m.as_str(), "negotiate", rel.as_str()])
    } else {
        run(&["negotiate", rel.as_str()])
    };
    assert!(
        r.code == 0 || r.code == 3,
        "{name}: exit {}\n{}",
        r.code,
        r.stderr
    );
    (r.code, redact(&r.stdout, fx))
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn negotiate_examples() {
    let Some(fx) = fixtures() else { return };
    for (name, code) in [
        ("negotiate-3c-trust-from-the-machine.toml", 0),
        ("negotiate-4c-sriov-vf-to-its-pf-toml-machine.toml", 0),
        ("negotiate-4d-sriov-vf-to-another-pf-toml-machine.toml", 0),
        ("negotiate-4a-sriov-vf-to-its-pf.toml", 0),
        ("negotiate-4b-sriov-vf-to-another-pf.toml", 0),
        ("negotiate-5a-nvlink-best-route.toml", 0),
        ("negotiate-5b-nvlink-exporter-priority.toml", 0),
        ("negotiate-1-vram-same-device.toml", 0),
        ("negotiate-2-multipath-nic.toml", 0),
        ("negotiate-2b-multipath-nic-real-machine.toml", 0),
        ("negotiate-3a-vfio-bar-to-iommufd.toml", 0),
        ("negotiate-3b-vfio-bar-to-untrusted.toml", 3),
        ("negotiate-6-nothing-in-common.toml", 3),
    ] {
        let (got, out) = scenario(&fx, name);
        assert_eq!(got, code, "{name}");
        insta::assert_snapshot!(name.trim_end_matches(".toml"), out);
    }
}

/// The nouns the program counts, each wrongly in the plural after a 1.
const MISCOUNTED: [&str; 12] = [
    "1 bridges",
    "1 host bridges",
    "1 functions",
    "1 endpoints",
    "1 links",
    "1 hops",
    "1 bundles",
    "1 pins",
    "1 events",
    "1 expectations",
    "1 more ranges",
    "(s)",
];

fn check_counts(what: &str, text: &str) {
    for wrong in MISCOUNTED {
        // `11 functions` is right: the 1 must start the number.
        let found = text.match_indices(wrong).any(|(at, _)| {
            !text[..at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_ascii_digit())
        });
        assert!(!found, "{what}: `{wrong}` in:\n{text}");
    }
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn counts_agree_with_their_number_on_fixtures() {
    let Some(fx) = fixtures() else { return };
    // One bridge, one host bridge (a machine of root-bus devices and one root port).
    let topo = ok(&fx, "kernel-oracle/rciep.tar.gz", &["topo"]);
    assert!(topo.contains("(1 bridge, "), "{topo}");
    check_counts("topo rciep", &topo);
    check_counts(
        "explain",
        &ok(&fx, MULTIFUNCTION, &["explain", "01:00.0", "01:00.1"]),
    );
}

#[test]
fn counts_agree_with_their_number_in_a_timeline() {
    // One event, one expectation, and it fails: the summary and the note say so in the singular.
    let machine = common::repo_root().join(SRIOV);
    let sim = common::Scratch::new(
        "one-event.toml",
        &format!(
            "[machine]\nmachine = {:?}\n[buffer]\nsize = 4096\nexporter = \"03:00.0\"\n\
             [[placement]]\nname = \"ram\"\nmemory = \"system\"\nphys = 0x1000\n\
             [[importer]]\nname = \"gpu\"\n[[importer.offer]]\ninterconnect = \"dma-addr\"\n\
             device = \"04:00.0\"\n[[event]]\nattach = \"gpu\"\nexpect = {{ outcome = \"refused\" }}\n",
            machine.display().to_string()
        ),
    );
    let r = run(&["simulate", sim.path()]);
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(r.stdout.contains("1 event run"), "{}", r.stdout);
    assert!(
        r.stderr.contains("1 of 1 expectation failed"),
        "{}",
        r.stderr
    );
    check_counts("simulate", &r.stdout);
    check_counts("simulate stderr", &r.stderr);
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn one_rounding_rule_for_a_link_in_matrix_explain_and_picture() {
    let Some(fx) = fixtures() else { return };
    // The Vector Engine's Gen3 x16 link: 15.753 GB/s after line encoding.
    let matrix = ok(&fx, VE, &["matrix", "1b:00.0", "1a:00.0"]);
    let explain = ok(&fx, VE, &["explain", "1b:00.0", "1a:00.0"]);
    let svg = ok(
        &fx,
        VE,
        &["explain", "1b:00.0", "1a:00.0", "--format", "svg"],
    );
    assert!(matrix.contains(" 15.8\n"), "{matrix}");
    assert!(explain.contains("narrowest link 15.8 GB/s"), "{explain}");
    assert!(svg.contains("15.8 GB/s"), "{svg}");
    for (what, text) in [("matrix", &matrix), ("explain", &explain), ("svg", &svg)] {
        assert!(
            !text.contains("15.7") && !text.contains("15.75"),
            "{what} rounds another way:\n{text}"
        );
    }
}
