//! NVLink's per-link bandwidth by GPU generation, as NVIDIA specifies the hardware.
//!
//! A source that names the GPU's generation (an NCCL file's compute capability `sm`) but not
//! the link rate gets the hardware's figure for one link, one direction: what the route model
//! uses. NCCL's own figures (`ncclTopoNvlinkBw`: 18, 20, 20, 12, 20.6, 40.1 GB/s for SM60, 70,
//! 80, 86, 90, 100) are lower: they are what NCCL plans its rings with, after protocol overhead,
//! and are kept beside it, labelled as NCCL's ([`PrivateLink::nccl_bandwidth`]).
//!
//! | compute capability | GPUs | NVLink | one link, one direction |
//! |---|---|---|---|
//! | 6.0 | P100 | 1.0 | 20 GB/s |
//! | 7.0 | V100 | 2.0 | 25 GB/s |
//! | 7.5 | Turing with an NVLink bridge (Quadro RTX, T-series bridges) | 2.0 | 25 GB/s |
//! | 8.0 | A100, A30 | 3.0 | 25 GB/s |
//! | 8.6 | A40, RTX A6000, RTX 3090 (NVLink bridge, 4 links, 112.5 GB/s both ways) | 3.0 | 14.0625 GB/s |
//! | 9.0 | H100, H200, GH200 | 4.0 | 25 GB/s |
//! | 10.0, 10.3 | B200, GB200, B300 | 5.0 | 50 GB/s |
//!
//! Sources: NVIDIA's data sheets and architecture white papers (P100: 4 links, 160 GB/s both
//! ways; V100: 6 links, 300 GB/s; A100: 12 links, 600 GB/s; A40: 112.5 GB/s; H100: 18 links,
//! 900 GB/s; B200: 18 links, 1.8 TB/s). Other compute capabilities have no NVLink, or none
//! this table knows: the bandwidth is then unknown.
//!
//! [`PrivateLink::nccl_bandwidth`]: crate::PrivateLink::nccl_bandwidth

use dmabuf_negotiate::Bandwidth;

/// One NVLink generation.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct NvlinkGeneration {
    /// NVLink version (1 to 5).
    pub version: u8,
    /// Bandwidth of one link, one direction (MB/s).
    pub per_link: Bandwidth,
    /// The GPUs of that generation, in words.
    pub gpus: &'static str,
}

/// The NVLink generation of a GPU of compute capability `sm` (`80` for 8.0), if it has NVLink
/// and this table knows it.
pub const fn of_compute_capability(sm: u32) -> Option<NvlinkGeneration> {
    let (version, per_link, gpus) = match sm {
        60 => (1, 20_000, "P100"),
        70 => (2, 25_000, "V100"),
        75 => (2, 25_000, "Turing with an NVLink bridge"),
        80 => (3, 25_000, "A100, A30"),
        86 => (3, 14_062, "A40, RTX A6000, RTX 3090 (NVLink bridge)"),
        90 => (4, 25_000, "H100, H200, GH200"),
        100 | 103 => (5, 50_000, "B200, GB200, B300"),
        _ => return None,
    };
    Some(NvlinkGeneration {
        version,
        per_link: Bandwidth(per_link),
        gpus,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_match_the_data_sheets() {
        // Links per GPU × per link × 2 directions, in GB/s.
        let total =
            |sm, links: u32| of_compute_capability(sm).map(|g| g.per_link.0 * links * 2 / 1000);
        assert_eq!(total(60, 4), Some(160));
        assert_eq!(total(70, 6), Some(300));
        assert_eq!(total(80, 12), Some(600));
        assert_eq!(total(86, 4), Some(112));
        assert_eq!(total(90, 18), Some(900));
        assert_eq!(total(100, 18), Some(1800));
        assert_eq!(of_compute_capability(89), None, "Ada has no NVLink");
    }
}
