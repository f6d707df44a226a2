//! The sysfs loader.
//!
//! Reads `sys/bus/pci/devices/*` (links into `sys/devices/pci*/...`), each function's attributes
//! and `config`, the `physfn`, `driver` and `iommu_group` links (and the group's default domain
//! type, `sys/kernel/iommu_groups/N/type`), `p2pmem/`, and `proc/cpuinfo`. What real snapshots contain is handled:
//!
//! - **64-byte configs** (gathered without root): PCIe port type and ACS are unknown, not off
//!   (unless the header says the function has no capability list at all: then it is
//!   conventional PCI, which has neither).
//!   A 256-byte config is the kernel's own configuration-space size (`cfg_size`): it has no
//!   extended space, so the kernel sees no ACS capability (known absent). A 4096-byte config is
//!   walked from `0x100` for the ACS capability (ID `0x000D`, control at capability + 6). Any
//!   other size is a truncated file and an error.
//! - **Bridges only in a path**: every `DDDD:BB:DD.F` component of a function's path is a
//!   function; those not listed in `bus/pci/devices` are added with `listed = false`, and
//!   whatever attributes their folder holds.
//! - **Old snapshots whose `bus/pci/devices/*` are folders, not links**: the function is placed
//!   under the bridge whose secondary bus is its bus (from the bridges' configs), else on a root
//!   bus of its own host bridge, as hwloc does.
//! - Missing optional attributes are unknown; `numa_node` -1 is none; link speeds `Unknown`,
//!   `"16.0 GT/s PCIe"` and `"8 GT/s"` are all understood.
//!
//! Malformed values (not hex where hex is required, a truncated config, a symlink cycle) are
//! errors naming the file and what was expected.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use dmabuf_negotiate::Trust;

use super::cpuset::kernel_mask_to_list;
use super::source::{EntryKind, Source};
use super::{LoadError, parse_hex, quote};
use crate::iommu::IommuDomain;
use crate::limits::{self, MAX_BRIDGE_DEPTH};
use crate::machine::{
    CpuArch, CpuInfo, CpuVendor, Function, FunctionId, HostBridge, HostBridgeId, Machine,
    MachineBuilder, Upstream,
};
use crate::pci::{Acs, Bar, Bdf, ClassCode, LinkSpeed, LinkStatus, P2pMem, PortType};

const DEVICES: &str = "sys/bus/pci/devices";

/// A host bridge key: (domain, root bus).
type HbKey = (u32, u8);

#[derive(Default)]
struct Raw {
    dir: Option<String>,
    /// Where the function's path puts it, when it has one.
    place: Option<Place>,
    listed: bool,
    f: Option<Function>,
    physfn: Option<Bdf>,
}

/// A function's place in its sysfs path: the host bridge, and the bridge just above it (`None`
/// on the root bus).
#[derive(Clone, Copy)]
struct Place {
    hb: HbKey,
    parent: Option<Bdf>,
}

impl Place {
    fn of(hb: HbKey, chain: &[Bdf]) -> Self {
        let parent = chain
            .len()
            .checked_sub(2)
            .and_then(|i| chain.get(i))
            .copied();
        Self { hb, parent }
    }
}

