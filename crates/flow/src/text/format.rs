//! [`TextFormat`]: the line formats relbot reads, their names, and sniffing which one an input
//! is in (for `--input-format auto`).

use std::fmt;
use std::str::FromStr;

use super::fields::{is_blank_or_comment, strip_line_noise};
use super::LineParser;

/// A line-oriented flow format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TextFormat {
    /// `EPOCH_MS SRC DST`, the original RelBot detector's input.
    Triples,
    /// `nfdump -6 -q -N -o "fmt:%ts %sa %sp %da %dp %byt"`.
    NfdumpFmt,
    /// `nfdump -o csv` (columns found by name in the header).
    NfdumpCsv,
}

impl TextFormat {
    /// Every format, in the order [`detect_format`] prefers them on a tie.
    pub const ALL: [TextFormat; 3] = [
        TextFormat::NfdumpFmt,
        TextFormat::NfdumpCsv,
        TextFormat::Triples,
    ];

    /// The name used on command lines and in config: `triples`, `nfdump-fmt`, `nfdump-csv`.
    pub fn name(self) -> &'static str {
        match self {
            TextFormat::Triples => "triples",
            TextFormat::NfdumpFmt => "nfdump-fmt",
            TextFormat::NfdumpCsv => "nfdump-csv",
        }
    }
}

impl fmt::Display for TextFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A format name that is none of [`TextFormat::name`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown text format `{0}` (expected triples, nfdump-fmt or nfdump-csv)")]
pub struct UnknownFormat(pub String);

impl FromStr for TextFormat {
    type Err = UnknownFormat;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        TextFormat::ALL
            .into_iter()
            .find(|format| format.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| UnknownFormat(name.to_owned()))
    }
}

/// How many significant (non-blank, non-comment) lines [`detect_format`] looks at.
const DETECT_LINES: usize = 16;

/// Guesses the format of an input from its start (e.g. the first [`Block`](crate::source::Block)).
///
/// Each format parses the first significant lines of `sample`; the one that reads the most
/// records wins, provided it reads more lines than it rejects. A CSV header line counts for
/// `nfdump-csv`. `None` when nothing fits (empty, binary or unknown input).
pub fn detect_format(sample: &[u8]) -> Option<TextFormat> {
    let lines = significant_lines(sample);
    let mut best: Option<(TextFormat, usize)> = None;
    for format in TextFormat::ALL {
        let Ok(parser) = LineParser::new(format, sample) else {
            continue;
        };
        let (mut good, mut bad) = (0, 0);
        for line in &lines {
            match parser.parse_line(line) {
                Ok(Some(_)) => good += 1,
                Ok(None) if format == TextFormat::NfdumpCsv && parser.is_csv_header(line) => {
                    good += 1;
                }
                Ok(None) => {}
                Err(_) => bad += 1,
            }
        }
        if good > bad && best.is_none_or(|(_, best_good)| good > best_good) {
            best = Some((format, good));
        }
    }
    best.map(|(format, _)| format)
}

/// The first [`DETECT_LINES`] significant lines of `sample`; a last line without a newline is
/// left out (it may be cut) unless it is the only one.
fn significant_lines(sample: &[u8]) -> Vec<&[u8]> {
    let mut pieces: Vec<&[u8]> = sample.split(|&b| b == b'\n').collect();
    if pieces.len() > 1 {
        // Either the empty piece after a final newline, or a possibly cut last line.
        pieces.pop();
    }
    pieces
        .into_iter()
        .map(strip_line_noise)
        .filter(|line| !is_blank_or_comment(line))
        .take(DETECT_LINES)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for format in TextFormat::ALL {
            assert_eq!(format.to_string().parse::<TextFormat>(), Ok(format));
        }
        assert_eq!(
            "NFDUMP-CSV".parse::<TextFormat>(),
            Ok(TextFormat::NfdumpCsv)
        );
        assert_eq!(
            "nfcapd".parse::<TextFormat>(),
            Err(UnknownFormat("nfcapd".into()))
        );
    }

    #[test]
    fn detects_each_format() {
        let triples = b"# seed input\n1416337885644 10.1.0.116 93.2.16.20\n1416330160356 10.1.0.144 93.1.17.9\n";
        assert_eq!(detect_format(triples), Some(TextFormat::Triples));

        let fmt =
            b"2014-11-18 13:15:05.734     10.0.1.5  49126     83.242.167.77     80      697\n\
2014-11-18 13:15:12.415    fd00::108  33417  2a09:e931:960c::7099     80      295\n";
        assert_eq!(detect_format(fmt), Some(TextFormat::NfdumpFmt));

        let csv =
            b"ts,te,sa,da,sp,dp\n2014-11-18 13:15:04,2014-11-18 13:15:05,10.0.1.5,1.2.3.4,1,2\n";
        assert_eq!(detect_format(csv), Some(TextFormat::NfdumpCsv));
        assert_eq!(
            detect_format(b"ts,te,sa,da,sp,dp\n"),
            Some(TextFormat::NfdumpCsv),
            "a header alone"
        );
    }

    #[test]
    fn ignores_a_cut_last_line() {
        let sample = b"1416337885644 10.1.0.116 93.2.16.20\n1416337885644 10.1.0";
        assert_eq!(detect_format(sample), Some(TextFormat::Triples));
        assert_eq!(
            detect_format(b"1416337885644 10.1.0.116 93.2.16.20"),
            Some(TextFormat::Triples)
        );
    }

    #[test]
    fn rejects_what_fits_nothing() {
        assert_eq!(detect_format(b""), None);
        assert_eq!(detect_format(b"\n# only a comment\n\n"), None);
        assert_eq!(detect_format(b"hello world\nfoo bar\n"), None);
        assert_eq!(detect_format(&[0x1f, 0x8b, 0, 0xff, 0x10]), None);
    }
}
