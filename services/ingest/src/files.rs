//! File and directory inputs, read once at start on their own thread: nfcapd files (a
//! directory: every nfcapd file in it, in time order like `nfdump -R`), IPFIX files and the
//! text formats. Records go to the same [`queue`](crate::queue) as the UDP workers'; a file
//! that cannot be read is logged and counted, and the others are still read.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use relbot_flow::{ipfix_file, nfcapd, text, FlowRecord};
use tracing::{info, warn};

use crate::config::{FileFormat, FileInputs};
use crate::metrics::IngestMetrics;
use crate::queue::QueueSender;

/// Reads every configured input into `queue`, in batches of `batch` records; stops early when
/// `stop` is set or the stage is gone.
pub fn read_all(
    inputs: &FileInputs,
    queue: &QueueSender,
    metrics: &IngestMetrics,
    stop: &Arc<AtomicBool>,
    batch: usize,
) {
    let counters = metrics.counters_for("file".to_owned());
    for path in expand(&inputs.paths, inputs.format, metrics) {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let records = match read_one(&path, inputs.format, metrics) {
            Ok(records) => records,
            Err(reason) => {
                warn!(file = %path.display(), error = %reason, "Input file not read.");
                metrics.file_error("unreadable", 1);
                continue;
            }
        };
        info!(file = %path.display(), records = records.len(), "Input file read.");
        counters.records.inc_by(records.len() as u64);
        for chunk in records.chunks(batch.max(1)) {
            if stop.load(Ordering::Relaxed) || !queue.send_blocking(chunk.to_vec()) {
                return;
            }
        }
    }
}

/// The files to read: directories become their nfcapd files in time order (text formats:
/// every regular file, by name).
fn expand(paths: &[PathBuf], format: FileFormat, metrics: &IngestMetrics) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for path in paths {
        if !path.is_dir() {
            files.push(path.clone());
            continue;
        }
        let listed = if matches!(format, FileFormat::Auto | FileFormat::Nfcapd) {
            nfcapd::list_files(path).map_err(|e| e.to_string())
        } else {
            list_dir(path)
        };
        match listed {
            Ok(list) => files.extend(list),
            Err(e) => {
                warn!(dir = %path.display(), error = %e, "Input directory not read.");
                metrics.file_error("unreadable", 1);
            }
        }
    }
    files
}

fn list_dir(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| e.to_string())?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

/// The first bytes of a file, to tell its format.
fn head(path: &Path) -> Result<Vec<u8>, String> {
    let mut file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut buf = vec![0_u8; 64];
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) => return Err(e.to_string()),
        }
    }
    buf.truncate(n);
    Ok(buf)
}

/// Every record of one file.
fn read_one(
    path: &Path,
    format: FileFormat,
    metrics: &IngestMetrics,
) -> Result<Vec<FlowRecord>, String> {
    let format = match format {
        FileFormat::Auto => {
            let head = head(path)?;
            if nfcapd::is_nfcapd(&head) {
                FileFormat::Nfcapd
            } else if ipfix_file::is_ipfix_file(&head) {
                FileFormat::IpfixFile
            } else {
                FileFormat::Auto
            }
        }
        other => other,
    };
    match format {
        FileFormat::Nfcapd => nfcapd::read_file(path).map_err(|e| e.to_string()),
        FileFormat::IpfixFile => ipfix_file::read_file(path)
            .map(|(records, _)| records)
            .map_err(|e| e.to_string()),
        other => {
            let (records, errors) =
                text::read_all(path, other.text()).map_err(|e| e.to_string())?;
            if let Some(first) = errors.first() {
                warn!(file = %path.display(), bad_lines = errors.len(), first = %first, "Bad lines skipped.");
                metrics.file_error("bad_line", errors.len() as u64);
            }
            Ok(records)
        }
    }
}
