//! `simulate --format json` against the contract in docs/json-output.md: every documented field
//! with its type on every example, and the storylines' facts computed from the document itself
//! (addresses from the apertures and placements, routes, generations), not copied from it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{fixtures, repo_root, run, scenario_machine};
use serde_json::Value;

const EXAMPLES: [&str; 5] = [
    "simulate-1-vram-evicted-for-an-rdma-nic.toml",
    "simulate-2-vfio-bar-revoked-on-reset.toml",
    "simulate-3a-nvlink-down-falls-back-to-pcie.toml",
    "simulate-3b-nvlink-down-falls-back-to-system-memory.toml",
    "simulate-4-late-importer-forces-a-migration.toml",
];

fn json(fx: &Path, name: &str) -> Value {
    let rel = format!("examples/{name}");
    let (kind, machine) = scenario_machine(&repo_root().join(&rel), fx).unwrap();
    let opt = format!("--{kind}");
    let m = machine.display().to_string();
    let r = if machine.starts_with(fx) {
        run(&[&opt, &m, "--format", "json", "simulate", &rel])
    } else {
        run(&["--format", "json", "simulate", &rel])
    };
    assert_eq!(r.code, 0, "{name}: {}", r.stderr);
    serde_json::from_str(&r.stdout).unwrap()
}

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object()
        .unwrap_or_else(|| panic!("an object: {v}"))
        .keys()
        .map(String::as_str)
        .collect()
}

fn set<'a>(list: &[&'a str]) -> BTreeSet<&'a str> {
    list.iter().copied().collect()
}

fn hex(v: &Value) -> u64 {
    let s = v.as_str().unwrap_or_else(|| panic!("a hex string: {v}"));
    u64::from_str_radix(s.strip_prefix("0x").expect("0x prefix"), 16).unwrap()
}

fn is_hex_or_null(v: &Value) -> bool {
    v.is_null() || v.as_str().is_some_and(|s| s.starts_with("0x"))
}

fn check_agreement(a: &Value) {
    assert_eq!(
        keys(a),
        set(&["interconnect", "route", "map_type_if_acs_on"]),
        "{a}"
    );
    let route = &a["route"];
    for k in ["kind", "tier", "hops", "description"] {
        assert!(!route[k].is_null(), "{route}");
    }
}

fn check_addresses(a: &Value) {
    assert_eq!(keys(a), set(&["kind", "space", "ranges"]), "{a}");
    assert!(
        ["dma", "bus", "vram-offset", "iova", "phys"].contains(&a["kind"].as_str().unwrap()),
        "{a}"
    );
    assert_eq!(
        keys(&a["space"]),
        set(&["kind", "device", "fabric", "trust", "description"])
    );
    for r in a["ranges"].as_array().unwrap() {
        assert_eq!(keys(r), set(&["start", "len"]));
        hex(&r["start"]);
        assert!(r["len"].as_u64().unwrap() > 0);
    }
}

