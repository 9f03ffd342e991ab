//! nfdump's binary files ("nfcapd files", layout 2 as written by nfdump 1.7 and later), read
//! natively: a 40-byte [`FileHeader`], data blocks each compressed as a whole (none, LZO, BZ2,
//! LZ4 or ZSTD), records inside them (exporter information and V3 flow records with extension
//! elements). The appendix (ident, statistics) is not needed and not read.
//!
//! Layout:
//! - [`header`]: the file header and [`Compression`];
//! - [`block`]: block headers and decompression (`lz4_flex`, `bzip2`, `zstd`, and [`lzo`],
//!   our own checked LZO1X decoder);
//! - [`records`]: records → [`FlowRecord`];
//! - [`dir`]: directories of files in time order (`nfdump -R`);
//! - [`writer`]: the inverse, for tests, benchmarks and ZSTD fixtures.
//!
//! [`decode_file`] is pure (bytes in memory); [`NfcapdReader`] reads block by block from a
//! file or stream with one block in memory at a time.

pub mod block;
pub mod dir;
mod error;
pub mod header;
pub mod lzo;
pub mod records;
pub mod writer;

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

pub use block::BlockHeader;
pub use dir::list_files;
pub use error::{FormatError, NfcapdError};
pub use header::{Compression, FileHeader};
pub use records::{BlockStats, Exporters};

use crate::FlowRecord;
use block::{BLOCK_HEADER_LEN, BLOCK_TYPE_RECORDS};
use header::HEADER_LEN;

/// Whether `head` (the first bytes of an input) starts like an nfcapd file (nfdump's magic
/// in little-endian order), for format detection.
pub fn is_nfcapd(head: &[u8]) -> bool {
    head.starts_with(&[0x0c, 0xa5])
}

/// What a whole file held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileStats {
    /// Data blocks read.
    pub blocks: u32,
    /// Flow records.
    pub records: usize,
    /// Records that were not flows, skipped (see [`BlockStats::skipped`]).
    pub skipped: usize,
}

impl FileStats {
    fn add(&mut self, block: BlockStats) {
        self.blocks += 1;
        self.records += block.records;
        self.skipped += block.skipped;
    }
}

/// Decodes a whole file held in memory, appending its flows to `out`.
pub fn decode_file(bytes: &[u8], out: &mut Vec<FlowRecord>) -> Result<FileStats, FormatError> {
    let header = FileHeader::parse(bytes)?;
    let mut at = HEADER_LEN;
    let mut exporters = Exporters::default();
    let mut scratch = Vec::new();
    let mut stats = FileStats::default();
    for _ in 0..header.blocks {
        let block = BlockHeader::parse(&bytes[at..])?;
        at += BLOCK_HEADER_LEN;
        let size = block.size as usize;
        let Some(payload) = bytes.get(at..at + size) else {
            return Err(FormatError::Truncated {
                what: "data block",
                needed: size,
                available: bytes.len() - at,
            });
        };
        at += size;
        stats.add(decode_block(
            &header,
            &block,
            payload,
            &mut exporters,
            &mut scratch,
            out,
        )?);
    }
    Ok(stats)
}

/// Decompresses and decodes one block's payload.
fn decode_block(
    header: &FileHeader,
    block: &BlockHeader,
    payload: &[u8],
    exporters: &mut Exporters,
    scratch: &mut Vec<u8>,
    out: &mut Vec<FlowRecord>,
) -> Result<BlockStats, FormatError> {
    if block.kind != BLOCK_TYPE_RECORDS {
        return Ok(BlockStats {
            records: 0,
            skipped: block.records as usize,
        });
    }
    let data = block::decompress(header.compression, payload, scratch)?;
    records::decode_records(data, block.records, exporters, out)
}

/// Reads an nfcapd file block by block. See the [module docs](self).
#[derive(Debug)]
pub struct NfcapdReader<R> {
    reader: R,
    path: PathBuf,
    header: FileHeader,
    next_block: u32,
    exporters: Exporters,
    raw: Vec<u8>,
    scratch: Vec<u8>,
    stats: FileStats,
}

