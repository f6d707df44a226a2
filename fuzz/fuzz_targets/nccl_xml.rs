//! NCCL topology XML: loaded, then shown by every machine command in every format.
#![no_main]

use dmabuf_ic::source::MachineSource;
use dmabuf_ic_fuzz::{NAME, check_load_error, check_warnings, render_machine, text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(text) = text(data) else { return };
    match pci_topology::load::parse_nccl_xml_with_warnings(NAME, text) {
        Ok((m, warnings)) => {
            check_warnings(text, &warnings);
            render_machine(&m, &MachineSource::Nccl(NAME.into()));
        }
        Err(e) => check_load_error(text, &e),
    }
});
