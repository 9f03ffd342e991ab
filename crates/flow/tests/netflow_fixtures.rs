//! Datagrams that softflowd really exported (`tests/data/netflow/`, see its README) decode to
//! the same records that Debian's nfcapd stored from the same stream, as nfdump prints them.

// A failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use common::{assert_same, parse_fmt, read_datagrams, Flow, Quirks};
use relbot_flow::ipfix_file::IpfixFileReader;
use relbot_flow::netflow::{Collector, CollectorConfig, SamplingMode};
use relbot_flow::FlowRecord;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/netflow")
        .join(name)
}

/// softflowd sent from an ephemeral port on 127.0.0.1.
const SOURCE: &str = "127.0.0.1:40000";

fn decode(name: &str, config: CollectorConfig) -> Vec<FlowRecord> {
    let source: SocketAddr = SOURCE.parse().unwrap();
    let mut collector = Collector::new(config);
    let mut out = Vec::new();
    for datagram in read_datagrams(&data(&format!("{name}.datagrams"))) {
        let report = collector
            .decode(source, &datagram, 1_416_316_520_000, &mut out)
            .unwrap();
        assert!(report.issues.is_empty(), "{name}: {:?}", report.issues);
    }
    out
}

fn check(name: &str, quirks: Quirks) -> Vec<FlowRecord> {
    let records = decode(name, CollectorConfig::default());
    let ours: Vec<Flow> = records.iter().map(Flow::from).collect();
    let golden = parse_fmt(&std::fs::read_to_string(data(&format!("{name}.fmt"))).unwrap());
    assert_same(name, &ours, &golden, quirks);
    records
}

#[test]
fn softflowd_v5() {
    let records = check("softflowd-v5", Quirks::default());
    assert!(records.iter().all(|r| r.sampling_rate == 0));
}

#[test]
fn softflowd_v9() {
    let records = check(
        "softflowd-v9",
        Quirks {
            icmp6_type_code_lost: true,
            ..Quirks::default()
        },
    );
    // The ICMPv6 echo request: type 128, code 0, as the datagram carries it.
    let icmp6 = records.iter().find(|r| r.protocol == 58).unwrap();
    assert_eq!(icmp6.dst_port, 128 * 256);
}

#[test]
fn softflowd_ipfix_relative_times() {
    check(
        "softflowd-ipfix",
        Quirks {
            swapped_times: true,
            ..Quirks::default()
        },
    );
}

#[test]
fn softflowd_ipfix_absolute_milliseconds() {
    check("softflowd-ipfix-ms", Quirks::default());
}

#[test]
fn softflowd_ipfix_biflow_reverse_fields_skipped() {
    check(
        "softflowd-ipfix-bi",
        Quirks {
            swapped_times: true,
            reverse_tcp_flags: true,
            ..Quirks::default()
        },
    );
}

#[test]
fn softflowd_v9_sampling_from_options() {
    let records = check(
        "softflowd-v9-sampled",
        Quirks {
            icmp6_type_code_lost: true,
            ..Quirks::default()
        },
    );
    assert!(records.iter().all(|r| r.sampling_rate == 2), "{records:?}");
    let scaled = decode(
        "softflowd-v9-sampled",
        CollectorConfig {
            sampling: SamplingMode::Scale,
            ..CollectorConfig::default()
        },
    );
    for (r, s) in records.iter().zip(&scaled) {
        assert_eq!(
            (s.packets, s.bytes, s.sampling_rate),
            (r.packets * 2, r.bytes * 2, 0)
        );
    }
}

/// The IPFIX messages softflowd sent, one after another, are an IPFIX file (RFC 5655).
#[test]
fn ipfix_file_of_softflowd_messages() {
    let file: Vec<u8> = read_datagrams(&data("softflowd-ipfix-ms.datagrams")).concat();
    assert!(relbot_flow::ipfix_file::is_ipfix_file(&file));
    assert!(!relbot_flow::nfcapd::is_nfcapd(&file));
    let mut reader = IpfixFileReader::new(&file[..], Path::new("softflowd.ipfix"));
    let mut out = Vec::new();
    while reader.read_message(&mut out).unwrap() {}
    let ours: Vec<Flow> = out
        .iter()
        .map(|r| Flow {
            exporter: Some("127.0.0.1".parse().unwrap()),
            ..Flow::from(r)
        })
        .collect();
    let golden = parse_fmt(&std::fs::read_to_string(data("softflowd-ipfix-ms.fmt")).unwrap());
    assert_same("ipfix file", &ours, &golden, Quirks::default());
    assert!(out.iter().all(|r| r.exporter.is_none()));
}
