//! Offers as scenario files write them (`{interconnect, arguments}` tables), their shape
//! checks, and their binding to a machine: bus ids and device names to functions, fabric names
//! to fabrics, BARs to slices, trust from the machine where the file does not state it.
//!
//! Both file formats use this: the negotiation scenario (`[[exporter]]`, `[[importer]]`,
//! docs/scenario-format.md) and the simulation's importers (`[[importer.offer]]`,
//! docs/simulation-format.md). Every error names the file, line and column.

use std::ops::Range;

use dmabuf_negotiate::{
    BarSlice, DeviceId, ExporterOffer, FabricId, ImporterOffer, Memory, Trust, VramId,
};
use pci_topology::{Bdf, FunctionId, LinkKind, Machine};
use serde::Deserialize;
use toml::Spanned;

use crate::error::CliError;
use crate::location;
use crate::resolve;
use crate::scenario_file::ScenarioFile;

/// One offer table, with every argument any type may take; which ones apply is checked per
/// interconnect type ([`check_shape`]).
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawOffer {
    interconnect: Spanned<String>,
    label: Option<String>,
    device: Option<Spanned<String>>,
    memory: Option<Spanned<String>>,
    numa_node: Option<Spanned<u16>>,
    bar: Option<Spanned<u8>>,
    offset: Option<Spanned<u64>>,
    len: Option<Spanned<u64>>,
    instance: Option<Spanned<u16>>,
    fabric: Option<Spanned<String>>,
    peer2peer: Option<Spanned<bool>>,
    trust: Option<Spanned<String>>,
}

/// Which side of the negotiation an offer is on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Side {
    /// The exporter (owner of the buffer).
    Exporter,
    /// The importer.
    Importer,
}

impl Side {
    /// `exporter` or `importer`.
    pub const fn name(self) -> &'static str {
        match self {
            Side::Exporter => "exporter",
            Side::Importer => "importer",
        }
    }
}

/// What memory an exporter offer describes.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum MemorySpec {
    /// System RAM, on a NUMA node if given.
    System(Option<u16>),
    /// A device's memory.
    Device(Bdf),
}

/// A bound offer, as the output shows it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct OfferSpec {
    /// Which side.
    pub side: Side,
    /// Position in its list (0-based).
    pub index: usize,
    /// Interconnect type name.
    pub interconnect: &'static str,
    /// The author's label, if any.
    pub label: Option<String>,
    /// The device named by `device` (accessing device, owner, BAR owner, VRAM owner).
    pub device: Option<Bdf>,
    /// The memory (exporter `dma-addr` and `phys`).
    pub memory: Option<MemorySpec>,
    /// BAR index, offset and length (`pci-bar`, `phys` of a BAR).
    pub bar: Option<(u8, u64, u64)>,
    /// VRAM instance (`vram`).
    pub instance: Option<u16>,
    /// Private fabric name (`private-iova`).
    pub fabric: Option<String>,
    /// Whether the importer accepts P2P addresses (importer `dma-addr`).
    pub peer2peer: Option<bool>,
    /// Who the importer is (importer `phys`).
    pub trust: Option<Trust>,
    /// Whether `trust` came from the machine (the device's binding) rather than the scenario.
    pub trust_from_machine: bool,
}

/// The names of the fabrics offers named: the machine's own, and names the machine does not
/// have, which get ids after the machine's fabrics (offers on them are rejected).
#[derive(Clone, Debug, Default)]
pub struct FabricNames {
    unknown: Vec<String>,
}

impl FabricNames {
    /// The name of a fabric id: the machine's fabric, or an unknown name from the file.
    pub fn name(&self, m: &Machine, id: FabricId) -> Option<String> {
        let i = id.0 as usize;
        match m.fabrics().get(i) {
            Some(f) => Some(f.name.clone()),
            None => self.unknown.get(i.checked_sub(m.fabrics().len())?).cloned(),
        }
    }
}

/// Why a fabric name names none of the machine's fabrics.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct UnknownFabric {
    /// What the machine has, for the message.
    pub known: String,
}

/// The machine's fabric called `name`, or its only fabric of the technology `name` (`nvlink`,
/// `xgmi`, any case).
pub fn machine_fabric(m: &Machine, name: &str) -> Result<FabricId, UnknownFabric> {
    if let Some(i) = m.fabrics().iter().position(|x| x.name == name) {
        return Ok(FabricId(i as u32));
    }
    let kind_matches = |k: &LinkKind| k.to_string().eq_ignore_ascii_case(name);
    let of_kind: Vec<usize> = m
        .fabrics()
        .iter()
        .enumerate()
        .filter(|(_, x)| kind_matches(&x.kind))
        .map(|(i, _)| i)
        .collect();
    if let [only] = of_kind[..] {
        return Ok(FabricId(only as u32));
    }
    let names: Vec<String> = m.fabrics().iter().map(|x| x.name.clone()).collect();
    Err(UnknownFabric {
        known: if names.is_empty() {
            "it has none".to_owned()
        } else if of_kind.len() > 1 {
            format!("several are of that kind, name one: {}", names.join(", "))
        } else {
            format!("it has {}", names.join(", "))
        },
    })
}

