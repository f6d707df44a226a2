//! Generated machines: regular PCIe trees for tests and benchmarks.
//!
//! Each host bridge gets its own PCI domain; under it, root ports; under each root port,
//! `switch_levels` levels of PCIe switches (an upstream port and `downstream_ports` downstream
//! ports each); on each leaf port one device with `functions_per_device` functions (a
//! multi-function endpoint). Port types and ACS are known (from a generated machine, nothing is
//! unknown unless asked).

use crate::machine::{
    BuildError, CpuInfo, Function, FunctionId, HostBridge, Machine, MachineBuilder, Upstream,
};
use crate::pci::{Acs, Bdf, ClassCode, LinkSpeed, LinkStatus, PortType};

/// The shape of a generated machine.
#[derive(Clone, Debug)]
pub struct SynthSpec {
    /// Host bridges (one PCI domain each).
    pub host_bridges: u32,
    /// Root ports per host bridge.
    pub root_ports: u32,
    /// Levels of switches below each root port (0: the device sits on the root port).
    pub switch_levels: u32,
    /// Downstream ports per switch.
    pub downstream_ports: u32,
    /// Functions of the device on each leaf port (1 to 8).
    pub functions_per_device: u32,
    /// ACS redirect on every switch downstream port.
    pub acs_on_downstream_ports: bool,
    /// ACS state unknown everywhere (as from 64-byte configs).
    pub acs_unknown: bool,
    /// The CPU.
    pub cpu: CpuInfo,
}

impl Default for SynthSpec {
    fn default() -> Self {
        Self {
            host_bridges: 1,
            root_ports: 2,
            switch_levels: 1,
            downstream_ports: 2,
            functions_per_device: 1,
            acs_on_downstream_ports: false,
            acs_unknown: false,
            cpu: CpuInfo::default(),
        }
    }
}

impl SynthSpec {
    /// 4096 endpoints: 4 host bridges × 2 root ports × two levels of 8-port switches × 8
    /// functions.
    pub fn endpoints_4096() -> Self {
        Self {
            host_bridges: 4,
            root_ports: 2,
            switch_levels: 2,
            downstream_ports: 8,
            functions_per_device: 8,
            ..Self::default()
        }
    }

    /// A deep chain: `levels` switches in a row under one root port, two endpoints at the end
    /// and one on a second root port.
    pub fn deep(levels: u32) -> Self {
        Self {
            host_bridges: 1,
            root_ports: 2,
            switch_levels: levels,
            downstream_ports: 1,
            functions_per_device: 2,
            ..Self::default()
        }
    }
}

/// Why a spec could not be generated.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum SynthError {
    /// A domain needs more than 256 buses.
    #[error("the spec needs more than 256 buses in one domain")]
    TooManyBuses,
    /// Too many ports or functions for PCI addressing.
    #[error("more than 32 ports or 8 functions on one bus")]
    TooWide,
    /// The model rejected the result.
    #[error(transparent)]
    Build(#[from] BuildError),
}

struct Gen<'a> {
    b: MachineBuilder,
    spec: &'a SynthSpec,
    domain: u32,
    next_bus: u32,
}

fn port(bdf: Bdf, up: Upstream, pt: PortType, acs: Acs, sec: u8) -> Function {
    let mut f = Function::new(bdf, up);
    f.vendor = Some(0x1b36);
    f.device = Some(0x000c);
    f.class = Some(ClassCode(0x060400));
    f.header_type = Some(1);
    f.bus_range = Some((sec, sec));
    f.port_type = Some(pt);
    f.is_pcie = Some(true);
    f.acs = acs;
    f.current_link = LinkStatus::new(LinkSpeed::GEN4, 16);
    f.max_link = f.current_link;
    f
}

impl Gen<'_> {
    fn bus(&mut self) -> Result<u8, SynthError> {
        let b = u8::try_from(self.next_bus).map_err(|_| SynthError::TooManyBuses)?;
        self.next_bus += 1;
        Ok(b)
    }

    fn acs(&self, on: bool) -> Acs {
        if self.spec.acs_unknown {
            Acs::Unknown
        } else if on {
            Acs::Present { control: 0x001d }
        } else {
            Acs::Present { control: 0 }
        }
    }

    /// Populates the secondary bus `bus` below `parent` with what sits at `level`.
    fn below(&mut self, parent: FunctionId, bus: u8, level: u32) -> Result<(), SynthError> {
        let d = self.domain;
        if level == self.spec.switch_levels {
            if self.spec.functions_per_device == 0 || self.spec.functions_per_device > 8 {
                return Err(SynthError::TooWide);
            }
            for func in 0..self.spec.functions_per_device {
                let mut f =
                    Function::new(Bdf::new(d, bus, 0, func as u8), Upstream::Bridge(parent));
                f.vendor = Some(0x1b36);
                f.device = Some(0x0010);
                f.class = Some(ClassCode(0x010802));
                f.header_type = Some(0);
                f.port_type = Some(PortType::Endpoint);
                f.is_pcie = Some(true);
                f.acs = self.acs(false);
                f.current_link = LinkStatus::new(LinkSpeed::GEN3, 4);
                f.max_link = f.current_link;
                self.b.function(f);
            }
            return Ok(());
        }
        if self.spec.downstream_ports > 32 {
            return Err(SynthError::TooWide);
        }
        let internal = self.bus()?;
        let acs = self.acs(false);
        let up = self.b.function(port(
            Bdf::new(d, bus, 0, 0),
            Upstream::Bridge(parent),
            PortType::SwitchUpstream,
            acs,
            internal,
        ));
        for dev in 0..self.spec.downstream_ports {
            let sec = self.bus()?;
            let acs = self.acs(self.spec.acs_on_downstream_ports);
            let dp = self.b.function(port(
                Bdf::new(d, internal, dev as u8, 0),
                Upstream::Bridge(up),
                PortType::SwitchDownstream,
                acs,
                sec,
            ));
            self.below(dp, sec, level + 1)?;
        }
        Ok(())
    }
}

/// Generates a machine.
pub fn generate(spec: &SynthSpec) -> Result<Machine, SynthError> {
    let mut g = Gen {
        b: MachineBuilder::new(),
        spec,
        domain: 0,
        next_bus: 0,
    };
    g.b.cpu(spec.cpu.clone());
    if spec.root_ports > 31 {
        return Err(SynthError::TooWide);
    }
    for h in 0..spec.host_bridges {
        g.domain = h;
        g.next_bus = 1;
        let mut hb = HostBridge::new(h, 0);
        hb.numa_node = Some(h / 2);
        let hb = g.b.host_bridge(hb);
        let mut host = Function::new(Bdf::new(h, 0, 0, 0), Upstream::HostBridge(hb));
        host.vendor = Some(0x8086);
        host.device = Some(0x29c0);
        host.class = Some(ClassCode(0x060000));
        host.header_type = Some(0);
        host.is_pcie = Some(false);
        host.acs = Acs::Absent;
        g.b.function(host);
        for r in 0..spec.root_ports {
            let sec = g.bus()?;
            let acs = g.acs(false);
            let rp = g.b.function(port(
                Bdf::new(h, 0, (r + 1) as u8, 0),
                Upstream::HostBridge(hb),
                PortType::RootPort,
                acs,
                sec,
            ));
            g.below(rp, sec, 0)?;
        }
    }
    Ok(g.b.build()?)
}
