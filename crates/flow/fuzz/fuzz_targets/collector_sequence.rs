//! Several datagrams into one collector (templates, options, held data, withdrawal, expiry):
//! the input is a sequence of `length u16 (big-endian) | source u8 | bytes`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use relbot_flow::netflow::{Collector, CollectorConfig, PendingConfig};

fuzz_target!(|data: &[u8]| {
    let mut collector = Collector::new(CollectorConfig {
        key_by_source_port: true,
        max_templates: 64,
        pending: PendingConfig {
            max_bytes: 4096,
            max_age: std::time::Duration::from_secs(2),
        },
        ..CollectorConfig::default()
    });
    let mut out = Vec::new();
    let mut now = 1_700_000_000_000i64;
    let mut rest = data;
    while rest.len() >= 3 {
        let n = usize::from(u16::from_be_bytes([rest[0], rest[1]])).min(rest.len() - 3);
        let port = 2055 + u16::from(rest[2] % 4);
        let source = std::net::SocketAddr::from(([192, 0, 2, rest[2] / 64], port));
        let datagram = &rest[3..3 + n];
        let _ = collector.decode(source, datagram, now, &mut out);
        now += 700;
        rest = &rest[3 + n..];
    }
    collector.expire(now + 10_000_000);
});
