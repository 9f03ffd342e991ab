//! Interop with real exporters and collectors from Debian packages, at the decoder level:
//! softflowd exports a capture as NetFlow v5, v9 and IPFIX (and nfreplay replays an nfcapd
//! file as v9) to a UDP socket this test opens; every datagram is decoded by relbot's
//! [`Collector`] and passed on to Debian's nfcapd; relbot's records must equal what nfdump
//! reads from nfcapd's file (times, addresses, ports, protocol, flags, packets, bytes,
//! interfaces, direction). The same nfcapd files, written with each compression nfcapd offers,
//! must read back equal with relbot's nfcapd reader.
//!
//! softflowd places flows relative to its own start time, shifting captures older than that by
//! 2^32 ms; the capture is therefore restamped to start 30 s in the future. Known nfdump 1.7.1
//! quirks are undone before comparing (see `common::Quirks`).
//!
//! Needs `nfcapd`, `nfdump`, `nfreplay`, `softflowd`, `softflowctl` (Debian: `apt-get install
//! -y nfdump softflowd`): skipped when missing, failed when missing under `CI=true`.

// A failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use common::{assert_same, nfdump, relay, restamped_pcap, tools, Flow, Nfcapd, Quirks, Tools};
use relbot_flow::netflow::{Collector, CollectorConfig};
use relbot_flow::{nfcapd, FlowRecord};

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(path)
}

/// Decodes datagrams as the ingest service will: one collector, each datagram with its source.
fn decode(datagrams: &[(SocketAddr, Vec<u8>)]) -> Vec<FlowRecord> {
    let mut collector = Collector::new(CollectorConfig::default());
    let mut out = Vec::new();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    for (from, datagram) in datagrams {
        let report = collector.decode(*from, datagram, now, &mut out).unwrap();
        assert!(report.issues.is_empty(), "{:?}", report.issues);
    }
    out
}

fn flows(records: &[FlowRecord]) -> Vec<Flow> {
    records.iter().map(Flow::from).collect()
}

