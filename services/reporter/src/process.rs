//! What the reporter does with one detection: apply the rule and the suppression, then for
//! every sink (concurrently) skip what was already done, deliver, dead-letter failures, and
//! record each outcome in the state topic before the detection's offset may be stored.
//!
//! Order per sink, so that a crash anywhere re-delivers nothing already acknowledged:
//! 1. the report id (detection id + sink name) marked delivered or dead-lettered → skip;
//! 2. sinks that can look reports up (CCH) first write a `pending` mark: after a crash, a
//!    pending report is looked up before it is sent again;
//! 3. deliver with retries; on acknowledgement write `delivered`; on a permanent failure
//!    write the `Report` to the dead-letter topic, then `dead_lettered`;
//! 4. when every sink is done, write the host's `last` report (suppression) — then the
//!    caller stores the offset.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use futures_util::future::join_all;
use relbot_codec::{Detection, Report, ReportCodec, ReportId, ReportStatus};
use relbot_kafka::{ProduceStats, Producer};
use relbot_report::{Outcome, ReportingRule};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::config::SuppressionSettings;
use crate::error::ReporterError;
use crate::metrics::ReporterMetrics;
use crate::outputs::Output;
use crate::state::{
    decide, now_ms, send_until_acked, Decision, HostState, LastReport, MarkStatus, StateStore,
};

/// Whether a detection was handled completely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// Every effect is durable: store the offset.
    Done,
    /// Shutdown interrupted it: do not store the offset (it is redone after the restart).
    Interrupted,
}

/// The dead-letter topic writer.
pub struct DeadLetters {
    /// Topic, e.g. `relbot.reports-dlq.v1`.
    pub topic: String,
    /// The service's producer.
    pub producer: Producer,
    /// Its counters.
    pub stats: Arc<ProduceStats>,
    /// Avro `Report`, single-object encoding.
    pub codec: ReportCodec,
}

impl std::fmt::Debug for DeadLetters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetters")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

/// The reporter's logic over its sinks and state.
#[derive(Debug)]
pub struct Reporter {
    /// The sinks.
    pub outputs: Vec<Output>,
    /// The reporting rule.
    pub rule: ReportingRule,
    /// The suppression rule.
    pub suppression: SuppressionSettings,
    /// Per-host state.
    pub state: StateStore,
    /// Dead letters.
    pub dead_letters: DeadLetters,
    /// Metrics.
    pub metrics: ReporterMetrics,
}

impl Reporter {
    /// Handles `detection` read from `partition`.
    pub async fn handle(
        &mut self,
        partition: i32,
        detection: &Detection,
        shutdown: &CancellationToken,
    ) -> Result<Handled, ReporterError> {
        if let Err(below) = self.rule.check(detection) {
            debug!(detection_id = %detection.detection_id, reason = %below, "Below the reporting rule.");
            self.metrics.detection("below_rule");
            return Ok(Handled::Done);
        }
        let host = detection.host;
        let state = self.state.get(partition, host);
        let decision = decide(
            state.last.as_ref(),
            detection,
            self.suppression.quiet_time,
            self.suppression.worsen_score_margin,
        );
        if decision == Decision::Quiet {
            for output in &self.outputs {
                self.metrics.suppressed(output.name(), "quiet_time");
            }
            self.metrics.detection("suppressed");
            debug!(detection_id = %detection.detection_id, "Suppressed: host reported recently and not worse.");
            return Ok(Handled::Done);
        }
        let shared = Mutex::new(state);
        let done = {
            let ctx = SinkContext {
                partition,
                host,
                detection,
                state: &self.state,
                shared: &shared,
                dead_letters: &self.dead_letters,
                metrics: &self.metrics,
                shutdown,
            };
            join_all(self.outputs.iter().map(|output| ctx.deliver(output))).await
        };
        let mut complete = true;
        for result in done {
            complete &= result?;
        }
        if !complete {
            return Ok(Handled::Interrupted);
        }
        let mut state = shared.into_inner();
        state.last = Some(LastReport::of(detection));
        if !self.state.write(partition, host, &state, shutdown).await? {
            return Ok(Handled::Interrupted);
        }
        self.metrics.state_written();
        self.state.put(partition, host, state);
        self.metrics.detection("reported");
        Ok(Handled::Done)
    }
}