/// Loads a machine from any [`Source`].
pub fn load_from_source(src: &dyn Source) -> Result<Machine, LoadError> {
    if src.kind("sys")?.is_none() {
        return Err(LoadError::Missing {
            path: src.display("sys"),
            expected: "a sysfs tree (a folder holding sys/ and proc/)".into(),
        });
    }
    let names = src.list(DEVICES)?.unwrap_or_default();
    if names.is_empty() {
        return Err(no_pci(src)?);
    }
    let mut raws: BTreeMap<Bdf, Raw> = BTreeMap::new();
    // The paths of the listed functions, for the bridges only in paths.
    let mut paths: Vec<(HbKey, Vec<Bdf>, String)> = Vec::new();
    for name in &names {
        let entry = format!("{DEVICES}/{name}");
        let bdf: Bdf = name.parse().map_err(|_| LoadError::Malformed {
            path: src.display(&entry),
            expected: "an entry named by a PCI address DDDD:BB:DD.F".into(),
            found: quote(name.as_bytes()),
        })?;
        let raw = match src.kind(&entry)? {
            Some(EntryKind::Symlink) => {
                let dir = src.resolve(&entry, true)?;
                let (hb, chain) = parse_device_path(src, &entry, &dir)?;
                if chain.last() != Some(&bdf) {
                    return Err(LoadError::Malformed {
                        path: src.display(&entry),
                        expected: format!("a link to the folder of {bdf}"),
                        found: quote(dir.as_bytes()),
                    });
                }
                if src.kind(&dir)? != Some(EntryKind::Dir) {
                    return Err(LoadError::Missing {
                        path: src.display(&dir),
                        expected: format!("the folder of {bdf}"),
                    });
                }
                let place = Place::of(hb, &chain);
                paths.push((hb, chain, dir.clone()));
                Raw {
                    dir: Some(dir),
                    place: Some(place),
                    listed: true,
                    ..Raw::default()
                }
            }
            _ => Raw {
                dir: Some(entry),
                place: None,
                listed: true,
                ..Raw::default()
            },
        };
        raws.insert(bdf, raw);
    }
    // Bridges that appear only in paths.
    for (hb, chain, dir) in &paths {
        add_path_bridges(&mut raws, *hb, chain, dir);
    }
    // Attributes.
    let keys: Vec<Bdf> = raws.keys().copied().collect();
    for bdf in &keys {
        let Some(raw) = raws.get_mut(bdf) else {
            continue;
        };
        let Some(dir) = raw.dir.clone() else { continue };
        let listed = raw.listed;
        let mut f = read_function(src, &dir, *bdf)?;
        f.listed = listed;
        if listed {
            f.os_devices = os_devices(src, &dir)?;
        }
        raw.f = Some(f);
        // SR-IOV physical function.
        let link = format!("{dir}/physfn");
        if src.kind(&link)? != Some(EntryKind::Symlink) {
            continue;
        }
        let pf_dir = src.resolve(&link, true)?;
        let (hb, chain) = parse_device_path(src, &link, &pf_dir)?;
        let Some(&pf) = chain.last() else { continue };
        raw.physfn = Some(pf);
        if let std::collections::btree_map::Entry::Vacant(slot) = raws.entry(pf) {
            let mut f = read_function(src, &pf_dir, pf)?;
            f.listed = false;
            slot.insert(Raw {
                dir: Some(pf_dir.clone()),
                place: Some(Place::of(hb, &chain)),
                listed: false,
                f: Some(f),
                physfn: None,
            });
            add_path_bridges(&mut raws, hb, &chain, &pf_dir);
        }
    }
    // Functions added from a physfn path may have brought bridges without attributes.
    for (bdf, raw) in raws.iter_mut() {
        if raw.f.is_none() {
            let mut f = match &raw.dir {
                Some(dir) => read_function(src, dir, *bdf)?,
                None => blank(*bdf),
            };
            f.listed = false;
            raw.f = Some(f);
        }
    }
    // Place path-less functions by bus number.
    let bridges_by_secondary: HashMap<(u32, u8), Bdf> = raws
        .iter()
        .filter_map(|(b, r)| {
            let f = r.f.as_ref()?;
            let (sec, _) = f.bus_range?;
            (f.is_bridge() && sec != 0 && sec != b.bus).then_some(((b.domain, sec), *b))
        })
        .collect();
    // Upstream of each function: Ok(parent bdf) or Err(host bridge key).
    let mut upstream: BTreeMap<Bdf, Result<Bdf, HbKey>> = BTreeMap::new();
    for (bdf, raw) in &raws {
        let up = match raw.place {
            Some(Place {
                parent: Some(p), ..
            }) => Ok(p),
            Some(Place { hb, parent: None }) => Err(hb),
            None => match bridges_by_secondary.get(&(bdf.domain, bdf.bus)) {
                Some(p) if p != bdf => Ok(*p),
                _ => Err((bdf.domain, bdf.bus)),
            },
        };
        upstream.insert(*bdf, up);
    }
    // Host bridges, in address order.
    let hb_keys: BTreeSet<HbKey> = upstream.values().filter_map(|u| u.err()).collect();
    let mut b = MachineBuilder::new();
    let mut hb_ids: HashMap<HbKey, HostBridgeId> = HashMap::new();
    for k in &hb_keys {
        hb_ids.insert(*k, b.host_bridge(HostBridge::new(k.0, k.1)));
    }
    // Functions in address order, each after its upstream bridge.
    let mut ids: HashMap<Bdf, FunctionId> = HashMap::new();
    let order: Vec<Bdf> = raws.keys().copied().collect();
    for bdf in order {
        let mut stack = vec![bdf];
        while let Some(&top) = stack.last() {
            if ids.contains_key(&top) {
                stack.pop();
                continue;
            }
            let up = upstream
                .get(&top)
                .copied()
                .unwrap_or(Err((top.domain, top.bus)));
            let parent = match up {
                Ok(p) => match ids.get(&p) {
                    Some(&id) => Upstream::Bridge(id),
                    None => {
                        if stack.contains(&p) {
                            return Err(LoadError::Malformed {
                                path: src.display(DEVICES),
                                expected: "bridges that form a tree".into(),
                                found: format!("a cycle through {p}"),
                            });
                        }
                        if stack.len() > MAX_BRIDGE_DEPTH {
                            return Err(LoadError::Malformed {
                                path: src.display(DEVICES),
                                expected: format!(
                                    "functions at most {MAX_BRIDGE_DEPTH} bridges below their \
                                     root bus"
                                ),
                                found: format!("{top} below more"),
                            });
                        }
                        stack.push(p);
                        continue;
                    }
                },
                Err(k) => match hb_ids.get(&k) {
                    Some(&h) => Upstream::HostBridge(h),
                    None => Upstream::HostBridge(b.host_bridge(HostBridge::new(k.0, k.1))),
                },
            };
            let mut f = raws
                .get_mut(&top)
                .and_then(|r| r.f.take())
                .unwrap_or_else(|| blank(top));
            f.upstream = parent;
            let id = b.function(f);
            ids.insert(top, id);
            stack.pop();
        }
    }
    for (bdf, raw) in &raws {
        if let (Some(pf), Some(&id)) = (raw.physfn, ids.get(bdf)) {
            let pf_id = ids.get(&pf).copied();
            if let Some(f) = b.function_mut(id) {
                f.physfn = pf_id;
            }
        }
    }
    // Host-bridge NUMA node: the first known among its functions.
    let mut hb_numa: HashMap<u32, u32> = HashMap::new();
    for i in 0..b.functions().len() {
        let Some(f) = b.functions().get(i) else {
            continue;
        };
        if let (Some(n), Upstream::HostBridge(h)) = (f.numa_node, f.upstream) {
            hb_numa.entry(h.0).or_insert(n);
        }
    }
    for (h, n) in hb_numa {
        if let Some(hb) = b.host_bridge_mut(HostBridgeId(h)) {
            hb.numa_node = Some(n);
        }
    }
    // Each IOMMU group's default domain type, read once per group.
    let mut domains: HashMap<u32, Option<IommuDomain>> = HashMap::new();
    for i in 0..b.functions().len() {
        let id = FunctionId(i as u32);
        let Some(g) = b.function_mut(id).and_then(|f| f.iommu_group) else {
            continue;
        };
        let domain = match domains.get(&g) {
            Some(d) => d.clone(),
            None => {
                let path = format!("sys/kernel/iommu_groups/{g}/type");
                let d = src
                    .read(&path, &limits::SYSFS_ATTRIBUTE)?
                    .map(|t| String::from_utf8_lossy(&t).trim().to_owned())
                    .filter(|t| !t.is_empty())
                    .map(|t| IommuDomain::from_sysfs(&t));
                domains.insert(g, d.clone());
                d
            }
        };
        if let Some(f) = b.function_mut(id) {
            f.iommu_domain = domain;
        }
    }
    let (cpu, hypervisor) = read_cpuinfo(src)?;
    b.cpu(cpu);
    b.guest(guest_evidence(src, hypervisor, b.functions())?);
    b.iommu_groups_known(src.kind("sys/kernel/iommu_groups")? == Some(EntryKind::Dir));
    b.build().map_err(|e| LoadError::Build {
        path: src.display(""),
        source: e,
    })
}

