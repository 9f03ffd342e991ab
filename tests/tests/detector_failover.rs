//! Scale-out and failure through the real broker: 12 partitions, three relbot-detector
//! processes in one group; while flows stream in, one is killed with SIGKILL, a new one is
//! started, then one is stopped with SIGTERM. Once every partition is flushed (end of
//! input), the final detections are identical (id, window, evidence, periods, score,
//! confidence) to those of a single-replica run on the same input (same flows topic, its
//! own group, detections and state topics), whose per-host results equal the batch result
//! (`relbot analyze`); so is every host's whole sequence of detections, replays aside (a
//! replayed record gives the same detection, same id, again); no detection id is emitted
//! with different contents, and the restored state counts every flow exactly once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context as _};
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use relbot_codec::Detection;
use relbot_detector::changelog::Changelog;
use relbot_e2e::detector::{
    batch_counts, conflicting_ids, covering_engine, diff, final_counts, load_config, produce_flows,
    read_detections_until, spawn_in_process, DetectorProcess, DetectorTopics,
};
use relbot_e2e::reporter::free_port;
use relbot_e2e::{host, BASE_MS};
use relbot_engine::Engine;
use relbot_flow::FlowRecord;
use relbot_kafka::testing::TestBroker;
use relbot_kafka::ClientLog;
use relbot_periodicity::ClassicParams;
use relbot_service::CancellationToken;

const TEST: &str = "detector-failover";
const PARTITIONS: i32 = 12;
const CHUNKS: usize = 20;

/// A small deterministic generator (no test should depend on a seed's luck).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// 8 hours of flows from 120 hosts: every third host beacons to two peers (every 10 or 15
/// minutes, with jitter of up to ±2 s), every host talks to 25 peers at random times.
/// Sorted by start time (what a collector would produce).
fn generate() -> Vec<FlowRecord> {
    const HOURS: i64 = 8;
    let span = HOURS * 3_600_000;
    let mut rng = Lcg(0x5eed);
    let mut flows = Vec::new();
    for h in 0..120_u32 {
        let src = host(h);
        if h % 3 == 0 {
            let period = if h % 2 == 0 { 600_000 } else { 900_000 };
            for peer in 0..2_u8 {
                let dst = IpAddr::V4(Ipv4Addr::new(203, 0, 113, (h % 50) as u8 * 2 + peer));
                let mut t = BASE_MS + rng.next(period as u64) as i64;
                while t < BASE_MS + span {
                    let jitter = rng.next(4_001) as i64 - 2_000;
                    flows.push(FlowRecord::from_triple(t + jitter, src, dst));
                    t += period;
                }
            }
        }
        for _ in 0..25 {
            let dst = IpAddr::V4(Ipv4Addr::new(
                198,
                51,
                100 + rng.next(2) as u8,
                rng.next(256) as u8,
            ));
            for _ in 0..=rng.next(4) {
                let t = BASE_MS + rng.next(span as u64) as i64;
                flows.push(FlowRecord::from_triple(t, src, dst));
            }
        }
    }
    flows.sort_by_key(|f| (f.start_ms, f.src, f.dst));
    flows
}

/// The last detection of every host, its wall-clock emission time cleared (the only field
/// that may differ between two runs that decide the same).
fn final_detections(detections: &[Detection]) -> BTreeMap<IpAddr, Detection> {
    let mut last = BTreeMap::new();
    for d in detections {
        let mut d = d.clone();
        d.emitted_at_ms = 0;
        last.insert(d.host, d);
    }
    last
}

/// The fields in which two detections differ, with both values (compared as their JSON).
fn differing_fields(got: &Detection, want: &Detection) -> Vec<String> {
    let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) =
        (serde_json::to_value(got), serde_json::to_value(want))
    else {
        return vec![format!("{got:?} (replicas) vs {want:?} (single)")];
    };
    a.iter()
        .filter(|(name, value)| b.get(*name) != Some(*value))
        .map(|(name, value)| {
            let other = b
                .get(name)
                .map_or_else(|| "none".to_owned(), |v| v.to_string());
            format!("{name}: {value} (replicas) vs {other} (single)")
        })
        .collect()
}

