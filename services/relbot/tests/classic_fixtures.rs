//! Parity with the original RelBot: for every fixture in `tests/data/classic/`,
//! `relbot analyze --output relbot --seed-config CONF INPUT` prints exactly the `.expected`
//! output of the original `timedetector` (see that folder's README).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers fail loudly

use std::path::PathBuf;
use std::process::Command;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/classic")
        .join(name)
}

fn relbot_output(input: &str, config: &str, extra: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_relbot"))
        .arg("analyze")
        .args([
            "--algorithm",
            "classic",
            "--output",
            "relbot",
            "--quiet",
            "--seed-config",
        ])
        .arg(data(config))
        .args(extra)
        .arg(data(input))
        .output()
        .expect("run relbot");
    assert!(
        out.status.success(),
        "relbot failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn expected(name: &str) -> String {
    std::fs::read_to_string(data(name)).expect("read expected output")
}

#[test]
fn basic_triples_match_the_original() {
    assert_eq!(
        relbot_output("basic.triples", "seed-default.conf.json", &[]),
        expected("basic.expected")
    );
}

#[test]
fn custom_parameters_match_the_original() {
    assert_eq!(
        relbot_output("custom.triples", "radius0.conf.json", &[]),
        expected("custom.expected")
    );
}

#[test]
fn nfdump_fmt_matches_the_original() {
    assert_eq!(
        relbot_output("nfdump-fmt.txt", "seed-default.conf.json", &[]),
        expected("nfdump-fmt.expected")
    );
}

#[test]
fn named_formats_give_the_same_result_as_detection() {
    assert_eq!(
        relbot_output(
            "basic.triples",
            "seed-default.conf.json",
            &["--input-format", "triples"]
        ),
        expected("basic.expected")
    );
    assert_eq!(
        relbot_output(
            "nfdump-fmt.txt",
            "seed-default.conf.json",
            &["--input-format", "nfdump-fmt"]
        ),
        expected("nfdump-fmt.expected")
    );
}
