// SPDX-License-Identifier: GPL-2.0

//! dmabuf_exporter: a real dma-buf whose memory is a slice of an NVMe controller memory buffer
//! (p2pmem the kernel registered) and may move to system memory, negotiated by dmabuf-negotiate
//! with the running kernel as its fabric.
//!
//! - The buffer's state is the crate's lifecycle ([`Buffer`]), compiled here with the kernel's
//!   `KVec`: placements (the CMB slice, offering `pci-bar` and `dma-addr` of the device
//!   memory; system memory, offering `dma-addr`), attachments, generations. It changes only
//!   under the buffer's reservation lock, and the invariants ([`Monitor`]) are checked after
//!   every event.
//! - `attach` negotiates the importer's list with the exporter's for the current placement,
//!   through [`KernelFabric`] (`pci_p2pdma_distance_many()`); if nothing fits, the lifecycle
//!   moves the buffer where everyone reaches (system memory) and the memory follows.
//! - `map_dma_buf` returns one scatterlist entry for exactly the agreed interconnect: the
//!   provider's bus address for bus-address P2P, the DMA address otherwise. The kernel maps the
//!   current memory for the importer's device first (`dma_map_sgtable()`, one mapping per
//!   device and memory: `dma_mapping.rs`); DMA-API addresses (an IOVA under an IOMMU) come
//!   from that mapping, and a bus address the lifecycle derived must equal the one P2PDMA gave
//!   (`SG_DMA_BUS_ADDRESS`), or the map is refused.
//! - The importer's list: the importer passes it at attach, through `dmabuf_ic_attach()`
//!   (`offered_attach.rs`, `offer_list.rs`: what the unmerged "dma-buf mapping types" series
//!   would carry); the attach op negotiates with exactly that list. An importer that attaches
//!   with plain `dma_buf_dynamic_attach()` gets the list that series builds for it: `dma-addr`
//!   for its device, accepting P2P as its `allow_peer2peer` does.
//! - `/dev/dmabuf_exporter` (ioctls in `kernel/guest/dmabuf_ic.h`): export a buffer and get its
//!   fd, fill it by an O_DIRECT read of an NVMe namespace (the namespace's controller DMAs
//!   into the buffer's pages), read it back, move it, revoke it. `mmap` of the fd maps the
//!   current placement.
//!
//! Every event is logged as one `dmabuf-ic: event=...` line, which `kernel/run` compares with
//! `dmabuf-ic simulate` of the same storyline on the guest's sysfs.

use core::fmt;
use core::ptr::NonNull;

use dmabuf_negotiate::address::Address;
use dmabuf_negotiate::mapping::{BarAddresses, Mapping, PciBarMapping};
use dmabuf_negotiate::{
    AddrRange, Apertures, AttachmentId, BarAperture, BarSlice, Buffer, BusAddr, BusWindow,
    DeviceId, ExporterPolicy, Importer, LifecycleError, Mapped, Monitor, Offering, PhysAddr,
    Placement, Platform, RouteKind,
};
use kernel::bindings;
use kernel::ioctl::{_IO, _IOC_SIZE, _IOW, _IOWR};
use kernel::miscdevice::{MiscDevice, MiscDeviceOptions, MiscDeviceRegistration};
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::str::CStrExt;
use kernel::sync::{Arc, Mutex};
use kernel::uaccess::{UserPtr, UserSlice};

mod dma_buf_export;
mod dma_mapping;
mod list;
mod memory;
mod offer_list;
mod offered_attach;
mod pci_name;
mod resv;

// The kernel's fabric and PCI functions, shared with kernel/module's negotiate_kernel; this
// module uses part of them.
#[allow(dead_code)]
#[path = "../module/kernel_fabric.rs"]
mod kernel_fabric;
#[allow(dead_code)]
#[path = "../module/pci_function.rs"]
mod pci_function;

use dma_buf_export::{Attachment, Exported, Exporter, SgTable};
use dma_mapping::DeviceMappings;
use kernel_fabric::KernelFabric;
use memory::{P2pMemory, Pages, SystemMemory, PAGE};
use offered_attach::{Offered, Offers};
use pci_function::PciFunction;
use pci_name::PciName;
use resv::Held;

module! {
    type: ExporterModule,
    name: "dmabuf_exporter",
    authors: ["dmabuf-ic"],
    description: "A dma-buf in an NVMe CMB, negotiated by dmabuf-negotiate, movable and revocable",
    license: "GPL",
    imports_ns: ["DMA_BUF"],
}