/// Binds offers of one file to one machine, collecting unknown fabric names and warnings.
pub struct Binder<'a> {
    file: &'a ScenarioFile,
    m: &'a Machine,
    /// Fabric names met so far.
    pub fabrics: FabricNames,
    /// Things worth saying that do not stop anything.
    pub warnings: Vec<String>,
}

impl<'a> Binder<'a> {
    /// A binder for offers of `file` on `m`.
    pub fn new(file: &'a ScenarioFile, m: &'a Machine) -> Self {
        Self {
            file,
            m,
            fabrics: FabricNames::default(),
            warnings: Vec::new(),
        }
    }

    /// The function a device argument names, or a positioned error with the closest names.
    pub fn device(&self, d: &Spanned<String>) -> Result<(FunctionId, Bdf), CliError> {
        let id = resolve::resolve(self.m, d.get_ref()).map_err(|u| {
            let e = self.file.err(d.span(), u.message());
            match u.hint() {
                Some(h) => e.note(h),
                None => e,
            }
        })?;
        let bdf = self
            .m
            .function(id)
            .map(|f| f.bdf)
            .ok_or_else(|| CliError::internal("a resolved function is missing"))?;
        Ok((id, bdf))
    }

    /// The `fabric` and `device` of a `private-iova` offer, on either side.
    fn fabric_port(
        &mut self,
        o: &RawOffer,
        side: Side,
        spec: &mut OfferSpec,
    ) -> Result<(FabricId, DeviceId), CliError> {
        let f = self.required(&o.fabric, "fabric", side, o)?;
        let d = self.required(&o.device, "device", side, o)?;
        let (id, bdf) = self.device(d)?;
        spec.device = Some(bdf);
        spec.fabric = Some(f.get_ref().clone());
        Ok((self.fabric(f), DeviceId::from(id)))
    }

