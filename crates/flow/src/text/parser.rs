//! [`LineParser`] (one line to a record, a skip or an error) and [`parse_block`] (a whole
//! [`Block`] into records and errors).

use super::fields::{is_blank_or_comment, strip_line_noise};
use super::nfdump_csv::CsvLayout;
use super::{nfdump_fmt, triples, LineError, LineErrorKind, TextFormat};
use crate::source::Block;
use crate::FlowRecord;

/// Parses lines of one input in one [`TextFormat`].
///
/// Built once per input (for `nfdump-csv` from its header), then immutable and `Sync`: share it
/// between threads parsing different blocks of the same input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineParser {
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Triples,
    NfdumpFmt,
    NfdumpCsv(CsvLayout),
}

impl LineParser {
    /// A parser for `format`. `head` is the start of the input (e.g. its first block): for
    /// `nfdump-csv`, its first significant line is the header that names the columns (input
    /// whose first line is data, as `nfdump -q -o csv` writes, gets nfdump 1.7's columns). The
    /// other formats ignore `head`.
    ///
    /// Fails only for a CSV header without a `ts`, `sa` or `da` column.
    pub fn new(format: TextFormat, head: &[u8]) -> Result<Self, LineError> {
        let kind = match format {
            TextFormat::Triples => Kind::Triples,
            TextFormat::NfdumpFmt => Kind::NfdumpFmt,
            TextFormat::NfdumpCsv => Kind::NfdumpCsv(csv_layout(head)?),
        };
        Ok(Self { kind })
    }

    /// The format this parser reads.
    pub fn format(&self) -> TextFormat {
        match self.kind {
            Kind::Triples => TextFormat::Triples,
            Kind::NfdumpFmt => TextFormat::NfdumpFmt,
            Kind::NfdumpCsv(_) => TextFormat::NfdumpCsv,
        }
    }

    /// Parses one line (without its `\n`; a trailing `\r` is ignored).
    ///
    /// `Ok(None)` means the line carries no flow and is not an error: blank, a `#` comment, a
    /// CSV header or summary line, or the header/summary of nfdump run without `-q`.
    #[inline]
    pub fn parse_line(&self, line: &[u8]) -> Result<Option<FlowRecord>, LineErrorKind> {
        let line = strip_line_noise(line);
        if is_blank_or_comment(line) {
            return Ok(None);
        }
        let parsed = match &self.kind {
            Kind::Triples => triples::parse_line(line).map(Some),
            Kind::NfdumpFmt => match nfdump_fmt::parse_line(line) {
                Ok(record) => Ok(Some(record)),
                Err(_) if nfdump_fmt::is_nfdump_chatter(line) => Ok(None),
                Err(kind) => Err(kind),
            },
            Kind::NfdumpCsv(layout) => layout.parse_line(line),
        };
        // A line that failed and is not UTF-8 is most likely binary input: say so rather than
        // blame whichever field happened to be first.
        parsed.map_err(|kind| {
            if std::str::from_utf8(line).is_err() {
                LineErrorKind::InvalidUtf8
            } else {
                kind
            }
        })
    }

    /// `true` when `line` is this CSV parser's header line.
    pub(crate) fn is_csv_header(&self, line: &[u8]) -> bool {
        match &self.kind {
            Kind::NfdumpCsv(layout) => layout.is_header(strip_line_noise(line)),
            _ => false,
        }
    }
}

/// Finds the header in `head` and maps its columns.
fn csv_layout(head: &[u8]) -> Result<CsvLayout, LineError> {
    let first = head
        .split(|&b| b == b'\n')
        .enumerate()
        .map(|(index, line)| (index as u64 + 1, strip_line_noise(line)))
        .find(|(_, line)| !is_blank_or_comment(line));
    match first {
        Some((number, line))
            if !line
                .trim_ascii_start()
                .first()
                .is_some_and(u8::is_ascii_digit) =>
        {
            CsvLayout::from_header(line).map_err(|kind| LineError::new(number, kind, line))
        }
        _ => Ok(CsvLayout::nfdump_default()),
    }
}

/// Line counts of one [`parse_block`] call; add them up for a whole input.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParseStats {
    /// Lines seen.
    pub lines: u64,
    /// Lines that became records.
    pub records: u64,
    /// Lines skipped without error (blank, comments, headers, summaries).
    pub skipped: u64,
    /// Lines that became [`LineError`]s.
    pub errors: u64,
}

