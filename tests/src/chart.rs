//! The Helm chart (helm/relbot) in tests: finds `helm` where scripts/check-deploy installs
//! it, renders the chart with a values file, and takes the rendered manifests apart (the
//! services' TOML from their ConfigMaps, the pods' grace periods and environment).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, ensure, Context as _};

/// `helm`: `$RELBOT_HELM`, else `helm` on the `PATH`, else the binary scripts/check-deploy
/// builds in `${RELBOT_CACHE_DIR:-${XDG_CACHE_HOME:-~/.cache}/relbot}/bin/helm`.
pub fn locate_helm() -> Option<PathBuf> {
    if let Some(helm) = std::env::var_os("RELBOT_HELM").filter(|v| !v.is_empty()) {
        return Some(helm.into());
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let helm = dir.join("helm");
            if helm.is_file() {
                return Some(helm);
            }
        }
    }
    let cache = std::env::var_os("RELBOT_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("relbot")))
        .or_else(|| std::env::var_os("HOME").map(|d| PathBuf::from(d).join(".cache/relbot")))?;
    let helm = cache.join("bin/helm");
    helm.is_file().then_some(helm)
}

/// `helm template relbot helm/relbot -f values`: the manifests as one YAML stream.
pub fn render(helm: &Path, values: &Path) -> anyhow::Result<String> {
    let out = Command::new(helm)
        .args(["template", "relbot"])
        .arg(crate::repo_root().join("helm/relbot"))
        .args(["--namespace", "relbot", "-f"])
        .arg(values)
        .output()
        .with_context(|| format!("running {}", helm.display()))?;
    ensure!(
        out.status.success(),
        "helm template failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?)
}

/// The rendered manifests, one string per document.
pub fn documents(manifests: &str) -> Vec<&str> {
    manifests
        .split("\n---")
        .map(str::trim)
        .filter(|d| d.lines().any(|l| l.starts_with("kind:")))
        .collect()
}

/// The document of `kind` whose `metadata.name` is `name`.
pub fn find<'a>(manifests: &'a str, kind: &str, name: &str) -> anyhow::Result<&'a str> {
    documents(manifests)
        .into_iter()
        .find(|d| {
            d.lines().any(|l| l == format!("kind: {kind}"))
                && d.lines().any(|l| l == format!("  name: {name}"))
        })
        .with_context(|| format!("no {kind} {name} in the rendered chart"))
}

/// The value of the block scalar `key: |` in `document` (the ConfigMap's data entry),
/// without its indentation.
pub fn block_scalar(document: &str, key: &str) -> anyhow::Result<String> {
    let mut lines = document.lines();
    let header = lines
        .by_ref()
        .find(|l| l.trim_start().starts_with(&format!("{key}: |")))
        .with_context(|| format!("no block scalar {key}"))?;
    let indent = header.len() - header.trim_start().len() + 2;
    let mut text = String::new();
    for line in lines {
        if line.trim().is_empty() {
            text.push('\n');
            continue;
        }
        if line.len() - line.trim_start().len() < indent {
            break;
        }
        text.push_str(&line[indent..]);
        text.push('\n');
    }
    Ok(text)
}

/// The TOML of `component` (`ingest`, `detector`, `reporter`) from its ConfigMap
/// `relbot-<component>`.
pub fn service_toml(manifests: &str, component: &str) -> anyhow::Result<String> {
    let configmap = find(manifests, "ConfigMap", &format!("relbot-{component}"))?;
    block_scalar(configmap, &format!("{component}.toml"))
}

/// `terminationGracePeriodSeconds` of the workload of `kind` named `name`.
pub fn grace_period_secs(manifests: &str, kind: &str, name: &str) -> anyhow::Result<u64> {
    let workload = find(manifests, kind, name)?;
    let Some(value) = workload
        .lines()
        .find_map(|l| l.trim().strip_prefix("terminationGracePeriodSeconds:"))
    else {
        bail!("{kind} {name} has no terminationGracePeriodSeconds");
    };
    Ok(value.trim().parse()?)
}
