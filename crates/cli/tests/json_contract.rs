//! The JSON contract (docs/json-output.md): field names, value domains, one object per ordered
//! pair, `--all`, and agreement with the running kernel's own verdicts (kernel-oracle).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::path::Path;

use common::{arg, fixtures, run};
use serde_json::Value;

const SWITCH: &str = "kernel-oracle/switch-vs-rootport.tar.gz";
const VE: &str = "hwloc-sysfs/32intel64-2p8co2t+8ve.tar.bz2";

fn json(fx: &Path, machine: &str, args: &[&str]) -> Value {
    let m = arg(fx, machine);
    let opt = if machine.starts_with("nccl/") {
        "--nccl"
    } else if machine.starts_with("hwloc-xml/") {
        "--hwloc"
    } else {
        "--sysfs"
    };
    let mut all = vec![opt, m.as_str(), "--format", "json"];
    all.extend_from_slice(args);
    let r = run(&all);
    assert_eq!(r.code, 0, "{all:?}: {}", r.stderr);
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{all:?}: not JSON: {e}"))
}

fn is_bdf(s: &str) -> bool {
    let p: Vec<&str> = s.split([':', '.']).collect();
    p.len() == 4
        && p[0].len() >= 4
        && p[1].len() == 2
        && p[2].len() == 2
        && p[3].len() == 1
        && p.iter().all(|x| x.chars().all(|c| c.is_ascii_hexdigit()))
}