impl std::ops::AddAssign for ParseStats {
    fn add_assign(&mut self, other: Self) {
        self.lines += other.lines;
        self.records += other.records;
        self.skipped += other.skipped;
        self.errors += other.errors;
    }
}

/// Parses every line of `block`, appending records to `records` and bad lines (with their line
/// numbers) to `errors`. Never fails and never panics: what to do about errors is the
/// caller's decision.
pub fn parse_block(
    parser: &LineParser,
    block: &Block,
    records: &mut Vec<FlowRecord>,
    errors: &mut Vec<LineError>,
) -> ParseStats {
    let mut stats = ParseStats::default();
    for (number, line) in block.lines() {
        stats.lines += 1;
        match parser.parse_line(line) {
            Ok(Some(record)) => {
                records.push(record);
                stats.records += 1;
            }
            Ok(None) => stats.skipped += 1,
            Err(kind) => {
                errors.push(LineError::new(number, kind, line));
                stats.errors += 1;
            }
        }
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(format: TextFormat, text: &str) -> (Vec<FlowRecord>, Vec<LineError>, ParseStats) {
        let parser = LineParser::new(format, text.as_bytes()).unwrap();
        let block = Block::new(10, text.as_bytes().to_vec());
        let (mut records, mut errors) = (Vec::new(), Vec::new());
        let stats = parse_block(&parser, &block, &mut records, &mut errors);
        (records, errors, stats)
    }

    #[test]
    fn skips_blank_and_comment_lines_in_every_format() {
        for format in TextFormat::ALL {
            let (records, errors, stats) = parse(format, "\n   \n\t\r\n# comment\n  # indented\n");
            assert!(records.is_empty() && errors.is_empty(), "{format}");
            assert_eq!(stats.skipped, 5, "{format}");
        }
    }

    #[test]
    fn numbers_errors_from_the_block_start() {
        let text = "1 1.2.3.4 5.6.7.8\r\n\nbad 1.2.3.4 5.6.7.8\n2 1.2.3.4 5.6.7.8";
        let (records, errors, stats) = parse(TextFormat::Triples, text);
        assert_eq!(records.len(), 2);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 12);
        assert_eq!(errors[0].excerpt, "bad 1.2.3.4 5.6.7.8");
        assert_eq!(
            stats,
            ParseStats {
                lines: 4,
                records: 2,
                skipped: 1,
                errors: 1
            }
        );
    }

    #[test]
    fn binary_lines_are_invalid_utf8() {
        let parser = LineParser::new(TextFormat::NfdumpFmt, b"").unwrap();
        assert_eq!(
            parser.parse_line(b"\x00\x01\xff\xfe garbage"),
            Err(LineErrorKind::InvalidUtf8)
        );
    }

    #[test]
    fn skips_nfdump_chatter_without_q() {
        let text = "Date first seen                 Src IP Addr\n\
2014-11-18 13:15:05.734 10.0.1.5 49126 83.242.167.77 80 697\n\
Summary: total flows: 1, total bytes: 697\n";
        let (records, errors, _) = parse(TextFormat::NfdumpFmt, text);
        assert_eq!((records.len(), errors.len()), (1, 0));
    }

    #[test]
    fn csv_header_comes_from_head() {
        let parser = LineParser::new(TextFormat::NfdumpCsv, b"\n# x\nsa,da,ts\n").unwrap();
        assert!(parser.is_csv_header(b"sa,da,ts"));
        let record = parser
            .parse_line(b"10.0.0.1,10.0.0.2,2014-11-18 13:15:05")
            .unwrap()
            .unwrap();
        assert_eq!(record.start_ms, 1_416_316_505_000);

        let error = LineParser::new(TextFormat::NfdumpCsv, b"# x\nsa,da,te\n").unwrap_err();
        assert_eq!(error.line, 2);
        assert_eq!(error.kind, LineErrorKind::MissingColumn("ts"));
    }

    #[test]
    fn parser_is_shareable_between_threads() {
        fn assert_sync_send<T: Sync + Send>() {}
        assert_sync_send::<LineParser>();
    }
}
