//! `relbot-reporter --check`: prints the effective configuration with secrets redacted and
//! exits 0, or prints the problems (naming the keys) and exits 64. (This test also makes
//! `cargo test` build the binary that the end-to-end tests in `tests/` run.)

use std::process::Command;

fn reporter() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_relbot-reporter"));
    c.env_remove("RUST_LOG");
    c
}

#[test]
fn check_prints_the_redacted_config() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("r.toml");
    std::fs::write(
        &config,
        r#"
[kafka.librdkafka]
"sasl.password" = "hunter2-kafka"
[sinks.out]
kind = "jsonl"
path = "-"
"#,
    )
    .unwrap();
    let out = reporter()
        .arg("--check")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("[sinks.out]"), "{text}");
    assert!(text.contains("<redacted>"), "{text}");
    assert!(!text.contains("hunter2-kafka"), "{text}");
}

#[test]
fn problems_exit_64_and_name_the_key() {
    let out = reporter()
        .arg("--check")
        .env("RELBOT_REPORTER__SINKS__CCH__KIND", "cch")
        .env(
            "RELBOT_REPORTER__SINKS__CCH__URL",
            "https://cch.example.org",
        )
        .env(
            "RELBOT_REPORTER__SINKS__CCH__API_KEY_ENV",
            "RELBOT_REPORTER_TEST_UNSET",
        )
        .env("RELBOT_REPORTER__RULE__MIN_CONFIDENCE", "2")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64), "{out:?}");
    let text = String::from_utf8(out.stderr).unwrap();
    assert!(text.contains("RELBOT_REPORTER_TEST_UNSET"), "{text}");
    assert!(text.contains("rule.min_confidence"), "{text}");
}

#[test]
fn unknown_keys_exit_64() {
    let out = reporter()
        .arg("--check")
        .env("RELBOT_REPORTER__RULE__MIN_IDXX", "2")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("min_idxx"));
}
