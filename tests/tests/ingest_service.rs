//! relbot-ingest as a process against the real broker: a restart decodes data sets whose
//! template was learned before the stop (template cache reloaded), and bad datagrams are
//! counted under named reasons while the service keeps working.
//! Needs the broker (RELBOT_REQUIRE_KAFKA=1: fail when missing).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use relbot_e2e::ingest::{free_udp_port, metric_series, read_flows, toml, IngestProcess};
use relbot_e2e::reporter::free_port;
use relbot_flow::netflow::build::{flow_fields, MessageBuilder, FLOW_TEMPLATE_V4};
use relbot_flow::netflow::{FieldSpec, Protocol};
use relbot_flow::FlowRecord;
use relbot_kafka::testing::{unique_name, TestBroker};

const PER_DATAGRAM: usize = 10;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// `PER_DATAGRAM` distinct flows for datagram number `d`.
fn flows(d: usize, base_ms: i64) -> Vec<FlowRecord> {
    (0..PER_DATAGRAM)
        .map(|i| {
            let n = (d * PER_DATAGRAM + i) as u32;
            FlowRecord {
                start_ms: base_ms + i64::from(n) * 1000,
                end_ms: base_ms + i64::from(n) * 1000 + 250,
                src: IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n)),
                dst: "192.0.2.1".parse().unwrap(),
                src_port: 40_000 + (n % 1000) as u16,
                dst_port: 443,
                protocol: 6,
                tcp_flags: 0x1b,
                bytes: 1000 + u64::from(n),
                packets: 3 + u64::from(n % 7),
                ..FlowRecord::default()
            }
        })
        .collect()
}

/// An IPFIX message with `records`, with the flow template first when `template`.
fn ipfix(records: &[FlowRecord], template: bool, sequence: u32) -> Vec<u8> {
    let fields = flow_fields(Protocol::Ipfix, false);
    let mut m = MessageBuilder::ipfix(now_ms(), 7).sequence(sequence);
    if template {
        m = m.template(FLOW_TEMPLATE_V4, &fields);
    }
    m.flows(FLOW_TEMPLATE_V4, &fields, records).build()
}

/// What the comparison looks at.
fn essence(r: &FlowRecord) -> (i64, i64, IpAddr, IpAddr, u16, u16, u8, u64, u64) {
    (
        r.start_ms, r.end_ms, r.src, r.dst, r.src_port, r.dst_port, r.protocol, r.bytes, r.packets,
    )
}

