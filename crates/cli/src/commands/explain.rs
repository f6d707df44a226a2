//! `dmabuf-ic explain PROVIDER CLIENT`: Linux's P2PDMA decision for one pair, step by step,
//! with the route it implies and what would change the verdict.
//!
//! The verdict itself is pci-topology's ([`Machine::p2p_verdict`]). The changes are the
//! kernel's own levers, each applied to that verdict: clearing ACS redirect
//! (`pci=disable_acs_redir=`), a whitelisted host bridge, the AMD Zen CPU rule, and moving the
//! client into a free slot below a bridge it would then share with the provider.

use pci_topology::{
    FunctionId, HostBridgeCheck, Machine, MapType, P2pVerdict, PathLink, PathQuality,
};

use crate::cli::ExplainArgs;
use crate::commands::Outcome;
use crate::error::CliError;
use crate::output::OutputFormat;
use crate::render;
use crate::resolve;
use crate::source::MachineSource;

/// A lever that changes the verdict.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ChangeKind {
    /// Boot with `pci=disable_acs_redir=` for the functions with ACS redirect on.
    DisableAcsRedirect,
    /// A host bridge (root complex) in the kernel's whitelist.
    WhitelistedHostBridge,
    /// An x86 AMD CPU of family 0x17 (Zen) or later.
    AmdZenCpu,
    /// The client in a free slot below a bridge shared with the provider.
    CommonSwitchSlot,
}

/// One change and the verdict it would give.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Change {
    /// Which lever.
    pub kind: ChangeKind,
    /// What to do, in words (bus ids included).
    pub detail: String,
    /// The kernel parameter to boot with, if that is the lever.
    pub parameter: Option<String>,
    /// The map type it would give.
    pub map_type: MapType,
    /// The distance it would give (for a slot, the distance from that slot).
    pub distance: u32,
}

/// A free slot below a bridge on the provider's chain.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct FreeSlot {
    /// The bridge with nothing below it (an empty downstream port).
    pub port: FunctionId,
    /// The bridge the provider and the moved client would share.
    pub shared: FunctionId,
    /// The distance the kernel would compute.
    pub distance: u32,
    /// Functions on the new path with ACS redirect on.
    pub redirect: Vec<FunctionId>,
    /// Functions on the new path whose ACS state is unknown.
    pub unknown: Vec<FunctionId>,
}

/// The whole answer. What the verdict depends on that the source does not give, and every
/// outcome, are the verdict's own ([`P2pVerdict::unknowns`], [`P2pVerdict::outcomes`]).
#[derive(Debug)]
pub struct Explanation {
    /// The kernel's verdict with its walk.
    pub verdict: P2pVerdict,
    /// The quality of the route the verdict implies (none when refused, or for one device).
    pub route: Option<PathQuality>,
    /// The physical links that route crosses.
    pub links: Vec<PathLink>,
    /// The host-bridge lookup when the verdict did not need one (to say what it would be).
    pub host_bridge_if_needed: Option<HostBridgeCheck>,
    /// What would change the verdict.
    pub changes: Vec<Change>,
}

/// Free slots below the bridges of the provider's chain, nearest first.
pub fn free_slots(m: &Machine, v: &P2pVerdict) -> Vec<FreeSlot> {
    let mut out = Vec::new();
    let chain = &v.provider_chain;
    for (steps, &shared) in chain.iter().enumerate().skip(1) {
        for &port in m.children(shared) {
            let Some(f) = m.function(port) else { continue };
            if !f.is_bridge() || !m.children(port).is_empty() || chain.contains(&port) {
                continue;
            }
            let mut redirect = Vec::new();
            let mut unknown = Vec::new();
            for &x in chain.iter().take(steps + 1).chain(std::iter::once(&port)) {
                match m.function(x).map(|f| f.acs.redirect()) {
                    Some(Some(true)) => redirect.push(x),
                    Some(Some(false)) => {}
                    _ => unknown.push(x),
                }
            }
            out.push(FreeSlot {
                port,
                shared,
                distance: steps as u32 + 2,
                redirect,
                unknown,
            });
        }
    }
    out
}