/// What says the tree is a virtual machine's guest: the CPU's hypervisor flag, the DMI system
/// (`sys/class/dmi/id`), `sys/hypervisor/type`, and virtual PCI functions ([`crate::guest`]).
fn guest_evidence(
    src: &dyn Source,
    hypervisor: Option<String>,
    functions: &[Function],
) -> Result<Vec<String>, LoadError> {
    let text = |p: &str| -> Result<Option<String>, LoadError> {
        Ok(src
            .read(p, &limits::SYSFS_ATTRIBUTE)?
            .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
            .filter(|t| !t.is_empty()))
    };
    let dmi = src.resolve("sys/class/dmi/id", true)?;
    let vendor = text(&format!("{dmi}/sys_vendor"))?;
    let product = text(&format!("{dmi}/product_name"))?;
    let xen = text("sys/hypervisor/type")?.map(|t| format!("sys/hypervisor/type says {t}"));
    Ok(hypervisor
        .into_iter()
        .chain(crate::guest::from_dmi(
            vendor.as_deref(),
            product.as_deref(),
        ))
        .chain(xen)
        .chain(crate::guest::from_functions(functions))
        .collect())
}

/// Why a tree holds no PCI functions, and how to get one that does.
fn no_pci(src: &dyn Source) -> Result<LoadError, LoadError> {
    let hint = if src.kind("proc/hwloc-nofile-info")?.is_some() && src.kind(DEVICES)?.is_none() {
        "it was gathered by hwloc-gather-topology without --io, which leaves PCI out: gather it \
         again with `hwloc-gather-topology --io NAME` (or save it with `dmabuf-ic snapshot \
         NAME.tar.gz`)"
    } else if src.kind(DEVICES)?.is_none() {
        "sys/bus/pci/devices is missing (a snapshot taken without PCI, or of a machine without \
         it): save the machine with `dmabuf-ic snapshot NAME.tar.gz` or `hwloc-gather-topology \
         --io NAME`"
    } else {
        "sys/bus/pci/devices is empty: the machine has no PCI bus the kernel shows"
    };
    Ok(LoadError::NoPci {
        path: src.display(""),
        hint: hint.to_owned(),
    })
}

