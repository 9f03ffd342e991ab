//! relbot-ingest: NetFlow v5/v9/IPFIX over UDP and flow files in, Avro flow records out to
//! `relbot.flows.v1`, keyed by the initiating host.
//!
//! ```text
//! UDP listeners ─ SO_REUSEPORT sockets ─ worker threads (decode) ─┐
//! files (read once at start) ─ reader thread ─────────────────────┼─ bounded queue ─ stage:
//!   split-merge → pairing → monitored filter → Kafka producer (keyed by initiator)
//! ```
//!
//! A full queue blocks the workers, which stop reading their sockets: the kernel drops then,
//! and those drops are counted from `/proc/net/udp`. Templates are decoded per exporter
//! (sharded state, consistent across workers) and saved to `ingest.template_cache`
//! periodically and at shutdown, then loaded at start so that a restart decodes data at once.
//!
//! Layout:
//! - [`config`]: the typed configuration (`config/default.toml`);
//! - [`udp`]: sockets and worker threads; [`files`]: file inputs; [`queue`]: the bounded queue;
//! - [`collectors`]: decoder state sharded by exporter; [`kernel`]: kernel drop counts;
//! - [`stage`]: merge, pairing, filter, producer; [`split_merge`], [`pairing`], [`hold`];
//! - [`metrics`]: Prometheus metrics; [`error`]: the error type, [`IngestError`].
//!
//! [`run`] is the service: `main.rs` hands it to `relbot_service::run_main`.

pub mod collectors;
pub mod config;
pub mod error;
pub mod files;
pub mod hold;
pub mod kernel;
pub mod metrics;
pub mod pairing;
pub mod queue;
pub mod split_merge;
pub mod stage;
pub mod udp;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use relbot_codec::FlowCodec;
use relbot_flow::netflow::persist;
use relbot_kafka::rdkafka::producer::Producer as _;
use relbot_kafka::{ensure_topics, ProduceStats, TopicSpec};
use relbot_service::Context;
use tracing::{error, info, warn};

pub use config::IngestConfig;
pub use error::IngestError;

use crate::collectors::Collectors;
use crate::kernel::KernelDrops;
use crate::metrics::IngestMetrics;
use crate::stage::{Output, Stage};
use crate::udp::{now_ms, Worker};

