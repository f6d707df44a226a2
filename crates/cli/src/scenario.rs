//! Negotiation scenarios: a TOML file naming a machine source, a policy, and the exporter's and
//! the importer's offers (docs/scenario-format.md).
//!
//! Reading happens in two steps. [`Scenario::read`] parses the file and checks its shape (every
//! error names the file, line and column). [`Scenario::bind`] then resolves bus ids, fabrics
//! and BARs against the loaded machine and builds the negotiation core's offers.

use std::ops::Range;
use std::path::{Path, PathBuf};

use dmabuf_negotiate::{
    BarSlice, DeviceId, ExporterOffer, FabricId, ImporterOffer, Memory, Policy, Trust, VramId,
};
use pci_topology::{Bdf, FunctionId, LinkKind, Machine};
use serde::Deserialize;
use toml::Spanned;

use crate::error::CliError;
use crate::location;
use crate::resolve;
use crate::source::MachineSource;

/// The file as written.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    description: Option<String>,
    machine: Option<Spanned<RawMachine>>,
    policy: Option<Spanned<String>>,
    #[serde(default)]
    exporter: Vec<Spanned<RawOffer>>,
    #[serde(default)]
    importer: Vec<Spanned<RawOffer>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct RawMachine {
    sysfs: Option<String>,
    hwloc: Option<String>,
    nccl: Option<String>,
    machine: Option<String>,
    live: Option<bool>,
}

