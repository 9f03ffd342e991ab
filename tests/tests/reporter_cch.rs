//! The reporter delivers, for a known set of detections produced to a real-broker topic,
//! exactly the expected CCH API v2 reports, field for field, over TLS with a test CA; applies
//! the reporting rule, the suppression of repeats and the de-duplication of replays; a sink
//! with a wrong key gets 401 and its reports go to the dead-letter topic with that reason;
//! the keys appear in no log output; SIGTERM drains and exits 0.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context as _};
use relbot_codec::{Detection, ReportId, ReportStatus};
use relbot_e2e::cch::CchStandIn;
use relbot_e2e::reporter::{
    free_port, produce_detections, read_reports, wait_for, ReporterProcess, ReporterTopics,
};
use relbot_kafka::testing::TestBroker;
use relbot_report::cryptopan::CryptoPan;
use relbot_report::testing::detection;
use serde_json::{json, Value};

const TEST: &str = "reporter-cch";
const KEY: &str = "cch-test-key-4f1b9a7c";
const BAD_KEY: &str = "wrong-key-0d2e8b31";
const PSEUDO_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const HOUR: i64 = 3_600_000;

fn later(mut d: Detection, hours: i64, counts: &[u32]) -> Detection {
    let shifted = detection(&d.host.to_string(), counts);
    d.periods = shifted.periods;
    d.score = shifted.score;
    d.window_start_ms += hours * HOUR;
    d.window_end_ms += hours * HOUR;
    d.evidence.first_flow_ms += hours * HOUR;
    d.evidence.last_flow_ms += hours * HOUR;
    d.with_computed_id()
}