/// How good a verdict is for the transfer, to compare changes with it: a better map type
/// (not supported, through the host bridge, bus addresses) at no greater distance, or the same
/// map type at a smaller distance, is better.
fn improves(now: (MapType, u32), then: (MapType, u32)) -> bool {
    let rank = |t: MapType| match t {
        MapType::NotSupported => 0,
        MapType::ThruHostBridge => 1,
        MapType::BusAddr => 2,
    };
    match rank(then.0).cmp(&rank(now.0)) {
        std::cmp::Ordering::Greater => now.0 == MapType::NotSupported || then.1 <= now.1,
        std::cmp::Ordering::Equal => then.1 < now.1,
        std::cmp::Ordering::Less => false,
    }
}

/// The kernel's levers applied to the verdict, keeping those that would improve it
/// ([`improves`]): bus addresses below a switch at distance 4 is no offer to a pair allowed
/// through the host bridge at distance 3.
fn changes(m: &Machine, v: &P2pVerdict) -> Vec<Change> {
    let mut out = levers(m, v);
    out.retain(|c| improves((v.map_type, v.distance), (c.map_type, c.distance)));
    out
}

fn levers(m: &Machine, v: &P2pVerdict) -> Vec<Change> {
    let mut out = Vec::new();
    if v.map_type == MapType::BusAddr || v.provider == v.client {
        return out;
    }
    if let (Some(_), Some(param)) = (v.common_ancestor, &v.disable_acs_redir) {
        out.push(Change {
            kind: ChangeKind::DisableAcsRedirect,
            detail: format!("boot with {param} (clears ACS redirect where it is on)"),
            parameter: Some(param.clone()),
            map_type: MapType::BusAddr,
            distance: v.distance,
        });
    }
    if let Some(h) = v.host_bridge.as_ref().filter(|h| !h.allowed) {
        let wl = m.whitelist();
        let example = wl
            .entries
            .iter()
            .find(|e| h.same_host_bridge || !e.requires_same_host_bridge)
            .map_or_else(String::new, |e| format!(" (for example {e})"));
        let detail = match h.refusal {
            Some(dmabuf_negotiate::HostBridgeRefusal::RequiresSameHostBridge) => format!(
                "both devices below one host bridge, since the whitelist entry allows P2P only \
                 within one; or host bridges the {} whitelist allows across host bridges{example}",
                wl.release
            ),
            Some(dmabuf_negotiate::HostBridgeRefusal::NoHostBridgeDevice) => format!(
                "a host bridge whose first root-bus function (00.0 or a root port) is in the {} whitelist{example}",
                wl.release
            ),
            _ => format!("a host bridge in the {} whitelist{example}", wl.release),
        };
        out.push(Change {
            kind: ChangeKind::WhitelistedHostBridge,
            detail,
            parameter: None,
            map_type: MapType::ThruHostBridge,
            distance: v.distance,
        });
        if !h.cpu_rule {
            out.push(Change {
                kind: ChangeKind::AmdZenCpu,
                detail: "an x86 AMD CPU of family 0x17 (Zen) or later: the kernel then allows P2P \
                         through any host bridge"
                    .to_owned(),
                parameter: None,
                map_type: MapType::ThruHostBridge,
                distance: v.distance,
            });
        }
    }
    if v.common_ancestor.is_none() {
        for s in free_slots(m, v).into_iter().take(3) {
            let mut detail = format!(
                "the client in the free slot below {} ({}), sharing {} with the provider",
                m.name(s.port),
                crate::render::human::words::port_name(m, s.port),
                m.name(s.shared)
            );
            if !s.redirect.is_empty() {
                let list: Vec<String> = s.redirect.iter().map(|&f| m.name(f)).collect();
                detail.push_str(&format!(
                    ", and boot with pci=disable_acs_redir={}",
                    list.join(";")
                ));
            }
            if !s.unknown.is_empty() {
                let list: Vec<String> = s.unknown.iter().map(|&f| m.name(f)).collect();
                detail.push_str(&format!(
                    " (if ACS redirect is off at {}, whose state is unknown)",
                    list.join(", ")
                ));
            }
            out.push(Change {
                kind: ChangeKind::CommonSwitchSlot,
                detail,
                parameter: None,
                map_type: MapType::BusAddr,
                distance: s.distance,
            });
        }
        if !out.iter().any(|c| c.kind == ChangeKind::CommonSwitchSlot) {
            out.push(Change {
                kind: ChangeKind::CommonSwitchSlot,
                detail: "both devices in slots below one PCIe switch without ACS redirect (this \
                         machine shows no free slot below the provider's bridges); two endpoints \
                         below one switch are at distance 4"
                    .to_owned(),
                parameter: None,
                map_type: MapType::BusAddr,
                distance: 4,
            });
        }
    }
    out
}

