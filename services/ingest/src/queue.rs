//! The bounded queue between the readers (UDP workers, file reader) and the producer stage.
//!
//! Batches of decoded records go through a bounded channel; its capacity in records is
//! `ingest.queue_capacity`. A reader that finds it full blocks until there is room, and so
//! stops reading its socket: the kernel's receive buffer fills and the kernel drops, which
//! [`crate::kernel`] counts. Nothing is buffered without bound.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use relbot_flow::FlowRecord;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::mpsc::{self, Receiver, Sender};

use crate::metrics::IngestMetrics;

/// The sending side, one clone per reader thread.
#[derive(Debug, Clone)]
pub struct QueueSender {
    tx: Sender<Vec<FlowRecord>>,
    depth: Arc<AtomicUsize>,
    metrics: IngestMetrics,
}

/// The receiving side, owned by the producer stage.
#[derive(Debug)]
pub struct QueueReceiver {
    rx: Receiver<Vec<FlowRecord>>,
    depth: Arc<AtomicUsize>,
}

/// A queue of about `capacity` records in batches of `batch` records.
pub fn queue(
    capacity: usize,
    batch: usize,
    metrics: IngestMetrics,
) -> (QueueSender, QueueReceiver) {
    let slots = (capacity / batch.max(1)).max(1);
    let (tx, rx) = mpsc::channel(slots);
    let depth = Arc::new(AtomicUsize::new(0));
    (
        QueueSender {
            tx,
            depth: Arc::clone(&depth),
            metrics,
        },
        QueueReceiver { rx, depth },
    )
}

impl QueueSender {
    /// Hands a batch to the stage, blocking the calling (non-async) thread while the queue is
    /// full. Returns false when the stage is gone.
    pub fn send_blocking(&self, batch: Vec<FlowRecord>) -> bool {
        if batch.is_empty() {
            return true;
        }
        let n = batch.len();
        self.depth.fetch_add(n, Ordering::Relaxed);
        let sent = match self.tx.try_send(batch) {
            Ok(()) => true,
            Err(TrySendError::Full(batch)) => {
                self.metrics.queue_full();
                self.tx.blocking_send(batch).is_ok()
            }
            Err(TrySendError::Closed(_)) => false,
        };
        if !sent {
            self.depth.fetch_sub(n, Ordering::Relaxed);
        }
        sent
    }
}

impl QueueReceiver {
    /// The next batch; `None` once every sender is gone and the queue is empty.
    pub async fn recv(&mut self) -> Option<Vec<FlowRecord>> {
        let batch = self.rx.recv().await?;
        self.depth.fetch_sub(batch.len(), Ordering::Relaxed);
        Some(batch)
    }

    /// Records waiting in the queue.
    pub fn depth(&self) -> usize {
        self.depth.load(Ordering::Relaxed)
    }

    /// A handle on the depth, for the stats loop.
    pub fn depth_handle(&self) -> Arc<AtomicUsize> {
        Arc::clone(&self.depth)
    }
}
