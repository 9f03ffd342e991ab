//! Writing nfcapd files (layout 2, V3 records) from [`FlowRecord`]s: the inverse of the
//! reader, for tests, benchmarks and fuzz seeds, and for files in compressions Debian's
//! nfdump 1.7.1 cannot write (ZSTD). Writes exporter records in nfdump 1.7.1's layout, and per
//! flow the generic-flow, IPv4/IPv6 and flow-misc elements. LZO is not offered (no
//! compressor here).

use std::net::IpAddr;

use super::block::{compress, BlockHeader, BLOCK_HEADER_LEN, BLOCK_TYPE_RECORDS};
use super::header::{Compression, FileHeader, HEADER_LEN};
use crate::FlowRecord;

/// Uncompressed bytes per block, as nfcapd 1.7.1 (`WRITE_BUFFSIZE`, 1 MiB).
pub const DEFAULT_BLOCK_BYTES: usize = 1 << 20;

fn exporter_record(sysid: u16, ip: IpAddr, id: u32, out: &mut Vec<u8>) {
    out.extend(7u16.to_le_bytes());
    out.extend(32u16.to_le_bytes());
    out.extend(9u32.to_le_bytes());
    match ip {
        IpAddr::V4(a) => {
            out.extend([0; 8]);
            out.extend(u32::from(a).to_le_bytes());
            out.extend([0; 4]);
            out.extend(2u16.to_le_bytes());
        }
        IpAddr::V6(a) => {
            let v = u128::from(a);
            out.extend(((v >> 64) as u64).to_le_bytes());
            out.extend((v as u64).to_le_bytes());
            out.extend(10u16.to_le_bytes());
        }
    }
    out.extend(sysid.to_le_bytes());
    out.extend(id.to_le_bytes());
}

fn v3_record(r: &FlowRecord, sysid: u16, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend(11u16.to_le_bytes());
    out.extend(0u16.to_le_bytes()); // size, set below
    out.extend(3u16.to_le_bytes());
    out.extend([0, 0]);
    out.extend(sysid.to_le_bytes());
    out.extend([0, 9]);
    // Generic flow.
    out.extend(1u16.to_le_bytes());
    out.extend(52u16.to_le_bytes());
    out.extend((r.start_ms as u64).to_le_bytes());
    out.extend((r.end_ms as u64).to_le_bytes());
    out.extend((r.end_ms as u64).to_le_bytes());
    out.extend(r.packets.to_le_bytes());
    out.extend(r.bytes.to_le_bytes());
    out.extend(r.src_port.to_le_bytes());
    out.extend(r.dst_port.to_le_bytes());
    out.extend([r.protocol, r.tcp_flags, 0, 0]);
    // Addresses.
    match (r.src, r.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            out.extend(2u16.to_le_bytes());
            out.extend(12u16.to_le_bytes());
            out.extend(u32::from(s).to_le_bytes());
            out.extend(u32::from(d).to_le_bytes());
        }
        (s, d) => {
            let six = |ip: IpAddr| match ip {
                IpAddr::V4(a) => u128::from(a.to_ipv6_mapped()),
                IpAddr::V6(a) => u128::from(a),
            };
            out.extend(3u16.to_le_bytes());
            out.extend(36u16.to_le_bytes());
            for v in [six(s), six(d)] {
                out.extend(((v >> 64) as u64).to_le_bytes());
                out.extend((v as u64).to_le_bytes());
            }
        }
    }
    // Flow misc.
    out.extend(4u16.to_le_bytes());
    out.extend(20u16.to_le_bytes());
    out.extend(r.input_if.to_le_bytes());
    out.extend(r.output_if.to_le_bytes());
    let dir = u8::from(r.flags & FlowRecord::FLAG_EGRESS != 0);
    out.extend([0, 0, dir, 0, 0, 0, 0, 0]);
    let size = (out.len() - start) as u16;
    out[start + 2..start + 4].copy_from_slice(&size.to_le_bytes());
}

/// An nfcapd file holding `records`, in blocks of about `block_bytes` uncompressed bytes.
/// Returns `None` for [`Compression::Lzo`].
pub fn encode_file(
    records: &[FlowRecord],
    compression: Compression,
    block_bytes: usize,
) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    let mut blocks = 0u32;
    let mut exporters: Vec<(Option<IpAddr>, u32)> = Vec::new();
    let mut block = Vec::new();
    let mut in_block = 0u32;
    let mut flush = |block: &mut Vec<u8>, in_block: &mut u32, body: &mut Vec<u8>| -> Option<()> {
        if *in_block == 0 {
            return Some(());
        }
        let packed = compress(compression, block)?;
        let header = BlockHeader {
            records: *in_block,
            size: packed.len() as u32,
            kind: BLOCK_TYPE_RECORDS,
            flags: 0,
        };
        body.extend(header.to_bytes());
        body.extend(packed);
        blocks += 1;
        block.clear();
        *in_block = 0;
        Some(())
    };
    for r in records {
        let key = (r.exporter, r.observation_domain);
        let sysid = match exporters.iter().position(|e| *e == key) {
            Some(i) => i as u16 + 1,
            None => {
                exporters.push(key);
                let sysid = exporters.len() as u16;
                if let Some(ip) = r.exporter {
                    exporter_record(sysid, ip, r.observation_domain, &mut block);
                    in_block += 1;
                }
                sysid
            }
        };
        v3_record(r, sysid, &mut block);
        in_block += 1;
        if block.len() >= block_bytes {
            flush(&mut block, &mut in_block, &mut body)?;
        }
    }
    flush(&mut block, &mut in_block, &mut body)?;
    let header = FileHeader {
        nfdump_version: 0x0107_0100,
        created: records.first().map_or(0, |r| r.start_ms / 1000),
        compression,
        appendix_blocks: 0,
        creator: 4,
        appendix_offset: 0,
        blocks,
    };
    let mut file = Vec::with_capacity(HEADER_LEN + BLOCK_HEADER_LEN + body.len());
    file.extend(header.to_bytes());
    file.extend(body);
    Some(file)
}
