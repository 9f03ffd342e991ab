//! `relbot analyze --report`: the classic fixture `nfdump-fmt.txt` analysed embedded, its
//! findings delivered to a JSON-lines sink and to the CCH stand-in over TLS (test CA) — and
//! the same reports, field for field and with the same ids, as `relbot-reporter` (the real
//! binary, over the real broker) sends for the detections the detector's engine emits for
//! those flows. A wrong CCH key makes the CLI exit 69, naming the report and the 401, while
//! the other sink still gets every report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context as _};
use relbot_codec::{Detection, ReportId};
use relbot_e2e::cch::CchStandIn;
use relbot_e2e::repo_root;
use relbot_e2e::reporter::{
    free_port, produce_detections, wait_for, ReporterProcess, ReporterTopics,
};
use relbot_e2e::service_process::locate_binary;
use relbot_engine::{Engine, EngineConfig};
use relbot_kafka::testing::TestBroker;
use relbot_periodicity::{Algorithm, ClassicParams};
use relbot_report::ReportingRule;
use serde_json::Value;

const TEST: &str = "analyze-report";
const KEY: &str = "analyze-report-key-7e21";
const MIN_IDX: u32 = 2;

fn fixture(name: &str) -> PathBuf {
    repo_root().join("tests/data/classic").join(name)
}

/// The `[rule]` and `[sinks.*]` both runs use: CCH over TLS and JSON lines.
fn report_toml(cch: &CchStandIn, key_env: &str, jsonl: &Path) -> String {
    format!(
        r#"
[rule]
min_idx = {MIN_IDX}

[sinks.cch]
kind = "cch"
url = "{url}"
api_key_env = "{key_env}"
ca_file = "{ca}"
timeout = "5s"

[sinks.audit]
kind = "jsonl"
path = "{jsonl}"
"#,
        url = cch.url,
        ca = cch.pki.ca.display(),
        jsonl = jsonl.display(),
    )
}

/// The detections relbot-detector's engine emits for the fixture in a batch run.
fn engine_detections() -> anyhow::Result<Vec<Detection>> {
    let (flows, bad) = relbot_flow::text::read_all(&fixture("nfdump-fmt.txt"), None)?;
    ensure!(bad.is_empty(), "bad fixture lines: {bad:?}");
    let params = ClassicParams::from_seed_json(&std::fs::read_to_string(fixture(
        "seed-default.conf.json",
    ))?)?;
    let mut engine = Engine::new(EngineConfig::batch(), Algorithm::classic(params)?)?;
    for flow in &flows {
        engine.ingest(flow);
    }
    Ok(engine.flush())
}

/// Runs `relbot analyze` on the fixture with `--report config`; returns (exit code, stderr).
async fn analyze(config: &Path, env: &[(&str, &str)]) -> anyhow::Result<(i32, String)> {
    let bin = locate_binary("relbot", "RELBOT_BIN")?;
    let out = tokio::process::Command::new(&bin)
        .arg("analyze")
        .arg(fixture("nfdump-fmt.txt"))
        .args(["--algorithm", "classic"])
        .arg("--seed-config")
        .arg(fixture("seed-default.conf.json"))
        .arg("--report")
        .arg(config)
        .envs(env.iter().copied())
        .output()
        .await
        .with_context(|| format!("running {}", bin.display()))?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    Ok((out.status.code().unwrap_or(-1), stderr))
}

/// The JSON lines of `path`, sorted by report id.
fn lines(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut docs: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    docs.sort_by_key(|d| d["report_id"].as_str().unwrap_or_default().to_owned());
    docs
}

