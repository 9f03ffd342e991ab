//! Collector behaviour across datagrams: templates keyed by exporter and domain, data before
//! its template, withdrawal, expiry, sampling, restart with saved state, and bad input.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::build::{flow_fields, MessageBuilder, V5Builder, FLOW_TEMPLATE_V4, FLOW_TEMPLATE_V6};
use super::*;
use crate::FlowRecord;

const NOW: i64 = 1_700_000_000_000;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn flow(i: u8) -> FlowRecord {
    FlowRecord {
        start_ms: NOW - 10_000 + i64::from(i),
        end_ms: NOW - 5_000,
        src: IpAddr::from([10, 0, 0, i]),
        dst: IpAddr::from([192, 0, 2, 1]),
        src_port: 40_000 + u16::from(i),
        dst_port: 443,
        protocol: 6,
        tcp_flags: 0x1b,
        bytes: 1500,
        packets: 3,
        input_if: 1,
        output_if: 2,
        ..FlowRecord::default()
    }
}

fn flow6(i: u8) -> FlowRecord {
    FlowRecord {
        src: "fd00::1".parse().unwrap(),
        dst: "2001:db8::2".parse().unwrap(),
        flags: FlowRecord::FLAG_EGRESS,
        ..flow(i)
    }
}

/// What the decoder adds to a built record.
fn as_decoded(r: FlowRecord, exporter: SocketAddr, domain: u32) -> FlowRecord {
    FlowRecord {
        exporter: Some(exporter.ip()),
        observation_domain: domain,
        ..r
    }
}

fn decode(c: &mut Collector, from: SocketAddr, d: &[u8]) -> (Vec<FlowRecord>, DecodeReport) {
    let mut out = Vec::new();
    let report = c.decode(from, d, NOW, &mut out).unwrap();
    (out, report)
}

#[test]
fn v9_templates_and_data_in_one_datagram() {
    let v4 = flow_fields(Protocol::V9, false);
    let v6 = flow_fields(Protocol::V9, true);
    let d = MessageBuilder::v9(NOW, 3_600_000, 7)
        .sequence(41)
        .template(FLOW_TEMPLATE_V4, &v4)
        .template(FLOW_TEMPLATE_V6, &v6)
        .flows(FLOW_TEMPLATE_V4, &v4, &[flow(1), flow(2)])
        .flows(FLOW_TEMPLATE_V6, &v6, &[flow6(3)])
        .build();
    let from = addr("192.0.2.9:2055");
    let mut c = Collector::new(CollectorConfig::default());
    let (out, report) = decode(&mut c, from, &d);
    assert_eq!((report.version, report.sequence, report.domain), (9, 41, 7));
    assert_eq!((report.records, report.templates), (3, 2));
    assert!(report.issues.is_empty(), "{:?}", report.issues);
    assert_eq!(
        out,
        [
            as_decoded(flow(1), from, 7),
            as_decoded(flow(2), from, 7),
            as_decoded(flow6(3), from, 7)
        ]
    );
}

#[test]
fn ipfix_templates_and_data() {
    let v4 = flow_fields(Protocol::Ipfix, false);
    let d = MessageBuilder::ipfix(NOW, 3)
        .template(FLOW_TEMPLATE_V4, &v4)
        .flows(FLOW_TEMPLATE_V4, &v4, &[flow(1)])
        .build();
    let from = addr("[2001:db8::9]:4739");
    let mut c = Collector::new(CollectorConfig::default());
    let (out, report) = decode(&mut c, from, &d);
    assert_eq!((report.version, report.records), (10, 1));
    assert_eq!(out, [as_decoded(flow(1), from, 3)]);
}