impl NfcapdReader<BufReader<File>> {
    /// Opens `path` and reads its header.
    pub fn open(path: &Path) -> Result<Self, NfcapdError> {
        let file = File::open(path).map_err(|source| NfcapdError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::new(BufReader::with_capacity(1 << 20, file), path)
    }
}

impl<R: Read> NfcapdReader<R> {
    /// Reads the header from `reader`; `path` names the input in errors.
    pub fn new(mut reader: R, path: &Path) -> Result<Self, NfcapdError> {
        let mut head = [0u8; HEADER_LEN];
        let n = read_full(&mut reader, &mut head).map_err(|source| NfcapdError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let header = FileHeader::parse(&head[..n]).map_err(|source| NfcapdError::Format {
            path: path.to_path_buf(),
            block: None,
            source,
        })?;
        Ok(Self {
            reader,
            path: path.to_path_buf(),
            header,
            next_block: 0,
            exporters: Exporters::default(),
            raw: Vec::new(),
            scratch: Vec::new(),
            stats: FileStats::default(),
        })
    }

    /// The file header.
    pub fn header(&self) -> &FileHeader {
        &self.header
    }

    /// The input's name.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What was read so far.
    pub fn stats(&self) -> FileStats {
        self.stats
    }

    /// Reads the next data block, appending its flows to `out`; `Ok(None)` after the last.
    pub fn read_block(
        &mut self,
        out: &mut Vec<FlowRecord>,
    ) -> Result<Option<BlockStats>, NfcapdError> {
        if self.next_block >= self.header.blocks {
            return Ok(None);
        }
        let index = self.next_block;
        let format = |source| NfcapdError::Format {
            path: self.path.clone(),
            block: Some(index),
            source,
        };
        let io = |source| NfcapdError::Io {
            path: self.path.clone(),
            source,
        };
        let mut head = [0u8; BLOCK_HEADER_LEN];
        let n = read_full(&mut self.reader, &mut head).map_err(io)?;
        let block = BlockHeader::parse(&head[..n]).map_err(format)?;
        let size = block.size as usize;
        // Grows with the data actually there: a damaged size does not allocate 5 MiB.
        self.raw.clear();
        let n = (&mut self.reader)
            .take(size as u64)
            .read_to_end(&mut self.raw)
            .map_err(io)?;
        if n < size {
            return Err(format(FormatError::Truncated {
                what: "data block",
                needed: size,
                available: n,
            }));
        }
        self.next_block += 1;
        let stats = decode_block(
            &self.header,
            &block,
            &self.raw,
            &mut self.exporters,
            &mut self.scratch,
            out,
        )
        .map_err(format)?;
        self.stats.add(stats);
        Ok(Some(stats))
    }
}

/// Reads as much of `buf` as the input has; returns how much.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Reads every flow of an nfcapd file.
pub fn read_file(path: &Path) -> Result<Vec<FlowRecord>, NfcapdError> {
    let mut reader = NfcapdReader::open(path)?;
    let mut out = Vec::new();
    while reader.read_block(&mut out)?.is_some() {}
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flows() -> Vec<FlowRecord> {
        (0..2000u32)
            .map(|i| FlowRecord {
                start_ms: 1_700_000_000_000 + i64::from(i),
                end_ms: 1_700_000_000_500 + i64::from(i),
                src: std::net::IpAddr::from((0x0a00_0000 + i).to_be_bytes()),
                dst: if i % 3 == 0 {
                    "2001:db8::1".parse().unwrap()
                } else {
                    [192, 0, 2, 1].into()
                },
                src_port: i as u16,
                dst_port: 443,
                protocol: 6,
                tcp_flags: 0x12,
                bytes: u64::from(i) * 10,
                packets: u64::from(i),
                exporter: Some([127, 0, 0, (i % 2) as u8 + 1].into()),
                observation_domain: i % 2,
                input_if: 3,
                output_if: 4,
                flags: if i % 5 == 0 {
                    FlowRecord::FLAG_EGRESS
                } else {
                    0
                },
                ..FlowRecord::default()
            })
            .map(|mut r| {
                if r.dst.is_ipv6() {
                    r.src = "fd00::5".parse().unwrap();
                }
                r
            })
            .collect()
    }

    #[test]
    fn written_files_read_back_in_every_compression() {
        let flows = flows();
        for c in [
            Compression::None,
            Compression::Lz4,
            Compression::Zstd,
            Compression::Bz2,
        ] {
            let file = writer::encode_file(&flows, c, 16 << 10).unwrap();
            let mut out = Vec::new();
            let stats = decode_file(&file, &mut out).unwrap();
            assert!(stats.blocks > 1, "{c}");
            assert_eq!(out, flows, "{c}");
            let mut reader = NfcapdReader::new(&file[..], Path::new("mem")).unwrap();
            let mut streamed = Vec::new();
            while reader.read_block(&mut streamed).unwrap().is_some() {}
            assert_eq!(streamed, flows, "{c}");
        }
    }

    #[test]
    fn truncation_is_an_error_naming_file_and_block() {
        let file = writer::encode_file(&flows(), Compression::Lz4, 16 << 10).unwrap();
        let cut = &file[..file.len() - 100];
        assert_eq!(
            decode_file(cut, &mut Vec::new()).unwrap_err().reason(),
            "truncated"
        );
        let mut reader = NfcapdReader::new(cut, Path::new("x.nfcapd")).unwrap();
        let mut out = Vec::new();
        let err = loop {
            match reader.read_block(&mut out) {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("no error"),
                Err(e) => break e,
            }
        };
        assert!(err.to_string().starts_with("x.nfcapd: block "), "{err}");
        assert!(!out.is_empty());
    }
}
