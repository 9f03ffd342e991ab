//! relbot-detector: a consumer group on the flows topic (`relbot.flows.v1`). Every assigned
//! partition gets its own [`relbot_engine::Engine`], restored from the compacted state
//! changelog (`relbot.detector-state.v1`, co-partitioned with the flows) before any of its
//! flows is processed; detections go to `relbot.detections.v1`, keyed by host.
//!
//! Per poll batch: ingest every flow with its offset and advance the engines (partitions in
//! parallel, `detector.parallelism`), deliver the detections and wait for them. At most once
//! per `detector.checkpoint_interval` per partition (and on revoke, flush and shutdown),
//! write the host states changed since the last checkpoint (then the partition's clock),
//! wait for the acknowledgements, and only then store the offsets. A crash at any point
//! replays records that the restored state skips as duplicates, and the records after the
//! last checkpoint give the same detections (same ids) again, so no flow is counted twice
//! or lost.
//!
//! Layout:
//! - [`config`]: the typed configuration (`config/default.toml`);
//! - [`process`]: the partitions of this replica and one batch's processing;
//! - [`changelog`]: the changelog's record layout, restore and writes;
//! - [`checkpoint`]: checkpoints (changelog written, then offsets stored), also on revoke;
//! - [`metrics`]: Prometheus metrics;
//! - [`error`]: the error type, [`DetectorError`].
//!
//! [`run`] is the service: `main.rs` hands it to `relbot_service::run_main`.

pub mod changelog;
pub mod checkpoint;
pub mod config;
pub mod error;
pub mod metrics;
pub mod process;

use std::sync::Arc;
use std::time::Duration;

use futures_util::{FutureExt as _, StreamExt as _};
use relbot_codec::{DetectionCodec, FlowCodec};
use relbot_kafka::rdkafka::consumer::{CommitMode, Consumer, ConsumerContext, StreamConsumer};
use relbot_kafka::rdkafka::message::Message;
use relbot_kafka::rdkafka::producer::Producer as _;
use relbot_kafka::{
    ensure_topics, ClientLog, ProduceStats, RebalanceContext, RebalanceEvent, TopicSpec,
};
use relbot_service::Context;
use tokio::sync::mpsc::UnboundedReceiver;
use tracing::{error, info, warn};

pub use config::DetectorConfig;
pub use error::DetectorError;

use crate::changelog::Changelog;
use crate::metrics::DetectorMetrics;
use crate::process::{Detector, Polled};

/// How often idle partitions are looked for (flush, checkpoint, rebalance events).
const IDLE_CHECK: Duration = Duration::from_millis(250);

/// The topics the detector creates when `detector.create_topics` is set.
fn topic_specs(config: &DetectorConfig) -> Vec<TopicSpec> {
    let t = &config.kafka.topics;
    let spec = |name: &str, compacted: bool| TopicSpec {
        name: name.to_owned(),
        partitions: t.partitions,
        replication_factor: t.replication_factor,
        compacted,
    };
    vec![
        spec(&t.flows, false),
        spec(&t.detections, false),
        // Co-partitioned with the flows: same count, partition p holds partition p's state.
        spec(&t.detector_state, true),
    ]
}

/// Applies the rebalance events received so far.
async fn rebalance(
    events: &mut UnboundedReceiver<RebalanceEvent>,
    detector: &mut Detector,
    flows_topic: &str,
    ctx: &Context,
) -> Result<(), DetectorError> {
    while let Ok(event) = events.try_recv() {
        match event {
            RebalanceEvent::Assigned(partitions) => {
                ctx.ready.set_not_ready();
                let ours: Vec<i32> = partitions
                    .iter()
                    .filter(|p| p.topic == flows_topic)
                    .map(|p| p.partition)
                    .collect();
                detector.assign(&ours).await?;
                ctx.ready.set_ready();
            }
            RebalanceEvent::Revoked(partitions) => detector.revoke(
                partitions
                    .iter()
                    .filter(|p| p.topic == flows_topic)
                    .map(|p| p.partition),
            ),
            RebalanceEvent::Failed(_) => {}
        }
    }
    Ok(())
}

