//! `relbot analyze`: the whole pipeline embedded on files — read, parse, group by pair,
//! evaluate, render — with no Kafka.
//!
//! Reading, parsing and inserting overlap: one thread reads and decompresses blocks of whole
//! lines, a worker per core parses blocks, and the calling thread appends the records to a
//! compact row store in input order (so line errors are reported in order). The rows are then
//! sorted and every host's pairs fed to a fresh batch detection engine (the detector's
//! [`relbot_engine::Engine`]), hosts in parallel; the false-positive control is applied over
//! all hosts at the end ([`evaluate`]).

mod binary;
mod columns;
mod evaluate;
mod inputs;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use relbot_flow::text::{self, LineError};
use relbot_flow::FlowRecord;
use relbot_periodicity::Algorithm;
use serde::Serialize;

pub use columns::{FlowRows, PairCursor};
pub use evaluate::{evaluate, EvidenceMap, Totals};
use inputs::Payload;
pub use inputs::{InputFormat, InputSpec};
pub use relbot_engine::{HostResult, PeerFinding, PeriodFinding};

use crate::error::AnalyzeError;
use crate::progress::Progress;

/// What `relbot analyze` is asked to do.
#[derive(Debug, Clone)]
pub struct AnalyzeOptions {
    /// Input files; `-` is standard input.
    pub inputs: Vec<PathBuf>,
    /// Line format of the inputs, or detection per file.
    pub format: InputFormat,
    /// The detection algorithm with its parameters.
    pub algorithm: Algorithm,
    /// False-positive control (allow-lists, prevalence, minimum peers, replies).
    pub filter: relbot_engine::PeerFilter,
    /// Stop at the first bad line instead of counting and skipping it.
    pub strict: bool,
    /// Show a progress bar (when stderr is a terminal).
    pub progress: bool,
    /// At most this many bad lines are described on stderr; the rest are only counted.
    pub max_reported_errors: u64,
}

/// Counters of one run, printed as the closing summary line.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Input files read.
    pub files: usize,
    /// Flow records read.
    pub flows: u64,
    /// Lines that did not parse and were skipped.
    pub skipped_lines: u64,
    /// Unreadable parts of binary inputs that were skipped (an nfcapd block, the rest of a
    /// damaged file).
    #[serde(skip_serializing_if = "is_zero")]
    pub skipped_blocks: u64,
    /// Distinct source hosts.
    pub hosts: usize,
    /// Distinct (source, destination) pairs.
    pub pairs: usize,
    /// Hosts with at least one periodic peer.
    pub flagged_hosts: usize,
    /// Wall-clock seconds of the whole run.
    pub seconds: f64,
    /// Start of the newest flow read, ms.
    #[serde(skip)]
    pub newest_flow_ms: Option<i64>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Summary {
    /// The one-line summary for stderr.
    pub fn line(&self) -> String {
        let blocks = if self.skipped_blocks > 0 {
            format!(", {} damaged block(s) skipped", self.skipped_blocks)
        } else {
            String::new()
        };
        format!(
            "relbot: {} flows read from {} file(s), {} line(s) skipped{}, {} hosts, {} pairs, \
             {} flagged, {:.2} s",
            self.flows,
            self.files,
            self.skipped_lines,
            blocks,
            self.hosts,
            self.pairs,
            self.flagged_hosts,
            self.seconds
        )
    }
}

/// The result of a run: configured periods (ascending), flagged hosts, counters.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// Name of the algorithm that judged the pairs.
    pub algorithm: &'static str,
    /// Its version (parameters included): results of equal versions are comparable.
    pub algorithm_version: String,
    /// The algorithm itself, with its parameters (for building the detections).
    pub judge: Algorithm,
    /// Hosts with at least one periodic peer, sorted by address text.
    pub hosts: Vec<HostResult>,
    /// Counters of the run.
    pub summary: Summary,
    /// The evidence of every periodic pair, by (host, peer).
    pub evidence: EvidenceMap,
    /// Start of the newest flow read, ms (none without flows): the detector's engine closes a
    /// batch just after it, which is the window end of the run's detections.
    pub newest_flow_ms: Option<i64>,
}

/// Records parsed from one block, in flight to the inserting thread.
struct Parsed {
    seq: u64,
    input: usize,
    records: Vec<FlowRecord>,
    errors: Vec<LineError>,
    /// A damaged part of a binary input that was skipped, described.
    skipped: Option<String>,
}

/// Runs the analysis; bad lines are described on `diag` (normally stderr).
pub fn run(opts: &AnalyzeOptions, diag: &mut dyn Write) -> Result<Analysis, AnalyzeError> {
    let started = Instant::now();
    let (table, mut summary) = read_rows(opts, None, diag)?;
    let batch = relbot_engine::EngineConfig::batch();
    let (hosts, totals, evidence) = evaluate(&opts.algorithm, &batch, table, &opts.filter)
        .map_err(|e| AnalyzeError::Config(e.to_string()))?;
    summary.pairs = totals.pairs;
    summary.flagged_hosts = hosts.len();
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(Analysis {
        algorithm: opts.algorithm.name(),
        algorithm_version: opts.algorithm.version(),
        judge: opts.algorithm.clone(),
        hosts,
        newest_flow_ms: summary.newest_flow_ms,
        summary,
        evidence,
    })
}

