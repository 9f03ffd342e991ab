//! Encode/decode throughput: the hand-written FlowRecord path against apache-avro's generic
//! path, and the (generic) Detection path. `cargo bench -p relbot-codec`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::{hint::black_box, net::IpAddr, time::Duration};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use relbot_codec::{
    flow::{encode_flow_datum_generic, flow_from_value},
    schema, Detection, DetectionCodec, DetectionId, Evidence, FlowCodec, PeriodResult, SchemaKind,
};
use relbot_flow::FlowRecord;

const BATCH: usize = 1024;

/// Varied flows (IPv4 and IPv6, with and without exporter) so varint lengths differ.
fn flows() -> Vec<FlowRecord> {
    (0..BATCH as u64)
        .map(|i| {
            let v6 = i % 4 == 0;
            let addr = |n: u64| -> IpAddr {
                if v6 {
                    IpAddr::from(std::net::Ipv6Addr::from(
                        (0x2001_0db8u128 << 96) | u128::from(n),
                    ))
                } else {
                    IpAddr::from(std::net::Ipv4Addr::from(
                        0x0a00_0000 | (n as u32 & 0x00ff_ffff),
                    ))
                }
            };
            FlowRecord {
                start_ms: 1_700_000_000_000 + i as i64 * 37,
                end_ms: 1_700_000_000_000 + i as i64 * 37 + (i as i64 % 5000),
                src: addr(i * 7919),
                dst: addr(i * 104_729 + 1),
                src_port: (1024 + i * 31) as u16,
                dst_port: [53u16, 80, 443, 16_471][i as usize % 4],
                protocol: [6u8, 17][i as usize % 2],
                tcp_flags: (i % 64) as u8,
                bytes: 40 + i * i * 13,
                packets: 1 + i % 300,
                exporter: (i % 3 != 0).then(|| IpAddr::from([192, 0, 2, (i % 250) as u8])),
                observation_domain: (i % 4) as u32,
                sampling_rate: if i % 2 == 0 { 1 } else { 1000 },
                input_if: (i % 48) as u32,
                output_if: (i % 49) as u32,
                flags: (i % 16) as u8,
            }
        })
        .collect()
}

fn flow_benches(c: &mut Criterion) {
    let flows = flows();
    let codec = FlowCodec::single_object();
    let encoded: Vec<Vec<u8>> = flows.iter().map(|f| codec.to_vec(f).unwrap()).collect();
    let datums: Vec<&[u8]> = encoded.iter().map(|m| &m[10..]).collect();
    let flow_schema = schema::current(SchemaKind::Flow).schema();

    let mut g = c.benchmark_group("flow");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("encode_flow/fast", |b| {
        let mut buf = Vec::with_capacity(256);
        b.iter(|| {
            for f in &flows {
                buf.clear();
                codec.encode(black_box(f), &mut buf).unwrap();
                black_box(&buf);
            }
        })
    });
    g.bench_function("encode_flow/apache_avro", |b| {
        let mut buf = Vec::with_capacity(256);
        b.iter(|| {
            for f in &flows {
                buf.clear();
                buf.extend_from_slice(codec.header());
                buf.extend_from_slice(&encode_flow_datum_generic(black_box(f)).unwrap());
                black_box(&buf);
            }
        })
    });
    g.bench_function("decode_flow/fast", |b| {
        b.iter(|| {
            for m in &encoded {
                black_box(codec.decode(black_box(m)).unwrap());
            }
        })
    });
    g.bench_function("decode_flow/apache_avro", |b| {
        b.iter(|| {
            for d in &datums {
                let mut rest = *d;
                let value = apache_avro::from_avro_datum(flow_schema, &mut rest, None).unwrap();
                black_box(flow_from_value(value).unwrap());
            }
        })
    });
    g.finish();
}

fn detection() -> Detection {
    let peer = |n: u8| IpAddr::from([198, 51, 100, n]);
    Detection {
        detection_id: DetectionId::from_bytes([0; 16]),
        host: IpAddr::from([192, 0, 2, 1]),
        window_start_ms: 1_700_000_000_000,
        window_end_ms: 1_700_003_600_000,
        algorithm: "classic".into(),
        algorithm_version: "1".into(),
        periods: [600_000, 900_000, 1_800_000, 2_400_000]
            .into_iter()
            .map(|period_ms| PeriodResult {
                period_ms,
                count: 8,
                peers: (0..8).map(peer).collect(),
                peer_confidence: Some(vec![0.5; 8]),
            })
            .collect(),
        score: 1.0,
        confidence: 0.8,
        evidence: Evidence {
            flows_seen: 1000,
            pairs_evaluated: 40,
            first_flow_ms: 1_700_000_000_001,
            last_flow_ms: 1_700_003_599_999,
        },
        emitted_at_ms: 1_700_003_660_000,
    }
    .with_computed_id()
}

fn detection_benches(c: &mut Criterion) {
    let d = detection();
    let codec = DetectionCodec::single_object();
    let bytes = codec.to_vec(&d).unwrap();
    let mut g = c.benchmark_group("detection");
    g.throughput(Throughput::Elements(1));
    g.bench_function("encode", |b| {
        b.iter(|| codec.to_vec(black_box(&d)).unwrap())
    });
    g.bench_function("decode", |b| {
        b.iter(|| codec.decode(black_box(&bytes)).unwrap())
    });
    g.bench_function("compute_id", |b| b.iter(|| black_box(&d).compute_id()));
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = flow_benches, detection_benches
}
criterion_main!(benches);
