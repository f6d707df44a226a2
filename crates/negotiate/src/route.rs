//! Routes and their quality: how an initiator reaches memory, and the order the matcher ranks
//! candidates by (see [`Quality`]).

use core::cmp::Ordering;
use core::fmt;

use crate::{Describe, FabricId, Names, OpaqueNames};

/// Bandwidth in megabytes per second (10^6 bytes/s), in one direction.
///
/// Which definition of a link's bandwidth is used (raw signalling rate, after line encoding, or
/// after protocol overhead) is the [`Fabric`](crate::Fabric)'s choice, and it must use one
/// consistently; pci-topology reports bandwidth after line encoding, as hwloc does.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Bandwidth(pub u32);

impl Bandwidth {
    /// Megabytes per second.
    pub const fn mb_per_s(self) -> u32 {
        self.0
    }

    /// The number of GB/s as people read it, without the unit (see [`Gbps`]).
    pub const fn gbps(self) -> Gbps {
        Gbps(self)
    }
}

/// `15.8 GB/s`: the number as [`Gbps`] writes it, and the unit.
impl fmt::Display for Bandwidth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} GB/s", self.gbps())
    }
}

/// A bandwidth in GB/s (10^9 bytes per second) as people read it, by one rule wherever it is
/// written: three significant digits and never more than two decimals, rounded to the nearest
/// (halves up), trailing zeros after the point dropped. 15.753 GB/s is `15.8`, 7.876 is `7.88`,
/// 0.984 is `0.98`, 31.5 is `31.5`, 25.0 is `25`, 0.50 is `0.5`, 240 is `240`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Gbps(Bandwidth);

impl fmt::Display for Gbps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mb = u64::from(self.0.0);
        // The last digit kept, in MB/s, and how many of them make a GB/s.
        let (unit, per_gb, mut decimals): (u64, u64, usize) = if mb < 9_995 {
            (10, 100, 2)
        } else if mb < 99_950 {
            (100, 10, 1)
        } else {
            (1000, 1, 0)
        };
        // Saturating arithmetic (it cannot saturate: `mb` fits in 32 bits and the loop below
        // strips fewer zeros than `decimals`) keeps a panic path out of kernel builds, which
        // check overflow.
        let units = mb.saturating_add(unit / 2) / unit;
        let (whole, mut fraction) = (units / per_gb, units % per_gb);
        if fraction == 0 {
            return write!(f, "{whole}");
        }
        while fraction % 10 == 0 {
            fraction /= 10;
            decimals = decimals.saturating_sub(1);
        }
        write!(f, "{whole}.{fraction:0decimals$}")
    }
}

/// Latency in nanoseconds.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Latency(pub u32);

impl fmt::Display for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ns", self.0)
    }
}

/// How an initiator reaches the memory.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
// A fixed `u32` tag with aligned payloads: candidates are copied on the negotiation path, and
// the default layout's packed 7-byte payloads made each copy stall (measured: twice as slow).
#[repr(u32)]
pub enum RouteKind {
    /// The memory is local to the importer's device (same function, another function of the same
    /// device, or the physical function of the exporting virtual function).
    SameDevice,
    /// Over a private fabric.
    PrivateLink(FabricId),
    /// PCI peer-to-peer with bus addresses (Linux `PCI_P2PDMA_MAP_BUS_ADDR`); `distance` is the
    /// kernel's `pci_p2pdma_distance`.
    PciBusAddr {
        /// The kernel's P2P distance.
        distance: u32,
    },
    /// PCI peer-to-peer forwarded by the host bridge (Linux `PCI_P2PDMA_MAP_THRU_HOST_BRIDGE`).
    PciThroughHostBridge {
        /// The kernel's P2P distance.
        distance: u32,
    },
    /// The memory is system RAM; the initiator reaches it through its root complex.
    SystemMemory,
    /// The CPU itself (a trusted importer without a device, such as KVM mapping into a guest)
    /// reaches device memory through the host bridge.
    CpuThroughHostBridge,
}

impl RouteKind {
    /// The quality tier of this kind of route.
    pub const fn tier(self) -> Tier {
        match self {
            RouteKind::SameDevice => Tier::SameDevice,
            RouteKind::PrivateLink(_) => Tier::PrivateLink,
            RouteKind::PciBusAddr { .. } => Tier::PciBusAddr,
            RouteKind::PciThroughHostBridge { .. } | RouteKind::CpuThroughHostBridge => {
                Tier::PciThroughHostBridge
            }
            RouteKind::SystemMemory => Tier::SystemMemory,
        }
    }
}

