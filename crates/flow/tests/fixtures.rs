//! Every fixture parses: the shared parity inputs (`tests/data/classic/` at the workspace root)
//! and the real nfdump output in this crate's `tests/data/nfdump/`, checked against golden
//! files. Regenerate the goldens after a deliberate change with
//! `RELBOT_BLESS=1 cargo test -p relbot-flow --test fixtures`, and review the diff.

// Test helpers: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use relbot_flow::source::{Block, BlockReader};
use relbot_flow::text::{detect_format, parse_block, read_all, LineParser, TextFormat};
use relbot_flow::FlowRecord;

fn classic(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/classic")
        .join(name)
}

fn nfdump(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/nfdump")
        .join(name)
}

/// Lines that are neither blank nor comments.
fn data_lines(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.trim_start().starts_with('#'))
        .count()
}

#[test]
fn every_line_of_the_classic_fixtures_parses() {
    for (name, format) in [
        ("basic.triples", TextFormat::Triples),
        ("custom.triples", TextFormat::Triples),
        ("nfdump-fmt.txt", TextFormat::NfdumpFmt),
    ] {
        let path = classic(name);
        let head = std::fs::read(&path).unwrap();
        assert_eq!(
            detect_format(&head[..head.len().min(1 << 20)]),
            Some(format),
            "{name}"
        );
        let (records, errors) = read_all(&path, Some(format)).unwrap();
        assert!(
            errors.is_empty(),
            "{name}: {:?}",
            &errors[..errors.len().min(5)]
        );
        assert_eq!(records.len(), data_lines(&path), "{name}");
        assert_eq!(
            read_all(&path, None).unwrap().0,
            records,
            "{name}, detected"
        );
    }
}

#[test]
fn classic_nfdump_fmt_details() {
    let (records, _) = read_all(&classic("nfdump-fmt.txt"), Some(TextFormat::NfdumpFmt)).unwrap();
    assert_eq!(records.len(), 33_669);
    let first = &records[0];
    assert_eq!(first.start_ms, 1_416_316_505_734);
    assert_eq!(first.src, "10.0.1.5".parse::<std::net::IpAddr>().unwrap());
    assert_eq!(
        (first.src_port, first.dst_port, first.bytes),
        (49126, 80, 697)
    );
    assert!(records.iter().any(|r| r.src.is_ipv6() && r.dst.is_ipv6()));
    assert_eq!(
        records.iter().filter(|r| r.dst_port == 8 * 256).count(),
        123,
        "ICMP echo requests (8.0)"
    );
}

/// One record per line, every field, tab-separated.
fn render(records: &[FlowRecord]) -> String {
    let mut out = String::from(
        "start_ms\tend_ms\tsrc\tsrc_port\tdst\tdst_port\tprotocol\ttcp_flags\tpackets\tbytes\tinput_if\toutput_if\texporter\tflags\n",
    );
    for r in records {
        let exporter = r.exporter.map_or("-".to_owned(), |e| e.to_string());
        writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{:#04x}\t{}\t{}\t{}\t{}\t{}\t{:#04x}",
            r.start_ms,
            r.end_ms,
            r.src,
            r.src_port,
            r.dst,
            r.dst_port,
            r.protocol,
            r.tcp_flags,
            r.packets,
            r.bytes,
            r.input_if,
            r.output_if,
            exporter,
            r.flags
        )
        .unwrap();
    }
    out
}

