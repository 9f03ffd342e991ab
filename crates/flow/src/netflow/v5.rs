//! NetFlow v5: a fixed 24-byte header and up to 30 fixed 48-byte IPv4 records. No templates,
//! so no state: [`decode_v5`] is a plain function.

use std::net::IpAddr;

use super::be::{u16_at, u32_at};
use super::error::DecodeError;
use super::fields::Fields;
use super::sampling::SamplingMode;
use super::time::{to_record, Clock, Origin};
use crate::FlowRecord;

/// Header length.
pub const HEADER_LEN: usize = 24;
/// Record length.
pub const RECORD_LEN: usize = 48;

/// Decodes a v5 datagram, appending its records to `out`; returns how many. Times are
/// placed with the header's sysUptime and export time. `exporter` becomes
/// [`FlowRecord::exporter`]; the observation domain is `engine_type << 8 | engine_id`; a
/// sampling interval in the header is applied as `sampling` says.
///
/// Errors: not version 5, a header shorter than 24 bytes, fewer bytes than `count` records
/// need. Bytes after the last record are ignored.
pub fn decode_v5(
    datagram: &[u8],
    exporter: Option<IpAddr>,
    sampling: SamplingMode,
    out: &mut Vec<FlowRecord>,
) -> Result<usize, DecodeError> {
    let short = || DecodeError::truncated("v5 header", HEADER_LEN, datagram.len());
    let version = u16_at(datagram, 0).ok_or_else(short)?;
    if version != 5 {
        return Err(DecodeError::BadVersion { version });
    }
    let header = datagram.get(..HEADER_LEN).ok_or_else(short)?;
    let count = usize::from(u16_at(header, 2).ok_or_else(short)?);
    let uptime = u32_at(header, 4).ok_or_else(short)?;
    let secs = u32_at(header, 8).ok_or_else(short)?;
    let nsecs = u32_at(header, 12).ok_or_else(short)?;
    let domain = u32::from(header[20]) << 8 | u32::from(header[21]);
    let interval = u16_at(header, 22).ok_or_else(short)? & 0x3fff;
    let needed = HEADER_LEN + count * RECORD_LEN;
    if datagram.len() < needed {
        return Err(DecodeError::truncated("v5 records", needed, datagram.len()));
    }
    let clock = Clock {
        export_ms: i64::from(secs) * 1000 + i64::from(nsecs / 1_000_000),
        uptime_ms: Some(uptime),
    };
    let origin = Origin { exporter, domain };
    let rate = (interval > 1).then_some(u32::from(interval));
    out.reserve(count);
    for r in datagram[HEADER_LEN..needed].chunks_exact(RECORD_LEN) {
        let word = |at| u32_at(r, at).unwrap_or(0);
        let half = |at| u16_at(r, at).unwrap_or(0);
        let fields = Fields {
            src: Some(IpAddr::from(word(0).to_be_bytes())),
            dst: Some(IpAddr::from(word(4).to_be_bytes())),
            input_if: u32::from(half(12)),
            output_if: u32::from(half(14)),
            packets: Some(u64::from(word(16))),
            bytes: Some(u64::from(word(20))),
            first_uptime: Some(word(24)),
            last_uptime: Some(word(28)),
            src_port: half(32),
            dst_port: half(34),
            tcp_flags: r[37],
            protocol: r[38],
            ..Fields::default()
        };
        let (mut record, _) = to_record(&fields, &clock, None, origin);
        sampling.apply(rate, &mut record);
        out.push(record);
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netflow::build::V5Builder;

    #[test]
    fn decodes_what_the_builder_wrote() {
        let flow = FlowRecord {
            start_ms: 1_416_316_505_734,
            end_ms: 1_416_316_506_002,
            src: [10, 0, 1, 5].into(),
            dst: [83, 242, 167, 77].into(),
            src_port: 49126,
            dst_port: 80,
            protocol: 6,
            tcp_flags: 0x1b,
            bytes: 138,
            packets: 3,
            input_if: 1,
            output_if: 2,
            ..FlowRecord::default()
        };
        let datagram = V5Builder::new(1_416_316_510_000, 100_000)
            .sampling_interval(10)
            .record(&flow)
            .build();
        let mut out = Vec::new();
        let exporter = Some(IpAddr::from([192, 0, 2, 9]));
        assert_eq!(
            decode_v5(&datagram, exporter, SamplingMode::Record, &mut out),
            Ok(1)
        );
        let expected = FlowRecord {
            exporter,
            sampling_rate: 10,
            ..flow
        };
        assert_eq!(out, [expected]);
    }

    #[test]
    fn refuses_short_and_foreign_input() {
        let mut out = Vec::new();
        let none = SamplingMode::Record;
        let err = decode_v5(&[0, 5, 0], None, none, &mut out).unwrap_err();
        assert_eq!(err.reason(), "truncated");
        let err = decode_v5(&[0, 9, 0, 0], None, none, &mut out).unwrap_err();
        assert_eq!(err.reason(), "bad_version");
        let mut datagram = V5Builder::new(0, 0).record(&FlowRecord::default()).build();
        datagram.truncate(HEADER_LEN + 20);
        let err = decode_v5(&datagram, None, none, &mut out).unwrap_err();
        assert_eq!(err.reason(), "truncated");
        assert!(out.is_empty());
    }
}
