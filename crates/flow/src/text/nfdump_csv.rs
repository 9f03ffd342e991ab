//! Output of `nfdump -o csv` (nfdump 1.6/1.7): a header of column names, data lines, and a
//! summary at the end:
//!
//! ```text
//! ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,in,out,…,ra,eng,exid,tr
//! 2014-11-18 13:15:04,2014-11-18 13:15:05,0.268,10.0.1.5,83.242.167.77,49126,80,TCP,...AP.SF,…
//! Summary
//! flows,bytes,packets,avg_bps,avg_pps,avg_bpp
//! 7,550,11,605,1,50
//! ```
//!
//! Columns are found by name in the header, so versions with other column sets or orders work
//! as long as they have `ts`, `sa` and `da`. With `-q` nfdump prints neither header nor
//! summary; input whose first line is data is read with nfdump 1.7's column set
//! ([`DEFAULT_HEADER`]). nfdump 1.7.1 prints `ts`/`te` to the second only: use the
//! `nfdump-fmt` format when millisecond start times matter.

use super::fields::{
    parse_ip, parse_port, parse_protocol, parse_tcp_flags, parse_u32, parse_u64, parse_u8,
};
use super::time::{parse_date_time_field, parse_duration_ms};
use super::LineErrorKind;
use crate::FlowRecord;

/// The header nfdump 1.7 prints for `-o csv` (pinned by `tests/data/nfdump/flows.csv`).
pub const DEFAULT_HEADER: &str = "ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,\
in,out,sas,das,smk,dmk,dtos,dir,nh,nhb,svln,dvln,ismc,odmc,idmc,osmc,mpls1,mpls2,mpls3,mpls4,\
mpls5,mpls6,mpls7,mpls8,mpls9,mpls10,cl,sl,al,ra,eng,exid,tr";

/// What [`LineErrorKind::BadTime`] says this format expects.
const TIME_SHAPE: &str = "YYYY-MM-DD HH:MM:SS[.mmm]";

/// Columns the reader uses; every other column is ignored. `Direction` must stay last
/// (see [`Role::COUNT`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Start,
    End,
    Duration,
    Src,
    Dst,
    SrcPort,
    DstPort,
    Protocol,
    TcpFlags,
    Packets,
    Bytes,
    InputIf,
    OutputIf,
    Exporter,
    Direction,
}

impl Role {
    /// Number of roles: the size of the per-line field table.
    const COUNT: usize = Role::Direction as usize + 1;

    /// The role of a header name (nfdump's format tags), if the reader uses that column.
    fn of_column(name: &[u8]) -> Option<Self> {
        const NAMES: &[(&[u8], Role)] = &[
            (b"ts", Role::Start),
            (b"te", Role::End),
            (b"td", Role::Duration),
            (b"sa", Role::Src),
            (b"da", Role::Dst),
            (b"sp", Role::SrcPort),
            (b"dp", Role::DstPort),
            (b"pr", Role::Protocol),
            (b"flg", Role::TcpFlags),
            (b"ipkt", Role::Packets),
            (b"pkt", Role::Packets),
            (b"ibyt", Role::Bytes),
            (b"byt", Role::Bytes),
            (b"in", Role::InputIf),
            (b"out", Role::OutputIf),
            (b"ra", Role::Exporter),
            (b"dir", Role::Direction),
        ];
        NAMES
            .iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(name))
            .map(|&(_, role)| role)
    }

    /// The column name used in error messages.
    fn column(self) -> &'static str {
        match self {
            Role::Start => "ts",
            Role::End => "te",
            Role::Duration => "td",
            Role::Src => "sa",
            Role::Dst => "da",
            Role::SrcPort => "sp",
            Role::DstPort => "dp",
            Role::Protocol => "pr",
            Role::TcpFlags => "flg",
            Role::Packets => "ipkt",
            Role::Bytes => "ibyt",
            Role::InputIf => "in",
            Role::OutputIf => "out",
            Role::Exporter => "ra",
            Role::Direction => "dir",
        }
    }
}

/// The column map of one CSV input, built from its header. Immutable, so blocks of the same
/// input can be parsed on several threads at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CsvLayout {
    /// The role of each column, `None` for columns the reader ignores.
    roles: Box<[Option<Role>]>,
    /// The header line as given (trimmed), to recognise it when it appears in the data.
    header: Box<[u8]>,
}

