//! A sysfs snapshot archive (`.tar`, `.tar.gz`, `.tar.bz2`): read within its limits, loaded,
//! then shown by every machine command in every format. Errors name the archive.
#![no_main]

use dmabuf_ic::source::MachineSource;
use dmabuf_ic_fuzz::{NAME, render_machine};
use libfuzzer_sys::fuzz_target;
use pci_topology::load::{ArchiveSource, load_from_source};

fuzz_target!(|data: &[u8]| {
    let loaded = ArchiveSource::from_bytes(NAME, data).and_then(|a| load_from_source(&a));
    match loaded {
        Ok(m) => render_machine(&m, &MachineSource::Sysfs(NAME.into())),
        Err(e) => {
            let message = e.to_string();
            assert!(
                message.starts_with(NAME),
                "the error names the archive: {message}"
            );
        }
    }
});
