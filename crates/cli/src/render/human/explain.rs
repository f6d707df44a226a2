//! `explain` for people: the kernel's walk in numbered steps, the verdict, the route, and the
//! levers that would change it; when the source does not give a fact the verdict depends on,
//! what it is, how to learn it, and every outcome.

use std::fmt::Write;

use pci_topology::{
    CpuVendor, FunctionId, HostBridgeCheck, Machine, MapType, P2pVerdict, RootDeviceUnknown,
    UnknownFact, WhitelistLookup,
};

use super::words;
use crate::commands::explain::Explanation;
use crate::counts::count;
use crate::source::MachineSource;
use crate::style::{self, BAD, DIM, FAIR, GOOD, HEADING, ID, LABEL};

/// Renders the explanation.
pub fn render(m: &Machine, source: &MachineSource, x: &Explanation) -> String {
    let v = &x.verdict;
    let mut out = String::new();
    let label = |id: FunctionId| {
        m.function(id).map_or_else(String::new, |f| {
            let mut s = words::function_label(f);
            if let Some(p) = &f.p2pmem {
                s.push_str(&format!(" · {}", words::p2pmem(p)));
            }
            s
        })
    };
    let _ = writeln!(
        out,
        "{}",
        style::paint(
            HEADING,
            format!(
                "Can {} DMA into the memory of {}?",
                m.name(v.client),
                m.name(v.provider)
            )
        )
    );
    let _ = writeln!(
        out,
        "{}   {}",
        style::paint(LABEL, "machine"),
        source.describe()
    );
    let _ = writeln!(
        out,
        "{}  {}  {}",
        style::paint(LABEL, "provider"),
        style::paint(ID, m.name(v.provider)),
        label(v.provider)
    );
    let _ = writeln!(
        out,
        "{}    {}  {}",
        style::paint(LABEL, "client"),
        style::paint(ID, m.name(v.client)),
        label(v.client)
    );
    let _ = writeln!(
        out,
        "{}     {}, drivers/pci/p2pdma.c: calc_map_type_and_dist()",
        style::paint(LABEL, "rules"),
        m.whitelist().release
    );
    if let Some(note) = words::guest_note(m) {
        let _ = writeln!(out, "{}     {note}", style::paint(LABEL, "guest"));
    }

    // 1, 2: the chains.
    let _ = writeln!(
        out,
        "\n{} The provider's chain (the provider, then each upstream bridge):",
        style::paint(ID, "1.")
    );
    chain(&mut out, m, &v.provider_chain, v.common_ancestor);
    let _ = writeln!(out, "{} The client's chain:", style::paint(ID, "2."));
    chain(&mut out, m, &v.client_chain, v.common_ancestor);

    // 3: the common ancestor and the distance.
    let _ = write!(out, "{} Common upstream bridge: ", style::paint(ID, "3."));
    if v.provider == v.client {
        let _ = writeln!(out, "the provider is the client: distance 0");
    } else {
        match v.common_ancestor {
            Some(c) => {
                let _ = writeln!(
                    out,
                    "{} ({}), {} step{} up from the provider and {} from the client: distance {} + {} = {}",
                    style::paint(ID, m.name(c)),
                    words::port_name(m, c),
                    v.provider_steps,
                    if v.provider_steps == 1 { "" } else { "s" },
                    v.client_steps,
                    v.provider_steps,
                    v.client_steps,
                    v.distance
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "none; the chains meet only above the root bus (different root ports, \
                     root-bus devices, or different host bridges): distance = {} + {} = {}",
                    v.provider_chain.len(),
                    v.client_chain.len(),
                    v.distance
                );
            }
        }
    }

    // 4: ACS.
    let _ = write!(out, "{} ACS redirect on the path: ", style::paint(ID, "4."));
    match v.common_ancestor {
        None => {
            let _ = writeln!(
                out,
                "does not matter; without a common bridge the traffic crosses the host bridge anyway"
            );
        }
        Some(c) => {
            if v.acs_redirect.is_empty() {
                let _ = writeln!(
                    out,
                    "{}; traffic stays below {} with bus addresses",
                    style::paint(GOOD, "off everywhere"),
                    m.name(c)
                );
            } else {
                let _ = writeln!(
                    out,
                    "{} at {}; the traffic is redirected up to the root complex",
                    style::paint(FAIR, "on"),
                    list(m, &v.acs_redirect)
                );
            }
            if !v.acs_unknown.is_empty() {
                let _ = writeln!(
                    out,
                    "   {} at {} (computed as off; see below)",
                    style::paint(DIM, "unknown"),
                    list(m, &v.acs_unknown)
                );
            }
        }
    }

    // 5: host bridge.
    let _ = write!(out, "{} Host bridge: ", style::paint(ID, "5."));
    match &v.host_bridge {
        None if v.provider == v.client || v.map_type == MapType::BusAddr => {
            let _ = writeln!(
                out,
                "not crossed (the traffic stays below the common bridge)"
            );
            if let Some(h) = &x.host_bridge_if_needed {
                let _ = writeln!(
                    out,
                    "   {}",
                    style::paint(
                        DIM,
                        format!(
                            "were it crossed: {}",
                            if h.allowed { "allowed" } else { "refused" }
                        )
                    )
                );
            }
        }
        None => {
            let _ = writeln!(out, "not checked");
        }
        Some(h) => host_bridge(&mut out, m, h),
    }

    // 6: CPU rule.
    let cpu = m.cpu();
    let _ = write!(
        out,
        "{} CPU rule (x86 AMD, family 0x17 or later): ",
        style::paint(ID, "6.")
    );
    let applies = cpu.supports_p2pdma();
    let what = match (&cpu.vendor, cpu.family) {
        (CpuVendor::Amd, Some(f)) if applies => {
            format!(
                "AMD family {f} ({f:#x}) is Zen or later: P2P through any host bridge is allowed"
            )
        }
        (CpuVendor::Amd, Some(f)) => {
            format!("AMD family {f} ({f:#x}) is older than Zen: does not apply")
        }
        (CpuVendor::Unknown, _) if cpu.p2pdma_rule() == Some(false) => format!(
            "the CPU is not x86 ({}): does not apply",
            cpu.arch.as_ref().map_or("?", |a| a.name())
        ),
        (CpuVendor::Unknown, _) => {
            "the CPU vendor is not in the source: whether it applies is not known".to_owned()
        }
        (CpuVendor::Amd, None) => {
            "AMD of a family the source does not give: whether it applies is not known".to_owned()
        }
        (vendor, _) => format!("the CPU is {vendor}: does not apply"),
    };
    let crossed = v.host_bridge.is_some();
    let _ = writeln!(
        out,
        "{what}{}",
        if crossed {
            ""
        } else {
            " (and not needed here)"
        }
    );

    if v.switches_collapsed {
        let _ = writeln!(
            out,
            "{}",
            style::paint(
                FAIR,
                "   note: the source collapsed each PCIe switch into one node: its ports are missing, \
                 so the distance is shorter than the kernel's and their ACS state is unknown"
            )
        );
    }

    // Verdict and route.
    if v.is_known() {
        let _ = writeln!(
            out,
            "\n{}   {}",
            style::paint(LABEL, "verdict"),
            words::verdict(v.map_type, v.distance)
        );
    } else {
        let all: Vec<String> = v.possible().iter().map(|t| t.as_str().to_owned()).collect();
        let _ = writeln!(
            out,
            "\n{}   {}: {} (see below)",
            style::paint(LABEL, "verdict"),
            style::paint(FAIR, "not known from this source"),
            all.join(" or ")
        );
        let _ = writeln!(
            out,
            "          {}",
            style::paint(
                DIM,
                format!(
                    "with what the source shows: {}",
                    words::verdict(v.map_type, v.distance)
                )
            )
        );
    }
    if let Some(q) = &x.route {
        let mut parts = vec![
            format!("class {}", q.class),
            if q.via_host_bridge {
                "through the host bridge".to_owned()
            } else {
                "below the common bridge".to_owned()
            },
            match (q.bandwidth, q.bottleneck) {
                (Some(b), Some(at)) => format!(
                    "narrowest link {} at {}",
                    words::bandwidth(Some(b)),
                    m.name(at)
                ),
                (b, _) => words::bandwidth(b),
            },
            format!("{}, {}", count(q.links, "link"), count(q.hops, "hop")),
        ];
        if let (Some(b), Some(now)) = (q.bandwidth, q.current_bandwidth) {
            if now.0 < b.0 {
                parts.insert(
                    3,
                    style::paint(
                        FAIR,
                        format!(
                            "{} now: a link runs below what it can do (idle devices train down)",
                            words::bandwidth(Some(now))
                        ),
                    ),
                );
            }
        }
        if let Some(l) = q.latency {
            parts.push(format!("≈{} ns (UCX estimate)", l.0));
        }
        let domain = m.function(v.client).and_then(|f| f.iommu_domain.as_ref());
        parts.push(match (q.iommu_translates, domain) {
            (Some(true), Some(d)) => format!("IOMMU translates ({d})"),
            (Some(true), None) => "IOMMU translates".to_owned(),
            (Some(false), Some(d)) if q.via_host_bridge => format!("no IOMMU translation ({d})"),
            (Some(false), _) => "no IOMMU translation".to_owned(),
            (None, _) => style::paint(DIM, "IOMMU unknown"),
        });
        if q.numa_crossing == Some(true) {
            parts.push("crosses NUMA nodes".to_owned());
        }
        let _ = writeln!(
            out,
            "{}     {}",
            style::paint(LABEL, "route"),
            parts.join(" · ")
        );
        if !x.links.is_empty() {
            let links: Vec<String> = x
                .links
                .iter()
                .map(|l| {
                    let up = m
                        .parent(l.from)
                        .map_or_else(|| "root".to_owned(), |p| m.name(p));
                    let now = match (l.bandwidth, l.current) {
                        (Some(b), Some(c)) if c.0 < b.0 => {
                            format!(" ({} now)", words::bandwidth(Some(c)))
                        }
                        _ => String::new(),
                    };
                    format!(
                        "{}→{} {}{now}",
                        m.name(l.from),
                        up,
                        words::bandwidth(l.bandwidth)
                    )
                })
                .collect();
            let _ = writeln!(
                out,
                "{}     {}",
                style::paint(LABEL, "links"),
                links.join(", ")
            );
        }
        if let Some(why) = m.iommu_reason(v.client, v.map_type) {
            let _ = writeln!(out, "{}     {why}", style::paint(LABEL, "iommu"));
        }
    } else if v.provider == v.client {
        let _ = writeln!(
            out,
            "{}     the device's own memory",
            style::paint(LABEL, "route")
        );
    }

    // What would change it.
    let _ = writeln!(out, "\n{}", style::paint(HEADING, "What would change it"));
    if x.changes.is_empty() {
        let _ = writeln!(
            out,
            "  {}",
            if v.provider == v.client {
                "nothing needed: a device reaches its own memory"
            } else if v.map_type == MapType::BusAddr {
                "nothing needed: bus addresses are the best PCI route the kernel gives"
            } else {
                "nothing would improve it: with bus addresses below a common switch the devices \
                 would be farther apart than they are now"
            }
        );
    }
    for c in &x.changes {
        let _ = writeln!(
            out,
            "  - {}\n    ⇒ {}",
            c.detail,
            words::verdict(c.map_type, c.distance)
        );
    }

    unknowns(&mut out, m, v);
    out
}

