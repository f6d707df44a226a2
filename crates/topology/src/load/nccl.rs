//! The NCCL topology loader (`NCCL_TOPO_DUMP_FILE`, `NCCL_TOPO_FILE`: `<system version="1">`).
//!
//! # What NCCL's file is
//! NCCL walks sysfs up from each GPU and NIC and keeps **one `pci` node per PCIe switch** (its
//! upstream port): root ports and switch downstream ports are dropped, and the top `pci` nodes
//! hang directly under the `cpu` (NUMA node) whose root complex they reach. Host bridges are
//! not shown. The loader models what the file says and marks the machine
//! [`switches_collapsed`](crate::Machine::switches_collapsed): the nvidia-smi class then counts
//! each `pci` bridge as one switch, and P2P explanations say that the distance is a lower bound
//! and that the missing ports' ACS state is unknown.
//!
//! # How it maps onto the model
//! - **`cpu`**: one [`HostBridge`] per `cpu` element (and PCI domain), standing for that NUMA
//!   node's root complexes, with `numaid` as its NUMA node (-1: unknown). This is NCCL's own
//!   view: two devices under different top `pci` nodes of one `cpu` meet at the CPU (NCCL's and
//!   nvidia-smi's `PHB`), under different `cpu`s across the inter-socket link (`SYS`). The root
//!   bus number is not in the file; the loader takes the highest bus number below the `cpu`'s
//!   lowest top-level bus that no function in the file uses (a root bus is numbered below the
//!   buses behind it), so that no listed function appears to be the host bridge's own device:
//!   the whitelist check then has no device, as it truly has none in the file, and the host
//!   bridge is marked [`root_bus_complete`](HostBridge::root_bus_complete)` = false`: the
//!   device Linux would check is unknown, not absent. `arch`, `vendor`, `familyid` and
//!   `modelid` of the first `cpu` become the machine's [`CpuInfo`]. `affinity` (a
//!   kernel CPU mask) becomes every function's [`Function::local_cpulist`].
//! - **`pci`**: a [`Function`] at `busid` under the enclosing `pci` (or the `cpu`'s host
//!   bridge); one holding `pci` elements is a bridge (header type 1) even without a class. With
//!   `class`, `vendor`, `device`, `subsystem_vendor`, `subsystem_device`, and
//!   `link_speed`/`link_width` as its current link. NCCL writes for a GPU the current generation
//!   (from NVML) and for other devices the lower of the device's and its port's maximum, i.e.
//!   what the link trains to; an empty speed or a width of 0 is unknown.
//! - **`gpu`** (`dev`, `sm`, `rank`): the NVML index `dev` becomes the OS device name `nvmlN`
//!   (hwloc's name for the same GPU).
//! - **`nic`/`net`**: each `net` `name` (`mlx5_0`, `mlx5_bond_0`) is an OS device of the `pci`.
//!   A `nic` directly under a `cpu` (no PCI function) is not modelled.
//! - **`nvlink target count tclass`**: a bundle of `count` NVLinks whose bandwidth is the
//!   hardware's for the GPU's `sm` (one link, one direction: SM60 20, SM70 and SM75 25, SM80
//!   25, SM86 14.06, SM90 25, SM100 50 GB/s; [`crate::nvlink`]), unknown for another `sm`; the
//!   figure NCCL plans with for that `sm` (SM60 18, SM70 and SM80 20, SM86 12, SM90 20.6,
//!   SM100 40.1 GB/s; below SM60 NCCL's default, SM80's) is kept beside it as
//!   [`PrivateLink::nccl_bandwidth`](crate::PrivateLink::nccl_bandwidth), labelled as NCCL's. Targets are classified as NCCL
//!   does: class `0x03....` a GPU (the two directions listed by both GPUs are one bundle),
//!   `0x068001` the GPU's own CPU socket ([`LinkEnd::Cpu`]), anything else an NVSwitch.
//!   **NVSwitches are PCI functions** that usually appear nowhere else in the file: each target
//!   not in the tree is added as a function of the target class, not
//!   [`listed`](Function::listed), on a host bridge of its own bus (as the sysfs loader places
//!   functions whose parent it does not know), and every NVSwitch gets
//!   [`Function::fabric_switch`], so GPU-to-GPU routes go through the switches (parallel
//!   switches add up). The targets NCCL writes for an NVSwitch a VM hides (`fffffff:ffff:ff`,
//!   and `fffffff:ff:ff.0` from NCCL 2.27) are one placeholder NVSwitch at `ffffffff:ff:1f.7`.
//!   An NVLink whose target is the GPU itself (Azure's NC A100 v4, whose NVLink bridge peer the
//!   VM does not see) is left out with a [`LoadWarning`].
//! - **`c2c bw count`** (Grace): `count` links of `bw` MB/s between the GPU and its CPU socket,
//!   on fabrics of kind `NVLink-C2C`.
//! - NVLink bundles are grouped into fabrics by connected component (`nvlink0`, ...).
//!
//! # What NCCL's file does not say
//! ACS, port types, header types, IOMMU groups, drivers, BARs, p2pmem and SR-IOV are not in it
//! (unknown). `pcilink` elements (NCCL's links between two PCIe switches) and `nic` elements
//! directly under a `cpu` are not modelled; each is reported as a [`LoadWarning`].

