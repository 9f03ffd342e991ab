//! The UDP → Kafka benchmark's tools (scripts/bench-ingest):
//!
//! - `send TARGET FLOWS RATE [v9|ipfix]`: builds FLOWS distinct flows into NetFlow v9 (or
//!   IPFIX) datagrams of 24 records (template every 256 datagrams) *before* sending, then sends
//!   them to TARGET at RATE flows/s (paced per millisecond) from one socket; prints the
//!   achieved rate;
//! - `count BROKERS TOPIC`: prints the records in TOPIC (sum of the partitions' high
//!   watermarks; the topic must be fresh);
//! - `create BROKERS TOPIC PARTITIONS`: creates TOPIC (for collectors that do not).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark tool: failing loudly is fine

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use relbot_flow::netflow::build::{flow_fields, MessageBuilder, FLOW_TEMPLATE_V4};
use relbot_flow::netflow::Protocol;
use relbot_flow::FlowRecord;
use relbot_kafka::rdkafka::consumer::{BaseConsumer, Consumer};
use relbot_kafka::rdkafka::ClientConfig;

const PER_DATAGRAM: usize = 24;
const TEMPLATE_EVERY: usize = 256;

fn flow(i: u64, now_ms: i64) -> FlowRecord {
    let start = now_ms - 60_000 + (i % 50_000) as i64;
    FlowRecord {
        start_ms: start,
        end_ms: start + 1500,
        src: IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + (i as u32 & 0x00ff_ffff))),
        dst: IpAddr::V4(Ipv4Addr::from(0xc000_0200 + (i % 251) as u32)),
        src_port: 1024 + (i % 60_000) as u16,
        dst_port: 443,
        protocol: 6,
        tcp_flags: 0x1b,
        bytes: 1500 + i % 9000,
        packets: 3 + i % 20,
        ..FlowRecord::default()
    }
}

fn build(flows: u64, protocol: Protocol) -> Vec<Vec<u8>> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let fields = flow_fields(protocol, false);
    let mut out = Vec::new();
    let mut i = 0_u64;
    let mut seq = 0_u32;
    while i < flows {
        let n = PER_DATAGRAM.min((flows - i) as usize);
        let records: Vec<FlowRecord> = (i..i + n as u64).map(|k| flow(k, now)).collect();
        let mut m = match protocol {
            Protocol::V9 => MessageBuilder::v9(now, 3_600_000, 1),
            Protocol::Ipfix => MessageBuilder::ipfix(now, 1),
        };
        m = m.sequence(match protocol {
            Protocol::V9 => out.len() as u32,
            Protocol::Ipfix => seq,
        });
        if out.len() % TEMPLATE_EVERY == 0 {
            m = m.template(FLOW_TEMPLATE_V4, &fields);
        }
        out.push(m.flows(FLOW_TEMPLATE_V4, &fields, &records).build());
        seq = seq.wrapping_add(n as u32);
        i += n as u64;
    }
    out
}

fn send(target: &str, flows: u64, rate: u64, protocol: Protocol) {
    let datagrams = build(flows, protocol);
    let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
    socket.connect(target).unwrap();
    let per_ms = (rate as f64 / 1000.0) / PER_DATAGRAM as f64;
    let started = Instant::now();
    let mut sent = 0_usize;
    let mut errors = 0_u64;
    while sent < datagrams.len() {
        let due = ((started.elapsed().as_secs_f64() * 1000.0 + 1.0) * per_ms) as usize;
        let due = due.min(datagrams.len());
        while sent < due {
            if socket.send(&datagrams[sent]).is_err() {
                errors += 1;
            }
            sent += 1;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "sent {flows} flows in {} datagrams in {secs:.2} s: {:.0} flows/s ({errors} send errors)",
        datagrams.len(),
        flows as f64 / secs
    );
}

fn count(brokers: &str, topic: &str) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "relbot-bench-count")
        .create()
        .unwrap();
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    let mut total = 0_i64;
    for t in metadata.topics() {
        for p in t.partitions() {
            let (low, high) = consumer
                .fetch_watermarks(topic, p.id(), Duration::from_secs(10))
                .unwrap();
            total += high - low;
        }
    }
    println!("{total}");
}

fn create(brokers: &str, topic: &str, partitions: i32) {
    let config = relbot_kafka::KafkaConfig {
        brokers: brokers.to_owned(),
        ..relbot_kafka::KafkaConfig::default()
    };
    let spec = relbot_kafka::TopicSpec {
        name: topic.to_owned(),
        partitions,
        replication_factor: 1,
        compacted: false,
    };
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(relbot_kafka::ensure_topics(&config, &[spec]))
        .unwrap();
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("send") if args.len() >= 4 => {
            let protocol = match args.get(4).map(String::as_str) {
                Some("ipfix") => Protocol::Ipfix,
                _ => Protocol::V9,
            };
            send(
                &args[1],
                args[2].parse().unwrap(),
                args[3].parse().unwrap(),
                protocol,
            );
        }
        Some("count") if args.len() == 3 => count(&args[1], &args[2]),
        Some("create") if args.len() == 4 => create(&args[1], &args[2], args[3].parse().unwrap()),
        _ => {
            eprintln!("usage: ingest_bench send TARGET FLOWS RATE [v9|ipfix] | count BROKERS TOPIC | create BROKERS TOPIC PARTITIONS");
            std::process::exit(64);
        }
    }
}
