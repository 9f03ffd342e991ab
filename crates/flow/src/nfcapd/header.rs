//! The 40-byte file header of nfdump's layout 2 (`fileHeaderV2_t` in nfdump's `nffileV2.h`),
//! in the writer's (little-endian) byte order:
//!
//! ```text
//! 0 magic u16 = 0xA50C | 2 layout u16 = 2 | 4 nfdump version u32 | 8 created time_t (i64)
//! 16 compression u8 | 17 encryption u8 | 18 appendix blocks u16 | 20 creator u32
//! 24 appendix offset off_t (i64) | 32 block size u32 | 36 data blocks u32
//! ```

use std::fmt;

use super::error::FormatError;

/// Length of the file header.
pub const HEADER_LEN: usize = 40;
const MAGIC: u16 = 0xA50C;

/// How the data blocks of a file are compressed (the whole block payload, one stream each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// 0: not compressed.
    None,
    /// 1: LZO1X (`nfcapd -z`).
    Lzo,
    /// 2: bzip2 (`nfcapd -j`).
    Bz2,
    /// 3: LZ4 block format (`nfcapd -y`).
    Lz4,
    /// 4: Zstandard frame (nfdump 1.7.2+ built with zstd, `-z=zstd`).
    Zstd,
}

impl Compression {
    /// The id in the file header.
    pub fn id(self) -> u8 {
        match self {
            Compression::None => 0,
            Compression::Lzo => 1,
            Compression::Bz2 => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// The compression with header id `id`.
    pub fn from_id(id: u8) -> Result<Self, FormatError> {
        Ok(match id {
            0 => Compression::None,
            1 => Compression::Lzo,
            2 => Compression::Bz2,
            3 => Compression::Lz4,
            4 => Compression::Zstd,
            id => return Err(FormatError::UnknownCompression { id }),
        })
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compression::None => "uncompressed",
            Compression::Lzo => "LZO",
            Compression::Bz2 => "BZ2",
            Compression::Lz4 => "LZ4",
            Compression::Zstd => "ZSTD",
        })
    }
}

/// The file header's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileHeader {
    /// nfdump version that wrote the file, e.g. `0x01070100` for 1.7.1.
    pub nfdump_version: u32,
    /// Creation time, seconds since the Unix epoch.
    pub created: i64,
    /// Block compression.
    pub compression: Compression,
    /// Blocks in the appendix (ident and statistics), after the data blocks.
    pub appendix_blocks: u16,
    /// The program that wrote the file (1 nfcapd, 4 nfdump…).
    pub creator: u32,
    /// Offset of the appendix.
    pub appendix_offset: i64,
    /// Number of data blocks (the appendix not included).
    pub blocks: u32,
}

fn u16le(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32le(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn i64le(b: &[u8], at: usize) -> i64 {
    let mut a = [0; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_le_bytes(a)
}

impl FileHeader {
    /// Parses and checks the header at the start of `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<Self, FormatError> {
        if bytes.len() < 2 {
            return Err(FormatError::Truncated {
                what: "file header",
                needed: HEADER_LEN,
                available: bytes.len(),
            });
        }
        let magic = u16le(bytes, 0);
        if magic == MAGIC.swap_bytes() {
            return Err(FormatError::BigEndian);
        }
        if magic != MAGIC {
            return Err(FormatError::BadMagic { found: magic });
        }
        let Some(h) = bytes.get(..HEADER_LEN) else {
            return Err(FormatError::Truncated {
                what: "file header",
                needed: HEADER_LEN,
                available: bytes.len(),
            });
        };
        let layout = u16le(h, 2);
        if layout != 2 {
            return Err(FormatError::UnsupportedLayout { version: layout });
        }
        if h[17] != 0 {
            return Err(FormatError::Encrypted);
        }
        Ok(Self {
            nfdump_version: u32le(h, 4),
            created: i64le(h, 8),
            compression: Compression::from_id(h[16])?,
            appendix_blocks: u16le(h, 18),
            creator: u32le(h, 20),
            appendix_offset: i64le(h, 24),
            blocks: u32le(h, 36),
        })
    }

    /// The header as nfdump writes it.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut h = [0; HEADER_LEN];
        h[0..2].copy_from_slice(&MAGIC.to_le_bytes());
        h[2..4].copy_from_slice(&2u16.to_le_bytes());
        h[4..8].copy_from_slice(&self.nfdump_version.to_le_bytes());
        h[8..16].copy_from_slice(&self.created.to_le_bytes());
        h[16] = self.compression.id();
        h[18..20].copy_from_slice(&self.appendix_blocks.to_le_bytes());
        h[20..24].copy_from_slice(&self.creator.to_le_bytes());
        h[24..32].copy_from_slice(&self.appendix_offset.to_le_bytes());
        h[36..40].copy_from_slice(&self.blocks.to_le_bytes());
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let header = FileHeader {
            nfdump_version: 0x0107_0100,
            created: 1_700_000_000,
            compression: Compression::Lz4,
            appendix_blocks: 1,
            creator: 1,
            appendix_offset: 4096,
            blocks: 3,
        };
        let bytes = header.to_bytes();
        assert_eq!(FileHeader::parse(&bytes), Ok(header));
        assert_eq!(
            FileHeader::parse(&bytes[..10]).unwrap_err().reason(),
            "truncated"
        );
        assert_eq!(
            FileHeader::parse(b"\x0c\xa5\x01\x00").unwrap_err().reason(),
            "truncated"
        );
        let mut v1 = bytes;
        v1[2] = 1;
        assert_eq!(
            FileHeader::parse(&v1).unwrap_err().reason(),
            "unsupported_layout"
        );
        let mut big = bytes;
        big.swap(0, 1);
        assert_eq!(FileHeader::parse(&big), Err(FormatError::BigEndian));
        let mut odd = bytes;
        odd[16] = 9;
        assert_eq!(
            FileHeader::parse(&odd).unwrap_err().reason(),
            "unknown_compression"
        );
        assert_eq!(
            FileHeader::parse(b"hello world").unwrap_err().reason(),
            "bad_magic"
        );
    }
}
