//! The IOMMU domain a function's DMA goes through, and what it means for P2P under Linux's
//! rules.
//!
//! `sys/kernel/iommu_groups/N/type` gives the type of the group's **default** domain
//! (`iommu_group_show_type()` in `drivers/iommu/iommu.c`): `identity` (passthrough: DMA
//! addresses are CPU physical addresses), `DMA` (translated: the DMA API hands out IOVAs),
//! `DMA-FQ` (translated, with IOTLB invalidations batched in a flush queue), `blocked` (no
//! DMA), `unmanaged` (a domain owned by a user such as VFIO or iommufd), `unknown`. A group
//! taken over by VFIO keeps its default domain's type in sysfs: VFIO attaches its own
//! unmanaged domain without changing it.
//!
//! What it means for P2P, in Linux 7.2:
//!
//! - **The map type does not depend on it.** `calc_map_type_and_dist()` (`drivers/pci/p2pdma.c`)
//!   reads the topology, ACS, the host-bridge whitelist and the CPU, never the IOMMU.
//! - **An IOMMU turns ACS on.** Its driver calls `pci_request_acs()` at boot, and
//!   `pci_enable_acs()` (`drivers/pci/pci.c`) then sets Source Validation, P2P Request and
//!   Completion Redirect and Upstream Forwarding on every port that has them: switch-local P2P
//!   becomes `thru-host-bridge` unless `pci=disable_acs_redir=` clears them. A snapshot taken
//!   as root shows the ACS state the kernel left, so the verdict already has it.
//! - **Bus-address transfers bypass it.** `iommu_dma_map_sg()` (`drivers/iommu/dma-iommu.c`)
//!   marks `PCI_P2PDMA_MAP_BUS_ADDR` segments as bus addresses and leaves them out of the
//!   IOMMU mapping; `dma_direct_map_sg()` (`kernel/dma/direct.c`) does the same without an
//!   IOMMU.
//! - **Through the host bridge, the domain decides the address.** With `DMA` or `DMA-FQ`, the
//!   peer's BAR is mapped at an IOVA in the client's domain (`iommu_dma_map_sg()`: "mapped with
//!   regular IOVAs"), and the root complex translates each access; with `identity` (or no
//!   IOMMU) `dma_direct_map_sg()` hands out the CPU physical address; with `unmanaged`, the
//!   owner (VFIO, iommufd) must have mapped the peer's BAR in its IOVA space; with `blocked`,
//!   the client does no DMA at all.

use core::fmt;

use crate::p2pdma::MapType;

/// The type of an IOMMU group's default domain, as `sys/kernel/iommu_groups/N/type` says.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum IommuDomain {
    /// `identity`: passthrough, DMA addresses are CPU physical addresses.
    Identity,
    /// `DMA`: translated by the IOMMU (IOVAs from the DMA API).
    Dma,
    /// `DMA-FQ`: translated, IOTLB invalidations batched in a flush queue.
    DmaFq,
    /// `blocked`: DMA is blocked.
    Blocked,
    /// `unmanaged`: a domain owned by a user of the IOMMU API (VFIO, iommufd).
    Unmanaged,
    /// Another word (`unknown`, or one a later kernel adds).
    Other(String),
}

impl IommuDomain {
    /// From the sysfs word (surrounding white space ignored).
    pub fn from_sysfs(word: &str) -> IommuDomain {
        match word.trim() {
            "identity" => IommuDomain::Identity,
            "DMA" => IommuDomain::Dma,
            "DMA-FQ" => IommuDomain::DmaFq,
            "blocked" => IommuDomain::Blocked,
            "unmanaged" => IommuDomain::Unmanaged,
            other => IommuDomain::Other(other.to_owned()),
        }
    }

    /// The sysfs word.
    pub fn name(&self) -> &str {
        match self {
            IommuDomain::Identity => "identity",
            IommuDomain::Dma => "DMA",
            IommuDomain::DmaFq => "DMA-FQ",
            IommuDomain::Blocked => "blocked",
            IommuDomain::Unmanaged => "unmanaged",
            IommuDomain::Other(s) => s,
        }
    }

    /// Whether the IOMMU translates the function's DMA through the host bridge: `Some(true)`
    /// for `DMA`, `DMA-FQ` and `unmanaged`, `Some(false)` for `identity`, `None` otherwise.
    pub fn translates(&self) -> Option<bool> {
        match self {
            IommuDomain::Dma | IommuDomain::DmaFq | IommuDomain::Unmanaged => Some(true),
            IommuDomain::Identity => Some(false),
            IommuDomain::Blocked | IommuDomain::Other(_) => None,
        }
    }

    /// What this domain, the client's, means for a P2P transfer of this map type under
    /// Linux's rules (see the [module](self) docs).
    pub fn p2p_meaning(&self, map: MapType) -> &'static str {
        match (map, self) {
            (MapType::NotSupported, _) => {
                "the kernel refuses the transfer whatever the domain (the map type does not \
                 depend on the IOMMU)"
            }
            (_, IommuDomain::Blocked) => "the client's DMA is blocked: no transfer at all",
            (MapType::BusAddr, _) => {
                "bus addresses bypass the IOMMU: iommu_dma_map_sg() leaves bus-address segments \
                 out of the mapping"
            }
            (MapType::ThruHostBridge, IommuDomain::Identity) => {
                "passthrough: the client is handed the BAR's CPU physical address \
                 (dma_direct_map_sg())"
            }
            (MapType::ThruHostBridge, IommuDomain::Dma | IommuDomain::DmaFq) => {
                "translated: the peer's BAR is mapped at an IOVA in the client's domain \
                 (iommu_dma_map_sg()), and the root complex translates each access"
            }
            (MapType::ThruHostBridge, IommuDomain::Unmanaged) => {
                "owned by a user (VFIO, iommufd): the peer's BAR must be mapped in its IOVA space"
            }
            (MapType::ThruHostBridge, IommuDomain::Other(_)) => {
                "a domain type this program does not know"
            }
        }
    }
}

impl fmt::Display for IommuDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysfs_words() {
        for w in [
            "identity",
            "DMA",
            "DMA-FQ",
            "blocked",
            "unmanaged",
            "unknown",
        ] {
            assert_eq!(IommuDomain::from_sysfs(&format!("{w}\n")).name(), w);
        }
        assert_eq!(IommuDomain::from_sysfs("DMA-FQ").translates(), Some(true));
        assert_eq!(
            IommuDomain::from_sysfs("identity").translates(),
            Some(false)
        );
        assert!(
            IommuDomain::Dma
                .p2p_meaning(MapType::BusAddr)
                .contains("bypass")
        );
    }
}
