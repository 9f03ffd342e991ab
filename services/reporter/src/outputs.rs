//! The reporter's sinks: those of `relbot-report` and a Kafka topic, as one enum.

use std::sync::Arc;

use relbot_codec::{Detection, Report, ReportCodec, ReportId, ReportStatus};
use relbot_kafka::rdkafka::producer::FutureRecord;
use relbot_kafka::{enqueue_with_backpressure, ProduceStats, Producer};
use relbot_report::format::{to_json, ReportDoc, DEFAULT_REPORT_TYPE};
use relbot_report::{
    AttemptError, Deliver, Outcome, Prepared, Protector, ReportError, RetryObserver, RetryPolicy,
    Sink,
};
use tokio_util::sync::CancellationToken;

use crate::config::{KafkaSinkConfig, KafkaSinkFormat, SinkSettings};
use crate::state::now_ms;

/// A sink writing reports to a Kafka topic.
pub struct KafkaSink {
    name: String,
    topic: String,
    format: KafkaSinkFormat,
    protector: Protector,
    retry: RetryPolicy,
    producer: Producer,
    stats: Arc<ProduceStats>,
    codec: ReportCodec,
}

impl std::fmt::Debug for KafkaSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSink")
            .field("name", &self.name)
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl KafkaSink {
    fn prepare(&self, detection: &Detection) -> Result<Prepared, ReportError> {
        let report_id = ReportId::derive(&detection.detection_id, &self.name);
        let host = self.protector.apply(detection.host).to_string();
        let body = match self.format {
            KafkaSinkFormat::Json => to_json(&ReportDoc::build(
                detection,
                &self.name,
                &self.protector,
                DEFAULT_REPORT_TYPE,
            ))?,
            KafkaSinkFormat::Avro => self
                .codec
                .to_vec(&Report {
                    report_id,
                    detection_id: detection.detection_id,
                    sink_name: self.name.clone(),
                    sink_kind: "kafka".to_owned(),
                    host: host.clone(),
                    src_mode: self.protector.mode(),
                    status: ReportStatus::Delivered,
                    attempts: 1,
                    reason: None,
                    at_ms: now_ms(),
                })
                .map_err(|e| ReportError::Encode(e.to_string()))?,
        };
        Ok(Prepared {
            report_id,
            detection_id: detection.detection_id,
            host,
            src_mode: self.protector.mode(),
            body,
        })
    }
}

impl Deliver for KafkaSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    async fn attempt(&self, report: &Prepared) -> Result<(), AttemptError> {
        let record = FutureRecord::to(&self.topic)
            .key(&report.host)
            .payload(&report.body);
        let result = match enqueue_with_backpressure(&self.producer, record, &self.stats).await {
            Ok(pending) => pending.wait().await,
            Err(e) => Err(e),
        };
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.is_fatal() => Err(AttemptError::permanent(e.to_string())),
            Err(e) => Err(AttemptError::transient(e.to_string())),
        }
    }
}

/// One configured sink.
#[derive(Debug)]
pub enum Output {
    /// CCH, JSON lines, webhook, syslog.
    Report(Sink),
    /// A Kafka topic.
    Kafka(KafkaSink),
}

impl Output {
    /// Builds the sink `name`; Kafka sinks share the service's producer.
    pub fn build(
        name: &str,
        settings: &SinkSettings,
        producer: &Producer,
        stats: &Arc<ProduceStats>,
    ) -> Result<Self, ReportError> {
        match (settings, settings.report_sink()) {
            (_, Some(config)) => Ok(Self::Report(config.build(name)?)),
            (
                SinkSettings::Kafka(KafkaSinkConfig {
                    topic,
                    format,
                    protection,
                    retry,
                }),
                None,
            ) => Ok(Self::Kafka(KafkaSink {
                name: name.to_owned(),
                topic: topic.clone(),
                format: *format,
                protector: protection.build(&format!("sinks.{name}.protection"))?,
                retry: retry.clone(),
                producer: producer.clone(),
                stats: Arc::clone(stats),
                codec: ReportCodec::single_object(),
            })),
            (_, None) => Err(ReportError::config(format!("sink {name}: unknown kind"))),
        }
    }

    /// The configured name.
    pub fn name(&self) -> &str {
        match self {
            Self::Report(s) => s.name(),
            Self::Kafka(s) => &s.name,
        }
    }

    /// `Report.sink_kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Report(s) => s.kind(),
            Self::Kafka(_) => "kafka",
        }
    }

    /// Whether the receiver can be asked if it has a report.
    pub fn can_look_up(&self) -> bool {
        match self {
            Self::Report(s) => s.can_look_up(),
            Self::Kafka(_) => false,
        }
    }

    /// The report for this sink, or why it cannot be built.
    pub fn prepare(&self, detection: &Detection) -> Result<Prepared, ReportError> {
        match self {
            Self::Report(s) => s.prepare(detection),
            Self::Kafka(s) => s.prepare(detection),
        }
    }

    /// The host as this sink discloses it, and how.
    pub fn disclose(&self, detection: &Detection) -> (String, relbot_codec::SrcMode) {
        let protector = match self {
            Self::Report(s) => s.protector(),
            Self::Kafka(s) => &s.protector,
        };
        (
            protector.apply(detection.host).to_string(),
            protector.mode(),
        )
    }

    /// Delivers with the sink's retry policy.
    pub async fn deliver(
        &self,
        report: &Prepared,
        look_up_first: bool,
        shutdown: &CancellationToken,
        observer: &dyn RetryObserver,
    ) -> Outcome {
        match self {
            Self::Report(s) => s.deliver(report, look_up_first, shutdown, observer).await,
            Self::Kafka(s) => {
                relbot_report::retry::deliver(s, report, look_up_first, shutdown, observer).await
            }
        }
    }
}
