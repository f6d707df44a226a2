//! The hwloc XML loader (`lstopo --of xml`, hwloc 2.x and 3.x; hwloc 1.x files are read the same
//! way, their PCI objects being spelled alike).
//!
//! # What is read, and how it maps onto the model
//! - **Host bridges**: `<object type="Bridge" bridge_type="0-1" bridge_pci="dddd:[bb-ss]">`: a
//!   [`HostBridge`] of domain `dddd` and root bus `bb`.
//! - **PCI bridges** (`bridge_type="1-1"`) and **devices** (`type="PCIDev"`): a [`Function`] at
//!   `pci_busid`, under the enclosing bridge (or host bridge). `pci_type="cccc [vvvv:dddd]
//!   [ssss:ssss] rr pp"` gives the class (`cccc` base class and subclass, `pp` the programming
//!   interface; older files without `pp` get 0), vendor, device, subsystem and revision. A
//!   `[0000:0000]` vendor and device (hwloc could not read the function) make the identifiers
//!   and revision unknown, and the class too when it is zero. A bridge's `bridge_pci` gives its secondary and subordinate buses.
//!   `subtype="NVSwitch"` marks a [`Function::fabric_switch`].
//! - **Link speed**: `pci_link_speed` is hwloc's bandwidth in GB/s after line encoding (lane
//!   rate × width × encoding ÷ 8, the same definition [`crate::quality`] uses). It cannot be
//!   turned back into a lane rate and a width (Gen3 x16, Gen4 x8 and Gen5 x4 all give
//!   15.753846), so it is kept as a known bandwidth, [`Function::link_bandwidth`], in MB/s
//!   truncated as [`LinkStatus::bandwidth_mb_s`](crate::LinkStatus::bandwidth_mb_s) truncates
//!   (15.753846 → 15 753); [`Function::current_link`] and `max_link` stay unknown. `0.000000`
//!   (hwloc did not know) is unknown.
//! - **Filtered exports**: `lstopo` without `--whole-io` keeps only devices of a few classes
//!   and the bridges above them. A file in which no function shows more (no device of
//!   another class, no bridge with nothing below) was exported so: it gets a [`LoadWarning`], and its host bridges are marked
//!   [`root_bus_complete`](HostBridge::root_bus_complete)` = false`, so that the device Linux's
//!   whitelist check reads is unknown (unless one is listed at 00.0), not taken as absent.
//! - Two PCI objects with the same address cannot both be functions of one machine: the first
//!   is kept, and the later one is skipped with its subtree and reported as a
//!   [`LoadWarning`] (hwloc's own test file `32em64t-2n8c2t-pci-wholeio.xml` has one).
//! - **OS devices** (`type="OSDev"`, `name="mlx5_0"`, `nvme0n1`, `cuda0`, `nvml0`, `eth0`, ...):
//!   appended to [`Function::os_devices`] of the PCI object they are under, in document order.
//! - **Locality**: a host bridge hangs under the CPU-side object (Package, Group, NUMA node in
//!   hwloc 1.x, Machine) it is close to. The host bridge's NUMA node is that object's node when
//!   its `nodeset` names exactly one (otherwise unknown), and every function below gets the
//!   object's `cpuset` as its [`Function::local_cpulist`]. PCI objects found outside any host
//!   bridge are put on a host bridge of their own bus, as the sysfs loader does.
//! - **CPU**: the first object with a `CPUVendor` or `CPUModel` info (a Package): `CPUVendor`,
//!   `CPUFamilyNumber`, `CPUModelNumber`, `CPUModel`, and the `Machine` object's
//!   `Architecture`; what is missing is unknown (the vendor is not guessed from the model name).
//! - **Guest**: the `Machine` object's `DMISysVendor` and `DMIProductName`, and virtual PCI
//!   functions, say whether the export is of a virtual machine ([`crate::guest`]).
//! - **Private links**: the `NVLinkBandwidth` (NVIDIA) and `XGMIBandwidth` (AMD) matrices, in
//!   `<distances2>` or `<distances2hetero>`, values in MB/s. Each pair with a non-zero value
//!   becomes a [`PrivateLink`](crate::PrivateLink) with that bandwidth and a count of 1: hwloc
//!   gives the sum over the parallel links, not their number. The diagonal (a device's own
//!   bandwidth) is skipped; when the two directions differ the smaller is kept. Matrix members
//!   are OS devices (standing for their PCI function), PCI devices (NVSwitches), Packages and
//!   NUMA nodes (CPU ends). Links are grouped into fabrics by connected component (`nvlink0`,
//!   `xgmi0`, ...).
//!
//! # What hwloc XML does not say
//! Configuration space is not exported: ACS is [`Acs::Unknown`](crate::Acs::Unknown), the PCIe
//! port type and header type are unknown, and so are IOMMU groups, drivers, BARs and p2pmem.
//! SR-IOV virtual functions appear as ordinary PCI devices (hwloc does not record their physical
//! function), so they are loaded as functions without [`Function::physfn`].