/// What the source does not give, how to learn it, and every outcome it allows.
fn unknowns(out: &mut String, m: &Machine, v: &P2pVerdict) {
    if v.is_known() {
        return;
    }
    let _ = writeln!(
        out,
        "\n{}",
        style::paint(HEADING, "Not known from this source")
    );
    for (i, f) in v.unknowns.iter().enumerate() {
        let _ = writeln!(
            out,
            "  {} {}",
            style::paint(ID, format!("{}.", i + 1)),
            f.describe(m)
        );
        if let UnknownFact::HostBridgeDevice {
            inferred: Some(inf),
            ..
        } = f
        {
            let _ = writeln!(
                out,
                "     {} from the CPU, {}: most likely {:04x}:{:04x} {}, which {}",
                style::paint(FAIR, "inferred, not known,"),
                inf.from_cpu,
                inf.vendor,
                inf.device,
                inf.name,
                match (&inf.entry, inf.allows) {
                    (Some(e), true) => format!("matches the whitelist entry {e}"),
                    (Some(e), false) => format!("matches {e}, which requires the same host bridge"),
                    (None, _) => format!("is not in the {} whitelist", m.whitelist().release),
                }
            );
        }
        let _ = writeln!(
            out,
            "     {}",
            style::paint(DIM, format!("to know: {}", f.how_to_know(m)))
        );
    }
    let _ = writeln!(out, "\n{}", style::paint(HEADING, "Every outcome"));
    let texts: Vec<String> = v
        .outcomes
        .iter()
        .map(|o| words::verdict(o.map_type, v.distance))
        .collect();
    let w = texts.iter().map(|t| style::width(t)).max().unwrap_or(0);
    for (o, t) in v.outcomes.iter().zip(&texts) {
        let mut line = format!(
            "  {}  if {}",
            style::pad(t, w),
            o.describe_when(m, &v.unknowns)
        );
        if o.is_inferred(&v.unknowns) {
            line.push_str(&format!(
                "  {}",
                style::paint(FAIR, "(what the CPU suggests)")
            ));
        }
        if o.map_type == v.map_type {
            line.push_str(&format!(
                "  {}",
                style::paint(DIM, "(what the source shows)")
            ));
        }
        let _ = writeln!(out, "{line}");
    }
}

