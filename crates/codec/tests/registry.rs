//! The registry client against an in-test stand-in of the Confluent Schema Registry
//! (`std::net::TcpListener` on 127.0.0.1, port 0), since no real registry is available.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod common;

use std::{
    collections::HashMap,
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    sync::{Arc, Mutex},
    thread,
};

use common::{known_flow, known_report};
use relbot_codec::{
    registry::subject_for_topic, schema, CodecError, FlowCodec, RegistryClient, RegistryConfig,
    RegistryMode, ReportCodec, SchemaKind, WireFormat,
};

/// What the stand-in knows and saw.
#[derive(Default)]
struct State {
    /// subject → registered schemas (compared after JSON parsing), in order.
    subjects: HashMap<String, Vec<(serde_json::Value, u32)>>,
    next_id: u32,
    /// (method, path, authorization header) of every request.
    requests: Vec<(String, String, Option<String>)>,
}

struct StandIn {
    url: String,
    state: Arc<Mutex<State>>,
}

impl StandIn {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State {
            next_id: 100,
            ..State::default()
        }));
        let shared = Arc::clone(&state);
        // The thread ends with the test process; it only ever serves this test's client.
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let shared = Arc::clone(&shared);
                thread::spawn(move || serve(stream, &shared));
            }
        });
        Self { url, state }
    }

    fn config(&self, mode: RegistryMode) -> RegistryConfig {
        RegistryConfig {
            url: self.url.clone(),
            mode,
            username: None,
            password: None,
        }
    }
}

/// Serves requests on one connection until the client closes it.
fn serve(stream: TcpStream, state: &Mutex<State>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or("").to_owned();
        let path = parts.next().unwrap_or("").to_owned();
        let mut length = 0usize;
        let mut auth = None;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').unwrap();
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap(),
                "authorization" => auth = Some(value.trim().to_owned()),
                _ => {}
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let (status, answer) = handle(state, &method, &path, auth, &body);
        let answer = answer.to_string();
        write!(
            out,
            "HTTP/1.1 {status}\r\nContent-Type: application/vnd.schemaregistry.v1+json\r\nContent-Length: {}\r\n\r\n{answer}",
            answer.len()
        )
        .unwrap();
    }
}

fn handle(
    state: &Mutex<State>,
    method: &str,
    path: &str,
    auth: Option<String>,
    body: &[u8],
) -> (&'static str, serde_json::Value) {
    let mut st = state.lock().unwrap();
    st.requests.push((method.into(), path.into(), auth));
    let request: serde_json::Value = serde_json::from_slice(body).unwrap();
    let schema: serde_json::Value =
        serde_json::from_str(request["schema"].as_str().unwrap()).unwrap();
    let not_found = |code: u32, message: &str| {
        (
            "404 Not Found",
            serde_json::json!({"error_code": code, "message": message}),
        )
    };
    match (method, path.strip_prefix("/subjects/")) {
        ("POST", Some(rest)) if rest.ends_with("/versions") => {
            let subject = rest.trim_end_matches("/versions").to_owned();
            if schema["name"] == "Incompatible" {
                return (
                    "409 Conflict",
                    serde_json::json!({"error_code": 409, "message": "Schema being registered is incompatible"}),
                );
            }
            let next = st.next_id;
            let versions = st.subjects.entry(subject).or_default();
            let id = match versions.iter().find(|(s, _)| *s == schema) {
                Some((_, id)) => *id,
                None => {
                    versions.push((schema, next));
                    st.next_id += 1;
                    next
                }
            };
            ("200 OK", serde_json::json!({ "id": id }))
        }
        ("POST", Some(subject)) => match st.subjects.get(subject) {
            None => not_found(40401, "Subject not found."),
            Some(versions) => match versions.iter().position(|(s, _)| *s == schema) {
                None => not_found(40403, "Schema not found"),
                Some(i) => (
                    "200 OK",
                    serde_json::json!({"subject": subject, "version": i + 1, "id": versions[i].1, "schema": "…"}),
                ),
            },
        },
        _ => not_found(404, "HTTP 404 Not Found"),
    }
}

