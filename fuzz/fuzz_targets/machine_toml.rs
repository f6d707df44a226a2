//! The project's machine TOML: loaded, then shown by every machine command in every format
//! (its own TOML output included, which must load back into the same machine).
#![no_main]

use dmabuf_ic::source::MachineSource;
use dmabuf_ic_fuzz::{NAME, check_load_error, render_machine, text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(text) = text(data) else { return };
    match pci_topology::load::parse_toml(NAME, text) {
        Ok(m) => render_machine(&m, &MachineSource::Toml(NAME.into())),
        Err(e) => check_load_error(text, &e),
    }
});
