//! Records inside an uncompressed block: exporter information (type 7) and V3 flow records
//! (type 11) with their extension elements (`nfxV3.h`); other record types (statistics,
//! samplers, interface names…) are skipped.
//!
//! V3 record: `type u16 | size u16 | elements u16 | engine type u8 | engine id u8 |
//! exporter sysid u16 | flags u8 | nfversion u8`, then elements `type u16 | length u16 (with
//! this header) | data`. Elements read (little-endian, as written):
//!
//! | id | element | bytes used |
//! |---|---|---|
//! | 1 | generic flow | first ms u64 @0, last ms u64 @8, packets u64 @24, bytes u64 @32, src port u16 @40, dst port (ICMP: type·256+code) u16 @42, protocol u8 @44, TCP flags u8 @45 |
//! | 2 | IPv4 flow | src u32 @0, dst u32 @4 |
//! | 3 | IPv6 flow | src 2×u64 @0 (high half first), dst 2×u64 @16 |
//! | 4 | flow misc | input u32 @0, output u32 @4, direction u8 @10 |
//! | 33 | observation | domain id u32 @8 |
//!
//! nfcapd has already multiplied packets and bytes by any sampling rate it knew, so
//! `sampling_rate` stays 0 for these records.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::error::FormatError;
use crate::FlowRecord;

const EXPORTER_INFO: u16 = 7;
const V3_RECORD: u16 = 11;
const V3_HEADER_LEN: usize = 12;

/// What the exporter records of a file said: internal sysid → address and domain/source id.
#[derive(Debug, Clone, Default)]
pub struct Exporters {
    by_sysid: Vec<(u16, IpAddr, u32)>,
}

impl Exporters {
    /// The exporter with internal id `sysid`.
    pub fn get(&self, sysid: u16) -> Option<(IpAddr, u32)> {
        self.by_sysid
            .iter()
            .find(|(s, _, _)| *s == sysid)
            .map(|&(_, ip, id)| (ip, id))
    }

    fn learn(&mut self, sysid: u16, ip: IpAddr, id: u32) {
        if let Some(e) = self.by_sysid.iter_mut().find(|(s, _, _)| *s == sysid) {
            *e = (sysid, ip, id);
        } else if self.by_sysid.len() < 65_536 {
            self.by_sysid.push((sysid, ip, id));
        }
    }
}

/// What a block held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlockStats {
    /// Flow records appended.
    pub records: usize,
    /// Records that are not flows (statistics, samplers, names) or V3 records without flow
    /// data (no generic-flow or address element), skipped.
    pub skipped: usize,
}

