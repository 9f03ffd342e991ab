//! Tests of [`BlockReader`] on real temporary files: compression, errors, block boundaries.

use std::io::Write;

use flate2::write::GzEncoder;

use super::*;

/// `count` numbered lines of varying length, each ending with `\n`.
fn sample_text(count: usize) -> Vec<u8> {
    let mut text = Vec::new();
    for i in 0..count {
        writeln!(
            text,
            "{} 10.0.{}.{} 93.{}.1.1",
            1_416_316_505_000u64 + i as u64,
            i % 256,
            i % 7,
            i % 100
        )
        .unwrap();
    }
    text
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(data, 1).unwrap()
}

fn write_temp(dir: &tempfile::TempDir, name: &str, data: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, data).unwrap();
    path
}

/// Reads every block, checking the block invariants, and returns them.
fn all_blocks(mut reader: BlockReader) -> Result<Vec<Block>, SourceError> {
    let mut blocks: Vec<Block> = Vec::new();
    let mut expected_line = 1;
    while let Some(block) = reader.next_block()? {
        assert!(!block.data.is_empty(), "no empty blocks");
        assert_eq!(
            block.first_line, expected_line,
            "first line numbers follow on"
        );
        if let Some(previous) = blocks.last() {
            assert_eq!(
                previous.data.last(),
                Some(&b'\n'),
                "only the last block may lack a newline"
            );
        }
        expected_line += block.lines().count() as u64;
        blocks.push(block);
    }
    Ok(blocks)
}

fn concat(blocks: &[Block]) -> Vec<u8> {
    blocks.iter().flat_map(|b| b.data.iter().copied()).collect()
}

#[test]
fn plain_gzip_and_zstd_give_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let text = sample_text(20_000);
    let mut two_members = gzip(&text[..1000]);
    two_members.extend(gzip(&text[1000..]));
    let mut two_frames = zstd(&text[..5000]);
    two_frames.extend(zstd(&text[5000..]));
    for (name, data, compression) in [
        ("plain.txt", text.clone(), Compression::None),
        ("file.gz", gzip(&text), Compression::Gzip),
        ("members.gz", two_members, Compression::Gzip),
        // Named .txt on purpose: compression comes from the magic bytes, not the name.
        ("file.txt", zstd(&text), Compression::Zstd),
        ("frames.zst", two_frames, Compression::Zstd),
    ] {
        let path = write_temp(&dir, name, &data);
        let reader = BlockReader::open(&path).unwrap().with_block_bytes(64 << 10);
        assert_eq!(reader.compression(), compression, "{name}");
        assert_eq!(reader.len(), Some(data.len() as u64));
        let progress = reader.progress();
        let blocks = all_blocks(reader).unwrap();
        assert!(blocks.len() > 3, "{name}: several blocks");
        assert_eq!(concat(&blocks), text, "{name}");
        assert_eq!(progress.bytes_consumed(), data.len() as u64, "{name}");
    }
}

#[test]
fn empty_inputs_yield_no_blocks() {
    let dir = tempfile::tempdir().unwrap();
    for (name, data) in [
        ("empty", Vec::new()),
        ("empty.gz", gzip(b"")),
        ("empty.zst", zstd(b"")),
    ] {
        let path = write_temp(&dir, name, &data);
        let mut reader = BlockReader::open(&path).unwrap();
        assert_eq!(reader.next_block().unwrap(), None, "{name}");
        assert_eq!(reader.next_block().unwrap(), None, "{name}, again");
    }
    let path = write_temp(&dir, "empty2", b"");
    assert!(BlockReader::open(&path).unwrap().is_empty());
}

#[test]
fn inputs_shorter_than_a_magic_number() {
    let dir = tempfile::tempdir().unwrap();
    for data in [&b"1"[..], b"1\n", b"\x1f", b"ab\nc"] {
        let path = write_temp(&dir, "short", data);
        let blocks = all_blocks(BlockReader::open(&path).unwrap()).unwrap();
        assert_eq!(concat(&blocks), data);
    }
}

#[test]
fn last_line_without_newline_is_kept() {
    let blocks = all_blocks(
        BlockReader::from_reader("mem", Cursor::new(b"a\nbb\nccc".to_vec()), None)
            .unwrap()
            .with_block_bytes(3),
    )
    .unwrap();
    let lines: Vec<(u64, Vec<u8>)> = blocks
        .iter()
        .flat_map(|b| b.lines().map(|(n, l)| (n, l.to_vec())).collect::<Vec<_>>())
        .collect();
    assert_eq!(
        lines,
        vec![
            (1, b"a".to_vec()),
            (2, b"bb".to_vec()),
            (3, b"ccc".to_vec())
        ]
    );
}