use std::collections::{HashMap, HashSet};
use std::path::Path;

use dmabuf_negotiate::Bandwidth;

use super::cpuset::kernel_mask_to_list;
use super::links::{RawLink, add_by_component};
use super::xml::{Attr, Doc, Element, parse};
use super::{LoadError, LoadWarning, MAX_HOST_BRIDGES, parse_hex, read_text};
use crate::limits::MAX_BRIDGE_DEPTH;
use crate::machine::{
    CpuArch, CpuInfo, CpuVendor, Function, FunctionId, HostBridge, HostBridgeId, LinkEnd, LinkKind,
    Machine, MachineBuilder, Upstream,
};
use crate::pci::{Bdf, ClassCode, LinkSpeed, LinkStatus};

/// Where NCCL's placeholder for an NVSwitch hidden from a VM is put.
pub const HIDDEN_NVSWITCH: Bdf = Bdf::new(0xffff_ffff, 0xff, 0x1f, 7);

/// NCCL's placeholder targets for an NVLink peer it cannot see (an NVSwitch a VM hides):
/// `fffffff:ffff:ff` in older dumps, `fffffff:ff:ff.0` in NCCL 2.27's. NCCL never reads an
/// NVSwitch target's address: it links the GPU to its one NVSwitch node.
const HIDDEN_TARGETS: [&str; 2] = ["fffffff:ffff:ff", "fffffff:ff:ff.0"];

/// NCCL's class for an NVSwitch.
const NVSWITCH_CLASS: u32 = 0x068000;

/// NVLink bandwidth per link and direction NCCL uses for a compute capability, in MB/s: NCCL's
/// planning figure, kept as [`PrivateLink::nccl_bandwidth`](crate::PrivateLink::nccl_bandwidth);
/// the link's bandwidth is the hardware's ([`crate::nvlink`]).
pub const fn nvlink_bandwidth(sm: u32) -> Bandwidth {
    Bandwidth(if sm >= 100 {
        40_100
    } else if sm >= 90 {
        20_600
    } else if sm == 86 {
        12_000
    } else if sm >= 70 {
        20_000
    } else if sm >= 60 {
        18_000
    } else {
        20_000
    })
}

/// Loads an NCCL topology file.
pub fn load_nccl_xml(path: impl AsRef<Path>) -> Result<Machine, LoadError> {
    let path = path.as_ref();
    let text = read_text(path)?;
    parse_nccl_xml(&path.display().to_string(), &text)
}

/// One `pci` element, before host bridges are known.
struct RawFn<'e> {
    f: Function,
    /// Index of the enclosing `pci` in the list, or of the `cpu` (host-bridge group).
    parent: Result<usize, usize>,
    elem: &'e Element<'e>,
}

/// One `cpu` element.
struct Cpu {
    numa: Option<u32>,
}

/// Reads an NCCL topology from a string; `name` names it in errors.
pub fn parse_nccl_xml(name: &str, text: &str) -> Result<Machine, LoadError> {
    parse_nccl_xml_with_warnings(name, text).map(|(m, _)| m)
}