/// Adds the bridges of a function's path (`chain`, from the root bus down to the function,
/// whose folder is `dir`) that are not functions already.
fn add_path_bridges(raws: &mut BTreeMap<Bdf, Raw>, hb: HbKey, chain: &[Bdf], dir: &str) {
    // The folder of chain[i] is `dir` up to the slash before the component of chain[i + 1].
    let slashes: Vec<usize> = dir.match_indices('/').map(|(i, _)| i).collect();
    for (i, &bdf) in chain.iter().enumerate().take(chain.len().saturating_sub(1)) {
        let drop = chain.len() - 1 - i;
        let (std::collections::btree_map::Entry::Vacant(slot), Some(&end)) = (
            raws.entry(bdf),
            slashes.len().checked_sub(drop).and_then(|k| slashes.get(k)),
        ) else {
            continue;
        };
        slot.insert(Raw {
            dir: dir.get(..end).map(str::to_owned),
            place: Some(Place::of(hb, &chain[..=i])),
            listed: false,
            f: None,
            physfn: None,
        });
    }
}

fn blank(bdf: Bdf) -> Function {
    let mut f = Function::new(bdf, Upstream::HostBridge(HostBridgeId(0)));
    f.listed = false;
    f
}

/// `sys/devices/.../pciDDDD:BB/BDF/.../BDF` → host bridge and the chain of functions.
fn parse_device_path(
    src: &dyn Source,
    link: &str,
    dir: &str,
) -> Result<(HbKey, Vec<Bdf>), LoadError> {
    let bad = |what: &str| LoadError::Malformed {
        path: src.display(link),
        expected: format!(
            "a link to a PCI function folder sys/devices/.../pciDDDD:BB/DDDD:BB:DD.F ({what})"
        ),
        found: quote(dir.as_bytes()),
    };
    let comps: Vec<&str> = dir.split('/').collect();
    if comps.len() < 3 || comps[0] != "sys" || comps[1] != "devices" {
        return Err(bad("not under sys/devices"));
    }
    let hb_pos = comps
        .iter()
        .rposition(|c| HostBridge::parse_sysfs_name(c).is_some())
        .ok_or_else(|| bad("no host bridge folder"))?;
    let hb =
        HostBridge::parse_sysfs_name(comps[hb_pos]).ok_or_else(|| bad("no host bridge folder"))?;
    let mut chain = Vec::new();
    for c in &comps[hb_pos + 1..] {
        chain.push(
            c.parse::<Bdf>()
                .map_err(|_| bad("a non-PCI component below the host bridge"))?,
        );
    }
    if chain.is_empty() {
        return Err(bad("no function below the host bridge"));
    }
    if chain.len() > MAX_BRIDGE_DEPTH + 1 {
        return Err(LoadError::Malformed {
            path: src.display(link),
            expected: format!("a function at most {MAX_BRIDGE_DEPTH} bridges below its root bus"),
            found: format!("{} bridges in its path", chain.len() - 1),
        });
    }
    Ok((hb, chain))
}

