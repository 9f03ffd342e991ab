//! Property tests: no input makes a parser panic, and records written in each format read
//! back unchanged (times checked against an independent date algorithm).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;
use crate::source::Block;
use crate::FlowRecord;

/// Inverse of `days_from_civil`, written independently (Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `YYYY-MM-DD HH:MM:SS.mmm` for epoch milliseconds (years 0000–9999).
fn nfdump_time(ms: i64) -> String {
    let (days, ms_of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (year, month, day) = civil_from_days(days);
    let seconds = ms_of_day / 1000;
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:03}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60,
        ms_of_day % 1000
    )
}

fn any_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<u32>().prop_map(|v| IpAddr::V4(Ipv4Addr::from(v))),
        any::<u128>().prop_map(|v| IpAddr::V6(Ipv6Addr::from(v))),
    ]
}

/// Epoch milliseconds from 0000-01-01 to 9999-12-31.
const MIN_MS: i64 = -62_167_219_200_000;
const MAX_MS: i64 = 253_402_300_799_999;

fn parsers() -> Vec<LineParser> {
    vec![
        LineParser::new(TextFormat::Triples, b"").unwrap(),
        LineParser::new(TextFormat::NfdumpFmt, b"").unwrap(),
        LineParser::new(TextFormat::NfdumpCsv, b"").unwrap(),
        LineParser::new(TextFormat::NfdumpCsv, b"da,sa,ts,dp,pr,flg,byt\n").unwrap(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        for parser in parsers() {
            let _ = parser.parse_line(&bytes);
            let (mut records, mut errors) = (Vec::new(), Vec::new());
            let stats = parse_block(&parser, &Block::new(1, bytes.clone()), &mut records, &mut errors);
            prop_assert_eq!(stats.lines, stats.records + stats.skipped + stats.errors);
            for error in &errors {
                prop_assert!(error.excerpt.len() <= LineError::EXCERPT_BYTES * 3);
            }
        }
        let _ = detect_format(&bytes);
        let _ = LineParser::new(TextFormat::NfdumpCsv, &bytes);
    }

    #[test]
    fn near_miss_lines_never_panic(
        template in prop_oneof![
            Just("2014-11-18 13:15:05.734 10.0.1.5 49126 83.242.167.77 8.0 697"),
            Just("1416337885644 10.1.0.116 2a09:e931:960c::7099"),
            Just("2014-11-18 13:15:04,2014-11-18 13:15:05,0.268,10.0.1.5,83.242.167.77,49126,80,TCP,...AP.SF,0,0,3,138"),
        ],
        position in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let mut line = template.as_bytes().to_vec();
        let at = position.index(line.len());
        line[at] = byte;
        for parser in parsers() {
            let _ = parser.parse_line(&line);
            let _ = parser.parse_line(&line[..at]);
        }
    }

    #[test]
    fn time_round_trips(ms in MIN_MS..=MAX_MS) {
        let text = nfdump_time(ms);
        prop_assert_eq!(time::parse_date_time_field(text.as_bytes()), Some(ms), "{}", text);
    }

    #[test]
    fn triples_round_trip(ms in 0..i64::MAX, src in any_ip(), dst in any_ip()) {
        let parser = LineParser::new(TextFormat::Triples, b"").unwrap();
        let line = format!("{ms}\t{src} {dst}");
        prop_assert_eq!(
            parser.parse_line(line.as_bytes()),
            Ok(Some(FlowRecord::from_triple(ms, src, dst)))
        );
    }

    #[test]
    fn nfdump_fmt_round_trips(
        ms in 0..MAX_MS,
        src in any_ip(),
        dst in any_ip(),
        src_port in any::<u16>(),
        dst_port in any::<u16>(),
        bytes in any::<u64>(),
    ) {
        let parser = LineParser::new(TextFormat::NfdumpFmt, b"").unwrap();
        let line = format!("{}  {src:>40} {src_port:>6} {dst:>40} {dst_port:>6} {bytes:>8}", nfdump_time(ms));
        let expected = FlowRecord {
            start_ms: ms,
            end_ms: ms,
            src,
            dst,
            src_port,
            dst_port,
            bytes,
            ..FlowRecord::default()
        };
        prop_assert_eq!(parser.parse_line(line.as_bytes()), Ok(Some(expected)));
    }

    #[test]
    fn nfdump_csv_round_trips(
        start in 0..MAX_MS / 2,
        duration in 0..86_400_000i64,
        src in any_ip(),
        dst in any_ip(),
        dst_port in any::<u16>(),
        protocol in any::<u8>(),
        tcp_flags in any::<u8>(),
        packets in any::<u64>(),
    ) {
        let parser = LineParser::new(TextFormat::NfdumpCsv, b"te,ts,sa,da,dp,pr,flg,ipkt\n").unwrap();
        let line = format!(
            "{},{},{src},{dst},{dst_port},{protocol},{tcp_flags},{packets}",
            nfdump_time(start + duration),
            nfdump_time(start)
        );
        let expected = FlowRecord {
            start_ms: start,
            end_ms: start + duration,
            src,
            dst,
            dst_port,
            protocol,
            tcp_flags,
            packets,
            ..FlowRecord::default()
        };
        prop_assert_eq!(parser.parse_line(line.as_bytes()), Ok(Some(expected)));
    }
}