/// Runs the detector until `ctx.shutdown` is cancelled: the batch in hand is finished
/// (delivered, offsets stored), stored offsets are committed, the producer is flushed.
/// Unflushed windows stay open: the next owner continues them from the changelog.
pub async fn run(config: DetectorConfig, ctx: Context) -> Result<(), DetectorError> {
    let metrics = DetectorMetrics::register(&ctx.metrics);
    let kafka = &config.kafka;
    let flows_topic = kafka.topics.flows.clone();
    let settings = &config.detector;
    let engine_config = config.engine.engine_config()?;
    let algorithm = config.algorithm.build()?;
    if settings.create_topics {
        ensure_topics(kafka, &topic_specs(&config)).await?;
    }
    let producer = relbot_kafka::producer(kafka)?;
    let stats = Arc::new(ProduceStats::default());
    let codec =
        DetectionCodec::from_config(config.registry.as_ref(), &kafka.topics.detections).await?;
    let changelog = Changelog::new(
        kafka,
        &kafka.topics.detector_state,
        settings.restore_timeout,
    )?;
    let mut detector = Detector::new(
        engine_config,
        algorithm,
        kafka.topics.detections.clone(),
        codec,
        producer.clone(),
        Arc::clone(&stats),
        changelog,
        metrics,
        settings.max_future_skew,
        settings.idle_flush,
        settings.threads(),
        settings.checkpoint_interval,
    );
    detector.set_filter(&config.filter)?;
    let flow_codec = FlowCodec::single_object();
    let (context, mut events) = RebalanceContext::new();
    // Every batch is delivered before the consumer is polled again; checkpoint the revoked
    // partitions (changelog written, offsets stored) and commit before they move, so that
    // the next owner restores exactly what was committed and replays nothing.
    let checkpointer = detector.checkpointer(&flows_topic);
    let context = context.with_revoke_hook(Box::new(move |consumer, revoked| {
        checkpointer.revoke(consumer, revoked);
        if let Err(e) = consumer.commit_consumer_state(CommitMode::Sync) {
            info!(error = %e, "Commit on revoke.");
        }
    }));
    let consumer = relbot_kafka::consumer(kafka, context)?;
    // Asks the broker for high watermarks (consumer lag); never subscribes or commits.
    let watermarks = {
        let mut config = kafka.clone();
        config.consumer.group_id = format!("{}-watermarks", kafka.consumer.group_id);
        config.consumer.group_instance_id = None;
        Arc::new(relbot_kafka::consumer(&config, ClientLog::default())?)
    };
    consumer
        .subscribe(&[&flows_topic])
        .map_err(|source| relbot_kafka::KafkaError::Subscribe {
            topics: vec![flows_topic.clone()],
            source,
        })?;
    ctx.ready.set_ready();
    info!(topic = %flows_topic, "Detector consuming.");
    let mut idle = tokio::time::interval(IDLE_CHECK);
    idle.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut lag = tokio::time::interval(settings.lag_interval);
    lag.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Checkpoints of partitions that have had no input since their interval began, and
    // rebalance events while no records come.
    let mut checkpoint = tokio::time::interval(IDLE_CHECK);
    checkpoint.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    let result = loop {
        let first = tokio::select! {
            biased;
            () = ctx.shutdown.cancelled() => break Ok(()),
            m = consumer.recv() => m,
            _ = lag.tick() => {
                report_lag(&consumer, &watermarks, &flows_topic, &detector).await;
                continue;
            }
            _ = idle.tick(), if !settings.idle_flush.is_zero() => {
                if let Err(e) = rebalance(&mut events, &mut detector, &flows_topic, &ctx).await {
                    break Err(e);
                }
                match detector.flush_idle().await {
                    Ok(store) => store_offsets(&consumer, &flows_topic, store),
                    Err(e) => break Err(e),
                }
                continue;
            }
            _ = checkpoint.tick() => {
                if let Err(e) = rebalance(&mut events, &mut detector, &flows_topic, &ctx).await {
                    break Err(e);
                }
                match detector.checkpoint(false).await {
                    Ok(store) => store_offsets(&consumer, &flows_topic, store),
                    Err(e) => break Err(e),
                }
                continue;
            }
        };
        let mut batch: Vec<Polled> = Vec::with_capacity(settings.max_batch.min(1 << 16));
        match first {
            Ok(m) => batch.push(polled(&flow_codec, &m)),
            Err(e) => {
                warn!(error = %e, "Consumer error.");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        }
        let deadline = tokio::time::Instant::now() + settings.batch_wait;
        fill_batch(
            &consumer,
            &flow_codec,
            &mut batch,
            settings.max_batch,
            deadline,
        )
        .await;
        if let Err(e) = rebalance(&mut events, &mut detector, &flows_topic, &ctx).await {
            break Err(e);
        }
        // Partitions assigned but not announced yet (the event comes after the assignment).
        if let Err(e) = assign_unannounced(&consumer, &flows_topic, &batch, &mut detector).await {
            break Err(e);
        }
        match detector.process(batch).await {
            Ok(store) => store_offsets(&consumer, &flows_topic, store),
            Err(e) => break Err(e),
        }
        match detector.flush_idle().await {
            Ok(store) => store_offsets(&consumer, &flows_topic, store),
            Err(e) => break Err(e),
        }
    };
    ctx.ready.set_not_ready();
    let result = match result {
        Ok(()) => {
            info!("Draining: checkpointing every partition, committing, flushing the producer.");
            match detector.checkpoint(true).await {
                Ok(store) => {
                    store_offsets(&consumer, &flows_topic, store);
                    Ok(())
                }
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    };
    if result.is_err() {
        // Undelivered effects may be in the engines: the revoke hook must not write them.
        detector.abandon();
    }
    if let Err(e) = consumer.commit_consumer_state(CommitMode::Sync) {
        info!(error = %e, "Final commit.");
    }
    drop(consumer);
    let flushed = tokio::task::spawn_blocking(move || producer.flush(Duration::from_secs(5))).await;
    if let Ok(Err(e)) = flushed {
        error!(error = %e, "Producer flush failed.");
    }
    result
}

/// Stores the offsets of checkpointed partitions (committed every
/// `kafka.consumer.commit_interval`, and on revoke and shutdown).
fn store_offsets<C: Consumer<RebalanceContext>>(
    consumer: &C,
    flows_topic: &str,
    store: std::collections::BTreeMap<i32, i64>,
) {
    for (partition, offset) in store {
        if let Err(e) = consumer.store_offset(flows_topic, partition, offset) {
            warn!(partition, offset, error = %e, "Cannot store offset (partition revoked?); the records will be seen again.");
        }
    }
}

/// Restores the partitions of `batch` that are assigned but not owned yet.
async fn assign_unannounced<C: Consumer<RebalanceContext>>(
    consumer: &C,
    flows_topic: &str,
    batch: &[Polled],
    detector: &mut Detector,
) -> Result<(), DetectorError> {
    let mut missing: Vec<i32> = batch
        .iter()
        .map(|(p, _, _)| *p)
        .filter(|p| !detector.owns(*p))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    missing.sort_unstable();
    missing.dedup();
    // Not held across an await: a partition list is not `Send`.
    let assigned: Vec<i32> = match consumer.assignment() {
        Ok(list) => list
            .elements_for_topic(flows_topic)
            .iter()
            .map(|e| e.partition())
            .collect(),
        Err(_) => return Ok(()),
    };
    let missing: Vec<i32> = missing
        .into_iter()
        .filter(|p| assigned.contains(p))
        .collect();
    detector.assign(&missing).await
}

/// One consumed record: partition, offset and the decoded flow.
fn polled(codec: &FlowCodec, message: &impl Message) -> Polled {
    (
        message.partition(),
        message.offset(),
        codec.decode(message.payload().unwrap_or_default()),
    )
}

/// Adds records to `batch` until it holds `max` or `deadline` passes. Records the client
/// has already fetched are taken without a timer (the common case under load); only an
/// empty queue waits, at most until `deadline`.
async fn fill_batch<C: ConsumerContext + 'static>(
    consumer: &StreamConsumer<C>,
    codec: &FlowCodec,
    batch: &mut Vec<Polled>,
    max: usize,
    deadline: tokio::time::Instant,
) {
    let mut stream = consumer.stream();
    while batch.len() < max {
        let next = match stream.next().now_or_never() {
            Some(next) => next,
            None => match tokio::time::timeout_at(deadline, stream.next()).await {
                Ok(next) => next,
                Err(_) => break,
            },
        };
        match next {
            Some(Ok(m)) => batch.push(polled(codec, &m)),
            Some(Err(e)) => {
                warn!(error = %e, "Consumer error.");
                break;
            }
            None => break,
        }
    }
}

/// Sets the `consumer_lag` gauge of every owned partition: its high watermark (asked of
/// the broker by `watermarks`, a client of its own, off the async threads) minus the
/// consumer's position. Partitions not fetched yet (no position) are not reported.
async fn report_lag<C: Consumer<RebalanceContext>>(
    consumer: &C,
    watermarks: &Arc<StreamConsumer<ClientLog>>,
    topic: &str,
    detector: &Detector,
) {
    let owned = detector.partitions();
    if owned.is_empty() {
        return;
    }
    let highs: Vec<(i32, i64)> = {
        let (client, topic, owned) = (Arc::clone(watermarks), topic.to_owned(), owned.clone());
        let fetched = tokio::task::spawn_blocking(move || {
            owned
                .into_iter()
                .filter_map(|p| {
                    let (_, high) = client
                        .fetch_watermarks(&topic, p, Duration::from_secs(2))
                        .ok()?;
                    Some((p, high))
                })
                .collect()
        })
        .await;
        match fetched {
            Ok(highs) => highs,
            Err(_) => return,
        }
    };
    // Not held across an await: a partition list is not `Send`.
    let positions: Vec<(i32, i64)> = match consumer.position() {
        Ok(list) => list
            .elements_for_topic(topic)
            .iter()
            .filter_map(|e| e.offset().to_raw().map(|o| (e.partition(), o)))
            .collect(),
        Err(_) => return,
    };
    for (p, high) in highs {
        if let Some((_, pos)) = positions.iter().find(|(q, _)| *q == p) {
            if *pos >= 0 && high >= 0 && detector.owns(p) {
                detector.metrics.lag(p, (high - pos).max(0));
            }
        }
    }
}