    fn required<'r, T>(
        &self,
        field: &'r Option<Spanned<T>>,
        name: &str,
        side: Side,
        o: &RawOffer,
    ) -> Result<&'r Spanned<T>, CliError> {
        field.as_ref().ok_or_else(|| {
            self.file.err(
                o.interconnect.span(),
                format!(
                    "an {} `{}` offer needs `{name}`",
                    side.name(),
                    o.interconnect.get_ref()
                ),
            )
        })
    }

    fn memory(
        &self,
        o: &RawOffer,
        mem: &Spanned<String>,
    ) -> Result<(Memory, MemorySpec), CliError> {
        if mem.get_ref() == "system" {
            let node = o.numa_node.as_ref().map(|n| *n.get_ref());
            return Ok((Memory::System { numa_node: node }, MemorySpec::System(node)));
        }
        if let Some(n) = &o.numa_node {
            return Err(self.file.err(
                n.span(),
                "`numa_node` applies to `memory = \"system\"` only",
            ));
        }
        let (id, bdf) = self.device(mem)?;
        Ok((Memory::Device(DeviceId::from(id)), MemorySpec::Device(bdf)))
    }

    fn bar(
        &self,
        o: &RawOffer,
        id: FunctionId,
        bdf: Bdf,
        side: Side,
    ) -> Result<BarSlice, CliError> {
        let bar = self.required(&o.bar, "bar", side, o)?;
        let offset = o.offset.as_ref().map_or(0, |x| *x.get_ref());
        let len = match &o.len {
            Some(l) => *l.get_ref(),
            None => {
                let known = self
                    .m
                    .function(id)
                    .and_then(|f| f.bars.iter().find(|b| b.index == *bar.get_ref()))
                    .map(|b| b.size());
                match known {
                    Some(size) if offset < size => size - offset,
                    Some(size) => {
                        return Err(self.file.err(
                            bar.span(),
                            format!(
                                "`offset` {offset:#x} is past the end of BAR{} of {bdf} ({size:#x} bytes)",
                                bar.get_ref()
                            ),
                        ));
                    }
                    None => {
                        return Err(self.file.err(
                            bar.span(),
                            format!(
                                "the size of BAR{} of {bdf} is not known from this source: give `len`",
                                bar.get_ref()
                            ),
                        ));
                    }
                }
            }
        };
        Ok(BarSlice {
            device: DeviceId::from(id),
            bar: *bar.get_ref(),
            offset,
            len,
        })
    }

    /// The fabric a name means. A name the machine does not have is not an error: a warning
    /// names it, and it gets an id no fabric of the machine has (offers on it are rejected).
    pub fn fabric(&mut self, f: &Spanned<String>) -> FabricId {
        let name = f.get_ref();
        let known = match machine_fabric(self.m, name) {
            Ok(id) => return id,
            Err(e) => e.known,
        };
        let (line, col) = location::line_column(&self.file.text, f.span().start);
        self.warnings.push(format!(
            "{}:{line}:{col}: no private fabric `{name}` on this machine ({known}); offers on it will be rejected",
            self.file.path.display(),
        ));
        let pos = match self.fabrics.unknown.iter().position(|n| n == name) {
            Some(p) => p,
            None => {
                self.fabrics.unknown.push(name.clone());
                self.fabrics.unknown.len() - 1
            }
        };
        FabricId((self.m.fabrics().len() + pos) as u32)
    }

    fn spec(side: Side, index: usize, o: &RawOffer, interconnect: &'static str) -> OfferSpec {
        OfferSpec {
            side,
            index,
            interconnect,
            label: o.label.clone(),
            device: None,
            memory: None,
            bar: None,
            instance: None,
            fabric: None,
            peer2peer: None,
            trust: None,
            trust_from_machine: false,
        }
    }

    /// Binds the exporter offer at `index` of its list (its shape already checked).
    pub fn exporter(
        &mut self,
        index: usize,
        o: &RawOffer,
    ) -> Result<(ExporterOffer<'static>, OfferSpec), CliError> {
        let side = Side::Exporter;
        let ic = interconnect_name(o.interconnect.get_ref()).unwrap_or("?");
        let mut spec = Self::spec(side, index, o, ic);
        let offer = match ic {
            "dma-addr" => {
                let mem = self.required(&o.memory, "memory", side, o)?;
                let (memory, ms) = self.memory(o, mem)?;
                spec.memory = Some(ms);
                ExporterOffer::dma_addr(memory)
            }
            "pci-bar" => {
                let d = self.required(&o.device, "device", side, o)?;
                let (id, bdf) = self.device(d)?;
                let slice = self.bar(o, id, bdf, side)?;
                spec.device = Some(bdf);
                spec.bar = Some((slice.bar, slice.offset, slice.len));
                ExporterOffer::pci_bar(slice)
            }
            "vram" => {
                let d = self.required(&o.device, "device", side, o)?;
                let (id, bdf) = self.device(d)?;
                let instance = o.instance.as_ref().map_or(0, |x| *x.get_ref());
                spec.device = Some(bdf);
                spec.instance = Some(instance);
                ExporterOffer::vram(VramId {
                    owner: DeviceId::from(id),
                    instance,
                })
            }
            "private-iova" => {
                let (fabric, device) = self.fabric_port(o, side, &mut spec)?;
                ExporterOffer::private_iova(fabric, device)
            }
            _ => {
                // `phys`: a BAR slice (device + bar), or memory.
                if let Some(d) = &o.device {
                    let (id, bdf) = self.device(d)?;
                    let slice = self.bar(o, id, bdf, side)?;
                    spec.device = Some(bdf);
                    spec.bar = Some((slice.bar, slice.offset, slice.len));
                    ExporterOffer::phys_bar(slice)
                } else {
                    let mem = self.required(&o.memory, "memory (or device and bar)", side, o)?;
                    let (memory, ms) = self.memory(o, mem)?;
                    spec.memory = Some(ms);
                    ExporterOffer::phys(memory)
                }
            }
        };
        Ok((offer, spec))
    }

    /// Binds the importer offer at `index` of its list (its shape already checked).
    pub fn importer(
        &mut self,
        index: usize,
        o: &RawOffer,
    ) -> Result<(ImporterOffer<'static>, OfferSpec), CliError> {
        let side = Side::Importer;
        let ic = interconnect_name(o.interconnect.get_ref()).unwrap_or("?");
        let mut spec = Self::spec(side, index, o, ic);
        let offer = match ic {
            "dma-addr" | "pci-bar" | "vram" => {
                let d = self.required(&o.device, "device", side, o)?;
                let (id, bdf) = self.device(d)?;
                spec.device = Some(bdf);
                let dev = DeviceId::from(id);
                match ic {
                    "dma-addr" => {
                        let p2p = o.peer2peer.as_ref().is_none_or(|p| *p.get_ref());
                        spec.peer2peer = Some(p2p);
                        ImporterOffer::dma_addr(dev, p2p)
                    }
                    "pci-bar" => ImporterOffer::pci_bar(dev),
                    _ => ImporterOffer::vram(dev),
                }
            }
            "private-iova" => {
                let (fabric, device) = self.fabric_port(o, side, &mut spec)?;
                ImporterOffer::private_iova(fabric, device)
            }
            _ => {
                let device = match &o.device {
                    Some(d) => Some(self.device(d)?),
                    None => None,
                };
                // Trust as written; else what the machine says of the device (a function bound
                // to vfio-pci is VFIO); else untrusted.
                let trust = match &o.trust {
                    Some(t) => parse_trust(t.get_ref()).ok_or_else(|| {
                        self.file.err(
                            t.span(),
                            format!(
                                "unknown trust `{}`; expected untrusted, iommufd, kvm or vfio",
                                t.get_ref()
                            ),
                        )
                    })?,
                    None => {
                        let from_machine = device
                            .and_then(|(id, _)| self.m.function(id))
                            .and_then(|f| f.trust);
                        spec.trust_from_machine = from_machine.is_some();
                        from_machine.unwrap_or(Trust::Untrusted)
                    }
                };
                spec.device = device.map(|(_, bdf)| bdf);
                let device = device.map(|(id, _)| DeviceId::from(id));
                spec.trust = Some(trust);
                ImporterOffer::phys(trust, device)
            }
        };
        Ok((offer, spec))
    }
}

