// SPDX-License-Identifier: GPL-2.0

//! dmabuf_importer: imports a dma-buf fd on behalf of a named PCI function (an NVMe
//! controller), as a dynamic importer (an `invalidate_mappings` callback, so it is revocable:
//! `dma_buf_attach_revocable()`), offering its list at attach through `dmabuf_exporter`'s
//! `dmabuf_ic_attach()` (`offer_list.rs`). What it asks for ([`Asks`], chosen per import):
//! `pci-bar` and `dma-addr` accepting peer-to-peer memory; plain `dma-addr`, without or with
//! `allow_peer2peer` (an importer that could take peer-to-peer addresses but asks for system
//! memory: only its list says so); or no list at all, as any dynamic importer of mainline
//! attaches (`dma_buf_dynamic_attach()` with `allow_peer2peer`), which is how the storylines
//! exercise the exporter's fallback for such importers.
//!
//! `/dev/dmabuf_importer` (ioctls in `kernel/guest/dmabuf_ic.h`): import an fd for a function,
//! map (under the reservation lock; returns the scatterlist's DMA addresses), detach. When the
//! exporter invalidates the mappings (a move, a revoke), the callback gives the mapping back at
//! once; the next map asks the exporter again, which renegotiates.

use kernel::ioctl::{_IO, _IOW, _IOWR};
use kernel::miscdevice::{MiscDevice, MiscDeviceOptions, MiscDeviceRegistration};
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};
use kernel::uaccess::{UserPtr, UserSlice};

mod dma_buf_import;
mod offer_list;
mod pci_name;
mod resv;

use dma_buf_import::{Import, Importer, Mapped};
use offer_list::{offer_name, WireOffer, WIRE_ACCEPTS_P2P, WIRE_DMA_ADDR, WIRE_PCI_BAR};
use pci_name::PciName;
use resv::Held;

module! {
    type: ImporterModule,
    name: "dmabuf_importer",
    authors: ["dmabuf-ic"],
    description: "A dynamic, revocable dma-buf importer on behalf of a PCI function",
    license: "GPL",
    imports_ns: ["DMA_BUF", "DMABUF_IC"],
}

/// The ioctl type of both modules (`kernel/guest/dmabuf_ic.h`).
const IOC: u32 = 0xdb;
/// `struct dmabuf_ic_import { s32 fd; u32 client; u32 asks; u32 pad; }`, `asks` one of
/// [`ASKS_PLAIN`], [`ASKS_P2P`], [`ASKS_COMPAT`], [`ASKS_SYSTEM`].
const IMPORT: u32 = _IOW::<[u32; 4]>(IOC, 0x11);
/// `struct dmabuf_ic_map { s32 error; u32 nents; u64 dma; u64 len; u32 invalidations; u32 pad; }`.
const MAP: u32 = _IOWR::<[u64; 4]>(IOC, 0x12);
/// Detaches.
const DETACH: u32 = _IO(IOC, 0x13);

/// [`IMPORT`]: the list `dma-addr`, without `allow_peer2peer`.
const ASKS_PLAIN: u32 = 0;
/// [`IMPORT`]: the list `pci-bar`, `dma-addr` accepting peer-to-peer memory, with
/// `allow_peer2peer`.
const ASKS_P2P: u32 = 1;
/// [`IMPORT`]: no list, with `allow_peer2peer` (a dynamic importer of mainline).
const ASKS_COMPAT: u32 = 2;
/// [`IMPORT`]: the list `dma-addr`, with `allow_peer2peer`: the attachment allows
/// peer-to-peer memory, the list does not ask for it.
const ASKS_SYSTEM: u32 = 3;

/// What the importer asks for at attach: the list it passes, if any, and `allow_peer2peer`.
#[derive(Clone, Copy)]
struct Asks {
    list: Option<&'static [WireOffer]>,
    peer2peer: bool,
}

impl Asks {
    /// The [`IMPORT`] code `code`, or `EINVAL`.
    fn from_code(code: u32) -> Result<Self> {
        let (list, peer2peer): (Option<&'static [WireOffer]>, bool) = match code {
            ASKS_PLAIN => (Some(&PLAIN_OFFERS), false),
            ASKS_P2P => (Some(&P2P_OFFERS), true),
            ASKS_COMPAT => (None, true),
            ASKS_SYSTEM => (Some(&PLAIN_OFFERS), true),
            _ => return Err(EINVAL),
        };
        Ok(Self { list, peer2peer })
    }
}

/// What an NVMe controller can take, as it offers it: a BAR slice or DMA addresses of
/// peer-to-peer memory (the NVMe driver programs either into its PRPs), in that order.
const P2P_OFFERS: [WireOffer; 2] = [
    WireOffer {
        interconnect: WIRE_PCI_BAR,
        flags: 0,
        dev: core::ptr::null_mut(),
    },
    WireOffer {
        interconnect: WIRE_DMA_ADDR,
        flags: WIRE_ACCEPTS_P2P,
        dev: core::ptr::null_mut(),
    },
];
/// What a controller that does not accept peer-to-peer memory offers: DMA addresses.
const PLAIN_OFFERS: [WireOffer; 1] = [WireOffer {
    interconnect: WIRE_DMA_ADDR,
    flags: 0,
    dev: core::ptr::null_mut(),
}];