/// The ioctl type of both modules (`kernel/guest/dmabuf_ic.h`).
const IOC: u32 = 0xdb;
/// `struct dmabuf_ic_export { u32 provider; u32 size; s32 fd; u32 pad; }`.
const EXPORT: u32 = _IOWR::<[u32; 4]>(IOC, 1);
/// `struct dmabuf_ic_fill { char path[64]; }`: fill from an NVMe namespace with O_DIRECT.
const FILL: u32 = _IOW::<[u8; 64]>(IOC, 2);
/// `struct dmabuf_ic_readback { u64 addr; u64 len; }`: copy the buffer's bytes to user space.
const READBACK: u32 = _IOW::<[u64; 2]>(IOC, 3);
/// `u32`: 0 moves to the device memory, 1 to system memory.
const MOVE: u32 = _IOW::<u32>(IOC, 4);
/// Revokes the buffer for good.
const REVOKE: u32 = _IO(IOC, 5);

/// The BAR slice length is capped at what one scatterlist entry can say.
const MAX_SIZE: usize = 1 << 24;

/// Writes one event line to the kernel log.
fn event(args: fmt::Arguments<'_>) {
    pr_info!("dmabuf-ic: {}\n", args);
}

/// The stable name of a route kind (as `dmabuf-ic --format json` writes it).
fn route_name(kind: RouteKind) -> &'static str {
    match kind {
        RouteKind::SameDevice => "same-device",
        RouteKind::PciBusAddr { .. } => "pci-bus-addr",
        RouteKind::PciThroughHostBridge { .. } => "pci-thru-host-bridge",
        RouteKind::SystemMemory => "system-memory",
        RouteKind::CpuThroughHostBridge => "cpu-thru-host-bridge",
        RouteKind::PrivateLink(_) => "private-link",
    }
}

/// An errno that `kernel::error::code` does not name.
fn errno(code: u32) -> Error {
    Error::from_errno(-(code as i32))
}

/// The stable code of a lifecycle refusal (as `dmabuf-ic simulate` writes it) and its errno.
fn refusal(e: &LifecycleError) -> (&'static str, Error) {
    match e {
        LifecycleError::Revoked(_) => ("revoked", ENODEV),
        LifecycleError::Unreachable(_) => ("unreachable", errno(bindings::EREMOTEIO)),
        LifecycleError::Renegotiation { .. } => {
            ("renegotiation-failed", errno(bindings::EREMOTEIO))
        }
        LifecycleError::MoveBlocked { .. } => ("move-blocked", EBUSY),
        LifecycleError::AlreadyThere(_) => ("already-there", errno(bindings::EALREADY)),
        LifecycleError::Pinned { .. } => ("pinned", EBUSY),
        LifecycleError::ImporterNotRevocable => ("importer-not-revocable", EPERM),
        LifecycleError::AlreadyRevoked => ("already-revoked", errno(bindings::EALREADY)),
        LifecycleError::OutOfMemory => ("out-of-memory", ENOMEM),
        LifecycleError::Address(_) => ("address", EIO),
        _ => ("other", EINVAL),
    }
}

/// Which of the buffer's two memories.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Where {
    Cmb,
    Ram,
}

impl Where {
    fn name(self) -> &'static str {
        match self {
            Where::Cmb => "cmb",
            Where::Ram => "ram",
        }
    }
}

/// The device id the negotiation uses for an attachment's device, if it is a PCI function.
fn device_id(dev: *mut bindings::device) -> Option<DeviceId> {
    // SAFETY: an attachment's device, live while the attachment is.
    unsafe { PciFunction::of_device(NonNull::new(dev)?) }.map(|f| f.id())
}

// SAFETY: a counted reference to a `struct pci_dev` may be used and put from any thread; its
// fields read here do not change while it is held.
unsafe impl Send for PciFunction {}
// SAFETY: as above: `&PciFunction` only reads fields that do not change.
unsafe impl Sync for PciFunction {}

/// The lifecycle state, changed only with the buffer's reservation lock held.
struct State {
    buffer: Buffer,
    monitor: Monitor,
    /// The kernel's DMA mappings of the memories for the importers' devices.
    dma: DeviceMappings,
    /// Events so far, numbering the log lines.
    events: u32,
}

impl State {
    /// The number of the next event.
    fn next_event(&mut self) -> u32 {
        self.events = self.events.saturating_add(1);
        self.events
    }
}

