//! The simulation file as written (docs/simulation-format.md), and every check that does not
//! need the machine: keys that apply to each kind of placement, names that are unique and
//! exist, events with exactly one action, expectations in the documented vocabulary. Every
//! error names the file, line and column.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::error::CliError;
use crate::offers::{INTERCONNECTS, RawOffer, Side, check_shape, closest};
use crate::scenario_file::{NamedMachine, RawMachine, ScenarioFile};

/// Where the format is documented, for error notes.
pub const DOC: &str = "the simulation format is described in docs/simulation-format.md";

/// The file as written.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawSimulation {
    /// The description, printed with the result.
    pub description: Option<String>,
    /// The `[machine]` section.
    pub machine: Option<Spanned<RawMachine>>,
    /// The `[buffer]` section (required).
    pub buffer: Option<Spanned<RawBuffer>>,
    /// The `[[placement]]` tables, most preferred first.
    #[serde(default)]
    pub placement: Vec<Spanned<RawPlacement>>,
    /// The `[[importer]]` tables.
    #[serde(default)]
    pub importer: Vec<Spanned<RawImporter>>,
    /// The `[[event]]` tables, in order.
    #[serde(default)]
    pub event: Vec<Spanned<RawEvent>>,
}

/// `[buffer]`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawBuffer {
    /// Bytes.
    pub size: Spanned<u64>,
    /// The exporting device.
    pub exporter: Spanned<String>,
    /// Whether the exporter may move the buffer (default true).
    pub migratable: Option<bool>,
    /// Whether the exporter may revoke (default false).
    pub revocable: Option<bool>,
    /// `best-route` or `exporter-priority`.
    pub policy: Option<Spanned<String>>,
    /// The placement the buffer starts in (default: the first).
    pub start: Option<Spanned<String>>,
}

/// One `[[placement]]`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawPlacement {
    /// Its name, for `move` and expectations.
    pub name: Spanned<String>,
    /// `vram`, `system` or `bar`.
    pub memory: Spanned<String>,
    /// The author's label.
    pub label: Option<String>,
    /// The device whose memory it is (`vram`, `bar`).
    pub device: Option<Spanned<String>>,
    /// VRAM instance (`vram`).
    pub instance: Option<Spanned<u16>>,
    /// Offset in the VRAM or the BAR.
    pub offset: Option<Spanned<u64>>,
    /// NUMA node (`system`).
    pub numa_node: Option<Spanned<u16>>,
    /// Physical address (`system`).
    pub phys: Option<Spanned<u64>>,
    /// BAR index (`bar`).
    pub bar: Option<Spanned<u8>>,
    /// Slice length (`bar`; default: the buffer's size).
    pub len: Option<Spanned<u64>>,
    /// The window onto the CPU and the bus (`vram`, `bar`).
    pub aperture: Option<Spanned<RawAperture>>,
    /// Private-fabric windows (`vram`).
    pub fabrics: Option<Spanned<Vec<Spanned<RawFabricWindow>>>>,
    /// What the exporter offers there, in its order (default: the core's).
    pub offers: Option<Spanned<Vec<Spanned<String>>>>,
}

/// A placement's window onto the CPU and the PCI bus.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawAperture {
    /// The BAR exposing the VRAM.
    pub bar: Option<Spanned<u8>>,
    /// CPU physical address of the BAR.
    pub cpu: Option<Spanned<u64>>,
    /// PCI bus address of the BAR (default: `cpu`).
    pub bus: Option<Spanned<u64>>,
    /// Bytes visible.
    pub len: Option<Spanned<u64>>,
}

/// Where VRAM appears on a private fabric.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawFabricWindow {
    /// The fabric, by name or technology.
    pub fabric: Spanned<String>,
    /// IOVA of VRAM offset 0.
    pub iova: Spanned<u64>,
    /// Bytes exposed.
    pub len: Spanned<u64>,
}

/// One `[[importer]]`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawImporter {
    /// Its name, for events and expectations.
    pub name: Spanned<String>,
    /// The author's label.
    pub label: Option<String>,
    /// `dynamic` (default) or `static`.
    pub mode: Option<Spanned<String>>,
    /// Whether a static importer can give its mappings back.
    pub revocable: Option<Spanned<bool>>,
    /// Its offers, in its order.
    #[serde(default)]
    pub offer: Vec<Spanned<RawOffer>>,
}