#[test]
fn templates_are_keyed_by_exporter_domain_and_optionally_port() {
    let v4 = flow_fields(Protocol::V9, false);
    let mut swapped = v4.clone();
    swapped.swap(0, 1); // same id, source and destination the other way round
    let mut c = Collector::new(CollectorConfig::default());
    let a = addr("192.0.2.1:2055");
    let b = addr("192.0.2.2:2055");
    decode(
        &mut c,
        a,
        &MessageBuilder::v9(NOW, 1000, 0).template(256, &v4).build(),
    );
    decode(
        &mut c,
        b,
        &MessageBuilder::v9(NOW, 1000, 0)
            .template(256, &swapped)
            .build(),
    );
    let data = MessageBuilder::v9(NOW, 1000, 0)
        .flows(256, &v4, &[flow(1)])
        .build();
    let (from_a, _) = decode(&mut c, a, &data);
    let (from_b, _) = decode(&mut c, b, &data);
    assert_eq!(from_a[0].src, flow(1).src);
    assert_eq!(from_b[0].src, flow(1).dst);
    // Another source id of the same exporter has no template 256.
    let other_domain = MessageBuilder::v9(NOW, 1000, 1)
        .flows(256, &v4, &[flow(1)])
        .build();
    let (out, report) = decode(&mut c, a, &other_domain);
    assert!(out.is_empty());
    assert_eq!(report.issues[0].reason(), "unknown_template_buffered");
    // By default the source port is not part of the key…
    let (out, _) = decode(&mut c, addr("192.0.2.1:9999"), &data);
    assert_eq!(out.len(), 1);
    // …unless configured.
    let mut c = Collector::new(CollectorConfig {
        key_by_source_port: true,
        ..CollectorConfig::default()
    });
    decode(
        &mut c,
        a,
        &MessageBuilder::v9(NOW, 1000, 0).template(256, &v4).build(),
    );
    assert_eq!(decode(&mut c, a, &data).0.len(), 1);
    assert_eq!(decode(&mut c, addr("192.0.2.1:9999"), &data).0.len(), 0);
}

#[test]
fn data_before_template_is_held_then_decoded() {
    let v4 = flow_fields(Protocol::Ipfix, false);
    let from = addr("192.0.2.1:4739");
    let mut c = Collector::new(CollectorConfig::default());
    let data = MessageBuilder::ipfix(NOW, 0)
        .flows(256, &v4, &[flow(1), flow(2)])
        .build();
    let (out, report) = decode(&mut c, from, &data);
    assert!(out.is_empty());
    assert_eq!(report.buffered, 1);
    assert_eq!(c.pending().0, 1);
    let template = MessageBuilder::ipfix(NOW, 0).template(256, &v4).build();
    let (out, report) = decode(&mut c, from, &template);
    assert_eq!((report.records, report.released), (2, 2));
    assert_eq!(out[1], as_decoded(flow(2), from, 0));
    assert_eq!(c.pending().0, 0);
}

#[test]
fn held_data_expires_and_is_bounded() {
    let v4 = flow_fields(Protocol::Ipfix, false);
    let from = addr("192.0.2.1:4739");
    let mut c = Collector::new(CollectorConfig {
        pending: PendingConfig {
            max_bytes: 300,
            max_age: Duration::from_secs(5),
        },
        ..CollectorConfig::default()
    });
    let data = MessageBuilder::ipfix(NOW, 0)
        .flows(256, &v4, &[flow(1), flow(2)])
        .build();
    let big = MessageBuilder::ipfix(NOW, 0)
        .flows(257, &v4, &[flow(1); 9])
        .build();
    let (_, report) = decode(&mut c, from, &big);
    assert_eq!(
        report.issues,
        [DecodeError::UnknownTemplate { template_id: 257 }]
    );
    decode(&mut c, from, &data);
    let (_, report) = decode(&mut c, from, &data);
    assert!(report
        .issues
        .contains(&DecodeError::PendingOverflow { template_id: 256 }));
    let expired = c.expire(NOW + 6_000);
    assert_eq!(expired.pending_sets, 1);
    assert_eq!(c.pending(), (0, 0));
}

