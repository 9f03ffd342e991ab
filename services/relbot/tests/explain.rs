//! `relbot explain` on a simulated workload with planted bots: a bot's peer draws a vertical
//! stripe in the PNG picture, the SVG picture is well-formed XML of the requested size, the
//! verdicts say why (not), and the evidence printed is the one `analyze --output json` lists.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers fail loudly

use std::path::{Path, PathBuf};
use std::process::Command;

struct Workload {
    _dir: tempfile::TempDir,
    flows: PathBuf,
    /// (bot, its peers) of the ground truth.
    bots: Vec<(String, Vec<String>)>,
}

fn workload() -> Workload {
    let dir = tempfile::tempdir().unwrap();
    let (flows, truth) = (dir.path().join("flows.txt"), dir.path().join("truth.json"));
    let out = Command::new(env!("CARGO_BIN_EXE_relbot"))
        .args([
            "simulate", "--hosts", "60", "--hours", "6", "--flows", "20000",
        ])
        .args(["--bot-share", "0.1", "--seed", "5", "--output"])
        .arg(&flows)
        .arg("--truth")
        .arg(&truth)
        .output()
        .unwrap();
    assert!(out.status.success());
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&truth).unwrap()).unwrap();
    let text = |v: &serde_json::Value| v.as_str().unwrap().to_string();
    let bots = truth["bots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            let peers = b["peers"].as_array().unwrap().iter().map(text).collect();
            (text(&b["host"]), peers)
        })
        .collect();
    Workload {
        _dir: dir,
        flows,
        bots,
    }
}