/// Each host whose final detection differs between `got` and `want`, with the differences.
fn differing_hosts(
    got: &BTreeMap<IpAddr, Detection>,
    want: &BTreeMap<IpAddr, Detection>,
) -> Vec<String> {
    let hosts: std::collections::BTreeSet<&IpAddr> = got.keys().chain(want.keys()).collect();
    hosts
        .into_iter()
        .filter_map(|h| match (got.get(h), want.get(h)) {
            (Some(a), Some(b)) if a == b => None,
            (Some(a), Some(b)) => Some(format!("{h}: {}", differing_fields(a, b).join("; "))),
            (a, b) => Some(format!("{h}: replicas {a:?}, single {b:?}")),
        })
        .collect()
}

/// The reference: one replica (in-process) on the same flows topic, with its own group,
/// detections and state topics, until its final result is `want` and every partition is
/// flushed; returns every detection it emitted.
async fn single_replica_run(
    broker: &TestBroker,
    flows_topic: &str,
    want: &relbot_e2e::detector::Counts,
    dir: &std::path::Path,
) -> anyhow::Result<Vec<Detection>> {
    let mut topics = DetectorTopics::create(broker, &format!("{TEST}-single"), PARTITIONS).await?;
    let own_flows = std::mem::replace(&mut topics.flows, flows_topic.to_owned());
    broker.delete_topic(&own_flows).await;
    let port = free_port()?;
    // The same settings as the replicas above.
    let toml = topics
        .toml(
            &broker.brokers,
            &format!("127.0.0.1:{port}"),
            &covering_engine("10m"),
            "",
        )
        .replace("idle_flush = \"4s\"", "idle_flush = \"10s\"");
    let config = load_config(dir, "single", &toml)?;
    let shutdown = CancellationToken::new();
    let service = spawn_in_process(config, shutdown.clone());
    // Until its final result is the batch result (what `relbot analyze` gives), as for the
    // replicas above, and every partition is flushed (end of input): its output is complete.
    let mut detections = Vec::new();
    let kafka = broker.config(TEST);
    let complete = read_detections_until(
        &kafka,
        &topics.detections,
        &mut detections,
        Duration::from_secs(90),
        |ds| final_counts(ds) == *want,
    )
    .await?;
    let flushed = wait_flushed(&[format!("http://127.0.0.1:{port}/metrics")]).await;
    shutdown.cancel();
    service.await.context("single replica")?;
    flushed?;
    ensure!(
        complete,
        "single replica differs from the batch result:\n{}",
        diff(&final_counts(&detections), want)
    );
    let detections = read_all(broker, &topics.detections).await?;
    ensure!(
        final_counts(&detections) == *want,
        "single replica: final counts changed after the flush"
    );
    topics.flows = own_flows;
    for t in [&topics.detections, &topics.state] {
        broker.delete_topic(t).await;
    }
    Ok(detections)
}