/// One exported buffer: its two memories, where it is, and its lifecycle.
#[pin_data]
struct CmbBuffer {
    // Fields drop in order: the DMA mappings (in the state) before the memories they map, the
    // memories before the provider they came from.
    #[pin]
    state: Mutex<State>,
    /// Importer lists on their way to the attach op (`offered_attach.rs`).
    #[pin]
    offered: Mutex<Offered>,
    cmb: P2pMemory,
    ram: SystemMemory,
    provider: PciFunction,
    size: usize,
    cmb_placement: Placement,
    ram_placement: Placement,
}

impl CmbBuffer {
    /// A buffer of `size` bytes in `provider`'s p2pmem, with a system-memory placement of the
    /// same size to move to.
    fn new(provider: PciFunction, size: usize) -> Result<Arc<Self>> {
        // SAFETY: `provider` is a counted reference kept in the buffer, so it outlives `cmb`.
        let cmb = unsafe { P2pMemory::alloc(provider.as_ptr(), size) }?;
        let ram = SystemMemory::alloc(size)?;
        let (bar, window) = bar_of(&provider, cmb.bus()).ok_or(ENODEV)?;
        let bar_offset = window
            .to_phys(BusAddr::new(cmb.bus()))
            .and_then(|p| p.checked_offset_from(window.cpu_range().start()))
            .ok_or(EINVAL)?;
        let id = provider.id();
        let cmb_placement = Placement::bar(BarSlice {
            device: id,
            bar,
            offset: bar_offset,
            len: size as u64,
        });
        let ram_placement = Placement::system(None, PhysAddr::new(ram.pages().phys()));
        let apertures = Apertures::new().with_bar(BarAperture {
            device: id,
            bar,
            window,
        });
        let mut at_cmb = KVec::with_capacity(2, GFP_KERNEL)?;
        at_cmb.push(Offering::PciBar, GFP_KERNEL)?;
        at_cmb.push(Offering::DmaAddr, GFP_KERNEL)?;
        let mut at_ram = KVec::with_capacity(1, GFP_KERNEL)?;
        at_ram.push(Offering::DmaAddr, GFP_KERNEL)?;
        let policy = ExporterPolicy::new(id, apertures)
            .place_with(cmb_placement, at_cmb)
            .place_with(ram_placement, at_ram)
            .revocable(true);
        let buffer = Buffer::new(size as u64, policy).map_err(|e| {
            pr_err!(
                "dmabuf-ic: the exporter policy is refused: {}\n",
                format_args!("{e}")
            );
            EINVAL
        })?;
        Arc::pin_init(
            try_pin_init!(Self {
                cmb,
                ram,
                provider,
                size,
                cmb_placement,
                ram_placement,
                state <- new_mutex!(State {
                    buffer,
                    monitor: Monitor::new(),
                    dma: DeviceMappings::default(),
                    events: 0,
                }),
                offered <- new_mutex!(Offered::default()),
            }),
            GFP_KERNEL,
        )
    }

    fn where_is(&self, placement: &Placement) -> Where {
        if *placement == self.cmb_placement {
            Where::Cmb
        } else {
            Where::Ram
        }
    }

    fn pages(&self, at: Where) -> &Pages {
        match at {
            Where::Cmb => self.cmb.pages(),
            Where::Ram => self.ram.pages(),
        }
    }

    fn placement(&self, at: Where) -> &Placement {
        match at {
            Where::Cmb => &self.cmb_placement,
            Where::Ram => &self.ram_placement,
        }
    }