impl Describe for RouteKind {
    fn describe(&self, f: &mut fmt::Formatter<'_>, names: &dyn Names) -> fmt::Result {
        match self {
            RouteKind::SameDevice => f.write_str("same device"),
            RouteKind::PrivateLink(fabric) => {
                write!(f, "private link on {}", fabric.named(names))
            }
            RouteKind::PciBusAddr { distance } => {
                write!(f, "PCI P2P, bus addresses (distance {distance})")
            }
            RouteKind::PciThroughHostBridge { distance } => {
                write!(f, "PCI P2P through the host bridge (distance {distance})")
            }
            RouteKind::SystemMemory => f.write_str("system memory"),
            RouteKind::CpuThroughHostBridge => f.write_str("CPU through the host bridge"),
        }
    }
}

impl fmt::Display for RouteKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.describe(f, &OpaqueNames)
    }
}

/// The reach of a route, ordered worst (`SystemMemory`) to best (`SameDevice`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Tier {
    /// Through system memory.
    SystemMemory = 0,
    /// PCI peer-to-peer through the host bridge.
    PciThroughHostBridge = 1,
    /// PCI peer-to-peer with bus addresses.
    PciBusAddr = 2,
    /// A private link.
    PrivateLink = 3,
    /// The same device.
    SameDevice = 4,
}

/// How an initiator reaches memory, with what is known about the path.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Route {
    /// The kind of route.
    pub kind: RouteKind,
    /// Narrowest link on the path, if known.
    pub bandwidth: Option<Bandwidth>,
    /// End-to-end latency estimate, if known.
    pub latency: Option<Latency>,
    /// Number of links crossed.
    pub hops: u16,
}

impl Route {
    /// A route of `kind` about which nothing else is known (zero hops).
    pub const fn new(kind: RouteKind) -> Self {
        Self {
            kind,
            bandwidth: None,
            latency: None,
            hops: 0,
        }
    }

    /// This route with a known bottleneck bandwidth.
    pub const fn with_bandwidth(mut self, bandwidth: Bandwidth) -> Self {
        self.bandwidth = Some(bandwidth);
        self
    }

    /// This route with a known latency.
    pub const fn with_latency(mut self, latency: Latency) -> Self {
        self.latency = Some(latency);
        self
    }

    /// This route with a hop count.
    pub const fn with_hops(mut self, hops: u16) -> Self {
        self.hops = hops;
        self
    }

    /// The route's quality, the key candidates are ranked by.
    pub const fn quality(&self) -> Quality {
        Quality {
            tier: self.kind.tier(),
            bandwidth: self.bandwidth,
            latency: self.latency,
            hops: self.hops,
        }
    }
}

impl Describe for Route {
    fn describe(&self, f: &mut fmt::Formatter<'_>, names: &dyn Names) -> fmt::Result {
        write!(f, "{}", self.kind.named(names))?;
        match self.bandwidth {
            Some(bw) => write!(f, ", {bw}")?,
            None => f.write_str(", bandwidth unknown")?,
        }
        if let Some(lat) = self.latency {
            write!(f, ", {lat}")?;
        }
        write!(
            f,
            ", {} hop{}",
            self.hops,
            if self.hops == 1 { "" } else { "s" }
        )
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.describe(f, &OpaqueNames)
    }
}

/// The quality of a route: a total order where **greater is better**.
///
/// 1. **Tier** ([`Tier`]), from best to worst: the same device (the memory is local to the
///    importer: another function of the same GPU, or the PF of the exporting VF), a private link
///    (NVLink, xGMI, ...), PCI peer-to-peer with bus addresses (traffic stays below a common
///    bridge), PCI peer-to-peer through the host bridge (the root complex forwards, an IOMMU may
///    translate), and last through system memory (the buffer lives in RAM).
///    The tier comes first because it decides what the traffic competes with and whether it
///    survives an ACS or IOMMU change: a lower tier never beats a higher one, however wide its
///    links.
/// 2. **Bottleneck bandwidth**, higher is better. A known bandwidth beats an unknown one (an
///    unknown value is never assumed good).
/// 3. **Latency**, lower is better; a known latency beats an unknown one.
/// 4. **Hops**, fewer is better.
///
/// Two routes equal on all four are a tie; the matcher then breaks it by exporter order, then
/// importer order, so the answer is deterministic. The kernel's P2P distance is not part of the
/// quality: the hop count carries the same information for every kind of route.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Quality {
    /// Reach tier.
    pub tier: Tier,
    /// Bottleneck bandwidth, if known.
    pub bandwidth: Option<Bandwidth>,
    /// Latency, if known.
    pub latency: Option<Latency>,
    /// Links crossed.
    pub hops: u16,
}

