//! A consumer context that tells the service which partitions it gained and lost.
//!
//! Rebalance callbacks run inside librdkafka's poll, on the thread that awaits the consumer, so
//! they are kept short and can never unwind into C: events go into an unbounded channel (there
//! are few of them), and the optional revoke hook, the one place a service flushes a
//! partition's state and stores its offsets before the partition moves, runs under
//! `catch_unwind`.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError as RdKafkaError, KafkaResult};
use rdkafka::TopicPartitionList;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tracing::{debug, error, info, warn};

use crate::client::ClientLog;

/// One partition of one topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Partition {
    /// Topic name.
    pub topic: String,
    /// Partition number.
    pub partition: i32,
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]", self.topic, self.partition)
    }
}

/// What happened to this member's assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RebalanceEvent {
    /// These partitions were added (incrementally, with cooperative-sticky); sent after the
    /// assignment took effect.
    Assigned(Vec<Partition>),
    /// These partitions are being taken away; sent after the revoke hook ran and before
    /// librdkafka commits their stored offsets and drops them.
    Revoked(Vec<Partition>),
    /// The rebalance failed (e.g. the group coordinator went away); librdkafka retries.
    Failed(String),
}

/// Called with the consumer and the revoked partitions before they are given up: flush the
/// state of those partitions and store their offsets here (librdkafka commits them right
/// after). Must be quick and must not block on the task that polls the consumer.
pub type RevokeHook = Box<dyn Fn(&BaseConsumer<RebalanceContext>, &[Partition]) + Send + Sync>;

/// Consumer context handing rebalance events to the service.
pub struct RebalanceContext {
    events: UnboundedSender<RebalanceEvent>,
    on_revoke: Option<RevokeHook>,
    log: ClientLog,
}

impl fmt::Debug for RebalanceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RebalanceContext")
            .field("on_revoke", &self.on_revoke.is_some())
            .finish_non_exhaustive()
    }
}

impl RebalanceContext {
    /// A context and the receiving end of its events.
    pub fn new() -> (Self, UnboundedReceiver<RebalanceEvent>) {
        let (events, rx) = unbounded_channel();
        (
            Self {
                events,
                on_revoke: None,
                log: ClientLog::default(),
            },
            rx,
        )
    }

    /// Adds the hook run synchronously on revoke (see [`RevokeHook`]).
    pub fn with_revoke_hook(mut self, hook: RevokeHook) -> Self {
        self.on_revoke = Some(hook);
        self
    }

    /// The errors librdkafka reported to this consumer.
    pub fn client_log(&self) -> &ClientLog {
        &self.log
    }

    fn send(&self, event: RebalanceEvent) {
        // A service that stopped listening is shutting down; nothing to do.
        let _ = self.events.send(event);
    }
}

fn partitions(tpl: &TopicPartitionList) -> Vec<Partition> {
    tpl.elements()
        .iter()
        .map(|e| Partition {
            topic: e.topic().to_owned(),
            partition: e.partition(),
        })
        .collect()
}

fn names(list: &[Partition]) -> String {
    list.iter()
        .map(Partition::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

impl ClientContext for RebalanceContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        self.log.log(level, fac, message);
    }

    fn error(&self, error: RdKafkaError, reason: &str) {
        self.log.error(error, reason);
    }
}

impl ConsumerContext for RebalanceContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(tpl) => {
                let revoked = partitions(tpl);
                info!(partitions = %names(&revoked), "Partitions revoked.");
                if let Some(hook) = &self.on_revoke {
                    if catch_unwind(AssertUnwindSafe(|| hook(consumer, &revoked))).is_err() {
                        error!(partitions = %names(&revoked), "Revoke hook panicked; state of these partitions may be replayed.");
                    }
                }
                self.send(RebalanceEvent::Revoked(revoked));
            }
            Rebalance::Assign(_) => {}
            Rebalance::Error(e) => {
                warn!(error = %e, "Rebalance failed.");
                self.send(RebalanceEvent::Failed(e.to_string()));
            }
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            let assigned = partitions(tpl);
            info!(partitions = %names(&assigned), "Partitions assigned.");
            self.send(RebalanceEvent::Assigned(assigned));
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        match result {
            Ok(()) => debug!(partitions = offsets.count(), "Offsets committed."),
            // Nothing stored since the last commit: not a failure.
            Err(RdKafkaError::ConsumerCommit(rdkafka::types::RDKafkaErrorCode::NoOffset)) => {}
            Err(e) => {
                warn!(error = %e, offsets = ?offsets, "Committing offsets failed; they will be retried.")
            }
        }
    }
}
