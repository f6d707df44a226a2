//! Binding a simulation to a machine: devices by bus id or name, apertures from the machine's
//! BARs (or the file), the exporter policy (checked by the core), the importers' offers, the
//! links a link event names, and the expectations.
//!
//! Apertures: a placement in device memory is addressed through a BAR. Its CPU physical window
//! comes from the machine's BAR (its `start` and size, as sysfs `resource` gives them) unless
//! the file gives `cpu` and `len`; sources without BARs (NCCL and hwloc XML) need them in the
//! file. Its PCI bus address is **taken equal to the CPU address** (as on x86, where host
//! bridges do not translate) unless the file gives `bus`; the output says which.

use dmabuf_negotiate::{
    AddrRange, Apertures, BarAperture, BarSlice, BusAddr, BusWindow, Describe, DeviceId,
    ExporterPolicy, FabricAperture, FabricId, Importer, ImporterMode, Iova, Offering, PhysAddr,
    Placement, PolicyError, VramAperture, VramId, VramOffset,
};
use pci_topology::{Bdf, CpuVendor, Function, FunctionId, Machine};
use toml::Spanned;

use super::expect::{Expectation, What};
use super::format::{Declared, RawAperture, RawEvent, RawExpect, RawPlacement, Simulation, named};
use super::links;
use crate::core_names::MachineNames;
use crate::error::CliError;
use crate::location;
use crate::offers::{Binder, FabricNames, OfferSpec, machine_fabric};
use crate::scenario_file::ScenarioFile;

/// A placement's window onto the CPU and the PCI bus.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ApertureSpec {
    /// The BAR.
    pub bar: u8,
    /// CPU physical address of the BAR's first byte.
    pub cpu: u64,
    /// PCI bus address of the BAR's first byte.
    pub bus: u64,
    /// Bytes visible.
    pub len: u64,
    /// Whether `cpu` and `len` came from the machine (else from the file).
    pub from_machine: bool,
    /// Whether `bus` was taken equal to `cpu` (the file did not say).
    pub bus_assumed: bool,
}

/// Where VRAM appears on a private fabric.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct FabricWindowSpec {
    /// The fabric.
    pub fabric: FabricId,
    /// Its name as written.
    pub name: String,
    /// IOVA of VRAM offset 0.
    pub iova: u64,
    /// Bytes exposed.
    pub len: u64,
}

/// A placement of the exporter policy, as written and bound.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PlacementSpec {
    /// Its name.
    pub name: String,
    /// The author's label.
    pub label: Option<String>,
    /// `vram`, `system` or `bar`.
    pub memory: &'static str,
    /// The device whose memory it is (VRAM, BAR).
    pub device: Option<Bdf>,
    /// The core's placement.
    pub placement: Placement,
    /// The window through which it is addressed, if known.
    pub aperture: Option<ApertureSpec>,
    /// Private-fabric windows onto it (VRAM).
    pub fabrics: Vec<FabricWindowSpec>,
    /// Whether the file listed the offerings (else the core's defaults).
    pub offers_given: bool,
}

/// An importer as written and bound.
#[derive(Clone, Debug)]
pub struct ImporterSpec {
    /// Its name.
    pub name: String,
    /// The author's label.
    pub label: Option<String>,
    /// The core's importer (offers and mode).
    pub importer: Importer,
    /// Its offers as written.
    pub offers: Vec<OfferSpec>,
}

/// Which links a link event changes.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct LinkSelection {
    /// The fabric.
    pub fabric: FabricId,
    /// The devices named by `between`.
    pub ends: Vec<Bdf>,
    /// The links (positions in the machine's list).
    pub links: Vec<usize>,
}