/// One `[[event]]`: exactly one action, an optional note, optional expectations.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawEvent {
    /// An importer attaches.
    pub attach: Option<Spanned<String>>,
    /// An importer detaches.
    pub detach: Option<Spanned<String>>,
    /// An importer maps.
    pub map: Option<Spanned<String>>,
    /// An importer gives its mapping back.
    pub unmap: Option<Spanned<String>>,
    /// An importer pins.
    pub pin: Option<Spanned<String>>,
    /// An importer unpins.
    pub unpin: Option<Spanned<String>>,
    /// An importer uses its mapping.
    pub access: Option<Spanned<String>>,
    /// The exporter moves the buffer to a placement.
    #[serde(rename = "move")]
    pub move_to: Option<Spanned<String>>,
    /// The exporter revokes (`true`).
    pub revoke: Option<Spanned<bool>>,
    /// Links of a fabric go down.
    pub link_down: Option<Spanned<String>>,
    /// Links of a fabric come up.
    pub link_up: Option<Spanned<String>>,
    /// Which links: those touching one device, or joining two.
    pub between: Option<Spanned<Vec<Spanned<String>>>>,
    /// A device is reset.
    pub device_reset: Option<Spanned<String>>,
    /// The author's note.
    pub note: Option<String>,
    /// What must hold afterwards.
    pub expect: Option<Spanned<RawExpect>>,
}

/// What must hold after an event.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawExpect {
    /// `ok` or `refused`.
    pub outcome: Option<Spanned<String>>,
    /// A reason code, or `none`.
    pub reason: Option<Spanned<String>>,
    /// The placement, by name.
    pub placement: Option<Spanned<String>>,
    /// The buffer's generation.
    pub generation: Option<Spanned<u64>>,
    /// Whether the buffer is revoked.
    pub revoked: Option<Spanned<bool>>,
    /// Whether anything pins the buffer.
    pub pinned: Option<Spanned<bool>>,
    /// Per importer.
    #[serde(default)]
    pub importer: Vec<Spanned<RawExpectImporter>>,
}

/// What must hold of one importer after an event.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawExpectImporter {
    /// The importer.
    pub name: Spanned<String>,
    /// Whether it is attached.
    pub attached: Option<Spanned<bool>>,
    /// `current`, `outdated`, `lost` or `none`.
    pub agreement: Option<Spanned<String>>,
    /// The interconnect of its (latest) agreement.
    pub interconnect: Option<Spanned<String>>,
    /// The route kind of its (latest) agreement.
    pub route: Option<Spanned<String>>,
    /// `valid`, `stale`, `revoked` or `none`.
    pub mapping: Option<Spanned<String>>,
    /// The generation its mapping was issued in.
    pub generation: Option<Spanned<u64>>,
    /// Its explicit pins.
    pub pins: Option<Spanned<u32>>,
}

/// The kinds of memory a placement may be in.
pub const MEMORY: [&str; 3] = ["vram", "system", "bar"];
/// What an exporter may offer at a placement (`private-iova`: on every fabric window).
pub const OFFERINGS: [&str; 5] = ["vram", "private-iova", "dma-addr", "pci-bar", "phys"];
/// Importer modes.
pub const MODES: [&str; 2] = ["dynamic", "static"];
/// The outcome of an event.
pub const OUTCOMES: [&str; 2] = ["ok", "refused"];
/// The state of an importer's agreement.
pub const AGREEMENTS: [&str; 4] = ["current", "outdated", "lost", "none"];
/// The state of an importer's mapping.
pub const MAPPINGS: [&str; 4] = ["valid", "stale", "revoked", "none"];
/// Route kinds (as in the JSON output).
pub const ROUTES: [&str; 6] = [
    "same-device",
    "private-link",
    "pci-bus-addr",
    "pci-thru-host-bridge",
    "system-memory",
    "cpu-thru-host-bridge",
];
/// Why an event was refused (as in the JSON output's `reason.code`), or `none`.
pub const REASONS: [&str; 26] = [
    "none",
    "invalid-policy",
    "driver-arguments",
    "too-many-offers",
    "revoked",
    "importer-not-revocable",
    "unreachable",
    "already-mapped",
    "unknown-mapping",
    "not-pinned",
    "lost",
    "pinned",
    "migration-not-allowed",
    "unknown-placement",
    "already-there",
    "move-blocked",
    "renegotiation-failed",
    "address",
    "exporter-not-revocable",
    "already-revoked",
    "exhausted",
    "not-attached",
    "already-attached",
    "not-mapped",
    "stale",
    "unmapped",
];

