//! Turning a data record's fields into a [`FlowRecord`]: flow start and end from absolute
//! (IEs 150–157), delta (158/159) or uptime-relative (21/22) times, counters, ICMP type/code,
//! direction.
//!
//! Uptime-relative times are 32-bit millisecond counters that wrap every 49.7 days. They are
//! placed relative to the export time with serial-number arithmetic: the difference between
//! the flow's counter and the exporter's counter at export is read as a signed 32-bit number,
//! so a counter that wrapped between flow and export, or a flow shortly before an exporter's
//! reboot, still lands next to the export time. This gives the same times as nfdump's
//! `boot_time + first` whenever no counter wrapped.

use std::net::IpAddr;

use super::fields::Fields;
use crate::FlowRecord;

/// The time context of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Clock {
    /// Export time from the header, ms since the Unix epoch.
    pub export_ms: i64,
    /// v5/v9: the exporter's sysUptime at export, ms. IPFIX has none: its relative times count
    /// from systemInitTimeMilliseconds (IE 160).
    pub uptime_ms: Option<u32>,
}

impl Clock {
    /// The absolute time of an uptime-relative counter, given the exporter's init time when the
    /// header has no uptime (IPFIX).
    fn relative(&self, counter: u32, init_ms: Option<i64>) -> Option<i64> {
        let uptime_now = match self.uptime_ms {
            Some(uptime) => uptime,
            // Truncation is the point: counters are modulo 2^32.
            None => self.export_ms.wrapping_sub(init_ms?) as u32,
        };
        Some(self.export_ms + i64::from(counter.wrapping_sub(uptime_now) as i32))
    }
}

/// Where the record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Origin {
    pub exporter: Option<IpAddr>,
    pub domain: u32,
}

/// Builds the record. `init_ms` is the exporter's system init time when known. Returns the
/// record and whether relative times had to be replaced by the export time for lack of it.
pub(crate) fn to_record(
    f: &Fields,
    clock: &Clock,
    init_ms: Option<i64>,
    origin: Origin,
) -> (FlowRecord, bool) {
    let init_ms = f.system_init_ms.or(init_ms);
    let start = f
        .start_ms
        .or_else(|| delta(clock, f.start_delta_us))
        .or_else(|| f.first_uptime.and_then(|t| clock.relative(t, init_ms)));
    let end = f
        .end_ms
        .or_else(|| delta(clock, f.end_delta_us))
        .or_else(|| f.last_uptime.and_then(|t| clock.relative(t, init_ms)));
    let duration = f.duration_ms.map(|d| d.min(i64::MAX as u64) as i64);
    let mut missing_init = false;
    let (start_ms, end_ms) = match (start, end) {
        (Some(s), Some(e)) => (s, e),
        (Some(s), None) => (s, s.saturating_add(duration.unwrap_or(0))),
        (None, Some(e)) => (e.saturating_sub(duration.unwrap_or(0)), e),
        (None, None) => {
            missing_init = f.first_uptime.is_some() || f.last_uptime.is_some();
            (clock.export_ms, clock.export_ms)
        }
    };
    let unspecified = IpAddr::from([0, 0, 0, 0]);
    let mut record = FlowRecord {
        start_ms,
        end_ms,
        src: f.src.unwrap_or(unspecified),
        dst: f.dst.unwrap_or(unspecified),
        src_port: f.src_port,
        dst_port: f.dst_port,
        protocol: f.protocol,
        tcp_flags: f.tcp_flags,
        bytes: f.bytes.or(f.bytes_total).unwrap_or(0),
        packets: f.packets.or(f.packets_total).unwrap_or(0),
        exporter: origin.exporter,
        observation_domain: origin.domain,
        sampling_rate: 0,
        input_if: f.input_if,
        output_if: f.output_if,
        flags: if f.egress { FlowRecord::FLAG_EGRESS } else { 0 },
    };
    if matches!(record.protocol, 1 | 58) {
        if let Some(type_code) = f.icmp_type_code {
            record.dst_port = type_code;
            record.src_port = 0;
        } else if f.icmp_type.is_some() || f.icmp_code.is_some() {
            record.dst_port =
                u16::from(f.icmp_type.unwrap_or(0)) * 256 + u16::from(f.icmp_code.unwrap_or(0));
            record.src_port = 0;
        }
    }
    (record, missing_init)
}

