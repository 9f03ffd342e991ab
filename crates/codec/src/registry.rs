//! A small Confluent Schema Registry client: just what a producer or consumer needs at start
//! to obtain the schema ids of one subject, and [`Codec::from_config`], which picks the wire
//! format from configuration.
//!
//! Subjects follow the TopicNameStrategy: `<topic>-value`. Two modes:
//! - `register-on-start` registers the current schema (`POST /subjects/{subject}/versions`;
//!   the registry returns the existing id when it already has the schema, and rejects it
//!   when it breaks the subject's compatibility setting);
//! - `lookup-only` only looks it up (`POST /subjects/{subject}`) and fails when it is absent,
//!   for deployments where schemas are registered by a pipeline, not by services.
//!
//! In both modes, the released versions under `schemas/history/` are looked up too, so that
//! messages written by older producers remain readable; absent ones are skipped.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{
    error::CodecError,
    schema::{self, SchemaKind},
    wire::{AvroRecord, Codec, ConfluentIds},
};

/// Where the schema registry is and how to use it. Absent from the configuration means
/// Avro single-object encoding without a registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    /// Base URL, e.g. `http://schema-registry:8081` (`https://` uses rustls and the system's
    /// trust store).
    pub url: String,
    /// `register-on-start` (default) or `lookup-only`.
    #[serde(default)]
    pub mode: RegistryMode,
    /// HTTP basic-auth user name (e.g. a Confluent Cloud API key); none by default.
    #[serde(default)]
    pub username: Option<String>,
    /// HTTP basic-auth password, used with `username`.
    #[serde(default)]
    pub password: Option<String>,
}

/// Whether a service registers its schema or only looks it up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RegistryMode {
    /// Register the current schema at start (idempotent).
    #[default]
    RegisterOnStart,
    /// Only look the schema up; fail at start if it is not registered.
    LookupOnly,
}

/// The registry subject of a topic's record values (TopicNameStrategy).
pub fn subject_for_topic(topic: &str) -> String {
    format!("{topic}-value")
}

/// Time allowed to open a connection to the registry.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time allowed for one whole request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// The registry's content type.
const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";
/// Registry error codes meaning "subject not found" and "schema not found".
const NOT_FOUND_CODES: [i64; 2] = [40401, 40403];

/// An HTTP client for one schema registry.
#[derive(Debug, Clone)]
pub struct RegistryClient {
    http: reqwest::Client,
    base: String,
    auth: Option<(String, Option<String>)>,
}

