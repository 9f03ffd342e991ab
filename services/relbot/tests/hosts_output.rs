//! `relbot analyze --output hosts`: the hosts the reporter's default rule reports, one address
//! per line.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers fail loudly

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use relbot_report::ReportingRule;

fn analyze(output: &str, input: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_relbot"))
        .args(["analyze", "--quiet", "--output", output])
        .arg(input)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn hosts_are_the_json_hosts_the_default_rule_reports_bots_among_them() {
    let dir = tempfile::tempdir().unwrap();
    let (flows, truth) = (dir.path().join("flows.txt"), dir.path().join("truth.json"));
    let out = Command::new(env!("CARGO_BIN_EXE_relbot"))
        .args([
            "simulate", "--hosts", "80", "--hours", "6", "--flows", "30000",
        ])
        .args(["--bot-share", "0.1", "--seed", "3", "--output"])
        .arg(&flows)
        .arg("--truth")
        .arg(&truth)
        .output()
        .unwrap();
    assert!(out.status.success());

    let listed = analyze("hosts", &flows);
    let lines: Vec<&str> = listed.lines().collect();
    for line in &lines {
        assert!(
            line.parse::<std::net::IpAddr>().is_ok(),
            "not an address: {line:?}"
        );
    }

    // The JSON's hosts whose largest period count reaches the reporter's default MIN_IDX, in
    // the same order.
    let min_idx = u64::from(ReportingRule::default().min_idx);
    let doc: serde_json::Value = serde_json::from_str(&analyze("json", &flows)).unwrap();
    let expected: Vec<&str> = doc["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| {
            let counts = h["periods"].as_array().unwrap().iter();
            counts.map(|p| p["count"].as_u64().unwrap()).max() >= Some(min_idx)
        })
        .map(|h| h["host"].as_str().unwrap())
        .collect();
    assert_eq!(lines, expected);

    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&truth).unwrap()).unwrap();
    let bots: BTreeSet<&str> = truth["bots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["host"].as_str().unwrap())
        .collect();
    assert!(!bots.is_empty());
    let listed: BTreeSet<&str> = lines.iter().copied().collect();
    // Not an empty list by accident: planted bots are among the hosts listed.
    assert!(
        bots.intersection(&listed).count() * 2 >= bots.len(),
        "bots {bots:?} listed {listed:?}"
    );
}
