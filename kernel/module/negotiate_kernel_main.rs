// SPDX-License-Identifier: GPL-2.0

//! negotiate_kernel: dmabuf-ic's negotiation core (the crate `dmabuf_negotiate`, compiled from
//! `crates/negotiate/src`) running inside Linux, with the running kernel as its [`Fabric`].
//!
//! Loading the module runs its KUnit suites ([`kunit_tests`]), then reports, in the kernel log:
//! - `pair provider=P client=C distance=D route=KIND`: for every p2pmem provider the kernel
//!   registered and every PCI function that is not a bridge, the kernel's P2P verdict
//!   (`pci_p2pdma_distance_many()`) and the route kind derived from it ([`kernel_fabric`]);
//! - for every provider and every NVMe controller, one negotiation with a fixed offer set (the
//!   exporter: a `pci-bar` slice and `dma-addr` of the provider's memory, then `dma-addr` of
//!   system memory; the importer: `pci-bar`, `dma-addr`): every candidate, then
//!   `negotiation provider=P client=C chosen=eN interconnect=I route=KIND distance=D`, and
//!   `dma-map provider=P client=C map=...`, the map type the DMA API chose ([`dma_map_probe`]).
//!
//! `kernel/run` boots it under QEMU on each topology and compares these lines with the
//! kernel's own P2P decision seen from user space and with `dmabuf-ic` on the guest's sysfs.

use core::fmt;

use dmabuf_negotiate::{
    BarSlice, Candidate, Describe, DeviceId, ExporterOffer, Fabric, ImporterOffer, Memory, Names,
    NegotiationError, Negotiator, RouteKind, Verdict,
};
use kernel::prelude::*;

mod dma_map_probe;
mod kernel_fabric;
mod kunit_tests;
mod pci_function;
mod test_fabric;

use kernel_fabric::KernelFabric;
use pci_function::{PciFunction, NVME_CLASS};

module! {
    type: NegotiateKernel,
    name: "negotiate_kernel",
    authors: ["dmabuf-ic"],
    description: "dmabuf-ic's negotiation core with the running kernel's P2PDMA as its fabric",
    license: "GPL",
}

/// How many PCI functions the survey holds (a guest has a few dozen).
const MAX_FUNCTIONS: usize = 128;
/// The BAR of an NVMe controller memory buffer under QEMU.
const CMB_BAR: u8 = 2;
/// The slice of it the exporter offers.
const SLICE_LEN: u64 = 1 << 16;

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

/// A route kind as `dmabuf-ic --format json` names it, and its distance (`-` if none).
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

/// The functions of the machine: which are p2pmem providers, which are not bridges, which are
/// NVMe controllers.
struct Survey {
    providers: [DeviceId; MAX_FUNCTIONS],
    provider_count: usize,
    endpoints: [DeviceId; MAX_FUNCTIONS],
    endpoint_count: usize,
    nvme: [DeviceId; MAX_FUNCTIONS],
    nvme_count: usize,
    truncated: bool,
}

impl Survey {
    fn take() -> Self {
        let mut s = Survey {
            providers: [DeviceId(0); MAX_FUNCTIONS],
            provider_count: 0,
            endpoints: [DeviceId(0); MAX_FUNCTIONS],
            endpoint_count: 0,
            nvme: [DeviceId(0); MAX_FUNCTIONS],
            nvme_count: 0,
            truncated: false,
        };
        for f in PciFunction::all() {
            let id = f.id();
            if f.is_p2pmem_provider() {
                s.truncated |= !push(&mut s.providers, &mut s.provider_count, id);
            }
            if !f.is_bridge() {
                s.truncated |= !push(&mut s.endpoints, &mut s.endpoint_count, id);
            }
            if f.class() == NVME_CLASS {
                s.truncated |= !push(&mut s.nvme, &mut s.nvme_count, id);
            }
        }
        s
    }

    fn providers(&self) -> &[DeviceId] {
        self.providers.get(..self.provider_count).unwrap_or(&[])
    }

    fn endpoints(&self) -> &[DeviceId] {
        self.endpoints.get(..self.endpoint_count).unwrap_or(&[])
    }

    fn nvme(&self) -> &[DeviceId] {
        self.nvme.get(..self.nvme_count).unwrap_or(&[])
    }
}