/// Reads an NCCL topology from a string, with what was left out of the machine (see
/// [`LoadWarning`]).
pub fn parse_nccl_xml_with_warnings(
    name: &str,
    text: &str,
) -> Result<(Machine, Vec<LoadWarning>), LoadError> {
    let doc = Doc { path: name, text };
    let root = parse(&doc)?;
    if root.name != "system" {
        return Err(doc.error(
            root.pos,
            "a <system version=\"1\"> root element (an NCCL topology file)",
            format!("<{}>", root.name),
        ));
    }
    if let Some(v) = root.attr("version") {
        if v.value.trim() != "1" {
            return Err(doc.bad_value(v, "1 (the only NCCL topology version)"));
        }
    }
    let mut cpus: Vec<Cpu> = Vec::new();
    let mut cpu_info: Option<CpuInfo> = None;
    let mut raws: Vec<RawFn<'_>> = Vec::new();
    let mut seen: HashSet<Bdf> = HashSet::new();
    let mut warnings = Vec::new();
    for c in root.children_named("cpu") {
        for nic in c.children_named("nic") {
            warnings.push(doc.warning(
                nic.pos,
                "a <nic> directly under a <cpu> has no PCI function: not modelled",
            ));
        }
        let numa = match c.attr("numaid") {
            Some(a) => {
                let n: i64 = a
                    .value
                    .trim()
                    .parse()
                    .map_err(|_| doc.bad_value(a, "a decimal NUMA node (-1 for none)"))?;
                u32::try_from(n).ok()
            }
            None => None,
        };
        let cpus_list = match c.attr("affinity") {
            Some(a) => Some(
                kernel_mask_to_list(&a.value)
                    .ok_or_else(|| doc.bad_value(a, "a CPU mask such as 00000000,ffffffff"))?,
            ),
            None => None,
        };
        if cpu_info.is_none() {
            cpu_info = Some(read_cpu(&doc, c)?);
        }
        let ci = cpus.len();
        cpus.push(Cpu { numa });
        // Depth-first, parents first.
        // Each with the number of <pci> objects above it, which are bridges.
        let mut stack: Vec<(&Element, Result<usize, usize>, usize)> = c
            .children_named("pci")
            .rev()
            .map(|p| (p, Err(ci), 0))
            .collect();
        while let Some((e, parent, depth)) = stack.pop() {
            if depth > MAX_BRIDGE_DEPTH {
                return Err(doc.error(
                    e.pos,
                    format!("a <pci> at most {MAX_BRIDGE_DEPTH} bridges below its <cpu>"),
                    "a deeper one",
                ));
            }
            let f = read_pci(&doc, e, &mut seen, cpus_list.clone())?;
            let me = raws.len();
            for l in e.children_named("pcilink") {
                warnings.push(doc.warning(
                    l.pos,
                    "a <pcilink> (NCCL's link between two PCIe switches) is not modelled",
                ));
            }
            raws.push(RawFn { f, parent, elem: e });
            for child in e.children_named("pci").rev() {
                stack.push((child, Ok(me), depth + 1));
            }
        }
    }
    // NVLink and C2C links, with targets that may not be in the tree.
    struct Pending<'e> {
        from: usize,
        target: Target,
        count: u16,
        /// The hardware's figure for the GPU's generation, and NCCL's.
        bandwidth: Option<Bandwidth>,
        nccl_bandwidth: Option<Bandwidth>,
        at: &'e Attr<'e>,
    }
    enum Target {
        Function(Bdf, u32),
        Cpu,
    }
    let mut nvlinks: Vec<Pending<'_>> = Vec::new();
    let mut c2c: Vec<(usize, u16, Option<Bandwidth>)> = Vec::new();
    for (i, raw) in raws.iter_mut().enumerate() {
        for gpu in raw.elem.children_named("gpu") {
            if let Some(d) = gpu.attr("dev") {
                let dev: u32 = d
                    .value
                    .trim()
                    .parse()
                    .map_err(|_| doc.bad_value(d, "the GPU's NVML index"))?;
                let n = format!("nvml{dev}");
                if !raw.f.os_devices.contains(&n) {
                    raw.f.os_devices.push(n);
                }
            }
            let sm = match gpu.attr("sm") {
                Some(a) => Some(
                    a.value
                        .trim()
                        .parse::<u32>()
                        .map_err(|_| doc.bad_value(a, "a compute capability such as 80"))?,
                ),
                None => None,
            };
            for l in gpu.children_named("nvlink") {
                let t = doc.required(l, "target", "the PCI address of the peer")?;
                let count = count_of(&doc, l)?;
                let class = match l.attr("tclass") {
                    Some(a) => Some(
                        hex(&a.value, 0xff_ffff)
                            .ok_or_else(|| doc.bad_value(a, "a PCI class such as 0x068000"))?
                            as u32,
                    ),
                    None => None,
                };
                let target = if class == Some(0x068001) {
                    Target::Cpu
                } else if HIDDEN_TARGETS.contains(&t.value.trim()) {
                    Target::Function(HIDDEN_NVSWITCH, NVSWITCH_CLASS)
                } else {
                    let bdf: Bdf = t
                        .value
                        .trim()
                        .parse()
                        .map_err(|_| doc.bad_value(t, "a PCI address DDDD:BB:DD.F"))?;
                    Target::Function(bdf, class.unwrap_or(NVSWITCH_CLASS))
                };
                nvlinks.push(Pending {
                    from: i,
                    target,
                    count,
                    bandwidth: sm
                        .and_then(crate::nvlink::of_compute_capability)
                        .map(|g| g.per_link),
                    nccl_bandwidth: sm.map(nvlink_bandwidth),
                    at: t,
                });
            }
            for l in gpu.children_named("c2c") {
                let count = count_of(&doc, l)?;
                let bw = match l.attr("bw") {
                    Some(a) => {
                        Some(Bandwidth(a.value.trim().parse().map_err(|_| {
                            doc.bad_value(a, "the bandwidth of one link in MB/s")
                        })?))
                    }
                    None => None,
                };
                c2c.push((i, count, bw));
            }
        }
    }
    // Functions known only as NVLink targets.
    let mut extra: Vec<(Bdf, u32)> = Vec::new();
    for p in &nvlinks {
        if let Target::Function(bdf, class) = p.target {
            if !seen.contains(&bdf) && !extra.iter().any(|(b, _)| *b == bdf) {
                extra.push((bdf, class));
            }
        }
    }
    // Host bridges: one per (cpu, domain) holding top-level functions, then one per bus of
    // functions known only as targets.
    let used: HashSet<(u32, u8)> = raws
        .iter()
        .map(|r| (r.f.bdf.domain, r.f.bdf.bus))
        .chain(extra.iter().map(|(b, _)| (b.domain, b.bus)))
        .collect();
    let mut taken: HashSet<(u32, u8)> = HashSet::new();
    let mut b = MachineBuilder::new();
    let mut cpu_hb: HashMap<(usize, u32), HostBridgeId> = HashMap::new();
    let mut groups: Vec<(usize, u32)> = Vec::new();
    let mut lowest: HashMap<(usize, u32), u8> = HashMap::new();
    for r in &raws {
        if let Err(ci) = r.parent {
            let key = (ci, r.f.bdf.domain);
            if !groups.contains(&key) {
                groups.push(key);
            }
            let low = lowest.entry(key).or_insert(r.f.bdf.bus);
            *low = (*low).min(r.f.bdf.bus);
        }
    }
    for key in groups {
        let low = lowest.get(&key).copied().unwrap_or(0);
        let free = |bus: &u8| !used.contains(&(key.1, *bus)) && !taken.contains(&(key.1, *bus));
        let bus = (0..low)
            .rev()
            .find(free)
            .or_else(|| (low..=u8::MAX).rev().find(free))
            .ok_or_else(|| {
                doc.error(
                    root.pos,
                    "a free bus number for the host bridge of a <cpu>",
                    format!("all 256 buses of domain {:04x} in use", key.1),
                )
            })?;
        taken.insert((key.1, bus));
        let mut hb = HostBridge::new(key.1, bus);
        hb.numa_node = cpus.get(key.0).and_then(|c| c.numa);
        // NCCL lists no root-bus function: the device the whitelist check reads is unknown.
        hb.root_bus_complete = false;
        cpu_hb.insert(key, b.host_bridge(hb));
    }
    let mut ids: Vec<FunctionId> = Vec::with_capacity(raws.len());
    for r in &raws {
        let up = match r.parent {
            Ok(p) => match ids.get(p) {
                Some(&id) => Upstream::Bridge(id),
                None => {
                    return Err(doc.error(r.elem.pos, "a parent before its children", "none"));
                }
            },
            Err(ci) => match cpu_hb.get(&(ci, r.f.bdf.domain)) {
                Some(&h) => Upstream::HostBridge(h),
                None => return Err(doc.error(r.elem.pos, "a <cpu> host bridge", "none")),
            },
        };
        let mut f = r.f.clone();
        f.upstream = up;
        ids.push(b.function(f));
    }
    let mut by_bdf: HashMap<Bdf, FunctionId> = raws
        .iter()
        .zip(&ids)
        .map(|(r, &id)| (r.f.bdf, id))
        .collect();
    let mut own_hb: HashMap<(u32, u8), HostBridgeId> = HashMap::new();
    for (bdf, class) in extra {
        let key = (bdf.domain, bdf.bus);
        let h = *own_hb.entry(key).or_insert_with(|| {
            let mut hb = HostBridge::new(bdf.domain, bdf.bus);
            hb.root_bus_complete = false;
            b.host_bridge(hb)
        });
        let mut f = Function::new(bdf, Upstream::HostBridge(h));
        f.listed = false;
        f.class = Some(ClassCode(class));
        by_bdf.insert(bdf, b.function(f));
    }
    if cpu_hb.len() + own_hb.len() > MAX_HOST_BRIDGES {
        return Err(doc.error(
            root.pos,
            format!(
                "at most {MAX_HOST_BRIDGES} host bridges (one per <cpu> and per NVLink target bus)"
            ),
            (cpu_hb.len() + own_hb.len()).to_string(),
        ));
    }
    // Links.
    let cpu_of = |mut i: usize| -> Option<u32> {
        for _ in 0..raws.len() {
            match raws.get(i)?.parent {
                Ok(p) => i = p,
                Err(ci) => return cpus.get(ci)?.numa,
            }
        }
        None
    };
    let mut bundles: Vec<RawLink> = Vec::new();
    let mut pairs: HashMap<(FunctionId, FunctionId), usize> = HashMap::new();
    for p in &nvlinks {
        let Some(&from) = ids.get(p.from) else {
            continue;
        };
        let to = match p.target {
            Target::Cpu => LinkEnd::Cpu {
                numa_node: cpu_of(p.from),
            },
            Target::Function(bdf, class) => {
                let Some(&id) = by_bdf.get(&bdf) else {
                    continue;
                };
                if id == from {
                    // Azure's NC A100 v4 lists each GPU's NVLink bridge to a peer the VM does
                    // not see as a link to the GPU itself; NCCL links the GPU to itself and no
                    // route uses it.
                    warnings.push(doc.warning(
                        p.at.pos,
                        format!(
                            "an NVLink from {} to itself (its peer is not in the file): not modelled",
                            bdf
                        ),
                    ));
                    continue;
                }
                if class >> 16 != 0x03 {
                    if let Some(f) = b.function_mut(id) {
                        f.fabric_switch = true;
                    }
                } else {
                    let key = (from.min(id), from.max(id));
                    if let Some(&k) = pairs.get(&key) {
                        // The peer already listed this bundle.
                        if let Some(l) = bundles.get_mut(k) {
                            l.count = l.count.max(p.count);
                        }
                        continue;
                    }
                    pairs.insert(key, bundles.len());
                }
                LinkEnd::Function(id)
            }
        };
        bundles.push(RawLink {
            a: LinkEnd::Function(from),
            b: to,
            bandwidth: p.bandwidth,
            nccl_bandwidth: p.nccl_bandwidth,
            count: p.count,
        });
    }
    add_by_component(&mut b, &LinkKind::NvLink, "nvlink", &bundles);
    let c2c_links: Vec<RawLink> = c2c
        .iter()
        .filter_map(|&(i, count, bw)| {
            Some(RawLink {
                a: LinkEnd::Function(*ids.get(i)?),
                b: LinkEnd::Cpu {
                    numa_node: cpu_of(i),
                },
                bandwidth: bw,
                nccl_bandwidth: None,
                count,
            })
        })
        .collect();
    add_by_component(
        &mut b,
        &LinkKind::Other("NVLink-C2C".into()),
        "c2c",
        &c2c_links,
    );
    b.cpu(cpu_info.unwrap_or_default());
    b.switches_collapsed(true);
    b.guest(guest_evidence(b.functions()));
    let m = b.build().map_err(|e| LoadError::Build {
        path: name.to_owned(),
        source: e,
    })?;
    let m = super::require_pci(
        m,
        name,
        "the file lists no <pci> element (NCCL writes one for each GPU, NIC and switch)",
    )?;
    Ok((m, warnings))
}