/// What an event does.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Action {
    /// The importer attaches.
    Attach(usize),
    /// The importer detaches.
    Detach(usize),
    /// The importer maps.
    Map(usize),
    /// The importer gives its mapping back.
    Unmap(usize),
    /// The importer pins.
    Pin(usize),
    /// The importer unpins.
    Unpin(usize),
    /// The importer uses its mapping.
    Access(usize),
    /// The exporter moves the buffer to this placement.
    Move(usize),
    /// The exporter revokes.
    Revoke,
    /// Links go down (`up = false`) or come up.
    Links {
        /// Up or down.
        up: bool,
        /// Which.
        selection: LinkSelection,
    },
    /// A device is reset.
    DeviceReset {
        /// The device.
        device: FunctionId,
        /// Its bus id.
        bdf: Bdf,
    },
}

/// One event, bound.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Event {
    /// Its line in the file.
    pub line: usize,
    /// The author's note.
    pub note: Option<String>,
    /// What it does.
    pub action: Action,
    /// What must hold afterwards.
    pub expect: Vec<Expectation>,
}

/// A simulation bound to a machine.
#[derive(Clone, Debug)]
pub struct Bound {
    /// The buffer's size.
    pub size: u64,
    /// The exporting function's bus id.
    pub exporter_bdf: Bdf,
    /// The exporter policy (placements, offers, migration, revocation, ranking).
    pub policy: ExporterPolicy,
    /// Where the buffer starts (position in `placements`).
    pub start: usize,
    /// The placements as written, in order of preference.
    pub placements: Vec<PlacementSpec>,
    /// The importers, in the file's order.
    pub importers: Vec<ImporterSpec>,
    /// The events.
    pub events: Vec<Event>,
    /// Fabric names met.
    pub fabrics: FabricNames,
    /// Things worth saying that do not stop the simulation.
    pub warnings: Vec<String>,
}

impl Bound {
    /// The importers' names.
    pub fn importer_names(&self) -> Vec<String> {
        self.importers.iter().map(|i| i.name.clone()).collect()
    }

    /// The placements' names.
    pub fn placement_names(&self) -> Vec<String> {
        self.placements.iter().map(|p| p.name.clone()).collect()
    }

    /// The position of a placement in the list.
    pub fn placement_index(&self, p: &Placement) -> Option<usize> {
        self.placements.iter().position(|s| s.placement == *p)
    }
}

/// The largest prefetchable memory BAR of a function: where devices expose their memory.
fn memory_bar(f: &Function) -> Option<u8> {
    f.bars
        .iter()
        .filter(|b| b.is_memory() && b.is_prefetchable() && b.index < 6)
        .max_by_key(|b| (b.size(), std::cmp::Reverse(b.index)))
        .map(|b| b.index)
}

struct Ctx<'a> {
    file: &'a ScenarioFile,
    m: &'a Machine,
    binder: Binder<'a>,
}

impl Ctx<'_> {
    fn function(&self, d: &Spanned<String>) -> Result<(FunctionId, Bdf, &Function), CliError> {
        let (id, bdf) = self.binder.device(d)?;
        let f = self
            .m
            .function(id)
            .ok_or_else(|| CliError::internal("a resolved function is missing"))?;
        Ok((id, bdf, f))
    }

    /// The window of BAR `bar` of `f`: the machine's, with what the file gives instead.
    fn aperture(
        &self,
        f: &Function,
        bar: u8,
        raw: Option<&Spanned<RawAperture>>,
        at: &Spanned<String>,
    ) -> Result<Option<ApertureSpec>, CliError> {
        let known = f.bars.iter().find(|b| b.index == bar);
        let a = raw.map(Spanned::get_ref);
        let cpu = a.and_then(|a| a.cpu.as_ref()).map(|c| *c.get_ref());
        let len = a.and_then(|a| a.len.as_ref()).map(|l| *l.get_ref());
        let (cpu, len, from_machine) = match (cpu, len, known) {
            (Some(c), Some(l), _) => (c, l, false),
            (c, l, Some(b)) => (
                c.unwrap_or(b.start),
                l.unwrap_or(b.size()),
                c.is_none() && l.is_none(),
            ),
            (_, _, None) if raw.is_none() => return Ok(None),
            (_, _, None) => {
                return Err(self.file.err(
                    raw.map_or(at.span(), Spanned::span),
                    format!(
                        "this machine does not know BAR{bar} of {}: give the aperture's `cpu` and `len`",
                        f.bdf
                    ),
                ));
            }
        };
        let bus = a.and_then(|a| a.bus.as_ref()).map(|b| *b.get_ref());
        let spec = ApertureSpec {
            bar,
            cpu,
            bus: bus.unwrap_or(cpu),
            len,
            from_machine,
            bus_assumed: bus.is_none(),
        };
        if window(&spec).is_none() {
            return Err(self.file.err(
                raw.map_or(at.span(), Spanned::span),
                format!(
                    "the window of BAR{bar} of {} ({cpu:#x}, bus {:#x}, {len:#x} bytes) is empty or leaves the 64-bit address space",
                    f.bdf, spec.bus
                ),
            ));
        }
        Ok(Some(spec))
    }
}