fn u16le(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32le(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64le(b: &[u8], at: usize) -> u64 {
    let mut a = [0; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// An IPv6 address stored as two host-order u64, most significant half first.
fn ipv6(b: &[u8], at: usize) -> IpAddr {
    let hi = u64le(b, at);
    let lo = u64le(b, at + 8);
    IpAddr::V6(Ipv6Addr::from((u128::from(hi) << 64) | u128::from(lo)))
}

/// Decodes the records of one uncompressed block, appending flows to `out`.
pub fn decode_records(
    payload: &[u8],
    records: u32,
    exporters: &mut Exporters,
    out: &mut Vec<FlowRecord>,
) -> Result<BlockStats, FormatError> {
    let mut stats = BlockStats::default();
    let mut at = 0;
    for _ in 0..records {
        if payload.len() - at < 4 {
            return Err(FormatError::BadRecord {
                detail: "block ends before its record count",
                offset: at,
            });
        }
        let kind = u16le(payload, at);
        let size = usize::from(u16le(payload, at + 2));
        if size < 4 {
            return Err(FormatError::BadRecord {
                detail: "record size below 4",
                offset: at,
            });
        }
        let Some(record) = payload.get(at..at + size) else {
            return Err(FormatError::BadRecord {
                detail: "record runs past its block",
                offset: at,
            });
        };
        match kind {
            V3_RECORD => match v3(record, exporters)
                .map_err(|detail| FormatError::BadRecord { detail, offset: at })?
            {
                Some(flow) => {
                    out.push(flow);
                    stats.records += 1;
                }
                None => stats.skipped += 1,
            },
            EXPORTER_INFO if size >= 32 => {
                exporter(record, exporters);
                stats.skipped += 1;
            }
            _ => stats.skipped += 1,
        }
        at += size;
    }
    Ok(stats)
}

/// An exporter record: `version u32 @4`, address @8 (16 bytes), family or fill u16 @24, sysid
/// u16 @26, id u32 @28. nfdump up to 1.7.7 stores the address as `ip_addr_t` (IPv4 as a
/// host-order u32 at @16, IPv6 as two host-order u64) with the address family (2 or 10) at
/// @24; 1.7.8 stores 16 network-order bytes (IPv4 mapped as ::ffff:a.b.c.d) and 0 there.
fn exporter(r: &[u8], exporters: &mut Exporters) {
    let family = u16le(r, 24);
    let ip = match family {
        2 => IpAddr::V4(Ipv4Addr::from(u32le(r, 16))),
        10 => ipv6(r, 8),
        _ => {
            let mut b = [0u8; 16];
            b.copy_from_slice(&r[8..24]);
            let v6 = Ipv6Addr::from(b);
            v6.to_ipv4_mapped()
                .map(IpAddr::V4)
                .unwrap_or(IpAddr::V6(v6))
        }
    };
    exporters.learn(u16le(r, 26), ip, u32le(r, 28));
}

/// A V3 record, or `None` when it carries no flow.
fn v3(r: &[u8], exporters: &Exporters) -> Result<Option<FlowRecord>, &'static str> {
    if r.len() < V3_HEADER_LEN {
        return Err("V3 record shorter than its header");
    }
    let elements = u16le(r, 4);
    let exporter = exporters.get(u16le(r, 8));
    let mut flow = FlowRecord {
        exporter: exporter.map(|(ip, _)| ip),
        observation_domain: exporter.map_or(0, |(_, id)| id),
        ..FlowRecord::default()
    };
    let (mut generic, mut addresses) = (false, false);
    let mut at = V3_HEADER_LEN;
    for _ in 0..elements {
        if r.len() - at < 4 {
            return Err("element header past the record");
        }
        let id = u16le(r, at);
        let length = usize::from(u16le(r, at + 2));
        if length < 4 {
            return Err("element length below 4");
        }
        let Some(e) = r.get(at + 4..at + length) else {
            return Err("element runs past its record");
        };
        match id {
            1 if e.len() >= 48 => {
                generic = true;
                flow.start_ms = u64le(e, 0) as i64;
                flow.end_ms = u64le(e, 8) as i64;
                flow.packets = u64le(e, 24);
                flow.bytes = u64le(e, 32);
                flow.src_port = u16le(e, 40);
                flow.dst_port = u16le(e, 42);
                flow.protocol = e[44];
                flow.tcp_flags = e[45];
            }
            2 if e.len() >= 8 => {
                addresses = true;
                flow.src = IpAddr::V4(Ipv4Addr::from(u32le(e, 0)));
                flow.dst = IpAddr::V4(Ipv4Addr::from(u32le(e, 4)));
            }
            3 if e.len() >= 32 => {
                addresses = true;
                flow.src = ipv6(e, 0);
                flow.dst = ipv6(e, 16);
            }
            4 if e.len() >= 11 => {
                flow.input_if = u32le(e, 0);
                flow.output_if = u32le(e, 4);
                if e[10] == 1 {
                    flow.flags |= FlowRecord::FLAG_EGRESS;
                }
            }
            33 if e.len() >= 12 => flow.observation_domain = u32le(e, 8),
            _ => {}
        }
        at += length;
    }
    Ok((generic && addresses).then_some(flow))
}