impl CsvLayout {
    /// Builds the layout from a header line such as [`DEFAULT_HEADER`]; fails when a column
    /// the reader needs (`ts`, `sa`, `da`) is missing.
    pub(crate) fn from_header(header: &[u8]) -> Result<Self, LineErrorKind> {
        let layout = Self::map_columns(header);
        for required in [Role::Start, Role::Src, Role::Dst] {
            if !layout.roles.contains(&Some(required)) {
                return Err(LineErrorKind::MissingColumn(required.column()));
            }
        }
        Ok(layout)
    }

    /// The layout of nfdump 1.7's `-o csv` output, for input without a header (`-q`).
    pub(crate) fn nfdump_default() -> Self {
        Self::map_columns(DEFAULT_HEADER.as_bytes())
    }

    fn map_columns(header: &[u8]) -> Self {
        let header = header.trim_ascii();
        let mut seen = [false; Role::COUNT];
        let roles = header
            .split(|&b| b == b',')
            .map(|name| {
                let role = Role::of_column(name.trim_ascii())?;
                // The first column of a role wins (`ipkt` before `pkt`, as nfdump orders them).
                let first = !std::mem::replace(&mut seen[role as usize], true);
                first.then_some(role)
            })
            .collect();
        Self {
            roles,
            header: header.into(),
        }
    }

    /// Parses one non-blank, non-comment line: `Ok(None)` for the header and summary lines.
    pub(crate) fn parse_line(&self, line: &[u8]) -> Result<Option<FlowRecord>, LineErrorKind> {
        if line.first().is_some_and(u8::is_ascii_alphabetic) && self.is_header_or_summary(line) {
            return Ok(None);
        }
        match self.parse_record(line) {
            Ok(record) => Ok(Some(record)),
            Err(_) if is_summary_totals(line) => Ok(None),
            Err(kind) => Err(kind),
        }
    }

    /// `true` when `line` is the header this layout was built from.
    pub(crate) fn is_header(&self, line: &[u8]) -> bool {
        line.trim_ascii().eq_ignore_ascii_case(&self.header)
    }

    /// `true` for our own header (repeated when outputs are concatenated), `Summary`, the
    /// summary's own header and nfdump's "No matching flows".
    fn is_header_or_summary(&self, line: &[u8]) -> bool {
        let line = line.trim_ascii();
        self.is_header(line)
            || line.starts_with(b"Summary")
            || line.starts_with(b"flows,")
            || line.starts_with(b"No matching flows")
    }

    fn parse_record(&self, line: &[u8]) -> Result<FlowRecord, LineErrorKind> {
        // Pass 1: cut the line at commas and keep the columns we use.
        let mut fields: [Option<&[u8]>; Role::COUNT] = [None; Role::COUNT];
        let mut columns = 0;
        let mut rest = Some(line);
        while let Some(remaining) = rest {
            let (field, tail) = match memchr::memchr(b',', remaining) {
                Some(comma) => (&remaining[..comma], Some(&remaining[comma + 1..])),
                None => (remaining, None),
            };
            if let Some(Some(role)) = self.roles.get(columns) {
                fields[*role as usize] = Some(field.trim_ascii());
            }
            columns += 1;
            rest = tail;
        }
        if columns != self.roles.len() {
            return Err(LineErrorKind::ColumnCount {
                expected: self.roles.len(),
                found: columns,
            });
        }

        // Pass 2: parse them. Every role present in the header has a field by now.
        let get = |role: Role| fields[role as usize];
        let number = |role: Role| LineErrorKind::BadNumber {
            field: role.column(),
        };
        let bad_time = LineErrorKind::BadTime {
            expected: TIME_SHAPE,
        };

        let start = get(Role::Start).ok_or(LineErrorKind::MissingField("ts"))?;
        let start_ms = parse_date_time_field(start).ok_or(bad_time)?;
        let end_ms = match (get(Role::End), get(Role::Duration)) {
            (Some(end), _) => parse_date_time_field(end).ok_or(bad_time)?,
            (None, Some(duration)) => parse_duration_ms(duration)
                .and_then(|ms| start_ms.checked_add(ms))
                .ok_or(number(Role::Duration))?,
            (None, None) => start_ms,
        };
        let src = get(Role::Src).ok_or(LineErrorKind::MissingField("sa"))?;
        let src = parse_ip(src).ok_or(LineErrorKind::BadSourceAddress)?;
        let dst = get(Role::Dst).ok_or(LineErrorKind::MissingField("da"))?;
        let dst = parse_ip(dst).ok_or(LineErrorKind::BadDestinationAddress)?;

        let src_port = optional(get(Role::SrcPort), parse_port, port_error("source port"))?;
        let dst_port = optional(
            get(Role::DstPort),
            parse_port,
            port_error("destination port"),
        )?;
        let protocol = optional(get(Role::Protocol), parse_protocol, number(Role::Protocol))?;
        let tcp_flags = optional(get(Role::TcpFlags), parse_tcp_flags, number(Role::TcpFlags))?;
        let packets = optional(get(Role::Packets), parse_u64, number(Role::Packets))?;
        let bytes = optional(get(Role::Bytes), parse_u64, number(Role::Bytes))?;
        let input_if = optional(get(Role::InputIf), parse_u32, number(Role::InputIf))?;
        let output_if = optional(get(Role::OutputIf), parse_u32, number(Role::OutputIf))?;
        let exporter = match get(Role::Exporter) {
            None => None,
            Some(field) => {
                let address = parse_ip(field).ok_or(LineErrorKind::BadExporterAddress)?;
                (!address.is_unspecified()).then_some(address)
            }
        };
        let egress = match get(Role::Direction) {
            None => false,
            Some(field) => parse_direction(field).ok_or(number(Role::Direction))?,
        };

        Ok(FlowRecord {
            start_ms,
            end_ms,
            src,
            dst,
            src_port,
            dst_port,
            protocol,
            tcp_flags,
            bytes,
            packets,
            exporter,
            input_if,
            output_if,
            flags: if egress { FlowRecord::FLAG_EGRESS } else { 0 },
            ..FlowRecord::default()
        })
    }
}

