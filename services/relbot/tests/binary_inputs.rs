//! `relbot analyze` on binary inputs: nfcapd files (Debian nfcapd's fixtures in each
//! compression, files written by relbot-flow's nfcapd writer, directories in time order) and
//! IPFIX files give the same analysis as the same flows as nfdump text; damaged files are
//! reported naming the file, counted, and stop the run under `--strict`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers fail loudly

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use relbot_flow::netflow::build::{flow_fields, MessageBuilder, FLOW_TEMPLATE_V4};
use relbot_flow::netflow::template::Protocol;
use relbot_flow::nfcapd::{writer::encode_file, Compression};
use relbot_flow::source::Block;
use relbot_flow::text::{self, LineParser, TextFormat};
use relbot_flow::FlowRecord;

fn relbot(args: &[&str], inputs: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_relbot"))
        .args(args)
        .args(inputs)
        .output()
        .unwrap()
}

/// The JSON analysis of `inputs`, without the run time.
fn analysis(extra: &[&str], inputs: &[&Path]) -> serde_json::Value {
    let mut args = vec!["analyze", "--quiet", "--output", "json"];
    args.extend_from_slice(extra);
    let out = relbot(&args, inputs);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    doc["summary"].as_object_mut().unwrap().remove("seconds");
    doc
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../crates/flow/tests/data/nfcapd")
        .join(name)
}

