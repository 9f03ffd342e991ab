//! One relbot-detector replica through the real broker: flows consumed and evaluated per
//! second, end to end.
//!
//! `scripts/kafka start`, then `cargo bench -p relbot-e2e --bench detector_throughput`.
//! `RELBOT_BENCH_FLOWS` sets the count (default 2,000,000), `RELBOT_BENCH_HOSTS` the
//! monitored hosts (default 20,000), `RELBOT_BENCH_PARTITIONS` the partitions (default 12),
//! `RELBOT_BENCH_LIBRDKAFKA` extra `[kafka.librdkafka]` lines separated by `;` (e.g.
//! `"fetch.queue.backoff.ms" = "10"`), `RELBOT_BENCH_HOURS` the event-time span of the flows (default 24: evaluation-heavy,
//! about one host evaluation per flow; 1: evaluations amortised over more flows, closer to
//! a live network's rates), `RELBOT_BENCH_ALGORITHM` the algorithm (default `beacon`, the
//! product's default; `classic` for the original check), with the product's `[filter]`
//! (prevalence on) unless `RELBOT_BENCH_PREVALENCE=off`.
//!
//! The workload is `relbot simulate`'s (24 h, heavy-tailed background to popular servers and
//! random addresses, 2 % bots), keyed by initiator like relbot-ingest produces it. It is
//! produced to a fresh topic first; then one detector (the service's own `run`, in this
//! process, default engine settings: 24 h horizon, 5-min ticks) consumes it from the start.
//! Timed: from start until every flow is consumed and evaluated (metric
//! `flows_consumed` = N and every partition flushed at its end of input, less the
//! `idle_flush` wait), and the CPU time (user + sys) of this process over the same span (the
//! producer is gone by then; the broker's CPU is not included). Then the state is restored
//! from the changelog into fresh engines, partition by partition, as a replica taking the
//! partitions over does: restore time per million retained flow times. Not a test: no
//! assertion on time. Results go to docs/BENCHMARKS.md.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench with a broken setup stops loudly

use std::time::{Duration, Instant};

use relbot_cli::simulate::{generate, record, Scenario};
use relbot_detector::changelog::Changelog;
use relbot_e2e::detector::{load_config, produce_flows, spawn_in_process, DetectorTopics};
use relbot_e2e::reporter::free_port;
use relbot_e2e::service_process::http_get;
use relbot_engine::Engine;
use relbot_flow::FlowRecord;
use relbot_kafka::testing::TestBroker;
use relbot_service::CancellationToken;

const BENCH: &str = "detector-throughput";
const IDLE_FLUSH: Duration = Duration::from_secs(5);

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// User + system CPU seconds of this process so far (`/proc/self/stat`, clock ticks of
/// 1/100 s as on every Linux this runs on).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // After the command name: state is field 0, utime 11, stime 12.
    (ticks(11) + ticks(12)) / 100.0
}

