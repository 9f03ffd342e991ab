//! Outage and crash: the CCH stand-in answers 503 for a while, then hangs (storing what it
//! was sent, as a server that commits and then times out), then recovers — every report
//! arrives exactly once. Then the reporter process is killed with SIGKILL in the middle of
//! deliveries and restarted: no report is lost and none arrives twice.
//!
//! The outage phases last `RELBOT_TEST_OUTAGE_PHASE_SECS` seconds each (default 30, as the
//! issue's acceptance describes; a smaller value gives a quicker local run). The sink's
//! request timeout (1 s) and backoff cap (1 s) keep retrying throughout each phase, so every
//! phase sees many attempts; the whole test takes about 2 × phase + 20 s.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use relbot_codec::Detection;
use relbot_e2e::cch::{CchStandIn, Mode};
use relbot_e2e::reporter::{
    free_port, produce_detections, read_reports, wait_for, ReporterProcess, ReporterTopics,
};
use relbot_kafka::testing::TestBroker;
use relbot_report::testing::detection;

const TEST: &str = "reporter-outage";
const KEY: &str = "outage-key-9c1f";

fn detections(prefix: u8, n: u8) -> Vec<Detection> {
    (0..n)
        .map(|i| {
            detection(
                &format!("10.{prefix}.{i}.1"),
                &[1 + u32::from(i % 3), 0, 1, 0],
            )
        })
        .collect()
}

fn sources(stand_in: &CchStandIn) -> Vec<String> {
    stand_in
        .reports()
        .iter()
        .map(|r| r["source_value"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_then_crash_every_report_exactly_once() -> anyhow::Result<()> {
    let Some(broker) = TestBroker::connect(TEST).await else {
        return Ok(());
    };
    let phase = Duration::from_secs(
        std::env::var("RELBOT_TEST_OUTAGE_PHASE_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(30),
    );
    let started = Instant::now();
    let stand_in = CchStandIn::start(KEY).await?;
    let topics = ReporterTopics::create(&broker, TEST, 3).await?;
    let dir = tempfile::tempdir()?;
    let port = free_port()?;
    let toml = format!(
        r#"{base}
[sinks.cch]
kind = "cch"
url = "{url}"
api_key_env = "RELBOT_TEST_CCH_KEY"
ca_file = "{ca}"
timeout = "1s"
retry = {{ initial_backoff = "200ms", max_backoff = "1s", jitter = 0.2 }}
"#,
        base = topics.base_toml(&broker.brokers, port),
        url = stand_in.url,
        ca = stand_in.pki.ca.display(),
    );
    let env = [("RELBOT_TEST_CCH_KEY", KEY)];

    // 1. Outage: 503, then hanging, then recovery.
    stand_in.set_mode(Mode::Unavailable);
    let mut reporter = ReporterProcess::start(dir.path(), &toml, port, &env)?;
    reporter.wait_ready(Duration::from_secs(30)).await?;
    let first = detections(31, 12);
    produce_detections(&broker.config(TEST), &topics.detections, &first).await?;
    tokio::time::sleep(phase).await;
    assert!(
        stand_in.reports().is_empty(),
        "nothing is stored during 503"
    );
    stand_in.set_mode(Mode::Hang { store: true });
    tokio::time::sleep(phase).await;
    let during_hang = stand_in.reports().len();
    // The POST that hung was stored: only a look-up before resending avoids a duplicate.
    assert!(during_hang >= 1, "the hanging CCH stored a report");
    stand_in.set_mode(Mode::Normal);
    wait_for("the first 12 reports", Duration::from_secs(60), || {
        stand_in.reports().len() >= first.len()
    })
    .await
    .with_context(|| reporter.logs())?;
    let (_, metrics) = reporter.get("/metrics").await?;
    assert!(
        metrics.contains(r#"relbot_reporter_reports_retried_total{sink="cch"}"#),
        "{metrics}"
    );
    eprintln!("{TEST}: outage survived; {during_hang} report(s) stored while the CCH hung");

    // 2. Crash: slow answers (stored first), SIGKILL mid-delivery, restart.
    stand_in.set_delay(Duration::from_millis(250));
    let second = detections(32, 20);
    produce_detections(&broker.config(TEST), &topics.detections, &second).await?;
    let target = first.len() + 5;
    wait_for("some of the second batch", Duration::from_secs(60), || {
        stand_in.reports().len() >= target
    })
    .await?;
    reporter.kill9()?;
    let at_kill = stand_in.reports().len();
    let lookups_before = stand_in.lookups();
    let mut reporter = ReporterProcess::start(dir.path(), &toml, port, &env)?;
    reporter.wait_ready(Duration::from_secs(30)).await?;
    let total = first.len() + second.len();
    wait_for("all 32 reports", Duration::from_secs(90), || {
        stand_in.reports().len() >= total
    })
    .await
    .with_context(|| reporter.logs())?;
    // Give duplicates a chance to show up.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let got = sources(&stand_in);
    let unique: BTreeSet<&String> = got.iter().collect();
    let want: BTreeSet<String> = first
        .iter()
        .chain(&second)
        .map(|d| d.host.to_string())
        .collect();
    assert_eq!(got.len(), total, "no duplicates: {got:?}");
    assert_eq!(unique.len(), total);
    assert_eq!(unique, want.iter().collect(), "no report lost");
    assert!(stand_in.counts().values().all(|&n| n == 1));
    let dead = read_reports(&broker.config(TEST), &topics.dlq, 1, Duration::from_secs(2)).await?;
    assert!(dead.is_empty(), "nothing dead-lettered: {dead:?}");
    eprintln!(
        "{TEST}: killed with {at_kill} of {total} stored; {} look-up(s) after the restart; {:.1} s",
        stand_in.lookups() - lookups_before,
        started.elapsed().as_secs_f64()
    );
    reporter.terminate(Duration::from_secs(15)).await?;
    topics.delete(&broker).await;
    Ok(())
}