fn window(a: &ApertureSpec) -> Option<BusWindow> {
    if a.len == 0 {
        return None;
    }
    BusWindow::new(PhysAddr::new(a.cpu), BusAddr::new(a.bus), a.len)
}

/// Adds `window` to the apertures unless one for the same memory is there: the same is fine,
/// a different one is an error (`what` names the memory).
fn add_unique<T: PartialEq>(
    list: &mut Vec<(T, ApertureSpec)>,
    key: T,
    spec: ApertureSpec,
) -> Result<(), ApertureSpec> {
    match list.iter().find(|(k, _)| *k == key) {
        Some((_, existing))
            if existing.cpu != spec.cpu
                || existing.bus != spec.bus
                || existing.len != spec.len
                || existing.bar != spec.bar =>
        {
            Err(*existing)
        }
        Some(_) => Ok(()),
        None => {
            list.push((key, spec));
            Ok(())
        }
    }
}

fn placement_error(
    file: &ScenarioFile,
    names: &MachineNames<'_>,
    e: PolicyError,
    placements: &[PlacementSpec],
    raw: &[Spanned<RawPlacement>],
    size: &Spanned<u64>,
) -> CliError {
    let placement = match e {
        PolicyError::DuplicatePlacement(p)
        | PolicyError::TooSmall { placement: p, .. }
        | PolicyError::NothingOffered(p)
        | PolicyError::OfferingDoesNotFit { placement: p, .. }
        | PolicyError::NoAperture { placement: p, .. }
        | PolicyError::TooManyOfferings(p) => Some(p),
        PolicyError::EmptyBuffer | PolicyError::NoPlacement | PolicyError::OutOfMemory => None,
    };
    let position = placement.and_then(|p| {
        // A duplicate is reported at its second occurrence.
        let all: Vec<usize> = placements
            .iter()
            .enumerate()
            .filter(|(_, s)| s.placement == p)
            .map(|(i, _)| i)
            .collect();
        match e {
            PolicyError::DuplicatePlacement(_) => all.get(1).copied(),
            _ => all.first().copied(),
        }
    });
    let span = position
        .and_then(|i| raw.get(i))
        .map_or(size.span(), |r| r.get_ref().name.span());
    let name = position
        .and_then(|i| placements.get(i))
        .map_or_else(String::new, |p| format!("placement `{}`: ", p.name));
    file.err(span, format!("{name}{}", e.named(names)))
}