fn relbot(args: &[&str], input: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_relbot"))
        .args(args)
        .arg("--quiet")
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

/// A planted bot that `algorithm` flags, one of its periodic peers according to `analyze
/// --output json`, and that peer's evidence.
fn flagged_bot(w: &Workload, algorithm: &str) -> (String, String, serde_json::Value) {
    let json = relbot(
        &["analyze", "--output", "json", "--algorithm", algorithm],
        &w.flows,
    );
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    w.bots
        .iter()
        .find_map(|(bot, peers)| {
            let entry = doc["hosts"]
                .as_array()
                .unwrap()
                .iter()
                .find(|h| h["host"] == bot.as_str())?;
            let peer = entry["periods"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|p| p["peers"].as_array().unwrap())
                .find(|p| peers.iter().any(|t| p["peer"] == t.as_str()))?;
            let name = peer["peer"].as_str().unwrap().to_string();
            Some((bot.clone(), name, peer["evidence"].clone()))
        })
        .expect("the algorithm flags a planted bot with one of its peers")
}

/// A simulated host that is neither a bot nor flagged.
fn quiet_host(w: &Workload) -> String {
    let flagged = relbot(&["analyze", "--output", "hosts"], &w.flows);
    (1..=60)
        .map(|i| format!("10.0.0.{i}"))
        .find(|h| !flagged.lines().any(|l| l == h) && w.bots.iter().all(|(b, _)| b != h))
        .unwrap()
}

/// The x positions of the pixels drawn in a saturated colour (the peers' dots, not the grey
/// grid or the white background).
fn coloured_columns(path: &Path) -> (u32, u32, Vec<u32>) {
    let decoder = png::Decoder::new(std::fs::File::open(path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    assert!(channels >= 3, "{:?}", info.color_type);
    let mut xs = Vec::new();
    for y in 0..info.height as usize {
        for x in 0..info.width as usize {
            let at = y * info.line_size + x * channels;
            let (r, g, b) = (buf[at], buf[at + 1], buf[at + 2]);
            if r.max(g).max(b) - r.min(g).min(b) > 80 {
                xs.push(x as u32);
            }
        }
    }
    (info.width, info.height, xs)
}

#[test]
fn png_of_a_bots_peer_shows_a_vertical_stripe() {
    let w = workload();
    let (bot, peer, _) = flagged_bot(&w, "classic");
    let png = w._dir.path().join("bot.png");
    let text = relbot(
        &[
            "explain",
            &bot,
            "--peer",
            &peer,
            "--width",
            "800",
            "--height",
            "500",
            "--png",
            png.to_str().unwrap(),
        ],
        &w.flows,
    );
    assert!(text.contains("  FLAGGED: "), "{text}");
    assert!(text.contains(&peer), "{text}");

    let (width, height, xs) = coloured_columns(&png);
    assert_eq!((width, height), (800, 500));
    // One dot per contact (≥ 30 over 6 h), each several pixels.
    assert!(xs.len() > 100, "{} coloured pixels", xs.len());
    // Nearly all of them in one narrow column: within 3 % of the width.
    let mut sorted = xs.clone();
    sorted.sort_unstable();
    let median = sorted[sorted.len() / 2];
    let near = xs
        .iter()
        .filter(|&&x| x.abs_diff(median) <= width * 3 / 200)
        .count();
    assert!(
        near * 100 >= xs.len() * 95,
        "{near} of {} pixels near x = {median}",
        xs.len()
    );

    // A background host's busiest peer, wrapped by the same period, scatters.
    let background = "10.0.0.7";
    assert!(w.bots.iter().all(|(b, _)| b != background));
    let png = w._dir.path().join("background.png");
    relbot(
        &[
            "explain",
            background,
            "--period",
            "10m",
            "--png",
            png.to_str().unwrap(),
        ],
        &w.flows,
    );
    let (_, _, xs) = coloured_columns(&png);
    let mut sorted = xs.clone();
    sorted.sort_unstable();
    let median = sorted[sorted.len() / 2];
    let near = xs
        .iter()
        .filter(|&&x| x.abs_diff(median) <= width * 3 / 200)
        .count();
    assert!(near * 100 < xs.len() * 50, "{near} of {}", xs.len());
}

#[test]
fn svg_is_xml_of_the_requested_size_with_a_dot_per_flow() {
    let w = workload();
    let (bot, peer, _) = flagged_bot(&w, "classic");
    let svg = w._dir.path().join("bot.svg");
    let text = relbot(
        &[
            "explain",
            &bot,
            "--peer",
            &peer,
            "--width",
            "1000",
            "--height",
            "700",
            "--svg",
            svg.to_str().unwrap(),
        ],
        &w.flows,
    );
    assert!(text.contains("picture: "), "{text}");
    let line = text.lines().find(|l| l.starts_with(&peer)).unwrap();
    let pair_flows: usize = line.split_whitespace().nth(1).unwrap().parse().unwrap();

    let body = std::fs::read_to_string(&svg).unwrap();
    let doc = roxmltree::Document::parse(&body).unwrap();
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(root.attribute("width"), Some("1000"));
    assert_eq!(root.attribute("height"), Some("700"));
    // One circle per flow to the peer, plus the legend's.
    let circles = doc
        .descendants()
        .filter(|n| n.tag_name().name() == "circle")
        .count();
    assert_eq!(circles, pair_flows + 1);
    let texts: String = doc
        .descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect();
    assert!(texts.contains(&peer), "the legend names the peer");
}

#[test]
fn non_flagged_host_is_told_why_not() {
    let w = workload();
    let host = quiet_host(&w);
    let text = relbot(&["explain", &host], &w.flows);
    // The verdict is analyze's (quiet_host is not in `--output hosts`), and says why: no pair
    // is periodic, or the periodic ones (here: the simulated heartbeat many hosts share) were
    // dropped by the false-positive filter, which judges them against every host.
    assert!(
        text.contains("  NOT FLAGGED: no peer is periodic")
            || text.contains("  NOT FLAGGED: no periodic peer counts: ")
                && text.contains("dropped by the [filter] rules"),
        "{text}"
    );
    assert!(
        text.contains(" no "),
        "its peers are listed as not periodic: {text}"
    );

    let text = relbot(&["explain", "192.0.2.200"], &w.flows);
    assert!(
        text.contains("NOT FLAGGED: no flows from 192.0.2.200"),
        "{text}"
    );
}

#[test]
fn explain_prints_the_evidence_that_analyze_json_lists() {
    let w = workload();
    let (bot, peer, evidence) = flagged_bot(&w, "beacon");
    assert_eq!(evidence["kind"], "beacon");
    let text = relbot(
        &["explain", &bot, "--algorithm", "beacon", "--peer", &peer],
        &w.flows,
    );
    let line = text.lines().find(|l| l.starts_with(&peer)).unwrap();
    let expected = format!(
        "{} contacts: {} gaps explained, {} unexplained, {} missing beats",
        evidence["contacts"],
        evidence["explained_gaps"],
        evidence["unexplained_gaps"],
        evidence["missing_beats"]
    );
    assert!(line.contains(&expected), "{line} / {expected}");
    assert!(line.contains(" yes "), "{line}");

    let (bot, peer, evidence) = flagged_bot(&w, "classic");
    assert_eq!(evidence["kind"], "classic");
    let text = relbot(
        &["explain", &bot, "--algorithm", "classic", "--peer", &peer],
        &w.flows,
    );
    let line = text.lines().find(|l| l.starts_with(&peer)).unwrap();
    for period in evidence["periods"].as_array().unwrap() {
        let max = format!("max bin {:.2}", period["max"].as_f64().unwrap());
        assert!(line.contains(&max), "{line} / {max}");
    }
}
