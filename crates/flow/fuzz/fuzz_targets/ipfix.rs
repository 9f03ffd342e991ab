//! IPFIX through a fresh collector: any bytes after the version number.
#![no_main]

use libfuzzer_sys::fuzz_target;
use relbot_flow::netflow::{Collector, CollectorConfig, SamplingMode};

fuzz_target!(|data: &[u8]| {
    let datagram = [&[0u8, 10][..], data].concat();
    let mut collector = Collector::new(CollectorConfig {
        sampling: SamplingMode::Scale,
        ..CollectorConfig::default()
    });
    let mut out = Vec::new();
    let source = "[2001:db8::1]:4739".parse().expect("address");
    let _ = collector.decode(source, &datagram, 1_700_000_000_000, &mut out);
});
