//! relbot-ingest against real exporters and Debian's collector: softflowd exports a capture
//! as NetFlow v5, v9 and IPFIX, and nfreplay replays an nfcapd file as v9; the same stream
//! goes to Debian's `nfcapd` and to the `relbot-ingest` binary. Every record relbot-ingest
//! produced to Kafka (keyed by its initiator) must match what `nfdump` reads from nfcapd's
//! file: start, end, addresses, ports, protocol, flags, packets, bytes, interfaces.
//!
//! softflowd shifts captures older than its start by 2^32 ms, so the capture is restamped
//! 30 s into the future (as in crates/flow/tests/interop.rs, whose helpers this test shares).
//! Needs the broker (RELBOT_REQUIRE_KAFKA=1: fail when missing) and `nfdump`/`softflowd`
//! (CI=true: fail when missing).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../crates/flow/tests/common/mod.rs"]
mod common;

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{assert_same, nfdump, relay, restamped_pcap, tools, Flow, Nfcapd, Quirks, Tools};
use relbot_e2e::ingest::{free_udp_port, read_flows, toml, IngestProcess};
use relbot_e2e::reporter::free_port;
use relbot_kafka::testing::{unique_name, TestBroker};

fn fixture(path: &str) -> PathBuf {
    relbot_e2e::repo_root()
        .join("crates/flow/tests/data")
        .join(path)
}

/// The exporter whose stream is compared.
enum Exporter {
    Softflowd(Vec<&'static str>),
    Nfreplay,
}

/// Runs the exporter, relaying its datagrams to nfcapd and then, from the same socket (same
/// exporter address), to relbot-ingest. Returns the datagrams.
fn export(t: &Tools, exporter: &Exporter, nfcapd_port: u16, ingest_udp: u16) -> usize {
    let work = tempfile::tempdir().unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = socket.local_addr().unwrap().port().to_string();
    let ctl = work.path().join("softflowd.ctl");
    let mut child = match exporter {
        Exporter::Softflowd(args) => {
            let pcap = restamped_pcap(&fixture("nfdump/flows.pcap"), work.path(), 30);
            Command::new(&t.softflowd)
                .arg("-D")
                .args(["-r", pcap.to_str().unwrap()])
                .args(["-n", &format!("127.0.0.1:{port}")])
                .args(["-c", ctl.to_str().unwrap()])
                .args(["-p", work.path().join("softflowd.pid").to_str().unwrap()])
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        }
        Exporter::Nfreplay => {
            let original = fixture("nfcapd/flows-none.nfcapd");
            Command::new(&t.nfreplay)
                .args([
                    "-r",
                    original.to_str().unwrap(),
                    "-H",
                    "127.0.0.1",
                    "-v",
                    "9",
                ])
                .args(["-p", &port])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        }
    };
    let forward: SocketAddr = format!("127.0.0.1:{nfcapd_port}").parse().unwrap();
    let softflowctl = t.softflowctl.clone();
    let datagrams = relay(&socket, &mut child, forward, || {
        // softflowd 1.1.0 reading a file waits in accept() on its control socket: poke it.
        if ctl.exists() {
            let _ = Command::new(&softflowctl)
                .args(["-c", ctl.to_str().unwrap(), "statistics"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    });
    assert!(!datagrams.is_empty(), "the exporter sent nothing");
    for (_, d) in &datagrams {
        socket.send_to(d, ("127.0.0.1", ingest_udp)).unwrap();
    }
    datagrams.len()
}

/// A sort key both sides share, untouched by nfdump's quirks.
fn sort_key(f: &Flow) -> (std::net::IpAddr, std::net::IpAddr, u8, u16, u64, u64) {
    (f.src, f.dst, f.protocol, f.src_port, f.bytes, f.packets)
}

async fn compare(test: &str, exporter: Exporter, quirks: Quirks, expected: usize) {
    let Some(broker) = TestBroker::connect(test).await else {
        return;
    };
    let Some(t) = tools() else { return };
    let topic = unique_name(test);
    let dir = tempfile::tempdir().unwrap();
    let (http, udp) = (free_port().unwrap(), free_udp_port().unwrap());
    let config = toml(
        &broker.brokers,
        &topic,
        http,
        udp,
        1,
        "",
        // Compared record for record with nfcapd: no merging of pieces.
        "[ingest.split_merge]\nenabled = false\n",
    );
    let mut ingest = IngestProcess::start(dir.path(), "ingest", &config, http).unwrap();
    ingest.wait_ready(Duration::from_secs(60)).await.unwrap();

    let collector = Nfcapd::start(&t.nfcapd, &[]);
    let sent = {
        let (t, nfcapd_port) = (t.clone(), collector.port);
        tokio::task::spawn_blocking(move || export(&t, &exporter, nfcapd_port, udp))
            .await
            .unwrap()
    };
    ingest
        .wait_metric(
            "relbot_ingest_packets_total{exporter=\"127.0.0.1\"}",
            sent as f64,
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    let got = read_flows(
        &broker.config(test),
        &topic,
        expected,
        Duration::from_secs(60),
        Duration::from_secs(2),
    )
    .await
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let (file, _keep) = collector.stop();
    let mut theirs = nfdump(&t.nfdump, &file);
    assert_eq!(theirs.len(), expected, "{test}: nfdump's record count");
    for (key, record) in &got {
        assert_eq!(
            *key,
            record.src.to_string(),
            "{test}: keyed by the initiator"
        );
    }
    let mut ours: Vec<Flow> = got.iter().map(|(_, r)| Flow::from(r)).collect();
    ours.sort_by_key(sort_key);
    theirs.sort_by_key(sort_key);
    assert_same(test, &ours, &theirs, quirks);
    assert_eq!(
        ingest
            .metric("relbot_ingest_records_total{reason=\"produced\"}")
            .await
            .unwrap() as usize,
        expected
    );
    let status = ingest.terminate(Duration::from_secs(20)).await.unwrap();
    assert!(status.success(), "{status}\n{}", ingest.logs());
    broker.delete_topic(&topic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_softflowd_v5_matches_nfcapd() {
    // v5 carries IPv4 only: 4 of the 7 flows.
    compare(
        "ingest_softflowd_v5",
        Exporter::Softflowd(vec!["-v", "5"]),
        Quirks::default(),
        4,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_softflowd_v9_matches_nfcapd() {
    let quirks = Quirks {
        icmp6_type_code_lost: true,
        ..Quirks::default()
    };
    compare(
        "ingest_softflowd_v9",
        Exporter::Softflowd(vec!["-v", "9"]),
        quirks,
        7,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_softflowd_ipfix_matches_nfcapd() {
    compare(
        "ingest_softflowd_ipfix",
        Exporter::Softflowd(vec!["-v", "10", "-A", "milli"]),
        Quirks::default(),
        7,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_nfreplay_v9_matches_nfcapd() {
    compare(
        "ingest_nfreplay_v9",
        Exporter::Nfreplay,
        Quirks::default(),
        7,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_softflowd_ipfix_relative_times_matches_nfcapd() {
    // softflowd's default IPFIX times are relative to its uptime (nfdump 1.7.1 swaps them).
    let quirks = Quirks {
        swapped_times: true,
        ..Quirks::default()
    };
    compare(
        "ingest_softflowd_ipfix_rel",
        Exporter::Softflowd(vec!["-v", "10"]),
        quirks,
        7,
    )
    .await;
}