    /// Checks the invariants after an event and logs any broken one.
    fn check(state: &mut State) -> &'static str {
        let dma = state.dma.mapper();
        match state
            .monitor
            .observe(&state.buffer, &Platform::new(&KernelFabric).with_dma(&dma))
        {
            Ok(found) if found.is_empty() => "ok",
            Ok(found) => {
                for v in found.iter() {
                    pr_err!("dmabuf-ic: invariant broken: {}\n", format_args!("{v}"));
                }
                "BROKEN"
            }
            Err(_) => "unchecked(out-of-memory)",
        }
    }

    /// The attachment an op is called for.
    fn attachment_id(state: &State, attachment: &Attachment<'_>) -> Option<AttachmentId> {
        let token = attachment.token();
        state
            .buffer
            .attachments()
            .iter()
            .map(|a| a.id())
            .find(|id| usize::try_from(id.get()).ok() == token.checked_sub(1))
    }

    /// The scatterlist for a mapping the lifecycle made for `dev` of the memory at `phys`:
    /// its one range, checked against the kernel's mapping of that memory for the device (the
    /// same address; bus addresses exactly where P2PDMA gave them), and recorded as using it.
    /// Fails with the errno and why.
    fn hand_out(
        state: &mut State,
        mapped: &Mapped,
        dev: DeviceId,
        phys: u64,
    ) -> core::result::Result<HandedOut, (Error, &'static str)> {
        let (dma, len) = match state.buffer.mapping(&mapped.handle) {
            Ok(Mapping::DmaAddr(m)) => first_range(m.addresses_for(dev).ok()),
            Ok(Mapping::PciBar(PciBarMapping {
                addresses: BarAddresses::Bus(m),
                ..
            })) => first_range(m.addresses_for(dev).ok()),
            Ok(Mapping::PciBar(PciBarMapping {
                addresses: BarAddresses::Dma(m),
                ..
            })) => first_range(m.addresses_for(dev).ok()),
            _ => None,
        }
        .ok_or((EINVAL, "no addresses for the device"))?;
        let kernel = state.dma.find(dev, phys).ok_or((
            EIO,
            "the kernel has no mapping of this memory for the device",
        ))?;
        let bus_route = matches!(
            mapped.agreed.route().kind,
            RouteKind::PciBusAddr { .. } | RouteKind::SameDevice
        );
        if kernel.dma() != dma {
            return Err((EIO, "the address differs from the kernel's mapping"));
        }
        if kernel.is_bus() != bus_route {
            return Err((EIO, "the route disagrees with how P2PDMA mapped the memory"));
        }
        let bus = kernel.is_bus();
        let len = u32::try_from(len).map_err(|_| (EINVAL, "a range too long for a scatterlist"))?;
        let table = SgTable::of_dma_ranges(&[(dma, len)]).map_err(|e| (e, "out of memory"))?;
        state
            .dma
            .hold(table.addr(), dev, phys)
            .map_err(|e| (e, "out of memory"))?;
        Ok(HandedOut { table, dma, bus })
    }

    /// After the lifecycle moved the buffer from `from` (or revoked it): the importers are
    /// told, the data follows, and CPU mappings of the old memory are zapped.
    fn follow(&self, buffer: &Exported<Self>, held: &Held, from: Where, to: Where) {
        buffer.invalidate_mappings(held);
        if from != to {
            self.pages(from).copy_to(self.pages(to));
        }
        buffer.zap_user_mappings();
    }
}

/// A scatterlist handed to an importer: its one address, equal to the kernel's mapping of the
/// memory for the importer's device, and whether that is a PCI bus address (P2PDMA) or a
/// DMA-API one.
struct HandedOut {
    table: SgTable,
    dma: u64,
    bus: bool,
}

/// The start and length of the first of a mapping's ranges.
fn first_range<A: Address>(ranges: Option<&[AddrRange<A>]>) -> Option<(u64, u64)> {
    ranges?.first().map(|r| (r.start().to_raw(), r.len()))
}

/// The BAR of `provider` whose bus range holds `bus`, with its window.
fn bar_of(provider: &PciFunction, bus: u64) -> Option<(u8, BusWindow)> {
    (0..6u8).find_map(|bar| {
        let pdev = provider.as_ptr();
        // SAFETY: a live function; `resource[bar]` is set at enumeration.
        let (start, end) = unsafe {
            let r = &raw const (*pdev).resource[usize::from(bar)];
            ((*r).start, (*r).end)
        };
        if end <= start {
            return None;
        }
        let len = (end - start).checked_add(1)?;
        let mut region = bindings::pci_bus_region { start: 0, end: 0 };
        // SAFETY: what `pci_bus_address()` (static inline) does: translate the BAR's resource
        // to bus addresses through the function's bus, both valid while it is.
        unsafe {
            bindings::pcibios_resource_to_bus(
                (*pdev).bus,
                &mut region,
                &raw mut (*pdev).resource[usize::from(bar)],
            )
        };
        let bus_start = region.start;
        (bus >= bus_start && bus - bus_start < len)
            .then(|| BusWindow::new(PhysAddr::new(start), BusAddr::new(bus_start), len))
            .flatten()
            .map(|w| (bar, w))
    })
}