/// Waits until the replicas serving metrics at `urls` have flushed every partition once
/// (`idle_flush`: the end of input), so that their output is complete.
async fn wait_flushed(urls: &[String]) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut flushed = 0.0;
        for url in urls {
            let (_, text) = relbot_e2e::service_process::http_get(url).await?;
            flushed += metric(&text, "relbot_detector_idle_flushes");
        }
        if flushed >= f64::from(PARTITIONS) {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "{flushed} of {PARTITIONS} partitions flushed within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every detection in `topic` (its replicas stopped or idle).
async fn read_all(broker: &TestBroker, topic: &str) -> anyhow::Result<Vec<Detection>> {
    let emitted = records_in(broker, topic, PARTITIONS)?;
    let mut detections = Vec::new();
    let complete = read_detections_until(
        &broker.config(TEST),
        topic,
        &mut detections,
        Duration::from_secs(60),
        |ds| ds.len() >= emitted,
    )
    .await?;
    ensure!(
        complete,
        "read {} of {emitted} detections",
        detections.len()
    );
    Ok(detections)
}

/// Each host's detections in the order emitted, each id once (its first emission): a
/// replica that replays input after a crash emits the same detections again, with the same
/// ids, so a run with failures has the same sequences as a run without.
fn sequences(detections: &[Detection]) -> BTreeMap<IpAddr, Vec<String>> {
    let mut seen = std::collections::HashSet::new();
    let mut out: BTreeMap<IpAddr, Vec<String>> = BTreeMap::new();
    for d in detections {
        let id = d.detection_id.to_string();
        if seen.insert(id.clone()) {
            out.entry(d.host).or_default().push(id);
        }
    }
    out
}

/// Every detection of `host`, in order, for a failure message.
fn history(detections: &[Detection], host: IpAddr) -> String {
    detections
        .iter()
        .filter(|d| d.host == host)
        .map(|d| {
            let counts: Vec<(i64, u32)> =
                d.periods.iter().map(|p| (p.period_ms, p.count)).collect();
            format!(
                "    {} window end {} flows {} counts {counts:?}",
                d.detection_id, d.window_end_ms, d.evidence.flows_seen
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Records in `topic` (the sum of its partitions' high watermarks: nothing is deleted or
/// compacted in a test's detections topic).
fn records_in(broker: &TestBroker, topic: &str, partitions: i32) -> anyhow::Result<usize> {
    let consumer: StreamConsumer<ClientLog> =
        relbot_kafka::consumer(&broker.config(TEST), ClientLog::default())?;
    let mut n = 0;
    for p in 0..partitions {
        let (low, high) = consumer.fetch_watermarks(topic, p, Duration::from_secs(10))?;
        n += usize::try_from(high - low)?;
    }
    Ok(n)
}

/// The value of the sample whose name and labels start with `prefix` (0 when absent).
fn metric(text: &str, prefix: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#') && l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>()
        + 0.0 // an empty sum is −0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_fail_and_move_without_changing_the_result() -> anyhow::Result<()> {
    let Some(broker) = TestBroker::connect(TEST).await else {
        return Ok(());
    };
    let started = Instant::now();
    let flows = generate();
    let want = batch_counts(&flows, ClassicParams::seed_shipped())?;
    ensure!(
        want.len() >= 20,
        "the input should flag hosts, got {}",
        want.len()
    );
    let topics = DetectorTopics::create(&broker, TEST, PARTITIONS).await?;
    let kafka = broker.config(TEST);
    let dir = tempfile::tempdir()?;
    // In event-time order: a little lateness, ticks every 5 min fire while streaming. The
    // idle flush (end of input) must outlast every pause of the stream below.
    let toml_for = |port: u16| {
        topics
            .toml(
                &broker.brokers,
                &format!("127.0.0.1:{port}"),
                &covering_engine("10m"),
                "",
            )
            .replace("idle_flush = \"4s\"", "idle_flush = \"10s\"")
    };
    let start = |name: &str| -> anyhow::Result<DetectorProcess> {
        let port = free_port()?;
        DetectorProcess::start(dir.path(), name, &toml_for(port), port)
    };
    let mut a = start("a")?;
    let mut b = start("b")?;
    let mut c = start("c")?;
    for p in [&mut a, &mut b, &mut c] {
        p.wait_ready(Duration::from_secs(30)).await?;
    }

    let chunk = flows.len().div_ceil(CHUNKS);
    let mut d: Option<DetectorProcess> = None;
    for (i, part) in flows.chunks(chunk).enumerate() {
        produce_flows(&kafka, &topics.flows, part).await?;
        match i {
            5 => {
                a.kill9()?;
                eprintln!("killed a at chunk {i}, {:?}", started.elapsed());
            }
            10 => {
                let mut p = start("d")?;
                p.wait_ready(Duration::from_secs(30)).await?;
                eprintln!("started d at chunk {i}, {:?}", started.elapsed());
                d = Some(p);
            }
            14 => {
                let t = Instant::now();
                let status = b.terminate(Duration::from_secs(20)).await?;
                ensure!(status.success(), "b exited with {status}:\n{}", b.logs());
                eprintln!("stopped b in {:?} at chunk {i}", t.elapsed());
            }
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    let mut d = d.context("d never started")?;
    eprintln!("{} flows produced, {:?}", flows.len(), started.elapsed());

    let mut detections = Vec::new();
    let matched = read_detections_until(
        &kafka,
        &topics.detections,
        &mut detections,
        Duration::from_secs(90),
        |ds| final_counts(ds) == want,
    )
    .await?;
    ensure!(
        matched,
        "final detections differ from the batch result:\n{}\nlogs of c:\n{}",
        diff(&final_counts(&detections), &want),
        c.logs()
    );
    eprintln!(
        "{} detections, result complete at {:?}",
        detections.len(),
        started.elapsed()
    );
    let conflicts = conflicting_ids(&detections);
    ensure!(
        conflicts.is_empty(),
        "ids with different contents: {conflicts:?}"
    );

    // d started after the kill and took partitions over: it restored state, and the
    // partitions of the killed replica were replayed from their last committed offset.
    let (_, metrics) = d.get("/metrics").await?;
    let restored = metric(&metrics, "relbot_detector_restored_hosts");
    let (_, c_metrics) = c.get("/metrics").await?;
    let duplicates = metric(
        &metrics,
        "relbot_detector_flows_total{outcome=\"duplicate\"}",
    ) + metric(
        &c_metrics,
        "relbot_detector_flows_total{outcome=\"duplicate\"}",
    );
    eprintln!("d restored {restored} host states; c and d skipped {duplicates} duplicates");
    ensure!(restored > 0.0, "d restored nothing:\n{metrics}");
    // The end of input: every partition flushed, the output is complete.
    wait_flushed(&[c.http, d.http].map(|a| format!("http://{a}/metrics"))).await?;
    for p in [&mut c, &mut d] {
        let status = p.terminate(Duration::from_secs(20)).await?;
        ensure!(status.success(), "exit {status}:\n{}", p.logs());
    }

    // Every flow counted exactly once in the state the changelog holds.
    let config = load_config(dir.path(), "check", &toml_for(0))?;
    let changelog = Changelog::new(&config.kafka, &topics.state, Duration::from_secs(10))?;
    let mut accepted: HashMap<IpAddr, u64> = HashMap::new();
    for p in 0..PARTITIONS {
        let mut engine = Engine::new(config.engine.engine_config()?, config.algorithm.build()?)?;
        changelog.restore(p, &mut engine).await?;
        for h in engine.hosts() {
            let counters = engine.host_counters(h).context("counters")?;
            *accepted.entry(h).or_default() += counters.flows_accepted;
        }
    }
    let mut sent: HashMap<IpAddr, u64> = HashMap::new();
    for f in &flows {
        *sent.entry(f.src).or_default() += 1;
    }
    ensure!(
        accepted == sent,
        "flows accepted per host differ from flows sent"
    );
    ensure!(
        metrics.contains("flows_consumed"),
        "metrics without flows_consumed:\n{metrics}"
    );

    // Everything the replicas emitted (they are stopped now), then the reference: a single
    // replica on the same input gives the same final detections.
    let detections = read_all(&broker, &topics.detections).await?;
    ensure!(final_counts(&detections) == want, "final counts changed");
    // Whole final detections (id, window, evidence, periods, score, confidence), only the
    // wall-clock emission time aside.
    let single = single_replica_run(&broker, &topics.flows, &want, dir.path()).await?;
    let (got, reference) = (final_detections(&detections), final_detections(&single));
    let differing = differing_hosts(&got, &reference);
    ensure!(
        differing.is_empty(),
        "final detections of {} hosts differ from the single-replica run:\n{}\n{}",
        differing.len(),
        differing.join("\n"),
        got.keys()
            .chain(reference.keys())
            .filter(|h| got.get(h) != reference.get(h))
            .map(|h| format!(
                "{h} replicas:\n{}\n{h} single:\n{}",
                history(&detections, *h),
                history(&single, *h)
            ))
            .collect::<Vec<_>>()
            .join("\n")
    );
    ensure!(
        conflicting_ids(&single).is_empty(),
        "single replica: conflicting ids"
    );
    // Not only the final ones: every host's detections, replays aside, are the single
    // replica's, in the same order.
    let (got_seq, single_seq) = (sequences(&detections), sequences(&single));
    let hosts: Vec<&IpAddr> = got_seq
        .keys()
        .chain(single_seq.keys())
        .filter(|h| got_seq.get(h) != single_seq.get(h))
        .collect();
    ensure!(
        hosts.is_empty(),
        "detections of {} hosts differ from the single replica's:\n{}",
        hosts.len(),
        hosts
            .iter()
            .map(|h| format!(
                "{h} replicas:\n{}\n{h} single:\n{}",
                history(&detections, **h),
                history(&single, **h)
            ))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let distinct: usize = got_seq.values().map(Vec::len).sum();
    eprintln!(
        "final detections of {} hosts identical to the single-replica run; so are their \
         {distinct} distinct detections, {} of which the replicas emitted more than once \
         (replays)",
        got.len(),
        detections.len() - distinct
    );
    eprintln!("done in {:?}", started.elapsed());
    topics.delete(&broker).await;
    Ok(())
}
