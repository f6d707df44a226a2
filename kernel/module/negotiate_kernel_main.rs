// SPDX-License-Identifier: GPL-2.0

//! negotiate_kernel: dmabuf-ic's negotiation core (the crate `dmabuf_negotiate`, compiled from
//! `crates/negotiate/src`) running inside Linux, with the running kernel as its [`Fabric`].
//!
//! Loading the module runs its KUnit suites ([`kunit_tests`]), then reports, in the kernel log:
//! - `pair provider=P client=C route=KIND distance=D`: for every p2pmem provider the kernel
//!   registered and every PCI function that is not a bridge, the kernel's P2P verdict
//!   (`pci_p2pdma_distance_many()`) and the route kind derived from it ([`kernel_fabric`]);
//! - for every provider and every NVMe controller, one negotiation with a fixed offer set (the
//!   exporter: a `pci-bar` slice and `dma-addr` of the provider's memory, then `dma-addr` of
//!   system memory; the importer: `pci-bar`, `dma-addr`): every candidate, then
//!   `negotiation provider=P client=C chosen=eN interconnect=I route=KIND distance=D`, and
//!   `dma-map provider=P client=C map=...`, the map type the DMA API chose ([`dma_map_probe`]).
//!
//! The lines are written by [`report`]. `kernel/run` boots the module under QEMU on each
//! topology and compares them with the kernel's own P2P decision seen from user space and with
//! `dmabuf-ic` on the guest's sysfs.

use dmabuf_negotiate::{
    BarSlice, Candidate, DeviceId, ExporterOffer, Fabric, ImporterOffer, Memory, Negotiator,
};
use kernel::prelude::*;

mod dma_map_probe;
mod kernel_fabric;
mod kunit_tests;
mod pci_function;
mod report;
mod survey;
mod test_fabric;

use kernel_fabric::KernelFabric;
use pci_function::PciFunction;
use survey::Survey;

module! {
    type: NegotiateKernel,
    name: "negotiate_kernel",
    authors: ["dmabuf-ic"],
    description: "dmabuf-ic's negotiation core with the running kernel's P2PDMA as its fabric",
    license: "GPL",
}

/// The BAR of an NVMe controller memory buffer under QEMU.
const CMB_BAR: u8 = 2;
/// The slice of it the exporter offers.
const SLICE_LEN: u64 = 1 << 16;

/// One negotiation between the provider's memory (exporter) and an NVMe controller (importer),
/// with the fixed offer set `kernel/run` also gives `dmabuf-ic negotiate`.
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
    report::negotiation(provider, client, &result);
}

struct NegotiateKernel;

impl kernel::Module for NegotiateKernel {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        pr_info!("dmabuf-negotiate runs in the kernel; the fabric is this kernel's PCI core and P2PDMA\n");
        let survey = Survey::take();
        if survey.truncated {
            pr_err!(
                "more than {} PCI functions: the survey is incomplete\n",
                survey::CAPACITY
            );
        }
        let (mut pairs, mut negotiations) = (0u32, 0u32);
        for &p in survey.providers.as_slice() {
            let Some(provider) = PciFunction::lookup(p) else {
                continue;
            };
            for &c in survey.endpoints.as_slice() {
                if let Some(client) = PciFunction::lookup(c) {
                    report::pair(p, c, &kernel_fabric::p2p_route(&provider, &client));
                    pairs = pairs.saturating_add(1);
                }
            }
            for &c in survey.nvme.as_slice() {
                let Some(client) = PciFunction::lookup(c) else {
                    continue;
                };
                negotiate(&KernelFabric, p, c);
                report::dma_map(p, c, &dma_map_probe::observe(&provider, &client));
                negotiations = negotiations.saturating_add(1);
            }
        }
        pr_info!(
            "survey done: {} providers, {} functions, {} pairs, {} negotiations\n",
            survey.providers.as_slice().len(),
            survey.endpoints.as_slice().len(),
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
