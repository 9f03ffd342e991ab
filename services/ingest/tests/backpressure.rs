//! Backpressure without a broker: the producer points at a closed port, so nothing leaves.
//! The queue to the producer stays within `queue_capacity`, the workers stop reading, and
//! the kernel's drops on our socket are counted from /proc/net/udp. The service stays up.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: failing loudly is the point

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use relbot_flow::netflow::build::{flow_fields, MessageBuilder, FLOW_TEMPLATE_V4};
use relbot_flow::netflow::Protocol;
use relbot_flow::FlowRecord;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

fn metric(body: &str, series: &str) -> f64 {
    body.lines()
        .filter_map(|l| l.rsplit_once(' '))
        .filter(|(name, _)| *name == series)
        .filter_map(|(_, v)| v.parse::<f64>().ok())
        .sum()
}

#[test]
fn full_queue_stops_reading_and_kernel_drops_are_counted() {
    let http = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let udp = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ingest.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[runtime]
listen = "127.0.0.1:{http}"
drain_timeout = "2s"
[kafka]
brokers = "127.0.0.1:1"
[kafka.producer]
queue_max_records = 100
message_timeout = "5m"
[ingest]
create_topics = false
queue_capacity = 256
batch_records = 16
stats_interval = "100ms"
[[ingest.udp]]
listen = "127.0.0.1:{udp}"
workers = 1
recv_buffer_bytes = 4096
[ingest.split_merge]
enabled = false
"#
        ),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_relbot-ingest"))
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .env_remove("RUST_LOG")
        .spawn()
        .unwrap();
    let _child = Killed(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !get(http, "/readyz").is_some_and(|r| r.starts_with("HTTP/1.1 200")) {
        assert!(Instant::now() < deadline, "not ready");
        std::thread::sleep(Duration::from_millis(100));
    }

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let fields = flow_fields(Protocol::Ipfix, false);
    let records: Vec<FlowRecord> = (0..20_u32)
        .map(|i| FlowRecord {
            start_ms: now - 1000,
            end_ms: now,
            src: std::net::IpAddr::from([10, 0, 0, i as u8]),
            dst: "192.0.2.1".parse().unwrap(),
            src_port: 1000 + i as u16,
            dst_port: 80,
            protocol: 17,
            bytes: 100,
            packets: 1,
            ..FlowRecord::default()
        })
        .collect();
    let datagram = MessageBuilder::ipfix(now, 1)
        .template(FLOW_TEMPLATE_V4, &fields)
        .flows(FLOW_TEMPLATE_V4, &fields, &records)
        .build();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sent = 5_000;
    for _ in 0..sent {
        socket.send_to(&datagram, ("127.0.0.1", udp)).unwrap();
    }
    // Far more records than the producer queue, the ingest queue and the socket buffer hold.
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        let body = get(http, "/metrics").unwrap();
        let drops: f64 = body
            .lines()
            .filter(|l| l.starts_with("relbot_ingest_kernel_drops_total{"))
            .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
            .sum();
        if drops > 0.0 {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "no kernel drops counted:\n{body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let received = metric(&body, "relbot_ingest_packets_total{exporter=\"127.0.0.1\"}");
    assert!(
        received < f64::from(sent),
        "the worker kept reading: {received}"
    );
    let depth = metric(&body, "relbot_ingest_queue_depth");
    assert!(depth <= 256.0 + 16.0, "queue beyond its capacity: {depth}");
    assert!(
        metric(&body, "relbot_ingest_queue_full_total") >= 1.0,
        "{body}"
    );
    // Still serving.
    assert!(get(http, "/healthz").unwrap().starts_with("HTTP/1.1 200"));
}
