//! A real syslog peer: Debian's rsyslogd, started by the test on loopback ports, receives the
//! reporter's RFC 5424 messages with CEF payloads over plain TCP and over TLS (gtls driver,
//! certificate from a test CA) and writes them to files that the test reads back.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use relbot_codec::ReportId;
use relbot_e2e::pki::TestPki;
use relbot_e2e::reporter::{
    free_port, produce_detections, wait_for, ReporterProcess, ReporterTopics,
};
use relbot_e2e::rsyslog::{installed, Rsyslog};
use relbot_kafka::testing::{skip_or_fail, TestBroker};
use relbot_report::testing::detection;

const TEST: &str = "reporter-syslog";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsyslog_receives_cef_over_tcp_and_tls() -> anyhow::Result<()> {
    let Some(broker) = TestBroker::connect(TEST).await else {
        return Ok(());
    };
    if !installed(true) {
        return skip_or_fail(TEST, "rsyslog and rsyslog-gnutls are not installed")
            .map_or(Ok(()), Ok);
    }
    let started = Instant::now();
    let dir = tempfile::tempdir()?;
    let pki = TestPki::new()?;
    let (tcp_dir, tls_dir) = (dir.path().join("tcp"), dir.path().join("tls"));
    std::fs::create_dir_all(&tcp_dir)?;
    std::fs::create_dir_all(&tls_dir)?;
    let tcp = Rsyslog::start(&tcp_dir, None)?;
    let tls = Rsyslog::start(&tls_dir, Some(&pki))?;
    let topics = ReporterTopics::create(&broker, TEST, 2).await?;
    let port = free_port()?;
    let toml = format!(
        r#"{base}
[sinks.siem-tcp]
kind = "syslog"
address = "127.0.0.1:{tcp_port}"
transport = "tcp"
hostname = "sensor-1"

[sinks.siem-tls]
kind = "syslog"
address = "localhost:{tls_port}"
transport = "tls"
ca_file = "{ca}"
facility = "local0"
protection = {{ mode = "anon" }}
"#,
        base = topics.base_toml(&broker.brokers, port),
        tcp_port = tcp.port,
        tls_port = tls.port,
        ca = pki.ca.display(),
    );
    let mut reporter = ReporterProcess::start(dir.path(), &toml, port, &[])?;
    reporter.wait_ready(Duration::from_secs(30)).await?;
    let detections = [
        detection("10.40.0.1", &[2, 0, 0, 0]),
        detection("10.40.0.2", &[0, 1, 3, 0]),
        detection("2001:db8:40::2", &[0, 0, 0, 5]),
    ];
    produce_detections(&broker.config(TEST), &topics.detections, &detections).await?;
    wait_for(
        "3 messages at each rsyslogd",
        Duration::from_secs(60),
        || tcp.lines().len() >= 3 && tls.lines().len() >= 3,
    )
    .await
    .with_context(|| {
        format!(
            "{}\nrsyslog tls: {:?}",
            reporter.logs(),
            std::fs::read_to_string(&tls.log)
        )
    })?;

    for (peer, sink, pri, hosts) in [
        (
            &tcp,
            "siem-tcp",
            "<164>1 ",
            ["10.40.0.1", "10.40.0.2", "2001:db8:40::2"],
        ),
        (
            &tls,
            "siem-tls",
            "<132>1 ",
            ["10.40.0.0", "10.40.0.0", "2001:db8:40::"],
        ),
    ] {
        let lines = peer.lines();
        assert_eq!(lines.len(), 3, "{sink}: {lines:?}");
        for (d, host) in detections.iter().zip(hosts) {
            let id = ReportId::derive(&d.detection_id, sink);
            let line = lines
                .iter()
                .find(|l| l.contains(&format!("reportId=\"{id}\"")))
                .with_context(|| format!("{sink}: no message for {id} in {lines:?}"))?;
            assert!(line.starts_with(pri), "{line}");
            assert!(line.contains(" relbot-reporter "), "{line}");
            assert!(line.contains("CEF:0|relbot|relbot-reporter|"), "{line}");
            assert!(line.contains(&format!("externalId={id}")), "{line}");
            let address = if host.contains(':') {
                format!("c6a2={host} ")
            } else {
                format!("src={host} ")
            };
            assert!(line.contains(&address), "{address} not in {line}");
        }
    }
    assert!(tcp.lines().iter().all(|l| l.contains(" sensor-1 ")));
    reporter.terminate(Duration::from_secs(15)).await?;
    topics.delete(&broker).await;
    eprintln!("{TEST}: {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}
