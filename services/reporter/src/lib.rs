//! relbot-reporter: consumes detections (`relbot.detections.v1`), applies the reporting rule
//! and the suppression of repeats, and delivers one report per host and window to every
//! configured sink (ACDC CCH API v2, JSON lines, webhook, syslog/CEF, Kafka), at least once
//! and — with the state it keeps in Kafka — without re-delivering after a restart what a sink
//! already acknowledged.
//!
//! Layout:
//! - [`config`]: the typed configuration (`config/default.toml`);
//! - [`process`]: one detection → reports → sinks → state, in the order that makes a crash
//!   safe;
//! - [`state`]: per-host state in a compacted, co-partitioned topic; suppression rule;
//! - [`outputs`]: the sinks of `relbot-report` plus the Kafka sink;
//! - [`metrics`]: Prometheus metrics;
//! - [`error`]: the error type, [`ReporterError`].
//!
//! [`run`] is the service: `main.rs` hands it to `relbot_service::run_main`.

pub mod config;
pub mod error;
pub mod metrics;
pub mod outputs;
pub mod process;
pub mod state;

use std::sync::Arc;
use std::time::Duration;

use relbot_codec::{DetectionCodec, ReportCodec};
use relbot_kafka::rdkafka::consumer::Consumer;
use relbot_kafka::rdkafka::message::Message;
use relbot_kafka::rdkafka::producer::Producer as _;
use relbot_kafka::{ensure_topics, ProduceStats, RebalanceContext, RebalanceEvent, TopicSpec};
use relbot_service::Context;
use tracing::{error, info, warn};

pub use config::ReporterConfig;
pub use error::ReporterError;

use crate::config::SinkSettings;
use crate::metrics::ReporterMetrics;
use crate::outputs::Output;
use crate::process::{DeadLetters, Handled, Reporter};
use crate::state::StateStore;

/// The topics the reporter creates when `reporter.create_topics` is set.
fn topic_specs(config: &ReporterConfig) -> Vec<TopicSpec> {
    let t = &config.kafka.topics;
    let spec = |name: &str, compacted: bool| TopicSpec {
        name: name.to_owned(),
        partitions: t.partitions,
        replication_factor: t.replication_factor,
        compacted,
    };
    let mut specs = vec![
        spec(&t.detections, false),
        spec(&t.reports_dlq, false),
        // Co-partitioned with the detections: same count, same key.
        spec(&config.reporter.state_topic, true),
    ];
    for sink in config.sinks.values() {
        if let SinkSettings::Kafka(k) = sink {
            specs.push(spec(&k.topic, false));
        }
    }
    specs
}

/// Runs the reporter until `ctx.shutdown` is cancelled: the detection being handled is
/// finished or abandoned unstored (no new delivery attempt starts), stored offsets are
/// committed, the producer is flushed.
pub async fn run(config: ReporterConfig, ctx: Context) -> Result<(), ReporterError> {
    let metrics = ReporterMetrics::register(&ctx.metrics);
    let kafka = &config.kafka;
    let detections_topic = kafka.topics.detections.clone();
    if config.reporter.create_topics {
        ensure_topics(kafka, &topic_specs(&config)).await?;
    }
    let producer = relbot_kafka::producer(kafka)?;
    let stats = Arc::new(ProduceStats::default());
    let codec = DetectionCodec::from_config(config.registry.as_ref(), &detections_topic).await?;
    let outputs = config
        .sinks
        .iter()
        .map(|(name, settings)| Output::build(name, settings, &producer, &stats))
        .collect::<Result<Vec<_>, _>>()?;
    let state = StateStore::new(
        kafka,
        &config.reporter.state_topic,
        producer.clone(),
        Arc::clone(&stats),
        config.reporter.state_retention,
    )?;
    let mut reporter = Reporter {
        outputs,
        rule: config.rule.clone(),
        suppression: config.suppression.clone(),
        state,
        dead_letters: DeadLetters {
            topic: kafka.topics.reports_dlq.clone(),
            producer: producer.clone(),
            stats: Arc::clone(&stats),
            codec: ReportCodec::single_object(),
        },
        metrics: metrics.clone(),
    };
    let (context, mut events) = RebalanceContext::new();
    let consumer = relbot_kafka::consumer(kafka, context)?;
    consumer.subscribe(&[&detections_topic]).map_err(|source| {
        relbot_kafka::KafkaError::Subscribe {
            topics: vec![detections_topic.clone()],
            source,
        }
    })?;
    ctx.ready.set_ready();
    info!(topic = %detections_topic, sinks = reporter.outputs.len(), "Reporter consuming.");

    loop {
        let received = tokio::select! {
            biased;
            () = ctx.shutdown.cancelled() => break,
            m = consumer.recv() => m,
        };
        let message = match received {
            Ok(m) => m,
            Err(e) => {
                warn!(error = %e, "Consumer error.");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        while let Ok(event) = events.try_recv() {
            if let RebalanceEvent::Revoked(partitions) = event {
                reporter.state.forget(
                    partitions
                        .iter()
                        .filter(|p| p.topic == detections_topic)
                        .map(|p| p.partition),
                );
            }
        }
        let (partition, offset) = (message.partition(), message.offset());
        let payload = message.payload().map(<[u8]>::to_vec);
        drop(message);
        if !reporter.state.has(partition) {
            let restored = reporter.state.restore(partition).await?;
            metrics.restored(restored.hosts as u64, restored.pruned as u64);
        }
        let detection = match payload.as_deref().map(|p| codec.decode(p)) {
            Some(Ok(d)) => Some(d),
            Some(Err(e)) => {
                warn!(topic = %detections_topic, partition, offset, error = %e, "Undecodable detection skipped.");
                None
            }
            None => {
                warn!(topic = %detections_topic, partition, offset, "Detection without payload skipped.");
                None
            }
        };
        let handled = match &detection {
            Some(d) => reporter.handle(partition, d, &ctx.shutdown).await?,
            None => {
                metrics.detection("invalid");
                Handled::Done
            }
        };
        match handled {
            Handled::Done => {
                if let Err(e) = consumer.store_offset(&detections_topic, partition, offset) {
                    warn!(partition, offset, error = %e, "Cannot store offset (partition revoked?); the detection will be seen again.");
                }
            }
            Handled::Interrupted => break,
        }
    }
    info!("Draining: committing stored offsets and flushing the producer.");
    ctx.ready.set_not_ready();
    if let Err(e) =
        consumer.commit_consumer_state(relbot_kafka::rdkafka::consumer::CommitMode::Sync)
    {
        // Nothing stored since the last commit is reported as an error too.
        info!(error = %e, "Final commit.");
    }
    drop(consumer);
    let flushed = tokio::task::spawn_blocking(move || producer.flush(Duration::from_secs(5))).await;
    if let Ok(Err(e)) = flushed {
        error!(error = %e, "Producer flush failed.");
    }
    Ok(())
}
