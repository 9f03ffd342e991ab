//! Opening the inputs of a run and cutting them into blocks for the parsing workers.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use relbot_flow::source::{Block, BlockReader};
use relbot_flow::text::{self, LineParser, TextFormat};

use crate::error::AnalyzeError;
use crate::progress::Progress;

/// Bytes per block handed to a parsing worker.
const BLOCK_BYTES: usize = 256 * 1024;

/// The `--input-format` choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InputFormat {
    /// Detect the format of each file from its first lines.
    Auto,
    /// `EPOCH_MS SRC DST` lines, the original detector's input.
    Triples,
    /// `nfdump -6 -q -N -o "fmt:%ts %sa %sp %da %dp %byt"` lines.
    NfdumpFmt,
    /// `nfdump -o csv` output (header line, summary at the end).
    NfdumpCsv,
}

impl InputFormat {
    fn fixed(self) -> Option<TextFormat> {
        match self {
            Self::Auto => None,
            Self::Triples => Some(TextFormat::Triples),
            Self::NfdumpFmt => Some(TextFormat::NfdumpFmt),
            Self::NfdumpCsv => Some(TextFormat::NfdumpCsv),
        }
    }
}

/// One opened input.
#[derive(Debug)]
pub struct InputSpec {
    /// The name used in messages (`-` shows as `<stdin>`).
    pub name: String,
    reader: BlockReader,
    format: InputFormat,
}

/// A block of lines to parse, with the parser of its file.
#[derive(Debug)]
pub struct Job {
    pub seq: u64,
    pub input: usize,
    pub parser: Arc<LineParser>,
    pub block: Block,
}

/// Opens every input before anything is read, so that a missing or unreadable file fails the
/// run at once instead of after minutes of work.
pub fn open_all(paths: &[PathBuf], format: InputFormat) -> Result<Vec<InputSpec>, AnalyzeError> {
    if paths.iter().filter(|p| is_stdin(p)).count() > 1 {
        return Err(AnalyzeError::Usage(
            "standard input (`-`) can be given only once".into(),
        ));
    }
    paths
        .iter()
        .map(|path| {
            // Small blocks keep the records in flight (about 100 bytes each) few.
            let reader = BlockReader::open(path)
                .map_err(AnalyzeError::Open)?
                .with_block_bytes(BLOCK_BYTES);
            Ok(InputSpec {
                name: display_name(path),
                reader,
                format,
            })
        })
        .collect()
}

/// Total size of the inputs, when every one is a regular file.
pub fn total_len(inputs: &[InputSpec]) -> Option<u64> {
    inputs.iter().map(|i| i.reader.len()).sum()
}

/// Reads every input in turn and sends its blocks, numbered in input order, to the workers.
pub fn read_blocks(
    inputs: &mut [InputSpec],
    jobs: &crossbeam_channel::Sender<Job>,
    stop: &AtomicBool,
    progress: &Progress,
) -> Result<(), AnalyzeError> {
    let mut seq = 0u64;
    let mut consumed_before = 0u64;
    for (index, input) in inputs.iter_mut().enumerate() {
        let mut parser: Option<Arc<LineParser>> = None;
        while let Some(block) = input.reader.next_block().map_err(AnalyzeError::Read)? {
            if stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            let parser = match &parser {
                Some(p) => Arc::clone(p),
                None => {
                    let format = match input.format.fixed() {
                        Some(f) => f,
                        None => text::detect_format(&block.data).ok_or_else(|| {
                            AnalyzeError::UnknownFormat {
                                file: input.name.clone(),
                            }
                        })?,
                    };
                    let p = LineParser::new(format, &block.data).map_err(|error| {
                        AnalyzeError::BadHeader {
                            file: input.name.clone(),
                            line: error.line,
                            message: error.to_string(),
                        }
                    })?;
                    let p = Arc::new(p);
                    parser = Some(Arc::clone(&p));
                    p
                }
            };
            progress.set(consumed_before + input.reader.bytes_consumed());
            let job = Job {
                seq,
                input: index,
                parser,
                block,
            };
            seq += 1;
            if jobs.send(job).is_err() {
                return Ok(());
            }
        }
        consumed_before += input.reader.bytes_consumed();
        if parser.is_none() {
            progress.suspend(|| eprintln!("relbot: {}: empty input, no flows", input.name));
        }
    }
    Ok(())
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