impl Exporter for CmbBuffer {
    fn attach(&self, buffer: &Exported<Self>, attachment: &Attachment<'_>) -> Result<usize> {
        let dev = device_id(attachment.device()).ok_or(ENODEV)?;
        let p2p = attachment.peer2peer();
        // What the importer passed (`dmabuf_ic_attach()`), or what the attachment says.
        let offers = self
            .offered
            .lock()
            .take()
            .unwrap_or_else(|| Offers::compat(dev, p2p));
        let (list, count) = offers.importer_offers();
        let list = list.get(..count).unwrap_or(&[]);
        let importer = if attachment.dynamic() {
            Importer::dynamic(list)
        } else {
            Importer::pinning(list, attachment.revocable())
        }
        .map_err(|e| refusal(&e).1)?;
        let resv = buffer.lock();
        let mut guard = self.state.lock();
        let state = &mut *guard;
        let n = state.next_event();
        let from = self.where_is(state.buffer.placement());
        let result = state.buffer.attach(&Platform::new(&KernelFabric), importer);
        let to = self.where_is(state.buffer.placement());
        match result {
            Ok(attached) => {
                let invariants = Self::check(state);
                event(format_args!(
                    "event={n} op=attach importer={} peer2peer={} list={} offers={offers} \
                     outcome=ok attachment={} interconnect={} route={} generation={} placement={} \
                     moved={} invariants={}",
                    PciName(dev.0),
                    if p2p { "yes" } else { "no" },
                    offers.source(),
                    attached.id.get(),
                    attached.agreed.interconnect(),
                    route_name(attached.agreed.route().kind),
                    state.buffer.generation().get(),
                    to.name(),
                    if attached.migration.is_some() {
                        "yes"
                    } else {
                        "no"
                    },
                    invariants,
                ));
                // The importers' callbacks unmap, which takes the state lock: release it first.
                drop(guard);
                if attached.migration.is_some() {
                    self.follow(buffer, resv.held(), from, to);
                }
                usize::try_from(attached.id.get())
                    .ok()
                    .and_then(|n| n.checked_add(1))
                    .ok_or(EOVERFLOW)
            }
            Err(e) => {
                let (code, errno) = refusal(&e);
                let invariants = Self::check(state);
                event(format_args!(
                    "event={n} op=attach importer={} peer2peer={} list={} offers={offers} \
                     outcome=refused reason={} generation={} placement={} invariants={} why=\"{}\"",
                    PciName(dev.0),
                    if p2p { "yes" } else { "no" },
                    offers.source(),
                    code,
                    state.buffer.generation().get(),
                    to.name(),
                    invariants,
                    e,
                ));
                Err(errno)
            }
        }
    }

    fn detach(&self, buffer: &Exported<Self>, attachment: &Attachment<'_>) {
        let _resv = buffer.lock();
        let mut guard = self.state.lock();
        let state = &mut *guard;
        if let Some(id) = Self::attachment_id(state, attachment) {
            let n = state.next_event();
            let outcome = if state.buffer.detach(id).is_ok() {
                "ok"
            } else {
                "refused"
            };
            let invariants = Self::check(state);
            event(format_args!(
                "event={n} op=detach attachment={} outcome={} invariants={}",
                id.get(),
                outcome,
                invariants
            ));
        }
    }

    fn map(&self, _held: &Held, attachment: &Attachment<'_>) -> Result<SgTable> {
        let mut guard = self.state.lock();
        let state = &mut *guard;
        let n = state.next_event();
        let id = Self::attachment_id(state, attachment).ok_or(EINVAL)?;
        let device = NonNull::new(attachment.device()).ok_or(ENODEV)?;
        let dev = device_id(device.as_ptr()).ok_or(ENODEV)?;
        let at = self.where_is(state.buffer.placement());
        let phys = self.pages(at).phys();
        // The kernel maps the current memory for the importer's device first; the lifecycle's
        // DMA addresses come from that mapping. A revoked buffer maps nothing.
        if !state.buffer.is_revoked() {
            // SAFETY: the attachment's device is live while the op runs; the pages are the
            // buffer's, which drops its mappings before its memories.
            if let Err(e) = unsafe { state.dma.ensure(device, dev, self.pages(at), self.size) } {
                pr_err!(
                    "dmabuf-ic: the DMA API does not map the {} memory for {}: errno {}\n",
                    at.name(),
                    format_args!("{}", PciName(dev.0)),
                    e.to_errno()
                );
            }
        }
        let result = {
            let dma = state.dma.mapper();
            state
                .buffer
                .map(&Platform::new(&KernelFabric).with_dma(&dma), id)
        };
        let refused = |state: &mut State, code: &str, e: &dyn fmt::Display| {
            state.dma.prune();
            let invariants = Self::check(state);
            event(format_args!(
                "event={n} op=map attachment={} outcome=refused reason={code} generation={} \
                 invariants={invariants} why=\"{e}\"",
                id.get(),
                state.buffer.generation().get(),
            ));
        };
        let mapped = match result {
            Ok(mapped) => mapped,
            Err(e) => {
                let (code, errno) = refusal(&e);
                refused(state, code, &e);
                return Err(errno);
            }
        };
        match Self::hand_out(state, &mapped, dev, phys) {
            Ok(HandedOut { table, dma, bus }) => {
                let invariants = Self::check(state);
                event(format_args!(
                    "event={n} op=map attachment={} outcome=ok interconnect={} route={} \
                     generation={} renegotiated={} placement={} dma={dma:#x} via={} \
                     phys={phys:#x} invariants={invariants}",
                    id.get(),
                    mapped.agreed.interconnect(),
                    route_name(mapped.agreed.route().kind),
                    mapped.handle.generation().get(),
                    if mapped.change.is_some() { "yes" } else { "no" },
                    at.name(),
                    if bus { "bus-addr" } else { "dma-api" },
                ));
                Ok(table)
            }
            Err((errno, why)) => {
                let _ = state.buffer.unmap(&mapped.handle);
                refused(state, "kernel-mapping", &why);
                Err(errno)
            }
        }
    }

