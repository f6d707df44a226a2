//! The root-complex device a CPU model most likely has, for sources that name the CPU but not
//! the host bridges' own functions (NCCL files, `lstopo` without `--whole-io`).
//!
//! Linux's host-bridge whitelist names the devices of a few server CPU generations (the first
//! function of each root bus: the DMI port or memory-map device at 00.0, or a root port). A
//! source that gives the CPU's family and model but not that function leaves the whitelist
//! check unknown; this table says which device that CPU generation's root complex has, so an
//! explanation can say what the verdict most likely is. It is an inference from the CPU model
//! (a platform might differ), shown as such and never taken as a fact of the source.
//!
//! Entries: Intel Xeon server generations (family 6) whose root complex device is known, with the
//! device's name in the PCI ID database. Linux 7.2's whitelist lists 3c00 (Sandy Bridge-EP), 2f00
//! (Haswell-EP), 2020 (Skylake-SP, and Cascade Lake and Cooper Lake, the same model number) and
//! 09a2 (Ice Lake-SP); it does not list 0e00 (Ivy Bridge-EP) or 6f00 (Broadwell-EP). AMD CPUs
//! need no entry: from family 0x17 (Zen) the CPU rule allows P2P through any host bridge.

use crate::machine::{CpuInfo, CpuVendor};

/// One CPU generation and its root-complex device.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct RootComplexOfCpu {
    /// `cpu family`.
    pub family: u32,
    /// `model`.
    pub model: u32,
    /// The generation's name.
    pub generation: &'static str,
    /// Vendor ID of the root complex device.
    pub vendor: u16,
    /// Device ID.
    pub device: u16,
    /// The device's name in the PCI ID database.
    pub name: &'static str,
}

const INTEL: u16 = 0x8086;

/// The known generations (Intel, family 6).
pub const INTEL_ROOT_COMPLEXES: [RootComplexOfCpu; 6] = [
    RootComplexOfCpu {
        family: 6,
        model: 45,
        generation: "Sandy Bridge-EP",
        vendor: INTEL,
        device: 0x3c00,
        name: "Xeon E5/Core i7 DMI2",
    },
    RootComplexOfCpu {
        family: 6,
        model: 62,
        generation: "Ivy Bridge-EP",
        vendor: INTEL,
        device: 0x0e00,
        name: "Xeon E7 v2/Xeon E5 v2/Core i7 DMI2",
    },
    RootComplexOfCpu {
        family: 6,
        model: 63,
        generation: "Haswell-EP",
        vendor: INTEL,
        device: 0x2f00,
        name: "Xeon E7 v3/Xeon E5 v3/Core i7 DMI2",
    },
    RootComplexOfCpu {
        family: 6,
        model: 79,
        generation: "Broadwell-EP",
        vendor: INTEL,
        device: 0x6f00,
        name: "Xeon E7 v4/Xeon E5 v4/Xeon E3 v4/Xeon D DMI2",
    },
    RootComplexOfCpu {
        family: 6,
        model: 85,
        generation: "Skylake-SP, Cascade Lake or Cooper Lake",
        vendor: INTEL,
        device: 0x2020,
        name: "Sky Lake-E DMI3 Registers",
    },
    RootComplexOfCpu {
        family: 6,
        model: 106,
        generation: "Ice Lake-SP",
        vendor: INTEL,
        device: 0x09a2,
        name: "Ice Lake Memory Map/VT-d",
    },
];

/// The root complex a CPU most likely has, when its vendor, family and model are known and in
/// the table.
pub fn of_cpu(cpu: &CpuInfo) -> Option<&'static RootComplexOfCpu> {
    if cpu.vendor != CpuVendor::Intel {
        return None;
    }
    let (family, model) = (cpu.family?, cpu.model?);
    INTEL_ROOT_COMPLEXES
        .iter()
        .find(|r| r.family == family && r.model == model)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::whitelist::Whitelist;

    #[test]
    fn the_table_agrees_with_the_whitelist_s_own_names() {
        let wl = Whitelist::LINUX_7_2;
        let listed: Vec<u16> = INTEL_ROOT_COMPLEXES
            .iter()
            .filter(|r| wl.lookup(r.vendor, r.device).is_some())
            .map(|r| r.device)
            .collect();
        assert_eq!(listed, [0x3c00, 0x2f00, 0x2020, 0x09a2]);
        let icx = CpuInfo {
            vendor: CpuVendor::Intel,
            family: Some(6),
            model: Some(106),
            ..CpuInfo::default()
        };
        assert_eq!(of_cpu(&icx).map(|r| r.device), Some(0x09a2));
        let amd = CpuInfo {
            vendor: CpuVendor::Amd,
            ..icx.clone()
        };
        assert_eq!(of_cpu(&amd), None);
    }
}
