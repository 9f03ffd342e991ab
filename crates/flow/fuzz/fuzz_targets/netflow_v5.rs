//! NetFlow v5: any bytes after the version number.
#![no_main]

use libfuzzer_sys::fuzz_target;
use relbot_flow::netflow::{decode_v5, SamplingMode};

fuzz_target!(|data: &[u8]| {
    let datagram = [&[0u8, 5][..], data].concat();
    let mut out = Vec::new();
    let _ = decode_v5(&datagram, None, SamplingMode::Scale, &mut out);
});
