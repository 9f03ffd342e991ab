//! Two members of one consumer group split the partitions; when one leaves, the other
//! takes its partitions over from the offsets it committed and finishes the topic.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _};
use rdkafka::consumer::Consumer as _;
use rdkafka::message::Message as _;
use rdkafka::producer::FutureRecord;
use relbot_kafka::testing::TestBroker;
use relbot_kafka::{
    consumer, enqueue_with_backpressure, producer, KafkaConfig, ProduceStats, RebalanceContext,
    RebalanceEvent,
};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

const TEST: &str = "consumer-group";
const RECORDS: usize = 3_000;
const HOSTS: usize = 300;
const PARTITIONS: i32 = 3;
/// Records member B processes before it leaves; fewer than any partition receives.
const B_BUDGET: usize = 200;

/// A processed record: which member, where it was, and its id.
#[derive(Debug)]
struct Processed {
    member: char,
    partition: i32,
    offset: i64,
    id: usize,
}

/// A group member: consumes, "processes" (reports to the test), then stores the offset,
/// until it has processed `budget` records or is told to stop; then it closes (leaves).
fn member(
    name: char,
    config: &KafkaConfig,
    topic: &str,
    budget: usize,
    processed: mpsc::UnboundedSender<Processed>,
    revoked: Arc<Mutex<Vec<(char, i32)>>>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<(
    JoinHandle<anyhow::Result<()>>,
    mpsc::UnboundedReceiver<RebalanceEvent>,
)> {
    let (context, events) = RebalanceContext::new();
    // The revoke hook is where a service flushes a partition's state; here it notes the call.
    let context = context.with_revoke_hook(Box::new(move |_consumer, partitions| {
        if let Ok(mut revoked) = revoked.lock() {
            revoked.extend(partitions.iter().map(|p| (name, p.partition)));
        }
    }));
    let consumer = consumer(config, context)?;
    consumer.subscribe(&[topic])?;
    let task = tokio::spawn(async move {
        let mut done = 0;
        while done < budget {
            let message = tokio::select! {
                _ = stop.changed() => break,
                message = consumer.recv() => message?,
            };
            let payload = std::str::from_utf8(message.payload().context("no payload")?)?;
            let id = payload.parse()?;
            processed.send(Processed {
                member: name,
                partition: message.partition(),
                offset: message.offset(),
                id,
            })?;
            consumer.store_offset_from_message(&message)?;
            done += 1;
        }
        // Dropping the consumer closes it: stored offsets are committed, the group is left.
        drop(consumer);
        Ok(())
    });
    Ok((task, events))
}

/// Applies pending rebalance events to a member's assignment.
fn apply(events: &mut mpsc::UnboundedReceiver<RebalanceEvent>, assigned: &mut BTreeSet<i32>) {
    while let Ok(event) = events.try_recv() {
        match event {
            RebalanceEvent::Assigned(list) => assigned.extend(list.iter().map(|p| p.partition)),
            RebalanceEvent::Revoked(list) => list.iter().for_each(|p| {
                assigned.remove(&p.partition);
            }),
            RebalanceEvent::Failed(_) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_members_split_partitions_and_the_survivor_finishes() -> anyhow::Result<()> {
    let Some(broker) = TestBroker::connect(TEST).await else {
        return Ok(());
    };
    let topic = broker.create_topic(TEST, PARTITIONS).await?;
    let config = broker.config(TEST);
    let (processed_tx, mut processed) = mpsc::unbounded_channel();
    let (stop, stop_rx) = watch::channel(false);
    let revoked = Arc::new(Mutex::new(Vec::new()));

    let (task_a, mut events_a) = member(
        'A',
        &config,
        &topic,
        usize::MAX,
        processed_tx.clone(),
        Arc::clone(&revoked),
        stop_rx.clone(),
    )?;
    let (task_b, mut events_b) = member(
        'B',
        &config,
        &topic,
        B_BUDGET,
        processed_tx,
        Arc::clone(&revoked),
        stop_rx,
    )?;

    // Both members get a share, together all partitions, none twice.
    let (mut assigned_a, mut assigned_b) = (BTreeSet::new(), BTreeSet::new());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        apply(&mut events_a, &mut assigned_a);
        apply(&mut events_b, &mut assigned_b);
        let all: BTreeSet<i32> = assigned_a.union(&assigned_b).copied().collect();
        if !assigned_a.is_empty() && !assigned_b.is_empty() && all.len() == PARTITIONS as usize {
            ensure!(
                assigned_a.is_disjoint(&assigned_b),
                "A {assigned_a:?} and B {assigned_b:?} overlap"
            );
            break;
        }
        if Instant::now() > deadline {
            bail!("the group did not split the partitions: A {assigned_a:?}, B {assigned_b:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("{TEST}: split A {assigned_a:?} B {assigned_b:?}");
    let b_partitions = assigned_b.clone();
    // Revocations before the split settled (e.g. B owned everything until A joined) are part
    // of forming the group, not of B leaving: only later ones are checked below.
    let revokes_before_split = revoked
        .lock()
        .map_err(|_| anyhow::anyhow!("revoke log poisoned"))?
        .len();

    // Now produce; payload = record id, keys spread over the partitions.
    let producer = producer(&config)?;
    let stats = Arc::new(ProduceStats::default());
    let mut pending = Vec::with_capacity(RECORDS);
    for id in 0..RECORDS {
        let key = format!("10.9.{}.{}", (id % HOSTS) / 256, (id % HOSTS) % 256);
        let payload = id.to_string();
        pending.push(
            enqueue_with_backpressure(
                &producer,
                FutureRecord::to(&topic).key(&key).payload(&payload),
                &stats,
            )
            .await?,
        );
    }
    let mut per_partition: HashMap<i32, usize> = HashMap::new();
    for delivery in pending {
        *per_partition
            .entry(delivery.wait().await?.partition)
            .or_default() += 1;
    }
    ensure!(
        b_partitions
            .iter()
            .map(|p| per_partition.get(p).copied().unwrap_or(0))
            .sum::<usize>()
            > B_BUDGET,
        "B's partitions got too few records to leave some behind: {per_partition:?}"
    );

    // Collect until every id was processed by someone.
    let mut times_seen = vec![0_u32; RECORDS];
    let mut by_member: HashMap<char, Vec<Processed>> = HashMap::new();
    let mut missing = RECORDS;
    let deadline = Instant::now() + Duration::from_secs(60);
    while missing > 0 {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let Ok(Some(p)) = tokio::time::timeout(remaining, processed.recv()).await else {
            bail!("{missing} of {RECORDS} records never processed; A {assigned_a:?}");
        };
        if times_seen[p.id] == 0 {
            missing -= 1;
        }
        times_seen[p.id] += 1;
        by_member.entry(p.member).or_default().push(p);
    }
    task_b.await??;
    apply(&mut events_a, &mut assigned_a);
    stop.send(true)?;
    task_a.await??;

    let b = by_member.get(&'B').map_or(&[][..], Vec::as_slice);
    let a = by_member.get(&'A').map_or(&[][..], Vec::as_slice);
    ensure!(
        b.len() == B_BUDGET,
        "B processed {} records, not {B_BUDGET}",
        b.len()
    );
    ensure!(
        b.iter().all(|p| b_partitions.contains(&p.partition)),
        "B read outside its partitions"
    );
    ensure!(
        assigned_a.len() == PARTITIONS as usize,
        "after B left, A should own every partition, owns {assigned_a:?}"
    );
    // A took B's partitions over after the offsets B committed at close.
    let b_last: HashMap<i32, i64> = b.iter().fold(HashMap::new(), |mut last, p| {
        let entry = last.entry(p.partition).or_insert(p.offset);
        *entry = (*entry).max(p.offset);
        last
    });
    let b_revoked: BTreeSet<i32> = revoked
        .lock()
        .map_err(|_| anyhow::anyhow!("revoke log poisoned"))?
        .iter()
        .skip(revokes_before_split)
        .filter(|(member, _)| *member == 'B')
        .map(|(_, partition)| *partition)
        .collect();
    ensure!(
        b_revoked == b_partitions,
        "B's revoke hook saw {b_revoked:?} when it left, not {b_partitions:?}"
    );
    let taken_over = a
        .iter()
        .filter(|p| b_partitions.contains(&p.partition))
        .count();
    ensure!(taken_over > 0, "A never read B's partitions");
    // At-least-once allows replays, but B committed what it stored when it closed: with a
    // clean leave nothing is processed twice.
    let twice = times_seen.iter().filter(|&&n| n > 1).count();
    ensure!(
        twice == 0,
        "{twice} records processed twice; B's last offsets {b_last:?}"
    );
    eprintln!(
        "{TEST}: A processed {} ({} from B's partitions), B {}, none twice",
        a.len(),
        taken_over,
        b.len()
    );
    broker.delete_topic(&topic).await;
    Ok(())
}
