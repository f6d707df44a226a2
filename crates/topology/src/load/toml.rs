//! The project's own machine description in TOML: everything a [`Machine`] holds, written by
//! [`to_toml`](super::to_toml) and read back to the same machine, and short enough to write by
//! hand. The format is documented, with a complete example, in `docs/machine-format.md`.
//!
//! ```toml
//! [[function]]
//! bdf = "0000:00:01.0"            # on the root bus of pci0000:00 (found by its bus)
//! class = 0x060400
//! bus_range = [1, 1]
//!
//! [[function]]
//! bdf = "0000:01:00.0"            # below the bridge whose secondary bus is 01
//! id = "10de:20b2"
//! link = "16 GT/s x16"
//! ```
//!
//! Unknown keys are errors (a misspelt key is never silently ignored); every error names the
//! file, line and column.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use ::toml::{Spanned, Value};
use dmabuf_negotiate::{Bandwidth, Latency, Trust};
use serde::Deserialize;

use super::{LoadError, MAX_HOST_BRIDGES, line_column, quote, read_text};
use crate::limits::MAX_BRIDGE_DEPTH;
use crate::machine::{
    CpuArch, CpuInfo, CpuVendor, Function, FunctionId, HostBridge, HostBridgeId, LinkEnd, LinkKind,
    Machine, MachineBuilder, PrivateFabric, PrivateLink, Upstream,
};
use crate::pci::{Acs, Bar, Bdf, ClassCode, LinkSpeed, LinkStatus, P2pMem, PortType};
use crate::whitelist::{Whitelist, WhitelistEntry};