impl Ord for Quality {
    fn cmp(&self, other: &Self) -> Ordering {
        self.tier
            .cmp(&other.tier)
            // `Option`'s order puts `None` below `Some`: unknown bandwidth loses.
            .then(self.bandwidth.cmp(&other.bandwidth))
            .then(match (self.latency, other.latency) {
                (Some(a), Some(b)) => b.cmp(&a),
                (Some(_), None) => Ordering::Greater,
                (None, Some(_)) => Ordering::Less,
                (None, None) => Ordering::Equal,
            })
            .then(other.hops.cmp(&self.hops))
    }
}

impl PartialOrd for Quality {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(kind: RouteKind, bw: Option<u32>, lat: Option<u32>, hops: u16) -> Quality {
        Route {
            kind,
            bandwidth: bw.map(Bandwidth),
            latency: lat.map(Latency),
            hops,
        }
        .quality()
    }

    #[test]
    fn tier_beats_bandwidth() {
        let p2p_wide = q(
            RouteKind::PciBusAddr { distance: 4 },
            Some(64_000),
            Some(10),
            1,
        );
        let nvlink_narrow = q(RouteKind::PrivateLink(FabricId(0)), Some(1_000), None, 9);
        assert!(nvlink_narrow > p2p_wide);
        let host = q(
            RouteKind::PciThroughHostBridge { distance: 4 },
            Some(64_000),
            None,
            1,
        );
        assert!(p2p_wide > host);
        assert!(host > q(RouteKind::SystemMemory, Some(99_000), Some(1), 0));
        assert!(q(RouteKind::SameDevice, None, None, 0) > nvlink_narrow);
    }

    #[test]
    fn within_a_tier_bandwidth_then_latency_then_hops() {
        let k = RouteKind::PciBusAddr { distance: 4 };
        assert!(q(k, Some(2), None, 9) > q(k, Some(1), Some(1), 0));
        assert!(
            q(k, Some(1), None, 0) > q(k, None, Some(1), 0),
            "known bandwidth wins"
        );
        assert!(q(k, Some(1), Some(5), 9) > q(k, Some(1), Some(6), 0));
        assert!(
            q(k, Some(1), Some(5), 9) > q(k, Some(1), None, 0),
            "known latency wins"
        );
        assert!(q(k, Some(1), Some(5), 2) > q(k, Some(1), Some(5), 3));
        assert_eq!(
            q(k, Some(1), Some(5), 2).cmp(&q(
                RouteKind::PciBusAddr { distance: 9 },
                Some(1),
                Some(5),
                2
            )),
            Ordering::Equal,
            "distance is not part of quality; hops are"
        );
    }

    #[test]
    fn bandwidth_prints_in_gigabytes() {
        extern crate alloc;
        use alloc::string::ToString;
        assert_eq!(Bandwidth(15_753).to_string(), "15.8 GB/s");
        assert_eq!(Bandwidth(500).to_string(), "0.5 GB/s");
        for (mb, text) in [
            (15_753, "15.8"),
            (15_750, "15.8"),
            (15_749, "15.7"),
            (7_876, "7.88"),
            (985, "0.99"),
            (984, "0.98"),
            (250, "0.25"),
            (1, "0"),
            (5, "0.01"),
            (31_507, "31.5"),
            (25_000, "25"),
            (9_994, "9.99"),
            (9_995, "10"),
            (99_949, "99.9"),
            (99_950, "100"),
            (240_000, "240"),
            (1_000_000, "1000"),
            (u32::MAX, "4294967"),
        ] {
            assert_eq!(Bandwidth(mb).gbps().to_string(), text, "{mb} MB/s");
        }
    }
}