#[tokio::test]
async fn register_on_start_registers_once_and_frames_with_the_id() {
    let registry = StandIn::start();
    let config = registry.config(RegistryMode::RegisterOnStart);
    let codec = FlowCodec::from_config(Some(&config), "relbot.flows.v1")
        .await
        .unwrap();
    let WireFormat::Confluent(ids) = codec.format().clone() else {
        panic!("expected Confluent framing")
    };
    assert_eq!(ids.current, 100);
    // v1 is the current schema: looked up, found under the same id, not listed twice.
    assert!(ids.released.is_empty());
    let bytes = codec.to_vec(&known_flow()).unwrap();
    assert_eq!(&bytes[..5], &[0, 0, 0, 0, 100]);
    assert_eq!(codec.decode(&bytes).unwrap(), known_flow());

    // Starting again registers nothing new.
    let again = FlowCodec::from_config(Some(&config), "relbot.flows.v1")
        .await
        .unwrap();
    assert_eq!(again.format(), codec.format());
    let st = registry.state.lock().unwrap();
    assert_eq!(st.subjects["relbot.flows.v1-value"].len(), 1);
    assert_eq!(
        st.requests[0],
        (
            "POST".into(),
            "/subjects/relbot.flows.v1-value/versions".into(),
            None
        )
    );
    assert_eq!(st.requests[1].1, "/subjects/relbot.flows.v1-value");
}

#[tokio::test]
async fn lookup_only_fails_until_registered_then_finds_the_id() {
    let registry = StandIn::start();
    let lookup = registry.config(RegistryMode::LookupOnly);
    let err = ReportCodec::from_config(Some(&lookup), "relbot.reports.v1")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            CodecError::NotRegistered {
                schema: SchemaKind::Report,
                ..
            }
        ),
        "{err}"
    );

    let client = RegistryClient::new(&registry.config(RegistryMode::RegisterOnStart)).unwrap();
    let subject = subject_for_topic("relbot.reports.v1");
    // Another schema first, so the subject exists but this schema is not in it (40403).
    client
        .register(&subject, r#"{"type":"string"}"#)
        .await
        .unwrap();
    assert_eq!(
        client
            .lookup(&subject, schema::current(SchemaKind::Report).text())
            .await
            .unwrap(),
        None
    );
    let id = client
        .register(&subject, schema::current(SchemaKind::Report).text())
        .await
        .unwrap();
    let codec = ReportCodec::from_config(Some(&lookup), "relbot.reports.v1")
        .await
        .unwrap();
    let bytes = codec.to_vec(&known_report()).unwrap();
    assert_eq!(&bytes[1..5], &id.to_be_bytes());
    assert_eq!(codec.decode(&bytes).unwrap(), known_report());
}

#[tokio::test]
async fn registry_errors_carry_status_code_and_message() {
    let registry = StandIn::start();
    let client = RegistryClient::new(&registry.config(RegistryMode::RegisterOnStart)).unwrap();
    let err = client
        .register(
            "t-value",
            r#"{"type":"record","name":"Incompatible","fields":[]}"#,
        )
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("409") && text.contains("incompatible") && text.contains("t-value"),
        "{text}"
    );
}

#[tokio::test]
async fn basic_auth_is_sent_when_configured() {
    let registry = StandIn::start();
    let mut config = registry.config(RegistryMode::RegisterOnStart);
    config.username = Some("key".into());
    config.password = Some("secret".into());
    RegistryClient::new(&config)
        .unwrap()
        .register("s-value", r#"{"type":"string"}"#)
        .await
        .unwrap();
    let st = registry.state.lock().unwrap();
    // base64("key:secret")
    assert_eq!(st.requests[0].2.as_deref(), Some("Basic a2V5OnNlY3JldA=="));
}

#[tokio::test]
async fn an_unreachable_registry_is_an_error_not_a_hang() {
    // Bind then drop: nothing listens on this port any more.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = RegistryConfig {
        url: format!("http://127.0.0.1:{port}"),
        mode: RegistryMode::RegisterOnStart,
        username: None,
        password: None,
    };
    let err = FlowCodec::from_config(Some(&config), "x")
        .await
        .unwrap_err();
    assert!(matches!(err, CodecError::Registry { .. }), "{err}");
}

#[tokio::test]
async fn without_registry_the_codec_uses_single_object_encoding() {
    let codec = FlowCodec::from_config(None, "relbot.flows.v1")
        .await
        .unwrap();
    assert_eq!(codec.format(), &WireFormat::SingleObject);
}
