//! Converts flow text (triples, nfdump-fmt, nfdump-csv, as `relbot analyze` reads it) into an
//! nfcapd file with relbot-flow's nfcapd writer — Debian's nfdump cannot read text — for the
//! binary-input benchmark in `docs/BENCHMARKS.md`:
//!
//! ```sh
//! cargo run --release -p relbot --example nfcapd_from_text -- IN.txt OUT.nfcapd [none|lz4|bz2|zstd]
//! ```

use std::path::PathBuf;

use anyhow::{bail, Context};
use relbot_flow::nfcapd::{writer::encode_file, Compression};
use relbot_flow::source::BlockReader;
use relbot_flow::text::{self, LineParser};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (input, output) = match (args.first(), args.get(1)) {
        (Some(i), Some(o)) => (PathBuf::from(i), PathBuf::from(o)),
        _ => bail!("usage: nfcapd_from_text IN.txt OUT.nfcapd [none|lz4|bz2|zstd]"),
    };
    let compression = match args.get(2).map(String::as_str) {
        None | Some("lz4") => Compression::Lz4,
        Some("none") => Compression::None,
        Some("bz2") => Compression::Bz2,
        Some("zstd") => Compression::Zstd,
        Some(other) => bail!("unknown compression {other}"),
    };
    let mut reader = BlockReader::open(&input)?;
    let mut parser = None;
    let (mut records, mut errors) = (Vec::new(), Vec::new());
    while let Some(block) = reader.next_block()? {
        if parser.is_none() {
            let format = text::detect_format(&block.data).context("unknown text format")?;
            parser = Some(LineParser::new(format, &block.data)?);
        }
        if let Some(p) = &parser {
            text::parse_block(p, &block, &mut records, &mut errors);
        }
    }
    if !errors.is_empty() {
        eprintln!("{} bad line(s) skipped", errors.len());
    }
    // nfcapd writes blocks of up to 5 MiB uncompressed; 1 MiB is its usual buffer size.
    let bytes = encode_file(&records, compression, 1 << 20).context("compression")?;
    std::fs::write(&output, bytes)?;
    eprintln!("{} records → {}", records.len(), output.display());
    Ok(())
}