/// Reads every input into the row store — only the flows of host `only`, when given — and
/// counts what was read; bad lines and damaged blocks are described on `diag`. The summary's
/// evaluation fields (pairs, flagged hosts, seconds) are left for the caller.
pub fn read_rows(
    opts: &AnalyzeOptions,
    only: Option<IpAddr>,
    diag: &mut dyn Write,
) -> Result<(FlowRows, Summary), AnalyzeError> {
    let mut inputs = inputs::open_all(&opts.inputs, opts.format)?;
    let progress = Progress::new(opts.progress, inputs::total_len(&inputs));
    let names: Vec<String> = inputs.iter().map(|i| i.name.clone()).collect();

    let mut table = FlowRows::default();
    let mut skipped = 0u64;
    let mut skipped_blocks = 0u64;
    let mut newest_flow_ms: Option<i64> = None;
    let stop = AtomicBool::new(false);
    let read_error: Mutex<Option<AnalyzeError>> = Mutex::new(None);
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());

    let outcome = std::thread::scope(|scope| -> Result<(), AnalyzeError> {
        let (job_tx, job_rx) = crossbeam_channel::bounded::<inputs::Job>(workers);
        let (done_tx, done_rx) = crossbeam_channel::bounded::<Parsed>(workers);

        let (stop, read_error, progress) = (&stop, &read_error, &progress);
        scope.spawn(move || {
            let strict = opts.strict;
            if let Err(e) = inputs::read_blocks(&mut inputs, &job_tx, stop, progress, strict) {
                if let Ok(mut slot) = read_error.lock() {
                    *slot = Some(e);
                }
            }
        });
        for _ in 0..workers {
            let (job_rx, done_tx) = (job_rx.clone(), done_tx.clone());
            scope.spawn(move || {
                for job in job_rx {
                    let mut errors = Vec::new();
                    let mut skipped = None;
                    let records = match job.payload {
                        Payload::Lines { parser, block } => {
                            let mut records = Vec::with_capacity(block.data.len() / 64);
                            text::parse_block(&parser, &block, &mut records, &mut errors);
                            records
                        }
                        Payload::Records(records) => records,
                        Payload::Skipped(message) => {
                            skipped = Some(message);
                            Vec::new()
                        }
                    };
                    let parsed = Parsed {
                        seq: job.seq,
                        input: job.input,
                        records,
                        errors,
                        skipped,
                    };
                    if done_tx.send(parsed).is_err() {
                        break;
                    }
                }
            });
        }
        drop((job_rx, done_tx));

        // Insert in input order, so errors are reported in order and --strict stops at the
        // first bad line of the input.
        let mut pending: BTreeMap<u64, Parsed> = BTreeMap::new();
        let mut next = 0u64;
        for parsed in done_rx.iter() {
            pending.insert(parsed.seq, parsed);
            while let Some(parsed) = pending.remove(&next) {
                next += 1;
                for error in &parsed.errors {
                    let name = &names[parsed.input];
                    if opts.strict {
                        stop.store(true, Ordering::Relaxed);
                        return Err(AnalyzeError::BadLine {
                            file: name.clone(),
                            line: error.line,
                            message: error.to_string(),
                        });
                    }
                    skipped += 1;
                    if skipped <= opts.max_reported_errors {
                        progress.suspend(|| {
                            let _ = writeln!(diag, "{name}:{}: skipped: {error}", error.line);
                        });
                    }
                }
                if let Some(message) = &parsed.skipped {
                    skipped_blocks += 1;
                    if skipped_blocks <= opts.max_reported_errors {
                        progress.suspend(|| {
                            let _ = writeln!(diag, "{message}");
                        });
                    }
                }
                let wanted = |r: &&FlowRecord| {
                    only.is_none_or(|host| r.src == host) && !opts.filter.ignores_port(r.dst_port)
                };
                parsed
                    .records
                    .iter()
                    .filter(wanted)
                    .for_each(|r| table.add(r));
                if let Some(newest) = parsed.records.iter().map(|r| r.start_ms).max() {
                    newest_flow_ms = Some(newest_flow_ms.map_or(newest, |n| n.max(newest)));
                }
            }
        }
        Ok(())
    });
    progress.finish();
    outcome?;
    if let Some(e) = read_error.into_inner().ok().flatten() {
        return Err(e);
    }
    if skipped > opts.max_reported_errors {
        let _ = writeln!(
            diag,
            "relbot: {} more bad line(s) skipped without detail",
            skipped - opts.max_reported_errors
        );
    }

    let summary = Summary {
        files: names.len(),
        flows: table.flows(),
        skipped_lines: skipped,
        skipped_blocks,
        hosts: table.hosts(),
        newest_flow_ms,
        ..Summary::default()
    };
    Ok((table, summary))
}