/// The action keys of an event, in the order the documentation lists them.
pub const ACTIONS: [&str; 12] = [
    "attach",
    "detach",
    "map",
    "unmap",
    "pin",
    "unpin",
    "access",
    "move",
    "revoke",
    "link_down",
    "link_up",
    "device_reset",
];

/// A parsed and checked simulation file, not yet bound to a machine.
#[derive(Debug)]
pub struct Simulation {
    /// The file.
    pub path: PathBuf,
    /// Its description.
    pub description: Option<String>,
    /// The machine it names; `None`: the live machine.
    pub machine: Option<NamedMachine>,
    pub(crate) file: ScenarioFile,
    pub(crate) raw: RawSimulation,
}

/// `value` if it is one of `allowed`, else a positioned error naming them (and the closest).
pub fn one_of(
    file: &ScenarioFile,
    value: &Spanned<String>,
    what: &str,
    allowed: &[&'static str],
) -> Result<&'static str, CliError> {
    let v = value.get_ref().as_str();
    if let Some(found) = allowed.iter().copied().find(|a| *a == v) {
        return Ok(found);
    }
    let hint = closest(v, allowed).map_or_else(String::new, |c| format!(" (did you mean `{c}`?)"));
    Err(file.err(
        value.span(),
        format!(
            "unknown {what} `{v}`{hint}; expected one of {}",
            allowed.join(", ")
        ),
    ))
}

/// The names a file declares for one kind of thing (placements, importers), in order, with an
/// index: a name is found in O(1) however many there are.
#[derive(Clone, Debug, Default)]
pub struct Declared<'a> {
    names: Vec<&'a str>,
    index: HashMap<&'a str, usize>,
}

impl<'a> Declared<'a> {
    /// The names, in order (a name given twice keeps its first position).
    pub fn new(names: impl IntoIterator<Item = &'a str>) -> Self {
        let names: Vec<&str> = names.into_iter().collect();
        let mut index = HashMap::with_capacity(names.len());
        for (k, n) in names.iter().enumerate() {
            index.entry(*n).or_insert(k);
        }
        Self { names, index }
    }

    /// The position of `name`.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// A few of the names for a message: all of them, or the first ones and how many more.
    fn listed(&self) -> String {
        const SHOWN: usize = 8;
        match self.names.len() {
            0 => "none".to_owned(),
            n if n <= SHOWN => self.names.join(", "),
            n => format!("{}, ... ({n} in all)", self.names[..SHOWN].join(", ")),
        }
    }
}

/// The position of the name `value` among `names`, or a positioned error listing them.
pub fn named(
    file: &ScenarioFile,
    value: &Spanned<String>,
    what: &str,
    names: &Declared<'_>,
) -> Result<usize, CliError> {
    names.position(value.get_ref()).ok_or_else(|| {
        file.err(
            value.span(),
            format!(
                "no {what} `{}`; the file declares {}",
                value.get_ref(),
                names.listed()
            ),
        )
    })
}

/// Which keys a placement of each kind takes.
fn placement_keys(memory: &str) -> &'static [&'static str] {
    match memory {
        "vram" => &[
            "device", "instance", "offset", "aperture", "fabrics", "offers",
        ],
        "system" => &["numa_node", "phys", "offers"],
        _ => &["device", "bar", "offset", "len", "aperture", "offers"],
    }
}