/// One `[[exporter]]` or `[[importer]]` entry, with every argument any type may take; which
/// ones apply is checked per interconnect type.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
struct RawOffer {
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

/// A parsed scenario, not yet bound to a machine.
#[derive(Debug)]
pub struct Scenario {
    /// The file.
    pub path: PathBuf,
    /// Its description.
    pub description: Option<String>,
    /// The machine it names (paths resolved against the scenario's folder); `None`: the live
    /// machine.
    pub machine: Option<MachineSource>,
    /// The ranking policy.
    pub policy: Policy,
    text: String,
    exporter: Vec<Spanned<RawOffer>>,
    importer: Vec<Spanned<RawOffer>>,
}

/// The offers of a scenario, bound to a machine.
#[derive(Debug)]
pub struct Bound {
    /// The exporter's list, for the negotiation core.
    pub exporter: Vec<ExporterOffer<'static>>,
    /// The importer's list.
    pub importer: Vec<ImporterOffer<'static>>,
    /// The exporter's list as written.
    pub exporter_specs: Vec<OfferSpec>,
    /// The importer's list as written.
    pub importer_specs: Vec<OfferSpec>,
    /// Names of fabrics the machine does not have, in the order their ids were given (ids
    /// start after the machine's fabrics).
    pub unknown_fabrics: Vec<String>,
    /// Things worth saying that do not stop the negotiation.
    pub warnings: Vec<String>,
}

impl Bound {
    /// The name of a fabric id: the machine's fabric, or an unknown name from the scenario.
    pub fn fabric_name(&self, m: &Machine, id: FabricId) -> Option<String> {
        let i = id.0 as usize;
        match m.fabrics().get(i) {
            Some(f) => Some(f.name.clone()),
            None => self.unknown_fabrics.get(i - m.fabrics().len()).cloned(),
        }
    }
}

impl Scenario {
    /// Reads and checks a scenario file.
    pub fn read(path: &Path) -> Result<Self, CliError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            CliError::input(format!("cannot read scenario {}: {e}", path.display()))
        })?;
        Self::parse(path, text)
    }

    /// Parses a scenario's text; `path` names it in errors and anchors relative paths.
    pub fn parse(path: &Path, text: String) -> Result<Self, CliError> {
        let raw: RawScenario = toml::from_str(&text).map_err(|e| {
            let at = e.span().map_or_else(
                || path.display().to_string(),
                |s| location::at(path, &text, s.start),
            );
            CliError::input(format!("{at}: {}", e.message().trim_end()))
                .note("the scenario format is described in docs/scenario-format.md")
        })?;
        let err = |span: Range<usize>, msg: String| {
            CliError::input(format!("{}: {msg}", location::at(path, &text, span.start)))
        };
        let policy = match &raw.policy {
            None => Policy::BestRoute,
            Some(p) => match p.get_ref().as_str() {
                "best-route" => Policy::BestRoute,
                "exporter-priority" => Policy::ExporterPriority,
                other => {
                    return Err(err(
                        p.span(),
                        format!(
                            "unknown policy `{other}`; expected `best-route` or `exporter-priority`"
                        ),
                    ));
                }
            },
        };
        let base = path.parent().unwrap_or(Path::new(""));
        let machine = match &raw.machine {
            None => None,
            Some(m) => {
                let span = m.span();
                let m = m.get_ref();
                let mut given = Vec::new();
                let join = |p: &String| normalize(&base.join(p));
                if let Some(p) = &m.sysfs {
                    given.push(MachineSource::Sysfs(join(p)));
                }
                if let Some(p) = &m.hwloc {
                    given.push(MachineSource::Hwloc(join(p)));
                }
                if let Some(p) = &m.nccl {
                    given.push(MachineSource::Nccl(join(p)));
                }
                if let Some(p) = &m.machine {
                    given.push(MachineSource::Toml(join(p)));
                }
                if m.live == Some(true) {
                    given.push(MachineSource::Live);
                }
                if given.len() != 1 {
                    return Err(err(
                        span,
                        "`machine` must name exactly one source: sysfs, hwloc, nccl, machine (a \
                         path relative to the scenario) or live = true"
                            .to_owned(),
                    ));
                }
                given.pop()
            }
        };
        for (side, list) in [
            (Side::Exporter, &raw.exporter),
            (Side::Importer, &raw.importer),
        ] {
            for o in list {
                check_shape(side, o.get_ref()).map_err(|(span, msg)| err(span, msg))?;
            }
        }
        Ok(Self {
            path: path.to_owned(),
            description: raw.description,
            machine,
            policy,
            text,
            exporter: raw.exporter,
            importer: raw.importer,
        })
    }

    fn err(&self, span: Range<usize>, msg: impl Into<String>) -> CliError {
        CliError::input(format!(
            "{}: {}",
            location::at(&self.path, &self.text, span.start),
            msg.into()
        ))
    }

    /// Resolves the offers against a machine.
    pub fn bind(&self, m: &Machine) -> Result<Bound, CliError> {
        let mut bound = Bound {
            exporter: Vec::new(),
            importer: Vec::new(),
            exporter_specs: Vec::new(),
            importer_specs: Vec::new(),
            unknown_fabrics: Vec::new(),
            warnings: Vec::new(),
        };
        if self.exporter.is_empty() || self.importer.is_empty() {
            bound.warnings.push(format!(
                "{}: the {} list is empty: nothing can be agreed",
                self.path.display(),
                if self.exporter.is_empty() {
                    "exporter"
                } else {
                    "importer"
                }
            ));
        }
        for (i, o) in self.exporter.iter().enumerate() {
            let (offer, spec) = self.bind_exporter(m, i, o.get_ref(), &mut bound)?;
            bound.exporter.push(offer);
            bound.exporter_specs.push(spec);
        }
        for (i, o) in self.importer.iter().enumerate() {
            let (offer, spec) = self.bind_importer(m, i, o.get_ref(), &mut bound)?;
            bound.importer.push(offer);
            bound.importer_specs.push(spec);
        }
        Ok(bound)
    }

    fn device(&self, m: &Machine, d: &Spanned<String>) -> Result<(FunctionId, Bdf), CliError> {
        let id = resolve::resolve(m, d.get_ref()).map_err(|u| {
            let e = self.err(d.span(), u.message());
            match u.hint() {
                Some(h) => e.note(h),
                None => e,
            }
        })?;
        let bdf = m
            .function(id)
            .map(|f| f.bdf)
            .ok_or_else(|| CliError::internal("a resolved function is missing"))?;
        Ok((id, bdf))
    }

    fn required<'r, T>(
        &self,
        field: &'r Option<Spanned<T>>,
        name: &str,
        side: Side,
        o: &RawOffer,
    ) -> Result<&'r Spanned<T>, CliError> {
        field.as_ref().ok_or_else(|| {
            self.err(
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
        m: &Machine,
        o: &RawOffer,
        mem: &Spanned<String>,
    ) -> Result<(Memory, MemorySpec), CliError> {
        if mem.get_ref() == "system" {
            let node = o.numa_node.as_ref().map(|n| *n.get_ref());
            return Ok((Memory::System { numa_node: node }, MemorySpec::System(node)));
        }
        if let Some(n) = &o.numa_node {
            return Err(self.err(
                n.span(),
                "`numa_node` applies to `memory = \"system\"` only",
            ));
        }
        let (id, bdf) = self.device(m, mem)?;
        Ok((Memory::Device(DeviceId::from(id)), MemorySpec::Device(bdf)))
    }

    fn bar(
        &self,
        m: &Machine,
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
                let known = m
                    .function(id)
                    .and_then(|f| f.bars.iter().find(|b| b.index == *bar.get_ref()))
                    .map(|b| b.size());
                match known {
                    Some(size) if offset < size => size - offset,
                    Some(size) => {
                        return Err(self.err(
                            bar.span(),
                            format!("`offset` {offset:#x} is past the end of BAR{} of {bdf} ({size:#x} bytes)", bar.get_ref()),
                        ));
                    }
                    None => {
                        return Err(self.err(
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

    fn fabric(&self, m: &Machine, f: &Spanned<String>, bound: &mut Bound) -> FabricId {
        let name = f.get_ref();
        if let Some(i) = m.fabrics().iter().position(|x| &x.name == name) {
            return FabricId(i as u32);
        }
        // A technology name stands for the machine's only fabric of that kind.
        let kind_matches = |k: &LinkKind| k.to_string().eq_ignore_ascii_case(name);
        let of_kind: Vec<usize> = m
            .fabrics()
            .iter()
            .enumerate()
            .filter(|(_, x)| kind_matches(&x.kind))
            .map(|(i, _)| i)
            .collect();
        if let [only] = of_kind[..] {
            return FabricId(only as u32);
        }
        let known: Vec<String> = m.fabrics().iter().map(|x| x.name.clone()).collect();
        let (line, col) = location::line_column(&self.text, f.span().start);
        bound.warnings.push(format!(
            "{}:{line}:{col}: no private fabric `{name}` on this machine ({}); offers on it will be rejected",
            self.path.display(),
            if known.is_empty() {
                "it has none".to_owned()
            } else if of_kind.len() > 1 {
                format!("several are of that kind, name one: {}", known.join(", "))
            } else {
                format!("it has {}", known.join(", "))
            }
        ));
        let pos = match bound.unknown_fabrics.iter().position(|n| n == name) {
            Some(p) => p,
            None => {
                bound.unknown_fabrics.push(name.clone());
                bound.unknown_fabrics.len() - 1
            }
        };
        FabricId((m.fabrics().len() + pos) as u32)
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

    fn bind_exporter(
        &self,
        m: &Machine,
        index: usize,
        o: &RawOffer,
        bound: &mut Bound,
    ) -> Result<(ExporterOffer<'static>, OfferSpec), CliError> {
        let side = Side::Exporter;
        let ic = interconnect_name(o.interconnect.get_ref()).unwrap_or("?");
        let mut spec = Self::spec(side, index, o, ic);
        let offer = match ic {
            "dma-addr" => {
                let mem = self.required(&o.memory, "memory", side, o)?;
                let (memory, ms) = self.memory(m, o, mem)?;
                spec.memory = Some(ms);
                ExporterOffer::dma_addr(memory)
            }
            "pci-bar" => {
                let d = self.required(&o.device, "device", side, o)?;
                let (id, bdf) = self.device(m, d)?;
                let slice = self.bar(m, o, id, bdf, side)?;
                spec.device = Some(bdf);
                spec.bar = Some((slice.bar, slice.offset, slice.len));
                ExporterOffer::pci_bar(slice)
            }
            "vram" => {
                let d = self.required(&o.device, "device", side, o)?;
                let (id, bdf) = self.device(m, d)?;
                let instance = o.instance.as_ref().map_or(0, |x| *x.get_ref());
                spec.device = Some(bdf);
                spec.instance = Some(instance);
                ExporterOffer::vram(VramId {
                    owner: DeviceId::from(id),
                    instance,
                })
            }
            "private-iova" => {
                let f = self.required(&o.fabric, "fabric", side, o)?;
                let d = self.required(&o.device, "device", side, o)?;
                let (id, bdf) = self.device(m, d)?;
                let fabric = self.fabric(m, f, bound);
                spec.device = Some(bdf);
                spec.fabric = Some(f.get_ref().clone());
                ExporterOffer::private_iova(fabric, DeviceId::from(id))
            }
            _ => {
                // `phys`: a BAR slice (device + bar), or memory.
                if let Some(d) = &o.device {
                    let (id, bdf) = self.device(m, d)?;
                    let slice = self.bar(m, o, id, bdf, side)?;
                    spec.device = Some(bdf);
                    spec.bar = Some((slice.bar, slice.offset, slice.len));
                    ExporterOffer::phys_bar(slice)
                } else {
                    let mem = self.required(&o.memory, "memory (or device and bar)", side, o)?;
                    let (memory, ms) = self.memory(m, o, mem)?;
                    spec.memory = Some(ms);
                    ExporterOffer::phys(memory)
                }
            }
        };
        Ok((offer, spec))
    }

    fn bind_importer(
        &self,
        m: &Machine,
        index: usize,
        o: &RawOffer,
        bound: &mut Bound,
    ) -> Result<(ImporterOffer<'static>, OfferSpec), CliError> {
        let side = Side::Importer;
        let ic = interconnect_name(o.interconnect.get_ref()).unwrap_or("?");
        let mut spec = Self::spec(side, index, o, ic);
        let offer = match ic {
            "dma-addr" | "pci-bar" | "vram" => {
                let d = self.required(&o.device, "device", side, o)?;
                let (id, bdf) = self.device(m, d)?;
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
                let f = self.required(&o.fabric, "fabric", side, o)?;
                let d = self.required(&o.device, "device", side, o)?;
                let (id, bdf) = self.device(m, d)?;
                let fabric = self.fabric(m, f, bound);
                spec.device = Some(bdf);
                spec.fabric = Some(f.get_ref().clone());
                ImporterOffer::private_iova(fabric, DeviceId::from(id))
            }
            _ => {
                let device = match &o.device {
                    Some(d) => Some(self.device(m, d)?),
                    None => None,
                };
                // Trust as written; else what the machine says of the device (a function bound
                // to vfio-pci is VFIO); else untrusted.
                let trust = match &o.trust {
                    Some(t) => parse_trust(t.get_ref()).ok_or_else(|| {
                        self.err(
                            t.span(),
                            format!(
                                "unknown trust `{}`; expected untrusted, iommufd, kvm or vfio",
                                t.get_ref()
                            ),
                        )
                    })?,
                    None => {
                        let from_machine = device
                            .and_then(|(id, _)| m.function(id))
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

/// Removes `.` and `name/..` pairs without touching the filesystem, so that paths print as
/// people would write them (`examples/../../shared` is `../shared`).
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out: Vec<Component<'_>> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.last(), Some(Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    if out.is_empty() {
        PathBuf::from(".")
    } else {
        out.iter().collect()
    }
}

/// The built-in interconnect type names the scenario format accepts.
pub const INTERCONNECTS: [&str; 5] = ["dma-addr", "pci-bar", "vram", "private-iova", "phys"];

fn interconnect_name(s: &str) -> Option<&'static str> {
    INTERCONNECTS.iter().copied().find(|&n| n == s)
}

fn parse_trust(s: &str) -> Option<Trust> {
    match s {
        "untrusted" => Some(Trust::Untrusted),
        "iommufd" => Some(Trust::Iommufd),
        "kvm" => Some(Trust::Kvm),
        "vfio" => Some(Trust::Vfio),
        _ => None,
    }
}

/// Checks that an offer names a known interconnect and only takes arguments that type uses
/// on its side. Returns the span and message of the first problem.
fn check_shape(side: Side, o: &RawOffer) -> Result<(), (Range<usize>, String)> {
    let name = o.interconnect.get_ref().as_str();
    let Some(ic) = interconnect_name(name) else {
        let closest = INTERCONNECTS
            .iter()
            .max_by(|a, b| strsim::jaro_winkler(name, a).total_cmp(&strsim::jaro_winkler(name, b)))
            .copied()
            .unwrap_or("dma-addr");
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Scenario, CliError> {
        Scenario::parse(Path::new("s.toml"), text.to_owned())
    }

    #[test]
    fn errors_name_line_and_column() {
        let e = parse("policy = \"fastest\"\n").unwrap_err();
        assert!(
            e.message.starts_with("s.toml:1:10: unknown policy"),
            "{}",
            e.message
        );
        let e = parse("[[exporter]]\ninterconnect = \"vrma\"\n").unwrap_err();
        assert!(e.message.starts_with("s.toml:2:16:"), "{}", e.message);
        assert!(e.message.contains("did you mean `vram`"), "{}", e.message);
        let e = parse("[[importer]]\ninterconnect = \"vram\"\ntrust = \"kvm\"\n").unwrap_err();
        assert!(e.message.starts_with("s.toml:3:9:"), "{}", e.message);
        let e = parse("[[importer]]\ninterconect = \"vram\"\n").unwrap_err();
        assert!(e.message.starts_with("s.toml:2:1:"), "{}", e.message);
        let e = parse("policy = [\n").unwrap_err();
        assert!(e.message.starts_with("s.toml:"), "{}", e.message);
    }

    #[test]
    fn machine_paths_are_relative_to_the_scenario() {
        let s = Scenario::parse(
            Path::new("examples/negotiate/x.toml"),
            "[machine]\nsysfs = \"../m.tar.gz\"\n".to_owned(),
        )
        .unwrap();
        assert_eq!(
            s.machine,
            Some(MachineSource::Sysfs(PathBuf::from("examples/m.tar.gz")))
        );
        assert!(parse("[machine]\nsysfs = \"a\"\nnccl = \"b\"\n").is_err());
        assert_eq!(
            normalize(Path::new("examples/../../shared/x")),
            PathBuf::from("../shared/x")
        );
        assert_eq!(normalize(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
        assert_eq!(parse("").unwrap().policy, Policy::BestRoute);
    }
}
