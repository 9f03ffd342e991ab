//! The chart's configuration is the configuration that works: `helm template` renders
//! helm/relbot with values pointing at the local broker (unique topics and groups), the three
//! services' TOML is taken from the rendered ConfigMaps, and relbot-ingest, relbot-detector
//! and relbot-reporter run as processes with it. The paths the chart mounts volumes and
//! secrets at (`/var/lib/relbot/…`, `/run/secrets/relbot`) are mapped into a temporary folder,
//! and the secret file is written as the chart's Secret would hold it. Ingest reads the
//! classic fixture (tests/data/classic/nfdump-fmt.txt) as a file input; a detection of a
//! host the original RelBot reports reaches the jsonl sink, in plain and pseudonymised form.
//! Every service answers /healthz, /readyz and /metrics, and exits 0 within the grace period
//! the chart gives its pod on SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, UdpSocket};
use std::path::Path;
use std::time::Duration;

use anyhow::{ensure, Context as _};
use relbot_e2e::chart;
use relbot_e2e::reporter::{free_port, wait_for};
use relbot_e2e::service_process::{locate_binary, ServiceProcess};
use relbot_kafka::testing::{skip_or_fail, unique_name, TestBroker};
use relbot_report::cryptopan::CryptoPan;

const TEST: &str = "chart-configs";
const FIXTURE: &str = "tests/data/classic/nfdump-fmt.txt";

/// Crypto-PAn key as the Secret holds it: 64 hex digits (bytes 0, 1, …, 31).
fn pseudo_key() -> ([u8; 32], String) {
    let key: [u8; 32] = std::array::from_fn(|i| i as u8);
    let hex = key.iter().map(|b| format!("{b:02x}")).collect();
    (key, hex)
}

/// Hosts the original RelBot reports on the fixture: those with a count of at least one
/// (the reporter's default rule, `min_idx = 1`).
fn expected_hosts() -> anyhow::Result<BTreeSet<String>> {
    let text = std::fs::read_to_string(
        relbot_e2e::repo_root().join("tests/data/classic/nfdump-fmt.expected"),
    )?;
    let mut hosts = BTreeSet::new();
    let mut current = None;
    for line in text.lines() {
        if line.starts_with("===") {
            current = None;
        } else if let Some((_, count)) = line.split_once(" -> ") {
            if count.trim().parse::<u32>()? > 0 {
                hosts.insert(current.clone().context("count before host")?);
            }
        } else if !line.trim().is_empty() {
            current = Some(line.trim().to_owned());
        }
    }
    ensure!(!hosts.is_empty(), "no reported host in the expected output");
    Ok(hosts)
}

/// Source addresses of the fixture's flows (third column of the nfdump-fmt lines).
fn fixture_initiators() -> anyhow::Result<BTreeSet<String>> {
    let text = std::fs::read_to_string(relbot_e2e::repo_root().join(FIXTURE))?;
    Ok(text
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2).map(str::to_owned))
        .collect())
}