    fn unmap(&self, _held: &Held, attachment: &Attachment<'_>, table: &SgTable) {
        let mut guard = self.state.lock();
        let state = &mut *guard;
        // The kernel's mapping that the table used goes when no other table uses it.
        state.dma.release(table.addr());
        let id = Self::attachment_id(state, attachment);
        let handle = id
            .and_then(|id| state.buffer.attachment(id))
            .and_then(|a| a.held());
        if let (Some(id), Some(handle)) = (id, handle) {
            let n = state.next_event();
            let outcome = if state.buffer.unmap(&handle).is_ok() {
                "ok"
            } else {
                "refused"
            };
            let invariants = Self::check(state);
            event(format_args!(
                "event={n} op=unmap attachment={} outcome={outcome} generation={} \
                 invariants={invariants}",
                id.get(),
                handle.generation().get(),
            ));
        }
    }

    fn pin(&self, _held: &Held, attachment: &Attachment<'_>) -> Result {
        let mut guard = self.state.lock();
        let state = &mut *guard;
        let id = Self::attachment_id(state, attachment).ok_or(EINVAL)?;
        state.buffer.pin(id).map_err(|e| refusal(&e).1)
    }

    fn unpin(&self, _held: &Held, attachment: &Attachment<'_>) {
        let mut guard = self.state.lock();
        let state = &mut *guard;
        if let Some(id) = Self::attachment_id(state, attachment) {
            let _ = state.buffer.unpin(id);
        }
    }

    fn mmap(&self, vma: *mut bindings::vm_area_struct) -> Result {
        let guard = self.state.lock();
        if guard.buffer.is_revoked() {
            return Err(ENODEV);
        }
        let at = self.where_is(guard.buffer.placement());
        let phys = match self.placement(at) {
            Placement::System { phys, .. } => phys.raw(),
            _ => self.cmb.pages().phys(),
        };
        // SAFETY: the core calls `mmap` with a VMA being set up, its mmap lock held.
        let (start, end, pgoff, prot) = unsafe {
            let v = &*vma;
            (
                v.__bindgen_anon_1.__bindgen_anon_1.vm_start,
                v.__bindgen_anon_1.__bindgen_anon_1.vm_end,
                v.vm_pgoff,
                v.vm_page_prot,
            )
        };
        let len = end.checked_sub(start).ok_or(EINVAL)?;
        if pgoff != 0 || len > self.size {
            return Err(EINVAL);
        }
        // Maps `len` bytes of our own memory (inside the current placement) into the VMA being
        // created; the PFNs stay valid while the buffer lives, and a move or revoke zaps the
        // mapping (`zap_user_mappings`).
        let pfn = usize::try_from(phys >> bindings::PAGE_SHIFT).map_err(|_| EINVAL)?;
        // SAFETY: as above.
        let rc = unsafe { bindings::remap_pfn_range(vma, start, pfn, len, prot) };
        kernel::error::to_result(rc)
    }
}

/// What one open file of `/dev/dmabuf_exporter` exported.
struct Export {
    buffer: Arc<CmbBuffer>,
    dmabuf: Exported<CmbBuffer>,
}

/// One open file of `/dev/dmabuf_exporter`.
#[pin_data]
struct ExporterFile {
    #[pin]
    export: Mutex<Option<Export>>,
}