use std::collections::{HashMap, HashSet};
use std::path::Path;

use dmabuf_negotiate::Bandwidth;

use super::cpuset::{hwloc_bitmap_single, hwloc_bitmap_to_list};
use super::links::{RawLink, add_by_component};
use super::xml::{Attr, Doc, Element, parse};
use super::{LoadError, LoadWarning, MAX_HOST_BRIDGES, read_text};
use crate::limits::MAX_BRIDGE_DEPTH;
use crate::machine::{
    CpuArch, CpuInfo, CpuVendor, Function, FunctionId, HostBridge, HostBridgeId, LinkEnd, LinkKind,
    Machine, MachineBuilder, Upstream,
};
use crate::pci::{Bdf, ClassCode};

/// Loads an hwloc XML file.
pub fn load_hwloc_xml(path: impl AsRef<Path>) -> Result<Machine, LoadError> {
    let path = path.as_ref();
    let text = read_text(path)?;
    parse_hwloc_xml(&path.display().to_string(), &text)
}

/// Reads hwloc XML from a string; `name` names it in errors.
pub fn parse_hwloc_xml(name: &str, text: &str) -> Result<Machine, LoadError> {
    parse_hwloc_xml_with_warnings(name, text).map(|(m, _)| m)
}

/// Reads hwloc XML from a string, with what was left out of the machine (see
/// [`LoadWarning`]).
pub fn parse_hwloc_xml_with_warnings(
    name: &str,
    text: &str,
) -> Result<(Machine, Vec<LoadWarning>), LoadError> {
    let doc = Doc { path: name, text };
    let root = parse(&doc)?;
    if root.name != "topology" {
        return Err(doc.error(
            root.pos,
            "a <topology> root element (hwloc XML, lstopo --of xml)",
            format!("<{}>", root.name),
        ));
    }
    let mut l = Loader {
        doc,
        b: MachineBuilder::new(),
        host_bridges: HashMap::new(),
        bdfs: HashSet::new(),
        gp: HashMap::new(),
        cpu: None,
        arch: None,
        dmi: (None, None),
        warnings: Vec::new(),
        cpulists: HashMap::new(),
    };
    l.walk(&root)?;
    if l.host_bridges.len() > MAX_HOST_BRIDGES {
        return Err(doc.error(
            root.pos,
            format!("at most {MAX_HOST_BRIDGES} host bridges"),
            l.host_bridges.len().to_string(),
        ));
    }
    let mut links: Vec<(LinkKind, &str, Vec<RawLink>)> = vec![
        (LinkKind::NvLink, "nvlink", Vec::new()),
        (LinkKind::Xgmi, "xgmi", Vec::new()),
    ];
    for d in root
        .children
        .iter()
        .filter(|c| c.name == "distances2" || c.name == "distances2hetero")
    {
        let slot = match d.value("name") {
            Some("NVLinkBandwidth") => 0,
            Some("XGMIBandwidth") => 1,
            _ => continue,
        };
        let found = l.matrix(d)?;
        links[slot].2.extend(found);
    }
    for (kind, prefix, raw) in &links {
        add_by_component(&mut l.b, kind, prefix, raw);
    }
    if !l.b.functions().is_empty() && !shows_whole_io(l.b.functions()) {
        l.warnings.push(doc.warning(
            root.pos,
            "every PCI object is of a class lstopo keeps by default: exported without \
             --whole-io, so functions may be missing (a host bridge's own 00.0 device, which \
             Linux's whitelist check reads, empty root ports, USB, SMBus, ...) and the verdicts \
             that depend on them are unknown; export with `lstopo --whole-io --of xml`",
        ));
        let ids: Vec<HostBridgeId> = l.host_bridges.values().copied().collect();
        for id in ids {
            if let Some(hb) = l.b.host_bridge_mut(id) {
                hb.root_bus_complete = false;
            }
        }
    }
    let guest: Vec<String> = crate::guest::from_dmi(l.dmi.0.as_deref(), l.dmi.1.as_deref())
        .into_iter()
        .chain(crate::guest::from_functions(l.b.functions()))
        .collect();
    l.b.guest(guest);
    let mut cpu = l.cpu.take().unwrap_or_default();
    cpu.arch = l.arch.take();
    l.b.cpu(cpu);
    let m = l.b.build().map_err(|e| LoadError::Build {
        path: name.to_owned(),
        source: e,
    })?;
    let m = super::require_pci(
        m,
        name,
        "the file has no PCI objects (exported without I/O, or by an hwloc without PCI \
         support): export the machine with `lstopo --whole-io --of xml FILE`",
    )?;
    Ok((m, l.warnings))
}