fn check_golden(input: &str, format: TextFormat) {
    let path = nfdump(input);
    let head = std::fs::read(&path).unwrap();
    assert_eq!(detect_format(&head), Some(format), "{input}");
    let (records, errors) = read_all(&path, Some(format)).unwrap();
    assert!(errors.is_empty(), "{input}: {errors:?}");
    let actual = render(&records);
    let golden = nfdump(&format!("{input}.expected"));
    if std::env::var_os("RELBOT_BLESS").is_some() {
        std::fs::write(&golden, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(&golden).unwrap();
    assert_eq!(
        actual,
        expected,
        "{input} differs from {}",
        golden.display()
    );
}

#[test]
fn real_nfdump_csv_matches_golden() {
    check_golden("flows.csv", TextFormat::NfdumpCsv);
}

#[test]
fn real_nfdump_fmt_matches_golden() {
    check_golden("flows.fmt.txt", TextFormat::NfdumpFmt);
}

#[test]
fn quiet_csv_without_header_reads_like_csv_with_header() {
    let with_header = read_all(&nfdump("flows.csv"), Some(TextFormat::NfdumpCsv)).unwrap();
    let quiet = read_all(&nfdump("flows-q.csv"), Some(TextFormat::NfdumpCsv)).unwrap();
    let head = std::fs::read(nfdump("flows-q.csv")).unwrap();
    assert_eq!(detect_format(&head), Some(TextFormat::NfdumpCsv));
    assert_eq!(quiet.0, with_header.0);
    assert!(quiet.1.is_empty());
    assert_eq!(with_header.0.len(), 7);
}

#[test]
fn compressed_fixture_reads_like_plain() {
    let path = classic("nfdump-fmt.txt");
    let plain = read_all(&path, None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = std::fs::read(&path).unwrap();

    let gz_path = dir.path().join("flows.gz");
    let mut encoder = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz_path).unwrap(),
        flate2::Compression::fast(),
    );
    encoder.write_all(&data).unwrap();
    encoder.finish().unwrap();
    assert_eq!(read_all(&gz_path, None).unwrap(), plain);

    let zst_path = dir.path().join("flows.zst");
    std::fs::write(&zst_path, zstd::stream::encode_all(&data[..], 3).unwrap()).unwrap();
    assert_eq!(read_all(&zst_path, None).unwrap(), plain);
}

/// A file bigger than one block yields the same records and errors, with the same line
/// numbers, as parsing it one line at a time.
#[test]
fn blocks_agree_with_line_by_line() {
    let mut text = std::fs::read(classic("nfdump-fmt.txt")).unwrap();
    // Sprinkle bad lines so that error line numbers are checked too.
    for (offset, junk) in [(10_000, "junk\n"), (2_000_000, "2014-13-01 00:00:00 x\n")] {
        let at = offset + text[offset..].iter().position(|&b| b == b'\n').unwrap() + 1;
        text.splice(at..at, junk.bytes());
    }
    let text_without_final_newline = text[..text.len() - 1].to_vec();

    let parser = LineParser::new(TextFormat::NfdumpFmt, &text).unwrap();
    let mut expected_records = Vec::new();
    let mut expected_error_lines = Vec::new();
    for (index, line) in text.split(|&b| b == b'\n').enumerate() {
        match parser.parse_line(line) {
            Ok(Some(record)) => expected_records.push(record),
            Ok(None) => {}
            Err(_) => expected_error_lines.push(index as u64 + 1),
        }
    }
    assert_eq!(expected_error_lines.len(), 2);

    for input in [text, text_without_final_newline] {
        let mut reader = BlockReader::from_reader("mem", std::io::Cursor::new(input), None)
            .unwrap()
            .with_block_bytes(64 << 10);
        let (mut records, mut errors) = (Vec::new(), Vec::new());
        let mut blocks = 0;
        while let Some(block) = reader.next_block().unwrap() {
            parse_block(&parser, &block, &mut records, &mut errors);
            blocks += 1;
        }
        assert!(blocks > 40, "{blocks} blocks");
        assert_eq!(records, expected_records);
        let error_lines: Vec<u64> = errors.iter().map(|e| e.line).collect();
        assert_eq!(error_lines, expected_error_lines);
    }

    // The parser only needs whole lines: a hand-made block anywhere in a file works too.
    let mut records = Vec::new();
    let mut errors = Vec::new();
    parse_block(
        &parser,
        &Block::new(100, b"junk\n".to_vec()),
        &mut records,
        &mut errors,
    );
    assert_eq!(errors[0].line, 100);
}