const EXPORTER: &str = "exporter=\"127.0.0.1\"";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_restart_decodes_with_reloaded_templates() {
    let test = "ingest_restart";
    let Some(broker) = TestBroker::connect(test).await else {
        return;
    };
    let topic = unique_name(test);
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("templates.bin");
    let (http, udp) = (free_port().unwrap(), free_udp_port().unwrap());
    // No pending buffer: data without a known template is dropped (and counted), so only
    // the reloaded cache can decode the data sent after the restart.
    let keys = format!(
        "template_cache = {:?}\ntemplate_save_interval = \"1h\"",
        cache
    );
    let extra = "[ingest.split_merge]\nenabled = false\n[ingest.netflow]\npending_max_bytes = 0\n";
    let config = toml(&broker.brokers, &topic, http, udp, 2, &keys, extra);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let base = now_ms() - 3_600_000;
    let mut sent: Vec<FlowRecord> = Vec::new();

    let mut ingest = IngestProcess::start(dir.path(), "first", &config, http).unwrap();
    ingest.wait_ready(Duration::from_secs(60)).await.unwrap();
    // Mid-stream: the template once, then data only.
    for d in 0..6 {
        let records = flows(d, base);
        socket
            .send_to(&ipfix(&records, d == 0, d as u32), ("127.0.0.1", udp))
            .unwrap();
        sent.extend(records);
    }
    ingest
        .wait_metric(
            "relbot_ingest_records_total{reason=\"produced\"}",
            sent.len() as f64,
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    let status = ingest.terminate(Duration::from_secs(20)).await.unwrap();
    assert!(status.success(), "{status}\n{}", ingest.logs());
    assert!(cache.is_file(), "no template cache written at shutdown");

    let mut ingest = IngestProcess::start(dir.path(), "second", &config, http).unwrap();
    ingest.wait_ready(Duration::from_secs(60)).await.unwrap();
    for d in 6..11 {
        let records = flows(d, base);
        socket
            .send_to(&ipfix(&records, false, d as u32), ("127.0.0.1", udp))
            .unwrap();
        sent.extend(records);
    }
    ingest
        .wait_metric(
            &format!("relbot_ingest_packets_total{{{EXPORTER}}}"),
            5.0,
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    ingest
        .wait_metric(
            "relbot_ingest_records_total{reason=\"produced\"}",
            50.0,
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    assert_eq!(
        ingest
            .metric(&format!(
                "relbot_ingest_template_misses_total{{{EXPORTER}}}"
            ))
            .await
            .unwrap(),
        0.0
    );
    let got = read_flows(
        &broker.config(test),
        &topic,
        sent.len(),
        Duration::from_secs(60),
        Duration::from_secs(2),
    )
    .await
    .unwrap();
    let want: BTreeSet<_> = sent.iter().map(essence).collect();
    let have: BTreeSet<_> = got.iter().map(|(_, r)| essence(r)).collect();
    assert_eq!(got.len(), sent.len(), "every flow exactly once");
    assert_eq!(have, want);
    for (key, r) in &got {
        assert_eq!(*key, r.src.to_string());
        assert_eq!(r.exporter, Some("127.0.0.1".parse().unwrap()));
    }
    let status = ingest.terminate(Duration::from_secs(20)).await.unwrap();
    assert!(status.success(), "{status}\n{}", ingest.logs());

    // Control: without the cache the same data-only datagrams are template misses.
    let fresh = toml(&broker.brokers, &topic, http, udp, 2, "", extra);
    let mut ingest = IngestProcess::start(dir.path(), "control", &fresh, http).unwrap();
    ingest.wait_ready(Duration::from_secs(60)).await.unwrap();
    for d in 6..11 {
        socket
            .send_to(&ipfix(&flows(d, base), false, d as u32), ("127.0.0.1", udp))
            .unwrap();
    }
    ingest
        .wait_metric(
            &format!("relbot_ingest_template_misses_total{{{EXPORTER}}}"),
            5.0,
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    assert_eq!(
        ingest
            .metric(&format!(
                "relbot_ingest_records_decoded_total{{{EXPORTER}}}"
            ))
            .await
            .unwrap(),
        0.0
    );
    ingest.terminate(Duration::from_secs(20)).await.unwrap();
    broker.delete_topic(&topic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_counts_bad_datagrams_and_keeps_going() {
    let test = "ingest_bad_input";
    let Some(broker) = TestBroker::connect(test).await else {
        return;
    };
    let topic = unique_name(test);
    let dir = tempfile::tempdir().unwrap();
    let (http, udp) = (free_port().unwrap(), free_udp_port().unwrap());
    let extra = "[ingest.split_merge]\nenabled = false\n";
    let config = toml(&broker.brokers, &topic, http, udp, 1, "", extra);
    let mut ingest = IngestProcess::start(dir.path(), "ingest", &config, http).unwrap();
    ingest.wait_ready(Duration::from_secs(60)).await.unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let send = |bytes: &[u8]| {
        socket.send_to(bytes, ("127.0.0.1", udp)).unwrap();
    };
    let base = now_ms() - 60_000;
    let good = ipfix(&flows(0, base), true, 1);

    // Garbage: not a NetFlow version.
    send(b"\xde\xad\xbe\xef garbage that is not netflow at all");
    // Zero-length datagram and a cut header.
    send(b"");
    send(&good[..10]);
    // An IPFIX message whose length says more than the datagram holds.
    send(&good[..good.len() - 7]);
    // A template with a zero-length field.
    let zero = [FieldSpec {
        id: 8,
        length: 0,
        enterprise: 0,
    }];
    send(
        &MessageBuilder::ipfix(now_ms(), 7)
            .template(300, &zero)
            .build(),
    );
    // Oversized: a header announcing 60 000 bytes of zeros (no valid set in it).
    let mut oversized = vec![0_u8; 60_000];
    oversized[..2].copy_from_slice(&10_u16.to_be_bytes());
    oversized[2..4].copy_from_slice(&60_000_u16.to_be_bytes());
    send(&oversized);
    ingest
        .wait_metric(
            &format!("relbot_ingest_packets_total{{{EXPORTER}}}"),
            6.0,
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    let (_, body) = ingest.get("/metrics").await.unwrap();
    let errors = metric_series(&body, "relbot_ingest_decode_errors_total");
    let count = |reason: &str| {
        errors
            .iter()
            .filter(|(k, _)| k.contains(&format!("reason=\"{reason}\"")))
            .map(|(_, v)| *v)
            .sum::<f64>()
    };
    assert!(count("bad_version") >= 1.0, "{errors:?}");
    assert!(count("truncated") >= 3.0, "{errors:?}");
    assert!(count("zero_length_field") >= 1.0, "{errors:?}");
    let total: f64 = errors.values().sum();
    assert!(total >= 6.0, "every bad datagram counted: {errors:?}");

    // Still working: a valid message after all that is decoded and produced.
    send(&good);
    let got = read_flows(
        &broker.config(test),
        &topic,
        PER_DATAGRAM,
        Duration::from_secs(60),
        Duration::from_secs(1),
    )
    .await
    .unwrap();
    assert_eq!(got.len(), PER_DATAGRAM);
    assert_eq!(ingest.get("/readyz").await.unwrap().0, 200);
    assert_eq!(ingest.get("/healthz").await.unwrap().0, 200);
    let status = ingest.terminate(Duration::from_secs(20)).await.unwrap();
    assert!(status.success(), "{status}\n{}", ingest.logs());
    broker.delete_topic(&topic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_reads_nfcapd_files_and_keeps_monitored_initiators() {
    let test = "ingest_files";
    let Some(broker) = TestBroker::connect(test).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = relbot_e2e::repo_root().join("crates/flow/tests/data/nfcapd");
    // A directory of nfcapd files (read in time order) and every compression nfcapd writes.
    let inputs = dir.path().join("inputs");
    std::fs::create_dir(&inputs).unwrap();
    let mut all = Vec::new();
    for (i, name) in ["none", "lzo", "lz4", "bz2"].iter().enumerate() {
        let from = data.join(format!("flows-{name}.nfcapd"));
        if !from.is_file() {
            continue;
        }
        std::fs::copy(&from, inputs.join(format!("nfcapd.20240101000{i}"))).unwrap();
        all.extend(relbot_flow::nfcapd::read_file(&from).unwrap());
    }
    assert!(!all.is_empty());
    let monitored = relbot_flow::networks::Networks::parse(&["0.0.0.0/0"]).unwrap();
    let want: Vec<_> = all.iter().filter(|r| monitored.contains(r.src)).collect();
    assert!(
        want.len() < all.len(),
        "the fixture has IPv6 initiators to filter out"
    );

    let topic = unique_name(test);
    let (http, udp) = (free_port().unwrap(), free_udp_port().unwrap());
    let keys = "monitored = [\"0.0.0.0/0\"]";
    let extra = format!(
        "[ingest.split_merge]\nenabled = false\n[ingest.files]\npaths = [{:?}]\nformat = \"auto\"\n",
        inputs
    );
    let config = toml(&broker.brokers, &topic, http, udp, 1, keys, &extra);
    let mut ingest = IngestProcess::start(dir.path(), "ingest", &config, http).unwrap();
    ingest.wait_ready(Duration::from_secs(60)).await.unwrap();
    let got = read_flows(
        &broker.config(test),
        &topic,
        want.len(),
        Duration::from_secs(60),
        Duration::from_secs(2),
    )
    .await
    .unwrap();
    let mut want: Vec<_> = want.iter().map(|r| essence(r)).collect();
    let mut have: Vec<_> = got.iter().map(|(_, r)| essence(r)).collect();
    want.sort();
    have.sort();
    assert_eq!(have, want);
    assert_eq!(
        ingest
            .metric("relbot_ingest_records_total{reason=\"filtered\"}")
            .await
            .unwrap() as usize,
        all.len() - want.len()
    );
    let status = ingest.terminate(Duration::from_secs(20)).await.unwrap();
    assert!(status.success(), "{status}\n{}", ingest.logs());
    broker.delete_topic(&topic).await;
}