#[test]
fn small_blocks_cut_at_newlines_with_right_line_numbers() {
    let text = sample_text(3000);
    for block_bytes in [1, 7, 100, 4096, 1 << 20] {
        let reader = BlockReader::from_reader("mem", Cursor::new(text.clone()), None)
            .unwrap()
            .with_block_bytes(block_bytes);
        let blocks = all_blocks(reader).unwrap();
        assert_eq!(concat(&blocks), text, "block size {block_bytes}");
        let numbered: Vec<u64> = blocks
            .iter()
            .flat_map(|b| b.lines().map(|(n, _)| n))
            .collect();
        assert_eq!(
            numbered,
            (1..=3000).collect::<Vec<u64>>(),
            "block size {block_bytes}"
        );
    }
}

/// A reader that hands out one byte per call, like a slow pipe.
struct Trickle(Cursor<Vec<u8>>);

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let len = buf.len().min(1);
        self.0.read(&mut buf[..len])
    }
}

#[test]
fn sniffs_magic_bytes_from_a_trickling_stream() {
    let text = sample_text(100);
    let reader = BlockReader::from_reader("-", Trickle(Cursor::new(gzip(&text))), None).unwrap();
    assert_eq!(reader.compression(), Compression::Gzip);
    assert_eq!(reader.len(), None);
    assert_eq!(concat(&all_blocks(reader).unwrap()), text);
}

#[test]
fn truncated_gzip_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let whole = gzip(&sample_text(5000));
    for cut in [whole.len() - 1, whole.len() - 8, whole.len() / 2, 12] {
        let path = write_temp(&dir, "cut.gz", &whole[..cut]);
        let error = all_blocks(BlockReader::open(&path).unwrap()).unwrap_err();
        assert!(
            matches!(
                error,
                SourceError::Truncated {
                    compression: Compression::Gzip,
                    ..
                }
            ),
            "cut at {cut}: {error}"
        );
        assert_eq!(error.path(), path);
    }
}

#[test]
fn truncated_zstd_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let whole = zstd(&sample_text(5000));
    for cut in [whole.len() - 1, whole.len() / 2, 6] {
        let path = write_temp(&dir, "cut.zst", &whole[..cut]);
        let error = all_blocks(BlockReader::open(&path).unwrap()).unwrap_err();
        assert!(
            matches!(
                error,
                SourceError::Truncated {
                    compression: Compression::Zstd,
                    ..
                }
            ),
            "cut at {cut}: {error}"
        );
    }
}

#[test]
fn corrupt_gzip_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut data = gzip(&sample_text(5000));
    let crc_at = data.len() - 8;
    data[crc_at] ^= 0xff;
    let path = write_temp(&dir, "bad-crc.gz", &data);
    let error = all_blocks(BlockReader::open(&path).unwrap()).unwrap_err();
    assert!(matches!(error, SourceError::Corrupt { .. }), "{error}");
    assert!(error.to_string().contains("corrupt gzip stream"), "{error}");

    let mut garbage_after = gzip(b"1 1.2.3.4 5.6.7.8\n");
    garbage_after.extend_from_slice(b"not gzip at all");
    let path = write_temp(&dir, "garbage.gz", &garbage_after);
    assert!(all_blocks(BlockReader::open(&path).unwrap()).is_err());
}

#[test]
fn open_errors_name_the_problem_and_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.txt");
    let error = BlockReader::open(&missing).unwrap_err();
    assert!(matches!(error, SourceError::NotFound { .. }), "{error}");
    assert_eq!(error.path(), missing);
    assert!(error.to_string().contains("missing.txt: no such file"));

    let error = BlockReader::open(dir.path()).unwrap_err();
    assert!(matches!(error, SourceError::IsDirectory { .. }), "{error}");
}

#[cfg(unix)]
#[test]
fn unreadable_file_is_permission_denied() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let path = write_temp(&dir, "secret.txt", b"1 1.2.3.4 5.6.7.8\n");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
    // root reads anything; the check is only meaningful for other users.
    if File::open(&path).is_err() {
        let error = BlockReader::open(&path).unwrap_err();
        assert!(
            matches!(error, SourceError::PermissionDenied { .. }),
            "{error}"
        );
    }
}

#[test]
fn overlong_line_is_an_error_not_unbounded_memory() {
    let mut data = b"1 1.2.3.4 5.6.7.8\n".to_vec();
    data.extend(std::iter::repeat_n(b'x', 10_000));
    data.extend_from_slice(b"\nafter\n");
    let mut reader = BlockReader::from_reader("big", Cursor::new(data), None)
        .unwrap()
        .with_block_bytes(100);
    reader.max_line_bytes = 1000;
    let first = reader.next_block().unwrap().unwrap();
    assert_eq!(first.first_line, 1);
    let error = reader.next_block().unwrap_err();
    assert!(
        matches!(
            error,
            SourceError::LineTooLong {
                line: 2,
                limit: 1000,
                ..
            }
        ),
        "{error}"
    );
}
