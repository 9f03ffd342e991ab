//! Helpers shared by the fixture and interop tests: nfdump's `fmt:` output as the expected
//! side, captured datagram files, and running Debian's nfcapd/nfdump/softflowd/nfreplay.

// Each test binary uses a part of these helpers; a failed unwrap is a failed test.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use relbot_flow::FlowRecord;

/// The nfdump output layout the goldens use (run with `TZ=UTC`, `-q -N -6`).
pub const NFDUMP_FMT: &str = "fmt:%ts|%te|%sa|%sp|%da|%dp|%pr|%flg|%pkt|%byt|%in|%out|%ra|%dir";

/// The fields nfdump prints and relbot compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Flow {
    pub start_ms: i64,
    pub end_ms: i64,
    pub src: IpAddr,
    pub src_port: u16,
    pub dst: IpAddr,
    pub dst_port: u16,
    pub protocol: u8,
    pub tcp_flags: u8,
    pub packets: u64,
    pub bytes: u64,
    pub input_if: u32,
    pub output_if: u32,
    pub exporter: Option<IpAddr>,
    pub egress: bool,
}

impl From<&FlowRecord> for Flow {
    fn from(r: &FlowRecord) -> Self {
        Flow {
            start_ms: r.start_ms,
            end_ms: r.end_ms,
            src: r.src,
            src_port: r.src_port,
            dst: r.dst,
            dst_port: r.dst_port,
            protocol: r.protocol,
            tcp_flags: r.tcp_flags,
            packets: r.packets,
            bytes: r.bytes,
            input_if: r.input_if,
            output_if: r.output_if,
            exporter: r.exporter,
            egress: r.flags & FlowRecord::FLAG_EGRESS != 0,
        }
    }
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `2014-11-18 13:15:09.251` (UTC) in ms since the epoch.
fn time_ms(s: &str) -> i64 {
    let n = |a: usize, b: usize| s[a..b].parse::<i64>().unwrap();
    let days = days_from_civil(n(0, 4), n(5, 7), n(8, 10));
    ((days * 24 + n(11, 13)) * 60 + n(14, 16)) * 60_000 + n(17, 19) * 1000 + n(20, 23)
}

/// `...AP.SF` → 0x1b.
fn tcp_flags(s: &str) -> u8 {
    s.chars()
        .zip([0x80, 0x40, 0x20, 0x10, 0x08, 0x04, 0x02, 0x01])
        .filter(|(c, _)| *c != '.')
        .map(|(_, bit)| bit)
        .sum()
}

/// A port, or ICMP `type.code` as `type * 256 + code`.
fn port(s: &str) -> u16 {
    match s.split_once('.') {
        Some((t, c)) => t.parse::<u16>().unwrap() * 256 + c.parse::<u16>().unwrap(),
        None => s.parse().unwrap(),
    }
}

/// Parses nfdump output in [`NFDUMP_FMT`].
pub fn parse_fmt(text: &str) -> Vec<Flow> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split('|').map(str::trim).collect();
            assert_eq!(f.len(), 14, "{line}");
            Flow {
                start_ms: time_ms(f[0]),
                end_ms: time_ms(f[1]),
                src: f[2].parse().unwrap(),
                src_port: port(f[3]),
                dst: f[4].parse().unwrap(),
                dst_port: port(f[5]),
                protocol: f[6].parse().unwrap(),
                tcp_flags: tcp_flags(f[7]),
                packets: f[8].parse().unwrap(),
                bytes: f[9].parse().unwrap(),
                input_if: f[10].parse().unwrap(),
                output_if: f[11].parse().unwrap(),
                exporter: Some(f[12].parse().unwrap()),
                egress: f[13] == "E",
            }
        })
        .collect()
}

/// Reads a captured-datagrams file: each datagram as a u32 big-endian length and its bytes.
pub fn read_datagrams(path: &Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(path).unwrap();
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let n = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        out.push(bytes[at + 4..at + 4 + n].to_vec());
        at += 4 + n;
    }
    out
}

/// nfdump 1.7.1 quirks, applied to its output so that it can be compared with relbot's:
/// - IPFIX flowStartSysUpTime/flowEndSysUpTime (22/21) are mapped the wrong way round in
///   nfdump 1.7.1's `ipfix.c`, so `%ts` and `%te` are swapped for such exports;
/// - its v9 decoder ignores field 139 (ICMP type/code for IPv6), so ICMPv6 flows show `0.0`;
/// - for RFC 5103 biflows its `%flg` is the reverse direction's TCP flags (enterprise 29305
///   IE 6 overwrites IE 6); relbot skips reverse fields, so TCP flags are not compared.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quirks {
    pub swapped_times: bool,
    pub icmp6_type_code_lost: bool,
    pub reverse_tcp_flags: bool,
}

/// Compares relbot's records with nfdump's, in order, after undoing nfdump's quirks.
pub fn assert_same(what: &str, ours: &[Flow], nfdump: &[Flow], quirks: Quirks) {
    assert_eq!(ours.len(), nfdump.len(), "{what}: record count");
    for (i, (o, n)) in ours.iter().zip(nfdump).enumerate() {
        let mut n = *n;
        if quirks.swapped_times {
            std::mem::swap(&mut n.start_ms, &mut n.end_ms);
        }
        if quirks.icmp6_type_code_lost && n.protocol == 58 && n.dst_port == 0 {
            n.dst_port = o.dst_port;
        }
        if quirks.reverse_tcp_flags {
            n.tcp_flags = o.tcp_flags;
        }
        assert_eq!(*o, n, "{what}: record {i}");
    }
}

