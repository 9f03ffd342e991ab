//! Every configuration the deployment files ship is one the services accept: the TOML the
//! Helm chart renders for each example in helm/relbot/ci/*-values.yaml, and the files
//! docker/compose.yaml mounts (docker/config/*.toml), pass `--check` of their binary. Paths
//! the pods and containers mount (`/var/lib/relbot`, `/run/secrets/relbot`, `/etc/relbot`)
//! are mapped into a temporary folder holding what the volumes and secrets would.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{ensure, Context as _};
use relbot_e2e::chart;
use relbot_e2e::service_process::locate_binary;
use relbot_kafka::testing::skip_or_fail;

const COMPONENTS: [&str; 3] = ["ingest", "detector", "reporter"];

fn binary(component: &str) -> anyhow::Result<PathBuf> {
    let package = format!("relbot-{component}");
    let env = format!("RELBOT_{}_BIN", component.to_uppercase());
    locate_binary(&package, &env)
}

/// A folder standing in for the pod's mounts: the volumes' folders, the secret files and the
/// Kafka CA as the chart's examples name them.
fn mounts() -> anyhow::Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    let root = dir.path();
    for sub in [
        "var/lib/relbot/flows",
        "var/lib/relbot/templates",
        "var/lib/relbot/reports",
        "run/secrets/relbot",
        "etc/relbot/kafka-ca",
        "etc/relbot/kafka-sasl",
    ] {
        std::fs::create_dir_all(root.join(sub))?;
    }
    let secrets = root.join("run/secrets/relbot");
    std::fs::write(secrets.join("cch-api-key"), "test-key")?;
    std::fs::write(secrets.join("webhook-secret"), "test-secret")?;
    std::fs::write(secrets.join("pseudonymisation-key"), "ab".repeat(32))?;
    std::fs::write(root.join("etc/relbot/kafka-ca/ca.crt"), "")?;
    std::fs::write(
        root.join("etc/relbot/kafka-sasl/password"),
        "test-password\n",
    )?;
    std::fs::write(root.join("var/lib/relbot/flows/simulated.txt"), "")?;
    Ok(dir)
}

fn mapped(toml: &str, root: &Path) -> String {
    let root = root.display();
    toml.replace("/var/lib/relbot/", &format!("{root}/var/lib/relbot/"))
        .replace("/run/secrets/relbot", &format!("{root}/run/secrets/relbot"))
        .replace("/etc/relbot/", &format!("{root}/etc/relbot/"))
}

/// `binary --config <toml> --check`, which must exit 0.
fn check(component: &str, what: &str, toml: &str, root: &Path) -> anyhow::Result<()> {
    let path = root.join(format!("{component}.toml"));
    std::fs::write(&path, mapped(toml, root))?;
    let out = Command::new(binary(component)?)
        .arg("--config")
        .arg(&path)
        .arg("--check")
        .env_remove("RUST_LOG")
        .output()
        .context("running --check")?;
    ensure!(
        out.status.success(),
        "{what}: relbot-{component} --check exited {}:\n{}{}\n--- config\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        mapped(toml, root)
    );
    Ok(())
}

#[test]
fn chart_examples_render_configs_the_services_accept() -> anyhow::Result<()> {
    let Some(helm) = chart::locate_helm() else {
        skip_or_fail::<()>(
            "chart-examples",
            "helm is not installed (scripts/check-deploy installs it)",
        );
        return Ok(());
    };
    let mounts = mounts()?;
    let mut examples: Vec<PathBuf> =
        std::fs::read_dir(relbot_e2e::repo_root().join("helm/relbot/ci"))?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
    examples.retain(|p| p.to_string_lossy().ends_with("-values.yaml"));
    examples.sort();
    ensure!(examples.len() >= 6, "examples missing: {examples:?}");
    let mut checked = 0;
    for values in &examples {
        let manifests = chart::render(&helm, values)?;
        for component in COMPONENTS {
            // A disabled component renders no ConfigMap.
            if chart::find(&manifests, "ConfigMap", &format!("relbot-{component}")).is_err() {
                continue;
            }
            let toml = chart::service_toml(&manifests, component)?;
            check(
                component,
                &values.display().to_string(),
                &toml,
                mounts.path(),
            )?;
            checked += 1;
        }
    }
    ensure!(
        checked > 2 * examples.len(),
        "only {checked} configurations checked"
    );
    Ok(())
}

#[test]
fn compose_configs_are_accepted() -> anyhow::Result<()> {
    let mounts = mounts()?;
    for component in COMPONENTS {
        let path = relbot_e2e::repo_root().join(format!("docker/config/{component}.toml"));
        let toml = std::fs::read_to_string(&path)?;
        check(component, &path.display().to_string(), &toml, mounts.path())?;
    }
    Ok(())
}