/// Runs the service until `ctx.shutdown` is cancelled, then drains: readers stop, the queue
/// is emptied, held pairing/merge records are sent, the producer is flushed and the template
/// cache saved, all within `runtime.drain_timeout` (enforced by the runtime).
pub async fn run(config: IngestConfig, ctx: Context) -> Result<(), IngestError> {
    let metrics = IngestMetrics::register(&ctx.metrics);
    let settings = &config.ingest;
    let kafka = &config.kafka;
    let networks = settings.networks().map_err(IngestError::Config)?;
    if settings.create_topics {
        let spec = TopicSpec {
            name: kafka.topics.flows.clone(),
            partitions: kafka.topics.partitions,
            replication_factor: kafka.topics.replication_factor,
            compacted: false,
        };
        ensure_topics(kafka, &[spec]).await?;
    }
    let producer = relbot_kafka::producer(kafka)?;
    let workers: usize = settings.udp.iter().map(|u| u.workers.max(1)).sum();
    let collectors = Arc::new(Collectors::new(
        &settings.netflow.collector_config(),
        workers,
    ));
    let cache = Some(settings.template_cache.as_path()).filter(|p| !p.as_os_str().is_empty());
    if let Some(path) = cache {
        load_templates(path, &collectors);
    }

    let (queue_tx, queue_rx) = queue::queue(
        settings.queue_capacity,
        settings.batch_records,
        metrics.clone(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads: Vec<JoinHandle<()>> = Vec::new();
    let mut drops = KernelDrops::default();
    let mut bound: Vec<SocketAddr> = Vec::new();
    let started = (|| {
        for listener in &settings.udp {
            let label = listener.listen.to_string();
            metrics.listener(&label);
            for (i, socket) in udp::bind(listener)?.into_iter().enumerate() {
                drops.watch(&socket, &label);
                if let Ok(addr) = socket.local_addr() {
                    bound.push(addr);
                }
                let worker = Worker {
                    collectors: Arc::clone(&collectors),
                    queue: queue_tx.clone(),
                    metrics: metrics.clone(),
                    stop: Arc::clone(&stop),
                    batch_records: settings.batch_records,
                };
                threads.push(spawn(
                    format!("udp-{}-{i}", listener.listen.port()),
                    move || {
                        worker.run(socket);
                    },
                )?);
            }
        }
        if !settings.files.paths.is_empty() {
            let (inputs, queue, metrics, stop) = (
                settings.files.clone(),
                queue_tx.clone(),
                metrics.clone(),
                Arc::clone(&stop),
            );
            let batch = settings.batch_records;
            threads.push(spawn("files".to_owned(), move || {
                files::read_all(&inputs, &queue, &metrics, &stop, batch);
            })?);
        }
        Ok::<(), IngestError>(())
    })();
    drop(queue_tx);
    let stats = Arc::new(ProduceStats::default());
    let output = Output {
        producer: producer.clone(),
        topic: kafka.topics.flows.clone(),
        codec: FlowCodec::single_object(),
        stats,
    };
    let mut stage =
        tokio::spawn(Stage::new(settings, networks, metrics.clone()).run(queue_rx, output));
    if let Err(e) = started {
        stop.store(true, Ordering::Relaxed);
        join(threads).await;
        let _ = stage.await;
        return Err(e);
    }
    ctx.ready.set_ready();
    info!(udp = ?bound, topic = %kafka.topics.flows, "Ingest running.");

    let mut stats_tick = tokio::time::interval(settings.stats_interval);
    let mut save_tick = tokio::time::interval(settings.template_save_interval);
    save_tick.tick().await;
    let mut stage_result = None;
    loop {
        tokio::select! {
            () = ctx.shutdown.cancelled() => break,
            r = &mut stage => {
                stage_result = Some(r);
                break;
            }
            _ = stats_tick.tick() => {
                drops.poll(&metrics);
                collectors.expire(now_ms());
                metrics.templates(collectors.templates());
            }
            _ = save_tick.tick(), if cache.is_some() => {
                if let Some(path) = cache {
                    save_templates(path, &collectors, &metrics).await;
                }
            }
        }
    }
    info!("Draining: readers stop, held records and the producer are flushed.");
    ctx.ready.set_not_ready();
    stop.store(true, Ordering::Relaxed);
    join(threads).await;
    let result = match stage_result {
        Some(r) => r,
        None => stage.await,
    };
    drops.poll(&metrics);
    if let Some(path) = cache {
        save_templates(path, &collectors, &metrics).await;
    }
    let flushed =
        tokio::task::spawn_blocking(move || producer.flush(Duration::from_secs(10))).await;
    if let Ok(Err(e)) = flushed {
        error!(error = %e, "Producer flush failed.");
    }
    match result {
        Ok(r) => r,
        Err(join) => Err(IngestError::Config(format!(
            "producer stage panicked: {join}"
        ))),
    }
}

fn spawn(name: String, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, IngestError> {
    std::thread::Builder::new()
        .name(name.clone())
        .spawn(f)
        .map_err(|source| IngestError::Thread { name, source })
}

async fn join(threads: Vec<JoinHandle<()>>) {
    let _ = tokio::task::spawn_blocking(move || {
        for t in threads {
            let _ = t.join();
        }
    })
    .await;
}

fn load_templates(path: &Path, collectors: &Collectors) {
    match persist::load(path) {
        Ok(Some(bytes)) => match collectors.restore(&bytes) {
            Ok(n) => info!(file = %path.display(), templates = n, "Template cache loaded."),
            Err(e) => {
                warn!(file = %path.display(), error = %e, "Template cache not usable; starting without it.")
            }
        },
        Ok(None) => info!(file = %path.display(), "No template cache yet."),
        Err(e) => {
            warn!(file = %path.display(), error = %e, "Template cache not readable; starting without it.")
        }
    }
}

async fn save_templates(path: &Path, collectors: &Arc<Collectors>, metrics: &IngestMetrics) {
    let (path, collectors) = (path.to_path_buf(), Arc::clone(collectors));
    let saved = tokio::task::spawn_blocking(move || {
        persist::save(&path, &collectors.save()).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r);
    match saved {
        Ok(()) => metrics.template_save("ok"),
        Err(e) => {
            metrics.template_save("error");
            warn!(error = %e, "Template cache not saved.");
        }
    }
}
