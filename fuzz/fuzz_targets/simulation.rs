//! A simulation: parsed, bound to the project's machines, run with its invariants checked
//! after every event, and shown in every format `simulate` has.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(text) = dmabuf_ic_fuzz::text(data) {
        dmabuf_ic_fuzz::simulation(text);
    }
});