struct Attr<'a> {
    src: &'a dyn Source,
    dir: &'a str,
}

impl Attr<'_> {
    fn path(&self, name: &str) -> String {
        format!("{}/{name}", self.dir)
    }

    /// An attribute's text, trimmed; `None` when the file is missing or empty (a copy that
    /// could not read it: `hwloc-gather-topology` leaves an empty file then).
    fn text(&self, name: &str) -> Result<Option<String>, LoadError> {
        Ok(self
            .src
            .read(&self.path(name), &limits::SYSFS_ATTRIBUTE)?
            .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
            .filter(|t| !t.is_empty()))
    }

    fn malformed(&self, name: &str, expected: &str, found: &str) -> LoadError {
        LoadError::Malformed {
            path: self.src.display(&self.path(name)),
            expected: expected.to_owned(),
            found: quote(found.as_bytes()),
        }
    }

    fn hex(&self, name: &str, max: u64) -> Result<Option<u64>, LoadError> {
        let Some(t) = self.text(name)? else {
            return Ok(None);
        };
        let expected = format!(
            "a hexadecimal number such as 0x{:0w$x}",
            max,
            w = hex_width(max)
        );
        parse_hex(&t)
            .filter(|&v| v <= max)
            .map(Some)
            .ok_or_else(|| self.malformed(name, &expected, &t))
    }

    fn dec(&self, name: &str) -> Result<Option<i64>, LoadError> {
        let Some(t) = self.text(name)? else {
            return Ok(None);
        };
        t.parse::<i64>()
            .map(Some)
            .map_err(|_| self.malformed(name, "a decimal number", &t))
    }

    fn speed(&self, name: &str) -> Result<Option<LinkSpeed>, LoadError> {
        let Some(t) = self.text(name)? else {
            return Ok(None);
        };
        LinkSpeed::parse_sysfs(&t).map_err(|_| self.malformed(name, LinkSpeed::SYSFS_SPELLINGS, &t))
    }

    fn width(&self, name: &str) -> Result<Option<u8>, LoadError> {
        let Some(t) = self.text(name)? else {
            return Ok(None);
        };
        let digits = t.strip_prefix('x').unwrap_or(&t);
        match digits.parse::<u8>() {
            Ok(0) | Ok(255) => Ok(None),
            Ok(w) => Ok(Some(w)),
            Err(_) if t.eq_ignore_ascii_case("unknown") => Ok(None),
            Err(_) => Err(self.malformed(name, "a link width such as 16 or x16", &t)),
        }
    }
}