/// The built-in interconnect type names the scenario formats accept.
pub const INTERCONNECTS: [&str; 5] = ["dma-addr", "pci-bar", "vram", "private-iova", "phys"];

/// The built-in interconnect type called `s`.
pub fn interconnect_name(s: &str) -> Option<&'static str> {
    INTERCONNECTS.iter().copied().find(|&n| n == s)
}

/// `untrusted`, `iommufd`, `kvm`, `vfio`.
pub fn parse_trust(s: &str) -> Option<Trust> {
    match s {
        "untrusted" => Some(Trust::Untrusted),
        "iommufd" => Some(Trust::Iommufd),
        "kvm" => Some(Trust::Kvm),
        "vfio" => Some(Trust::Vfio),
        _ => None,
    }
}

/// The closest of `choices` to `name`, for "did you mean" hints.
pub fn closest<'c>(name: &str, choices: &[&'c str]) -> Option<&'c str> {
    choices
        .iter()
        .max_by(|a, b| strsim::jaro_winkler(name, a).total_cmp(&strsim::jaro_winkler(name, b)))
        .copied()
}

/// Checks that an offer names a known interconnect and only takes arguments that type uses
/// on its side. Returns the span and message of the first problem.
pub fn check_shape(side: Side, o: &RawOffer) -> Result<(), (Range<usize>, String)> {
    let name = o.interconnect.get_ref().as_str();
    let Some(ic) = interconnect_name(name) else {
        let closest = closest(name, &INTERCONNECTS).unwrap_or("dma-addr");
        return Err((
            o.interconnect.span(),
            format!(
                "unknown interconnect `{name}` (did you mean `{closest}`?); expected one of {}",
                INTERCONNECTS.join(", ")
            ),
        ));
    };
    // The arguments each type takes on each side.
    let allowed: &[&str] = match (side, ic) {
        (Side::Exporter, "dma-addr") => &["memory", "numa_node"],
        (Side::Exporter, "pci-bar") => &["device", "bar", "offset", "len"],
        (Side::Exporter, "vram") => &["device", "instance"],
        (Side::Exporter, "private-iova") => &["fabric", "device"],
        (Side::Exporter, _) => &["memory", "numa_node", "device", "bar", "offset", "len"],
        (Side::Importer, "dma-addr") => &["device", "peer2peer"],
        (Side::Importer, "pci-bar" | "vram") => &["device"],
        (Side::Importer, "private-iova") => &["fabric", "device"],
        (Side::Importer, _) => &["trust", "device"],
    };
    let given: [(&str, Option<Range<usize>>); 10] = [
        ("device", o.device.as_ref().map(Spanned::span)),
        ("memory", o.memory.as_ref().map(Spanned::span)),
        ("numa_node", o.numa_node.as_ref().map(Spanned::span)),
        ("bar", o.bar.as_ref().map(Spanned::span)),
        ("offset", o.offset.as_ref().map(Spanned::span)),
        ("len", o.len.as_ref().map(Spanned::span)),
        ("instance", o.instance.as_ref().map(Spanned::span)),
        ("fabric", o.fabric.as_ref().map(Spanned::span)),
        ("peer2peer", o.peer2peer.as_ref().map(Spanned::span)),
        ("trust", o.trust.as_ref().map(Spanned::span)),
    ];
    for (field, span) in given {
        let Some(span) = span else { continue };
        if !allowed.contains(&field) {
            return Err((
                span,
                format!(
                    "`{field}` does not apply to an {} `{ic}` offer (it takes: {})",
                    side.name(),
                    allowed.join(", ")
                ),
            ));
        }
    }
    if side == Side::Exporter && ic == "phys" && o.memory.is_some() && o.device.is_some() {
        return Err((
            o.interconnect.span(),
            "an exporter `phys` offer takes either `memory`, or `device` and `bar`, not both"
                .to_owned(),
        ));
    }
    Ok(())
}