/// What says an NCCL file is of a virtual machine: the virtual switches of Azure's and AWS's
/// files (at `ffff:ff:NN.0`, or of vendor `ffff`), and virtual PCI functions
/// ([`crate::guest`]). NCCL's placeholder for an NVSwitch it cannot see is no evidence: a
/// container, which shares the host's PCI tree, writes it too.
fn guest_evidence(functions: &[Function]) -> Vec<String> {
    let virtual_switches = functions
        .iter()
        .filter(|f| {
            f.listed
                && f.is_bridge()
                && (f.vendor == Some(0xffff) || (f.bdf.domain == 0xffff && f.bdf.bus == 0xff))
        })
        .count();
    let mut out = Vec::new();
    if virtual_switches > 0 {
        out.push(format!(
            "{virtual_switches} PCIe switch{} at ffff:ff:NN.0 or of vendor ffff, as cloud VMs' \
             NCCL files write the hypervisor's virtual switches",
            if virtual_switches == 1 { "" } else { "es" }
        ));
    }
    out.extend(crate::guest::from_functions(functions));
    out
}

fn count_of(doc: &Doc<'_>, l: &Element) -> Result<u16, LoadError> {
    match l.attr("count") {
        Some(a) => a
            .value
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|&c| c > 0)
            .ok_or_else(|| doc.bad_value(a, "a number of links from 1 to 65535")),
        None => Ok(1),
    }
}