/// The format version [`to_toml`](super::to_toml) writes and this loader reads.
pub const FORMAT_VERSION: i64 = 1;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileT {
    format: Option<Spanned<i64>>,
    #[serde(default)]
    switches_collapsed: bool,
    #[serde(default)]
    iommu_groups_known: bool,
    #[serde(default)]
    guest: Vec<String>,
    cpu: Option<CpuT>,
    whitelist: Option<WhitelistT>,
    #[serde(default)]
    host_bridge: Vec<HostBridgeT>,
    #[serde(default)]
    function: Vec<FunctionT>,
    #[serde(default)]
    fabric: Vec<FabricT>,
    #[serde(default)]
    link: Vec<LinkT>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CpuT {
    arch: Option<String>,
    vendor: Option<String>,
    family: Option<u32>,
    model: Option<u32>,
    model_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WhitelistT {
    release: String,
    #[serde(default)]
    entries: Vec<EntryT>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryT {
    vendor: u16,
    device: Option<u16>,
    #[serde(default)]
    same_host_bridge: bool,
    #[serde(default)]
    note: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HostBridgeT {
    name: Spanned<String>,
    numa_node: Option<u32>,
    root_bus_complete: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FunctionT {
    bdf: Spanned<String>,
    parent: Option<Spanned<String>>,
    listed: Option<bool>,
    id: Option<Spanned<String>>,
    vendor: Option<u16>,
    device: Option<u16>,
    subsystem: Option<Spanned<String>>,
    subsystem_vendor: Option<u16>,
    subsystem_device: Option<u16>,
    revision: Option<u8>,
    class: Option<Spanned<u32>>,
    header_type: Option<u8>,
    bus_range: Option<[u8; 2]>,
    port_type: Option<Spanned<Value>>,
    pcie: Option<bool>,
    acs: Option<Spanned<Value>>,
    physfn: Option<Spanned<String>>,
    sriov_numvfs: Option<u32>,
    iommu_group: Option<u32>,
    iommu_domain: Option<String>,
    numa_node: Option<u32>,
    local_cpus: Option<String>,
    link: Option<Spanned<Value>>,
    max_link: Option<Spanned<Value>>,
    link_bandwidth: Option<Spanned<Value>>,
    p2pmem: Option<P2pMemT>,
    driver: Option<String>,
    trust: Option<Spanned<String>>,
    #[serde(default)]
    bars: Vec<BarT>,
    #[serde(default)]
    os_devices: Vec<String>,
    #[serde(default)]
    fabric_switch: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct P2pMemT {
    size: Spanned<Value>,
    available: Option<Spanned<Value>>,
    published: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BarT {
    index: u8,
    start: Spanned<Value>,
    end: Spanned<Value>,
    flags: Spanned<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FabricT {
    name: Spanned<String>,
    kind: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkT {
    fabric: Spanned<Value>,
    a: Spanned<String>,
    b: Spanned<String>,
    count: Option<u16>,
    bandwidth: Option<Spanned<Value>>,
    nccl_bandwidth: Option<Spanned<Value>>,
    latency_ns: Option<u32>,
    up: Option<bool>,
}

/// Loads a machine description file.
pub fn load_toml(path: impl AsRef<Path>) -> Result<Machine, LoadError> {
    let path = path.as_ref();
    let text = read_text(path)?;
    parse_toml(&path.display().to_string(), &text)
}

/// Reads a machine description from a string; `name` names it in errors.
pub fn parse_toml(name: &str, text: &str) -> Result<Machine, LoadError> {
    let file: FileT = ::toml::from_str(text).map_err(|e| {
        let at = e.span().map_or(0, |s| s.start);
        let (line, column) = line_column(text, at);
        let message = e.message().trim();
        // An integer beyond TOML's 64 bits reaches us as an `i128` the field does not take.
        let message = match message.split_once(" as i128, expected ") {
            // A field that takes strings for values above 2^63 - 1 (addresses, sizes).
            Some((_, "any valid TOML value")) => "expected an integer TOML can hold (-2^63 to \
                2^63 - 1; values of up to 64 bits above that are written as strings \"0x...\", \
                see docs/machine-format.md), found a larger one"
                .to_owned(),
            Some((_, expected)) => format!(
                "expected {expected}, found an integer beyond TOML's range (-2^63 to 2^63 - 1)"
            ),
            None => message.to_owned(),
        };
        LoadError::Parse {
            path: name.to_owned(),
            line,
            column,
            message,
        }
    })?;
    let m = Reader { name, text }.machine(file)?;
    super::require_pci(
        m,
        name,
        "the description has no [[function]] (docs/machine-format.md)",
    )
}

/// Where errors are reported.
#[derive(Clone, Copy)]
struct Reader<'a> {
    name: &'a str,
    text: &'a str,
}

/// Where a function is placed, before indices are known.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Parent {
    HostBridge((u32, u8)),
    Function(usize),
}

impl Reader<'_> {
    fn error(&self, span: Range<usize>, expected: impl Into<String>) -> LoadError {
        let (line, column) = line_column(self.text, span.start);
        let found = self
            .text
            .get(span)
            .map_or_else(|| "nothing".to_owned(), |t| quote(t.as_bytes()));
        LoadError::MalformedAt {
            path: self.name.to_owned(),
            line,
            column,
            expected: expected.into(),
            found,
        }
    }

    fn too_deep(&self, bdf: &Spanned<String>) -> LoadError {
        self.error(
            bdf.span(),
            format!("a function at most {MAX_BRIDGE_DEPTH} bridges below its root bus"),
        )
    }

    fn bdf(&self, s: &Spanned<String>) -> Result<Bdf, LoadError> {
        s.get_ref()
            .trim()
            .parse()
            .map_err(|_| self.error(s.span(), "a PCI address DDDD:BB:DD.F, e.g. 0000:03:00.0"))
    }

    fn machine(&self, file: FileT) -> Result<Machine, LoadError> {
        if let Some(v) = &file.format {
            if *v.get_ref() != FORMAT_VERSION {
                return Err(self.error(v.span(), format!("format = {FORMAT_VERSION}")));
            }
        }
        let mut b = MachineBuilder::new();
        b.switches_collapsed(file.switches_collapsed);
        b.iommu_groups_known(file.iommu_groups_known);
        b.guest(file.guest.clone());
        if let Some(c) = file.cpu {
            b.cpu(CpuInfo {
                arch: c.arch.as_deref().map(CpuArch::from_name),
                vendor: c.vendor.as_deref().map_or(CpuVendor::Unknown, vendor_of),
                family: c.family,
                model: c.model,
                model_name: c.model_name,
            });
        }
        if let Some(w) = file.whitelist {
            b.whitelist(whitelist_of(w));
        }
        // Host bridges: the declared ones in order, then those functions name or imply.
        let mut hbs: HashMap<(u32, u8), HostBridgeId> = HashMap::new();
        for h in &file.host_bridge {
            let key = HostBridge::parse_sysfs_name(h.name.get_ref())
                .ok_or_else(|| self.error(h.name.span(), "a host bridge name pciDDDD:BB"))?;
            if hbs.contains_key(&key) {
                return Err(self.error(h.name.span(), "each host bridge once"));
            }
            if hbs.len() >= MAX_HOST_BRIDGES {
                return Err(self.error(
                    h.name.span(),
                    format!("at most {MAX_HOST_BRIDGES} host bridges"),
                ));
            }
            let mut hb = HostBridge::new(key.0, key.1);
            hb.numa_node = h.numa_node;
            hb.root_bus_complete = h.root_bus_complete.unwrap_or(true);
            hbs.insert(key, b.host_bridge(hb));
        }
        // Functions: addresses first, so that parents and physfns may refer forward.
        let mut index: HashMap<Bdf, usize> = HashMap::new();
        let mut bdfs = Vec::with_capacity(file.function.len());
        for (i, f) in file.function.iter().enumerate() {
            let bdf = self.bdf(&f.bdf)?;
            if index.insert(bdf, i).is_some() {
                return Err(self.error(f.bdf.span(), format!("each function once ({bdf} again)")));
            }
            bdfs.push(bdf);
        }
        let by_secondary: HashMap<(u32, u8), usize> = file
            .function
            .iter()
            .zip(&bdfs)
            .enumerate()
            .filter_map(|(i, (f, bdf))| {
                let [sec, _] = f.bus_range?;
                (sec != bdf.bus).then_some(((bdf.domain, sec), i))
            })
            .collect();
        let mut parents = Vec::with_capacity(bdfs.len());
        for (i, (f, bdf)) in file.function.iter().zip(&bdfs).enumerate() {
            let p = match &f.parent {
                Some(p) => {
                    let t = p.get_ref().trim();
                    if let Some(key) = HostBridge::parse_sysfs_name(t) {
                        Parent::HostBridge(key)
                    } else {
                        let pb: Bdf = t.parse().map_err(|_| {
                            self.error(
                                p.span(),
                                "a host bridge pciDDDD:BB or a bridge's address DDDD:BB:DD.F",
                            )
                        })?;
                        match index.get(&pb) {
                            Some(&j) if j != i => Parent::Function(j),
                            Some(_) => {
                                return Err(self.error(p.span(), "another function than itself"));
                            }
                            None => {
                                return Err(self.error(
                                    p.span(),
                                    format!("a function of this file ({pb} is not one)"),
                                ));
                            }
                        }
                    }
                }
                None => match by_secondary.get(&(bdf.domain, bdf.bus)) {
                    Some(&j) if j != i => Parent::Function(j),
                    _ => Parent::HostBridge((bdf.domain, bdf.bus)),
                },
            };
            parents.push(p);
        }
        // Add each function after its parent chain, in file order otherwise.
        let mut ids: Vec<Option<FunctionId>> = vec![None; bdfs.len()];
        // Bridges above each function added.
        let mut depths: Vec<usize> = vec![0; bdfs.len()];
        for start in 0..bdfs.len() {
            let mut stack = vec![start];
            while let Some(&top) = stack.last() {
                if ids[top].is_some() {
                    stack.pop();
                    continue;
                }
                let up = match parents[top] {
                    Parent::Function(j) => {
                        match ids[j] {
                            Some(id) => Upstream::Bridge(id),
                            None => {
                                if stack.contains(&j) {
                                    let span = file.function[top].parent.as_ref().map_or_else(
                                        || file.function[top].bdf.span(),
                                        |p| p.span(),
                                    );
                                    return Err(self.error(span, "bridges that form a tree (this parent is below the function)"));
                                }
                                if stack.len() > MAX_BRIDGE_DEPTH {
                                    return Err(self.too_deep(&file.function[start].bdf));
                                }
                                stack.push(j);
                                continue;
                            }
                        }
                    }
                    Parent::HostBridge(key) => Upstream::HostBridge(match hbs.get(&key) {
                        Some(&h) => h,
                        None if hbs.len() >= MAX_HOST_BRIDGES => {
                            return Err(self.error(
                                file.function[top].bdf.span(),
                                format!(
                                    "at most {MAX_HOST_BRIDGES} host bridges (declared or \
                                     implied by buses)"
                                ),
                            ));
                        }
                        None => {
                            let h = b.host_bridge(HostBridge::new(key.0, key.1));
                            hbs.insert(key, h);
                            h
                        }
                    }),
                };
                depths[top] = match parents[top] {
                    Parent::Function(j) => depths[j] + 1,
                    Parent::HostBridge(_) => 0,
                };
                if depths[top] > MAX_BRIDGE_DEPTH {
                    return Err(self.too_deep(&file.function[top].bdf));
                }
                let f = self.function(&file.function[top], bdfs[top], up)?;
                ids[top] = Some(b.function(f));
                stack.pop();
            }
        }
        // Physical functions.
        for (i, f) in file.function.iter().enumerate() {
            let Some(pf) = &f.physfn else { continue };
            let pb = self.bdf(pf)?;
            let j = *index.get(&pb).ok_or_else(|| {
                self.error(
                    pf.span(),
                    format!("a function of this file ({pb} is not one)"),
                )
            })?;
            if j == i || file.function[j].physfn.is_some() {
                return Err(self.error(
                    pf.span(),
                    "a physical function (not the function itself, not a virtual function)",
                ));
            }
            if let (Some(id), Some(target)) = (ids[i], ids[j]) {
                if let Some(func) = b.function_mut(id) {
                    func.physfn = Some(target);
                }
            }
        }
        // Fabrics and links.
        // Names are for people: two fabrics may share one, and links then name them by index.
        let mut fabrics: HashMap<String, Option<dmabuf_negotiate::FabricId>> = HashMap::new();
        for fab in &file.fabric {
            let name = fab.name.get_ref().clone();
            let id = b.fabric(PrivateFabric {
                name: name.clone(),
                kind: kind_of(&fab.kind),
            });
            fabrics
                .entry(name)
                .and_modify(|e| *e = None)
                .or_insert(Some(id));
        }
        let by_bdf: HashMap<Bdf, FunctionId> = bdfs
            .iter()
            .zip(&ids)
            .filter_map(|(b, id)| Some((*b, (*id)?)))
            .collect();
        for l in &file.link {
            let expected = "the name of a [[fabric]] of this file (its index from 0 when \
                            several share the name)";
            let fabric = match l.fabric.get_ref() {
                Value::String(n) => fabrics.get(n).copied().flatten(),
                Value::Integer(i) => u32::try_from(*i)
                    .ok()
                    .filter(|&i| (i as usize) < file.fabric.len())
                    .map(dmabuf_negotiate::FabricId),
                _ => None,
            }
            .ok_or_else(|| self.error(l.fabric.span(), expected))?;
            let end = |e: &Spanned<String>| -> Result<LinkEnd, LoadError> {
                let t = e.get_ref().trim();
                if t == "cpu" {
                    return Ok(LinkEnd::Cpu { numa_node: None });
                }
                if let Some(n) = t.strip_prefix("cpu:") {
                    return n
                        .parse()
                        .map(|n| LinkEnd::Cpu { numa_node: Some(n) })
                        .map_err(|_| self.error(e.span(), "cpu:N with N a NUMA node number"));
                }
                let bdf: Bdf = t.parse().map_err(|_| {
                    self.error(
                        e.span(),
                        "a function's address DDDD:BB:DD.F, cpu, or cpu:N (NUMA node N)",
                    )
                })?;
                by_bdf
                    .get(&bdf)
                    .map(|&f| LinkEnd::Function(f))
                    .ok_or_else(|| {
                        self.error(
                            e.span(),
                            format!("a function of this file ({bdf} is not one)"),
                        )
                    })
            };
            let bandwidth = match &l.bandwidth {
                Some(v) => Some(self.bandwidth(v)?),
                None => None,
            };
            b.link(PrivateLink {
                fabric,
                a: end(&l.a)?,
                b: end(&l.b)?,
                bandwidth,
                latency: l.latency_ns.map(Latency),
                nccl_bandwidth: match &l.nccl_bandwidth {
                    Some(v) => Some(self.bandwidth(v)?),
                    None => None,
                },
                count: l.count.unwrap_or(1),
                up: l.up.unwrap_or(true),
            });
        }
        b.build().map_err(|e| LoadError::Build {
            path: self.name.to_owned(),
            source: e,
        })
    }

    fn function(&self, t: &FunctionT, bdf: Bdf, up: Upstream) -> Result<Function, LoadError> {
        let mut f = Function::new(bdf, up);
        f.listed = t.listed.unwrap_or(true);
        let pair = |s: &Spanned<String>| -> Result<(u16, u16), LoadError> {
            let (a, b) = s
                .get_ref()
                .trim()
                .split_once(':')
                .ok_or_else(|| self.error(s.span(), "vvvv:dddd, two 16-bit hex IDs"))?;
            let h = |x: &str| {
                (x.len() == 4)
                    .then(|| u16::from_str_radix(x, 16).ok())
                    .flatten()
                    .ok_or_else(|| self.error(s.span(), "vvvv:dddd, two 16-bit hex IDs"))
            };
            Ok((h(a)?, h(b)?))
        };
        let both = |short: &Option<Spanned<String>>,
                    a: Option<u16>,
                    b: Option<u16>,
                    keys: &str|
         -> Result<(Option<u16>, Option<u16>), LoadError> {
            match short {
                Some(s) if a.is_some() || b.is_some() => {
                    Err(self.error(s.span(), format!("either this or {keys}, not both")))
                }
                Some(s) => pair(s).map(|(x, y)| (Some(x), Some(y))),
                None => Ok((a, b)),
            }
        };
        (f.vendor, f.device) = both(&t.id, t.vendor, t.device, "vendor and device")?;
        (f.subsystem_vendor, f.subsystem_device) = both(
            &t.subsystem,
            t.subsystem_vendor,
            t.subsystem_device,
            "subsystem_vendor and subsystem_device",
        )?;
        f.revision = t.revision;
        if let Some(c) = &t.class {
            if *c.get_ref() > 0xff_ffff {
                return Err(self.error(c.span(), "a 24-bit class code such as 0x030200"));
            }
            f.class = Some(ClassCode(*c.get_ref()));
        }
        f.header_type = t.header_type;
        f.bus_range = t.bus_range.map(|[a, b]| (a, b));
        if let Some(p) = &t.port_type {
            f.port_type = Some(self.port_type(p)?);
        }
        f.is_pcie = t.pcie;
        if let Some(a) = &t.acs {
            f.acs = self.acs(a)?;
        }
        f.sriov_numvfs = t.sriov_numvfs;
        f.iommu_group = t.iommu_group;
        f.iommu_domain = t
            .iommu_domain
            .as_deref()
            .map(crate::IommuDomain::from_sysfs);
        f.numa_node = t.numa_node;
        f.local_cpulist.clone_from(&t.local_cpus);
        if let Some(l) = &t.link {
            f.current_link = self.link(l)?;
        }
        if let Some(l) = &t.max_link {
            f.max_link = self.link(l)?;
        }
        if let Some(bw) = &t.link_bandwidth {
            f.link_bandwidth = Some(self.bandwidth(bw)?);
        }
        if let Some(p) = &t.p2pmem {
            f.p2pmem = Some(P2pMem {
                size: self.u64(&p.size)?,
                available: match &p.available {
                    Some(a) => Some(self.u64(a)?),
                    None => None,
                },
                published: p.published,
            });
        }
        f.driver.clone_from(&t.driver);
        if let Some(trust) = &t.trust {
            f.trust = Some(self.trust(trust)?);
        }
        for bar in &t.bars {
            f.bars.push(Bar {
                index: bar.index,
                start: self.u64(&bar.start)?,
                end: self.u64(&bar.end)?,
                flags: self.u64(&bar.flags)?,
            });
        }
        f.os_devices.clone_from(&t.os_devices);
        f.fabric_switch = t.fabric_switch;
        Ok(f)
    }

    fn trust(&self, v: &Spanned<String>) -> Result<Trust, LoadError> {
        match v.get_ref().as_str() {
            "untrusted" => Ok(Trust::Untrusted),
            "iommufd" => Ok(Trust::Iommufd),
            "kvm" => Ok(Trust::Kvm),
            "vfio" => Ok(Trust::Vfio),
            _ => Err(self.error(
                v.span(),
                "a trust: \"untrusted\", \"iommufd\", \"kvm\" or \"vfio\"",
            )),
        }
    }

    fn port_type(&self, v: &Spanned<Value>) -> Result<PortType, LoadError> {
        let expected = "a port type (endpoint, legacy-endpoint, root-port, switch-upstream, \
                        switch-downstream, pcie-to-pci-bridge, pci-to-pcie-bridge, \
                        rc-integrated-endpoint, rc-event-collector) or its 4-bit field value";
        match v.get_ref() {
            Value::String(s) => PORT_TYPES
                .iter()
                .find(|(n, _)| n == s)
                .map(|(_, t)| *t)
                .ok_or_else(|| self.error(v.span(), expected)),
            Value::Integer(i) => u8::try_from(*i)
                .ok()
                .filter(|&i| i <= 15)
                .map(PortType::from_field)
                .ok_or_else(|| self.error(v.span(), expected)),
            _ => Err(self.error(v.span(), expected)),
        }
    }

    fn acs(&self, v: &Spanned<Value>) -> Result<Acs, LoadError> {
        let expected =
            "\"unknown\", \"absent\", or the ACS Control register as an integer (0x001d)";
        match v.get_ref() {
            Value::String(s) if s == "unknown" => Ok(Acs::Unknown),
            Value::String(s) if s == "absent" => Ok(Acs::Absent),
            Value::Integer(i) => u16::try_from(*i)
                .map(|control| Acs::Present { control })
                .map_err(|_| self.error(v.span(), expected)),
            _ => Err(self.error(v.span(), expected)),
        }
    }

    fn link(&self, v: &Spanned<Value>) -> Result<LinkStatus, LoadError> {
        let expected = "a link such as \"16 GT/s x16\", \"8 GT/s\", \"x4\", or \
                        { speed = \"16 GT/s\", width = 16 }";
        let speed = |s: &str| -> Result<Option<LinkSpeed>, LoadError> {
            LinkSpeed::parse_sysfs(s).map_err(|_| self.error(v.span(), expected))
        };
        match v.get_ref() {
            Value::String(s) => {
                let mut width = None;
                let mut rest = Vec::new();
                for tok in s.split_whitespace() {
                    match tok.strip_prefix('x') {
                        Some("?") => {}
                        Some(w) if !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit()) => {
                            width = Some(
                                w.parse::<u8>()
                                    .map_err(|_| self.error(v.span(), expected))?,
                            );
                        }
                        _ => rest.push(tok),
                    }
                }
                Ok(LinkStatus {
                    speed: speed(&rest.join(" "))?,
                    width,
                })
            }
            Value::Table(t) => {
                if t.keys().any(|k| k != "speed" && k != "width") {
                    return Err(self.error(v.span(), expected));
                }
                let speed = match t.get("speed") {
                    Some(Value::String(s)) => speed(s)?,
                    Some(_) => return Err(self.error(v.span(), expected)),
                    None => None,
                };
                let width = match t.get("width") {
                    Some(Value::Integer(w)) => {
                        Some(u8::try_from(*w).map_err(|_| self.error(v.span(), expected))?)
                    }
                    Some(_) => return Err(self.error(v.span(), expected)),
                    None => None,
                };
                Ok(LinkStatus { speed, width })
            }
            _ => Err(self.error(v.span(), expected)),
        }
    }

    /// MB/s as an integer, or a string with a unit: `"20.6 GB/s"`, `"900 MB/s"`.
    fn bandwidth(&self, v: &Spanned<Value>) -> Result<Bandwidth, LoadError> {
        let expected = "a bandwidth in MB/s (an integer) or a string such as \"20.6 GB/s\"";
        match v.get_ref() {
            Value::Integer(i) => u32::try_from(*i)
                .map(Bandwidth)
                .map_err(|_| self.error(v.span(), expected)),
            Value::String(s) => parse_bandwidth(s).ok_or_else(|| self.error(v.span(), expected)),
            _ => Err(self.error(v.span(), expected)),
        }
    }

    /// A 64-bit unsigned value: an integer, or a string `"0x..."` for values above 2^63 - 1.
    fn u64(&self, v: &Spanned<Value>) -> Result<u64, LoadError> {
        let expected = "an unsigned integer, or a string \"0x...\" for values above 2^63";
        match v.get_ref() {
            Value::Integer(i) => u64::try_from(*i).map_err(|_| self.error(v.span(), expected)),
            Value::String(s) => {
                let d = s.trim();
                let parsed = match d.strip_prefix("0x").or_else(|| d.strip_prefix("0X")) {
                    Some(h) => u64::from_str_radix(h, 16).ok(),
                    None => d.parse().ok(),
                };
                parsed.ok_or_else(|| self.error(v.span(), expected))
            }
            _ => Err(self.error(v.span(), expected)),
        }
    }
}

/// Port types by their names in the file.
pub(crate) const PORT_TYPES: [(&str, PortType); 9] = [
    ("endpoint", PortType::Endpoint),
    ("legacy-endpoint", PortType::LegacyEndpoint),
    ("root-port", PortType::RootPort),
    ("switch-upstream", PortType::SwitchUpstream),
    ("switch-downstream", PortType::SwitchDownstream),
    ("pcie-to-pci-bridge", PortType::PcieToPciBridge),
    ("pci-to-pcie-bridge", PortType::PciToPcieBridge),
    ("rc-integrated-endpoint", PortType::RcIntegratedEndpoint),
    ("rc-event-collector", PortType::RcEventCollector),
];

fn parse_bandwidth(s: &str) -> Option<Bandwidth> {
    let t = s.trim();
    let (num, unit) = t.split_once(char::is_whitespace)?;
    let scale: u64 = match unit.trim() {
        "MB/s" => 1,
        "GB/s" => 1000,
        "TB/s" => 1_000_000,
        _ => return None,
    };
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if int.is_empty()
        || int.len() > 9
        || frac.len() > 6
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let mut v = int.parse::<u64>().ok()?.checked_mul(scale)?;
    let mut place = scale;
    for d in frac.bytes() {
        place /= 10;
        v = v.checked_add(u64::from(d - b'0') * place)?;
    }
    u32::try_from(v).ok().map(Bandwidth)
}

/// A vendor as `/proc/cpuinfo` spells it, or `intel`, `amd`, `hygon`.
fn vendor_of(s: &str) -> CpuVendor {
    match s.trim().to_ascii_lowercase().as_str() {
        "intel" => CpuVendor::Intel,
        "amd" => CpuVendor::Amd,
        "hygon" => CpuVendor::Hygon,
        _ => CpuVendor::from_vendor_id(s),
    }
}

/// `nvlink`, `xgmi`, or any other name.
pub(crate) fn kind_of(s: &str) -> LinkKind {
    match s.trim().to_ascii_lowercase().as_str() {
        "nvlink" => LinkKind::NvLink,
        "xgmi" => LinkKind::Xgmi,
        _ => LinkKind::Other(s.to_owned()),
    }
}

fn whitelist_of(w: WhitelistT) -> Whitelist {
    Whitelist {
        release: w.release.into(),
        entries: w
            .entries
            .into_iter()
            .map(|e| WhitelistEntry {
                vendor: e.vendor,
                device: e.device,
                requires_same_host_bridge: e.same_host_bridge,
                note: e.note.into(),
            })
            .collect::<Vec<_>>()
            .into(),
    }
}