fn cch(source: &str, timestamp: &str, level: f64, mode: &str) -> Value {
    let mut v = json!({
        "report_category": "eu.acdc.bot",
        "report_type": "RelBot detected suspicious host activities",
        "timestamp": timestamp,
        "source_key": "ip",
        "source_value": source,
        "confidence_level": level,
        "version": 1,
        "report_subcategory": "other",
        "ip_version": if source.contains(':') { 6 } else { 4 },
        "src_mode": mode,
    });
    let field = if source.contains(':') {
        "src_ip_v6"
    } else {
        "src_ip_v4"
    };
    v[field] = json!(source);
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reporter_delivers_exact_cch_reports_over_tls() -> anyhow::Result<()> {
    let Some(broker) = TestBroker::connect(TEST).await else {
        return Ok(());
    };
    let started = Instant::now();
    let stand_in = CchStandIn::start(KEY).await?;
    let topics = ReporterTopics::create(&broker, TEST, 3).await?;
    let dir = tempfile::tempdir()?;
    let jsonl = dir.path().join("reports.jsonl");

    let d1 = detection("10.20.0.1", &[2, 0, 0, 0]);
    let d2 = detection("10.20.0.2", &[0, 3, 1, 0]);
    let d3 = detection("2001:db8:20::9", &[0, 0, 2, 0]);
    let below_idx = detection("10.20.0.4", &[0, 0, 0, 0]);
    let mut below_conf = detection("10.20.0.5", &[1, 0, 0, 0]);
    below_conf.confidence = 0.2;
    let replay = d1.clone();
    let quiet = later(d1.clone(), 1, &[2, 0, 0, 0]);
    let worse = later(d2.clone(), 1, &[0, 4, 1, 0]);
    let all = [
        d1.clone(),
        d2.clone(),
        d3.clone(),
        below_idx,
        below_conf,
        replay,
        quiet,
        worse.clone(),
    ];
    let reported = [&d1, &d2, &d3, &worse];

    let port = free_port()?;
    let toml = format!(
        r#"{base}
[rule]
min_idx = 1
min_confidence = 0.5

[sinks.cch]
kind = "cch"
url = "{url}"
api_key_env = "RELBOT_TEST_CCH_KEY"
ca_file = "{ca}"
timeout = "3s"

[sinks.cch-anon]
kind = "cch"
url = "{url}"
api_key_file = "{key_file}"
ca_file = "{ca}"
protection = {{ mode = "anon", ipv4_prefix = 24, ipv6_prefix = 48 }}

[sinks.cch-badkey]
kind = "cch"
url = "{url}"
api_key_env = "RELBOT_TEST_CCH_BADKEY"
ca_file = "{ca}"

[sinks.audit]
kind = "jsonl"
path = "{jsonl}"
protection = {{ mode = "pseudo", key_env = "RELBOT_TEST_PSEUDO_KEY" }}
"#,
        base = topics.base_toml(&broker.brokers, port),
        url = stand_in.url,
        ca = stand_in.pki.ca.display(),
        key_file = {
            let path = dir.path().join("cch-key");
            std::fs::write(&path, format!("{KEY}\n"))?;
            path.display().to_string()
        },
        jsonl = jsonl.display(),
    );
    let env = [
        ("RELBOT_TEST_CCH_KEY", KEY),
        ("RELBOT_TEST_CCH_BADKEY", BAD_KEY),
        ("RELBOT_TEST_PSEUDO_KEY", PSEUDO_KEY),
        // Everything our code logs, at the most talkative level.
        ("RUST_LOG", "debug"),
    ];
    let mut reporter = ReporterProcess::start(dir.path(), &toml, port, &env)?;
    reporter.wait_ready(Duration::from_secs(30)).await?;
    produce_detections(&broker.config(TEST), &topics.detections, &all).await?;

    // 4 reports to each good CCH sink.
    wait_for("8 CCH reports", Duration::from_secs(60), || {
        stand_in.reports().len() >= 8
    })
    .await
    .with_context(|| reporter.logs())?;
    let dead = read_reports(
        &broker.config(TEST),
        &topics.dlq,
        4,
        Duration::from_secs(30),
    )
    .await?;
    wait_for("4 JSON lines", Duration::from_secs(30), || {
        std::fs::read_to_string(&jsonl).is_ok_and(|t| t.lines().count() >= 4)
    })
    .await?;
    // Nothing more may arrive: the replay and the quiet repeat are not reported.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let got: BTreeSet<String> = stand_in.reports().iter().map(Value::to_string).collect();
    let mut expected = BTreeSet::new();
    for (d, plain, anon, level) in [
        (&d1, "10.20.0.1", "10.20.0.0", 0.7),
        (&d2, "10.20.0.2", "10.20.0.0", 0.8),
        (&d3, "2001:db8:20::9", "2001:db8:20::", 0.7),
        (&worse, "10.20.0.2", "10.20.0.0", 0.9),
    ] {
        let ts = relbot_report::format::iso_seconds(d.evidence.last_flow_ms);
        expected.insert(cch(plain, &ts, level, "plain").to_string());
        expected.insert(cch(anon, &ts, level, "anon").to_string());
    }
    assert_eq!(got, expected, "reports received by the CCH");
    assert_eq!(stand_in.reports().len(), 8, "each report exactly once");
    assert!(stand_in.counts().values().all(|&n| n == 1));

    // The wrong key: 401, dead-lettered at once with that reason.
    assert_eq!(dead.len(), 4, "{dead:?}");
    for r in &dead {
        assert_eq!(r.sink_name, "cch-badkey");
        assert_eq!(r.sink_kind, "cch");
        assert_eq!(r.status, ReportStatus::DeadLettered);
        assert_eq!(r.attempts, 1);
        let reason = r.reason.as_deref().unwrap_or_default();
        assert!(reason.contains("HTTP 401 Unauthorized"), "{reason}");
    }
    let dead_ids: BTreeSet<ReportId> = dead.iter().map(|r| r.report_id).collect();
    let want_ids: BTreeSet<ReportId> = reported
        .iter()
        .map(|d| ReportId::derive(&d.detection_id, "cch-badkey"))
        .collect();
    assert_eq!(dead_ids, want_ids);
    assert!(stand_in.unauthorized() >= 4);

    // The JSON lines sink: pseudonymised with Crypto-PAn and the configured key.
    let mut key = [0u8; 32];
    for (i, b) in key.iter_mut().enumerate() {
        *b = i as u8;
    }
    let pan = CryptoPan::new(&key);
    let lines: Vec<Value> = std::fs::read_to_string(&jsonl)?
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    assert_eq!(lines.len(), 4);
    for d in reported {
        let id = ReportId::derive(&d.detection_id, "audit").to_string();
        let line = lines
            .iter()
            .find(|l| l["report_id"] == json!(id))
            .with_context(|| format!("no line for {id}"))?;
        assert_eq!(line["host"], json!(pan.pseudonymise(d.host).to_string()));
        assert_eq!(line["src_mode"], "pseudo");
        assert_eq!(line["detection_id"], json!(d.detection_id.to_string()));
    }

    // Operations: metrics by sink, probes.
    let (status, metrics) = reporter.get("/metrics").await?;
    assert_eq!(status, 200);
    for needle in [
        r#"relbot_reporter_reports_delivered_total{sink="cch"} 4"#,
        r#"relbot_reporter_reports_delivered_total{sink="audit"} 4"#,
        r#"relbot_reporter_reports_dead_lettered_total{sink="cch-badkey"} 4"#,
        r#"relbot_reporter_reports_suppressed_total{sink="cch",reason="quiet_time"} 1"#,
        r#"relbot_reporter_reports_suppressed_total{sink="cch",reason="already_done"} 1"#,
        r#"relbot_reporter_detections_total{outcome="below_rule"} 2"#,
        r#"relbot_reporter_delivery_latency_seconds_count{sink="cch"} 4"#,
    ] {
        assert!(metrics.contains(needle), "{needle} missing:\n{metrics}");
    }
    assert_eq!(reporter.get("/healthz").await?.0, 200);

    // SIGTERM: drains and exits 0 within the drain timeout.
    let status = reporter.terminate(Duration::from_secs(15)).await?;
    assert!(status.success(), "exit status {status}");

    // The keys appear in no log output, nor in --check's.
    let logs = reporter.logs();
    ensure!(
        logs.contains("Report delivered."),
        "logs were captured:\n{logs}"
    );
    for secret in [KEY, BAD_KEY, PSEUDO_KEY] {
        assert!(!logs.contains(secret), "a key leaked into the logs");
    }
    let check = std::process::Command::new(relbot_e2e::reporter::binary()?)
        .arg("--check")
        .arg("--config")
        .arg(dir.path().join("reporter.toml"))
        .envs(env)
        .output()?;
    assert!(check.status.success(), "{check:?}");
    let printed = String::from_utf8_lossy(&check.stdout);
    assert!(printed.contains("[sinks.cch-badkey]"), "{printed}");
    for secret in [KEY, BAD_KEY, PSEUDO_KEY] {
        assert!(!printed.contains(secret));
    }

    topics.delete(&broker).await;
    eprintln!("{TEST}: {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}
