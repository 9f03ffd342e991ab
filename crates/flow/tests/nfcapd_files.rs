//! nfcapd files that Debian's nfcapd 1.7.1 wrote, uncompressed and with each compression it
//! offers (`tests/data/nfcapd/`, see its README), read back record for record equal to what
//! nfdump prints from them; ZSTD (which 1.7.1 cannot write) from the same real blocks
//! recompressed as nfdump 1.7.2+ writes them; directories in time order.

// A failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use common::{assert_same, parse_fmt, Flow, Quirks};
use relbot_flow::nfcapd::block::{BlockHeader, BLOCK_HEADER_LEN};
use relbot_flow::nfcapd::header::HEADER_LEN;
use relbot_flow::nfcapd::{self, Compression, FileHeader, NfcapdReader};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/nfcapd")
        .join(name)
}

fn golden(name: &str) -> Vec<Flow> {
    parse_fmt(&std::fs::read_to_string(data(&format!("{name}.fmt"))).unwrap())
}

fn flows(records: &[relbot_flow::FlowRecord]) -> Vec<Flow> {
    records.iter().map(Flow::from).collect()
}

#[test]
fn each_compression_nfcapd_offers_reads_like_nfdump() {
    for (name, compression) in [
        ("flows-none.nfcapd", Compression::None),
        ("flows-lzo.nfcapd", Compression::Lzo),
        ("flows-lz4.nfcapd", Compression::Lz4),
        ("flows-bz2.nfcapd", Compression::Bz2),
    ] {
        assert!(nfcapd::is_nfcapd(&std::fs::read(data(name)).unwrap()));
        let reader = NfcapdReader::open(&data(name)).unwrap();
        assert_eq!(reader.header().compression, compression, "{name}");
        assert_eq!(reader.header().nfdump_version, 0x0107_0100, "{name}");
        let records = nfcapd::read_file(&data(name)).unwrap();
        assert_same(name, &flows(&records), &golden(name), Quirks::default());
        assert!(records
            .iter()
            .all(|r| r.observation_domain == 0 && r.sampling_rate == 0));
    }
}

#[test]
fn the_original_fixture_reads_too() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/nfdump/flows.nfcapd");
    let records = nfcapd::read_file(&path).unwrap();
    assert_same(
        "nfdump/flows.nfcapd",
        &flows(&records),
        &golden("flows-none.nfcapd"),
        Quirks::default(),
    );
}

/// Rewrites an uncompressed nfcapd file with every block payload compressed by `compress`,
/// as nfdump's `nfwrite` does (the appendix is dropped: the reader does not use it).
fn recompress(
    file: &[u8],
    compression: Compression,
    compress: impl Fn(&[u8]) -> Vec<u8>,
) -> Vec<u8> {
    let mut header = FileHeader::parse(file).unwrap();
    assert_eq!(header.compression, Compression::None);
    header.compression = compression;
    header.appendix_blocks = 0;
    header.appendix_offset = 0;
    let mut out = header.to_bytes().to_vec();
    let mut at = HEADER_LEN;
    for _ in 0..header.blocks {
        let mut block = BlockHeader::parse(&file[at..]).unwrap();
        let payload = &file[at + BLOCK_HEADER_LEN..at + BLOCK_HEADER_LEN + block.size as usize];
        at += BLOCK_HEADER_LEN + block.size as usize;
        let packed = compress(payload);
        block.size = packed.len() as u32;
        out.extend(block.to_bytes());
        out.extend(packed);
    }
    out
}

#[test]
fn zstd_blocks_read_like_nfdump() {
    let plain = std::fs::read(data("flows-none.nfcapd")).unwrap();
    let file = recompress(&plain, Compression::Zstd, |p| {
        zstd::bulk::compress(p, 3).unwrap()
    });
    let mut records = Vec::new();
    let stats = nfcapd::decode_file(&file, &mut records).unwrap();
    assert_eq!(stats.records, 7);
    assert_same(
        "zstd",
        &flows(&records),
        &golden("flows-none.nfcapd"),
        Quirks::default(),
    );
}

#[test]
fn damaged_files_are_errors_not_panics() {
    for name in [
        "flows-none.nfcapd",
        "flows-lzo.nfcapd",
        "flows-lz4.nfcapd",
        "flows-bz2.nfcapd",
    ] {
        let file = std::fs::read(data(name)).unwrap();
        for cut in [0, 10, 40, 45, 60, file.len() - 200] {
            let result = nfcapd::decode_file(&file[..cut], &mut Vec::new());
            assert!(result.is_err(), "{name} cut at {cut}");
        }
        // Flip bytes inside the first block's payload: an error or different records, never
        // a panic.
        for at in (HEADER_LEN + BLOCK_HEADER_LEN..file.len().min(400)).step_by(7) {
            let mut damaged = file.clone();
            damaged[at] ^= 0x5a;
            let _ = nfcapd::decode_file(&damaged, &mut Vec::new());
        }
    }
}

#[test]
fn a_directory_reads_in_time_order() {
    let dir = tempfile::tempdir().unwrap();
    let day = dir.path().join("2014/11/18");
    std::fs::create_dir_all(&day).unwrap();
    std::fs::copy(data("flows-lz4.nfcapd"), day.join("nfcapd.201411181320")).unwrap();
    std::fs::copy(
        data("flows-lzo.nfcapd"),
        dir.path().join("nfcapd.201411181315"),
    )
    .unwrap();
    std::fs::write(dir.path().join("nfcapd.current.4242"), b"being written").unwrap();
    let files = nfcapd::list_files(dir.path()).unwrap();
    assert_eq!(files.len(), 2);
    assert!(files[0].ends_with("nfcapd.201411181315"));
    let all: Vec<_> = files
        .iter()
        .flat_map(|f| nfcapd::read_file(f).unwrap())
        .collect();
    assert_eq!(all.len(), 14);
}

#[test]
fn errors_name_the_file() {
    let err = nfcapd::read_file(&data("regen.sh")).unwrap_err();
    assert!(
        err.to_string().contains("regen.sh: not an nfcapd file"),
        "{err}"
    );
    let err = nfcapd::read_file(&data("missing.nfcapd")).unwrap_err();
    assert!(err.to_string().contains("missing.nfcapd"), "{err}");
}