impl Simulation {
    /// Binds the simulation to a machine.
    pub fn bind(&self, m: &Machine) -> Result<Bound, CliError> {
        let file = &self.file;
        let raw = &self.raw;
        let mut cx = Ctx {
            file,
            m,
            binder: Binder::new(file, m),
        };
        // `read` checked that the buffer is there.
        let buffer = raw
            .buffer
            .as_ref()
            .ok_or_else(|| CliError::internal("a checked simulation has no buffer"))?
            .get_ref();
        let size = *buffer.size.get_ref();
        let (exporter, exporter_bdf, _) = cx.function(&buffer.exporter)?;
        let ranking = crate::scenario::policy(file, buffer.policy.as_ref())?;

        // Placements and the apertures they need.
        let mut placements = Vec::new();
        let mut vram_windows: Vec<(VramId, ApertureSpec)> = Vec::new();
        let mut bar_windows: Vec<((DeviceId, u8), ApertureSpec)> = Vec::new();
        let mut fabric_windows: Vec<(FabricId, VramId, AddrRange<Iova>)> = Vec::new();
        for rp in &raw.placement {
            let p = rp.get_ref();
            let memory = match p.memory.get_ref().as_str() {
                "vram" => "vram",
                "system" => "system",
                _ => "bar",
            };
            let mut spec = PlacementSpec {
                name: p.name.get_ref().clone(),
                label: p.label.clone(),
                memory,
                device: None,
                placement: Placement::system(None, PhysAddr::new(0)),
                aperture: None,
                fabrics: Vec::new(),
                offers_given: p.offers.is_some(),
            };
            match memory {
                "system" => {
                    let phys = p.phys.as_ref().map_or(0, |x| *x.get_ref());
                    spec.placement = Placement::system(
                        p.numa_node.as_ref().map(|n| *n.get_ref()),
                        PhysAddr::new(phys),
                    );
                }
                "vram" => {
                    let d = p.device.as_ref().ok_or_else(|| {
                        CliError::internal("a checked vram placement has no device")
                    })?;
                    let (id, bdf, f) = cx.function(d)?;
                    let vram = VramId {
                        owner: DeviceId::from(id),
                        instance: p.instance.as_ref().map_or(0, |x| *x.get_ref()),
                    };
                    spec.device = Some(bdf);
                    spec.placement = Placement::vram(
                        vram,
                        VramOffset::new(p.offset.as_ref().map_or(0, |x| *x.get_ref())),
                    );
                    let bar = p
                        .aperture
                        .as_ref()
                        .and_then(|a| a.get_ref().bar.as_ref())
                        .map(|b| *b.get_ref())
                        .or_else(|| memory_bar(f));
                    spec.aperture = match bar {
                        Some(bar) => cx.aperture(f, bar, p.aperture.as_ref(), &p.memory)?,
                        None if p.aperture.is_some() => {
                            return Err(file.err(
                                p.aperture.as_ref().map_or(p.memory.span(), Spanned::span),
                                format!(
                                    "this machine shows no prefetchable memory BAR of {bdf}: give the aperture's `bar`, `cpu` and `len`"
                                ),
                            ));
                        }
                        None => None,
                    };
                    if let Some(a) = spec.aperture {
                        add_unique(&mut vram_windows, vram, a).map_err(|_| {
                            file.err(
                                rp.get_ref().name.span(),
                                format!("another placement in the same VRAM of {bdf} gives it another aperture"),
                            )
                        })?;
                    }
                    for w in p.fabrics.iter().flat_map(|f| f.get_ref()) {
                        let w = w.get_ref();
                        let fabric = cx.binder.fabric(&w.fabric);
                        let iovas = AddrRange::new(Iova::new(*w.iova.get_ref()), *w.len.get_ref())
                            .filter(|_| *w.len.get_ref() > 0)
                            .ok_or_else(|| {
                                file.err(
                                    w.len.span(),
                                    "the fabric window is empty or leaves the 64-bit address space",
                                )
                            })?;
                        if fabric_windows
                            .iter()
                            .any(|(f, v, r)| *f == fabric && *v == vram && *r != iovas)
                        {
                            return Err(file.err(
                                w.fabric.span(),
                                "another placement in the same VRAM gives this fabric another window",
                            ));
                        }
                        if !fabric_windows
                            .iter()
                            .any(|(f, v, _)| *f == fabric && *v == vram)
                        {
                            fabric_windows.push((fabric, vram, iovas));
                        }
                        spec.fabrics.push(FabricWindowSpec {
                            fabric,
                            name: w.fabric.get_ref().clone(),
                            iova: *w.iova.get_ref(),
                            len: *w.len.get_ref(),
                        });
                    }
                }
                _ => {
                    let d = p.device.as_ref().ok_or_else(|| {
                        CliError::internal("a checked bar placement has no device")
                    })?;
                    let bar = p
                        .bar
                        .as_ref()
                        .ok_or_else(|| CliError::internal("a checked bar placement has no bar"))?;
                    let (id, bdf, f) = cx.function(d)?;
                    spec.device = Some(bdf);
                    let slice = BarSlice {
                        device: DeviceId::from(id),
                        bar: *bar.get_ref(),
                        offset: p.offset.as_ref().map_or(0, |x| *x.get_ref()),
                        len: p.len.as_ref().map_or(size, |x| *x.get_ref()),
                    };
                    spec.placement = Placement::bar(slice);
                    spec.aperture = cx.aperture(f, slice.bar, p.aperture.as_ref(), &p.memory)?;
                    let Some(a) = spec.aperture else {
                        return Err(file.err(
                            bar.span(),
                            format!(
                                "this machine does not know BAR{} of {bdf}, so the slice has no address: give aperture = {{ cpu = ..., len = ... }}",
                                slice.bar
                            ),
                        ));
                    };
                    add_unique(&mut bar_windows, (slice.device, slice.bar), a).map_err(|_| {
                        file.err(
                            rp.get_ref().name.span(),
                            format!(
                                "another placement in BAR{} of {bdf} gives it another aperture",
                                slice.bar
                            ),
                        )
                    })?;
                }
            }
            placements.push(spec);
        }

        let mut apertures = Apertures::new();
        for (vram, a) in &vram_windows {
            if let Some(window) = window(a) {
                apertures = apertures.with_vram(VramAperture {
                    vram: *vram,
                    bar: a.bar,
                    window,
                });
            }
        }
        for ((device, bar), a) in &bar_windows {
            if let Some(window) = window(a) {
                apertures = apertures.with_bar(BarAperture {
                    device: *device,
                    bar: *bar,
                    window,
                });
            }
        }
        for (fabric, vram, iovas) in &fabric_windows {
            apertures = apertures.with_fabric(FabricAperture {
                fabric: *fabric,
                vram: *vram,
                iovas: *iovas,
            });
        }

        let mut policy = ExporterPolicy::new(DeviceId::from(exporter), apertures)
            .migratable(buffer.migratable.unwrap_or(true))
            .revocable(buffer.revocable.unwrap_or(false))
            .negotiation(ranking);
        for (spec, rp) in placements.iter().zip(&raw.placement) {
            policy = match &rp.get_ref().offers {
                // The core's defaults leave out what no window addresses. A window the buffer
                // lies outside of is the file's mistake, not a choice: offering through every
                // window makes `validate` name it (simulation-format.md).
                None if spec.memory == "vram" => {
                    let mut offerings = vec![Offering::Vram];
                    offerings.extend(spec.fabrics.iter().map(|w| Offering::PrivateIova(w.fabric)));
                    offerings.extend(spec.aperture.map(|_| Offering::DmaAddr));
                    policy.place_with(spec.placement, offerings)
                }
                None => policy.place(spec.placement, size),
                Some(list) => {
                    let mut offerings = Vec::new();
                    for o in list.get_ref() {
                        match o.get_ref().as_str() {
                            "vram" => offerings.push(Offering::Vram),
                            "dma-addr" => offerings.push(Offering::DmaAddr),
                            "pci-bar" => offerings.push(Offering::PciBar),
                            "phys" => offerings.push(Offering::Phys),
                            _ => {
                                if spec.fabrics.is_empty() {
                                    return Err(file.err(
                                        o.span(),
                                        "`private-iova` needs a fabric window: give `fabrics = [{ fabric = ..., iova = ..., len = ... }]`",
                                    ));
                                }
                                offerings.extend(
                                    spec.fabrics.iter().map(|w| Offering::PrivateIova(w.fabric)),
                                );
                            }
                        }
                    }
                    policy.place_with(spec.placement, offerings)
                }
            };
        }
        policy.validate(size).map_err(|e| {
            let names = MachineNames::new(m).with_fabrics(&cx.binder.fabrics);
            placement_error(file, &names, e, &placements, &raw.placement, &buffer.size)
        })?;
        let start = match &buffer.start {
            Some(s) => named(file, s, "placement", &names(&placements))?,
            None => 0,
        };

        // Importers.
        let mut importers = Vec::new();
        for ri in &raw.importer {
            let i = ri.get_ref();
            let mut offers = Vec::new();
            let mut specs = Vec::new();
            for (k, o) in i.offer.iter().enumerate() {
                let (offer, spec) = cx.binder.importer(k, o.get_ref())?;
                offers.push(offer);
                specs.push(spec);
            }
            let mode = match i.mode.as_ref().map(|m| m.get_ref().as_str()) {
                Some("static") => ImporterMode::Static {
                    revocable: i.revocable.as_ref().is_some_and(|r| *r.get_ref()),
                },
                _ => ImporterMode::Dynamic,
            };
            let importer = Importer::new(&offers, mode).map_err(|e| {
                file.err(
                    i.name.span(),
                    format!("importer `{}`: {e}", i.name.get_ref()),
                )
            })?;
            importers.push(ImporterSpec {
                name: i.name.get_ref().clone(),
                label: i.label.clone(),
                importer,
                offers: specs,
            });
        }

        // Events.
        let importer_names = Declared::new(importers.iter().map(|i| i.name.as_str()));
        let placement_names = names(&placements);
        let mut events = Vec::new();
        for re in &raw.event {
            let e = re.get_ref();
            let action = cx.action(e, &importer_names, &placement_names)?;
            let expect = match &e.expect {
                Some(x) => expectations(file, x.get_ref(), &importer_names)?,
                None => Vec::new(),
            };
            events.push(Event {
                line: location::line_column(&file.text, re.span().start).0,
                note: e.note.clone(),
                action,
                expect,
            });
        }

        // The bus address of a BAR equals its CPU address on x86; elsewhere it may not.
        if let CpuVendor::Other(vendor) = &m.cpu().vendor
            && placements
                .iter()
                .any(|p| p.aperture.is_some_and(|a| a.bus_assumed))
        {
            cx.binder.warnings.push(format!(
                "{}: this machine's CPU ({vendor}) is not x86, where a BAR's bus address equals its CPU address; the bus addresses shown assume it does (give aperture.bus otherwise)",
                file.path.display()
            ));
        }

        Ok(Bound {
            size,
            exporter_bdf,
            policy,
            start,
            placements,
            importers,
            events,
            fabrics: cx.binder.fabrics,
            warnings: cx.binder.warnings,
        })
    }
}

