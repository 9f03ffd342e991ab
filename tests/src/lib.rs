//! relbot-e2e: shared helpers for the end-to-end tests in `tests/tests/`.
//!
//! The tests talk to a real broker (`scripts/kafka start`; see docs/KAFKA.md and
//! `relbot_kafka::testing` for the environment they read). This crate holds what several
//! tests share: deterministic flow records and Java's own answer to "which partition does
//! this key go to".

pub mod cch;
pub mod chart;
pub mod detector;
pub mod ingest;
pub mod pki;
pub mod reporter;
pub mod rsyslog;
pub mod service_process;
pub mod webhook;

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, ensure, Context as _};
use relbot_flow::FlowRecord;
use relbot_kafka::testing::TestBroker;
use relbot_kafka::{ensure_topics, TopicSpec};

/// Event time of the first generated flow (2024-01-01T00:00:00Z), ms since the epoch.
pub const BASE_MS: i64 = 1_704_067_200_000;

/// Creates `topics` (name, compacted) for `test`, each with `partitions` partitions and one
/// replica.
pub async fn create_topics(
    broker: &TestBroker,
    test: &str,
    partitions: i32,
    topics: &[(&str, bool)],
) -> anyhow::Result<()> {
    let specs: Vec<TopicSpec> = topics
        .iter()
        .map(|(name, compacted)| TopicSpec {
            name: (*name).to_owned(),
            partitions,
            replication_factor: 1,
            compacted: *compacted,
        })
        .collect();
    ensure_topics(&broker.config(test), &specs).await?;
    Ok(())
}

/// The repository's root folder.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Address of monitored host number `h`: mostly IPv4 in 10.0.0.0/8, every tenth IPv6 in
/// 2001:db8::/32 (documentation ranges and private space; these are data, never contacted).
pub fn host(h: u32) -> IpAddr {
    if h % 10 == 9 {
        IpAddr::V6(Ipv6Addr::new(
            0x2001,
            0xdb8,
            0,
            0,
            0,
            0,
            (h >> 16) as u16,
            h as u16,
        ))
    } else {
        IpAddr::V4(Ipv4Addr::new(10, (h >> 16) as u8, (h >> 8) as u8, h as u8))
    }
}

/// `n` flows from `hosts` hosts, round robin, every field filled. Flow `i` starts at
/// `BASE_MS + i` ms, so a consumer can tell from `start_ms` which flow it got.
pub fn flows(n: usize, hosts: u32) -> Vec<FlowRecord> {
    (0..n)
        .map(|i| {
            let u = i as u32;
            FlowRecord {
                start_ms: BASE_MS + i as i64,
                end_ms: BASE_MS + i as i64 + i64::from(u % 5_000),
                src: host(u % hosts),
                dst: IpAddr::V4(Ipv4Addr::new(198, 51, 100, (u % 251) as u8)),
                src_port: (1024 + u % 60_000) as u16,
                dst_port: [53, 80, 443, 6881, 16_464][i % 5],
                protocol: if i % 3 == 0 { 17 } else { 6 },
                tcp_flags: (i % 64) as u8,
                bytes: 40 + i as u64 * 7,
                packets: 1 + i as u64 % 100,
                exporter: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, (i % 4) as u8 + 1))),
                observation_domain: u % 4,
                sampling_rate: if i % 7 == 0 { 1_000 } else { 1 },
                input_if: u % 48,
                output_if: (u + 1) % 48,
                flags: (i % 16) as u8,
            }
        })
        .collect()
}

/// The folder of the broker's jars: `RELBOT_KAFKA_LIBS`, else what `scripts/kafka libs`
/// prints (it fetches the jars when they are not cached).
pub fn kafka_libs() -> anyhow::Result<PathBuf> {
    if let Some(libs) = std::env::var_os("RELBOT_KAFKA_LIBS").filter(|v| !v.is_empty()) {
        return Ok(libs.into());
    }
    let script = repo_root().join("scripts/kafka");
    let out = Command::new(&script)
        .arg("libs")
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    ensure!(
        out.status.success(),
        "{} libs failed: {}",
        script.display(),
        out.status
    );
    Ok(String::from_utf8(out.stdout)?.trim().into())
}

/// The partition Java's producer picks for each key among `partitions`, computed by
/// `org.apache.kafka.common.utils.Utils.murmur2` from the broker's own jars
/// (`tests/java/Murmur.java`, Java's single-file launcher).
pub fn java_partitions(keys: &[String], partitions: u32) -> anyhow::Result<Vec<i32>> {
    let libs = kafka_libs()?;
    let java = std::env::var_os("JAVA_HOME")
        .map_or_else(|| "java".into(), |home| Path::new(&home).join("bin/java"));
    let mut child = Command::new(&java)
        .arg("-cp")
        .arg(libs.join("*"))
        .arg(repo_root().join("tests/java/Murmur.java"))
        .arg(partitions.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {}", java.display()))?;
    {
        let mut stdin = child.stdin.take().context("java's stdin")?;
        for key in keys {
            writeln!(stdin, "{key}")?;
        }
    }
    let out = child.wait_with_output()?;
    ensure!(out.status.success(), "Murmur.java failed: {}", out.status);
    let partitions: Vec<i32> = String::from_utf8(out.stdout)?
        .lines()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .context("Murmur.java printed something else than partition numbers")?;
    if partitions.len() != keys.len() {
        bail!(
            "Murmur.java answered {} of {} keys",
            partitions.len(),
            keys.len()
        );
    }
    Ok(partitions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flows_are_distinct_and_keyed_by_text_addresses() {
        let flows = flows(1_000, 100);
        assert_eq!(flows[0].src, host(0));
        assert_eq!(flows[100].src, host(0));
        assert_eq!(host(9).to_string(), "2001:db8::9");
        assert_eq!(host(65_793).to_string(), "10.1.1.1");
        assert!(flows.windows(2).all(|w| w[0].start_ms + 1 == w[1].start_ms));
    }
}