fn list(m: &Machine, ids: &[FunctionId]) -> String {
    ids.iter()
        .map(|&f| style::paint(ID, m.name(f)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn chain(out: &mut String, m: &Machine, chain: &[FunctionId], common: Option<FunctionId>) {
    let mut past_common = false;
    let w = chain.iter().map(|&f| m.name(f).len()).max().unwrap_or(12);
    for &f in chain {
        let Some(func) = m.function(f) else { continue };
        let line = format!(
            "{:<w$}  {}  {}",
            m.name(f),
            style::pad(&words::port_type(func), 22),
            words::acs(func.acs)
        );
        let marker = if Some(f) == common {
            let what = if func.is_bridge() {
                "common upstream bridge"
            } else {
                "common ancestor"
            };
            format!("  ← {}", style::paint(GOOD, what))
        } else {
            String::new()
        };
        if past_common {
            let _ = writeln!(out, "     {}", style::paint(DIM, &line));
        } else {
            let _ = writeln!(out, "     {line}{marker}");
        }
        if Some(f) == common {
            past_common = true;
        }
    }
    let last = chain.last().copied();
    let hb = last
        .and_then(|f| m.host_bridge_of(f))
        .map_or_else(|| "host bridge".to_owned(), |h| words::host_bridge(m, h));
    let _ = writeln!(
        out,
        "     {}",
        style::paint(DIM, format!("{hb:<w$}  host bridge"))
    );
}

fn lookup(m: &Machine, l: &WhitelistLookup) -> String {
    let hb = words::host_bridge(m, l.host_bridge);
    match &l.unknown {
        Some(RootDeviceUnknown::NotListed { .. }) => {
            return format!(
                "{hb}: {}",
                style::paint(
                    FAIR,
                    "the device Linux checks is not in the source (not known, taken as none)"
                )
            );
        }
        Some(RootDeviceUnknown::IdsUnknown { function }) => {
            return format!(
                "{hb}: {} {}",
                m.name(*function),
                style::paint(
                    FAIR,
                    "has IDs the source does not give (taken as not whitelisted)"
                )
            );
        }
        _ => {}
    }
    match (l.device, &l.entry) {
        (None, _) => match l.unknown_first {
            Some(f) => format!(
                "{hb}: its first function {} is not 00.0 and its port type is unknown: nothing to check",
                m.name(f)
            ),
            None => format!("{hb}: no device to check against the whitelist"),
        },
        (Some(d), None) => format!(
            "{hb}: {} {} is {}",
            m.name(d),
            m.function(d)
                .map_or_else(String::new, words::function_label),
            style::paint(
                BAD,
                format!("not in the {} whitelist", m.whitelist().release)
            )
        ),
        (Some(d), Some(e)) => format!(
            "{hb}: {} {}{}",
            m.name(d),
            style::paint(GOOD, format!("matches the whitelist entry {e}")),
            if l.whitelisted {
                String::new()
            } else {
                style::paint(BAD, ", which requires the same host bridge")
            }
        ),
    }
}

fn host_bridge(out: &mut String, m: &Machine, h: &HostBridgeCheck) {
    let known = h.provider.unknown.is_none()
        && h.client.as_ref().is_none_or(|c| c.unknown.is_none())
        && m.cpu().p2pdma_rule().is_some();
    let cause = match h.cause {
        dmabuf_negotiate::HostBridgeCause::NoCommonUpstreamBridge => "no common upstream bridge",
        dmabuf_negotiate::HostBridgeCause::AcsRedirect => "ACS redirect",
    };
    let _ = writeln!(
        out,
        "crossed ({cause}){}",
        if h.same_host_bridge {
            ""
        } else {
            "; provider and client are below different host bridges"
        }
    );
    let _ = writeln!(out, "   {}", lookup(m, &h.provider));
    if let Some(c) = &h.client {
        let _ = writeln!(out, "   {}", lookup(m, c));
    }
    let _ = writeln!(
        out,
        "   {}",
        if h.allowed && h.cpu_rule {
            style::paint(
                GOOD,
                "the host bridge may forward peer-to-peer traffic (by the CPU rule, step 6)",
            )
        } else if h.allowed {
            style::paint(GOOD, "the host bridge may forward peer-to-peer traffic")
        } else if !known {
            style::paint(
                FAIR,
                "with what the source shows, the host bridge may not forward peer-to-peer \
                 traffic; whether it may is not known (below)",
            )
        } else {
            style::paint(BAD, "the host bridge may not forward peer-to-peer traffic")
        }
    );
}
