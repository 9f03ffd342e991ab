//! Equivalence through the real broker: the classic fixtures produced to a flows topic and
//! analysed by relbot-detector (in-process, horizon covering the input, idle flush at the end
//! of input) give exactly the original tool's per-host counts per period (`.expected`),
//! which `relbot analyze --algorithm classic` reproduces too (crates/engine's tests).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::time::{Duration, Instant};

use anyhow::{ensure, Context as _};
use relbot_e2e::detector::{
    conflicting_ids, covering_engine, diff, expected_counts, final_counts, load_config,
    produce_flows, read_detections_until, spawn_in_process, DetectorTopics,
};
use relbot_e2e::repo_root;
use relbot_kafka::testing::TestBroker;
use relbot_service::CancellationToken;

const TEST: &str = "detector-equivalence";

async fn one_fixture(
    broker: &TestBroker,
    input: &str,
    seed: &str,
    expected: &str,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let data = repo_root().join("tests/data/classic");
    let (flows, bad) = relbot_flow::text::read_all(&data.join(input), None)?;
    ensure!(bad.is_empty(), "{input}: bad lines {bad:?}");
    let want = expected_counts(&data.join(expected))?;
    let topics = DetectorTopics::create(broker, &format!("{TEST}-{input}"), 3).await?;
    let kafka = broker.config(TEST);
    produce_flows(&kafka, &topics.flows, &flows).await?;

    // The fixtures are shuffled: lateness covering the input, one flush at the end.
    let dir = tempfile::tempdir()?;
    let seed = data.join(seed);
    let toml = topics.toml(
        &broker.brokers,
        "127.0.0.1:0",
        &covering_engine("400days"),
        &format!("seed_config = {:?}", seed.to_string_lossy()),
    );
    let config = load_config(dir.path(), "detector", &toml)?;
    let shutdown = CancellationToken::new();
    let service = spawn_in_process(config, shutdown.clone());

    let mut detections = Vec::new();
    let matched = read_detections_until(
        &kafka,
        &topics.detections,
        &mut detections,
        Duration::from_secs(60),
        |d| final_counts(d) == want,
    )
    .await?;
    shutdown.cancel();
    let code = service.await.context("detector task")?;
    ensure!(
        matched,
        "{input}: detector result differs from {expected}:\n{}",
        diff(&final_counts(&detections), &want)
    );
    ensure!(
        code == std::process::ExitCode::SUCCESS,
        "{input}: detector exited with {code:?}"
    );
    ensure!(
        conflicting_ids(&detections).is_empty(),
        "{input}: conflicting ids"
    );
    eprintln!(
        "{input}: {} flows, {} hosts flagged, {} detections, {:?}",
        flows.len(),
        want.len(),
        detections.len(),
        started.elapsed()
    );
    topics.delete(broker).await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detector_gives_the_original_results_through_kafka() -> anyhow::Result<()> {
    let Some(broker) = TestBroker::connect(TEST).await else {
        return Ok(());
    };
    let (a, b, c) = tokio::join!(
        one_fixture(
            &broker,
            "basic.triples",
            "seed-default.conf.json",
            "basic.expected"
        ),
        one_fixture(
            &broker,
            "custom.triples",
            "radius0.conf.json",
            "custom.expected"
        ),
        one_fixture(
            &broker,
            "nfdump-fmt.txt",
            "seed-default.conf.json",
            "nfdump-fmt.expected"
        ),
    );
    a?;
    b?;
    c?;
    Ok(())
}
