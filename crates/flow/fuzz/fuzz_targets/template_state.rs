//! Saved template state, as read at start-up: damage is an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use relbot_flow::netflow::{persist, Collector, CollectorConfig};

fuzz_target!(|data: &[u8]| {
    let mut collector = Collector::new(CollectorConfig::default());
    if collector.restore_state(data).is_ok() {
        let saved = collector.save_state();
        assert!(persist::validate(&saved).is_ok());
    }
});