fn hex_width(max: u64) -> usize {
    match max {
        0..=0xff => 2,
        0x100..=0xffff => 4,
        0x1_0000..=0xff_ffff => 6,
        _ => 8,
    }
}

/// Reads one function's folder.
fn read_function(src: &dyn Source, dir: &str, bdf: Bdf) -> Result<Function, LoadError> {
    let a = Attr { src, dir };
    let mut f = Function::new(bdf, Upstream::HostBridge(HostBridgeId(0)));
    let u16_of = |v: Option<u64>| v.and_then(|v| u16::try_from(v).ok());
    f.vendor = u16_of(a.hex("vendor", 0xffff)?);
    f.device = u16_of(a.hex("device", 0xffff)?);
    f.subsystem_vendor = u16_of(a.hex("subsystem_vendor", 0xffff)?);
    f.subsystem_device = u16_of(a.hex("subsystem_device", 0xffff)?);
    f.revision = a.hex("revision", 0xff)?.and_then(|v| u8::try_from(v).ok());
    f.class = a
        .hex("class", 0xff_ffff)?
        .and_then(|v| u32::try_from(v).ok())
        .map(ClassCode);
    f.numa_node = match a.dec("numa_node")? {
        Some(n) if n >= 0 => u32::try_from(n).ok(),
        _ => None,
    };
    f.local_cpulist = match a.text("local_cpulist")? {
        Some(t) => Some(t),
        None => match a.text("local_cpus")? {
            Some(mask) => Some(kernel_mask_to_list(&mask).ok_or_else(|| {
                a.malformed("local_cpus", "a CPU mask such as 00000000,0000ffff", &mask)
            })?),
            None => None,
        },
    };
    f.current_link = LinkStatus {
        speed: a.speed("current_link_speed")?,
        width: a.width("current_link_width")?,
    };
    f.max_link = LinkStatus {
        speed: a.speed("max_link_speed")?,
        width: a.width("max_link_width")?,
    };
    f.sriov_numvfs = a.dec("sriov_numvfs")?.and_then(|v| u32::try_from(v).ok());
    if let Some(t) = a.text("resource")? {
        f.bars = parse_resource(&t).ok_or_else(|| {
            a.malformed(
                "resource",
                "lines of three hexadecimal numbers (start end flags)",
                &t,
            )
        })?;
    }
    if let Some(cfg) = src
        .read(&a.path("config"), &limits::CONFIG_SPACE)?
        .filter(|c| !c.is_empty())
    {
        let info = parse_config(&cfg).ok_or_else(|| LoadError::Malformed {
            path: src.display(&a.path("config")),
            expected: "a configuration space of 64, 256 or 4096 bytes".into(),
            found: format!("{} bytes", cfg.len()),
        })?;
        f.header_type = Some(info.header_type);
        f.bus_range = info.bus_range;
        f.port_type = info.port_type;
        f.is_pcie = info.is_pcie;
        f.acs = info.acs;
        if f.vendor.is_none() {
            f.vendor = Some(u16::from_le_bytes([cfg[0], cfg[1]]));
            f.device = Some(u16::from_le_bytes([cfg[2], cfg[3]]));
        }
        if f.class.is_none() {
            f.class = Some(ClassCode(u32::from_le_bytes([cfg[9], cfg[10], cfg[11], 0])));
        }
        if f.revision.is_none() {
            f.revision = Some(cfg[8]);
        }
    }
    let link_name = |name: &str| -> Result<Option<String>, LoadError> {
        let p = a.path(name);
        Ok(match src.read_link(&p)? {
            Some(t) => t.rsplit('/').find(|c| !c.is_empty()).map(str::to_owned),
            None => None,
        })
    };
    f.driver = link_name("driver")?;
    if f.driver.as_deref() == Some("vfio-pci") {
        f.trust = Some(Trust::Vfio);
    }
    if let Some(g) = link_name("iommu_group")? {
        f.iommu_group = Some(g.parse().map_err(|_| {
            a.malformed(
                "iommu_group",
                "a link to sys/kernel/iommu_groups/<number>",
                &g,
            )
        })?);
    }
    if src.kind(&a.path("p2pmem"))? == Some(EntryKind::Dir) {
        let size = a.dec("p2pmem/size")?;
        let available = a.dec("p2pmem/available")?;
        let published = a.dec("p2pmem/published")?;
        f.p2pmem = Some(P2pMem {
            size: size.and_then(|v| u64::try_from(v).ok()).unwrap_or(0),
            available: available.and_then(|v| u64::try_from(v).ok()),
            published: published.map(|v| v != 0),
        });
    }
    Ok(f)
}