/// What a `gp_index` names, for the distance matrices.
#[derive(Clone, Copy, Debug)]
enum Member {
    Function(FunctionId),
    Cpu(Option<u32>),
    Other,
}

/// Where the objects being walked sit.
#[derive(Clone, Copy, Debug, Default)]
struct Ctx<'e> {
    /// The enclosing host bridge or PCI object.
    up: Option<Upstream>,
    /// The nearest enclosing PCI function (for OS devices).
    function: Option<FunctionId>,
    /// How many PCI objects enclose this one below its host bridge (all bridges).
    pci_depth: usize,
    /// `cpuset` and `nodeset` of the nearest CPU-side object, as written (decoded only where
    /// used: most objects are caches and cores).
    cpuset: Option<&'e str>,
    nodeset: Option<&'e str>,
}

struct Loader<'a> {
    doc: Doc<'a>,
    b: MachineBuilder,
    host_bridges: HashMap<(u32, u8), HostBridgeId>,
    bdfs: HashSet<Bdf>,
    gp: HashMap<u64, Member>,
    cpu: Option<CpuInfo>,
    /// The `Architecture` info of the `Machine` object.
    arch: Option<CpuArch>,
    /// Its `DMISysVendor` and `DMIProductName` infos.
    dmi: (Option<String>, Option<String>),
    warnings: Vec<LoadWarning>,
    /// Decoded cpusets.
    cpulists: HashMap<&'a str, Option<String>>,
}