/// nfdump's `dir` column: `0` ingress, `1` egress (NetFlow v9 `DIRECTION`); `true` for egress.
fn parse_direction(field: &[u8]) -> Option<bool> {
    match field.first()? {
        b'0'..=b'9' => parse_u8(field).map(|direction| direction == 1),
        b'E' | b'e' => Some(true),
        b'I' | b'i' => Some(false),
        _ => None,
    }
}

/// A column the header may lack: zero when absent, `error` when present but unparsable.
fn optional<T: Default>(
    field: Option<&[u8]>,
    parse: fn(&[u8]) -> Option<T>,
    error: LineErrorKind,
) -> Result<T, LineErrorKind> {
    field.map_or(Ok(T::default()), |field| parse(field).ok_or(error))
}

fn port_error(field: &'static str) -> LineErrorKind {
    LineErrorKind::BadPort { field }
}

/// The totals line after `Summary` (e.g. `7,550,11,605,1,50`): six plain numbers. A data line
/// can never look like this, because its `ts` column holds a date with `-`, `:` and a space.
fn is_summary_totals(line: &[u8]) -> bool {
    let line = line.trim_ascii();
    !line.is_empty()
        && line
            .iter()
            .all(|&b| b.is_ascii_digit() || b == b'.' || b == b',')
        && memchr::memchr_iter(b',', line).count() == 5
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    const TCP_LINE: &str = "2014-11-18 13:15:04,2014-11-18 13:15:05,0.268,10.0.1.5,83.242.167.77,\
49126,80,TCP,...AP.SF,0,0,3,138,0,0,0,0,0,0,0,0,0,0,0.0.0.0,0.0.0.0,0,0,00:00:00:00:00:00,\
00:00:00:00:00:00,00:00:00:00:00:00,00:00:00:00:00:00,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,\
0-0-0,0-0-0,0-0-0,    0.000,    0.000,    0.000,127.0.0.1,0/0,1,2026-11-27 04:55:26.482";

    #[test]
    fn default_header_has_the_required_columns() {
        let layout = CsvLayout::nfdump_default();
        assert_eq!(layout.roles.len(), 48);
    }

    #[test]
    fn parses_an_nfdump_1_7_line() {
        let record = CsvLayout::nfdump_default()
            .parse_line(TCP_LINE.as_bytes())
            .unwrap()
            .unwrap();
        assert_eq!(
            record,
            FlowRecord {
                start_ms: 1_416_316_504_000,
                end_ms: 1_416_316_505_000,
                src: ip("10.0.1.5"),
                dst: ip("83.242.167.77"),
                src_port: 49126,
                dst_port: 80,
                protocol: 6,
                tcp_flags: 0x1b,
                bytes: 138,
                packets: 3,
                exporter: Some(ip("127.0.0.1")),
                ..FlowRecord::default()
            }
        );
    }

    #[test]
    fn maps_columns_by_name_in_any_order() {
        let layout =
            CsvLayout::from_header(b"da,sa,pr,dp,sp,flg,byt,pkt,ts,dir,in,out,ra").unwrap();
        let record = layout
            .parse_line(
                b"2001:db8::1,fd00::1,1,3.3,0,27,1000,10,2016-02-29 23:59:59.5,1,3,4,0.0.0.0",
            )
            .unwrap()
            .unwrap();
        assert_eq!(record.src, ip("fd00::1"));
        assert_eq!(record.dst, ip("2001:db8::1"));
        assert_eq!(record.protocol, 1);
        assert_eq!(record.dst_port, 771);
        assert_eq!(record.tcp_flags, 27);
        assert_eq!(record.bytes, 1000);
        assert_eq!(record.packets, 10);
        assert_eq!(record.start_ms, 1_456_790_399_500);
        assert_eq!(record.end_ms, record.start_ms, "no te, no td");
        assert_eq!(record.flags, FlowRecord::FLAG_EGRESS);
        assert_eq!((record.input_if, record.output_if), (3, 4));
        assert_eq!(record.exporter, None, "0.0.0.0 means unknown");
    }

    #[test]
    fn end_from_duration_when_there_is_no_te() {
        let layout = CsvLayout::from_header(b"ts,td,sa,da").unwrap();
        let record = layout
            .parse_line(b"2014-11-18 13:15:04.100,1.250,10.0.0.1,10.0.0.2")
            .unwrap()
            .unwrap();
        assert_eq!(record.end_ms - record.start_ms, 1250);
    }

    #[test]
    fn header_needs_ts_sa_da() {
        assert_eq!(
            CsvLayout::from_header(b"te,sa,da"),
            Err(LineErrorKind::MissingColumn("ts"))
        );
        assert_eq!(
            CsvLayout::from_header(b"ts,sa"),
            Err(LineErrorKind::MissingColumn("da"))
        );
        assert_eq!(
            CsvLayout::from_header(b""),
            Err(LineErrorKind::MissingColumn("ts"))
        );
    }

    #[test]
    fn skips_header_and_summary() {
        let layout = CsvLayout::nfdump_default();
        for line in [
            DEFAULT_HEADER,
            "Summary",
            "flows,bytes,packets,avg_bps,avg_pps,avg_bpp",
            "7,550,11,605,1,50",
            "No matching flows",
        ] {
            assert_eq!(layout.parse_line(line.as_bytes()), Ok(None), "{line}");
        }
        assert_eq!(
            layout.parse_line(b"Hello,world"),
            Err(LineErrorKind::ColumnCount {
                expected: 48,
                found: 2
            })
        );
        assert!(layout.parse_line(b"7,550,11").is_err());
    }

    #[test]
    fn names_each_problem() {
        let layout =
            CsvLayout::from_header(b"ts,te,sa,da,sp,dp,pr,flg,ipkt,ibyt,in,out,ra,dir").unwrap();
        let ok = "2014-11-18 13:15:04,2014-11-18 13:15:05,10.0.0.1,10.0.0.2,1,2,TCP,.A....,1,2,3,4,1.1.1.1,0";
        assert!(layout.parse_line(ok.as_bytes()).unwrap().is_some());
        let bad_time = LineErrorKind::BadTime {
            expected: TIME_SHAPE,
        };
        let cases: &[(usize, &str, LineErrorKind)] = &[
            (0, "2014-11-18T13:15:04", bad_time),
            (1, "yesterday", bad_time),
            (2, "10.0.0", LineErrorKind::BadSourceAddress),
            (3, "", LineErrorKind::BadDestinationAddress),
            (
                4,
                "65536",
                LineErrorKind::BadPort {
                    field: "source port",
                },
            ),
            (
                5,
                "x",
                LineErrorKind::BadPort {
                    field: "destination port",
                },
            ),
            (6, "256", LineErrorKind::BadNumber { field: "pr" }),
            (7, "..Z...", LineErrorKind::BadNumber { field: "flg" }),
            (8, "-1", LineErrorKind::BadNumber { field: "ipkt" }),
            (9, "1e3", LineErrorKind::BadNumber { field: "ibyt" }),
            (10, "4294967296", LineErrorKind::BadNumber { field: "in" }),
            (11, "x", LineErrorKind::BadNumber { field: "out" }),
            (12, "router", LineErrorKind::BadExporterAddress),
            (13, "?", LineErrorKind::BadNumber { field: "dir" }),
        ];
        for (column, value, kind) in cases {
            let mut fields: Vec<&str> = ok.split(',').collect();
            fields[*column] = value;
            let line = fields.join(",");
            assert_eq!(layout.parse_line(line.as_bytes()), Err(*kind), "{line}");
        }
        assert_eq!(
            layout.parse_line(format!("{ok},extra").as_bytes()),
            Err(LineErrorKind::ColumnCount {
                expected: 14,
                found: 15
            })
        );
    }
}