/// Sub-folders whose entries are OS device names.
const OS_DEVICE_CLASSES: [&str; 6] = ["net", "infiniband", "nvme", "block", "drm", "dax"];

fn os_devices(src: &dyn Source, dir: &str) -> Result<Vec<String>, LoadError> {
    let mut out = Vec::new();
    for class in OS_DEVICE_CLASSES {
        let p = format!("{dir}/{class}");
        let Some(names) = src.list(&p)? else { continue };
        for n in names {
            if class == "nvme" {
                // Namespaces live below the controller: nvme/nvme0/nvme0n1.
                if let Some(sub) = src.list(&format!("{p}/{n}"))? {
                    out.push(n.clone());
                    out.extend(
                        sub.into_iter()
                            .filter(|s| s.starts_with(&n) && s[n.len()..].starts_with('n')),
                    );
                    continue;
                }
            }
            out.push(n);
        }
    }
    Ok(out)
}

fn parse_resource(t: &str) -> Option<Vec<Bar>> {
    let mut bars = Vec::new();
    for (i, line) in t.lines().enumerate() {
        let mut it = line.split_whitespace();
        let start = parse_hex(it.next()?)?;
        let end = parse_hex(it.next()?)?;
        let flags = parse_hex(it.next()?)?;
        if it.next().is_some() {
            return None;
        }
        if i <= 6 && (start != 0 || end != 0) {
            bars.push(Bar {
                index: i as u8,
                start,
                end,
                flags,
            });
        }
    }
    Some(bars)
}

/// What the configuration space says.
struct ConfigInfo {
    header_type: u8,
    bus_range: Option<(u8, u8)>,
    is_pcie: Option<bool>,
    port_type: Option<PortType>,
    acs: Acs,
}

const PCI_CAP_ID_EXP: u8 = 0x10;
const PCI_EXT_CAP_ID_ACS: u32 = 0x000d;

