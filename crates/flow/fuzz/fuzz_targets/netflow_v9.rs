//! NetFlow v9 through a fresh collector: any bytes after the version number.
#![no_main]

use libfuzzer_sys::fuzz_target;
use relbot_flow::netflow::{Collector, CollectorConfig};

fuzz_target!(|data: &[u8]| {
    let datagram = [&[0u8, 9][..], data].concat();
    let mut collector = Collector::new(CollectorConfig::default());
    let mut out = Vec::new();
    let source = "192.0.2.1:2055".parse().expect("address");
    let _ = collector.decode(source, &datagram, 1_700_000_000_000, &mut out);
    // Learned state must survive a save/restore round trip.
    let saved = collector.save_state();
    let mut again = Collector::new(CollectorConfig::default());
    assert!(again.restore_state(&saved).is_ok());
});
