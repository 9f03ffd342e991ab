//! The `webhook` sink end to end: the real reporter binary POSTs to a real HTTP server. Every
//! request carries a valid HMAC-SHA256 signature of its body with the shared secret (checked
//! here with the `hmac` crate, not the sink's code), the report id header and relbot's JSON
//! document; a 429 with `Retry-After` is honoured (the retry comes after it, although the
//! sink's own backoff is far shorter); another 4xx sends the report to the dead-letter topic
//! at once with the receiver's reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use anyhow::Context as _;
use hmac::{Hmac, Mac};
use relbot_codec::{ReportId, ReportStatus, SrcMode};
use relbot_e2e::reporter::{
    free_port, produce_detections, read_reports, wait_for, ReporterProcess, ReporterTopics,
};
use relbot_e2e::webhook::{Answer, Received, WebhookReceiver};
use relbot_kafka::testing::TestBroker;
use relbot_report::format::ReportDoc;
use relbot_report::testing::detection;
use sha2::Sha256;

const TEST: &str = "reporter-webhook";
const SECRET: &str = "webhook-secret-5d8a1c";
const RETRY_AFTER_SECS: u64 = 3;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks the signature header of `r` against HMAC-SHA256(SECRET, body).
fn signature_ok(r: &Received) -> bool {
    let Some(header) = r.headers.get("x-relbot-signature-256") else {
        return false;
    };
    let Some(sig) = header.strip_prefix("sha256=") else {
        return false;
    };
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(&r.body);
    hex(&mac.finalize().into_bytes()) == sig
}

fn host_of(r: &Received) -> String {
    serde_json::from_slice::<ReportDoc>(&r.body)
        .map(|d| d.host)
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_is_signed_honours_retry_after_and_dead_letters_4xx() -> anyhow::Result<()> {
    let Some(broker) = TestBroker::connect(TEST).await else {
        return Ok(());
    };
    let started = Instant::now();
    let receiver = WebhookReceiver::start().await?;
    let ok = detection("10.51.0.1", &[2, 0, 0, 0]);
    let throttled = detection("10.51.0.2", &[0, 3, 0, 0]);
    let rejected = detection("10.51.0.3", &[1, 0, 1, 0]);
    receiver.script(
        &throttled.host.to_string(),
        vec![Answer::too_many(RETRY_AFTER_SECS)],
    );
    receiver.script(
        &rejected.host.to_string(),
        vec![Answer::status(422, "unknown field: periods")],
    );
    let topics = ReporterTopics::create(&broker, TEST, 2).await?;
    let dir = tempfile::tempdir()?;
    let port = free_port()?;
    // The sink's own backoff stays under 200 ms: only Retry-After explains a longer wait.
    let toml = format!(
        r#"{base}
[sinks.hook]
kind = "webhook"
url = "{url}"
secret_env = "RELBOT_TEST_WEBHOOK_SECRET"
timeout = "5s"
retry = {{ initial_backoff = "100ms", max_backoff = "200ms" }}
"#,
        base = topics.base_toml(&broker.brokers, port),
        url = receiver.url,
    );
    let env = [("RELBOT_TEST_WEBHOOK_SECRET", SECRET)];
    let mut reporter = ReporterProcess::start(dir.path(), &toml, port, &env)?;
    reporter.wait_ready(Duration::from_secs(30)).await?;
    let all = [ok.clone(), throttled.clone(), rejected.clone()];
    produce_detections(&broker.config(TEST), &topics.detections, &all).await?;

    // 1 POST for `ok`, 2 for `throttled` (429, then 200), 1 for `rejected` (422).
    wait_for("4 POSTs", Duration::from_secs(60), || {
        receiver.received().len() >= 4
    })
    .await
    .with_context(|| reporter.logs())?;
    let dead = read_reports(
        &broker.config(TEST),
        &topics.dlq,
        1,
        Duration::from_secs(30),
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let received = receiver.received();
    assert_eq!(received.len(), 4, "{received:#?}");

    // Every POST: signed with the shared secret, JSON document, report id header = body's.
    for r in &received {
        assert!(signature_ok(r), "bad signature: {r:?}");
        assert!(r.headers["content-type"].starts_with("application/json"));
        let doc: ReportDoc = serde_json::from_slice(&r.body).context("a JSON report")?;
        let d = all
            .iter()
            .find(|d| d.host.to_string() == doc.host)
            .context("unknown host")?;
        assert_eq!(doc.report_id, ReportId::derive(&d.detection_id, "hook"));
        assert_eq!(r.headers["x-relbot-report-id"], doc.report_id.to_string());
        assert_eq!(doc.detection_id, d.detection_id);
        assert_eq!((doc.sink.as_str(), doc.src_mode), ("hook", SrcMode::Plain));
        assert_eq!(
            doc.confidence_level,
            relbot_report::format::confidence_level(d.score)
        );
    }
    let posts =
        |host: &str| -> Vec<&Received> { received.iter().filter(|r| host_of(r) == host).collect() };
    assert_eq!(posts(&ok.host.to_string()).len(), 1);
    assert_eq!(posts(&ok.host.to_string())[0].status, 200);

    // 429 with Retry-After: the retry came after it, then 200; the same body both times.
    let throttled_posts = posts(&throttled.host.to_string());
    assert_eq!(
        throttled_posts.iter().map(|r| r.status).collect::<Vec<_>>(),
        [429, 200]
    );
    let waited = throttled_posts[1].at - throttled_posts[0].at;
    assert!(
        waited >= Duration::from_secs(RETRY_AFTER_SECS) - Duration::from_millis(100),
        "retried after {waited:?}, before Retry-After: {RETRY_AFTER_SECS} s"
    );
    assert_eq!(throttled_posts[0].body, throttled_posts[1].body);

    // 422: once, then the dead-letter topic with the receiver's answer as the reason.
    let rejected_posts = posts(&rejected.host.to_string());
    assert_eq!(rejected_posts.len(), 1, "a 4xx is not retried");
    assert_eq!(dead.len(), 1, "{dead:?}");
    let letter = &dead[0];
    assert_eq!(
        letter.report_id,
        ReportId::derive(&rejected.detection_id, "hook")
    );
    assert_eq!(letter.status, ReportStatus::DeadLettered);
    assert_eq!(
        (letter.sink_name.as_str(), letter.sink_kind.as_str()),
        ("hook", "webhook")
    );
    assert_eq!(letter.attempts, 1);
    let reason = letter.reason.clone().unwrap_or_default();
    assert!(
        reason.contains("422") && reason.contains("unknown field: periods"),
        "{reason}"
    );

    let (_, metrics) = reporter.get("/metrics").await?;
    for line in [
        r#"relbot_reporter_reports_delivered_total{sink="hook"} 2"#,
        r#"relbot_reporter_reports_retried_total{sink="hook"} 1"#,
        r#"relbot_reporter_reports_dead_lettered_total{sink="hook"} 1"#,
        r#"relbot_reporter_reports_built_total{sink="hook"} 3"#,
    ] {
        assert!(metrics.contains(line), "{line} missing in:\n{metrics}");
    }
    assert!(
        !reporter.logs().contains(SECRET),
        "the secret is never logged"
    );
    eprintln!(
        "{TEST}: retry {:.2} s after a 429 with Retry-After: {RETRY_AFTER_SECS}; {:.1} s",
        waited.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    reporter.terminate(Duration::from_secs(15)).await?;
    topics.delete(&broker).await;
    Ok(())
}