/// Runs softflowd over `pcap` with `args`, relaying its export to `collectors` (the first gets
/// the datagrams, the others are fed by the relay too). Returns the datagrams.
fn softflowd(
    t: &Tools,
    pcap: &Path,
    args: &[&str],
    collectors: &[&Nfcapd],
) -> Vec<(SocketAddr, Vec<u8>)> {
    let work = tempfile::tempdir().unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let ctl = work.path().join("softflowd.ctl");
    let mut child = Command::new(&t.softflowd)
        .arg("-D")
        .args(["-r", pcap.to_str().unwrap()])
        .args(["-n", &socket.local_addr().unwrap().to_string()])
        .args(["-c", ctl.to_str().unwrap()])
        .args(["-p", work.path().join("softflowd.pid").to_str().unwrap()])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let first: SocketAddr = format!("127.0.0.1:{}", collectors[0].port).parse().unwrap();
    // softflowd 1.1.0 reading a file waits in accept() on its control socket: poke it.
    let datagrams = relay(&socket, &mut child, first, || {
        let _ = Command::new(&t.softflowctl)
            .args(["-c", ctl.to_str().unwrap(), "statistics"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    });
    for other in &collectors[1..] {
        for (_, d) in &datagrams {
            socket.send_to(d, ("127.0.0.1", other.port)).unwrap();
        }
    }
    assert!(!datagrams.is_empty(), "softflowd {args:?} exported nothing");
    datagrams
}

fn check_export(t: &Tools, pcap: &Path, args: &[&str], quirks: Quirks) {
    let collector = Nfcapd::start(&t.nfcapd, &[]);
    let datagrams = softflowd(t, pcap, args, &[&collector]);
    let ours = decode(&datagrams);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (file, _dir) = collector.stop();
    let theirs = nfdump(&t.nfdump, &file);
    assert_eq!(ours.len(), 7, "softflowd {args:?}");
    assert_same(
        &format!("softflowd {args:?}"),
        &flows(&ours),
        &theirs,
        quirks,
    );
}

#[test]
fn softflowd_v5() {
    let Some(t) = tools() else { return };
    let dir = tempfile::tempdir().unwrap();
    let pcap = restamped_pcap(&fixture("nfdump/flows.pcap"), dir.path(), 30);
    // v5 carries IPv4 only: 4 of the 7 flows.
    let collector = Nfcapd::start(&t.nfcapd, &[]);
    let datagrams = softflowd(&t, &pcap, &["-v", "5"], &[&collector]);
    let ours = decode(&datagrams);
    let (file, _dir) = collector.stop();
    assert_eq!(ours.len(), 4);
    assert_same(
        "softflowd v5",
        &flows(&ours),
        &nfdump(&t.nfdump, &file),
        Quirks::default(),
    );
}

#[test]
fn softflowd_v9() {
    let Some(t) = tools() else { return };
    let dir = tempfile::tempdir().unwrap();
    let pcap = restamped_pcap(&fixture("nfdump/flows.pcap"), dir.path(), 30);
    let quirks = Quirks {
        icmp6_type_code_lost: true,
        ..Quirks::default()
    };
    check_export(&t, &pcap, &["-v", "9"], quirks);
}

#[test]
fn softflowd_ipfix_relative_and_absolute_times() {
    let Some(t) = tools() else { return };
    let dir = tempfile::tempdir().unwrap();
    let pcap = restamped_pcap(&fixture("nfdump/flows.pcap"), dir.path(), 30);
    let relative = Quirks {
        swapped_times: true,
        ..Quirks::default()
    };
    check_export(&t, &pcap, &["-v", "10"], relative);
    check_export(&t, &pcap, &["-v", "10", "-A", "milli"], Quirks::default());
}

/// nfreplay sends the flows of an nfcapd file as NetFlow v9: relbot's records equal both what
/// nfcapd stored from that stream and the original file.
#[test]
fn nfreplay_v9() {
    let Some(t) = tools() else { return };
    let original = fixture("nfcapd/flows-none.nfcapd");
    let collector = Nfcapd::start(&t.nfcapd, &[]);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut child = Command::new(&t.nfreplay)
        .args([
            "-r",
            original.to_str().unwrap(),
            "-H",
            "127.0.0.1",
            "-v",
            "9",
        ])
        .args(["-p", &socket.local_addr().unwrap().port().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let forward: SocketAddr = format!("127.0.0.1:{}", collector.port).parse().unwrap();
    let datagrams = relay(&socket, &mut child, forward, || {});
    let ours = decode(&datagrams);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (file, _dir) = collector.stop();
    assert_eq!(ours.len(), 7);
    assert_same(
        "nfreplay",
        &flows(&ours),
        &nfdump(&t.nfdump, &file),
        Quirks::default(),
    );
    // nfreplay does not send the exporter address or interfaces of the original.
    let from_original: Vec<Flow> = nfdump(&t.nfdump, &original)
        .into_iter()
        .map(|f| Flow {
            exporter: Some("127.0.0.1".parse().unwrap()),
            ..f
        })
        .collect();
    assert_same(
        "nfreplay vs original",
        &flows(&ours),
        &from_original,
        Quirks::default(),
    );
}

/// nfcapd writing with each compression it offers; relbot reads every file like nfdump.
#[test]
fn nfcapd_files_in_every_compression() {
    let Some(t) = tools() else { return };
    let dir = tempfile::tempdir().unwrap();
    let pcap = restamped_pcap(&fixture("nfdump/flows.pcap"), dir.path(), 30);
    let collectors: Vec<(&str, Nfcapd)> =
        [("none", ""), ("lzo", "-z"), ("lz4", "-y"), ("bz2", "-j")]
            .into_iter()
            .map(|(name, flag)| {
                let args: Vec<&str> = if flag.is_empty() { vec![] } else { vec![flag] };
                (name, Nfcapd::start(&t.nfcapd, &args))
            })
            .collect();
    let refs: Vec<&Nfcapd> = collectors.iter().map(|(_, c)| c).collect();
    softflowd(&t, &pcap, &["-v", "9"], &refs);
    std::thread::sleep(std::time::Duration::from_millis(500));
    for (name, collector) in collectors {
        let (file, _dir) = collector.stop();
        let ours = nfcapd::read_file(&file).unwrap();
        assert_eq!(ours.len(), 7, "{name}");
        assert_same(
            name,
            &flows(&ours),
            &nfdump(&t.nfdump, &file),
            Quirks::default(),
        );
    }
}