/// The Debian tools the interop tests drive.
#[derive(Debug, Clone)]
pub struct Tools {
    pub nfcapd: PathBuf,
    pub nfdump: PathBuf,
    pub nfreplay: PathBuf,
    pub softflowd: PathBuf,
    pub softflowctl: PathBuf,
}

/// All of [`Tools`], or `None` when one is missing.
pub fn tools() -> Option<Tools> {
    Some(Tools {
        nfcapd: tool("nfcapd")?,
        nfdump: tool("nfdump")?,
        nfreplay: tool("nfreplay")?,
        softflowd: tool("softflowd")?,
        softflowctl: tool("softflowctl")?,
    })
}

/// Finds a tool on PATH (and in the sbin directories Debian puts softflowd in). When it is
/// missing: under `CI=true` the test fails (the CI script installs nfdump and softflowd);
/// otherwise it is skipped with a message.
pub fn tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path).chain(["/usr/sbin".into(), "/sbin".into()]);
    for dir in dirs {
        let candidate: PathBuf = dir.join(name);
        if candidate.is_file() {
            return Some(candidate);
        }
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{name} is required under CI=true: apt-get install -y nfdump softflowd");
    }
    eprintln!("skipping: {name} not installed (apt-get install -y nfdump softflowd)");
    None
}

/// A free UDP port on 127.0.0.1 (closed again, so there is a small race with other users).
pub fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `nfcapd` writing into a temporary directory.
pub struct Nfcapd {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Nfcapd {
    /// Starts nfcapd on a free port with extra arguments (e.g. `-z`).
    pub fn start(nfcapd: &Path, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = Command::new(nfcapd)
            .args([
                "-w",
                dir.path().to_str().unwrap(),
                "-b",
                "127.0.0.1",
                "-t",
                "3600",
            ])
            .args(["-p", &port.to_string()])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(700));
        Self { child, port, dir }
    }

    /// Stops nfcapd with SIGTERM (which makes it close its file) and returns the file.
    pub fn stop(mut self) -> (PathBuf, tempfile::TempDir) {
        let status = Command::new("kill")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
        self.child.wait().unwrap();
        let file = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                name.starts_with("nfcapd.2")
            })
            .max_by_key(|p| std::fs::metadata(p).unwrap().len())
            .expect("nfcapd wrote no file");
        (file, self.dir)
    }
}

/// `nfdump -r FILE` in [`NFDUMP_FMT`], parsed.
pub fn nfdump(nfdump: &Path, file: &Path) -> Vec<Flow> {
    let out = Command::new(nfdump)
        .env("TZ", "UTC")
        .args([
            "-r",
            file.to_str().unwrap(),
            "-q",
            "-N",
            "-6",
            "-o",
            NFDUMP_FMT,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse_fmt(&String::from_utf8(out.stdout).unwrap())
}

/// Receives datagrams on `socket` while `exporter` runs (calling `poke` once a second while
/// it is alive), forwarding each to `forward`, until it has exited and nothing came for a
/// second. Returns the datagrams and their source address.
pub fn relay(
    socket: &UdpSocket,
    exporter: &mut Child,
    forward: SocketAddr,
    mut poke: impl FnMut(),
) -> Vec<(SocketAddr, Vec<u8>)> {
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65_535];
    let started = Instant::now();
    let mut last_poke = Instant::now();
    let mut exited_at: Option<Instant> = None;
    let mut last_data = Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "exporter did not finish"
        );
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => {
                socket.send_to(&buf[..n], forward).unwrap();
                got.push((from, buf[..n].to_vec()));
                last_data = Instant::now();
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("{e}"),
        }
        if exited_at.is_none() {
            if exporter.try_wait().unwrap().is_some() {
                exited_at = Some(Instant::now());
            } else if last_poke.elapsed() >= Duration::from_secs(1) {
                poke();
                last_poke = Instant::now();
            }
        }
        if let Some(t) = exited_at {
            if t.elapsed() > Duration::from_secs(1) && last_data.elapsed() > Duration::from_secs(1)
            {
                break;
            }
        }
    }
    got
}

/// `pcap` (classic pcap, little-endian: 24-byte file header, then 16-byte record headers)
/// written into `dir` with its packets moved to start `ahead_s` seconds from now: softflowd
/// shifts the times of packets older than its start by 2^32 ms.
pub fn restamped_pcap(pcap: &Path, dir: &Path, ahead_s: u32) -> PathBuf {
    let mut pcap = std::fs::read(pcap).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32;
    let mut at = 24;
    let mut first = None;
    while at + 16 <= pcap.len() {
        let sec = u32::from_le_bytes(pcap[at..at + 4].try_into().unwrap());
        let first = *first.get_or_insert(sec);
        let new = now + ahead_s + (sec - first);
        pcap[at..at + 4].copy_from_slice(&new.to_le_bytes());
        let captured = u32::from_le_bytes(pcap[at + 8..at + 12].try_into().unwrap()) as usize;
        at += 16 + captured;
    }
    let path = dir.join("flows.pcap");
    std::fs::write(&path, pcap).unwrap();
    path
}
