//! Opening the inputs of a run and cutting them into blocks for the parsing workers: text
//! inputs as blocks of whole lines, binary inputs (nfcapd, IPFIX files; see [`super::binary`])
//! as batches of already decoded records.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use relbot_flow::source::{Block, BlockReader};
use relbot_flow::text::{self, LineParser, TextFormat};
use relbot_flow::FlowRecord;

use super::binary::{self, BinaryKind};
use crate::error::AnalyzeError;
use crate::progress::Progress;

/// Bytes per block handed to a parsing worker.
const BLOCK_BYTES: usize = 256 * 1024;

/// The `--input-format` choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InputFormat {
    /// Detect the format of each file: nfcapd and IPFIX files by their magic, text formats
    /// from the first lines; a directory is read as nfcapd files in time order.
    Auto,
    /// `EPOCH_MS SRC DST` lines, the original detector's input.
    Triples,
    /// `nfdump -6 -q -N -o "fmt:%ts %sa %sp %da %dp %byt"` lines.
    NfdumpFmt,
    /// `nfdump -o csv` output (header line, summary at the end).
    NfdumpCsv,
    /// nfdump's binary files (nfcapd, layout 2); a directory is read like `nfdump -R`.
    Nfcapd,
    /// IPFIX files (RFC 5655).
    IpfixFile,
}

impl InputFormat {
    fn fixed(self) -> Option<TextFormat> {
        match self {
            Self::Auto | Self::Nfcapd | Self::IpfixFile => None,
            Self::Triples => Some(TextFormat::Triples),
            Self::NfdumpFmt => Some(TextFormat::NfdumpFmt),
            Self::NfdumpCsv => Some(TextFormat::NfdumpCsv),
        }
    }

    fn binary(self) -> Option<BinaryKind> {
        match self {
            Self::Nfcapd => Some(BinaryKind::Nfcapd),
            Self::IpfixFile => Some(BinaryKind::IpfixFile),
            _ => None,
        }
    }
}

/// One opened input.
#[derive(Debug)]
pub struct InputSpec {
    /// The name used in messages (`-` shows as `<stdin>`).
    pub name: String,
    source: Source,
}

/// Where an input's flows come from.
#[derive(Debug)]
enum Source {
    /// Lines, parsed by the workers.
    Text {
        reader: BlockReader,
        format: InputFormat,
    },
    /// A binary file, decoded by the reading thread (opened when its turn comes, so that a
    /// directory of thousands of files does not hold thousands of descriptors).
    Binary {
        path: PathBuf,
        kind: BinaryKind,
        len: Option<u64>,
    },
}

/// What a worker gets.
#[derive(Debug)]
pub enum Payload {
    /// Lines to parse, with the parser of their file.
    Lines {
        /// The parser of the block's input.
        parser: Arc<LineParser>,
        /// The lines.
        block: Block,
    },
    /// Records already decoded from a binary input.
    Records(Vec<FlowRecord>),
    /// Part of a binary input was unreadable and skipped: the message names the file.
    Skipped(String),
}

/// One unit of work, numbered in input order.
#[derive(Debug)]
pub struct Job {
    pub seq: u64,
    pub input: usize,
    pub payload: Payload,
}

/// Opens every input before anything is read, so that a missing or unreadable file fails the
/// run at once instead of after minutes of work. A directory (with `auto` or `nfcapd`)
/// becomes its nfcapd files in time order, like `nfdump -R`.
pub fn open_all(paths: &[PathBuf], format: InputFormat) -> Result<Vec<InputSpec>, AnalyzeError> {
    if paths.iter().filter(|p| is_stdin(p)).count() > 1 {
        return Err(AnalyzeError::Usage(
            "standard input (`-`) can be given only once".into(),
        ));
    }
    let mut inputs = Vec::with_capacity(paths.len());
    for path in paths {
        let dir_allowed = matches!(format, InputFormat::Auto | InputFormat::Nfcapd);
        if !is_stdin(path) && dir_allowed && path.is_dir() {
            let files = binary::list_nfcapd(path)?;
            for file in files {
                inputs.push(binary_input(&file, BinaryKind::Nfcapd)?);
            }
            continue;
        }
        let kind = match format.binary() {
            Some(kind) => Some(kind),
            None if format == InputFormat::Auto && !is_stdin(path) => binary::sniff(path),
            None => None,
        };
        if let Some(kind) = kind {
            if is_stdin(path) {
                return Err(AnalyzeError::Usage(format!(
                    "{} input cannot be read from standard input; name the file",
                    kind.name()
                )));
            }
            inputs.push(binary_input(path, kind)?);
            continue;
        }
        // Small blocks keep the records in flight (about 100 bytes each) few.
        let reader = BlockReader::open(path)
            .map_err(AnalyzeError::Open)?
            .with_block_bytes(BLOCK_BYTES);
        inputs.push(InputSpec {
            name: display_name(path),
            source: Source::Text { reader, format },
        });
    }
    Ok(inputs)
}

