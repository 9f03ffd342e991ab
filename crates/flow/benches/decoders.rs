//! Decode throughput of the binary decoders, records per second on one core: NetFlow v5, v9
//! and IPFIX datagrams through a [`Collector`] that knows the templates (the steady state of a
//! collector), and nfcapd files in memory per compression.
//!
//! `cargo bench -p relbot-flow --bench decoders -- --warm-up-time 1 --measurement-time 3`

// A benchmark on generated input: failing loudly is the right reaction to an error.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::hint::black_box;
use std::net::{IpAddr, SocketAddr};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use relbot_flow::netflow::build::{flow_fields, MessageBuilder, V5Builder};
use relbot_flow::netflow::{
    decode_v5, Collector, CollectorConfig, FieldSpec, Protocol, SamplingMode,
};
use relbot_flow::nfcapd::{self, writer, Compression};
use relbot_flow::FlowRecord;

const EXPORT_MS: i64 = 1_700_000_000_000;

/// A small deterministic generator.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

fn flows(n: usize, ipv6_every: u64) -> Vec<FlowRecord> {
    let mut rng = Lcg(7);
    (0..n)
        .map(|_| {
            let start = EXPORT_MS - 60_000 + (rng.next() % 50_000) as i64;
            let v6 = ipv6_every > 0 && rng.next().is_multiple_of(ipv6_every);
            let addr = |x: u64| {
                if v6 {
                    IpAddr::from((u128::from(x) | 0xfd00 << 112).to_be_bytes())
                } else {
                    IpAddr::from((x as u32 | 0x0a00_0000).to_be_bytes())
                }
            };
            FlowRecord {
                start_ms: start,
                end_ms: start + (rng.next() % 10_000) as i64,
                src: addr(rng.next()),
                dst: addr(rng.next()),
                src_port: rng.next() as u16,
                dst_port: 443,
                protocol: 6,
                tcp_flags: 0x1b,
                bytes: rng.next() % 100_000,
                packets: rng.next() % 100,
                input_if: 1,
                output_if: 2,
                ..FlowRecord::default()
            }
        })
        .collect()
}

fn v5(c: &mut Criterion) {
    let records = flows(30, 0);
    let mut builder = V5Builder::new(EXPORT_MS, 3_600_000);
    for r in &records {
        builder = builder.record(r);
    }
    let datagram = builder.build();
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Elements(30));
    let mut out = Vec::with_capacity(64);
    group.bench_function("v5 (30 records/datagram)", |b| {
        b.iter(|| {
            out.clear();
            decode_v5(black_box(&datagram), None, SamplingMode::Record, &mut out).unwrap();
            black_box(&out);
        })
    });
    group.finish();
}

/// A collector that has learned `template`, and a data datagram of `per` records.
fn template_case(protocol: Protocol, fields: &[FieldSpec], per: usize) -> (Collector, Vec<u8>) {
    let source: SocketAddr = "192.0.2.1:2055".parse().unwrap();
    let new = |p| match p {
        Protocol::V9 => MessageBuilder::v9(EXPORT_MS, 3_600_000, 1),
        Protocol::Ipfix => MessageBuilder::ipfix(EXPORT_MS, 1),
    };
    let mut collector = Collector::new(CollectorConfig::default());
    let template = new(protocol).template(256, fields).build();
    collector
        .decode(source, &template, EXPORT_MS, &mut Vec::new())
        .unwrap();
    let data = new(protocol).flows(256, fields, &flows(per, 0)).build();
    (collector, data)
}

fn templated(c: &mut Criterion) {
    let source: SocketAddr = "192.0.2.1:2055".parse().unwrap();
    let mut with_variable = flow_fields(Protocol::Ipfix, false);
    // interfaceName (variable length) and an enterprise field: the slow path.
    with_variable.push(FieldSpec {
        id: 82,
        length: 0xffff,
        enterprise: 0,
    });
    with_variable.push(FieldSpec {
        id: 1,
        length: 4,
        enterprise: 9,
    });
    let cases = [
        (
            "v9 (30 records/datagram)",
            Protocol::V9,
            flow_fields(Protocol::V9, false),
            30,
        ),
        (
            "IPFIX (25 records/message)",
            Protocol::Ipfix,
            flow_fields(Protocol::Ipfix, false),
            25,
        ),
        (
            "IPFIX variable-length (22 records/message)",
            Protocol::Ipfix,
            with_variable,
            22,
        ),
    ];
    let mut group = c.benchmark_group("decode");
    for (name, protocol, fields, per) in cases {
        let (mut collector, datagram) = template_case(protocol, &fields, per);
        group.throughput(Throughput::Elements(per as u64));
        let mut out = Vec::with_capacity(64);
        group.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                let report = collector
                    .decode(source, black_box(&datagram), EXPORT_MS, &mut out)
                    .unwrap();
                black_box(report.records);
            })
        });
    }
    group.finish();
}

fn nfcapd_files(c: &mut Criterion) {
    const N: usize = 100_000;
    let records = flows(N, 10);
    let mut group = c.benchmark_group("nfcapd");
    group.throughput(Throughput::Elements(N as u64));
    group.sample_size(20);
    for compression in [
        Compression::None,
        Compression::Lz4,
        Compression::Zstd,
        Compression::Bz2,
    ] {
        let file = writer::encode_file(&records, compression, writer::DEFAULT_BLOCK_BYTES).unwrap();
        let mut out = Vec::with_capacity(N);
        group.bench_function(
            format!("read {compression} ({} KiB)", file.len() >> 10),
            |b| {
                b.iter(|| {
                    out.clear();
                    nfcapd::decode_file(black_box(&file), &mut out).unwrap();
                    black_box(out.len());
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, v5, templated, nfcapd_files);
criterion_main!(benches);