impl ExporterFile {
    fn do_export(&self, arg: UserPtr, size: usize) -> Result {
        let (mut reader, mut writer) = UserSlice::new(arg, size).reader_writer();
        let mut words: [u32; 4] = reader.read()?;
        let (provider, len) = (DeviceId(words[0]), words[1] as usize);
        if len == 0 || len > MAX_SIZE || len % PAGE != 0 {
            return Err(EINVAL);
        }
        let mut slot = self.export.lock();
        if slot.is_some() {
            return Err(EBUSY);
        }
        let function = PciFunction::lookup(provider).ok_or(ENODEV)?;
        let buffer = CmbBuffer::new(function, len)?;
        let dmabuf = dma_buf_export::export(&THIS_MODULE, buffer.clone(), len)?;
        let fd = dmabuf.install_fd()?;
        words[2] = u32::from_ne_bytes(fd.to_ne_bytes());
        writer.write(&words)?;
        let (bar, offset) = match buffer.cmb_placement {
            Placement::Bar(slice) => (slice.bar, slice.offset),
            _ => (0, 0),
        };
        let ram = match buffer.ram_placement {
            Placement::System { phys, .. } => phys.raw(),
            _ => 0,
        };
        event(format_args!(
            "event=0 op=export provider={} size={len} placement=cmb bar={bar} offset={offset:#x} \
             bus={:#x} ram={ram:#x} generation={}",
            PciName(provider.0),
            buffer.cmb.bus(),
            buffer.state.lock().buffer.generation().get(),
        ));
        *slot = Some(Export { buffer, dmabuf });
        Ok(())
    }

    fn with_export<R>(&self, f: impl FnOnce(&Export) -> Result<R>) -> Result<R> {
        let slot = self.export.lock();
        f(slot.as_ref().ok_or(ENOENT)?)
    }

    /// Fills the buffer by an O_DIRECT read of the first bytes of an NVMe namespace: the
    /// namespace's controller DMAs into the buffer's current pages.
    fn fill(&self, arg: UserPtr) -> Result {
        let mut path = [0u8; 64];
        UserSlice::new(arg, path.len())
            .reader()
            .read_slice(&mut path)?;
        let path = core::ffi::CStr::from_bytes_until_nul(&path).map_err(|_| EINVAL)?;
        self.with_export(|export| {
            let b = &export.buffer;
            let _resv = export.dmabuf.lock();
            let guard = b.state.lock();
            if guard.buffer.is_revoked() {
                return Err(ENODEV);
            }
            let at = b.where_is(guard.buffer.placement());
            let pages = b.pages(at);
            pages.fill(0xa5);
            let flags = (bindings::O_RDONLY | bindings::O_DIRECT) as i32;
            // SAFETY: a NUL-terminated path; returns a file or an error pointer.
            let file = kernel::error::from_err_ptr(unsafe {
                bindings::filp_open(path.as_char_ptr(), flags, 0)
            })?;
            let mut pos: bindings::loff_t = 0;
            let mut result = Ok(());
            for i in 0..pages.count() {
                let n = pages.with_page(i, |addr| {
                    // SAFETY: an open file and a mapped page of `PAGE` bytes of ours.
                    unsafe { bindings::kernel_read(file, addr.cast(), PAGE, &mut pos) }
                });
                match n {
                    Some(n) if n == PAGE as isize => {}
                    Some(n) if n < 0 => {
                        result = Err(Error::from_errno(n as i32));
                        break;
                    }
                    _ => {
                        result = Err(EIO);
                        break;
                    }
                }
            }
            // SAFETY: the file opened above, closed once.
            unsafe { bindings::filp_close(file, core::ptr::null_mut()) };
            let errno = result.as_ref().err().map_or(0, |e| e.to_errno());
            event(format_args!(
                "op=fill placement={} path={} outcome={} errno={errno}",
                at.name(),
                path.to_str().unwrap_or("?"),
                if result.is_ok() { "ok" } else { "failed" },
            ));
            result
        })
    }

    /// Copies the buffer's bytes (from its current memory) to user space: into a kernel copy
    /// under the buffer's locks, then out (page faults take the reservation lock, so no copy
    /// to user space happens while it is held).
    fn readback(&self, arg: UserPtr) -> Result {
        let [addr, len]: [u64; 2] = UserSlice::new(arg, 16).reader().read()?;
        let user = usize::try_from(addr).map_err(|_| EINVAL)?;
        let copy = self.with_export(|export| {
            let b = &export.buffer;
            let len = usize::try_from(len).map_err(|_| EINVAL)?.min(b.size);
            let mut copy = KVVec::with_capacity(len, GFP_KERNEL)?;
            let _resv = export.dmabuf.lock();
            let guard = b.state.lock();
            let pages = b.pages(b.where_is(guard.buffer.placement()));
            for i in 0..pages.count() {
                let n = len.saturating_sub(copy.len()).min(PAGE);
                if n == 0 {
                    break;
                }
                pages
                    .with_page(i, |page| {
                        // SAFETY: a mapped page of `PAGE` bytes of ours, not written meanwhile
                        // (the buffer's locks are held).
                        let bytes = unsafe { core::slice::from_raw_parts(page, n) };
                        copy.extend_from_slice(bytes, GFP_KERNEL)
                    })
                    .ok_or(EINVAL)??;
            }
            Ok(copy)
        })?;
        UserSlice::new(UserPtr::from_addr(user), copy.len())
            .writer()
            .write_slice(&copy)
    }