/// Every documented field, with its type, on one document.
fn check_contract(name: &str, d: &Value) {
    assert_eq!(
        keys(d),
        set(&[
            "scenario",
            "description",
            "source",
            "buffer",
            "placements",
            "importers",
            "events",
            "summary",
            "warnings",
        ]),
        "{name}"
    );
    assert_eq!(
        keys(&d["buffer"]),
        set(&[
            "size",
            "exporter",
            "migratable",
            "revocable",
            "policy",
            "start"
        ])
    );
    for p in d["placements"].as_array().unwrap() {
        assert_eq!(
            keys(p),
            set(&[
                "name",
                "label",
                "memory",
                "description",
                "device",
                "instance",
                "offset",
                "numa_node",
                "phys",
                "bar",
                "len",
                "offers",
                "offers_from",
                "aperture",
                "fabrics",
            ]),
            "{name}"
        );
        assert!(is_hex_or_null(&p["offset"]) && is_hex_or_null(&p["phys"]));
        assert!(["default", "scenario"].contains(&p["offers_from"].as_str().unwrap()));
        if !p["aperture"].is_null() {
            let a = &p["aperture"];
            assert_eq!(
                keys(a),
                set(&["bar", "cpu", "bus", "len", "from", "bus_assumed"])
            );
            if a["bus_assumed"] == true {
                assert_eq!(hex(&a["bus"]), hex(&a["cpu"]), "{name}: x86: bus = CPU");
            }
        }
    }
    for i in d["importers"].as_array().unwrap() {
        assert_eq!(
            keys(i),
            set(&["name", "label", "mode", "revocable", "offers"])
        );
        assert!(["dynamic", "static"].contains(&i["mode"].as_str().unwrap()));
    }
    let events = d["events"].as_array().unwrap();
    assert_eq!(events[0]["action"]["kind"], "start");
    assert_eq!(events[0]["buffer"]["generation"], 1);
    let effect_kinds = set(&[
        "agreed",
        "migrated",
        "invalidated",
        "renegotiated",
        "mapped",
        "unmapped",
        "pinned",
        "unpinned",
        "detached",
        "revoked",
        "importer-reset",
        "lost",
        "recovered",
        "not-moved",
        "links",
        "accessed",
        "unaffected",
    ]);
    let mut last_generation = 0;
    for (k, e) in events.iter().enumerate() {
        assert_eq!(
            keys(e),
            set(&[
                "index",
                "line",
                "action",
                "note",
                "outcome",
                "reason",
                "effects",
                "buffer",
                "importers",
                "violations",
                "expectations",
            ]),
            "{name} #{k}"
        );
        assert_eq!(e["index"], k);
        assert_eq!(e["line"].is_null(), k == 0);
        assert_eq!(
            keys(&e["action"]),
            set(&[
                "kind",
                "importer",
                "placement",
                "fabric",
                "between",
                "device"
            ])
        );
        match e["outcome"].as_str().unwrap() {
            "ok" => assert!(e["reason"].is_null()),
            "refused" => {
                assert_eq!(keys(&e["reason"]), set(&["code", "message"]));
                assert!(
                    e["effects"].as_array().unwrap().is_empty(),
                    "a refusal changes nothing"
                );
            }
            other => panic!("outcome {other}"),
        }
        for x in e["effects"].as_array().unwrap() {
            let kind = x["kind"].as_str().unwrap();
            assert!(effect_kinds.contains(kind), "{kind}");
            for field in ["agreement", "from", "to"] {
                if x[field].is_object() {
                    check_agreement(&x[field]);
                }
            }
            if x["addresses"].is_object() {
                check_addresses(&x["addresses"]);
            }
        }
        let b = &e["buffer"];
        assert_eq!(
            keys(b),
            set(&["placement", "generation", "revoked", "pinned_by"])
        );
        let g = b["generation"].as_u64().unwrap();
        assert!(g >= last_generation, "{name}: generations never go back");
        last_generation = g;
        for s in e["importers"].as_array().unwrap() {
            assert_eq!(
                keys(s),
                set(&[
                    "name",
                    "attached",
                    "agreement",
                    "mapping",
                    "pins",
                    "pinning"
                ])
            );
            assert_eq!(s["attached"] == false, s["agreement"].is_null());
            if let Some(a) = s["agreement"].as_object() {
                assert!(["current", "outdated", "lost"].contains(&a["state"].as_str().unwrap()));
                assert_eq!(a["lost_reason"].is_null(), a["state"] != "lost");
            }
            if s["mapping"].is_object() {
                let m = &s["mapping"];
                assert_eq!(
                    keys(m),
                    set(&[
                        "generation",
                        "validity",
                        "valid_from",
                        "interconnect",
                        "placement",
                        "space",
                        "len",
                        "addresses",
                    ])
                );
                // Addresses only while valid: never a usable-looking address otherwise.
                assert_eq!(
                    m["addresses"].is_object(),
                    m["validity"] == "valid",
                    "{name} #{k}: {m}"
                );
                assert_eq!(m["valid_from"].is_null(), m["validity"] != "stale");
                assert!(m["generation"].as_u64().unwrap() <= g);
                if m["validity"] == "valid" {
                    check_addresses(&m["addresses"]);
                    assert_eq!(
                        m["placement"], b["placement"],
                        "valid only where the buffer is"
                    );
                }
            }
        }
        assert!(e["violations"].as_array().unwrap().is_empty(), "{name}");
        for c in e["expectations"].as_array().unwrap() {
            assert_eq!(keys(c), set(&["at", "subject", "expected", "found", "met"]));
            assert_eq!(c["met"], true, "{name}: {c}");
            assert!(c["at"].as_str().unwrap().contains(name), "{c}");
        }
    }
    let s = &d["summary"];
    assert_eq!(
        keys(s),
        set(&[
            "events",
            "events_in_scenario",
            "refused",
            "invariants_held",
            "stopped_after",
            "expectations",
            "expectations_failed",
        ])
    );
    assert_eq!(s["events"].as_u64().unwrap() as usize, events.len() - 1);
    assert_eq!(s["events"], s["events_in_scenario"]);
    assert_eq!(s["invariants_held"], true);
    assert!(s["stopped_after"].is_null());
    assert!(s["expectations"].as_u64().unwrap() > 0);
    assert_eq!(s["expectations_failed"], 0);
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn every_example_keeps_the_contract() {
    let Some(fx) = fixtures() else { return };
    for name in EXAMPLES {
        check_contract(name, &json(&fx, name));
    }
}

/// The event whose action is `kind` (on `who`), the `nth` such (from 0).
fn event<'a>(d: &'a Value, kind: &str, nth: usize) -> &'a Value {
    d["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"]["kind"] == kind)
        .nth(nth)
        .unwrap_or_else(|| panic!("event {kind} #{nth}"))
}