fn check_placement(file: &ScenarioFile, p: &RawPlacement) -> Result<(), CliError> {
    let memory = one_of(file, &p.memory, "memory", &MEMORY)?;
    let allowed = placement_keys(memory);
    let given: [(&str, Option<Range<usize>>); 10] = [
        ("device", p.device.as_ref().map(Spanned::span)),
        ("instance", p.instance.as_ref().map(Spanned::span)),
        ("offset", p.offset.as_ref().map(Spanned::span)),
        ("numa_node", p.numa_node.as_ref().map(Spanned::span)),
        ("phys", p.phys.as_ref().map(Spanned::span)),
        ("bar", p.bar.as_ref().map(Spanned::span)),
        ("len", p.len.as_ref().map(Spanned::span)),
        ("aperture", p.aperture.as_ref().map(Spanned::span)),
        ("fabrics", p.fabrics.as_ref().map(Spanned::span)),
        ("offers", p.offers.as_ref().map(Spanned::span)),
    ];
    for (key, span) in given {
        if let Some(span) = span
            && !allowed.contains(&key)
        {
            return Err(file.err(
                span,
                format!(
                    "`{key}` does not apply to a `{memory}` placement (it takes: {})",
                    allowed.join(", ")
                ),
            ));
        }
    }
    let required: &[(&str, bool)] = match memory {
        "vram" => &[("device", p.device.is_some())],
        "system" => &[("phys", p.phys.is_some())],
        _ => &[("device", p.device.is_some()), ("bar", p.bar.is_some())],
    };
    for (key, present) in required {
        if !present {
            return Err(file.err(
                p.memory.span(),
                format!("a `{memory}` placement needs `{key}`"),
            ));
        }
    }
    if memory == "bar"
        && let Some(a) = &p.aperture
        && let Some(bar) = &a.get_ref().bar
    {
        return Err(file.err(
            bar.span(),
            "the aperture of a `bar` placement is that BAR's: give the BAR index as the \
             placement's `bar`",
        ));
    }
    if let Some(offers) = &p.offers {
        for o in offers.get_ref() {
            one_of(file, o, "offering", &OFFERINGS)?;
        }
    }
    Ok(())
}

fn check_importer(
    file: &ScenarioFile,
    i: &RawImporter,
    span: Range<usize>,
) -> Result<(), CliError> {
    let mode = match &i.mode {
        Some(m) => one_of(file, m, "importer mode", &MODES)?,
        None => "dynamic",
    };
    if mode == "dynamic"
        && let Some(r) = &i.revocable
        && !*r.get_ref()
    {
        return Err(file.err(
            r.span(),
            "a dynamic importer accepts invalidation, so it can always give its mappings back: \
             `revocable = false` applies to `mode = \"static\"` only",
        ));
    }
    if i.offer.is_empty() {
        return Err(file.err(
            span,
            format!(
                "importer `{}` lists no offer: give at least one [[importer.offer]]",
                i.name.get_ref()
            ),
        ));
    }
    for o in &i.offer {
        check_shape(Side::Importer, o.get_ref()).map_err(|(span, msg)| file.err(span, msg))?;
    }
    Ok(())
}

impl RawEvent {
    /// The action keys given, with their spans.
    pub fn actions(&self) -> Vec<(&'static str, Range<usize>)> {
        let s = |o: &Option<Spanned<String>>| o.as_ref().map(Spanned::span);
        let given = [
            ("attach", s(&self.attach)),
            ("detach", s(&self.detach)),
            ("map", s(&self.map)),
            ("unmap", s(&self.unmap)),
            ("pin", s(&self.pin)),
            ("unpin", s(&self.unpin)),
            ("access", s(&self.access)),
            ("move", s(&self.move_to)),
            ("revoke", self.revoke.as_ref().map(Spanned::span)),
            ("link_down", s(&self.link_down)),
            ("link_up", s(&self.link_up)),
            ("device_reset", s(&self.device_reset)),
        ];
        given
            .into_iter()
            .filter_map(|(k, span)| span.map(|s| (k, s)))
            .collect()
    }
}

fn check_event(
    file: &ScenarioFile,
    e: &RawEvent,
    span: Range<usize>,
    placements: &Declared<'_>,
    importers: &Declared<'_>,
) -> Result<(), CliError> {
    let actions = e.actions();
    let action = match actions.as_slice() {
        [one] => one.0,
        [] => {
            return Err(file.err(
                span,
                format!("an event needs one action: {}", ACTIONS.join(", ")),
            ));
        }
        [first, second, ..] => {
            return Err(file.err(
                second.1.clone(),
                format!(
                    "an event has one action; this one also has `{}` (one [[event]] per action)",
                    first.0
                ),
            ));
        }
    };
    for who in [
        &e.attach, &e.detach, &e.map, &e.unmap, &e.pin, &e.unpin, &e.access,
    ]
    .into_iter()
    .flatten()
    {
        named(file, who, "importer", importers)?;
    }
    if let Some(p) = &e.move_to {
        named(file, p, "placement", placements)?;
    }
    if let Some(r) = &e.revoke
        && !*r.get_ref()
    {
        return Err(file.err(r.span(), "`revoke` takes `true` (the exporter revokes)"));
    }
    if let Some(b) = &e.between {
        if !matches!(action, "link_down" | "link_up") {
            return Err(file.err(b.span(), "`between` goes with `link_down` or `link_up`"));
        }
        if !matches!(b.get_ref().len(), 1 | 2) {
            return Err(file.err(
                b.span(),
                "`between` names one device (its links on the fabric) or two (the links \
                 joining them)",
            ));
        }
    }
    if let Some(x) = &e.expect {
        let x = x.get_ref();
        if let Some(o) = &x.outcome {
            one_of(file, o, "outcome", &OUTCOMES)?;
        }
        if let Some(r) = &x.reason {
            one_of(file, r, "reason", &REASONS)?;
        }
        if let Some(p) = &x.placement {
            named(file, p, "placement", placements)?;
        }
        for i in &x.importer {
            let i = i.get_ref();
            named(file, &i.name, "importer", importers)?;
            if let Some(v) = &i.agreement {
                one_of(file, v, "agreement state", &AGREEMENTS)?;
            }
            if let Some(v) = &i.interconnect {
                one_of(file, v, "interconnect", &INTERCONNECTS)?;
            }
            if let Some(v) = &i.route {
                one_of(file, v, "route kind", &ROUTES)?;
            }
            if let Some(v) = &i.mapping {
                one_of(file, v, "mapping state", &MAPPINGS)?;
            }
        }
    }
    Ok(())
}