/// CCH reports sorted by address.
fn sorted(mut reports: Vec<Value>) -> Vec<Value> {
    reports.sort_by_key(|r| r["source_value"].as_str().unwrap_or_default().to_owned());
    reports
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyze_report_sends_what_the_reporter_sends() -> anyhow::Result<()> {
    let Some(broker) = TestBroker::connect(TEST).await else {
        return Ok(());
    };
    let started = Instant::now();
    let dir = tempfile::tempdir()?;
    let env = [
        ("RELBOT_TEST_CCH_KEY", KEY),
        ("RELBOT_TEST_BAD_KEY", "nope"),
    ];

    // What should be reported: the engine's detections that pass the rule.
    let detections = engine_detections()?;
    let rule = ReportingRule {
        min_idx: MIN_IDX,
        ..ReportingRule::default()
    };
    let reported: Vec<&Detection> = detections
        .iter()
        .filter(|d| rule.check(d).is_ok())
        .collect();
    ensure!(
        !reported.is_empty() && reported.len() < detections.len(),
        "the rule should keep some detections and drop others: {} of {}",
        reported.len(),
        detections.len()
    );

    // 1. relbot analyze --report.
    let cli_cch = CchStandIn::start(KEY).await?;
    let cli_jsonl = dir.path().join("analyze.jsonl");
    let cli_config = dir.path().join("analyze-report.toml");
    std::fs::write(
        &cli_config,
        report_toml(&cli_cch, "RELBOT_TEST_CCH_KEY", &cli_jsonl),
    )?;
    let (code, stderr) = analyze(&cli_config, &env).await?;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "sink cch: {} report(s) delivered, 0 failed",
            reported.len()
        )),
        "{stderr}"
    );
    let cli_lines = lines(&cli_jsonl);
    let mut want_ids: Vec<String> = reported
        .iter()
        .map(|d| ReportId::derive(&d.detection_id, "audit").to_string())
        .collect();
    want_ids.sort();
    let got_ids: Vec<&str> = cli_lines
        .iter()
        .map(|d| d["report_id"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        got_ids, want_ids,
        "report ids derived from the engine's detection ids"
    );
    assert_eq!(cli_cch.reports().len(), reported.len());

    // 2. relbot-reporter on the same detections, through the broker, same rule and sinks.
    let svc_cch = CchStandIn::start(KEY).await?;
    let svc_jsonl = dir.path().join("reporter.jsonl");
    let topics = ReporterTopics::create(&broker, TEST, 2).await?;
    let port = free_port()?;
    let toml = format!(
        "{}{}",
        topics.base_toml(&broker.brokers, port),
        report_toml(&svc_cch, "RELBOT_TEST_CCH_KEY", &svc_jsonl)
    );
    let mut reporter = ReporterProcess::start(dir.path(), &toml, port, &env)?;
    reporter.wait_ready(Duration::from_secs(30)).await?;
    produce_detections(&broker.config(TEST), &topics.detections, &detections).await?;
    wait_for("the reporter's reports", Duration::from_secs(60), || {
        svc_cch.reports().len() >= reported.len() && lines(&svc_jsonl).len() >= reported.len()
    })
    .await
    .with_context(|| reporter.logs())?;
    tokio::time::sleep(Duration::from_secs(1)).await;

    assert_eq!(lines(&svc_jsonl), cli_lines, "JSON lines, field for field");
    assert_eq!(
        sorted(svc_cch.reports()),
        sorted(cli_cch.reports()),
        "CCH reports, field for field"
    );
    reporter.terminate(Duration::from_secs(15)).await?;
    topics.delete(&broker).await;

    // 3. A wrong key: 401 for every CCH report, exit 69; the JSON lines still all arrive.
    let bad_jsonl = dir.path().join("bad.jsonl");
    let bad_config = dir.path().join("bad-key.toml");
    std::fs::write(
        &bad_config,
        report_toml(&cli_cch, "RELBOT_TEST_BAD_KEY", &bad_jsonl),
    )?;
    let before = cli_cch.reports().len();
    let (code, stderr) = analyze(&bad_config, &env).await?;
    assert_eq!(code, 69, "{stderr}");
    assert!(stderr.contains("not delivered to sink cch"), "{stderr}");
    assert!(stderr.contains("401"), "{stderr}");
    assert!(!stderr.contains(KEY), "no key in the output");
    assert_eq!(
        cli_cch.reports().len(),
        before,
        "nothing stored with a wrong key"
    );
    assert_eq!(lines(&bad_jsonl), cli_lines);
    eprintln!(
        "{TEST}: {} of {} detections reported identically by both; {:.1} s",
        reported.len(),
        detections.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