/// The offers an importer's list names, as the log lines write them (`pci-bar,dma-addr+p2p`;
/// `none` without a list).
impl core::fmt::Display for Asks {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let Some(offers) = self.list else {
            return f.write_str("none");
        };
        for (i, offer) in offers.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            let name = offer_name(offer.interconnect == WIRE_PCI_BAR, offer.peer2peer());
            write!(f, "{sep}{name}")?;
        }
        Ok(())
    }
}

/// What the importer keeps of its mapping; the callback changes it under the reservation lock.
struct Holding {
    mapped: Option<Mapped>,
    invalidations: u32,
    client: PciName,
}

/// The importer's side of one attachment.
#[pin_data]
struct Client {
    #[pin]
    holding: Mutex<Holding>,
}

impl Importer for Client {
    fn invalidate(&self, held: &Held) {
        let mut holding = self.holding.lock();
        let had = holding.mapped.take();
        let unmapped = had.is_some();
        if let Some(mapped) = had {
            mapped.unmap(held);
        }
        holding.invalidations = holding.invalidations.saturating_add(1);
        pr_info!(
            "dmabuf-ic: importer op=invalidated client={} unmapped={}\n",
            format_args!("{}", holding.client),
            if unmapped { "yes" } else { "no" }
        );
    }
}

/// One open file of `/dev/dmabuf_importer`.
#[pin_data]
struct ImporterFile {
    #[pin]
    import: Mutex<Option<Import<Client>>>,
}

impl ImporterFile {
    fn do_import(&self, arg: UserPtr) -> Result {
        let [fd, client, asks, _]: [u32; 4] = UserSlice::new(arg, 16).reader().read()?;
        let asks = Asks::from_code(asks)?;
        let mut slot = self.import.lock();
        if slot.is_some() {
            return Err(EBUSY);
        }
        let client_state = Arc::pin_init(
            try_pin_init!(Client {
                holding <- new_mutex!(Holding {
                    mapped: None,
                    invalidations: 0,
                    client: PciName(client),
                }),
            }),
            GFP_KERNEL,
        )?;
        pr_info!(
            "dmabuf-ic: importer op=attach client={} list={} peer2peer={}\n",
            format_args!("{}", PciName(client)),
            format_args!("{asks}"),
            if asks.peer2peer { "yes" } else { "no" }
        );
        let import = Import::attach(
            i32::from_ne_bytes(fd.to_ne_bytes()),
            client,
            asks.list,
            asks.peer2peer,
            client_state,
        )?;
        *slot = Some(import);
        Ok(())
    }

    fn map(&self, arg: UserPtr) -> Result {
        let out = self.map_locked()?;
        // Page faults take the reservation lock (mmap_lock, then resv): copy out after it is
        // released.
        UserSlice::new(arg, out.len()).writer().write_slice(&out)
    }

    /// Maps (or finds the mapping it holds) under the reservation lock, and says what it got.
    fn map_locked(&self) -> Result<[u8; 32]> {
        let slot = self.import.lock();
        let import = slot.as_ref().ok_or(ENOENT)?;
        let resv = import.lock();
        let mut holding = import.importer().holding.lock();
        let result = match holding.mapped.as_ref() {
            Some(mapped) => Ok(mapped.first()),
            None => import.map(resv.held()).map(|mapped| {
                let first = mapped.first();
                holding.mapped = Some(mapped);
                first
            }),
        };
        let mut out = [0u8; 32];
        match result {
            Ok((nents, dma, len)) => {
                out[4..8].copy_from_slice(&nents.to_ne_bytes());
                out[8..16].copy_from_slice(&dma.to_ne_bytes());
                out[16..24].copy_from_slice(&len.to_ne_bytes());
            }
            Err(e) => out[..4].copy_from_slice(&e.to_errno().to_ne_bytes()),
        }
        out[24..28].copy_from_slice(&holding.invalidations.to_ne_bytes());
        Ok(out)
    }
}

#[vtable]
impl MiscDevice for ImporterFile {
    type Ptr = Pin<KBox<Self>>;

    fn open(_file: &kernel::fs::File, _misc: &MiscDeviceRegistration<Self>) -> Result<Self::Ptr> {
        KBox::try_pin_init(
            try_pin_init!(ImporterFile {
                import <- new_mutex!(None),
            }),
            GFP_KERNEL,
        )
    }

    fn ioctl(me: Pin<&Self>, _file: &kernel::fs::File, cmd: u32, arg: usize) -> Result<isize> {
        let ptr = UserPtr::from_addr(arg);
        match cmd {
            IMPORT => me.do_import(ptr)?,
            MAP => me.map(ptr)?,
            DETACH => drop(me.import.lock().take()),
            _ => return Err(ENOTTY),
        }
        Ok(0)
    }
}

/// The module: `/dev/dmabuf_importer`.
#[pin_data]
struct ImporterModule {
    #[pin]
    _misc: MiscDeviceRegistration<ImporterFile>,
}

impl kernel::InPlaceModule for ImporterModule {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            _misc <- MiscDeviceRegistration::register(MiscDeviceOptions {
                name: c"dmabuf_importer",
            }),
        })
    }
}
