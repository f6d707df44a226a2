//! What a function is for people, from its PCI class: a GPU, a NIC, an NVMe drive... and
//! which kinds `matrix` shows by default (the devices people share memory between).

use pci_topology::Function;

/// A coarse kind of device, from the PCI class code.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Kind {
    /// Display controllers: GPUs, VGA (class 03).
    Gpu,
    /// Network controllers (class 02, InfiniBand 0207 included).
    Nic,
    /// InfiniBand on the serial bus class (0c06).
    InfiniBand,
    /// NVMe (0108).
    Nvme,
    /// Other storage that DMAs into memory buffers: SCSI, RAID, SAS, other (0100, 0104, 0107,
    /// 0180).
    Storage,
    /// Processing accelerators (12) and co-processors (0b40).
    Accelerator,
    /// Host bridges (0600).
    HostBridge,
    /// PCI-to-PCI bridges: root ports, switch ports (0604, 0609).
    Bridge,
    /// Anything else with a known class.
    Other,
    /// The class is unknown.
    Unknown,
}

impl Kind {
    /// The kind of a function.
    pub fn of(f: &Function) -> Kind {
        if f.is_bridge() {
            return Kind::Bridge;
        }
        let Some(class) = f.class else {
            return Kind::Unknown;
        };
        match (class.base(), class.class_id() & 0xff) {
            (0x03, _) => Kind::Gpu,
            (0x02, _) => Kind::Nic,
            (0x0c, 0x06) => Kind::InfiniBand,
            (0x01, 0x08) => Kind::Nvme,
            (0x01, 0x00 | 0x04 | 0x07 | 0x80) => Kind::Storage,
            (0x12, _) | (0x0b, 0x40) => Kind::Accelerator,
            (0x06, 0x00) => Kind::HostBridge,
            _ => Kind::Other,
        }
    }

    /// A short label for tables (at most 7 characters).
    pub const fn label(self) -> &'static str {
        match self {
            Kind::Gpu => "GPU",
            Kind::Nic => "NIC",
            Kind::InfiniBand => "IB",
            Kind::Nvme => "NVMe",
            Kind::Storage => "storage",
            Kind::Accelerator => "accel",
            Kind::HostBridge => "host",
            Kind::Bridge => "bridge",
            Kind::Other => "other",
            Kind::Unknown => "unknown",
        }
    }

    /// Whether `matrix` shows this kind by default.
    pub const fn shares_memory(self) -> bool {
        matches!(
            self,
            Kind::Gpu
                | Kind::Nic
                | Kind::InfiniBand
                | Kind::Nvme
                | Kind::Storage
                | Kind::Accelerator
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pci_topology::{Bdf, ClassCode, HostBridgeId, Upstream};

    fn with_class(c: u32) -> Function {
        let mut f = Function::new(Bdf::new(0, 1, 0, 0), Upstream::HostBridge(HostBridgeId(0)));
        f.class = Some(ClassCode(c));
        f
    }

    #[test]
    fn kinds_from_classes() {
        assert_eq!(Kind::of(&with_class(0x030200)), Kind::Gpu);
        assert_eq!(Kind::of(&with_class(0x020700)), Kind::Nic);
        assert_eq!(Kind::of(&with_class(0x0c0600)), Kind::InfiniBand);
        assert_eq!(Kind::of(&with_class(0x010802)), Kind::Nvme);
        assert_eq!(Kind::of(&with_class(0x018000)), Kind::Storage);
        assert_eq!(
            Kind::of(&with_class(0x010601)),
            Kind::Other,
            "SATA is not shown"
        );
        assert_eq!(Kind::of(&with_class(0x0b4000)), Kind::Accelerator);
        assert_eq!(Kind::of(&with_class(0x120000)), Kind::Accelerator);
        assert_eq!(Kind::of(&with_class(0x060400)), Kind::Bridge);
        assert_eq!(Kind::of(&with_class(0x060000)), Kind::HostBridge);
        let mut unknown = with_class(0);
        unknown.class = None;
        assert_eq!(Kind::of(&unknown), Kind::Unknown);
        assert!(Kind::Gpu.shares_memory() && !Kind::HostBridge.shares_memory());
    }
}
