//! A negotiation scenario: parsed, bound to the project's machines, negotiated, and shown in
//! every format `negotiate` has.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(text) = dmabuf_ic_fuzz::text(data) {
        dmabuf_ic_fuzz::scenario(text);
    }
});