/// `0x15b3` (or `15b3`) up to `max`.
fn hex(t: &str, max: u64) -> Option<u64> {
    parse_hex(t).filter(|&v| v <= max)
}

fn read_cpu(doc: &Doc<'_>, c: &Element) -> Result<CpuInfo, LoadError> {
    let num = |n: &str| -> Result<Option<u32>, LoadError> {
        match c.attr(n) {
            Some(a) => a
                .value
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| doc.bad_value(a, "a decimal number")),
            None => Ok(None),
        }
    };
    Ok(CpuInfo {
        arch: c.value("arch").map(CpuArch::from_name),
        vendor: c
            .value("vendor")
            .map_or(CpuVendor::Unknown, CpuVendor::from_vendor_id),
        family: num("familyid")?,
        model: num("modelid")?,
        model_name: None,
    })
}

fn read_pci(
    doc: &Doc<'_>,
    e: &Element,
    seen: &mut HashSet<Bdf>,
    cpus: Option<String>,
) -> Result<Function, LoadError> {
    let busid = doc.required(e, "busid", "a PCI address DDDD:BB:DD.F")?;
    let bdf: Bdf = busid
        .value
        .trim()
        .to_ascii_lowercase()
        .parse()
        .map_err(|_| doc.bad_value(busid, "a PCI address DDDD:BB:DD.F"))?;
    if !seen.insert(bdf) {
        return Err(doc.error(busid.pos, "each PCI address once", format!("{bdf} again")));
    }
    let mut f = Function::new(bdf, Upstream::HostBridge(HostBridgeId(0)));
    let id16 = |n: &str| -> Result<Option<u16>, LoadError> {
        match e.attr(n) {
            Some(a) if a.value.trim().is_empty() => Ok(None),
            Some(a) => hex(&a.value, 0xffff)
                .map(|v| Some(v as u16))
                .ok_or_else(|| doc.bad_value(a, "a 16-bit hexadecimal ID such as 0x10de")),
            None => Ok(None),
        }
    };
    f.vendor = id16("vendor")?;
    f.device = id16("device")?;
    f.subsystem_vendor = id16("subsystem_vendor")?;
    f.subsystem_device = id16("subsystem_device")?;
    if let Some(a) = e.attr("class") {
        if !a.value.trim().is_empty() {
            f.class = Some(ClassCode(
                hex(&a.value, 0xff_ffff)
                    .ok_or_else(|| doc.bad_value(a, "a PCI class such as 0x030200"))?
                    as u32,
            ));
        }
    }
    let speed = match e.attr("link_speed") {
        Some(a) => LinkSpeed::parse_sysfs(&a.value).map_err(|_| {
            doc.bad_value(a, "a link speed such as \"16 GT/s\" or \"16.0 GT/s PCIe\"")
        })?,
        None => None,
    };
    let width = match e.attr("link_width") {
        Some(a) if a.value.trim().is_empty() => None,
        Some(a) => match a.value.trim().parse::<u8>() {
            Ok(0) | Ok(255) => None,
            Ok(w) => Some(w),
            Err(_) => return Err(doc.bad_value(a, "a number of lanes such as 16")),
        },
        None => None,
    };
    f.current_link = LinkStatus { speed, width };
    // A `pci` holding `pci` elements is a switch (NCCL keeps one node per switch), whether or
    // not the file gives its class (AWS's p5 files do not): it has a secondary bus.
    if e.children_named("pci").next().is_some() {
        f.header_type = Some(1);
    }
    f.local_cpulist = cpus;
    for nic in e.children_named("nic") {
        for net in nic.children_named("net") {
            if let Some(n) = net.value("name") {
                if !n.is_empty() && !f.os_devices.iter().any(|x| x == n) {
                    f.os_devices.push(n.to_owned());
                }
            }
        }
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// The bus numbers of a machine's functions in a domain.
    fn buses(m: &Machine, domain: u32) -> BTreeSet<u8> {
        m.functions()
            .iter()
            .filter(|f| f.bdf.domain == domain)
            .map(|f| f.bdf.bus)
            .collect()
    }

    const TWO: &str = r#"<system version="1">
  <cpu numaid="0" affinity="0000000f" arch="x86_64" vendor="AuthenticAMD" familyid="25" modelid="1">
    <pci busid="0000:03:00.0" class="0x060400" vendor="0x1000" device="0xc010" subsystem_vendor="0x1000" subsystem_device="0xa096" link_speed="16.0 GT/s PCIe" link_width="16">
      <pci busid="0000:05:00.0" class="0x030200" vendor="0x10de" device="0x20b2" subsystem_vendor="0x10de" subsystem_device="0x1463" link_speed="16 GT/s" link_width="16">
        <gpu dev="0" sm="90" rank="0" gdr="1">
          <nvlink target="0000:06:00.0" count="4" tclass="0x030200"/>
          <nvlink target="fffffff:ffff:ff" count="2" tclass="0x068000"/>
        </gpu>
      </pci>
      <pci busid="0000:06:00.0" class="0x030200" vendor="0x10de" device="0x20b2" link_speed="" link_width="0">
        <gpu dev="1" sm="90" rank="1" gdr="1">
          <nvlink target="0000:05:00.0" count="4" tclass="0x030200"/>
          <nvlink target="fffffff:ffff:ff" count="2" tclass="0x068000"/>
          <c2c bw="40000" count="10"/>
        </gpu>
      </pci>
    </pci>
    <pci busid="0000:41:00.0" class="0x020000" vendor="0x15b3" device="0x101d" link_speed="16 GT/s" link_width="16">
      <nic><net name="mlx5_0" dev="0" speed="200000" port="1"/><net name="mlx5_0" dev="1" port="2"/></nic>
    </pci>
  </cpu>
  <cpu numaid="-1" affinity="000000f0" arch="x86_64" vendor="AuthenticAMD" familyid="25" modelid="1">
    <pci busid="0000:81:00.0" class="0x020000" vendor="0x15b3" device="0x101d" link_speed="16 GT/s" link_width="16"/>
  </cpu>
</system>
"#;

    #[test]
    fn a_small_machine() {
        let m = parse_nccl_xml("two.xml", TWO).unwrap();
        assert!(m.switches_collapsed());
        assert!(m.cpu().supports_p2pdma());
        // Two cpus: two host bridges; the hidden NVSwitch: a third.
        assert_eq!(m.host_bridges().len(), 3);
        let hb0 = &m.host_bridges()[0];
        assert_eq!((hb0.root_bus, hb0.numa_node), (0x02, Some(0)));
        let hb1 = &m.host_bridges()[1];
        assert_eq!((hb1.root_bus, hb1.numa_node), (0x80, None));
        assert!(!buses(&m, 0).contains(&hb0.root_bus));
        let g0 = m.find("0000:05:00.0".parse().unwrap()).unwrap();
        let g1 = m.find("0000:06:00.0".parse().unwrap()).unwrap();
        let nic = m.find("0000:41:00.0".parse().unwrap()).unwrap();
        assert_eq!(m.function(g0).unwrap().os_devices, vec!["nvml0".to_owned()]);
        assert_eq!(
            m.function(nic).unwrap().os_devices,
            vec!["mlx5_0".to_owned()]
        );
        assert_eq!(
            m.function(nic).unwrap().local_cpulist.as_deref(),
            Some("0-3")
        );
        assert_eq!(m.function(g1).unwrap().current_link, LinkStatus::default());
        assert_eq!(
            m.function(g0).unwrap().current_link,
            LinkStatus::new(LinkSpeed::GEN4, 16)
        );
        let sw = m.find(HIDDEN_NVSWITCH).unwrap();
        let swf = m.function(sw).unwrap();
        assert!(swf.fabric_switch && !swf.listed);
        // GPU pair listed twice: one bundle of 4; two GPU-switch bundles; one C2C.
        let nv: Vec<_> = m.links().iter().filter(|l| l.fabric.0 == 0).collect();
        assert_eq!(nv.len(), 3);
        assert_eq!(nv[0].count, 4);
        assert_eq!(nv[0].bandwidth, Some(Bandwidth(25_000)), "NVLink 4");
        assert_eq!(
            nv[0].nccl_bandwidth,
            Some(Bandwidth(20_600)),
            "NCCL's SM90 figure"
        );
        assert_eq!(m.fabrics().len(), 2);
        assert_eq!(m.fabrics()[1].kind, LinkKind::Other("NVLink-C2C".into()));
        let c2c = m.links().iter().find(|l| l.fabric.0 == 1).unwrap();
        assert_eq!(c2c.b, LinkEnd::Cpu { numa_node: Some(0) });
        assert_eq!(c2c.total_bandwidth(), Some(Bandwidth(400_000)));
        assert_eq!(m.nv_class(g0, nic).map(|c| c.as_str()), Some("PHB"));
    }

    #[test]
    fn sm_bandwidths() {
        let gb = |sm| nvlink_bandwidth(sm).0;
        assert_eq!(
            [
                gb(60),
                gb(70),
                gb(80),
                gb(86),
                gb(89),
                gb(90),
                gb(100),
                gb(50)
            ],
            [
                18_000, 20_000, 20_000, 12_000, 20_000, 20_600, 40_100, 20_000
            ]
        );
    }

    #[test]
    fn errors_point_at_the_value() {
        for (from, to, line) in [
            ("0000:05:00.0\" class", "0000:05:00\" class", 4),
            (
                "count=\"4\" tclass=\"0x030200\"/>\n          <nvlink target=\"fffffff",
                "count=\"x\" tclass=\"0x030200\"/>\n          <nvlink target=\"fffffff",
                6,
            ),
            ("numaid=\"-1\"", "numaid=\"one\"", 22),
            ("version=\"1\"", "version=\"2\"", 1),
            ("link_width=\"0\"", "link_width=\"wide\"", 10),
        ] {
            let bad = TWO.replacen(from, to, 1);
            assert_ne!(bad, TWO);
            match parse_nccl_xml("two.xml", &bad) {
                Err(LoadError::MalformedAt { line: l, .. }) => assert_eq!(l, line, "{to}"),
                other => panic!("{to}: {other:?}"),
            }
        }
    }
}
