//! Hand-built machines for the rule tests.

#![allow(dead_code)]

use pci_topology::{
    Acs, Bdf, ClassCode, CpuInfo, CpuVendor, Function, FunctionId, HostBridge, HostBridgeId,
    LinkSpeed, LinkStatus, MachineBuilder, PortType, Upstream,
};

/// ACS control with RR and CR set.
pub const ACS_ON: Acs = Acs::Present { control: 0x000c };
/// ACS capability present, redirect off (SV only).
pub const ACS_OFF: Acs = Acs::Present { control: 0x0001 };

/// A builder with helpers.
pub struct Hand {
    pub b: MachineBuilder,
}

pub fn bdf(s: &str) -> Bdf {
    s.parse().unwrap()
}

impl Hand {
    pub fn new() -> Self {
        Hand {
            b: MachineBuilder::new(),
        }
    }

    /// A host bridge whose 00.0 function has these IDs (like an Intel root complex).
    pub fn host(&mut self, domain: u32, bus: u8, ids: Option<(u16, u16)>) -> HostBridgeId {
        let h = self.b.host_bridge(HostBridge::new(domain, bus));
        if let Some((v, d)) = ids {
            let mut f = Function::new(Bdf::new(domain, bus, 0, 0), Upstream::HostBridge(h));
            f.vendor = Some(v);
            f.device = Some(d);
            f.class = Some(ClassCode(0x060000));
            f.acs = Acs::Absent;
            f.is_pcie = Some(false);
            self.b.function(f);
        }
        h
    }

    fn add(&mut self, s: &str, up: Upstream, pt: PortType, acs: Acs) -> FunctionId {
        let mut f = Function::new(bdf(s), up);
        f.vendor = Some(0x1b36);
        f.device = Some(if pt == PortType::Endpoint {
            0x0010
        } else {
            0x000c
        });
        f.port_type = Some(pt);
        f.is_pcie = Some(true);
        f.acs = acs;
        f.class = Some(ClassCode(match pt {
            PortType::Endpoint | PortType::RcIntegratedEndpoint => 0x010802,
            _ => 0x060400,
        }));
        f.header_type = Some(if f.class.is_some_and(|c| c.is_pci_bridge()) {
            1
        } else {
            0
        });
        f.current_link = LinkStatus::new(LinkSpeed::GEN4, 16);
        f.max_link = f.current_link;
        self.b.function(f)
    }

    pub fn root_port(&mut self, s: &str, h: HostBridgeId, acs: Acs) -> FunctionId {
        self.add(s, Upstream::HostBridge(h), PortType::RootPort, acs)
    }

    pub fn rciep(&mut self, s: &str, h: HostBridgeId) -> FunctionId {
        self.add(
            s,
            Upstream::HostBridge(h),
            PortType::RcIntegratedEndpoint,
            Acs::Absent,
        )
    }

    pub fn up_port(&mut self, s: &str, parent: FunctionId, acs: Acs) -> FunctionId {
        self.add(s, Upstream::Bridge(parent), PortType::SwitchUpstream, acs)
    }

    pub fn down_port(&mut self, s: &str, parent: FunctionId, acs: Acs) -> FunctionId {
        self.add(s, Upstream::Bridge(parent), PortType::SwitchDownstream, acs)
    }

    pub fn endpoint(&mut self, s: &str, parent: FunctionId) -> FunctionId {
        self.add(s, Upstream::Bridge(parent), PortType::Endpoint, Acs::Absent)
    }

    pub fn endpoint_acs(&mut self, s: &str, parent: FunctionId, acs: Acs) -> FunctionId {
        self.add(s, Upstream::Bridge(parent), PortType::Endpoint, acs)
    }

    /// A virtual function of `pf`, placed in sysfs under `up`.
    pub fn vf(&mut self, s: &str, up: Upstream, pf: FunctionId) -> FunctionId {
        let id = self.add(s, up, PortType::Endpoint, Acs::Absent);
        self.b.function_mut(id).unwrap().physfn = Some(pf);
        id
    }

    /// Sets a function's link, current and maximum alike (a device whose link is that).
    pub fn set_link(&mut self, id: FunctionId, speed: Option<LinkSpeed>, width: Option<u8>) {
        let f = self.b.function_mut(id).unwrap();
        f.current_link = LinkStatus { speed, width };
        f.max_link = f.current_link;
    }

    pub fn cpu(&mut self, vendor: CpuVendor, family: u32) {
        self.b.cpu(CpuInfo {
            arch: None,
            vendor,
            family: Some(family),
            model: None,
            model_name: None,
        });
    }
}

/// The QEMU q35 host bridge IDs (not whitelisted).
pub const Q35: Option<(u16, u16)> = Some((0x8086, 0x29c0));
/// A Skylake-SP host bridge (whitelisted, any host bridge).
pub const SKX: Option<(u16, u16)> = Some((0x8086, 0x2030));
/// A Xeon E5 host bridge (whitelisted within one host bridge only).
pub const XEON_E5: Option<(u16, u16)> = Some((0x8086, 0x3c00));
