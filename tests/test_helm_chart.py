"""The Helm chart, rendered by Helm's own engine (helm-python-sdk) with default and GPU values,
linted, and every manifest validated against the Kubernetes schemas (kubernetes-validate)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from tests.conftest import ROOT

CHART = ROOT / "helm" / "likeness-consent"
KUBERNETES = "1.30"


def render(values: dict[str, Any]) -> list[dict[str, Any]]:
    with helm.Chart.load(str(CHART)) as chart:
        rendered = chart.render(values, name="likeness", namespace="likeness", is_install=True)
    documents = []
    for path, text in rendered.items():
        if path.endswith(".yaml"):
            documents += [d for d in yaml.safe_load_all(text) if d]
    return documents


def gpu_values() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CHART / "values-gpu.yaml").read_text())
    return loaded


def by_kind(documents: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in documents if d["kind"] == kind]


@pytest.mark.parametrize("values", [{}, gpu_values(), {"metrics": {"serviceMonitor": {"enabled": True}},
                                                         "userApi": {"enabled": False}}],
                         ids=["default", "gpu", "monitor-no-user-api"])
def test_every_manifest_validates_against_the_kubernetes_schemas(values: dict[str, Any]) -> None:
    documents = render(values)
    assert len(documents) >= 9
    for document in documents:
        if document["apiVersion"].startswith("monitoring.coreos.com/"):
            # A CRD: not in the Kubernetes schemas; its shape is checked by hand.
            assert document["spec"]["endpoints"][0]["port"] == "metrics"
            continue
        kubernetes_validate.validate(document, KUBERNETES, strict=True)


def test_lint_finds_no_errors() -> None:
    for values in ({}, gpu_values()):
        report = helm.lint(str(CHART), values, strict=True)
        assert report["errors"] == [] and all(m["severity"] < 3 for m in report["messages"]), report


def test_default_install_shape() -> None:
    documents = render({})
    kinds = sorted({d["kind"] for d in documents})
    assert kinds == sorted(["ConfigMap", "Deployment", "HorizontalPodAutoscaler", "Job", "NetworkPolicy",
                            "PodDisruptionBudget", "Service", "ServiceAccount"])
    deployments = {d["metadata"]["name"].rsplit("-", 1)[-1]: d for d in by_kind(documents, "Deployment")}
    grpc, user_api = deployments["grpc"], deployments["api"]
    for deployment in (grpc, user_api):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["automountServiceAccountToken"] is False
        container = pod["containers"][0]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
        secrets = {e["valueFrom"]["secretKeyRef"]["name"] for e in container["env"] if "valueFrom" in e}
        assert {"likeness-database", "likeness-template-keys", "likeness-callers"} <= secrets
    grpc_container = grpc["spec"]["template"]["spec"]["containers"][0]
    assert grpc_container["readinessProbe"]["grpc"]["port"] == 50051 and grpc_container["args"] == ["serve"]
    assert "nvidia.com/gpu" not in grpc_container["resources"]["limits"]
    assert user_api["spec"]["template"]["spec"]["containers"][0]["args"] == ["user-api"]
    job = by_kind(documents, "Job")[0]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["db", "upgrade"]


def test_gpu_values_put_inference_on_gpu_nodes() -> None:
    documents = render(gpu_values())
    grpc = next(d for d in by_kind(documents, "Deployment") if d["metadata"]["name"].endswith("-grpc"))
    pod = grpc["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"].endswith(":0.1.0-gpu")
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert pod["tolerations"][0]["key"] == "nvidia.com/gpu"
    config = by_kind(documents, "ConfigMap")[0]["data"]
    assert config["LIKENESS_INFERENCE_DEVICE"] == "cuda"
    user_api = next(d for d in by_kind(documents, "Deployment") if d["metadata"]["name"].endswith("-user-api"))
    assert "nodeSelector" not in user_api["spec"]["template"]["spec"]  # the user API needs no GPU


def test_dockerfile_builds_non_root_with_models_and_a_gpu_variant() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "AS build" in dockerfile and "AS runtime" in dockerfile
    assert "USER 10001:10001" in dockerfile and "models pull" in dockerfile and "models verify" in dockerfile
    assert 'ARG VARIANT=cpu' in dockerfile and "onnxruntime-gpu" in dockerfile
    assert Path(ROOT / ".dockerignore").read_text().count(".venv") == 1


def test_every_configured_key_is_a_setting() -> None:
    """A misspelt key in values.yaml would be ignored silently by the service."""
    from identity_service.settings import Settings

    values = yaml.safe_load((ROOT / "helm" / "likeness-consent" / "values.yaml").read_text())
    known = {f"LIKENESS_{name.upper()}" for name in Settings.model_fields}
    assert set(values["config"]) <= known, set(values["config"]) - known