/// The value of the samples whose line starts with `prefix`, summed.
fn metric(text: &str, prefix: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#') && l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The metrics page once `relbot_detector_detections_emitted` has not moved for 500 ms.
async fn settled_metrics(url: &str, first: &str) -> String {
    let emitted = |body: &str| metric(body, "relbot_detector_detections_emitted");
    let (mut body, mut still) = (first.to_owned(), 0);
    while still < 5 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let Ok((_, next)) = http_get(url).await else {
            continue;
        };
        still = if emitted(&next) == emitted(&body) {
            still + 1
        } else {
            0
        };
        body = next;
    }
    body
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let n = env("RELBOT_BENCH_FLOWS", 2_000_000);
    let hosts = env("RELBOT_BENCH_HOSTS", 20_000) as u32;
    let partitions = env("RELBOT_BENCH_PARTITIONS", 12) as i32;
    let hours = env("RELBOT_BENCH_HOURS", 24) as i64;
    let Some(broker) = TestBroker::connect(BENCH).await else {
        eprintln!("{BENCH}: no broker (scripts/kafka start)");
        return Ok(());
    };
    // The simulator's background is set by flows per host and hour; the planted bots and
    // benign services add a little, so the stream has about `n` flows (the bench reports the
    // exact number).
    let mut scenario = Scenario {
        hosts,
        duration_ms: hours * 3_600_000,
        ..Scenario::default()
    };
    scenario.background.flows_per_host_hour = n as f64 / (f64::from(hosts) * hours as f64);
    let (sim, truth) = generate(&scenario);
    let flows: Vec<FlowRecord> = sim.iter().map(record).collect();
    drop(sim);
    let n = flows.len();
    let topics = DetectorTopics::create(&broker, BENCH, partitions).await?;
    let kafka = broker.config(BENCH);
    let started = Instant::now();
    produce_flows(&kafka, &topics.flows, &flows).await?;
    println!(
        "produced {n} flows of {hosts} hosts ({} bots) over {hours} h to {partitions} \
         partitions in {:.1} s",
        truth.bots.len(),
        started.elapsed().as_secs_f64()
    );
    drop(flows);

    let dir = tempfile::tempdir()?;
    let port = free_port()?;
    let toml = topics
        .toml(&broker.brokers, &format!("127.0.0.1:{port}"), "", "")
        .replace(
            "idle_flush = \"4s\"",
            &format!("idle_flush = \"{}s\"", IDLE_FLUSH.as_secs()),
        )
        .replace("log_level = \"info\"", "log_level = \"warn\"")
        .replace(
            "prevalence_max_hosts = 4294967295\nprevalence_max_share = 1.0\n",
            if std::env::var("RELBOT_BENCH_PREVALENCE").is_ok_and(|v| v == "off") {
                "prevalence_max_hosts = 4294967295\nprevalence_max_share = 1.0\n"
            } else {
                ""
            },
        )
        .replace(
            "kind = \"classic\"",
            &format!(
                "kind = \"{}\"",
                std::env::var("RELBOT_BENCH_ALGORITHM").unwrap_or_else(|_| "beacon".to_owned())
            ),
        )
        // Extra librdkafka settings to try (TOML lines), e.g. fetch tuning.
        .replace(
            "[kafka.librdkafka]\n",
            &format!(
                "[kafka.librdkafka]\n{}\n",
                std::env::var("RELBOT_BENCH_LIBRDKAFKA")
                    .unwrap_or_default()
                    .replace(';', "\n")
            ),
        );
    let config = load_config(dir.path(), "bench", &toml)?;
    let shutdown = CancellationToken::new();
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let service = spawn_in_process(config, shutdown.clone());
    let url = format!("http://127.0.0.1:{port}/metrics");
    let mut consumed_at = None;
    // The largest state seen while streaming (before any end-of-input flush, which judges
    // every host once more and leaves more verdicts behind), with its flow times.
    let mut live_peak = (0.0f64, 0.0f64);
    let (body, wall) = loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let Ok((_, body)) = http_get(&url).await else {
            continue;
        };
        let consumed = metric(&body, "relbot_detector_flows_consumed") as usize;
        if consumed >= n && consumed_at.is_none() {
            consumed_at = Some(started.elapsed());
        }
        let flushes = metric(&body, "relbot_detector_idle_flushes") as i32;
        if flushes == 0 {
            let bytes = metric(&body, "relbot_detector_state_bytes");
            if bytes > live_peak.0 {
                live_peak = (bytes, metric(&body, "relbot_detector_state_flow_times"));
            }
        }
        // Every record has an outcome once its batch is processed (a partition flushed twice,
        // after starving mid-stream, can make the flush count reach the partitions early).
        let processed = metric(&body, "relbot_detector_flows_total") as usize;
        if consumed >= n && processed >= n && flushes >= partitions {
            let wall = started.elapsed();
            // A flush is counted before its detections are delivered and counted: read the
            // totals once they stop moving.
            break (settled_metrics(&url, &body).await, wall);
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(900),
            "not done after 15 min: {consumed} of {n} consumed"
        );
    };
    let cpu = cpu_seconds() - cpu_before;
    let consumed_at = consumed_at.unwrap_or(wall);
    // The last flush came `idle_flush` (plus up to one 250 ms check and one 100 ms poll
    // here) after the last record: that wait is not work.
    let busy = wall.saturating_sub(IDLE_FLUSH).max(consumed_at);
    shutdown.cancel();
    let _ = service.await;
    let secs = busy.as_secs_f64();
    println!(
        "detector: {n} flows consumed + evaluated + flushed in {secs:.2} s = {:.0} flows/s \
         (all consumed after {:.2} s); CPU {cpu:.2} s user+sys = {:.0} flows per CPU-second",
        n as f64 / secs,
        consumed_at.as_secs_f64(),
        n as f64 / cpu
    );
    println!(
        "detector: {} hosts, {} pairs, {} flow times, {} B of state, {} detections, {} \
         changelog records, accepted {}",
        metric(&body, "relbot_detector_state_hosts"),
        metric(&body, "relbot_detector_state_pairs"),
        metric(&body, "relbot_detector_state_flow_times"),
        metric(&body, "relbot_detector_state_bytes"),
        metric(&body, "relbot_detector_detections_emitted"),
        metric(&body, "relbot_detector_changelog_records"),
        metric(&body, "relbot_detector_flows_total{outcome=\"accepted\"}"),
    );
    println!(
        "detector: live state at its peak while streaming (sampled every 100 ms): {} B for {} \
         flow times = {:.1} B per flow time",
        live_peak.0,
        live_peak.1,
        live_peak.0 / live_peak.1.max(1.0)
    );

    // Restore: every partition's state read back from the changelog into fresh engines, as
    // a replica taking the partitions over does.
    let config = load_config(dir.path(), "restore", &toml)?;
    let changelog = Changelog::new(&config.kafka, &topics.state, Duration::from_secs(30))?;
    // All partitions in one pass, as a replica does since `restore_all`;
    // `RELBOT_BENCH_RESTORE=serial` reads them one after another, as it did before.
    let serial = std::env::var("RELBOT_BENCH_RESTORE").is_ok_and(|v| v == "serial");
    let mut engines = Vec::new();
    for p in 0..partitions {
        engines.push((
            p,
            Engine::new(config.engine.engine_config()?, config.algorithm.build()?)?,
        ));
    }
    let started = Instant::now();
    let (mut records, mut hosts) = (0i64, 0usize);
    let mut targets: Vec<(i32, &mut Engine)> = engines.iter_mut().map(|(p, e)| (*p, e)).collect();
    let restored = if serial {
        let mut all = Vec::new();
        for (p, engine) in targets {
            all.push(changelog.restore(p, engine).await?);
        }
        all
    } else {
        changelog.restore_all(&mut targets).await?
    };
    for r in &restored {
        records += r.records;
        hosts += r.hosts;
    }
    let secs = started.elapsed().as_secs_f64();
    let times: u64 = engines.iter().map(|(_, e)| e.stats().retained_times).sum();
    let bytes: u64 = engines.iter().map(|(_, e)| e.stats().state_bytes).sum();
    println!(
        "restore: {hosts} hosts, {times} flow times ({bytes} B of state, {:.1} B per flow \
         time) from {records} changelog records in {secs:.2} s = {:.2} s per million flow \
         times",
        bytes as f64 / times as f64,
        secs / (times as f64 / 1e6)
    );
    topics.delete(&broker).await;
    Ok(())
}
