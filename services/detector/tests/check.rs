//! `relbot-detector --check`: valid configurations exit 0, invalid ones 64 naming the key.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: failing loudly is the point

fn check(toml: &str) -> (i32, String) {
    relbot_service::testing::check(env!("CARGO_BIN_EXE_relbot-detector"), toml)
}

#[test]
fn defaults_pass_the_check() {
    let (code, out) = check("");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("checkpoint_interval = \"5s\""), "{out}");
}

#[test]
fn bad_settings_exit_64_naming_the_key() {
    let (code, out) = check("[engine]\nmonitored = [\"10.0.0.0/99\"]\n");
    assert_eq!(code, 64, "{out}");
    assert!(out.contains("engine.monitored"), "{out}");
    let (code, out) =
        check("[algorithm]\nkind = \"classic\"\nseed_config = \"/nonexistent.json\"\n");
    assert_eq!(code, 64, "{out}");
    assert!(out.contains("seed_config"), "{out}");
    let (code, out) = check("[detector]\ncheckpoint_interval = \"1h\"\n");
    assert_eq!(code, 64, "{out}");
    assert!(out.contains("detector.checkpoint_interval"), "{out}");
}