fn free_udp_port() -> anyhow::Result<u16> {
    Ok(UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The rendered TOML with the pod's mount points moved under `root`.
fn mounted(toml: &str, root: &Path) -> String {
    toml.replace(
        "/var/lib/relbot/",
        &format!("{}/var/lib/relbot/", root.display()),
    )
    .replace(
        "/run/secrets/relbot",
        &format!("{}/run/secrets/relbot", root.display()),
    )
}

fn reports(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chart_configs_run_the_pipeline() -> anyhow::Result<()> {
    let Some(broker) = TestBroker::connect(TEST).await else {
        return Ok(());
    };
    let Some(helm) = chart::locate_helm() else {
        skip_or_fail::<()>(
            TEST,
            "helm is not installed (scripts/check-deploy installs it)",
        );
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let root = dir.path();
    let (key, key_hex) = pseudo_key();
    let topic = |what: &str| unique_name(&format!("{TEST}-{what}"));
    let topics: BTreeMap<&str, String> = [
        "flows",
        "detections",
        "detector-state",
        "reporter-state",
        "dlq",
    ]
    .into_iter()
    .map(|t| (t, topic(t)))
    .collect();
    let (ingest_port, detector_port, reporter_port) = (free_port()?, free_port()?, free_port()?);
    let values = format!(
        r#"
logFormat: text
kafka:
  brokers: "{brokers}"
  topics:
    flows: "{flows}"
    detections: "{detections}"
    detectorState: "{detector_state}"
    reporterState: "{reporter_state}"
    reportsDlq: "{dlq}"
    partitions: 3
    replicationFactor: 1
ingest:
  httpPort: {ingest_port}
  udpPort: {udp_port}
  udpWorkers: 1
  drainTimeoutSeconds: 10
  config:
    ingest:
      files:
        paths: [/var/lib/relbot/flows/nfdump-fmt.txt]
      # The fixture's flows are whole connections: no need to hold them for continuations.
      split_merge:
        enabled: false
detector:
  httpPort: {detector_port}
  drainTimeoutSeconds: 10
  groupId: "{detector_group}"
  sessionTimeout: 6s
  config:
    detector:
      # A bounded input: close its windows once it has been read.
      idle_flush: 4s
    # The fixture's expected hosts are the original algorithm's, without false-positive
    # control (the defaults are beacon and prevalence on).
    algorithm:
      kind: classic
    filter:
      prevalence_max_hosts: 4294967295
      prevalence_max_share: 1.0
reporter:
  httpPort: {reporter_port}
  drainTimeoutSeconds: 10
  groupId: "{reporter_group}"
  secrets:
    pseudonymisationKey: "{key_hex}"
  sinks:
    audit:
      kind: jsonl
      path: /var/lib/relbot/reports/audit.jsonl
    pseudo:
      kind: jsonl
      path: /var/lib/relbot/reports/pseudo.jsonl
      protection:
        mode: pseudo
        key_file: /run/secrets/relbot/pseudonymisation-key
"#,
        brokers = broker.brokers,
        flows = topics["flows"],
        detections = topics["detections"],
        detector_state = topics["detector-state"],
        reporter_state = topics["reporter-state"],
        dlq = topics["dlq"],
        udp_port = free_udp_port()?,
        detector_group = unique_name(&format!("{TEST}-detector")),
        reporter_group = unique_name(&format!("{TEST}-reporter")),
    );
    let values_file = root.join("values.yaml");
    std::fs::write(&values_file, values)?;
    let manifests = chart::render(&helm, &values_file)?;

    // Secrets: in the chart's Secret, mounted as files; never in a ConfigMap.
    let secret = chart::find(&manifests, "Secret", "relbot-reporter")?;
    assert!(secret.contains("pseudonymisation-key:"), "{secret}");
    let reporter_toml = chart::service_toml(&manifests, "reporter")?;
    assert!(
        !manifests.contains(&key_hex),
        "the key is in plain text:\n{manifests}"
    );
    std::fs::create_dir_all(root.join("run/secrets/relbot"))?;
    std::fs::write(
        root.join("run/secrets/relbot/pseudonymisation-key"),
        &key_hex,
    )?;
    // Volumes: the flows file, the template cache, the reports.
    for sub in ["flows", "templates", "reports"] {
        std::fs::create_dir_all(root.join("var/lib/relbot").join(sub))?;
    }
    std::fs::copy(
        relbot_e2e::repo_root().join(FIXTURE),
        root.join("var/lib/relbot/flows/nfdump-fmt.txt"),
    )?;
    // Static membership: the StatefulSet gives each pod its name as group.instance.id.
    let statefulset = chart::find(&manifests, "StatefulSet", "relbot-detector")?;
    const INSTANCE_ENV: &str = "RELBOT_DETECTOR__KAFKA__CONSUMER__GROUP_INSTANCE_ID";
    assert!(statefulset.contains(INSTANCE_ENV), "{statefulset}");

    let configs: BTreeMap<&str, String> = [
        ("ingest", chart::service_toml(&manifests, "ingest")?),
        ("detector", chart::service_toml(&manifests, "detector")?),
        ("reporter", reporter_toml),
    ]
    .into_iter()
    .map(|(c, toml)| (c, mounted(&toml, root)))
    .collect();
    let grace = |kind: &str, component: &str| -> anyhow::Result<Duration> {
        let name = format!("relbot-{component}");
        Ok(Duration::from_secs(chart::grace_period_secs(
            &manifests, kind, &name,
        )?))
    };
    let graces = [
        grace("Deployment", "ingest")?,
        grace("StatefulSet", "detector")?,
        grace("Deployment", "reporter")?,
    ];

    // Consumers first, then the producer, as a rollout would have them.
    let mut reporter = ServiceProcess::start(
        "reporter",
        &locate_binary("relbot-reporter", "RELBOT_REPORTER_BIN")?,
        root,
        "reporter",
        &configs["reporter"],
        reporter_port,
        &[],
    )?;
    let mut detector = ServiceProcess::start(
        "detector",
        &locate_binary("relbot-detector", "RELBOT_DETECTOR_BIN")?,
        root,
        "detector",
        &configs["detector"],
        detector_port,
        &[(INSTANCE_ENV, "relbot-detector-0")],
    )?;
    reporter.wait_ready(Duration::from_secs(60)).await?;
    detector.wait_ready(Duration::from_secs(60)).await?;
    let mut ingest = ServiceProcess::start(
        "ingest",
        &locate_binary("relbot-ingest", "RELBOT_INGEST_BIN")?,
        root,
        "ingest",
        &configs["ingest"],
        ingest_port,
        &[],
    )?;
    ingest.wait_ready(Duration::from_secs(60)).await?;

    // Detections reach the jsonl sink: every host the original RelBot reports on the whole
    // fixture is reported (the final windows see all of it), and nothing but the fixture's
    // initiators (earlier, partial windows may find more hosts than the batch run).
    let expected = expected_hosts()?;
    let initiators = fixture_initiators()?;
    let audit = root.join("var/lib/relbot/reports/audit.jsonl");
    let pseudo = root.join("var/lib/relbot/reports/pseudo.jsonl");
    let reported = |path: &Path| -> BTreeSet<String> {
        reports(path)
            .iter()
            .filter_map(|r| r["host"].as_str().map(str::to_owned))
            .collect()
    };
    let waited = wait_for(
        "reports of every expected host in the jsonl sink",
        Duration::from_secs(120),
        || reported(&audit).is_superset(&expected),
    )
    .await;
    if let Err(e) = waited {
        anyhow::bail!(
            "{e}: got {:?}, expected {expected:?}\n--- ingest\n{}\n--- detector\n{}\n--- reporter\n{}",
            reported(&audit),
            ingest.logs(),
            detector.logs(),
            reporter.logs()
        );
    }
    let plain = reports(&audit);
    for report in &plain {
        let host = report["host"].as_str().context("report without host")?;
        assert!(
            initiators.contains(host),
            "{host} is not an initiator in the fixture"
        );
        assert_eq!(report["src_mode"], "plain");
    }
    // The pseudonymising sink used the key from the mounted secret: each of its reports is
    // the plain sink's report of the same detection, with the host through Crypto-PAn.
    let cryptopan = CryptoPan::new(&key);
    wait_for("the pseudonymised reports", Duration::from_secs(30), || {
        reports(&pseudo).len() >= plain.len()
    })
    .await?;
    let pseudonymised = reports(&pseudo);
    let by_detection: BTreeMap<String, String> = reports(&audit)
        .iter()
        .map(|r| {
            (
                r["detection_id"].to_string(),
                r["host"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for report in &pseudonymised {
        assert_eq!(report["src_mode"], "pseudo");
        let host = by_detection
            .get(&report["detection_id"].to_string())
            .with_context(|| format!("no plain report of {}", report["detection_id"]))?;
        let host: IpAddr = host.parse()?;
        assert_eq!(report["host"], cryptopan.pseudonymise(host).to_string());
    }

    // Operations endpoints of all three, as documented.
    for (service, prefix) in [
        (&ingest, "relbot_ingest_"),
        (&detector, "relbot_detector_"),
        (&reporter, "relbot_reporter_"),
    ] {
        assert_eq!(
            service.get("/healthz").await?.0,
            200,
            "{}",
            service.log.display()
        );
        assert_eq!(
            service.get("/readyz").await?.0,
            200,
            "{}",
            service.log.display()
        );
        let (status, metrics) = service.get("/metrics").await?;
        assert_eq!(status, 200);
        assert!(metrics.contains(prefix), "no {prefix} metric:\n{metrics}");
    }
    let (_, metrics) = ingest.get("/metrics").await?;
    assert!(metrics.contains("relbot_ingest_records"), "{metrics}");
    let (_, metrics) = detector.get("/metrics").await?;
    assert!(
        metrics.contains("relbot_detector_detections_emitted"),
        "{metrics}"
    );

    // SIGTERM: each exits 0 within its pod's grace period, producer first.
    for (service, grace) in [&mut ingest, &mut detector, &mut reporter]
        .into_iter()
        .zip(graces)
    {
        let status = service.terminate(grace).await?;
        assert!(
            status.success(),
            "exit {status} after SIGTERM:\n{}",
            service.logs()
        );
    }

    for t in topics.values() {
        broker.delete_topic(t).await;
    }
    Ok(())
}