    /// Moves the buffer (`to`: 0 device memory, 1 system memory).
    fn move_to(&self, to: u32) -> Result {
        self.with_export(|export| {
            let b = &export.buffer;
            let resv = export.dmabuf.lock();
            let mut guard = b.state.lock();
            let state = &mut *guard;
            let n = state.next_event();
            let dest = if to == 0 { Where::Cmb } else { Where::Ram };
            let from = b.where_is(state.buffer.placement());
            let result = state
                .buffer
                .move_to(&Platform::new(&KernelFabric), b.placement(dest));
            match result {
                Ok(m) => {
                    let invariants = CmbBuffer::check(state);
                    event(format_args!(
                        "event={n} op=move placement={} outcome=ok generation={} invalidated={} \
                         invariants={invariants}",
                        dest.name(),
                        m.generation.get(),
                        m.invalidated.len(),
                    ));
                    // The importers' callbacks unmap, which takes the state lock.
                    drop(guard);
                    b.follow(&export.dmabuf, resv.held(), from, dest);
                    Ok(())
                }
                Err(e) => {
                    let (code, errno) = refusal(&e);
                    let invariants = CmbBuffer::check(state);
                    event(format_args!(
                        "event={n} op=move placement={} outcome=refused reason={code} generation={} \
                         invariants={invariants} why=\"{e}\"",
                        dest.name(),
                        state.buffer.generation().get(),
                    ));
                    Err(errno)
                }
            }
        })
    }

    /// Revokes the buffer for good.
    fn revoke(&self) -> Result {
        self.with_export(|export| {
            let b = &export.buffer;
            let resv = export.dmabuf.lock();
            let mut guard = b.state.lock();
            let state = &mut *guard;
            let n = state.next_event();
            let at = b.where_is(state.buffer.placement());
            match state.buffer.revoke() {
                Ok(r) => {
                    let invariants = CmbBuffer::check(state);
                    event(format_args!(
                        "event={n} op=revoke outcome=ok generation={} invalidated={} \
                         invariants={invariants}",
                        r.generation.get(),
                        r.invalidated.len(),
                    ));
                    // The importers' callbacks unmap, which takes the state lock.
                    drop(guard);
                    b.follow(&export.dmabuf, resv.held(), at, at);
                    Ok(())
                }
                Err(e) => {
                    let (code, errno) = refusal(&e);
                    event(format_args!(
                        "event={n} op=revoke outcome=refused reason={code}"
                    ));
                    Err(errno)
                }
            }
        })
    }
}

#[vtable]
impl MiscDevice for ExporterFile {
    type Ptr = Pin<KBox<Self>>;

    fn open(_file: &kernel::fs::File, _misc: &MiscDeviceRegistration<Self>) -> Result<Self::Ptr> {
        KBox::try_pin_init(
            try_pin_init!(ExporterFile {
                export <- new_mutex!(None),
            }),
            GFP_KERNEL,
        )
    }

    fn ioctl(me: Pin<&Self>, _file: &kernel::fs::File, cmd: u32, arg: usize) -> Result<isize> {
        let ptr = UserPtr::from_addr(arg);
        match cmd {
            EXPORT => me.do_export(ptr, _IOC_SIZE(cmd))?,
            FILL => me.fill(ptr)?,
            READBACK => me.readback(ptr)?,
            MOVE => {
                let to: u32 = UserSlice::new(ptr, 4).reader().read()?;
                me.move_to(to)?
            }
            REVOKE => me.revoke()?,
            _ => return Err(ENOTTY),
        }
        Ok(0)
    }
}

/// The module: `/dev/dmabuf_exporter`.
#[pin_data]
struct ExporterModule {
    #[pin]
    _misc: MiscDeviceRegistration<ExporterFile>,
}

impl kernel::InPlaceModule for ExporterModule {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            _misc <- MiscDeviceRegistration::register(MiscDeviceOptions {
                name: c"dmabuf_exporter",
            }),
        })
    }
}