impl RegistryClient {
    /// A client for `config.url`. Fails on a URL that is not http(s).
    pub fn new(config: &RegistryConfig) -> Result<Self, CodecError> {
        let url = config.url.trim_end_matches('/').to_owned();
        let err = |reason: String| CodecError::Registry {
            url: config.url.clone(),
            subject: String::new(),
            reason,
        };
        let parsed = reqwest::Url::parse(&url).map_err(|e| err(format!("invalid URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(err(format!("unsupported scheme {:?}", parsed.scheme())));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| err(format!("cannot build HTTP client: {e}")))?;
        Ok(Self {
            http,
            base: url,
            auth: config
                .username
                .clone()
                .map(|user| (user, config.password.clone())),
        })
    }

    /// Registers `schema` under `subject` and returns its id (the existing id if the
    /// registry already has it).
    pub async fn register(&self, subject: &str, schema: &str) -> Result<u32, CodecError> {
        let path = format!("/subjects/{}/versions", encode_segment(subject));
        match self.post(subject, &path, schema).await? {
            Some(id) => Ok(id),
            None => Err(self.error(subject, "registry answered not found to a registration")),
        }
    }

    /// Looks `schema` up under `subject`: its id, or `None` when the subject or the schema is
    /// not registered.
    pub async fn lookup(&self, subject: &str, schema: &str) -> Result<Option<u32>, CodecError> {
        let path = format!("/subjects/{}", encode_segment(subject));
        self.post(subject, &path, schema).await
    }

    /// The ids of `kind`'s current schema and released versions under `subject`.
    pub async fn resolve(
        &self,
        kind: SchemaKind,
        subject: &str,
        mode: RegistryMode,
    ) -> Result<ConfluentIds, CodecError> {
        let current = schema::current(kind);
        let current_id = match mode {
            RegistryMode::RegisterOnStart => self.register(subject, current.text()).await?,
            RegistryMode::LookupOnly => match self.lookup(subject, current.text()).await? {
                Some(id) => id,
                None => {
                    return Err(CodecError::NotRegistered {
                        url: self.base.clone(),
                        subject: subject.to_owned(),
                        schema: kind,
                    })
                }
            },
        };
        let mut ids = ConfluentIds::current(current_id);
        for version in schema::history(kind) {
            let Some(number) = version.version() else {
                continue;
            };
            if let Some(id) = self.lookup(subject, version.text()).await? {
                if id != current_id {
                    ids.released.push((number, id));
                }
            }
        }
        Ok(ids)
    }

    /// POSTs `{"schema": …}`; `Ok(None)` for the registry's "not found" answers.
    async fn post(
        &self,
        subject: &str,
        path: &str,
        schema: &str,
    ) -> Result<Option<u32>, CodecError> {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .header(
                reqwest::header::ACCEPT,
                format!("{CONTENT_TYPE}, application/json"),
            )
            .json(&serde_json::json!({ "schema": schema }));
        if let Some((user, password)) = &self.auth {
            request = request.basic_auth(user, password.as_ref());
        }
        let response = request
            .send()
            .await
            .map_err(|e| self.error(subject, format!("request failed: {e}")))?;
        let status = response.status();
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|e| self.error(subject, format!("HTTP {status}: unreadable answer: {e}")))?;
        if status.is_success() {
            return body
                .get("id")
                .and_then(serde_json::Value::as_u64)
                .and_then(|id| u32::try_from(id).ok())
                .map(Some)
                .ok_or_else(|| {
                    self.error(subject, format!("HTTP {status}: answer has no id: {body}"))
                });
        }
        let code = body.get("error_code").and_then(serde_json::Value::as_i64);
        if status == reqwest::StatusCode::NOT_FOUND
            && code.is_some_and(|c| NOT_FOUND_CODES.contains(&c))
        {
            return Ok(None);
        }
        let message = body
            .get("message")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("");
        Err(self.error(
            subject,
            format!("HTTP {status}, error code {}: {message}", code.unwrap_or(0)),
        ))
    }

    fn error(&self, subject: &str, reason: impl Into<String>) -> CodecError {
        CodecError::Registry {
            url: self.base.clone(),
            subject: subject.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Percent-encodes a path segment (Kafka topic names need none, but subjects are strings).
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl<T: AvroRecord> Codec<T> {
    /// The codec for records of `T` on `topic`: Confluent framing with ids resolved against
    /// the registry when one is configured, else single-object encoding.
    pub async fn from_config(
        registry: Option<&RegistryConfig>,
        topic: &str,
    ) -> Result<Self, CodecError> {
        match registry {
            None => Ok(Self::single_object()),
            Some(config) => {
                let client = RegistryClient::new(config)?;
                let ids = client
                    .resolve(T::KIND, &subject_for_topic(topic), config.mode)
                    .await?;
                Ok(Self::confluent(ids))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_follow_the_topic_name_strategy() {
        assert_eq!(
            subject_for_topic("relbot.flows.v1"),
            "relbot.flows.v1-value"
        );
        assert_eq!(
            encode_segment("relbot.flows.v1-value"),
            "relbot.flows.v1-value"
        );
        assert_eq!(encode_segment("a b/c"), "a%20b%2Fc");
    }

    #[test]
    fn config_reads_kebab_case_modes_and_rejects_unknown_keys() {
        let c: RegistryConfig =
            serde_json::from_str(r#"{"url":"http://r:8081","mode":"lookup-only"}"#).unwrap();
        assert_eq!(c.mode, RegistryMode::LookupOnly);
        let c: RegistryConfig = serde_json::from_str(r#"{"url":"http://r:8081"}"#).unwrap();
        assert_eq!(c.mode, RegistryMode::RegisterOnStart);
        assert!(serde_json::from_str::<RegistryConfig>(r#"{"url":"x","typo":1}"#).is_err());
    }

    #[test]
    fn only_http_urls_are_accepted() {
        let config = |url: &str| RegistryConfig {
            url: url.into(),
            mode: RegistryMode::default(),
            username: None,
            password: None,
        };
        assert!(RegistryClient::new(&config("ftp://r")).is_err());
        assert!(RegistryClient::new(&config("not a url")).is_err());
        assert!(RegistryClient::new(&config("http://127.0.0.1:8081/")).is_ok());
    }
}