fn is_hex(v: &Value, digits: usize) -> bool {
    v.is_null()
        || v.as_str()
            .is_some_and(|s| s.len() == digits && s.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Checks every pair of a matrix document and returns (provider, client) → pair.
fn check_matrix(doc: &Value) -> HashMap<(String, String), Value> {
    let pairs = doc.as_array().expect("matrix JSON is an array");
    let mut seen = HashMap::new();
    for p in pairs {
        let o = p.as_object().expect("each pair is an object");
        for key in [
            "provider",
            "client",
            "map_type",
            "verdict_known",
            "possible_map_types",
            "switches_collapsed",
            "distance",
            "acs_known",
            "class",
            "bandwidth_gbps",
            "reasons",
        ] {
            assert!(o.contains_key(key), "missing `{key}` in {p}");
        }
        let possible: Vec<&str> = o["possible_map_types"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert!(possible.contains(&o["map_type"].as_str().unwrap()), "{p}");
        assert_eq!(o["verdict_known"], possible.len() == 1, "{p}");
        let provider = o["provider"].as_str().unwrap().to_owned();
        let client = o["client"].as_str().unwrap().to_owned();
        assert!(is_bdf(&provider) && is_bdf(&client), "{p}");
        let map = o["map_type"].as_str().unwrap();
        assert!(
            ["bus-addr", "thru-host-bridge", "not-supported"].contains(&map),
            "{p}"
        );
        let distance = o["distance"].as_i64().expect("distance is an integer");
        assert_eq!(distance == -1, map == "not-supported", "{p}");
        assert!(distance >= -1);
        let class = o["class"].as_str().unwrap();
        assert!(
            ["PIX", "PXB", "PHB", "NODE", "SYS", "X"].contains(&class),
            "{p}"
        );
        assert_eq!(
            class == "X",
            provider == client,
            "X exactly for a device with itself: {p}"
        );
        let acs_known = o["acs_known"].as_bool().expect("acs_known is a bool");
        let if_on = o["map_type_if_acs_on"].as_str().unwrap();
        if acs_known {
            assert_eq!(if_on, map, "{p}");
        }
        let bw = &o["bandwidth_gbps"];
        assert!(bw.is_null() || bw.as_f64().is_some_and(|b| b > 0.0), "{p}");
        if map == "not-supported" || provider == client {
            assert!(bw.is_null(), "no route, no bandwidth: {p}");
        }
        let reasons = o["reasons"].as_array().unwrap();
        assert!(
            !reasons.is_empty() && reasons.iter().all(Value::is_string),
            "{p}"
        );
        assert!(
            seen.insert((provider, client), p.clone()).is_none(),
            "one object per ordered pair: {p}"
        );
    }
    // Every ordered pair of the devices, and nothing else.
    let devices: BTreeSet<&String> = seen.keys().map(|(p, _)| p).collect();
    assert_eq!(seen.len(), devices.len() * devices.len());
    for a in &devices {
        for b in &devices {
            assert!(seen.contains_key(&((*a).clone(), (*b).clone())), "{a} {b}");
        }
    }
    seen
}

fn endpoints(topo: &Value) -> BTreeSet<String> {
    topo["functions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["bridge"] == Value::Bool(false))
        .map(|f| f["bdf"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn matrix_pairs_and_all() {
    let Some(fx) = fixtures() else { return };
    for machine in [SWITCH, VE] {
        let default = check_matrix(&json(&fx, machine, &["matrix"]));
        let all = check_matrix(&json(&fx, machine, &["matrix", "--all"]));
        let topo = json(&fx, machine, &["topo"]);
        let eps = endpoints(&topo);
        let all_devices: BTreeSet<String> = all.keys().map(|(p, _)| p.clone()).collect();
        assert_eq!(all_devices, eps, "{machine}: --all is every endpoint");
        assert!(default.len() <= all.len());
        for (k, v) in &default {
            assert_eq!(all.get(k), Some(v), "{machine}: same answer with --all");
        }
    }
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn matrix_values_on_known_machines() {
    let Some(fx) = fixtures() else { return };
    let m = check_matrix(&json(&fx, SWITCH, &["matrix"]));
    let pair = |a: &str, b: &str| m[&(a.to_owned(), b.to_owned())].clone();
    let below = pair("0000:03:00.0", "0000:04:00.0");
    assert_eq!(below["map_type"], "bus-addr");
    assert_eq!(below["distance"], 4);
    assert_eq!(below["class"], "PIX");
    assert_eq!(below["acs_known"], true);
    assert_eq!(below["bandwidth_gbps"], 0.25, "2.5 GT/s x1 after 8b/10b");
    let across = pair("0000:03:00.0", "0000:05:00.0");
    assert_eq!(across["map_type"], "not-supported");
    assert_eq!(across["distance"], -1);
    assert_eq!(across["path_distance"], 6);
    assert_eq!(across["class"], "PHB");
    assert!(across["reasons"].as_array().unwrap().iter().any(|r| {
        r.as_str()
            .unwrap()
            .contains("not in the Linux 7.2 whitelist")
    }));

    let ve = check_matrix(&json(&fx, VE, &["matrix"]));
    let near = &ve[&("0000:1b:00.0".to_owned(), "0000:1a:00.0".to_owned())];
    assert_eq!(near["map_type"], "bus-addr");
    assert_eq!(near["acs_known"], false, "64-byte configs: ACS unknown");
    assert_eq!(near["map_type_if_acs_on"], "thru-host-bridge");
    assert_eq!(near["bandwidth_gbps"], 15.753, "8 GT/s x16 after 128b/130b");
    let far = &ve[&("0000:1b:00.0".to_owned(), "0000:3e:00.0".to_owned())];
    assert_eq!(far["map_type"], "thru-host-bridge");
    assert_eq!(far["class"], "NODE");
}

/// Reads one file of a `.tar.gz` snapshot.
fn tar_gz_file(path: &Path, suffix: &str) -> Option<String> {
    let f = std::fs::File::open(path).ok()?;
    let mut a = tar::Archive::new(flate2::read::GzDecoder::new(f));
    for e in a.entries().ok()? {
        let mut e = e.ok()?;
        if e.path().ok()?.to_string_lossy().ends_with(suffix) {
            let mut s = String::new();
            e.read_to_string(&mut s).ok()?;
            return Some(s);
        }
    }
    None
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn matrix_agrees_with_the_running_kernel() {
    let Some(fx) = fixtures() else { return };
    let dir = fx.join("kernel-oracle");
    let mut snapshots: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".tar.gz"))
        .collect();
    snapshots.sort();
    assert!(!snapshots.is_empty());
    let mut compared = 0;
    for snap in snapshots {
        let verdicts = tar_gz_file(&snap, "/verdicts").expect("a verdicts file");
        let m = check_matrix(&json(&fx, snap.to_str().unwrap(), &["matrix", "--all"]));
        for line in verdicts.lines().filter(|l| !l.trim().is_empty()) {
            let w: Vec<&str> = line.split_whitespace().collect();
            let pair = &m[&(w[0].to_owned(), w[1].to_owned())];
            let kernel_ok = w[2] == "ok";
            assert_eq!(
                pair["map_type"] != "not-supported",
                kernel_ok,
                "{}: {line}: {pair}",
                snap.display()
            );
            compared += 1;
        }
    }
    assert!(compared >= 8, "compared {compared} kernel verdicts");
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn topo_functions() {
    let Some(fx) = fixtures() else { return };
    for machine in [SWITCH, VE] {
        let t = json(&fx, machine, &["topo"]);
        let hbs: BTreeSet<&str> = t["host_bridges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["name"].as_str().unwrap())
            .collect();
        let fns = t["functions"].as_array().unwrap();
        assert!(!fns.is_empty());
        let bridges: BTreeSet<&str> = fns
            .iter()
            .filter(|f| f["bridge"] == true)
            .map(|f| f["bdf"].as_str().unwrap())
            .collect();
        for f in fns {
            for key in [
                "bdf",
                "parent",
                "host_bridge",
                "vendor",
                "device",
                "class",
                "port_type",
                "acs",
            ] {
                assert!(f.get(key).is_some(), "{machine}: missing `{key}` in {f}");
            }
            assert!(is_bdf(f["bdf"].as_str().unwrap()));
            match f["parent"].as_str() {
                Some(p) => assert!(bridges.contains(p), "{machine}: parent {p} is a bridge"),
                None => assert!(f["parent"].is_null()),
            }
            assert!(hbs.contains(f["host_bridge"].as_str().unwrap()));
            assert!(is_hex(&f["vendor"], 4) && is_hex(&f["device"], 4), "{f}");
            assert!(is_hex(&f["class"], 6), "{f}");
            let pt = &f["port_type"];
            assert!(
                pt.is_null()
                    || [
                        "endpoint",
                        "legacy-endpoint",
                        "root-port",
                        "switch-upstream",
                        "switch-downstream",
                        "pcie-to-pci-bridge",
                        "pci-to-pcie-bridge",
                        "rc-integrated-endpoint",
                        "rc-event-collector",
                        "reserved"
                    ]
                    .contains(&pt.as_str().unwrap()),
                "{f}"
            );
            assert!(
                ["redirect", "no-redirect", "unknown"].contains(&f["acs"].as_str().unwrap()),
                "{f}"
            );
        }
    }
    let t = json(&fx, SWITCH, &["topo"]);
    let f = |b: &str| {
        t["functions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["bdf"] == b)
            .unwrap()
            .clone()
    };
    let nvme = f("0000:03:00.0");
    assert_eq!(nvme["parent"], "0000:02:00.0");
    assert_eq!(nvme["host_bridge"], "pci0000:00");
    assert_eq!(nvme["vendor"], "1b36");
    assert_eq!(nvme["class"], "010802");
    assert_eq!(nvme["port_type"], "endpoint");
    assert_eq!(nvme["acs"], "no-redirect");
    assert_eq!(nvme["p2pmem"]["size"], 16 << 20);
    assert_eq!(nvme["kind"], "nvme");
    assert_eq!(f("0000:02:00.0")["port_type"], "switch-downstream");
    assert!(f("0000:00:03.0")["parent"].is_null());
    // 64-byte configs: ACS and port types unknown.
    let ve = json(&fx, VE, &["topo"]);
    assert!(
        ve["functions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["bridge"] == true)
            .all(|f| f["acs"] == "unknown" && f["port_type"].is_null())
    );
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn explain_document() {
    let Some(fx) = fixtures() else { return };
    let x = json(&fx, SWITCH, &["explain", "03:00.0", "05:00.0"]);
    assert_eq!(x["provider"]["bdf"], "0000:03:00.0");
    assert_eq!(x["client"]["bdf"], "0000:05:00.0");
    assert_eq!(x["map_type"], "not-supported");
    assert_eq!(x["distance"], -1);
    assert_eq!(x["path_distance"], 6);
    assert!(x["common_ancestor"].is_null());
    assert_eq!(x["provider_chain"].as_array().unwrap().len(), 4);
    assert_eq!(x["host_bridge"]["refusal"], "not-whitelisted");
    assert_eq!(x["host_bridge"]["cause"], "no-common-upstream-bridge");
    let changes: Vec<&str> = x["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["change"].as_str().unwrap())
        .collect();
    assert_eq!(
        changes,
        [
            "whitelisted-host-bridge",
            "amd-zen-cpu",
            "slot-under-common-switch"
        ]
    );
    assert!(x["route"].is_null());

    let x = json(&fx, VE, &["explain", "1b:00.0", "1a:00.0"]);
    assert_eq!(x["map_type"], "bus-addr");
    assert_eq!(x["common_ancestor"], "0000:18:00.0");
    assert_eq!(x["acs_known"], false);
    assert_eq!(x["map_type_if_acs_on"], "thru-host-bridge");
    assert_eq!(x["acs_unknown"].as_array().unwrap().len(), 5);
    assert_eq!(x["route"]["class"], "PIX");
    assert_eq!(x["route"]["bandwidth_gbps"], 15.753);

    let x = json(&fx, VE, &["explain", "1b:00.0", "60:00.0"]);
    assert_eq!(x["map_type"], "not-supported");
    let u = &x["port_type_unknown"][0];
    assert_eq!(u["bdf"], "0000:5d:02.0");
    assert_eq!(u["map_type_if_root_port"], "thru-host-bridge");
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn negotiate_documents() {
    let Some(fx) = fixtures() else { return };
    let machine = arg(&fx, SWITCH);
    let r = run(&[
        "--sysfs",
        &machine,
        "--format",
        "json",
        "negotiate",
        "examples/negotiate-3a-vfio-bar-to-iommufd.toml",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let d: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(d["agreed"], true);
    assert_eq!(d["policy"], "best-route");
    let cands = d["candidates"].as_array().unwrap();
    assert_eq!(
        cands.len(),
        d["exporter"].as_array().unwrap().len() * d["importer"].as_array().unwrap().len()
    );
    let chosen = &cands[d["chosen"].as_u64().unwrap() as usize];
    assert_eq!(chosen["outcome"], "accepted");
    assert_eq!(chosen["rank"], 1);
    assert_eq!(chosen["interconnect"], "phys");
    assert_eq!(chosen["route"]["kind"], "pci-bus-addr");
    assert_eq!(chosen["route"]["distance"], 4);
    assert_eq!(d["importer"][0]["trust"], "iommufd");
    assert_eq!(d["exporter"][1]["bar"], 2);
    assert_eq!(d["exporter"][1]["len"], 0x200000);

    let r = run(&[
        "--sysfs",
        &machine,
        "--format",
        "json",
        "negotiate",
        "examples/negotiate-3b-vfio-bar-to-untrusted.toml",
    ]);
    assert_eq!(r.code, 3, "no common interconnect: {}", r.stderr);
    let d: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(d["agreed"], false);
    assert!(d["chosen"].is_null());
    let codes: Vec<&str> = d["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["reason"]["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["different-interconnects", "untrusted-importer"]);
    // Candidates are in exporter order, then importer order.
    for (k, c) in d["candidates"].as_array().unwrap().iter().enumerate() {
        assert_eq!(c["exporter"], k as u64);
        assert_eq!(c["importer"], 0);
    }
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn hwloc_xml_and_nccl_sources() {
    let Some(fx) = fixtures() else { return };
    // A DGX-2 from hwloc XML: 16 V100, every pair answered.
    let dgx = check_matrix(&json(&fx, "hwloc-xml/nvidiaDGX2.xml", &["matrix"]));
    let gpus: BTreeSet<&String> = dgx.keys().map(|(p, _)| p).collect();
    assert_eq!(gpus.len(), 16);
    // Below a common switch the verdict depends on ACS, which hwloc XML does not carry.
    let below: Vec<_> = dgx
        .iter()
        .filter(|((p, c), v)| p != c && v["map_type"] == "bus-addr")
        .collect();
    assert!(!below.is_empty());
    assert!(below.iter().all(|(_, v)| v["acs_known"] == false));

    // NCCL: collapsed switches, an NVLink fabric with its links.
    let nccl = "nccl/topo_8A100_4CX6.xml";
    let t = json(&fx, nccl, &["topo"]);
    assert_eq!(t["switches_collapsed"], true);
    assert_eq!(t["source"]["kind"], "nccl");
    let fabrics = t["private_fabrics"].as_array().unwrap();
    assert_eq!(fabrics.len(), 1);
    assert_eq!(fabrics[0]["kind"], "NVLink");
    let links = fabrics[0]["links"].as_array().unwrap();
    assert!(!links.is_empty());
    assert!(
        links
            .iter()
            .all(|l| l["up"] == true && is_bdf(l["a"].as_str().unwrap()))
    );
    // The evidence pair: GPU 13:00.0 and NIC 1a:00.0 meet below the host bridge.
    let m = check_matrix(&json(&fx, nccl, &["matrix", "13:00.0", "1a:00.0"]));
    assert_eq!(
        m[&("0000:13:00.0".to_owned(), "0000:1a:00.0".to_owned())]["class"],
        "PXB"
    );
    let x = json(&fx, nccl, &["explain", "13:00.0", "19:00.0"]);
    assert_eq!(x["switches_collapsed"], true);
}

#[test]
fn explain_with_acs_redirect() {
    let r = run(&[
        "--machine",
        "examples/machines/sriov-flex-gpus.toml",
        "--format",
        "json",
        "explain",
        "03:00.0",
        "04:00.0",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let x: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(x["map_type"], "thru-host-bridge");
    assert_eq!(x["distance"], 4);
    assert_eq!(
        x["acs_redirect"],
        serde_json::json!(["0000:02:00.0", "0000:02:01.0"])
    );
    assert_eq!(
        x["disable_acs_redir"],
        "pci=disable_acs_redir=0000:02:00.0;0000:02:01.0"
    );
    assert_eq!(x["host_bridge"]["cause"], "acs-redirect");
    assert_eq!(x["host_bridge"]["cpu_rule"], true);
    let c = &x["changes"][0];
    assert_eq!(c["change"], "disable-acs-redirect");
    assert_eq!(c["parameter"], x["disable_acs_redir"]);
    assert_eq!(c["map_type"], "bus-addr");
    assert_eq!(c["distance"], 4);
    assert_eq!(x["route"]["iommu_translates"], true);
    assert_eq!(x["route"]["iommu_domain"], "DMA-FQ");
    assert!(
        x["route"]["iommu"]
            .as_str()
            .unwrap()
            .contains("mapped at an IOVA"),
        "{}",
        x["route"]["iommu"]
    );
}

/// How good a verdict is: (map type rank, distance); a change must be better.
fn better(now: (&str, i64), then: (&str, i64)) -> bool {
    let rank = |t: &str| match t {
        "not-supported" => 0,
        "thru-host-bridge" => 1,
        "bus-addr" => 2,
        other => panic!("map type {other}"),
    };
    match rank(then.0).cmp(&rank(now.0)) {
        std::cmp::Ordering::Greater => now.0 == "not-supported" || then.1 <= now.1,
        std::cmp::Ordering::Equal => then.1 < now.1,
        std::cmp::Ordering::Less => false,
    }
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn what_would_change_it_only_offers_improvements() {
    let Some(fx) = fixtures() else { return };
    let mut offered = 0;
    for machine in [SWITCH, "kernel-oracle/switch-vs-rootport-zen.tar.gz"] {
        let pairs = json(&fx, machine, &["matrix", "--all"]);
        for p in pairs.as_array().unwrap() {
            let (provider, client) = (
                p["provider"].as_str().unwrap(),
                p["client"].as_str().unwrap(),
            );
            if provider == client {
                continue;
            }
            let x = json(&fx, machine, &["explain", provider, client]);
            let now = (
                x["map_type"].as_str().unwrap(),
                x["path_distance"].as_i64().unwrap(),
            );
            for c in x["changes"].as_array().unwrap() {
                let then = (
                    c["map_type"].as_str().unwrap(),
                    c["distance"].as_i64().unwrap(),
                );
                assert!(
                    better(now, then),
                    "{machine} {provider} {client}: {now:?} offered {then:?} ({})",
                    c["detail"]
                );
                offered += 1;
            }
        }
    }
    assert!(offered > 0, "some pair has something to improve");
}

/// The machine shipped with the examples: no fixtures needed.
const SRIOV: &str = "examples/machines/sriov-flex-gpus.toml";

#[test]
fn one_spelling_for_cpu_vendors_and_offsets_in_every_document() {
    let doc = |args: &[&str]| -> Value {
        let r = run(args);
        assert!(r.code == 0 || r.code == 3, "{args:?}: {}", r.stderr);
        serde_json::from_str(&r.stdout).unwrap()
    };
    let topo = doc(&["--machine", SRIOV, "--format", "json", "topo"]);
    let explain = doc(&[
        "--machine",
        SRIOV,
        "--format",
        "json",
        "explain",
        "03:00.0",
        "04:00.0",
    ]);
    assert_eq!(topo["cpu"]["vendor"], "amd");
    assert_eq!(explain["cpu"]["vendor"], topo["cpu"]["vendor"]);

    let machine = common::repo_root().join(SRIOV);
    let scenario = common::Scratch::new(
        "offsets.toml",
        &format!(
            "[machine]\nmachine = {:?}\n\n[[exporter]]\ninterconnect = \"pci-bar\"\ndevice = \"03:00.0\"\nbar = 2\noffset = 0x100000\nlen = 0x1000\n\n[[importer]]\ninterconnect = \"pci-bar\"\ndevice = \"04:00.0\"\n",
            machine.display().to_string()
        ),
    );
    let negotiate = doc(&["--format", "json", "negotiate", scenario.path()]);
    let offer = &negotiate["exporter"][0];
    // Offsets are hex strings, as in `simulate`; lengths are integers.
    assert_eq!(offer["offset"], "0x100000", "{offer}");
    assert_eq!(offer["len"], 0x1000, "{offer}");
}

/// What the source does not give, in `explain` and `matrix`: the NCCL pair of the issue, whose
/// host bridge's device is not in the file, has both outcomes, the inferred one marked.
#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn unknown_facts_and_every_outcome() {
    let Some(fx) = fixtures() else { return };
    let nccl = "nccl/topo_8A100_4CX6.xml";
    let x = json(&fx, nccl, &["explain", "48:00.0", "13:00.0"]);
    assert_eq!(x["map_type"], "not-supported");
    assert_eq!(x["verdict_known"], false);
    assert_eq!(
        x["possible_map_types"],
        serde_json::json!(["thru-host-bridge", "not-supported"])
    );
    let facts = x["unknown_facts"].as_array().unwrap();
    assert_eq!(facts.len(), 1);
    assert_eq!(facts[0]["fact"], "host-bridge-device");
    assert_eq!(facts[0]["why"], "not-listed");
    assert_eq!(facts[0]["inferred"]["device"], "8086:09a2");
    assert_eq!(facts[0]["inferred"]["allows"], true);
    let outcomes = x["outcomes"].as_array().unwrap();
    assert_eq!(outcomes.len(), 2);
    assert_eq!(outcomes[0]["map_type"], "thru-host-bridge");
    assert_eq!(outcomes[0]["distance"], 8);
    assert_eq!(outcomes[0]["inferred"], true);
    assert_eq!(outcomes[0]["when"][0][0]["holds"], true);
    assert_eq!(outcomes[1]["distance"], -1);
    assert_eq!(x["host_bridge"]["lookups"][0]["device_known"], false);
    let m = json(&fx, nccl, &["matrix", "48:00.0", "13:00.0"]);
    let pair = &m[1];
    assert_eq!(pair["verdict_known"], false);
    assert_eq!(pair["switches_collapsed"], true);
    // A machine that knows everything: one outcome, without conditions.
    let k = json(&fx, SWITCH, &["explain", "03:00.0", "05:00.0"]);
    assert_eq!(k["verdict_known"], true);
    assert!(k["unknown_facts"].as_array().unwrap().is_empty());
    assert_eq!(k["outcomes"].as_array().unwrap().len(), 1);
    assert!(k["outcomes"][0]["when"].as_array().unwrap().is_empty());
}
