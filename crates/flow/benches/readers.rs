//! Throughput of the text readers on generated in-memory input (bytes per second, one core):
//! `parse_block` for each format, and `BlockReader` cutting plain input into blocks.
//!
//! `cargo bench -p relbot-flow --bench readers -- --warm-up-time 1 --measurement-time 3`

// A benchmark on generated input: failing loudly is the right reaction to an error.
#![allow(clippy::expect_used, clippy::panic)]

use std::fmt::Write as _;
use std::hint::black_box;
use std::io::Cursor;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use relbot_flow::source::{Block, BlockReader};
use relbot_flow::text::{parse_block, LineParser, TextFormat, NFDUMP_CSV_DEFAULT_HEADER};

/// Lines per generated input (about 5 MB of nfdump-fmt).
const LINES: u64 = 40_000;

/// A small deterministic generator (no `rand` dependency for a benchmark).
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

/// A flow with a realistic mix: mostly IPv4, one in ten IPv6, one in twenty ICMP.
struct Flow {
    ms: u64,
    src: String,
    src_port: u64,
    dst: String,
    dst_port: String,
    bytes: u64,
}

fn flows() -> Vec<Flow> {
    let mut rng = Lcg(42);
    let mut ms = 1_416_316_505_734u64;
    (0..LINES)
        .map(|_| {
            ms += rng.next() % 200;
            let v6 = rng.next().is_multiple_of(10);
            let (src, dst) = if v6 {
                (
                    format!("fd00::{:x}", rng.next() % 4096),
                    format!(
                        "2a09:e931:{:x}::{:x}",
                        rng.next() % 65536,
                        rng.next() % 65536
                    ),
                )
            } else {
                (
                    format!("10.0.{}.{}", rng.next() % 256, rng.next() % 256),
                    format!(
                        "{}.{}.{}.{}",
                        rng.next() % 223 + 1,
                        rng.next() % 256,
                        rng.next() % 256,
                        rng.next() % 256
                    ),
                )
            };
            let dst_port = if rng.next().is_multiple_of(20) {
                "8.0".to_owned()
            } else {
                (rng.next() % 65536).to_string()
            };
            Flow {
                ms,
                src,
                src_port: 1024 + rng.next() % 64_000,
                dst,
                dst_port,
                bytes: rng.next() % 100_000,
            }
        })
        .collect()
}

/// `YYYY-MM-DD HH:MM:SS.mmm`; all generated times fall on 2014-11-18/19.
fn time(ms: u64) -> String {
    let base = 1_416_268_800_000u64; // 2014-11-18 00:00:00
    let offset = ms - base;
    let day = 18 + offset / 86_400_000;
    let ms_of_day = offset % 86_400_000;
    let s = ms_of_day / 1000;
    format!(
        "2014-11-{day:02} {:02}:{:02}:{:02}.{:03}",
        s / 3600,
        s / 60 % 60,
        s % 60,
        ms_of_day % 1000
    )
}

fn triples(flows: &[Flow]) -> String {
    flows.iter().fold(String::new(), |mut out, f| {
        let _ = writeln!(out, "{} {} {}", f.ms, f.src, f.dst);
        out
    })
}

fn nfdump_fmt(flows: &[Flow]) -> String {
    flows.iter().fold(String::new(), |mut out, f| {
        let _ = writeln!(
            out,
            "{} {:>39} {:>6} {:>39} {:>6} {:>8}",
            time(f.ms),
            f.src,
            f.src_port,
            f.dst,
            f.dst_port,
            f.bytes
        );
        out
    })
}

fn nfdump_csv(flows: &[Flow]) -> String {
    let mut out = format!("{NFDUMP_CSV_DEFAULT_HEADER}\n");
    for f in flows {
        let t = &time(f.ms)[..19];
        let _ = writeln!(
            out,
            "{t},{t},0.000,{},{},{},{},TCP,...AP.SF,0,0,3,{},0,0,0,0,0,0,0,0,0,0,0.0.0.0,0.0.0.0,0,0,\
00:00:00:00:00:00,00:00:00:00:00:00,00:00:00:00:00:00,00:00:00:00:00:00,0-0-0,0-0-0,0-0-0,0-0-0,\
0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,    0.000,    0.000,    0.000,127.0.0.1,0/0,1,\
2026-11-27 04:55:26.482",
            f.src, f.dst, f.src_port, f.dst_port, f.bytes
        );
    }
    out.push_str("Summary\nflows,bytes,packets,avg_bps,avg_pps,avg_bpp\n7,550,11,605,1,50\n");
    out
}

fn parsers(c: &mut Criterion) {
    let flows = flows();
    let mut group = c.benchmark_group("parse_block");
    for (format, text) in [
        (TextFormat::Triples, triples(&flows)),
        (TextFormat::NfdumpFmt, nfdump_fmt(&flows)),
        (TextFormat::NfdumpCsv, nfdump_csv(&flows)),
    ] {
        let parser = LineParser::new(format, text.as_bytes()).expect("header");
        let block = Block::new(1, text.into_bytes());
        let mut records = Vec::with_capacity(LINES as usize + 10);
        let mut errors = Vec::new();
        group.throughput(Throughput::Bytes(block.data.len() as u64));
        group.bench_function(format.name(), |b| {
            b.iter(|| {
                records.clear();
                let stats = parse_block(&parser, black_box(&block), &mut records, &mut errors);
                assert_eq!(stats.errors, 0);
                stats
            })
        });
    }
    group.finish();
}

fn block_reader(c: &mut Criterion) {
    let text = nfdump_fmt(&flows()).into_bytes().repeat(4);
    let mut group = c.benchmark_group("block_reader");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("plain", |b| {
        b.iter(|| {
            let mut reader =
                BlockReader::from_reader("mem", Cursor::new(text.clone()), None).expect("open");
            let mut lines = 0;
            while let Some(block) = reader.next_block().expect("read") {
                lines = block.first_line;
            }
            lines
        })
    });
    group.finish();
}

criterion_group!(benches, parsers, block_reader);
criterion_main!(benches);