fn names(placements: &[PlacementSpec]) -> Declared<'_> {
    Declared::new(placements.iter().map(|p| p.name.as_str()))
}

impl Ctx<'_> {
    fn action(
        &mut self,
        e: &RawEvent,
        importers: &Declared<'_>,
        placements: &Declared<'_>,
    ) -> Result<Action, CliError> {
        let file = self.file;
        let who = |x: &Option<Spanned<String>>| -> Result<Option<usize>, CliError> {
            x.as_ref()
                .map(|n| named(file, n, "importer", importers))
                .transpose()
        };
        if let Some(i) = who(&e.attach)? {
            return Ok(Action::Attach(i));
        }
        if let Some(i) = who(&e.detach)? {
            return Ok(Action::Detach(i));
        }
        if let Some(i) = who(&e.map)? {
            return Ok(Action::Map(i));
        }
        if let Some(i) = who(&e.unmap)? {
            return Ok(Action::Unmap(i));
        }
        if let Some(i) = who(&e.pin)? {
            return Ok(Action::Pin(i));
        }
        if let Some(i) = who(&e.unpin)? {
            return Ok(Action::Unpin(i));
        }
        if let Some(i) = who(&e.access)? {
            return Ok(Action::Access(i));
        }
        if let Some(p) = &e.move_to {
            return Ok(Action::Move(named(file, p, "placement", placements)?));
        }
        if e.revoke.is_some() {
            return Ok(Action::Revoke);
        }
        if let Some(d) = &e.device_reset {
            let (device, bdf, _) = self.function(d)?;
            return Ok(Action::DeviceReset { device, bdf });
        }
        let (name, up) = match (&e.link_down, &e.link_up) {
            (Some(n), _) => (n, false),
            (None, Some(n)) => (n, true),
            (None, None) => {
                return Err(CliError::internal("a checked event has no action"));
            }
        };
        let fabric = machine_fabric(self.m, name.get_ref()).map_err(|u| {
            file.err(
                name.span(),
                format!(
                    "no private fabric `{}` on this machine ({})",
                    name.get_ref(),
                    u.known
                ),
            )
        })?;
        let mut ends = Vec::new();
        let mut ids = Vec::new();
        for d in e.between.iter().flat_map(|b| b.get_ref()) {
            let (id, bdf, _) = self.function(d)?;
            ids.push(id);
            ends.push(bdf);
        }
        let selected = links::select(self.m, fabric, ids.first().copied(), ids.get(1).copied());
        if selected.is_empty() {
            let fabric_name = self.binder.fabrics.name(self.m, fabric).unwrap_or_default();
            let what = match ends.as_slice() {
                [] => format!("{fabric_name} has no links"),
                [a] => format!("no link of {fabric_name} touches {a}"),
                [a, b, ..] => format!("no link of {fabric_name} joins {a} and {b}"),
            };
            return Err(file.err(e.between.as_ref().map_or(name.span(), Spanned::span), what));
        }
        Ok(Action::Links {
            up,
            selection: LinkSelection {
                fabric,
                ends,
                links: selected,
            },
        })
    }
}