/// Names must be non-empty and unique; returns them in order.
fn names<'r, T>(
    file: &ScenarioFile,
    list: &'r [Spanned<T>],
    name: impl Fn(&'r T) -> &'r Spanned<String>,
    what: &str,
) -> Result<Declared<'r>, CliError> {
    let mut seen: HashSet<&str> = HashSet::with_capacity(list.len());
    for item in list {
        let n = name(item.get_ref());
        let text = n.get_ref().as_str();
        if text.trim().is_empty() {
            return Err(file.err(n.span(), format!("every {what} needs a non-empty name")));
        }
        if !seen.insert(text) {
            return Err(file.err(n.span(), format!("two {what}s are called `{text}`")));
        }
    }
    Ok(Declared::new(
        list.iter()
            .map(|item| name(item.get_ref()).get_ref().as_str()),
    ))
}

impl Simulation {
    /// Reads and checks a simulation file.
    pub fn read(path: &Path) -> Result<Self, CliError> {
        Self::from_file(ScenarioFile::read(path, "simulation")?)
    }

    /// Checks a simulation's text; `path` names it in errors and anchors relative paths.
    pub fn parse(path: &Path, text: String) -> Result<Self, CliError> {
        Self::from_file(ScenarioFile {
            path: path.to_owned(),
            text,
        })
    }

