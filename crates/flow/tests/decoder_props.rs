//! Properties of the binary decoders: what the builders write decodes back unchanged, and no
//! input (garbage, truncated, damaged) makes a decoder panic.

// A failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, SocketAddr};

use proptest::prelude::*;
use relbot_flow::netflow::build::{flow_fields, MessageBuilder, V5Builder};
use relbot_flow::netflow::{Collector, CollectorConfig, Protocol};
use relbot_flow::nfcapd::{self, writer, Compression};
use relbot_flow::FlowRecord;

const EXPORT_MS: i64 = 1_700_000_000_000;

fn source() -> SocketAddr {
    "192.0.2.7:2055".parse().unwrap()
}

prop_compose! {
    fn record(ipv6: bool)(
        start_back in 0i64..1_000_000_000,
        duration in 0i64..1_000_000,
        a in any::<u128>(), b in any::<u128>(),
        src_port in any::<u16>(), dst_port in any::<u16>(),
        protocol in any::<u8>(), tcp_flags in any::<u8>(),
        bytes in any::<u64>(), packets in any::<u64>(),
        input_if in any::<u32>(), output_if in any::<u32>(),
        egress in any::<bool>(),
    ) -> FlowRecord {
        let addr = |x: u128| if ipv6 { IpAddr::from(x.to_be_bytes()) } else { IpAddr::from((x as u32).to_be_bytes()) };
        // Keep ICMP out: ICMP type/code is carried differently per protocol.
        let protocol = if matches!(protocol, 1 | 58) { 6 } else { protocol };
        FlowRecord {
            start_ms: EXPORT_MS - start_back - duration,
            end_ms: EXPORT_MS - start_back,
            src: addr(a), dst: addr(b), src_port, dst_port, protocol, tcp_flags,
            bytes, packets, input_if, output_if,
            flags: if egress { FlowRecord::FLAG_EGRESS } else { 0 },
            ..FlowRecord::default()
        }
    }
}

fn decode_all(datagram: &[u8]) -> Vec<FlowRecord> {
    let mut c = Collector::new(CollectorConfig::default());
    let mut out = Vec::new();
    c.decode(source(), datagram, EXPORT_MS, &mut out).unwrap();
    out
}

fn expected(r: &FlowRecord, domain: u32) -> FlowRecord {
    FlowRecord {
        exporter: Some(source().ip()),
        observation_domain: domain,
        ..*r
    }
}

proptest! {
    #[test]
    fn v9_and_ipfix_round_trip(
        v4 in proptest::collection::vec(record(false), 0..20),
        v6 in proptest::collection::vec(record(true), 0..20),
        domain in any::<u32>(),
    ) {
        for protocol in [Protocol::V9, Protocol::Ipfix] {
            let f4 = flow_fields(protocol, false);
            let f6 = flow_fields(protocol, true);
            let builder = match protocol {
                Protocol::V9 => MessageBuilder::v9(EXPORT_MS, 2_000_000_000, domain),
                Protocol::Ipfix => MessageBuilder::ipfix(EXPORT_MS, domain),
            };
            let d = builder
                .template(256, &f4)
                .template(257, &f6)
                .flows(256, &f4, &v4)
                .flows(257, &f6, &v6)
                .build();
            let want: Vec<_> = v4.iter().chain(&v6).map(|r| expected(r, domain)).collect();
            prop_assert_eq!(decode_all(&d), want);
        }
    }

    #[test]
    fn v5_round_trips(records in proptest::collection::vec(record(false), 0..30)) {
        let mut b = V5Builder::new(EXPORT_MS, 2_000_000_000);
        let mut want = Vec::new();
        for r in &records {
            b = b.record(r);
            want.push(FlowRecord {
                // v5 has 32-bit counters and 16-bit interface indexes.
                bytes: r.bytes as u32 as u64,
                packets: r.packets as u32 as u64,
                input_if: u32::from(r.input_if as u16),
                output_if: u32::from(r.output_if as u16),
                flags: 0,
                ..expected(r, 0)
            });
        }
        prop_assert_eq!(decode_all(&b.build()), want);
    }

    #[test]
    fn garbage_never_panics(
        head in prop_oneof![Just(vec![0u8, 5]), Just(vec![0, 9]), Just(vec![0, 10]), Just(vec![])],
        tail in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let mut c = Collector::new(CollectorConfig::default());
        let d = [head, tail].concat();
        let _ = c.decode(source(), &d, EXPORT_MS, &mut Vec::new());
    }

    #[test]
    fn damaged_and_truncated_datagrams_never_panic(
        records in proptest::collection::vec(record(false), 1..5),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        cut in any::<prop::sample::Index>(),
        ipfix in any::<bool>(),
    ) {
        let protocol = if ipfix { Protocol::Ipfix } else { Protocol::V9 };
        let fields = flow_fields(protocol, false);
        let builder = if ipfix {
            MessageBuilder::ipfix(EXPORT_MS, 1)
        } else {
            MessageBuilder::v9(EXPORT_MS, 1000, 1)
        };
        let mut d = builder.template(256, &fields).flows(256, &fields, &records).build();
        for (at, x) in &flips {
            let i = at.index(d.len());
            d[i] ^= x;
        }
        let mut c = Collector::new(CollectorConfig::default());
        let mut out = Vec::new();
        let _ = c.decode(source(), &d[..cut.index(d.len() + 1)], EXPORT_MS, &mut out);
        prop_assert!(out.len() <= records.len() + 64);
    }

    #[test]
    fn nfcapd_round_trips_and_damage_never_panics(
        records in proptest::collection::vec(record(false), 1..50),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        lz4 in any::<bool>(),
    ) {
        let compression = if lz4 { Compression::Lz4 } else { Compression::None };
        let records: Vec<_> = records.iter().map(|r| expected(r, 3)).collect();
        let mut file = writer::encode_file(&records, compression, 2048).unwrap();
        let mut out = Vec::new();
        nfcapd::decode_file(&file, &mut out).unwrap();
        prop_assert_eq!(&out, &records);
        for (at, x) in &flips {
            let i = at.index(file.len());
            file[i] ^= x;
        }
        let _ = nfcapd::decode_file(&file, &mut Vec::new());
    }
}