fn delta(clock: &Clock, delta_us: Option<u64>) -> Option<i64> {
    let delta_ms = (delta_us? / 1000).min(i64::MAX as u64) as i64;
    Some(clock.export_ms.saturating_sub(delta_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGIN: Origin = Origin {
        exporter: None,
        domain: 0,
    };

    #[test]
    fn v9_uptime_relative_like_nfdump() {
        // Exported at 1000 s after the epoch, uptime 60 s: boot at 940 s.
        let clock = Clock {
            export_ms: 1_000_000,
            uptime_ms: Some(60_000),
        };
        let f = Fields {
            first_uptime: Some(50_000),
            last_uptime: Some(55_000),
            ..Fields::default()
        };
        let (r, missing) = to_record(&f, &clock, None, ORIGIN);
        assert_eq!((r.start_ms, r.end_ms, missing), (990_000, 995_000, false));
    }

    #[test]
    fn uptime_wrap_between_flow_and_export() {
        let clock = Clock {
            export_ms: 10_000_000_000,
            uptime_ms: Some(100),
        };
        let f = Fields {
            first_uptime: Some(u32::MAX - 49),
            last_uptime: Some(50),
            ..Fields::default()
        };
        let (r, _) = to_record(&f, &clock, None, ORIGIN);
        assert_eq!(r.start_ms, 10_000_000_000 - 150);
        assert_eq!(r.end_ms, 10_000_000_000 - 50);
    }

    #[test]
    fn ipfix_relative_needs_init_time() {
        let clock = Clock {
            export_ms: 2_000_000,
            uptime_ms: None,
        };
        let f = Fields {
            first_uptime: Some(500_000),
            last_uptime: Some(600_000),
            ..Fields::default()
        };
        let (r, missing) = to_record(&f, &clock, Some(1_000_000), ORIGIN);
        assert_eq!(
            (r.start_ms, r.end_ms, missing),
            (1_500_000, 1_600_000, false)
        );
        let (r, missing) = to_record(&f, &clock, None, ORIGIN);
        assert_eq!(
            (r.start_ms, r.end_ms, missing),
            (2_000_000, 2_000_000, true)
        );
    }

    #[test]
    fn absolute_delta_and_duration() {
        let clock = Clock {
            export_ms: 5_000,
            uptime_ms: None,
        };
        let f = Fields {
            start_ms: Some(1_000),
            duration_ms: Some(250),
            ..Fields::default()
        };
        assert_eq!(to_record(&f, &clock, None, ORIGIN).0.end_ms, 1_250);
        let f = Fields {
            start_delta_us: Some(2_000_000),
            end_delta_us: Some(1_000_000),
            ..Fields::default()
        };
        let (r, _) = to_record(&f, &clock, None, ORIGIN);
        assert_eq!((r.start_ms, r.end_ms), (3_000, 4_000));
    }

    #[test]
    fn icmp_type_and_code() {
        let clock = Clock {
            export_ms: 0,
            uptime_ms: None,
        };
        let f = Fields {
            protocol: 1,
            src_port: 9,
            icmp_type: Some(3),
            icmp_code: Some(3),
            ..Fields::default()
        };
        let (r, _) = to_record(&f, &clock, None, ORIGIN);
        assert_eq!((r.src_port, r.dst_port), (0, 771));
        let f = Fields {
            protocol: 58,
            icmp_type_code: Some(128 * 256),
            egress: true,
            ..Fields::default()
        };
        let (r, _) = to_record(&f, &clock, None, ORIGIN);
        assert_eq!((r.dst_port, r.flags), (32768, FlowRecord::FLAG_EGRESS));
    }
}