impl<'a> Loader<'a> {
    fn walk(&mut self, root: &'a Element<'a>) -> Result<(), LoadError> {
        let mut stack: Vec<(&'a Element<'a>, Ctx<'a>)> = root
            .children
            .iter()
            .rev()
            .filter(|c| c.name == "object")
            .map(|c| (c, Ctx::default()))
            .collect();
        while let Some((e, ctx)) = stack.pop() {
            let Some(inner) = self.object(e, &ctx)? else {
                continue;
            };
            for c in e.children.iter().rev().filter(|c| c.name == "object") {
                stack.push((c, inner));
            }
        }
        Ok(())
    }

    /// Handles one object; returns the context of its children, or `None` to skip them.
    fn object(&mut self, e: &'a Element<'a>, ctx: &Ctx<'a>) -> Result<Option<Ctx<'a>>, LoadError> {
        let doc = self.doc;
        let ty = doc.required(e, "type", "the object type")?;
        let gp = match e.attr("gp_index") {
            Some(a) => Some(
                a.value
                    .parse::<u64>()
                    .map_err(|_| doc.bad_value(a, "a decimal index"))?,
            ),
            None => None,
        };
        let mut inner = *ctx;
        let member = match ty.value.as_ref() {
            "Bridge" => {
                let bt = doc.required(e, "bridge_type", "0-1 or 1-1")?;
                match bt.value.as_ref() {
                    "0-1" => {
                        let range = doc.required(e, "bridge_pci", "dddd:[bb-bb]")?;
                        let (domain, root, _) = bus_range(&doc, range)?;
                        if self.host_bridges.contains_key(&(domain, root)) {
                            return Err(doc.error(
                                range.pos,
                                "one host bridge per root bus",
                                format!("a second host bridge for {domain:04x}:{root:02x}"),
                            ));
                        }
                        let mut hb = HostBridge::new(domain, root);
                        hb.numa_node = ctx.nodeset.and_then(hwloc_bitmap_single);
                        let id = self.b.host_bridge(hb);
                        self.host_bridges.insert((domain, root), id);
                        inner.up = Some(Upstream::HostBridge(id));
                        inner.function = None;
                        inner.pci_depth = 0;
                        Member::Other
                    }
                    "1-1" => {
                        let Some(id) = self.function(e, ctx, true)? else {
                            return Ok(None);
                        };
                        inner.up = Some(Upstream::Bridge(id));
                        inner.function = Some(id);
                        inner.pci_depth = ctx.pci_depth + 1;
                        Member::Function(id)
                    }
                    _ => {
                        return Err(doc.bad_value(bt, "0-1 (host bridge) or 1-1 (PCI bridge)"));
                    }
                }
            }
            "PCIDev" => {
                let Some(id) = self.function(e, ctx, false)? else {
                    return Ok(None);
                };
                inner.up = Some(Upstream::Bridge(id));
                inner.function = Some(id);
                inner.pci_depth = ctx.pci_depth + 1;
                Member::Function(id)
            }
            "OSDev" => {
                let name = doc.required(e, "name", "the OS device name")?;
                match ctx.function {
                    Some(f) => {
                        if let Some(func) = self.b.function_mut(f) {
                            func.os_devices.push(name.value.clone().into_owned());
                        }
                        Member::Function(f)
                    }
                    None => Member::Other,
                }
            }
            other => {
                if let Some(c) = e.value("cpuset") {
                    inner.cpuset = Some(c);
                }
                if let Some(n) = e.value("nodeset") {
                    inner.nodeset = Some(n);
                }
                if self.cpu.is_none() {
                    self.cpu = cpu_info(&doc, e)?;
                }
                if other == "Machine" && self.arch.is_none() {
                    let info = |n: &str| {
                        e.children_named("info")
                            .find(|i| i.value("name") == Some(n))
                            .and_then(|i| i.value("value"))
                    };
                    self.arch = info("Architecture").map(CpuArch::from_name);
                    self.dmi = (
                        info("DMISysVendor").map(str::to_owned),
                        info("DMIProductName").map(str::to_owned),
                    );
                }
                match other {
                    "Package" => Member::Cpu(inner.nodeset.and_then(hwloc_bitmap_single)),
                    "NUMANode" => Member::Cpu(match e.attr("os_index") {
                        Some(a) => Some(
                            a.value
                                .parse::<u32>()
                                .map_err(|_| doc.bad_value(a, "a decimal NUMA node number"))?,
                        ),
                        None => inner.nodeset.and_then(hwloc_bitmap_single),
                    }),
                    "Machine" => Member::Cpu(None),
                    _ => Member::Other,
                }
            }
        };
        if let Some(gp) = gp {
            self.gp.insert(gp, member);
        }
        Ok(Some(inner))
    }

    /// Adds the function a `PCIDev` or PCI `Bridge` object describes; `None` (and a warning)
    /// when an earlier object already has its address.
    fn function(
        &mut self,
        e: &Element<'a>,
        ctx: &Ctx<'a>,
        bridge: bool,
    ) -> Result<Option<FunctionId>, LoadError> {
        let doc = self.doc;
        if ctx.pci_depth > MAX_BRIDGE_DEPTH {
            return Err(doc.error(
                e.pos,
                format!("a PCI object at most {MAX_BRIDGE_DEPTH} bridges below its host bridge"),
                "a deeper one",
            ));
        }
        let busid = doc.required(e, "pci_busid", "a PCI address DDDD:BB:DD.F")?;
        let bdf: Bdf = busid
            .value
            .parse()
            .map_err(|_| doc.bad_value(busid, "a PCI address DDDD:BB:DD.F"))?;
        if !self.bdfs.insert(bdf) {
            self.warnings.push(doc.warning(
                busid.pos,
                format!(
                    "a second PCI object at {bdf}: skipped with everything below it (a machine \
                     has one function per address; the first one is kept)"
                ),
            ));
            return Ok(None);
        }
        let up = match ctx.up {
            Some(up) => up,
            None => {
                let key = (bdf.domain, bdf.bus);
                let id = match self.host_bridges.get(&key) {
                    Some(&id) => id,
                    None => {
                        let mut hb = HostBridge::new(bdf.domain, bdf.bus);
                        hb.numa_node = ctx.nodeset.and_then(hwloc_bitmap_single);
                        let id = self.b.host_bridge(hb);
                        self.host_bridges.insert(key, id);
                        id
                    }
                };
                Upstream::HostBridge(id)
            }
        };
        let mut f = Function::new(bdf, up);
        if let Some(t) = e.attr("pci_type") {
            let p = pci_type(&t.value).ok_or_else(|| {
                doc.bad_value(
                    t,
                    "\"cccc [vvvv:dddd] [ssss:ssss] rr\" with an optional prog-if",
                )
            })?;
            let read = p.vendor != 0 || p.device != 0;
            if read || p.class_id != 0 {
                f.class = Some(ClassCode(
                    (u32::from(p.class_id) << 8) | u32::from(p.prog_if.unwrap_or(0)),
                ));
            }
            if read {
                f.vendor = Some(p.vendor);
                f.device = Some(p.device);
                f.subsystem_vendor = Some(p.subsystem_vendor);
                f.subsystem_device = Some(p.subsystem_device);
                f.revision = Some(p.revision);
            }
        }
        if let Some(s) = e.attr("pci_link_speed") {
            f.link_bandwidth = link_speed_mb_s(&s.value)
                .ok_or_else(|| doc.bad_value(s, "a bandwidth in GB/s such as 15.753846"))?
                .map(Bandwidth);
        }
        if bridge {
            if let Some(r) = e.attr("bridge_pci") {
                let (domain, sec, sub) = bus_range(&doc, r)?;
                if domain != bdf.domain {
                    return Err(doc.bad_value(
                        r,
                        format!("buses in the bridge's domain {:04x}", bdf.domain),
                    ));
                }
                f.bus_range = Some((sec, sub));
            }
        }
        f.fabric_switch = e.value("subtype") == Some("NVSwitch");
        f.local_cpulist = match ctx.cpuset {
            Some(c) => self
                .cpulists
                .entry(c)
                .or_insert_with(|| hwloc_bitmap_to_list(c))
                .clone(),
            None => None,
        };
        Ok(Some(self.b.function(f)))
    }

    /// The links of one distance matrix.
    fn matrix(&self, d: &Element<'_>) -> Result<Vec<RawLink>, LoadError> {
        let doc = self.doc;
        let nb = doc.required(d, "nbobjs", "the number of objects")?;
        let n: usize = nb
            .value
            .parse()
            .ok()
            .filter(|&n: &usize| n <= 4096)
            .ok_or_else(|| doc.bad_value(nb, "a number of objects up to 4096"))?;
        let hetero = d.name == "distances2hetero";
        let mut members = Vec::with_capacity(n);
        for ix in d.children_named("indexes") {
            for tok in ix.text.split_whitespace() {
                members.push(self.member(d, ix, tok, hetero)?);
            }
        }
        if members.len() != n {
            return Err(doc.error(
                d.pos,
                format!("{n} indexes (nbobjs)"),
                format!("{}", members.len()),
            ));
        }
        let mut values: Vec<u64> = Vec::new();
        for v in d.children_named("u64values") {
            for tok in v.text.split_whitespace() {
                values.push(tok.parse().map_err(|_| {
                    doc.error(
                        v.pos,
                        "unsigned decimal values in <u64values>",
                        super::quote(tok.as_bytes()),
                    )
                })?);
                if values.len() > n * n {
                    return Err(doc.error(
                        v.pos,
                        format!("{} values (nbobjs squared)", n * n),
                        "more",
                    ));
                }
            }
        }
        if values.len() != n * n {
            return Err(doc.error(
                d.pos,
                format!("{} values (nbobjs squared)", n * n),
                format!("{}", values.len()),
            ));
        }
        let end = |m: Member| match m {
            Member::Function(f) => Some(LinkEnd::Function(f)),
            Member::Cpu(numa) => Some(LinkEnd::Cpu { numa_node: numa }),
            Member::Other => None,
        };
        let mut out = Vec::new();
        for i in 0..n {
            for j in i + 1..n {
                let (x, y) = (values[i * n + j], values[j * n + i]);
                let bw = match (x, y) {
                    (0, 0) => continue,
                    (0, v) | (v, 0) => v,
                    (x, y) => x.min(y),
                };
                let (Some(a), Some(b)) = (end(members[i]), end(members[j])) else {
                    continue;
                };
                if a == b {
                    continue;
                }
                out.push(RawLink {
                    a,
                    b,
                    bandwidth: Some(Bandwidth(u32::try_from(bw).unwrap_or(u32::MAX))),
                    nccl_bandwidth: None,
                    count: 1,
                });
            }
        }
        Ok(out)
    }

    /// One matrix member: `Type:gp_index` (heterogeneous), or an index of the matrix's `type`.
    fn member(
        &self,
        d: &Element<'_>,
        ix: &Element<'_>,
        tok: &str,
        hetero: bool,
    ) -> Result<Member, LoadError> {
        let doc = self.doc;
        let bad = |what: &str| doc.error(ix.pos, what.to_owned(), super::quote(tok.as_bytes()));
        let (ty, num) = if hetero {
            tok.split_once(':')
                .ok_or_else(|| bad("an index written Type:gp_index"))?
        } else {
            (d.value("type").unwrap_or(""), tok)
        };
        let num: u64 = num.parse().map_err(|_| bad("a decimal object index"))?;
        let by_os = !hetero && d.value("indexing") == Some("os");
        if by_os {
            return Ok(match ty {
                "NUMANode" => Member::Cpu(u32::try_from(num).ok()),
                _ => Member::Other,
            });
        }
        self.gp
            .get(&num)
            .copied()
            .ok_or_else(|| bad("the gp_index of an object in the topology"))
    }
}

/// Whether the functions show that the export kept every PCI object (`lstopo --whole-io`): by
/// default hwloc keeps only devices of the "important" classes (storage, network, display,
/// processors, accelerators, Fibre Channel, InfiniBand, CXL memory, unclassified) and bridges
/// with something kept below them (`hwloc_filter_check_pcidev_subtype_important()`), so a
/// device of another class, a bridge-class device, or a bridge with nothing below shows the
/// whole I/O tree was exported. NVSwitches do not tell (hwloc marks and may keep them).
fn shows_whole_io(functions: &[Function]) -> bool {
    let mut parents = HashSet::new();
    for f in functions {
        if let Upstream::Bridge(b) = f.upstream {
            parents.insert(b.0);
        }
    }
    functions.iter().enumerate().any(|(i, f)| {
        let Some(c) = f.class.filter(|_| !f.fabric_switch) else {
            return false;
        };
        if f.is_bridge() {
            return !parents.contains(&(i as u32));
        }
        let important = matches!(c.base(), 0x00 | 0x01 | 0x02 | 0x03 | 0x0b | 0x12)
            || matches!(c.class_id(), 0x0c04 | 0x0c06 | 0x0502);
        !important
    })
}

/// CPU information from an object's `<info>` children, if it has `CPUVendor` or `CPUModel`.
fn cpu_info(doc: &Doc<'_>, e: &Element<'_>) -> Result<Option<CpuInfo>, LoadError> {
    let info = |n: &str| {
        e.children_named("info")
            .find(|i| i.value("name") == Some(n))
            .and_then(|i| i.attr("value"))
    };
    if info("CPUVendor").is_none() && info("CPUModel").is_none() {
        return Ok(None);
    }
    let num = |n: &str| -> Result<Option<u32>, LoadError> {
        match info(n) {
            Some(a) => a
                .value
                .trim()
                .parse::<u32>()
                .map(Some)
                .map_err(|_| doc.bad_value(a, "a decimal number")),
            None => Ok(None),
        }
    };
    Ok(Some(CpuInfo {
        arch: None,
        vendor: info("CPUVendor")
            .map_or(CpuVendor::Unknown, |v| CpuVendor::from_vendor_id(&v.value)),
        family: num("CPUFamilyNumber")?,
        model: num("CPUModelNumber")?,
        model_name: info("CPUModel").map(|a: &Attr<'_>| a.value.clone().into_owned()),
    }))
}

/// `dddd:[bb-ss]` → (domain, first bus, last bus).
fn bus_range(doc: &Doc<'_>, a: &Attr<'_>) -> Result<(u32, u8, u8), LoadError> {
    let parse = |s: &str| -> Option<(u32, u8, u8)> {
        let (d, rest) = s.trim().split_once(':')?;
        let rest = rest.strip_prefix('[')?.strip_suffix(']')?;
        let (x, y) = rest.split_once('-')?;
        let hex = |t: &str, max: usize| {
            (!t.is_empty() && t.len() <= max && t.bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| u32::from_str_radix(t, 16).ok())
                .flatten()
        };
        let domain = hex(d, 8)?;
        let x = u8::try_from(hex(x, 2)?).ok()?;
        let y = u8::try_from(hex(y, 2)?).ok()?;
        (x <= y).then_some((domain, x, y))
    };
    parse(&a.value).ok_or_else(|| doc.bad_value(a, "dddd:[bb-bb], a domain and a bus range"))
}

struct PciType {
    class_id: u16,
    vendor: u16,
    device: u16,
    subsystem_vendor: u16,
    subsystem_device: u16,
    revision: u8,
    prog_if: Option<u8>,
}

/// `0604 [8086:2030] [8086:0000] 04 00`.
fn pci_type(s: &str) -> Option<PciType> {
    let mut it = s.split_whitespace();
    let hex16 = |t: &str| {
        (t.len() == 4 && t.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| u16::from_str_radix(t, 16).ok())
            .flatten()
    };
    let hex8 = |t: &str| {
        (t.len() == 2 && t.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| u8::from_str_radix(t, 16).ok())
            .flatten()
    };
    let pair = |t: &str| {
        let (a, b) = t.strip_prefix('[')?.strip_suffix(']')?.split_once(':')?;
        Some((hex16(a)?, hex16(b)?))
    };
    let class_id = hex16(it.next()?)?;
    let (vendor, device) = pair(it.next()?)?;
    let (subsystem_vendor, subsystem_device) = pair(it.next()?)?;
    let revision = hex8(it.next()?)?;
    let prog_if = match it.next() {
        Some(t) => Some(hex8(t)?),
        None => None,
    };
    if it.next().is_some() {
        return None;
    }
    Some(PciType {
        class_id,
        vendor,
        device,
        subsystem_vendor,
        subsystem_device,
        revision,
        prog_if,
    })
}

/// hwloc's `%f` GB/s as MB/s, truncated: `Some(None)` for zero (unknown), `None` if not a number.
fn link_speed_mb_s(s: &str) -> Option<Option<u32>> {
    let t = s.trim();
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if int.is_empty()
        || int.len() > 6
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let int: u32 = int.parse().ok()?;
    let mut milli = 0u32;
    let mut scale = 100u32;
    for d in frac.bytes().take(3) {
        milli += u32::from(d - b'0') * scale;
        scale /= 10;
    }
    let mb = int.checked_mul(1000)?.checked_add(milli)?;
    Some((mb != 0).then_some(mb))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_speeds_are_kept_as_hwloc_computes_them() {
        assert_eq!(link_speed_mb_s("15.753846"), Some(Some(15_753)));
        assert_eq!(link_speed_mb_s("31.507692"), Some(Some(31_507)));
        assert_eq!(link_speed_mb_s("0.250000"), Some(Some(250)));
        assert_eq!(link_speed_mb_s("0.000000"), Some(None));
        assert_eq!(link_speed_mb_s("fast"), None);
        assert_eq!(link_speed_mb_s("-1.0"), None);
        // The same figure as the model computes from a lane rate and width.
        let gen3x16 = crate::LinkStatus::new(crate::LinkSpeed::GEN3, 16);
        assert_eq!(gen3x16.bandwidth_mb_s(), Some(15_753));
    }

    #[test]
    fn pci_types() {
        let p = pci_type("0604 [8086:2030] [8086:0000] 04 00").unwrap();
        assert_eq!((p.class_id, p.vendor, p.device), (0x0604, 0x8086, 0x2030));
        assert_eq!((p.subsystem_vendor, p.subsystem_device), (0x8086, 0));
        assert_eq!((p.revision, p.prog_if), (4, Some(0)));
        assert!(pci_type("0604 [8086:2030] [8086:0000] 04").is_some());
        assert!(pci_type("0604 [8086:2030]").is_none());
        assert!(pci_type("0604 [8086:2030] [8086:0000] 04 00 11").is_none());
    }

    const SMALL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<topology version="2.0">
  <object type="Machine" os_index="0" cpuset="0x0000000f" nodeset="0x00000003" gp_index="1">
    <object type="Package" os_index="0" cpuset="0x00000003" nodeset="0x00000001" gp_index="2">
      <info name="CPUVendor" value="AuthenticAMD"/>
      <info name="CPUFamilyNumber" value="25"/>
      <object type="Bridge" gp_index="3" bridge_type="0-1" depth="0" bridge_pci="0000:[00-02]">
        <object type="Bridge" gp_index="4" bridge_type="1-1" depth="1" bridge_pci="0000:[01-02]" pci_busid="0000:00:01.0" pci_type="0604 [1022:1483] [0000:0000] 00 00" pci_link_speed="31.507692">
          <object type="PCIDev" gp_index="5" pci_busid="0000:01:00.0" pci_type="0302 [10de:20b2] [10de:1463] a1 00" pci_link_speed="31.507692">
            <object type="OSDev" gp_index="6" name="nvml0" osdev_type="12"/>
          </object>
          <object type="PCIDev" gp_index="7" pci_busid="0000:01:00.1" pci_type="0302 [10de:20b2] [10de:1463] a1 00" pci_link_speed="0.000000">
            <object type="OSDev" gp_index="8" name="nvml1" osdev_type="12"/>
          </object>
        </object>
      </object>
    </object>
  </object>
  <distances2hetero nbobjs="2" kind="25" name="NVLinkBandwidth">
    <indexes length="20">OSDev:6 OSDev:8 </indexes>
    <u64values length="20">0 50000 50000 0 </u64values>
  </distances2hetero>
</topology>
"#;

    #[test]
    fn a_small_machine() {
        let m = parse_hwloc_xml("small.xml", SMALL).unwrap();
        assert_eq!(m.host_bridges().len(), 1);
        assert_eq!(m.host_bridges()[0].numa_node, Some(0));
        assert_eq!(m.functions().len(), 3);
        let gpu = m.find("0000:01:00.0".parse().unwrap()).unwrap();
        let f = m.function(gpu).unwrap();
        assert_eq!(f.os_devices, vec!["nvml0".to_owned()]);
        assert_eq!(f.class, Some(ClassCode(0x030200)));
        assert_eq!(f.link_bandwidth, Some(Bandwidth(31_507)));
        assert_eq!(f.local_cpulist.as_deref(), Some("0-1"));
        assert_eq!(m.parent(gpu), m.find("0000:00:01.0".parse().unwrap()));
        let other = m.find("0000:01:00.1".parse().unwrap()).unwrap();
        assert_eq!(m.function(other).unwrap().link_bandwidth, None);
        assert_eq!(m.cpu().vendor, CpuVendor::Amd);
        assert_eq!(m.cpu().family, Some(25));
        assert_eq!(m.links().len(), 1);
        assert_eq!(m.links()[0].bandwidth, Some(Bandwidth(50_000)));
        assert_eq!(m.fabrics()[0].name, "nvlink0");
        let q = m.root_path_quality(gpu).unwrap();
        assert_eq!(
            q.0,
            Some(Bandwidth(31_507)),
            "the known bandwidth reaches the route model"
        );
    }

    #[test]
    fn errors_point_at_the_value() {
        let bad = SMALL.replace("0000:01:00.1", "0000:01:00.9");
        match parse_hwloc_xml("small.xml", &bad) {
            Err(LoadError::MalformedAt {
                line,
                column,
                expected,
                ..
            }) => {
                assert_eq!((line, column), (12, 57));
                assert!(expected.contains("pci_busid"), "{expected}");
            }
            other => panic!("{other:?}"),
        }
        let bad = SMALL.replace("OSDev:8", "OSDev:99");
        assert!(matches!(
            parse_hwloc_xml("small.xml", &bad),
            Err(LoadError::MalformedAt { line: 20, .. })
        ));
        let bad = SMALL.replace("0 50000 50000 0", "0 50000 50000");
        assert!(parse_hwloc_xml("small.xml", &bad).is_err());
        assert!(parse_hwloc_xml("x.xml", "<system version=\"1\"/>").is_err());
    }
}
