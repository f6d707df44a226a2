// SPDX-License-Identifier: GPL-2.0

//! The lines the module writes to the kernel log, which `kernel/run` reads (key=value fields,
//! bus ids as the kernel names functions, route kinds as `dmabuf-ic --format json` names them),
//! and the human lines around them (every candidate of a negotiation with its reason).

use core::fmt;

use dmabuf_negotiate::{
    Agreement, Candidate, Describe, DeviceId, Names, NegotiationError, Refusal, Route, RouteKind,
    Verdict,
};
use kernel::prelude::*;

use crate::dma_map_probe::MapObservation;

/// Devices named as the kernel names them: `DDDD:BB:SS.F`.
struct PciNames;

impl Names for PciNames {
    fn device(&self, id: DeviceId, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", Bdf(id))
    }
}

/// Prints a value that implements `core::fmt::Display` with the kernel's print macros (which
/// take `kernel::fmt::Display`).
struct Show<T>(T);

impl<T: fmt::Display> kernel::fmt::Display for Show<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A device id written as a PCI address.
#[derive(Clone, Copy)]
struct Bdf(DeviceId);

impl fmt::Display for Bdf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = self.0 .0;
        write!(
            f,
            "{:04x}:{:02x}:{:02x}.{}",
            id >> 16,
            (id >> 8) & 0xff,
            (id >> 3) & 0x1f,
            id & 7
        )
    }
}

/// `route=KIND distance=D` (`-` for routes without a distance).
struct KindAndDistance(RouteKind);

impl fmt::Display for KindAndDistance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (name, distance) = match self.0 {
            RouteKind::SameDevice => ("same-device", None),
            RouteKind::PrivateLink(_) => ("private-link", None),
            RouteKind::PciBusAddr { distance } => ("pci-bus-addr", Some(distance)),
            RouteKind::PciThroughHostBridge { distance } => {
                ("pci-thru-host-bridge", Some(distance))
            }
            RouteKind::SystemMemory => ("system-memory", None),
            RouteKind::CpuThroughHostBridge => ("cpu-thru-host-bridge", None),
        };
        match distance {
            Some(d) => write!(f, "route={name} distance={d}"),
            None => write!(f, "route={name} distance=-"),
        }
    }
}

/// `pair provider=P client=C route=KIND distance=D`: the kernel's verdict on one pair.
pub(crate) fn pair(provider: DeviceId, client: DeviceId, verdict: &Result<Route, Refusal>) {
    let (p, c) = (Show(Bdf(provider)), Show(Bdf(client)));
    match verdict {
        Ok(route) => pr_info!(
            "pair provider={} client={} {}\n",
            p,
            c,
            Show(KindAndDistance(route.kind))
        ),
        Err(refusal) => pr_info!(
            "pair provider={} client={} route=refused distance=-1 ({})\n",
            p,
            c,
            Show(refusal.named(&PciNames))
        ),
    }
}

/// Every candidate of a negotiation, then `negotiation provider=P client=C chosen=eN
/// interconnect=I route=KIND distance=D` (or `chosen=none (why)`).
pub(crate) fn negotiation(
    provider: DeviceId,
    client: DeviceId,
    result: &Result<Agreement<'_>, NegotiationError<'_>>,
) {
    let (p, c) = (Show(Bdf(provider)), Show(Bdf(client)));
    let candidates: &[Candidate] = match result {
        Ok(agreement) => agreement.candidates(),
        Err(NegotiationError::NoCommonInterconnect { table }) => table,
        Err(_) => &[],
    };
    for candidate in candidates {
        let (e, i) = (candidate.exporter_index, candidate.importer_index);
        let what = Show(candidate.interconnect);
        match &candidate.verdict {
            Verdict::Accepted(route) => pr_info!(
                "  {}->{} e{} x i{} {}: accepted, {}\n",
                p,
                c,
                e,
                i,
                what,
                Show(route.named(&PciNames))
            ),
            Verdict::Vetoed { route, reason } => pr_info!(
                "  {}->{} e{} x i{} {}: vetoed ({}), {}\n",
                p,
                c,
                e,
                i,
                what,
                reason,
                Show(route.named(&PciNames))
            ),
            Verdict::Rejected(why) => pr_info!(
                "  {}->{} e{} x i{} {}: rejected, {}\n",
                p,
                c,
                e,
                i,
                what,
                Show(why.named(&PciNames))
            ),
        }
    }
    match result {
        Ok(agreement) => pr_info!(
            "negotiation provider={} client={} chosen=e{} interconnect={} {}\n",
            p,
            c,
            agreement.chosen().exporter_index,
            Show(agreement.chosen().interconnect),
            Show(KindAndDistance(agreement.route().kind))
        ),
        Err(e) => pr_info!(
            "negotiation provider={} client={} chosen=none ({})\n",
            p,
            c,
            Show(e)
        ),
    }
}

/// `dma-map provider=P client=C map=...`: what the DMA API did with the provider's memory.
pub(crate) fn dma_map(provider: DeviceId, client: DeviceId, observed: &MapObservation) {
    pr_info!(
        "dma-map provider={} client={} {}\n",
        Show(Bdf(provider)),
        Show(Bdf(client)),
        Show(observed)
    );
}