fn parse_config(cfg: &[u8]) -> Option<ConfigInfo> {
    if !matches!(cfg.len(), 64 | 256 | 4096) {
        return None;
    }
    let u16_at = |o: usize| cfg.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |o: usize| {
        cfg.get(o..o + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let header_type = cfg[0x0e] & 0x7f;
    let bus_range = (header_type == 1).then(|| (cfg[0x19], cfg[0x1a]));
    let has_caps = u16_at(0x06).is_some_and(|s| s & 0x10 != 0);
    let (is_pcie, port_type) = if !has_caps {
        (Some(false), None)
    } else if cfg.len() <= 64 {
        (None, None)
    } else {
        let mut ptr = usize::from(cfg[if header_type == 2 { 0x14 } else { 0x34 }] & 0xfc);
        let mut found = None;
        let mut ttl = 48;
        while ptr >= 0x40 && ttl > 0 {
            ttl -= 1;
            let (Some(&id), Some(&next)) = (cfg.get(ptr), cfg.get(ptr + 1)) else {
                break;
            };
            if id == 0xff {
                break;
            }
            if id == PCI_CAP_ID_EXP {
                found = Some(ptr);
                break;
            }
            ptr = usize::from(next & 0xfc);
        }
        match found.and_then(|p| u16_at(p + 2)) {
            Some(flags) => (
                Some(true),
                Some(PortType::from_field(((flags >> 4) & 0xf) as u8)),
            ),
            None => (Some(false), None),
        }
    };
    let acs = if cfg.len() == 4096 {
        let mut pos = 0x100usize;
        let mut ttl = (4096 - 256) / 8;
        let mut acs = Acs::Absent;
        while ttl > 0 {
            ttl -= 1;
            let Some(h) = u32_at(pos) else { break };
            if h == 0 || h == 0xffff_ffff {
                break;
            }
            if h & 0xffff == PCI_EXT_CAP_ID_ACS {
                acs = match u16_at(pos + 6) {
                    Some(control) => Acs::Present { control },
                    None => Acs::Unknown,
                };
                break;
            }
            let next = ((h >> 20) & 0xffc) as usize;
            if next < 0x100 {
                break;
            }
            pos = next;
        }
        acs
    } else if cfg.len() == 256 || is_pcie == Some(false) {
        // The kernel's cfg_size is 256 (no extended space), or conventional PCI: no ACS.
        Acs::Absent
    } else {
        Acs::Unknown
    };
    Some(ConfigInfo {
        header_type,
        bus_range,
        is_pcie,
        port_type,
        acs,
    })
}

/// The CPU, and whether it reports the `hypervisor` flag (evidence of a guest).
fn read_cpuinfo(src: &dyn Source) -> Result<(CpuInfo, Option<String>), LoadError> {
    let path = "proc/cpuinfo";
    let Some(bytes) = src.read(path, &limits::PROC_FILE)? else {
        return Ok((CpuInfo::default(), None));
    };
    let text = String::from_utf8_lossy(&bytes);
    let hypervisor = crate::guest::from_cpuinfo(&text);
    let mut cpu = CpuInfo::default();
    let (mut vendor, mut family, mut model, mut name) = (None, None, None, None);
    let mut arch = None;
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        // Each architecture's /proc/cpuinfo has its own keys: only x86 and s390 write vendor_id.
        if arch.is_none() {
            arch = match k {
                "CPU implementer" => Some(CpuArch::Arm),
                "vendor_id" if v.starts_with("IBM/S390") => Some(CpuArch::S390),
                "vendor_id" => Some(CpuArch::X86),
                "cpu" if v.starts_with("POWER") => Some(CpuArch::Power),
                _ => None,
            };
        }
        match k {
            "vendor_id" if vendor.is_none() => vendor = Some(v.to_owned()),
            "cpu family" if family.is_none() => family = Some(v.to_owned()),
            "model" if model.is_none() => model = Some(v.to_owned()),
            "model name" | "cpu" if name.is_none() => name = Some(v.to_owned()),
            _ => {}
        }
    }
    let num = |field: &str, v: &str| -> Result<u32, LoadError> {
        v.parse().map_err(|_| LoadError::Malformed {
            path: src.display(path),
            expected: format!("a decimal `{field}`"),
            found: quote(v.as_bytes()),
        })
    };
    cpu.vendor = vendor.map_or(CpuVendor::Unknown, |v| CpuVendor::from_vendor_id(&v));
    if let Some(f) = family {
        cpu.family = Some(num("cpu family", &f)?);
    }
    // POWER's `model` is free text; only x86 models are numbers.
    cpu.model = model.and_then(|m| m.parse().ok());
    cpu.model_name = name;
    cpu.arch = arch;
    Ok((cpu, hypervisor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_become_lists() {
        assert_eq!(
            kernel_mask_to_list("00000000,0000ffff").as_deref(),
            Some("0-15")
        );
        assert_eq!(
            kernel_mask_to_list("00000005,00000001").as_deref(),
            Some("0,32,34")
        );
        assert_eq!(kernel_mask_to_list("xyz"), None);
    }

    #[test]
    fn config_sizes() {
        let mut cfg = vec![0u8; 64];
        cfg[0x06] = 0x10;
        let i = parse_config(&cfg).unwrap();
        assert_eq!(i.acs, Acs::Unknown);
        assert_eq!(i.port_type, None);
        assert!(parse_config(&cfg[..63]).is_none());
        assert!(parse_config(&[0u8; 100]).is_none());
        cfg[0x06] = 0;
        assert_eq!(parse_config(&cfg).unwrap().acs, Acs::Absent);
    }
}