fn expectations(
    file: &ScenarioFile,
    x: &RawExpect,
    importers: &Declared<'_>,
) -> Result<Vec<Expectation>, CliError> {
    let mut out = Vec::new();
    let mut push = |at: usize, what: What, expected: String| {
        out.push((
            at,
            Expectation {
                at: file.at(at),
                what,
                expected,
            },
        ));
    };
    let text = |s: &Spanned<String>| s.get_ref().clone();
    if let Some(v) = &x.outcome {
        push(v.span().start, What::Outcome, text(v));
    }
    if let Some(v) = &x.reason {
        push(v.span().start, What::Reason, text(v));
    }
    if let Some(v) = &x.placement {
        push(v.span().start, What::Placement, text(v));
    }
    if let Some(v) = &x.generation {
        push(v.span().start, What::Generation, v.get_ref().to_string());
    }
    if let Some(v) = &x.revoked {
        push(v.span().start, What::Revoked, v.get_ref().to_string());
    }
    if let Some(v) = &x.pinned {
        push(v.span().start, What::Pinned, v.get_ref().to_string());
    }
    for i in &x.importer {
        let i = i.get_ref();
        let k = named(file, &i.name, "importer", importers)?;
        if let Some(v) = &i.attached {
            push(v.span().start, What::Attached(k), v.get_ref().to_string());
        }
        if let Some(v) = &i.agreement {
            push(v.span().start, What::Agreement(k), text(v));
        }
        if let Some(v) = &i.interconnect {
            push(v.span().start, What::Interconnect(k), text(v));
        }
        if let Some(v) = &i.route {
            push(v.span().start, What::Route(k), text(v));
        }
        if let Some(v) = &i.mapping {
            push(v.span().start, What::Mapping(k), text(v));
        }
        if let Some(v) = &i.generation {
            push(
                v.span().start,
                What::MappingGeneration(k),
                v.get_ref().to_string(),
            );
        }
        if let Some(v) = &i.pins {
            push(v.span().start, What::Pins(k), v.get_ref().to_string());
        }
    }
    // In the order the file states them.
    out.sort_by_key(|(at, _)| *at);
    Ok(out.into_iter().map(|(_, x)| x).collect())
}