struct SinkContext<'a> {
    partition: i32,
    host: IpAddr,
    detection: &'a Detection,
    state: &'a StateStore,
    shared: &'a Mutex<HostState>,
    dead_letters: &'a DeadLetters,
    metrics: &'a ReporterMetrics,
    shutdown: &'a CancellationToken,
}

impl SinkContext<'_> {
    /// Sets a mark and writes the host state; the lock serialises writes, so the last record
    /// written holds every mark.
    async fn record(&self, id: &ReportId, status: MarkStatus) -> Result<bool, ReporterError> {
        let mut state = self.shared.lock().await;
        state.set_mark(id, status);
        let written = self
            .state
            .write(self.partition, self.host, &state, self.shutdown)
            .await?;
        if written {
            self.metrics.state_written();
        }
        Ok(written)
    }

    /// Delivers to one sink; `Ok(false)` when shutdown interrupted it.
    async fn deliver(&self, output: &Output) -> Result<bool, ReporterError> {
        let name = output.name();
        let id = ReportId::derive(&self.detection.detection_id, name);
        let mark = self.shared.lock().await.mark(&id);
        let look_up_first = match mark.map(|m| m.status) {
            Some(MarkStatus::Delivered | MarkStatus::DeadLettered) => {
                self.metrics.suppressed(name, "already_done");
                debug!(sink = name, report_id = %id, "Already delivered or dead-lettered.");
                return Ok(true);
            }
            Some(MarkStatus::Pending) => true,
            None => false,
        };
        self.metrics.built(name);
        let prepared = match output.prepare(self.detection) {
            Ok(p) => p,
            Err(e) => {
                warn!(sink = name, report_id = %id, error = %e, "Report cannot be built.");
                return self.dead_letter(output, &id, 0, e.to_string()).await;
            }
        };
        if output.can_look_up() && mark.is_none() && !self.record(&id, MarkStatus::Pending).await? {
            return Ok(false);
        }
        let started = Instant::now();
        match output
            .deliver(&prepared, look_up_first, self.shutdown, self.metrics)
            .await
        {
            Outcome::Delivered { attempts } => {
                self.metrics
                    .delivered(name, started.elapsed().as_secs_f64());
                info!(sink = name, report_id = %id, detection_id = %self.detection.detection_id, attempts, "Report delivered.");
                self.record(&id, MarkStatus::Delivered).await
            }
            Outcome::DeadLetter { attempts, reason } => {
                self.dead_letter(output, &id, attempts, reason).await
            }
            Outcome::Cancelled { .. } => Ok(false),
        }
    }

    async fn dead_letter(
        &self,
        output: &Output,
        id: &ReportId,
        attempts: u32,
        reason: String,
    ) -> Result<bool, ReporterError> {
        let (host, src_mode) = output.disclose(self.detection);
        let report = Report {
            report_id: *id,
            detection_id: self.detection.detection_id,
            sink_name: output.name().to_owned(),
            sink_kind: output.kind().to_owned(),
            host,
            src_mode,
            status: ReportStatus::DeadLettered,
            attempts,
            reason: Some(reason.clone()),
            at_ms: now_ms(),
        };
        let payload = self
            .dead_letters
            .codec
            .to_vec(&report)
            .map_err(ReporterError::Codec)?;
        let dl = self.dead_letters;
        if !send_until_acked(
            &dl.producer,
            &dl.stats,
            &dl.topic,
            None,
            &id.to_string(),
            &payload,
            self.shutdown,
        )
        .await?
        {
            return Ok(false);
        }
        self.metrics.dead_lettered(output.name());
        warn!(sink = output.name(), report_id = %id, attempts, %reason, topic = %dl.topic, "Report dead-lettered.");
        self.record(id, MarkStatus::DeadLettered).await
    }
}
