//! Known values pinned by the golden files, and proptest strategies.

#![allow(dead_code)]

use std::net::IpAddr;

use proptest::prelude::*;
use relbot_codec::{
    Detection, DetectionId, Evidence, PeriodResult, Report, ReportId, ReportStatus, SrcMode,
};
use relbot_flow::FlowRecord;

/// The schema registry id the Confluent golden files carry.
pub const GOLDEN_SCHEMA_ID: u32 = 7;

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A UDP flow of a Zeus-like bot to one peer, as the ingest would produce it.
pub fn known_flow() -> FlowRecord {
    FlowRecord {
        start_ms: 1_416_316_500_000, // 2014-11-18T13:15:00Z
        end_ms: 1_416_316_501_234,
        src: ip("192.0.2.143"),
        dst: ip("198.51.100.7"),
        src_port: 49_152,
        dst_port: 16_471,
        protocol: 17,
        tcp_flags: 0,
        bytes: 1_234,
        packets: 3,
        exporter: Some(ip("2001:db8::1")),
        observation_domain: 7,
        sampling_rate: 1,
        input_if: 3,
        output_if: 5,
        flags: FlowRecord::FLAG_BIDIRECTIONAL | FlowRecord::FLAG_REVERSED,
    }
}

/// A detection over one hour with the classic periods.
pub fn known_detection() -> Detection {
    Detection {
        detection_id: DetectionId::from_bytes([0; 16]),
        host: ip("192.0.2.143"),
        window_start_ms: 1_416_312_000_000,
        window_end_ms: 1_416_315_600_000,
        algorithm: "classic".into(),
        algorithm_version: "1".into(),
        periods: vec![
            PeriodResult {
                period_ms: 600_000,
                count: 2,
                peers: vec![ip("198.51.100.7"), ip("2001:db8::7")],
                peer_confidence: Some(vec![0.75, 0.5]),
            },
            PeriodResult {
                period_ms: 900_000,
                count: 0,
                peers: vec![],
                peer_confidence: None,
            },
            PeriodResult {
                period_ms: 1_800_000,
                count: 3,
                peers: vec![ip("203.0.113.9")],
                peer_confidence: None,
            },
            PeriodResult {
                period_ms: 2_400_000,
                count: 0,
                peers: vec![],
                peer_confidence: None,
            },
        ],
        score: 1.0,
        confidence: 0.5,
        evidence: Evidence {
            flows_seen: 42,
            pairs_evaluated: 5,
            first_flow_ms: 1_416_312_000_123,
            last_flow_ms: 1_416_315_599_877,
        },
        emitted_at_ms: 1_416_315_660_000,
    }
    .with_computed_id()
}

/// The delivery of [`known_detection`] to a CCH sink.
pub fn known_report() -> Report {
    let detection_id = known_detection().detection_id;
    Report {
        report_id: ReportId::derive(&detection_id, "cch-production"),
        detection_id,
        sink_name: "cch-production".into(),
        sink_kind: "cch".into(),
        host: "192.0.2.143".into(),
        src_mode: SrcMode::Plain,
        status: ReportStatus::Delivered,
        attempts: 1,
        reason: None,
        at_ms: 1_416_315_661_500,
    }
}

/// Addresses as the codec returns them: IPv4-mapped IPv6 comes back as IPv4.
pub fn any_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<u32>().prop_map(|v| IpAddr::from(std::net::Ipv4Addr::from(v))),
        any::<u128>().prop_map(|v| IpAddr::from(std::net::Ipv6Addr::from(v)).to_canonical()),
    ]
}

pub fn any_flow() -> impl Strategy<Value = FlowRecord> {
    (
        (any::<i64>(), any::<i64>(), any_ip(), any_ip()),
        (any::<u16>(), any::<u16>(), any::<u8>(), any::<u8>()),
        (
            0..=i64::MAX as u64,
            0..=i64::MAX as u64,
            proptest::option::of(any_ip()),
        ),
        (
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<u8>(),
        ),
    )
        .prop_map(
            |(
                (start_ms, end_ms, src, dst),
                (src_port, dst_port, protocol, tcp_flags),
                (bytes, packets, exporter),
                (observation_domain, sampling_rate, input_if, output_if, flags),
            )| FlowRecord {
                start_ms,
                end_ms,
                src,
                dst,
                src_port,
                dst_port,
                protocol,
                tcp_flags,
                bytes,
                packets,
                exporter,
                observation_domain,
                sampling_rate,
                input_if,
                output_if,
                flags,
            },
        )
}

fn any_period() -> impl Strategy<Value = PeriodResult> {
    (
        1..=i64::MAX,
        proptest::collection::vec(any_ip(), 0..4),
        0u32..1000,
        any::<bool>(),
    )
        .prop_map(|(period_ms, peers, extra, scored)| PeriodResult {
            period_ms,
            count: peers.len() as u32 + extra,
            peer_confidence: scored.then(|| peers.iter().map(|_| 0.25).collect()),
            peers,
        })
}

pub fn any_detection() -> impl Strategy<Value = Detection> {
    (
        (
            any_ip(),
            any::<i64>(),
            0..i64::MAX / 2,
            ".{0,12}",
            "[0-9.]{0,4}",
        ),
        proptest::collection::vec(any_period(), 0..5),
        (
            0.0..=1.0f64,
            0.0..=1.0f64,
            0..=i64::MAX as u64,
            0..=i64::MAX as u64,
        ),
        (any::<i64>(), any::<i64>(), any::<i64>()),
    )
        .prop_map(
            |(
                (host, start, len, algorithm, algorithm_version),
                periods,
                (score, confidence, flows_seen, pairs_evaluated),
                (first_flow_ms, last_flow_ms, emitted_at_ms),
            )| {
                let window_start_ms = start / 2;
                Detection {
                    detection_id: DetectionId::from_bytes([0; 16]),
                    host,
                    window_start_ms,
                    window_end_ms: window_start_ms + len,
                    algorithm,
                    algorithm_version,
                    periods,
                    score,
                    confidence,
                    evidence: Evidence {
                        flows_seen,
                        pairs_evaluated,
                        first_flow_ms,
                        last_flow_ms,
                    },
                    emitted_at_ms,
                }
                .with_computed_id()
            },
        )
}

pub fn any_report() -> impl Strategy<Value = Report> {
    (
        any::<[u8; 16]>(),
        ".{0,20}",
        "[a-z_]{0,10}",
        ".{0,40}",
        prop_oneof![
            Just(SrcMode::Plain),
            Just(SrcMode::Anon),
            Just(SrcMode::Pseudo)
        ],
        prop_oneof![
            Just(ReportStatus::Delivered),
            Just(ReportStatus::DeadLettered),
            Just(ReportStatus::Suppressed)
        ],
        0..=i32::MAX as u32,
        proptest::option::of(".{0,30}"),
        any::<i64>(),
    )
        .prop_map(
            |(det, sink_name, sink_kind, host, src_mode, status, attempts, reason, at_ms)| {
                let detection_id = DetectionId::from_bytes(det);
                Report {
                    report_id: ReportId::derive(&detection_id, &sink_name),
                    detection_id,
                    sink_name,
                    sink_kind,
                    host,
                    src_mode,
                    status,
                    attempts,
                    reason,
                    at_ms,
                }
            },
        )
}
