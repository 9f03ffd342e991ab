//! Bad input gets a clear message and the documented exit code, and loses nothing else.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers fail loudly

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/classic")
        .join(name)
}

fn analyze(args: &[&str], inputs: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_relbot"))
        .args(["analyze", "--algorithm", "classic"])
        .args(args)
        .args(inputs)
        .output()
        .expect("run relbot")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The basic fixture with garbage lines inserted at known line numbers.
fn partly_bad_copy(dir: &Path) -> PathBuf {
    let good = std::fs::read_to_string(data("basic.triples")).unwrap();
    let mut text = String::new();
    for (i, line) in good.lines().enumerate() {
        if i == 10 {
            text.push_str("this is not a flow\n"); // line 11
        }
        if i == 500 {
            text.push_str("1416337885644 10.1.0.999 93.2.16.20\n"); // line 502
        }
        text.push_str(line);
        text.push('\n');
    }
    let path = dir.join("partly-bad.triples");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn garbage_lines_are_named_counted_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let path = partly_bad_copy(dir.path());
    let out = analyze(
        &[
            "--output",
            "relbot",
            "--seed-config",
            data("seed-default.conf.json").to_str().unwrap(),
        ],
        &[&path],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("partly-bad.triples:11:"), "{err}");
    assert!(err.contains("partly-bad.triples:502:"), "{err}");
    assert!(err.contains("2 line(s) skipped"), "{err}");
    // The good lines are all analysed: the result is the original's on the clean file.
    let expected = std::fs::read_to_string(data("basic.expected")).unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), expected);
}

#[test]
fn strict_stops_at_the_first_bad_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = partly_bad_copy(dir.path());
    let out = analyze(&["--strict", "--output", "relbot"], &[&path]);
    assert_eq!(out.status.code(), Some(65));
    let err = stderr(&out);
    assert!(
        err.contains("partly-bad.triples:11:") && err.contains("--strict"),
        "{err}"
    );
    assert!(
        out.stdout.is_empty(),
        "no result is printed after a strict failure"
    );
}

#[test]
fn truncated_gzip_is_a_data_error() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read(data("basic.triples")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&text).unwrap();
    let bytes = gz.finish().unwrap();
    let path = dir.path().join("cut.triples.gz");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let out = analyze(&["--output", "relbot"], &[&path]);
    assert_eq!(out.status.code(), Some(65), "{}", stderr(&out));
    assert!(stderr(&out).contains("cut.triples.gz"), "{}", stderr(&out));

    // The whole file, compressed, reads like the plain one.
    let path = dir.path().join("whole.triples.gz");
    std::fs::write(&path, &bytes).unwrap();
    let out = analyze(
        &[
            "--output",
            "relbot",
            "--seed-config",
            data("seed-default.conf.json").to_str().unwrap(),
        ],
        &[&path],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let expected = std::fs::read_to_string(data("basic.expected")).unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), expected);
}

#[test]
fn empty_file_is_reported_and_yields_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.txt");
    std::fs::write(&path, "").unwrap();
    let out = analyze(&["--output", "relbot"], &[&path]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("empty.txt: empty input"),
        "{}",
        stderr(&out)
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn missing_file_fails_before_reading_anything() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.txt");
    let out = analyze(&["--output", "relbot"], &[&data("basic.triples"), &missing]);
    assert_eq!(out.status.code(), Some(66));
    let err = stderr(&out);
    assert!(
        err.contains("nope.txt") && err.contains("no such file"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn a_directory_is_not_a_flow_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = analyze(&["--output", "relbot"], &[dir.path()]);
    assert_eq!(out.status.code(), Some(66));
    let err = stderr(&out);
    assert!(
        err.contains(dir.path().to_str().unwrap()) && err.contains("directory"),
        "{err}"
    );
}

/// A file without read permission, read by an unprivileged user: root reads any file, so as
/// root the binary runs as `nobody` through `setpriv` (util-linux).
#[cfg(unix)]
#[test]
fn unreadable_file_is_named() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = dir.path().join("secret.triples");
    std::fs::write(&path, "1 10.0.0.1 10.0.0.2\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();

    let is_root = std::fs::read(&path).is_ok();
    let out = if is_root {
        // `nobody` may not reach the build folder: run a copy of the binary from `dir`.
        let bin = dir.path().join("relbot");
        std::fs::copy(env!("CARGO_BIN_EXE_relbot"), &bin).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&bin)
            .args(["analyze", "--algorithm", "classic", "--output", "relbot"])
            .arg(&path)
            .output()
            .expect("setpriv (util-linux) runs the binary as nobody")
    } else {
        analyze(&["--output", "relbot"], &[&path])
    };
    assert_eq!(out.status.code(), Some(66), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("secret.triples"), "{err}");
    assert!(err.to_lowercase().contains("permission denied"), "{err}");
}

#[test]
fn bad_seed_config_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("bad.conf");
    std::fs::write(&conf, r#"{"times": [600000], "UNIT_MS": 0}"#).unwrap();
    let out = analyze(
        &["--seed-config", conf.to_str().unwrap()],
        &[&data("basic.triples")],
    );
    assert_eq!(out.status.code(), Some(64));
    assert!(stderr(&out).contains("UNIT_MS"), "{}", stderr(&out));
}
