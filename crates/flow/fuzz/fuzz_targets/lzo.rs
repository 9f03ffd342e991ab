//! The LZO1X decompressor nfcapd `-z` files need.
#![no_main]

use libfuzzer_sys::fuzz_target;
use relbot_flow::nfcapd::lzo;

fuzz_target!(|data: &[u8]| {
    let mut out = Vec::new();
    let _ = lzo::decompress(data, &mut out, 1 << 20);
    assert!(out.len() <= 1 << 20);
});
