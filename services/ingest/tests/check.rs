//! `relbot-ingest --check`: valid configurations exit 0, invalid ones 64 naming the key.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: failing loudly is the point

fn check(toml: &str) -> (i32, String) {
    relbot_service::testing::check(env!("CARGO_BIN_EXE_relbot-ingest"), toml)
}

#[test]
fn defaults_pass_the_check() {
    let (code, out) = check("");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("template_cache"), "{out}");
}

#[test]
fn listeners_pass_the_check() {
    let (code, out) = check(
        "[[ingest.udp]]\nlisten = \"0.0.0.0:2055\"\nworkers = 4\nrecv_buffer_bytes = 1048576\n",
    );
    assert_eq!(code, 0, "{out}");
}

#[test]
fn bad_settings_exit_64_naming_the_key() {
    let (code, out) = check("[ingest]\nmonitored = [\"10.0.0.0/99\"]\n");
    assert_eq!(code, 64, "{out}");
    assert!(out.contains("ingest.monitored"), "{out}");
    let (code, out) = check("[[ingest.udp]]\nlisten = \"0.0.0.0:2055\"\nworkers = 0\n");
    assert_eq!(code, 64, "{out}");
    assert!(out.contains("workers"), "{out}");
    let (code, out) = check("[ingest.pairing]\nwindow = \"a while\"\n");
    assert_eq!(code, 64, "{out}");
    assert!(out.contains("window"), "{out}");
}