#[test]
fn ipfix_withdrawal_and_template_expiry() {
    let v4 = flow_fields(Protocol::Ipfix, false);
    let from = addr("192.0.2.1:4739");
    let mut c = Collector::new(CollectorConfig {
        template_timeout: Some(Duration::from_secs(60)),
        ..CollectorConfig::default()
    });
    let templates = MessageBuilder::ipfix(NOW, 0)
        .template(256, &v4)
        .template(257, &v4)
        .build();
    decode(&mut c, from, &templates);
    assert_eq!(c.templates().len(), 2);
    let (_, report) = decode(
        &mut c,
        from,
        &MessageBuilder::ipfix(NOW, 0).withdrawal(256, false).build(),
    );
    assert_eq!(report.withdrawn, 1);
    let (_, report) = decode(
        &mut c,
        from,
        &MessageBuilder::ipfix(NOW, 0).withdrawal(2, false).build(),
    );
    assert_eq!(report.withdrawn, 1);
    assert!(c.templates().is_empty());
    decode(&mut c, from, &templates);
    assert_eq!(c.expire(NOW + 59_000).templates, 0);
    assert_eq!(c.expire(NOW + 61_000).templates, 2);
}

#[test]
fn v9_sampling_from_options_recorded_or_scaled() {
    let v4 = flow_fields(Protocol::V9, false);
    // Scope: system (1) 4 bytes; options: SAMPLING_INTERVAL (34) 4, SAMPLING_ALGORITHM (35) 1.
    let spec = |id, length| FieldSpec {
        id,
        length,
        enterprise: 0,
    };
    let options = [spec(1, 4), spec(34, 4), spec(35, 1)];
    let d = MessageBuilder::v9(NOW, 1000, 0)
        .options_template(300, 1, &options)
        .data(300, &[0, 0, 0, 0, 0, 0, 0, 100, 2], 1)
        .template(256, &v4)
        .flows(256, &v4, &[flow(1)])
        .build();
    let from = addr("192.0.2.1:2055");
    let mut c = Collector::new(CollectorConfig::default());
    let (out, report) = decode(&mut c, from, &d);
    assert_eq!(report.option_records, 1);
    assert_eq!((out[0].bytes, out[0].sampling_rate), (1500, 100));
    let mut c = Collector::new(CollectorConfig {
        sampling: SamplingMode::Scale,
        ..CollectorConfig::default()
    });
    let (out, _) = decode(&mut c, from, &d);
    assert_eq!(
        (out[0].bytes, out[0].packets, out[0].sampling_rate),
        (150_000, 300, 0)
    );
}

#[test]
fn ipfix_sampler_by_selector_id_and_init_time() {
    let spec = |id, length| FieldSpec {
        id,
        length,
        enterprise: 0,
    };
    // Options: scope selectorId (302); samplingPacketInterval 305, samplingPacketSpace 306,
    // systemInitTimeMilliseconds 160.
    let options = [spec(302, 4), spec(305, 4), spec(306, 4), spec(160, 8)];
    let init_ms = NOW - 86_400_000;
    let mut option_data = Vec::new();
    option_data.extend(5u32.to_be_bytes());
    option_data.extend(1u32.to_be_bytes());
    option_data.extend(99u32.to_be_bytes());
    option_data.extend(init_ms.to_be_bytes());
    // Data: relative times (22/21) and the selector id of each record.
    let data_fields = [
        spec(8, 4),
        spec(12, 4),
        spec(22, 4),
        spec(21, 4),
        spec(302, 1),
    ];
    let mut data = Vec::new();
    data.extend([10, 0, 0, 1, 192, 0, 2, 1]);
    data.extend(1000u32.to_be_bytes());
    data.extend(2000u32.to_be_bytes());
    data.push(5);
    let d = MessageBuilder::ipfix(NOW, 1)
        .options_template(400, 1, &options)
        .data(400, &option_data, 1)
        .template(256, &data_fields)
        .data(256, &data, 1)
        .build();
    let mut c = Collector::new(CollectorConfig::default());
    let (out, report) = decode(&mut c, addr("192.0.2.1:4739"), &d);
    assert!(report.issues.is_empty(), "{:?}", report.issues);
    assert_eq!(out[0].sampling_rate, 100);
    assert_eq!(
        (out[0].start_ms, out[0].end_ms),
        (init_ms + 1000, init_ms + 2000)
    );
    // Without the options, relative times fall back to the export time, and say so.
    let mut c = Collector::new(CollectorConfig::default());
    let d = MessageBuilder::ipfix(NOW, 1)
        .template(256, &data_fields)
        .data(256, &data, 1)
        .build();
    let (out, report) = decode(&mut c, addr("192.0.2.1:4739"), &d);
    assert_eq!(out[0].start_ms, NOW);
    assert_eq!(report.issues[0].reason(), "no_system_init_time");
}

