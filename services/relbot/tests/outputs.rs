//! The JSON and table outputs say the same as the original's format, with the evidence.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers fail loudly

use std::path::PathBuf;
use std::process::Command;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/classic")
        .join(name)
}

fn run(output: &str) -> String {
    run_with(output, &["--algorithm", "classic"])
}

fn run_with(output: &str, extra: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_relbot"))
        .args(["analyze", "--quiet", "--output", output])
        .args(extra)
        .arg("--seed-config")
        .arg(data("seed-default.conf.json"))
        .arg(data("nfdump-fmt.txt"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// (host, [(period, count)]) parsed from the original's format.
fn relbot_counts(text: &str) -> Vec<(String, Vec<(u64, usize)>)> {
    let mut hosts = Vec::new();
    for block in text.split("=============================\n").skip(1) {
        let mut lines = block.lines();
        let host = lines.next().unwrap().to_string();
        let counts = lines
            .map(|l| {
                let (p, c) = l.split_once(" -> ").unwrap();
                (p.parse().unwrap(), c.parse().unwrap())
            })
            .collect();
        hosts.push((host, counts));
    }
    hosts
}

#[test]
fn json_lists_the_periodic_peers_behind_each_count() {
    let expected = relbot_counts(&std::fs::read_to_string(data("nfdump-fmt.expected")).unwrap());
    let doc: serde_json::Value = serde_json::from_str(&run("json")).unwrap();
    assert_eq!(doc["algorithm"], "classic");
    let hosts = doc["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), expected.len());
    for (host, (name, counts)) in hosts.iter().zip(&expected) {
        assert_eq!(host["host"].as_str().unwrap(), name);
        let periods = host["periods"].as_array().unwrap();
        assert_eq!(periods.len(), counts.len());
        for (period, (ms, count)) in periods.iter().zip(counts) {
            assert_eq!(period["period_ms"].as_u64().unwrap(), *ms);
            assert_eq!(period["count"].as_u64().unwrap() as usize, *count);
            let peers = period["peers"].as_array().unwrap();
            assert_eq!(peers.len(), *count, "one listed peer per counted peer");
            for peer in peers {
                // classic needs at least MIN_VAL (4) flows to call a pair periodic
                assert!(peer["flows"].as_u64().unwrap() >= 4, "{peer}");
                assert!(peer["peer"]
                    .as_str()
                    .unwrap()
                    .parse::<std::net::IpAddr>()
                    .is_ok());
            }
        }
        assert!(host["flows"].as_u64().unwrap() >= host["peers"].as_u64().unwrap());
    }
    assert_eq!(
        doc["summary"]["flagged_hosts"].as_u64().unwrap() as usize,
        expected.len()
    );
}

#[test]
fn table_has_a_row_per_flagged_host() {
    let expected = relbot_counts(&std::fs::read_to_string(data("nfdump-fmt.expected")).unwrap());
    let table = run("text");
    assert!(table.starts_with("HOST"), "{table}");
    for (host, counts) in &expected {
        let row = table
            .lines()
            .find(|l| l.split_whitespace().next() == Some(host.as_str()))
            .unwrap_or_else(|| panic!("no row for {host}"));
        let best = counts.iter().map(|c| c.1).max().unwrap();
        assert_eq!(
            row.split_whitespace().nth(1),
            Some(best.to_string().as_str()),
            "{row}"
        );
    }
}

#[test]
fn beacon_finds_every_host_classic_finds_with_several_peers() {
    let classic: serde_json::Value = serde_json::from_str(&run("json")).unwrap();
    let beacon: serde_json::Value =
        serde_json::from_str(&run_with("json", &["--algorithm", "beacon"])).unwrap();
    assert_eq!(beacon["algorithm"], "beacon");
    let best = |host: &serde_json::Value| -> u64 {
        host["periods"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["count"].as_u64().unwrap())
            .max()
            .unwrap()
    };
    let flagged = |doc: &serde_json::Value, min: u64| -> Vec<String> {
        doc["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| best(h) >= min)
            .map(|h| h["host"].as_str().unwrap().to_string())
            .collect()
    };
    let by_beacon = flagged(&beacon, 2);
    let by_classic = flagged(&classic, 2);
    assert!(!by_classic.is_empty());
    for host in &by_classic {
        assert!(
            by_beacon.contains(host),
            "{host} missed by beacon: {by_beacon:?}"
        );
    }
    // Confidence is a probability-like score for every listed peer.
    for host in beacon["hosts"].as_array().unwrap() {
        for period in host["periods"].as_array().unwrap() {
            for peer in period["peers"].as_array().unwrap() {
                let c = peer["confidence"].as_f64().unwrap();
                assert!((0.0..=1.0).contains(&c), "{c}");
            }
        }
    }
}
