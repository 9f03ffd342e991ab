//! An IPFIX file (RFC 5655): messages one after another.
#![no_main]

use libfuzzer_sys::fuzz_target;
use relbot_flow::ipfix_file::IpfixFileReader;

fuzz_target!(|data: &[u8]| {
    let mut reader = IpfixFileReader::new(data, std::path::Path::new("fuzz"));
    let mut out = Vec::new();
    while let Ok(true) = reader.read_message(&mut out) {}
});
