//! Checkpoints: a partition's changed host states and clock written to the changelog and
//! acknowledged, after which its offsets may be stored; and the revoke hook's
//! [`Checkpointer`], which checkpoints partitions as the group takes them away.

use std::sync::Arc;

use relbot_engine::ChangeSet;
use relbot_kafka::rdkafka::consumer::{BaseConsumer, Consumer as _};
use relbot_kafka::{Partition, PendingDelivery, ProduceStats, Producer, RebalanceContext};
use tracing::{error, info, warn};

use crate::changelog::Changelog;
use crate::error::DetectorError;
use crate::metrics::DetectorMetrics;
use crate::process::{lock, Partitions};

/// One partition's checkpoint: its changes and the offset to store once they are written.
pub(crate) type Checkpoint = (i32, ChangeSet, Option<i64>);

/// Writes `checkpoints` to the changelog (each partition's hosts, then its clock) and waits
/// until every record is acknowledged; returns the number of records.
pub(crate) async fn write_checkpoints(
    changelog: &Changelog,
    producer: &Producer,
    stats: &Arc<ProduceStats>,
    checkpoints: &[Checkpoint],
) -> Result<usize, DetectorError> {
    let mut pending: Vec<PendingDelivery> = Vec::new();
    for (p, changes, _) in checkpoints {
        changelog
            .enqueue(producer, stats, *p, changes, &mut pending)
            .await?;
    }
    let n = pending.len();
    for delivery in pending {
        delivery.wait().await?;
    }
    Ok(n)
}

/// Checkpoints partitions as they are revoked, from the consumer's revoke hook: writes
/// their changelog records, waits for them and stores their offsets before librdkafka
/// commits and gives the partitions up, so the next owner restores exactly the state of
/// every record committed and replays nothing.
pub struct Checkpointer {
    owned: Partitions,
    producer: Producer,
    stats: Arc<ProduceStats>,
    changelog: Arc<Changelog>,
    metrics: DetectorMetrics,
    flows_topic: String,
}

impl std::fmt::Debug for Checkpointer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpointer")
            .field("flows_topic", &self.flows_topic)
            .finish_non_exhaustive()
    }
}

impl Checkpointer {
    pub(crate) fn new(
        owned: Partitions,
        producer: Producer,
        stats: Arc<ProduceStats>,
        changelog: Arc<Changelog>,
        metrics: DetectorMetrics,
        flows_topic: &str,
    ) -> Self {
        Self {
            owned,
            producer,
            stats,
            changelog,
            metrics,
            flows_topic: flows_topic.to_owned(),
        }
    }

    /// Checkpoints the revoked partitions of the flows topic that processed records since
    /// their last checkpoint, and stores their offsets.
    ///
    /// The hook runs inside the consumer's poll, on the runtime thread that polls it, so
    /// the write blocks that thread (`block_in_place`: the runtime's other tasks move to
    /// other threads). On a current-thread runtime, which cannot block, or when the write
    /// fails, nothing is stored: the next owner replays the records since the last
    /// checkpoint, which the changelog protocol makes safe. Partitions *lost* (the group
    /// gave them away after a session timeout) are not written: their next owner may be
    /// writing their changelog already.
    pub fn revoke(&self, consumer: &BaseConsumer<RebalanceContext>, revoked: &[Partition]) {
        let multi_thread = tokio::runtime::Handle::try_current()
            .ok()
            .filter(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        let Some(handle) = multi_thread else {
            warn!(
                "Revoke outside a multi-thread runtime: not checkpointed, the next owner replays."
            );
            return;
        };
        if consumer.assignment_lost() {
            // The group moved the partitions on without us (session timeout): their next
            // owner may be writing their changelog already.
            warn!("Partitions lost, not revoked: not checkpointed, the next owner replays.");
            return;
        }
        let checkpoints: Vec<Checkpoint> = {
            let mut owned = lock(&self.owned);
            revoked
                .iter()
                .filter(|r| r.topic == self.flows_topic)
                .filter_map(|r| {
                    let o = owned.get_mut(&r.partition)?;
                    o.pending.is_some().then(|| {
                        let (changes, offset) = o.checkpoint();
                        (r.partition, changes, offset)
                    })
                })
                .collect()
        };
        if checkpoints.is_empty() {
            return;
        }
        let written = tokio::task::block_in_place(|| {
            handle.block_on(write_checkpoints(
                &self.changelog,
                &self.producer,
                &self.stats,
                &checkpoints,
            ))
        });
        match written {
            Ok(n) => {
                self.metrics.changelog(n as u64);
                for (p, _, offset) in &checkpoints {
                    let Some(offset) = offset else {
                        continue;
                    };
                    if let Err(e) = consumer.store_offset(&self.flows_topic, *p, *offset) {
                        warn!(partition = p, offset, error = %e, "Cannot store offset on revoke; the next owner replays.");
                    }
                }
                info!(partitions = ?checkpoints.iter().map(|c| c.0).collect::<Vec<_>>(), records = n, "Revoked partitions checkpointed.");
            }
            Err(e) => {
                error!(error = %e, "Checkpoint on revoke failed; the next owner replays.");
            }
        }
    }
}
