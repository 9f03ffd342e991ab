"""Validates rendered Kubernetes manifests offline (scripts/check-deploy).

Core kinds are checked with kubernetes-validate's bundled JSON schemas in strict mode (unknown
fields are errors). Custom resources (ServiceMonitor, ScaledObject, KafkaTopic) have no bundled
schema: their apiVersion, name and the spec fields the chart relies on are checked here.

usage: validate_manifests.py KUBERNETES_VERSION FILE...
"""

import sys

import kubernetes_validate
import yaml

CRDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): ["selector", "endpoints"],
    ("keda.sh/v1alpha1", "ScaledObject"): ["scaleTargetRef", "triggers"],
    ("kafka.strimzi.io/v1beta2", "KafkaTopic"): ["partitions", "replicas"],
}


def check(doc, where, version):
    api, kind = doc.get("apiVersion"), doc.get("kind")
    name = (doc.get("metadata") or {}).get("name")
    if not name:
        return [f"{where}: {kind} without metadata.name"]
    if (api, kind) in CRDS:
        spec = doc.get("spec") or {}
        missing = [k for k in CRDS[(api, kind)] if k not in spec]
        return [f"{where}: {kind}/{name}: spec.{k} missing" for k in missing]
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as e:
        path = ".".join(str(p) for p in e.path)
        return [f"{where}: {kind}/{name}: {path}: {e.message}"]
    except kubernetes_validate.SchemaNotFoundError:
        return [f"{where}: {api} {kind}: no schema (not a Kubernetes {version} kind)"]
    return []


def main():
    version, files = sys.argv[1], sys.argv[2:]
    problems, count = [], 0
    for path in files:
        with open(path, encoding="utf-8") as f:
            for i, doc in enumerate(yaml.safe_load_all(f)):
                if doc:
                    count += 1
                    problems += check(doc, f"{path}#{i}", version)
    for p in problems:
        print(p, file=sys.stderr)
    print(f"  {count} manifests checked, {len(problems)} problems")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
