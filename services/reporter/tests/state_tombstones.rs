//! State topic growth, against the real broker: a host whose state is pruned on restore (every
//! mark older than `reporter.state_retention`) gets a tombstone in the compacted state topic,
//! so a later restore — even with a retention long enough to keep the old marks — does not
//! bring the host back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use relbot_codec::ReportId;
use relbot_kafka::rdkafka::consumer::{Consumer as _, StreamConsumer};
use relbot_kafka::rdkafka::message::Message as _;
use relbot_kafka::rdkafka::{Offset, TopicPartitionList};
use relbot_kafka::testing::{unique_name, TestBroker};
use relbot_kafka::{ensure_topics, ClientLog, ProduceStats, TopicSpec};
use relbot_reporter::state::{now_ms, HostState, LastReport, Mark, MarkStatus, StateStore};
use tokio_util::sync::CancellationToken;

const TEST: &str = "reporter-state-tombstones";
const HOUR_MS: i64 = 3_600_000;

fn state(age_ms: i64, host: &str) -> HostState {
    let detection = relbot_report::testing::detection(host, &[2, 0, 0, 0]);
    let mut reports = BTreeMap::new();
    reports.insert(
        ReportId::derive(&detection.detection_id, "out").to_string(),
        Mark {
            status: MarkStatus::Delivered,
            at_ms: now_ms() - age_ms,
        },
    );
    HostState {
        last: Some(LastReport::of(&detection)),
        reports,
    }
}

/// Every (key, has value) record of partition 0 of `topic`, in order.
async fn records(broker: &TestBroker, topic: &str) -> Vec<(String, bool)> {
    let mut config = broker.config(TEST);
    config.consumer.group_id = unique_name("tombstone-reader");
    let consumer: StreamConsumer<ClientLog> =
        relbot_kafka::consumer(&config, ClientLog::default()).unwrap();
    let (low, high) = consumer
        .fetch_watermarks(topic, 0, Duration::from_secs(10))
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).unwrap();
    let mut out = Vec::new();
    if high <= low {
        return out;
    }
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), consumer.recv())
            .await
            .expect("records up to the high watermark")
            .unwrap();
        let key = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
        out.push((key, m.payload().is_some_and(|p| !p.is_empty())));
        if m.offset() >= high - 1 {
            break;
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pruned_hosts_get_tombstones_and_stay_forgotten() {
    let Some(broker) = TestBroker::connect(TEST).await else {
        return;
    };
    let kafka = broker.config(TEST);
    let topic = unique_name(&format!("{TEST}-state"));
    ensure_topics(
        &kafka,
        &[TopicSpec {
            name: topic.clone(),
            partitions: 1,
            replication_factor: 1,
            compacted: true,
        }],
    )
    .await
    .unwrap();
    let producer = relbot_kafka::producer(&kafka).unwrap();
    let stats = Arc::new(ProduceStats::default());
    let store = |retention: Duration| {
        StateStore::new(
            &kafka,
            &topic,
            producer.clone(),
            Arc::clone(&stats),
            retention,
        )
        .unwrap()
    };
    let (old, fresh): (IpAddr, IpAddr) =
        ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
    let never = CancellationToken::new();

    // Two hosts: one last reported 48 h ago, one just now.
    let writer = store(Duration::from_secs(24 * 3600));
    assert!(writer
        .write(0, old, &state(48 * HOUR_MS, "192.0.2.1"), &never)
        .await
        .unwrap());
    assert!(writer
        .write(0, fresh, &state(0, "192.0.2.2"), &never)
        .await
        .unwrap());

    // Restore with a 24 h retention: the old host is pruned, and a tombstone written.
    let mut first = store(Duration::from_secs(24 * 3600));
    let restored = first.restore(0).await.unwrap();
    assert_eq!((restored.hosts, restored.pruned), (1, 1));
    assert_eq!(first.get(0, old), HostState::default());
    assert!(first.get(0, fresh).last.is_some());
    let log = records(&broker, &topic).await;
    assert_eq!(
        log.last(),
        Some(&(old.to_string(), false)),
        "the last record is the old host's tombstone: {log:?}"
    );
    assert_eq!(log.iter().filter(|(_, value)| !value).count(), 1, "{log:?}");

    // A later restore with a retention that would keep 48 h old marks: still forgotten.
    let mut second = store(Duration::from_secs(365 * 24 * 3600));
    let restored = second.restore(0).await.unwrap();
    assert_eq!((restored.hosts, restored.pruned), (1, 0));
    assert_eq!(second.get(0, old), HostState::default());
    assert_eq!(second.get(0, fresh), first.get(0, fresh));
    // Nothing left to prune: no further tombstone.
    assert_eq!(records(&broker, &topic).await.len(), log.len());

    broker.delete_topic(&topic).await;
}
