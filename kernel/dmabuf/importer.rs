// SPDX-License-Identifier: GPL-2.0

//! dmabuf_importer: imports a dma-buf fd on behalf of a named PCI function (an NVMe
//! controller), as a dynamic importer: `dma_buf_dynamic_attach()` with `allow_peer2peer` and
//! an `invalidate_mappings` callback, so it is revocable (`dma_buf_attach_revocable()`).
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
mod resv;

use dma_buf_import::{Import, Importer, Mapped};
use resv::Held;

module! {
    type: ImporterModule,
    name: "dmabuf_importer",
    authors: ["dmabuf-ic"],
    description: "A dynamic, revocable dma-buf importer on behalf of a PCI function",
    license: "GPL",
    imports_ns: ["DMA_BUF"],
}

/// The ioctl type of both modules (`kernel/guest/dmabuf_ic.h`).
const IOC: u32 = 0xdb;
/// `struct dmabuf_ic_import { s32 fd; u32 client; u32 peer2peer; u32 pad; }`.
const IMPORT: u32 = _IOW::<[u32; 4]>(IOC, 0x11);
/// `struct dmabuf_ic_map { s32 error; u32 nents; u64 dma; u64 len; u32 invalidations; u32 pad; }`.
const MAP: u32 = _IOWR::<[u64; 4]>(IOC, 0x12);
/// Detaches.
const DETACH: u32 = _IO(IOC, 0x13);

/// What the importer keeps of its mapping; the callback changes it under the reservation lock.
struct Holding {
    mapped: Option<Mapped>,
    invalidations: u32,
    client: [u8; 12],
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
        holding.invalidations += 1;
        pr_info!(
            "dmabuf-ic: importer op=invalidated client={} unmapped={}\n",
            core::str::from_utf8(&holding.client).unwrap_or("?"),
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
        let mut raw = [0u8; 16];
        UserSlice::new(arg, raw.len())
            .reader()
            .read_slice(&mut raw)?;
        let word = |i: usize| u32::from_ne_bytes([raw[i], raw[i + 1], raw[i + 2], raw[i + 3]]);
        let (fd, client, peer2peer) = (word(0) as i32, word(4), word(8) != 0);
        let mut slot = self.import.lock();
        if slot.is_some() {
            return Err(EBUSY);
        }
        let mut name = [b'?'; 12];
        let text = PciName(client);
        text.write(&mut name);
        let client_state = Arc::pin_init(
            try_pin_init!(Client {
                holding <- new_mutex!(Holding {
                    mapped: None,
                    invalidations: 0,
                    client: name,
                }),
            }),
            GFP_KERNEL,
        )?;
        let import = Import::attach(fd, client, peer2peer, client_state)?;
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

/// A PCI function id (`domain << 16 | bus << 8 | devfn`) written as `DDDD:BB:SS.F`.
struct PciName(u32);

impl PciName {
    fn write(&self, out: &mut [u8; 12]) {
        let hex = b"0123456789abcdef";
        let d = self.0;
        let digits = [
            (d >> 28) & 0xf,
            (d >> 24) & 0xf,
            (d >> 20) & 0xf,
            (d >> 16) & 0xf,
            (d >> 12) & 0xf,
            (d >> 8) & 0xf,
            ((d >> 3) & 0x1f) >> 4,
            ((d >> 3) & 0x1f) & 0xf,
            d & 7,
        ];
        let at = [0, 1, 2, 3, 5, 6, 8, 9, 11];
        for (&pos, &digit) in at.iter().zip(digits.iter()) {
            out[pos] = hex[digit as usize];
        }
        out[4] = b':';
        out[7] = b':';
        out[10] = b'.';
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