#[test]
fn variable_length_and_enterprise_fields_are_skipped() {
    let spec = |id, length, enterprise| FieldSpec {
        id,
        length,
        enterprise,
    };
    let fields = [
        spec(8, 4, 0),
        spec(82, 0xffff, 0),      // interfaceName, variable
        spec(100, 6, 9),          // Cisco-specific, fixed
        spec(200, 0xffff, 29305), // reverse element, variable
        spec(12, 4, 0),
        spec(7, 2, 0),
    ];
    let mut data = Vec::new();
    data.extend([10, 0, 0, 1]);
    data.extend([4, b'e', b't', b'h', b'0']);
    data.extend([0xaa; 6]);
    data.extend([255, 0, 3, 1, 2, 3]);
    data.extend([192, 0, 2, 1]);
    data.extend(80u16.to_be_bytes());
    let d = MessageBuilder::ipfix(NOW, 0)
        .template(256, &fields)
        .data(256, &data, 1)
        .build();
    let mut c = Collector::new(CollectorConfig::default());
    let (out, report) = decode(&mut c, addr("192.0.2.1:4739"), &d);
    assert!(report.issues.is_empty(), "{:?}", report.issues);
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].dst, out[0].src_port),
        (IpAddr::from([192, 0, 2, 1]), 80)
    );
}

#[test]
fn saved_state_decodes_after_restart() {
    let v4 = flow_fields(Protocol::V9, false);
    let from = addr("192.0.2.1:2055");
    let mut before = Collector::new(CollectorConfig::default());
    decode(
        &mut before,
        from,
        &MessageBuilder::v9(NOW, 1000, 0).template(256, &v4).build(),
    );
    let saved = before.save_state();
    let mut after = Collector::new(CollectorConfig::default());
    assert_eq!(after.restore_state(&saved), Ok(1));
    let data = MessageBuilder::v9(NOW, 1000, 0)
        .flows(256, &v4, &[flow(1)])
        .build();
    let (out, report) = decode(&mut after, from, &data);
    assert_eq!(report.buffered, 0);
    assert_eq!(out, [as_decoded(flow(1), from, 0)]);
    assert!(after.restore_state(b"garbage").is_err());
    assert_eq!(after.templates().len(), 1);
}

