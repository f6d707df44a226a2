//! Everything about one provider × client pair, in the shape the command line renders
//! (`explain`) and serialises (`matrix --format json`: `map_type`, `distance`, `acs_known`,
//! `class`, `bandwidth_gbps`, `reasons`).

use crate::machine::{FunctionId, Machine};
use crate::p2pdma::{MapType, P2pVerdict};
use crate::quality::{NvClass, PathQuality};

/// Linux's verdict, the route quality it implies, and the explanation as sentences.
#[derive(Clone, PartialEq, Debug)]
pub struct PairReport {
    /// The verdict with its step-by-step explanation.
    pub verdict: P2pVerdict,
    /// The quality of the route the verdict implies (through the host bridge unless bus-addr).
    pub quality: PathQuality,
    /// The explanation, in the order the kernel decides, then the route.
    pub reasons: Vec<String>,
}

impl PairReport {
    /// The map type.
    pub fn map_type(&self) -> MapType {
        self.verdict.map_type
    }

    /// `pci_p2pdma_distance()`: `None` for the kernel's -1.
    pub fn distance(&self) -> Option<u32> {
        self.verdict.kernel_distance()
    }

    /// Whether ACS was known everywhere it mattered.
    pub fn acs_known(&self) -> bool {
        self.verdict.acs_known
    }

    /// The nvidia-smi class.
    pub fn class(&self) -> NvClass {
        self.quality.class
    }

    /// Bottleneck bandwidth in GB/s (10^9 bytes/s, after line encoding), if known.
    pub fn bandwidth_gbps(&self) -> Option<f64> {
        self.quality.bandwidth.map(|b| f64::from(b.0) / 1000.0)
    }
}

impl Machine {
    /// What the client's IOMMU domain means for a transfer of this map type, as a sentence;
    /// `None` when the source says nothing about IOMMUs.
    pub fn iommu_reason(&self, client: FunctionId, map: MapType) -> Option<String> {
        let f = self.function(client)?;
        match (&f.iommu_domain, f.iommu_group) {
            (Some(d), _) => Some(format!(
                "the client's IOMMU domain is {d}: {}",
                d.p2p_meaning(map)
            )),
            (None, Some(g)) => Some(format!(
                "the client is in IOMMU group {g}, whose domain type the source does not give \
                 (identity passes the BAR's physical address through, DMA maps it at an IOVA)"
            )),
            (None, None) if self.iommu_groups_known() => {
                Some("the client has no IOMMU group: no IOMMU translates its accesses".to_owned())
            }
            (None, None) => None,
        }
    }

    /// The full report for a pair; `None` if either function does not exist.
    pub fn pair_report(&self, provider: FunctionId, client: FunctionId) -> Option<PairReport> {
        let verdict = self.p2p_verdict(provider, client)?;
        let quality = self.path_quality(provider, client, verdict.map_type != MapType::BusAddr)?;
        let mut reasons = verdict.reasons(self);
        reasons.push(format!("nvidia-smi class: {}", quality.class));
        reasons.push(match (quality.bandwidth, quality.bottleneck) {
            (Some(b), Some(at)) => format!(
                "bottleneck {b} (after line encoding) at the link of {}",
                self.name(at)
            ),
            (None, _) if quality.links > 0 => {
                "bottleneck unknown: a link on the path has an unknown speed or width".to_owned()
            }
            _ => "no physical PCIe link on the path".to_owned(),
        });
        if let Some(line) = self.iommu_reason(client, verdict.map_type) {
            reasons.push(line);
        }
        Some(PairReport {
            verdict,
            quality,
            reasons,
        })
    }
}
