//! Topic bootstrap: create the topics relbot needs when they are missing.
//!
//! Existing topics are left as they are, except that a partition count other than the
//! configured one is an error: keys are placed by `murmur2(key) % partitions`, so a different
//! count puts hosts in other partitions than the co-partitioned changelog expects.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::admin::{AdminOptions, NewTopic, TopicReplication};
use rdkafka::error::RDKafkaErrorCode;
use tracing::info;

use crate::client::admin;
use crate::config::{topic_name_problem, KafkaConfig, TopicsConfig};
use crate::error::KafkaError;

const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);

/// A topic as relbot creates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    /// Topic name.
    pub name: String,
    /// Number of partitions.
    pub partitions: i32,
    /// Replication factor; -1 for the broker's default.
    pub replication_factor: i32,
    /// `cleanup.policy=compact` (a changelog keyed like its input) instead of `delete`.
    pub compacted: bool,
}

/// What [`ensure_topics`] found for one topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicStatus {
    /// The topic was created now.
    Created,
    /// The topic existed with the expected partition count.
    Existed,
}

impl TopicsConfig {
    /// The four relbot topics; the detector state changelog is compacted.
    pub fn specs(&self) -> Vec<TopicSpec> {
        self.names()
            .into_iter()
            .map(|(field, name)| TopicSpec {
                name: name.to_owned(),
                partitions: self.partitions,
                replication_factor: self.replication_factor,
                compacted: field == "detector_state",
            })
            .collect()
    }
}

/// Creates the topics of `specs` that do not exist and checks the partition count of the
/// others. Safe to run from several replicas at once.
pub async fn ensure_topics(
    config: &KafkaConfig,
    specs: &[TopicSpec],
) -> Result<Vec<(String, TopicStatus)>, KafkaError> {
    for spec in specs {
        if let Some(problem) = topic_name_problem(&spec.name) {
            return Err(KafkaError::InvalidConfig {
                problems: vec![problem],
            });
        }
    }
    let admin = Arc::new(admin(config)?);
    let new_topics: Vec<NewTopic<'_>> = specs
        .iter()
        .map(|spec| {
            let topic = NewTopic::new(
                &spec.name,
                spec.partitions,
                TopicReplication::Fixed(spec.replication_factor),
            );
            if spec.compacted {
                topic.set("cleanup.policy", "compact")
            } else {
                topic
            }
        })
        .collect();
    let options = AdminOptions::new()
        .operation_timeout(Some(ADMIN_TIMEOUT))
        .request_timeout(Some(ADMIN_TIMEOUT));
    let results = admin
        .create_topics(&new_topics, &options)
        .await
        .map_err(|source| KafkaError::Admin {
            what: "create topics",
            brokers: config.brokers.clone(),
            source,
        })?;

    let mut statuses = Vec::with_capacity(specs.len());
    let mut existing = Vec::new();
    for (spec, result) in specs.iter().zip(results) {
        match result {
            Ok(_) => {
                info!(topic = %spec.name, partitions = spec.partitions, compacted = spec.compacted, "Created topic.");
                statuses.push((spec.name.clone(), TopicStatus::Created));
            }
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {
                existing.push(spec.clone());
                statuses.push((spec.name.clone(), TopicStatus::Existed));
            }
            Err((_, code)) => {
                return Err(KafkaError::CreateTopic {
                    topic: spec.name.clone(),
                    partitions: spec.partitions,
                    replication_factor: spec.replication_factor,
                    code,
                })
            }
        }
    }
    if !existing.is_empty() {
        check_partitions(config, admin, existing).await?;
    }
    Ok(statuses)
}

async fn check_partitions(
    config: &KafkaConfig,
    admin: Arc<rdkafka::admin::AdminClient<crate::client::ClientLog>>,
    existing: Vec<TopicSpec>,
) -> Result<(), KafkaError> {
    let brokers = config.brokers.clone();
    // Metadata requests block; keep them off the async workers.
    let checked = tokio::task::spawn_blocking(move || {
        for spec in existing {
            let metadata = admin
                .inner()
                .fetch_metadata(Some(&spec.name), ADMIN_TIMEOUT)
                .map_err(|source| KafkaError::Admin {
                    what: "topic metadata",
                    brokers: brokers.clone(),
                    source,
                })?;
            let actual = metadata
                .topics()
                .iter()
                .find(|t| t.name() == spec.name)
                .map_or(0, |t| t.partitions().len() as i32);
            if actual != spec.partitions {
                return Err(KafkaError::PartitionMismatch {
                    topic: spec.name,
                    expected: spec.partitions,
                    actual,
                });
            }
        }
        Ok(())
    })
    .await;
    checked.unwrap_or_else(|join| {
        Err(KafkaError::Unreachable {
            brokers: config.brokers.clone(),
            timeout: ADMIN_TIMEOUT,
            reason: format!("metadata task failed: {join}"),
        })
    })
}

/// Deletes topics (tests clean up after themselves); topics that do not exist are ignored.
pub async fn delete_topics(config: &KafkaConfig, names: &[&str]) -> Result<(), KafkaError> {
    let admin = admin(config)?;
    let options = AdminOptions::new().operation_timeout(Some(ADMIN_TIMEOUT));
    let results = admin
        .delete_topics(names, &options)
        .await
        .map_err(|source| KafkaError::Admin {
            what: "delete topics",
            brokers: config.brokers.clone(),
            source,
        })?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) => {}
            Err((topic, code)) => {
                tracing::warn!(%topic, %code, "Deleting topic failed.");
                return Err(KafkaError::Admin {
                    what: "delete topics",
                    brokers: config.brokers.clone(),
                    source: rdkafka::error::KafkaError::AdminOp(code),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_state_changelog_is_compacted() {
        let specs = TopicsConfig::default().specs();
        assert_eq!(specs.len(), 4);
        let compacted: Vec<_> = specs
            .iter()
            .filter(|s| s.compacted)
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(compacted, ["relbot.detector-state.v1"]);
        assert!(specs
            .iter()
            .all(|s| s.partitions == 12 && s.replication_factor == -1));
    }
}