fn binary_input(path: &Path, kind: BinaryKind) -> Result<InputSpec, AnalyzeError> {
    let len = binary::check_readable(path)?;
    Ok(InputSpec {
        name: display_name(path),
        source: Source::Binary {
            path: path.to_path_buf(),
            kind,
            len: Some(len),
        },
    })
}

/// Total size of the inputs, when every one is a regular file.
pub fn total_len(inputs: &[InputSpec]) -> Option<u64> {
    inputs
        .iter()
        .map(|i| match &i.source {
            Source::Text { reader, .. } => reader.len(),
            Source::Binary { len, .. } => *len,
        })
        .sum()
}

/// Reads every input in turn and sends its work, numbered in input order, to the workers.
/// With `strict`, an unreadable part of a binary input stops the run.
pub fn read_blocks(
    inputs: &mut [InputSpec],
    jobs: &crossbeam_channel::Sender<Job>,
    stop: &AtomicBool,
    progress: &Progress,
    strict: bool,
) -> Result<(), AnalyzeError> {
    let mut seq = 0u64;
    let mut consumed_before = 0u64;
    for (index, input) in inputs.iter_mut().enumerate() {
        let mut send = |payload: Payload| -> bool {
            let job = Job {
                seq,
                input: index,
                payload,
            };
            seq += 1;
            !stop.load(Ordering::Relaxed) && jobs.send(job).is_ok()
        };
        match &mut input.source {
            Source::Text { reader, format } => {
                let more = read_text(
                    &input.name,
                    reader,
                    *format,
                    &mut send,
                    progress,
                    consumed_before,
                )?;
                consumed_before += reader.bytes_consumed();
                if !more {
                    return Ok(());
                }
            }
            Source::Binary { path, kind, len } => {
                let more = binary::read(path, &input.name, *kind, strict, &mut send)?;
                consumed_before += len.unwrap_or(0);
                progress.set(consumed_before);
                if !more {
                    return Ok(());
                }
            }
        }
    }
    Ok(())
}

/// Sends the blocks of one text input; `false` when the run is stopping.
fn read_text(
    name: &str,
    reader: &mut BlockReader,
    format: InputFormat,
    send: &mut impl FnMut(Payload) -> bool,
    progress: &Progress,
    consumed_before: u64,
) -> Result<bool, AnalyzeError> {
    let mut parser: Option<Arc<LineParser>> = None;
    while let Some(block) = reader.next_block().map_err(AnalyzeError::Read)? {
        let parser = match &parser {
            Some(p) => Arc::clone(p),
            None => {
                let format = match format.fixed() {
                    Some(f) => f,
                    None => text::detect_format(&block.data).ok_or_else(|| {
                        AnalyzeError::UnknownFormat {
                            file: name.to_string(),
                        }
                    })?,
                };
                let p = LineParser::new(format, &block.data).map_err(|error| {
                    AnalyzeError::BadHeader {
                        file: name.to_string(),
                        line: error.line,
                        message: error.to_string(),
                    }
                })?;
                let p = Arc::new(p);
                parser = Some(Arc::clone(&p));
                p
            }
        };
        progress.set(consumed_before + reader.bytes_consumed());
        if !send(Payload::Lines { parser, block }) {
            return Ok(false);
        }
    }
    if parser.is_none() {
        progress.suspend(|| eprintln!("relbot: {name}: empty input, no flows"));
    }
    Ok(true)
}

fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

fn display_name(path: &Path) -> String {
    if is_stdin(path) {
        "<stdin>".to_string()
    } else {
        path.display().to_string()
    }
}