/// Computes the explanation.
pub fn compute(m: &Machine, provider: FunctionId, client: FunctionId) -> Option<Explanation> {
    let verdict = m.p2p_verdict(provider, client)?;
    let supported = verdict.map_type.is_supported() && provider != client;
    let via_hb = verdict.map_type != MapType::BusAddr;
    let route = supported
        .then(|| m.path_quality(provider, client, via_hb))
        .flatten();
    let links = if supported {
        m.path_links(provider, client, via_hb)
    } else {
        Vec::new()
    };
    let host_bridge_if_needed = match (&verdict.host_bridge, verdict.map_type) {
        (None, MapType::BusAddr) if provider != client => {
            let hp = m.host_bridge_of(provider);
            let hc = m.host_bridge_of(client);
            hp.zip(hc).map(|(hp, hc)| {
                let same = hp == hc;
                let p = m.whitelist_lookup(hp, same);
                let c = (!same).then(|| m.whitelist_lookup(hc, false));
                let cpu_rule = m.cpu().supports_p2pdma();
                let allowed =
                    cpu_rule || (p.whitelisted && c.as_ref().is_none_or(|c| c.whitelisted));
                HostBridgeCheck {
                    cause: dmabuf_negotiate::HostBridgeCause::AcsRedirect,
                    same_host_bridge: same,
                    cpu_rule,
                    provider: p,
                    client: c,
                    allowed,
                    refusal: None,
                }
            })
        }
        _ => None,
    };
    let changes = changes(m, &verdict);
    Some(Explanation {
        verdict,
        route,
        links,
        host_bridge_if_needed,
        changes,
    })
}

/// Loads, resolves the two devices, explains and renders.
pub fn run(
    source: &MachineSource,
    format: OutputFormat,
    args: &ExplainArgs,
) -> Result<Outcome, CliError> {
    if format == OutputFormat::Toml {
        return Err(super::unsupported("explain", format));
    }
    let loaded = source.load()?;
    let m = loaded.machine;
    let find = |what: &str, text: &str| {
        resolve::resolve(&m, text).map_err(|u| {
            let e = CliError::usage(format!("{what}: {}", u.message()));
            match u.hint() {
                Some(h) => e.note(h),
                None => e,
            }
        })
    };
    let provider = find("provider", &args.provider)?;
    let client = find("client", &args.client)?;
    let x = compute(&m, provider, client)
        .ok_or_else(|| CliError::internal("no verdict for two functions of the machine"))?;
    let text = render(&m, source, format, &x)?;
    Ok(Outcome::ok(text).with_notes(loaded.warnings))
}

/// An explanation in `format` (JSON for `toml`).
pub fn render(
    m: &Machine,
    source: &MachineSource,
    format: OutputFormat,
    x: &Explanation,
) -> Result<String, CliError> {
    Ok(match format {
        OutputFormat::Human => render::human::explain::render(m, source, x),
        OutputFormat::Json | OutputFormat::Toml => render::json::explain::render(m, x)?,
        OutputFormat::Dot | OutputFormat::Svg => {
            let h = render::picture::verdict_highlight(m, &x.verdict);
            render::picture::render(m, source, format, Some(&h))
        }
    })
}