/// Appends `id`; false when full.
fn push(list: &mut [DeviceId], count: &mut usize, id: DeviceId) -> bool {
    match list.get_mut(*count) {
        Some(slot) => {
            *slot = id;
            // `count` indexes `list`: it cannot saturate.
            *count = count.saturating_add(1);
            true
        }
        None => false,
    }
}

/// The kernel's verdict for one (provider, function) pair, as a `pair` line.
fn report_pair(provider: &PciFunction, client: &PciFunction) {
    let (p, c) = (Bdf(provider.id()), Bdf(client.id()));
    match kernel_fabric::p2p_route(provider, client) {
        Ok(route) => pr_info!(
            "pair provider={} client={} {}\n",
            Show(p),
            Show(c),
            Show(KindAndDistance(route.kind))
        ),
        Err(refusal) => pr_info!(
            "pair provider={} client={} route=refused distance=-1 ({})\n",
            Show(p),
            Show(c),
            Show(refusal.named(&PciNames))
        ),
    }
}

/// Writes one candidate of the table of `provider`'s memory to `client`.
fn report_candidate(provider: Bdf, client: Bdf, candidate: &Candidate) {
    let (p, c) = (Show(provider), Show(client));
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

/// One negotiation between the provider's memory (exporter) and an NVMe controller (importer):
/// every candidate, then the `negotiation` line.
fn negotiate(fabric: &dyn Fabric, provider: DeviceId, client: DeviceId) {
    let exporter = [
        ExporterOffer::pci_bar(BarSlice {
            device: provider,
            bar: CMB_BAR,
            offset: 0,
            len: SLICE_LEN,
        }),
        ExporterOffer::dma_addr(Memory::Device(provider)),
        ExporterOffer::dma_addr(Memory::System { numa_node: None }),
    ];
    let importer = [
        ImporterOffer::pci_bar(client),
        ImporterOffer::dma_addr(client, true),
    ];
    let mut table = [Candidate::VACANT; 6];
    let result = Negotiator::new(fabric).negotiate(&exporter, &importer, &mut table);
    let (p, c) = (Bdf(provider), Bdf(client));
    let candidates: &[Candidate] = match &result {
        Ok(agreement) => agreement.candidates(),
        Err(NegotiationError::NoCommonInterconnect { table }) => table,
        Err(_) => &[],
    };
    for candidate in candidates {
        report_candidate(p, c, candidate);
    }
    match &result {
        Ok(agreement) => pr_info!(
            "negotiation provider={} client={} chosen=e{} interconnect={} {}\n",
            Show(p),
            Show(c),
            agreement.chosen().exporter_index,
            Show(agreement.chosen().interconnect),
            Show(KindAndDistance(agreement.route().kind))
        ),
        Err(e) => pr_info!(
            "negotiation provider={} client={} chosen=none ({})\n",
            Show(p),
            Show(c),
            Show(e)
        ),
    }
}

struct NegotiateKernel;

impl kernel::Module for NegotiateKernel {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        pr_info!("dmabuf-negotiate runs in the kernel; the fabric is this kernel's PCI core and P2PDMA\n");
        let survey = Survey::take();
        if survey.truncated {
            pr_err!(
                "more than {} PCI functions: the survey is incomplete\n",
                MAX_FUNCTIONS
            );
        }
        let (mut pairs, mut negotiations) = (0u32, 0u32);
        for &p in survey.providers() {
            let Some(provider) = PciFunction::lookup(p) else {
                continue;
            };
            for &c in survey.endpoints() {
                if let Some(client) = PciFunction::lookup(c) {
                    report_pair(&provider, &client);
                    pairs = pairs.saturating_add(1);
                }
            }
            for &c in survey.nvme() {
                let Some(client) = PciFunction::lookup(c) else {
                    continue;
                };
                negotiate(&KernelFabric, p, c);
                pr_info!(
                    "dma-map provider={} client={} {}\n",
                    Show(Bdf(p)),
                    Show(Bdf(c)),
                    Show(dma_map_probe::observe(&provider, &client))
                );
                negotiations = negotiations.saturating_add(1);
            }
        }
        pr_info!(
            "survey done: {} providers, {} functions, {} pairs, {} negotiations\n",
            survey.providers().len(),
            survey.endpoints().len(),
            pairs,
            negotiations
        );
        Ok(NegotiateKernel)
    }
}

impl Drop for NegotiateKernel {
    fn drop(&mut self) {
        pr_info!("unloaded\n");
    }
}
