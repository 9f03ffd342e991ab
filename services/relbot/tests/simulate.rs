//! `relbot simulate` end to end: presets, ground truth, and a scenario `relbot analyze`
//! detects (the default algorithm finds every planted bot of a clean 6-hour scenario).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn relbot(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_relbot"))
        .args(args)
        .output()
        .expect("run relbot")
}

#[test]
fn presets_are_listed_and_unknown_ones_named() {
    let out = relbot(&["simulate", "--list-scenarios"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for name in [
        "clean",
        "jitter-10s",
        "drift-1s",
        "offline-restart",
        "replies-unfolded",
    ] {
        assert!(text.contains(name), "{name} missing from {text}");
    }
    let out = relbot(&["simulate", "--scenario", "nope", "--hours", "1"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope"));
}

#[test]
fn analyze_finds_the_planted_bots() {
    let dir = tempfile::tempdir().unwrap();
    let flows = dir.path().join("flows.txt");
    let truth = dir.path().join("truth.json");
    let out = relbot(&[
        "simulate",
        "--scenario",
        "clean",
        "--hours",
        "6",
        "--hosts",
        "300",
        "--bot-share",
        "0.05",
        "--format",
        "nfdump-fmt",
        "-o",
        flows.to_str().unwrap(),
        "--truth",
        truth.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&truth).unwrap()).unwrap();
    let bots: Vec<String> = truth["bots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["host"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(bots.len(), 15);
    let out = relbot(&[
        "analyze",
        "--quiet",
        "--output",
        "json",
        flows.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["algorithm"], "beacon");
    let flagged: Vec<String> = doc["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| {
            h["periods"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["count"].as_u64().unwrap() >= 2)
        })
        .map(|h| h["host"].as_str().unwrap().to_string())
        .collect();
    for bot in &bots {
        assert!(flagged.contains(bot), "{bot} not flagged: {flagged:?}");
    }
    assert!(flagged.iter().all(|h| bots.contains(h)), "{flagged:?}");
}
