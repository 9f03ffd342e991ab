//! Data blocks: a 12-byte header (`dataBlock_t`: records u32, size u32, type u16, flags u16)
//! and a payload compressed as the file header says, one stream per block.

use std::io::Read as _;

use super::error::FormatError;
use super::header::Compression;
use super::lzo;

/// Length of a block header.
pub const BLOCK_HEADER_LEN: usize = 12;

/// The largest block payload nfdump writes or reads (its `BUFFSIZE`, 5 MiB); larger sizes
/// mean a damaged file.
pub const MAX_BLOCK_BYTES: usize = 5 << 20;

/// Block type of individual records, the only one flow data uses.
pub const BLOCK_TYPE_RECORDS: u16 = 3;

/// A block header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockHeader {
    /// Records in the block.
    pub records: u32,
    /// Bytes of (compressed) payload after the header.
    pub size: u32,
    /// Block type (3: individual records).
    pub kind: u16,
    /// Block flags.
    pub flags: u16,
}

impl BlockHeader {
    /// Parses and checks a block header the way nfdump does (empty or oversized blocks are
    /// damage).
    pub fn parse(bytes: &[u8]) -> Result<Self, FormatError> {
        let Some(h) = bytes.get(..BLOCK_HEADER_LEN) else {
            return Err(FormatError::Truncated {
                what: "block header",
                needed: BLOCK_HEADER_LEN,
                available: bytes.len(),
            });
        };
        let u32le = |at: usize| u32::from_le_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]);
        let header = Self {
            records: u32le(0),
            size: u32le(4),
            kind: u16::from_le_bytes([h[8], h[9]]),
            flags: u16::from_le_bytes([h[10], h[11]]),
        };
        let size = header.size as usize;
        if size == 0 || header.records == 0 {
            return Err(FormatError::BadBlock {
                detail: "empty block",
                size,
            });
        }
        if size > MAX_BLOCK_BYTES {
            return Err(FormatError::BadBlock {
                detail: "block larger than 5 MiB",
                size,
            });
        }
        Ok(header)
    }

    /// The header as nfdump writes it.
    pub fn to_bytes(&self) -> [u8; BLOCK_HEADER_LEN] {
        let mut h = [0; BLOCK_HEADER_LEN];
        h[0..4].copy_from_slice(&self.records.to_le_bytes());
        h[4..8].copy_from_slice(&self.size.to_le_bytes());
        h[8..10].copy_from_slice(&self.kind.to_le_bytes());
        h[10..12].copy_from_slice(&self.flags.to_le_bytes());
        h
    }
}

/// The uncompressed payload of a block: `payload` itself when uncompressed, otherwise
/// decompressed into `scratch` (reused between blocks).
pub fn decompress<'a>(
    compression: Compression,
    payload: &'a [u8],
    scratch: &'a mut Vec<u8>,
) -> Result<&'a [u8], FormatError> {
    let failed = |detail: String| FormatError::Decompress {
        compression,
        detail,
    };
    match compression {
        Compression::None => Ok(payload),
        Compression::Lzo => {
            lzo::decompress(payload, scratch, MAX_BLOCK_BYTES)
                .map_err(|e| failed(e.to_string()))?;
            Ok(scratch)
        }
        Compression::Lz4 => {
            // `decompress_into` writes into an initialised slice; LZ4 expands at most 255:1,
            // so small payloads need no 5 MiB buffer. Kept between blocks.
            let bound = payload.len().saturating_mul(255).saturating_add(16);
            let bound = bound.min(MAX_BLOCK_BYTES);
            if scratch.len() < bound {
                scratch.resize(bound, 0);
            }
            let n = lz4_flex::block::decompress_into(payload, scratch)
                .map_err(|e| failed(e.to_string()))?;
            Ok(&scratch[..n])
        }
        Compression::Zstd => {
            scratch.clear();
            scratch.reserve(MAX_BLOCK_BYTES);
            zstd::bulk::Decompressor::new()
                .and_then(|mut d| d.decompress_to_buffer(payload, scratch))
                .map_err(|e| failed(e.to_string()))?;
            Ok(scratch)
        }
        Compression::Bz2 => {
            scratch.clear();
            bzip2::read::BzDecoder::new(payload)
                .take(MAX_BLOCK_BYTES as u64 + 1)
                .read_to_end(scratch)
                .map_err(|e| failed(e.to_string()))?;
            if scratch.len() > MAX_BLOCK_BYTES {
                return Err(failed("more than 5 MiB".into()));
            }
            Ok(scratch)
        }
    }
}

/// Compresses a block payload (for [`super::writer`]); LZO is not offered.
pub fn compress(compression: Compression, payload: &[u8]) -> Option<Vec<u8>> {
    match compression {
        Compression::None => Some(payload.to_vec()),
        Compression::Lz4 => Some(lz4_flex::block::compress(payload)),
        Compression::Zstd => zstd::bulk::compress(payload, 3).ok(),
        Compression::Bz2 => {
            let mut out = Vec::new();
            bzip2::read::BzEncoder::new(payload, bzip2::Compression::best())
                .read_to_end(&mut out)
                .ok()?;
            Some(out)
        }
        Compression::Lzo => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_compression_round_trips_and_garbage_fails() {
        let payload: Vec<u8> = (0..50_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let mut scratch = Vec::new();
        for c in [
            Compression::None,
            Compression::Lz4,
            Compression::Zstd,
            Compression::Bz2,
        ] {
            let packed = compress(c, &payload).unwrap();
            assert_eq!(
                decompress(c, &packed, &mut scratch).unwrap(),
                payload,
                "{c}"
            );
            if c != Compression::None {
                let err = decompress(c, &[1, 2, 3, 4, 5], &mut scratch).unwrap_err();
                assert_eq!(err.reason(), "decompress", "{c}");
            }
        }
        let err = decompress(Compression::Lzo, &[1, 2, 3], &mut scratch).unwrap_err();
        assert_eq!(err.reason(), "decompress");
    }

    #[test]
    fn block_headers() {
        let h = BlockHeader {
            records: 3,
            size: 100,
            kind: 3,
            flags: 0,
        };
        assert_eq!(BlockHeader::parse(&h.to_bytes()), Ok(h));
        let empty = BlockHeader { size: 0, ..h };
        assert_eq!(
            BlockHeader::parse(&empty.to_bytes()).unwrap_err().reason(),
            "bad_block"
        );
        let huge = BlockHeader { size: 6 << 20, ..h };
        assert_eq!(
            BlockHeader::parse(&huge.to_bytes()).unwrap_err().reason(),
            "bad_block"
        );
        assert_eq!(
            BlockHeader::parse(&[0; 5]).unwrap_err().reason(),
            "truncated"
        );
    }
}
