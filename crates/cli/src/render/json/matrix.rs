//! `matrix --format json`: one object per ordered pair (docs/json-output.md, "matrix").

use pci_topology::{Machine, MapType};
use serde::Serialize;

use super::vocab;
use crate::commands::matrix::Matrix;
use crate::error::CliError;

/// One ordered pair.
#[derive(Serialize, Debug)]
pub struct Pair {
    /// Bus id of the function owning the memory.
    pub provider: String,
    /// Bus id of the function doing the DMA.
    pub client: String,
    /// `bus-addr`, `thru-host-bridge` or `not-supported`, with what the source shows (unknown
    /// ACS taken as off, an unknown host-bridge device as not whitelisted, an unknown CPU as
    /// not an AMD Zen).
    pub map_type: &'static str,
    /// Whether the source gives every fact the verdict depends on.
    pub verdict_known: bool,
    /// Every map type those facts allow, best first (`explain` says when each happens).
    pub possible_map_types: Vec<&'static str>,
    /// Whether the source collapsed PCIe switches (NCCL files): the distances then miss the
    /// switches' ports (the kernel's are larger) and the class counts each switch once.
    pub switches_collapsed: bool,
    /// The kernel's `pci_p2pdma_distance()`: -1 when not supported.
    pub distance: i64,
    /// The distance `calc_map_type_and_dist()` computes, also for a refused pair.
    pub path_distance: u32,
    /// Whether the ACS state of every function on the path was known.
    pub acs_known: bool,
    /// The map type if every unknown ACS state were redirect-on (equal to `map_type` when
    /// `acs_known`).
    pub map_type_if_acs_on: &'static str,
    /// `X`, `PIX`, `PXB`, `PHB`, `NODE` or `SYS`.
    pub class: &'static str,
    /// Narrowest link of the route by what the links can do, GB/s per direction after line
    /// encoding; null when unknown, when the kernel refuses, and for a device with itself.
    pub bandwidth_gbps: Option<f64>,
    /// The same as the links are trained now (lower when one has trained down), or null.
    pub current_bandwidth_gbps: Option<f64>,
    /// Links the route crosses (tree edges), null when there is no route.
    pub hops: Option<u16>,
    /// Whether the route goes through the host bridge, null when there is no route.
    pub via_host_bridge: Option<bool>,
    /// The kernel's decision, step by step, then the path's class and bottleneck.
    pub reasons: Vec<String>,
}

/// Builds the array.
pub fn build(m: &Machine, x: &Matrix) -> Vec<Pair> {
    x.cells
        .iter()
        .map(|c| {
            let v = c.verdict;
            Pair {
                provider: m.name(c.provider),
                client: m.name(c.client),
                map_type: vocab::map_type(v.map_type()),
                verdict_known: v.is_known(),
                possible_map_types: v.possible().iter().map(vocab::map_type).collect(),
                switches_collapsed: m.switches_collapsed(),
                distance: match v.map_type() {
                    MapType::NotSupported => -1,
                    _ => i64::from(v.distance()),
                },
                path_distance: v.distance(),
                acs_known: v.acs_known(),
                map_type_if_acs_on: vocab::map_type(v.map_type_if_acs_on()),
                class: vocab::class(c.class),
                bandwidth_gbps: c.route.and_then(|q| q.bandwidth).map(vocab::gbps),
                current_bandwidth_gbps: c.route.and_then(|q| q.current_bandwidth).map(vocab::gbps),
                hops: c.route.map(|q| q.hops),
                via_host_bridge: c.route.map(|q| q.via_host_bridge),
                reasons: m
                    .pair_report(c.provider, c.client)
                    .map(|pr| pr.reasons)
                    .unwrap_or_default(),
            }
        })
        .collect()
}

/// Renders the array.
pub fn render(m: &Machine, x: &Matrix) -> Result<String, CliError> {
    crate::output::to_json(&build(m, x))
}