/// A simulated workload with planted bots as nfdump-fmt text (written by `relbot simulate`)
/// and its records.
fn simulated(dir: &Path) -> (PathBuf, Vec<FlowRecord>) {
    let text_path = dir.join("flows.txt");
    let out = Command::new(env!("CARGO_BIN_EXE_relbot"))
        .args([
            "simulate", "--hosts", "60", "--hours", "6", "--flows", "20000",
        ])
        .args(["--bot-share", "0.1", "--seed", "7", "--output"])
        .arg(&text_path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let data = std::fs::read(&text_path).unwrap();
    let parser = LineParser::new(TextFormat::NfdumpFmt, &data).unwrap();
    let (mut records, mut errors) = (Vec::new(), Vec::new());
    text::parse_block(&parser, &Block::new(1, data), &mut records, &mut errors);
    assert!(errors.is_empty());
    (text_path, records)
}

fn flagged(doc: &serde_json::Value) -> usize {
    doc["hosts"].as_array().unwrap().len()
}

#[test]
fn debian_nfcapd_files_give_the_analysis_of_their_nfdump_text() {
    let dir = tempfile::tempdir().unwrap();
    for compression in ["none", "lzo", "lz4", "bz2"] {
        let file = fixture(&format!("flows-{compression}.nfcapd"));
        // The text the original pipeline analysed, printed by Debian's nfdump.
        let out = Command::new("nfdump")
            .env("TZ", "UTC")
            .args(["-6", "-q", "-N", "-o", "fmt:%ts %sa %sp %da %dp %byt", "-r"])
            .arg(&file)
            .output()
            .expect("nfdump (Debian package nfdump) must be installed");
        assert!(out.status.success());
        let text_path = dir.path().join(format!("{compression}.txt"));
        std::fs::write(&text_path, &out.stdout).unwrap();

        let binary = analysis(&[], &[&file]);
        assert_eq!(binary["summary"]["flows"], 7, "{compression}");
        assert_eq!(binary, analysis(&[], &[&text_path]), "{compression}");
        let named = analysis(&["--input-format", "nfcapd"], &[&file]);
        assert_eq!(binary, named, "{compression}");
    }
}

#[test]
fn nfcapd_file_and_directory_of_its_parts_give_the_analysis_of_the_text() {
    let dir = tempfile::tempdir().unwrap();
    let (text_path, records) = simulated(dir.path());
    let text = analysis(&[], &[&text_path]);
    assert!(flagged(&text) > 0, "the simulated bots are flagged");

    let single = dir.path().join("all.nfcapd");
    std::fs::write(
        &single,
        encode_file(&records, Compression::Lz4, 64 * 1024).unwrap(),
    )
    .unwrap();
    assert_eq!(analysis(&[], &[&single]), text);

    // Split in time order into files named as nfcapd names them, in two subdirectories, and
    // created newest first: only the names give the order.
    let parts = dir.path().join("parts");
    let chunk = records.len().div_ceil(5);
    for (i, part) in records.chunks(chunk).enumerate().rev() {
        let sub = parts.join(if i < 2 { "a" } else { "b" });
        std::fs::create_dir_all(&sub).unwrap();
        let name = format!("nfcapd.20141118{:02}00", 10 + i);
        let bytes = encode_file(part, Compression::None, 16 * 1024).unwrap();
        std::fs::write(sub.join(name), bytes).unwrap();
    }
    std::fs::write(parts.join("nfcapd.current.1234"), b"being written").unwrap();
    let mut whole = analysis(&[], &[&parts]);
    assert_eq!(whole["summary"]["files"], 5);
    whole["summary"]["files"] = 1.into();
    assert_eq!(whole, text);
}

#[test]
fn ipfix_file_gives_the_analysis_of_the_text() {
    let dir = tempfile::tempdir().unwrap();
    let (text_path, records) = simulated(dir.path());
    let text = analysis(&[], &[&text_path]);
    assert!(flagged(&text) > 0);

    let fields = flow_fields(Protocol::Ipfix, false);
    let mut file = Vec::new();
    for (i, chunk) in records.chunks(20).enumerate() {
        let export_ms = chunk.last().unwrap().start_ms + 1000;
        let mut message = MessageBuilder::ipfix(export_ms, 1).sequence(i as u32 * 20);
        if i == 0 {
            message = message.template(FLOW_TEMPLATE_V4, &fields);
        }
        file.extend(message.flows(FLOW_TEMPLATE_V4, &fields, chunk).build());
    }
    let path = dir.path().join("flows.ipfix");
    std::fs::write(&path, file).unwrap();
    assert_eq!(analysis(&[], &[&path]), text);
    assert_eq!(analysis(&["--input-format", "ipfix-file"], &[&path]), text);
}

#[test]
fn damaged_nfcapd_file_is_named_counted_and_strict_stops() {
    let dir = tempfile::tempdir().unwrap();
    let (_, records) = simulated(dir.path());
    let bytes = encode_file(&records, Compression::Lz4, 16 * 1024).unwrap();
    let good = dir.path().join("good.nfcapd");
    std::fs::write(&good, &bytes).unwrap();
    // Cut inside the last block: the blocks before it are still read.
    let cut = dir.path().join("cut.nfcapd");
    std::fs::write(&cut, &bytes[..bytes.len() - 100]).unwrap();

    let out = relbot(&["analyze", "--output", "json"], &[&cut]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}: block", cut.display())) && stderr.contains("truncated"),
        "{stderr}"
    );
    assert!(stderr.contains("1 damaged block(s) skipped"), "{stderr}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["summary"]["skipped_blocks"], 1);
    let read = doc["summary"]["flows"].as_u64().unwrap();
    assert!(read > 0 && read < records.len() as u64, "{read}");

    let out = relbot(&["analyze", "--strict"], &[&good, &cut]);
    assert_eq!(out.status.code(), Some(65));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&cut.display().to_string()), "{stderr}");

    // Named as nfcapd but is not: exit 65 under --strict, skipped and counted otherwise.
    let text = dir.path().join("flows.txt");
    let out = relbot(
        &["analyze", "--strict", "--input-format", "nfcapd"],
        &[&text],
    );
    assert_eq!(out.status.code(), Some(65));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an nfcapd file"));

    // A directory without nfcapd files cannot be read: exit 66.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = relbot(&["analyze"], &[&empty]);
    assert_eq!(out.status.code(), Some(66));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no nfcapd files"));
}