/// Shards that each learned one exporter's templates save one state that decodes both.
#[test]
fn saved_states_of_shards_are_merged() {
    let v4 = flow_fields(Protocol::V9, false);
    let (a, b) = (addr("192.0.2.1:2055"), addr("192.0.2.2:2055"));
    let mut first = Collector::new(CollectorConfig::default());
    let mut second = Collector::new(CollectorConfig::default());
    decode(
        &mut first,
        a,
        &MessageBuilder::v9(NOW, 1000, 0).template(256, &v4).build(),
    );
    decode(
        &mut second,
        b,
        &MessageBuilder::v9(NOW, 1000, 0).template(256, &v4).build(),
    );
    // The same template seen by both shards is saved once.
    decode(
        &mut second,
        a,
        &MessageBuilder::v9(NOW + 5, 1005, 0)
            .template(256, &v4)
            .build(),
    );
    let saved = Collector::save_states([&first, &second]);
    let mut after = Collector::new(CollectorConfig::default());
    assert_eq!(after.restore_state(&saved), Ok(2));
    for from in [a, b] {
        let data = MessageBuilder::v9(NOW, 1000, 0)
            .flows(256, &v4, &[flow(1)])
            .build();
        let (out, report) = decode(&mut after, from, &data);
        assert_eq!(report.buffered, 0);
        assert_eq!(out, [as_decoded(flow(1), from, 0)]);
    }
}

#[test]
fn v5_through_the_collector() {
    let d = V5Builder::new(NOW, 60_000)
        .engine(1, 2)
        .record(&flow(1))
        .build();
    let from = addr("192.0.2.1:2055");
    let mut c = Collector::new(CollectorConfig::default());
    let (out, report) = decode(&mut c, from, &d);
    assert_eq!((report.version, report.records), (5, 1));
    assert_eq!(out, [as_decoded(flow(1), from, 0x0102)]);
}

#[test]
fn bad_datagrams_have_named_reasons() {
    let from = addr("192.0.2.1:2055");
    let mut c = Collector::new(CollectorConfig::default());
    let mut out = Vec::new();
    let mut reason = |d: &[u8]| c.decode(from, d, NOW, &mut out).unwrap_err().reason();
    assert_eq!(reason(&[]), "truncated");
    assert_eq!(reason(&[0]), "truncated");
    assert_eq!(reason(b"GET / HTTP/1.1\r\n"), "bad_version");
    assert_eq!(reason(&[0, 9, 0, 1, 0, 0]), "truncated");
    assert_eq!(
        reason(&[0, 10, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        "bad_length"
    );
    let mut too_long = MessageBuilder::ipfix(NOW, 0).build();
    too_long[3] = 200;
    assert_eq!(reason(&too_long), "truncated");

    // Set-level problems are issues; the datagram still decodes.
    let v4 = flow_fields(Protocol::V9, false);
    let zero = [FieldSpec {
        id: 8,
        length: 0,
        enterprise: 0,
    }];
    let d = MessageBuilder::v9(NOW, 1000, 0)
        .template(300, &zero)
        .data(7, &[0; 8], 1)
        .template(256, &v4)
        .flows(256, &v4, &[flow(1)])
        .build();
    let mut out = Vec::new();
    let report = c.decode(from, &d, NOW, &mut out).unwrap();
    let reasons: Vec<_> = report.issues.iter().map(DecodeError::reason).collect();
    assert_eq!(reasons, ["zero_length_field", "reserved_set_id"]);
    assert_eq!(out.len(), 1);
    // A set length pointing past the end.
    let mut cut = d.clone();
    cut.truncate(d.len() - 10);
    let report = c.decode(from, &cut, NOW, &mut out).unwrap();
    assert_eq!(report.issues.last().unwrap().reason(), "truncated");
}

#[test]
fn template_cache_is_bounded() {
    let v4 = flow_fields(Protocol::Ipfix, false);
    let mut c = Collector::new(CollectorConfig {
        max_templates: 1,
        ..CollectorConfig::default()
    });
    let d = MessageBuilder::ipfix(NOW, 0)
        .template(256, &v4)
        .template(257, &v4)
        .build();
    let (_, report) = decode(&mut c, addr("192.0.2.1:4739"), &d);
    assert_eq!(report.templates, 1);
    assert_eq!(report.issues[0].reason(), "template_cache_full");
}

#[test]
fn a_collector_can_move_to_a_worker_thread() {
    fn send<T: Send>() {}
    send::<Collector>();
}
