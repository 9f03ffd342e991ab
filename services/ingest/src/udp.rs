//! UDP listeners: `workers` SO_REUSEPORT sockets per listener, each read by its own thread
//! that decodes what it receives and hands batches of records to the [`queue`](crate::queue).
//!
//! Why blocking std sockets on threads rather than tokio: a worker does nothing but
//! receive → decode → batch, all CPU-bound and sequential; a dedicated thread per socket
//! avoids the reactor's wake-ups and task hand-offs per datagram, and when the queue is full
//! the thread simply blocks, which is exactly the backpressure wanted (the socket is not read,
//! the kernel drops and counts). Threads poll a stop flag between reads (100 ms read timeout).
//!
//! SO_REUSEPORT: the kernel spreads datagrams over the sockets by a hash of the 4-tuple, so
//! all datagrams of one exporter (one source address and port) land on one socket, in order.
//! Template state is sharded by exporter address ([`crate::collectors`]), so it is consistent
//! even when an exporter's datagrams come from several source ports.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use relbot_flow::FlowRecord;
use socket2::{Domain, Protocol, Socket, Type};
use tracing::warn;

use crate::collectors::Collectors;
use crate::config::UdpListener;
use crate::error::IngestError;
use crate::metrics::{ExporterCounters, IngestMetrics};
use crate::queue::QueueSender;

/// How long a worker waits in `recv` before it checks the stop flag and flushes its batch.
const READ_TIMEOUT: Duration = Duration::from_millis(100);
/// A batch is handed over at the latest this long after its first record.
const MAX_BATCH_AGE: Duration = Duration::from_millis(20);
/// Exporters whose counters a worker keeps resolved; beyond, the cache is cleared.
const MAX_CACHED_EXPORTERS: usize = 4096;

/// Opens the sockets of one listener. With port 0 the first socket picks a port and the
/// others join it.
pub fn bind(listener: &UdpListener) -> Result<Vec<UdpSocket>, IngestError> {
    let err = |source| IngestError::Listen {
        listen: listener.listen,
        source,
    };
    let mut addr = listener.listen;
    let mut sockets = Vec::with_capacity(listener.workers);
    for _ in 0..listener.workers.max(1) {
        let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))
            .map_err(err)?;
        socket.set_reuse_port(true).map_err(err)?;
        socket
            .set_recv_buffer_size(listener.recv_buffer_bytes)
            .map_err(err)?;
        socket.bind(&addr.into()).map_err(err)?;
        let socket: UdpSocket = socket.into();
        socket.set_read_timeout(Some(READ_TIMEOUT)).map_err(err)?;
        addr = socket.local_addr().map_err(err)?;
        sockets.push(socket);
    }
    Ok(sockets)
}

/// What a worker thread needs.
#[derive(Debug, Clone)]
pub struct Worker {
    /// Decoder state.
    pub collectors: Arc<Collectors>,
    /// Where batches go.
    pub queue: QueueSender,
    /// Metrics.
    pub metrics: IngestMetrics,
    /// Set at shutdown.
    pub stop: Arc<AtomicBool>,
    /// Records per batch.
    pub batch_records: usize,
}

impl Worker {
    /// Reads `socket` until the stop flag is set (or the stage is gone), then hands over the
    /// last batch.
    pub fn run(self, socket: UdpSocket) {
        let mut buf = vec![0_u8; 65_536];
        let mut batch: Vec<FlowRecord> = Vec::with_capacity(self.batch_records * 2);
        let mut counters: HashMap<IpAddr, ExporterCounters> = HashMap::new();
        let mut first_at = Instant::now();
        while !self.stop.load(Ordering::Relaxed) {
            match socket.recv_from(&mut buf) {
                Ok((n, from)) => {
                    if batch.is_empty() {
                        first_at = Instant::now();
                    }
                    if counters.len() >= MAX_CACHED_EXPORTERS && !counters.contains_key(&from.ip())
                    {
                        counters.clear();
                    }
                    let c = counters
                        .entry(from.ip())
                        .or_insert_with(|| self.metrics.exporter(from.ip()));
                    self.decode(c, from, &buf[..n], &mut batch);
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    warn!(error = %e, "UDP receive failed.");
                    std::thread::sleep(READ_TIMEOUT);
                }
            }
            let due = batch.len() >= self.batch_records
                || (!batch.is_empty() && first_at.elapsed() >= MAX_BATCH_AGE);
            if due && !self.queue.send_blocking(std::mem::take(&mut batch)) {
                return;
            }
        }
        self.queue.send_blocking(batch);
    }

    fn decode(
        &self,
        c: &ExporterCounters,
        from: SocketAddr,
        datagram: &[u8],
        out: &mut Vec<FlowRecord>,
    ) {
        c.packets.inc();
        let result = self
            .collectors
            .shard(from.ip())
            .decode(from, datagram, now_ms(), out);
        match result {
            Ok(report) => {
                c.records.inc_by(report.records as u64);
                c.released.inc_by(report.released as u64);
                c.buffered.inc_by(report.buffered as u64);
                for issue in &report.issues {
                    let reason = issue.reason();
                    if matches!(reason, "unknown_template" | "unknown_template_buffered") {
                        c.template_misses.inc();
                    }
                    self.metrics.decode_error(&c.label, reason);
                }
            }
            Err(e) => self.metrics.decode_error(&c.label, e.reason()),
        }
    }
}

/// Wall-clock time, ms since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