fn effect<'a>(e: &'a Value, kind: &str) -> &'a Value {
    e["effects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["kind"] == kind)
        .unwrap_or_else(|| panic!("effect {kind} in {e}"))
}

fn placement<'a>(d: &'a Value, name: &str) -> &'a Value {
    d["placements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap()
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn eviction_readdresses_the_nic_from_the_bar_to_system_memory() {
    let Some(fx) = fixtures() else { return };
    let d = json(&fx, EXAMPLES[0]);
    let vram = placement(&d, "vram");
    let ram = placement(&d, "ram");
    // Bus-address P2P: the BAR's bus address plus the offset in VRAM.
    let expected = hex(&vram["aperture"]["bus"]) + hex(&vram["offset"]);
    let first = effect(event(&d, "map", 0), "mapped");
    assert_eq!(first["addresses"]["kind"], "dma");
    assert_eq!(first["addresses"]["space"]["device"], "0000:1a:00.0");
    assert_eq!(hex(&first["addresses"]["ranges"][0]["start"]), expected);
    assert_eq!(first["addresses"]["ranges"][0]["len"], d["buffer"]["size"]);

    let moved = event(&d, "move", 0);
    let m = effect(moved, "migrated");
    assert_eq!(
        (m["from"].as_str(), m["to"].as_str()),
        (Some("vram"), Some("ram"))
    );
    assert_eq!(effect(moved, "invalidated")["importers"][0], "mlx5");
    assert_eq!(m["generation"], moved["buffer"]["generation"]);

    let again = event(&d, "map", 1);
    let r = effect(again, "renegotiated");
    assert_eq!(r["from"]["route"]["kind"], "pci-bus-addr");
    assert_eq!(r["to"]["route"]["kind"], "system-memory");
    let mapped = effect(again, "mapped");
    assert_eq!(
        hex(&mapped["addresses"]["ranges"][0]["start"]),
        hex(&ram["phys"])
    );
    // The refused move while pinned changed nothing.
    let blocked = event(&d, "move", 1);
    assert_eq!(blocked["reason"]["code"], "pinned");
    assert_eq!(blocked["buffer"]["placement"], "ram");
    assert_eq!(blocked["buffer"]["pinned_by"][0], "mlx5");
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn a_reset_revokes_every_mapping_for_good() {
    let Some(fx) = fixtures() else { return };
    let d = json(&fx, EXAMPLES[1]);
    let refused = event(&d, "attach", 0);
    assert_eq!(refused["reason"]["code"], "importer-not-revocable");
    let map = effect(event(&d, "map", 0), "mapped");
    let bar = placement(&d, "bar2");
    assert_eq!(map["addresses"]["kind"], "phys");
    assert_eq!(map["addresses"]["space"]["trust"], "iommufd");
    assert_eq!(
        hex(&map["addresses"]["ranges"][0]["start"]),
        hex(&bar["aperture"]["cpu"]) + hex(&bar["offset"])
    );
    let reset = event(&d, "device-reset", 0);
    let revoked = effect(reset, "revoked");
    assert_eq!(revoked["revoked"]["reason"], "device-reset");
    assert_eq!(revoked["revoked"]["device"], d["buffer"]["exporter"]);
    assert_eq!(reset["buffer"]["revoked"]["reason"], "device-reset");
    for s in reset["importers"].as_array().unwrap() {
        if s["attached"] == true {
            assert_eq!(s["mapping"]["validity"], "revoked", "{s}");
        }
    }
    // Everything after: revoked stays revoked; maps are refused.
    let after: Vec<&Value> = d["events"]
        .as_array()
        .unwrap()
        .iter()
        .skip_while(|e| e["action"]["kind"] != "device-reset")
        .collect();
    assert!(after.iter().all(|e| !e["buffer"]["revoked"].is_null()));
    assert!(
        after
            .iter()
            .filter(|e| e["action"]["kind"] == "map")
            .all(|e| e["reason"]["code"] == "revoked")
    );
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn nvlink_failures_narrow_then_fall_back() {
    let Some(fx) = fixtures() else { return };
    let d = json(&fx, EXAMPLES[2]);
    let plane = event(&d, "link-down", 0);
    assert_eq!(plane["action"]["between"].as_array().unwrap().len(), 2);
    assert_eq!(effect(plane, "links")["links"].as_array().unwrap().len(), 1);
    let r = effect(plane, "renegotiated");
    assert_eq!(r["from"]["interconnect"], "private-iova");
    assert_eq!(r["to"]["interconnect"], "private-iova");
    assert!(
        r["to"]["route"]["bandwidth_gbps"].as_f64().unwrap()
            < r["from"]["route"]["bandwidth_gbps"].as_f64().unwrap(),
        "one plane fewer: a narrower route: {r}"
    );
    let all = event(&d, "link-down", 1);
    let r = effect(all, "renegotiated");
    assert_eq!(r["to"]["interconnect"], "dma-addr");
    assert_eq!(r["to"]["route"]["kind"], "pci-bus-addr");
    assert_eq!(all["buffer"]["placement"], "vram", "no move needed");
    let up = event(&d, "link-up", 0);
    assert_eq!(effect(up, "unaffected")["kind"], "unaffected");
    assert_eq!(up["buffer"]["generation"], all["buffer"]["generation"]);
    // IOVAs over NVLink: the fabric window plus the offset in VRAM.
    let vram = placement(&d, "vram");
    let iova = effect(event(&d, "map", 0), "mapped");
    assert_eq!(iova["addresses"]["kind"], "iova");
    assert_eq!(iova["addresses"]["space"]["fabric"], "nvlink0");
    assert_eq!(
        hex(&iova["addresses"]["ranges"][0]["start"]),
        hex(&vram["fabrics"][0]["iova"]) + hex(&vram["offset"])
    );
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn nvlink_or_nothing_moves_to_system_memory_or_is_lost_when_pinned() {
    let Some(fx) = fixtures() else { return };
    let d = json(&fx, EXAMPLES[3]);
    let down = event(&d, "link-down", 0);
    let m = effect(down, "migrated");
    assert_eq!(
        (m["from"].as_str(), m["to"].as_str()),
        (Some("vram"), Some("ram"))
    );
    let pinned = event(&d, "link-down", 1);
    assert!(
        effect(pinned, "lost")["reason"]
            .as_str()
            .unwrap()
            .contains("down")
    );
    assert!(
        effect(pinned, "not-moved")["reason"]
            .as_str()
            .unwrap()
            .contains("pinned")
    );
    assert_eq!(pinned["buffer"]["placement"], "vram");
    let up = event(&d, "link-up", 1);
    assert_eq!(
        effect(up, "recovered")["agreement"]["interconnect"],
        "private-iova"
    );
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn a_late_importer_moves_the_buffer_for_everyone() {
    let Some(fx) = fixtures() else { return };
    let d = json(&fx, EXAMPLES[4]);
    let refused = event(&d, "attach", 1);
    assert_eq!(refused["action"]["importer"], "far");
    assert_eq!(refused["reason"]["code"], "unreachable");
    assert!(
        refused["reason"]["message"]
            .as_str()
            .unwrap()
            .contains("pinned by near")
    );
    let late = event(&d, "attach", 3);
    assert_eq!(late["action"]["importer"], "far");
    let m = effect(late, "migrated");
    assert_eq!(m["renegotiate"][0], "near");
    assert_eq!(effect(late, "invalidated")["importers"][0], "near");
    assert_eq!(
        effect(late, "agreed")["agreement"]["route"]["kind"],
        "system-memory"
    );
    let near = &late["importers"][0];
    assert_eq!(near["agreement"]["state"], "outdated");
    assert_eq!(near["mapping"]["validity"], "stale");
    assert!(near["mapping"]["addresses"].is_null());
}