    fn from_file(file: ScenarioFile) -> Result<Self, CliError> {
        let raw: RawSimulation = file.parse(DOC)?;
        let machine = file.machine(raw.machine.as_ref())?;
        let Some(buffer) = &raw.buffer else {
            return Err(CliError::input(format!(
                "{}: no [buffer]: a simulation needs the buffer's size and exporter",
                file.path.display()
            ))
            .note(DOC));
        };
        let buffer = buffer.get_ref();
        if *buffer.size.get_ref() == 0 {
            return Err(file.err(buffer.size.span(), "a buffer needs at least one byte"));
        }
        crate::scenario::policy(&file, buffer.policy.as_ref())?;
        if raw.placement.is_empty() {
            return Err(CliError::input(format!(
                "{}: no [[placement]]: the exporter needs at least one place for the buffer",
                file.path.display()
            ))
            .note(DOC));
        }
        let placements = names(&file, &raw.placement, |p| &p.name, "placement")?;
        for p in &raw.placement {
            check_placement(&file, p.get_ref())?;
        }
        if let Some(start) = &buffer.start {
            named(&file, start, "placement", &placements)?;
        }
        let importers = names(&file, &raw.importer, |i| &i.name, "importer")?;
        for i in &raw.importer {
            check_importer(&file, i.get_ref(), i.span())?;
        }
        for e in &raw.event {
            check_event(&file, e.get_ref(), e.span(), &placements, &importers)?;
        }
        Ok(Self {
            path: file.path.clone(),
            description: raw.description.clone(),
            machine,
            file,
            raw,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "[buffer]\nsize = 4096\nexporter = \"03:00.0\"\n\n\
        [[placement]]\nname = \"ram\"\nmemory = \"system\"\nphys = 0x1000\n\n\
        [[importer]]\nname = \"nic\"\n[[importer.offer]]\ninterconnect = \"dma-addr\"\ndevice = \"04:00.0\"\n";

    fn parse(extra: &str) -> Result<Simulation, CliError> {
        Simulation::parse(Path::new("s.toml"), format!("{MINIMAL}{extra}"))
    }

    fn line_of(needle: &str, extra: &str) -> usize {
        let text = format!("{MINIMAL}{extra}");
        text.lines()
            .position(|l| l.contains(needle))
            .map(|i| i + 1)
            .unwrap()
    }

    #[test]
    fn a_minimal_file_parses() {
        let s = parse(
            "\n[[event]]\nattach = \"nic\"\nexpect = { outcome = \"ok\", reason = \"none\" }\n",
        )
        .unwrap();
        assert_eq!(s.raw.event.len(), 1);
        assert_eq!(s.machine, None);
    }

    #[test]
    fn errors_name_line_and_column() {
        let extra = "\n[[event]]\nattach = \"nci\"\n";
        let e = parse(extra).unwrap_err();
        let line = line_of("nci", extra);
        assert!(
            e.message
                .starts_with(&format!("s.toml:{line}:10: no importer `nci`")),
            "{}",
            e.message
        );
        let extra = "\n[[event]]\nmap = \"nic\"\nmove = \"ram\"\n";
        let e = parse(extra).unwrap_err();
        assert!(
            e.message.starts_with(&format!(
                "s.toml:{}:8: an event has one action",
                line_of("move", extra)
            )),
            "{}",
            e.message
        );
        let e = parse("\n[[event]]\nnote = \"nothing\"\n").unwrap_err();
        assert!(
            e.message.contains("an event needs one action"),
            "{}",
            e.message
        );
        let extra = "\n[[event]]\nmap = \"nic\"\nexpect = { importer = [{ name = \"nic\", mapping = \"vaild\" }] }\n";
        let e = parse(extra).unwrap_err();
        assert!(e.message.contains("did you mean `valid`"), "{}", e.message);
        let e = parse("\n[[event]]\nrevoke = false\n").unwrap_err();
        assert!(e.message.contains("`revoke` takes `true`"), "{}", e.message);
        let e = parse("\n[[event]]\nmap = \"nic\"\nbetween = [\"a\"]\n").unwrap_err();
        assert!(e.message.contains("`between` goes with"), "{}", e.message);
        let e = parse("\n[[event]]\nmap = \"nic\"\nfrobnicate = 1\n").unwrap_err();
        assert!(e.message.starts_with("s.toml:"), "{}", e.message);
    }

    #[test]
    fn placements_take_the_keys_of_their_kind() {
        let bad = MINIMAL.replace("phys = 0x1000", "phys = 0x1000\nbar = 2");
        let e = Simulation::parse(Path::new("s.toml"), bad).unwrap_err();
        assert!(
            e.message
                .contains("`bar` does not apply to a `system` placement"),
            "{}",
            e.message
        );
        let bad = MINIMAL.replace("phys = 0x1000\n", "");
        let e = Simulation::parse(Path::new("s.toml"), bad).unwrap_err();
        assert!(e.message.contains("needs `phys`"), "{}", e.message);
        let bad = MINIMAL.replace("memory = \"system\"", "memory = \"sytem\"");
        let e = Simulation::parse(Path::new("s.toml"), bad).unwrap_err();
        assert!(e.message.contains("did you mean `system`"), "{}", e.message);
        let twice = format!(
            "{MINIMAL}\n[[importer]]\nname = \"nic\"\n[[importer.offer]]\ninterconnect = \"phys\"\n"
        );
        let e = Simulation::parse(Path::new("s.toml"), twice).unwrap_err();
        assert!(
            e.message.contains("two importers are called `nic`"),
            "{}",
            e.message
        );
        let dynamic = MINIMAL.replace("name = \"nic\"", "name = \"nic\"\nrevocable = false");
        let e = Simulation::parse(Path::new("s.toml"), dynamic).unwrap_err();
        assert!(e.message.contains("dynamic importer"), "{}", e.message);
    }

    #[test]
    fn buffer_and_placements_are_required() {
        let e = Simulation::parse(Path::new("s.toml"), String::new()).unwrap_err();
        assert!(e.message.contains("no [buffer]"), "{}", e.message);
        let e = Simulation::parse(
            Path::new("s.toml"),
            "[buffer]\nsize = 0\nexporter = \"x\"\n".to_owned(),
        )
        .unwrap_err();
        assert!(e.message.starts_with("s.toml:2:8:"), "{}", e.message);
    }
}
