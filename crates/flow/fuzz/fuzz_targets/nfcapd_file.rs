//! A whole nfcapd file in memory, and the same bytes through the streaming reader.
#![no_main]

use libfuzzer_sys::fuzz_target;
use relbot_flow::nfcapd::{decode_file, NfcapdReader};

fuzz_target!(|data: &[u8]| {
    let mut whole = Vec::new();
    let result = decode_file(data, &mut whole);
    let mut streamed = Vec::new();
    if let Ok(mut reader) = NfcapdReader::new(data, std::path::Path::new("fuzz")) {
        while let Ok(Some(_)) = reader.read_block(&mut streamed) {}
    }
    if result.is_ok() {
        assert_eq!(whole, streamed);
    }
});
