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


# What every install must set: the chart refuses to render without the user tokens' issuer.
REQUIRED = {"config": {"LIKENESS_USER_TOKEN_ISSUER": "https://accounts.app.example"}}


def merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def render(values: dict[str, Any], *, required: bool = True, name: str = "likeness") -> list[dict[str, Any]]:
    with helm.Chart.load(str(CHART)) as chart:
        rendered = chart.render(merged(REQUIRED, values) if required else values, name=name, namespace="likeness",
                                is_install=True)
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


def _references(document: dict[str, Any]) -> set[tuple[str, str]]:
    """(kind, name) of every ServiceAccount, ConfigMap and Secret a pod template uses."""
    pod = document.get("spec", {}).get("template", {}).get("spec", {})
    found: set[tuple[str, str]] = set()
    if pod.get("serviceAccountName"):
        found.add(("ServiceAccount", pod["serviceAccountName"]))
    for volume in pod.get("volumes", []):
        if "configMap" in volume:
            found.add(("ConfigMap", volume["configMap"]["name"]))
        if "secret" in volume:
            found.add(("Secret", volume["secret"]["secretName"]))
    for container in pod.get("containers", []) + pod.get("initContainers", []):
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                found.add(("ConfigMap", source["configMapRef"]["name"]))
        for variable in container.get("env", []):
            ref = variable.get("valueFrom", {})
            if "configMapKeyRef" in ref:
                found.add(("ConfigMap", ref["configMapKeyRef"]["name"]))
            if "secretKeyRef" in ref:
                found.add(("Secret", ref["secretKeyRef"]["name"]))
    return found


@pytest.mark.parametrize("values", [{}, {"serviceAccount": {"create": True, "name": "likeness-sa"}}])
def test_no_install_hook_needs_what_the_chart_creates_later(values: dict[str, Any]) -> None:
    """Pre-install hooks run before the chart's other resources exist: a migration Job that names
    the chart's ServiceAccount or ConfigMap never starts, and `helm install` times out (helm/helm#7447)."""
    documents = render(values)
    hooks = [d for d in documents if "helm.sh/hook" in d["metadata"].get("annotations", {})]
    created_later = {(d["kind"], d["metadata"]["name"]) for d in documents if d not in hooks}
    assert hooks, "the migration Job is a hook"
    for hook in hooks:
        if "pre-install" in hook["metadata"]["annotations"]["helm.sh/hook"]:
            assert not _references(hook) & created_later, (hook["metadata"]["name"], _references(hook) & created_later)


def test_names_are_short_and_overridable() -> None:
    names = {d["metadata"]["name"] for d in render({}) if d["kind"] == "Deployment"}
    assert names == {"likeness-grpc", "likeness-user-api"}  # not likeness-likeness-consent-grpc
    names = {d["metadata"]["name"] for d in render({"fullnameOverride": "cameo"}) if d["kind"] == "Deployment"}
    assert names == {"cameo-grpc", "cameo-user-api"}
    names = {d["metadata"]["name"] for d in render({}, name="prod") if d["kind"] == "Deployment"}
    assert names == {"prod-likeness-consent-grpc", "prod-likeness-consent-user-api"}


def test_a_typo_in_values_is_refused_by_the_schema() -> None:
    for typo in ({"userApi": {"replica": 3}}, {"grcp": {"replicas": 3}}, {"migrations": {"enable": False}},
                 {"config": {"likeness_log_level": "debug"}}, {"tls": {"enabled": "yes"}}):
        with pytest.raises(helm.HelmValuesError):
            render(typo)


def test_the_user_token_issuer_is_required() -> None:
    with pytest.raises(helm.HelmRenderError, match="LIKENESS_USER_TOKEN_ISSUER"):
        render({}, required=False)
    # Without the user API there is nothing to require.
    assert render({"userApi": {"enabled": False}}, required=False)


def test_ingress_tls_and_extra_env_render_and_validate() -> None:
    values = {
        "userApi": {"ingress": {"enabled": True, "className": "nginx", "host": "cameo.example.com",
                                "tlsSecretName": "cameo-tls"}},
        "tls": {"enabled": True, "secretName": "grpc-tls", "requireClientCertificates": True},
        "extraEnv": [{"name": "LIKENESS_MEDIA_MAX_SECONDS", "value": "30"}],
        "extraVolumes": [{"name": "extra", "emptyDir": {}}],
        "extraVolumeMounts": [{"name": "extra", "mountPath": "/extra"}],
    }
    documents = render(values)
    for document in documents:
        kubernetes_validate.validate(document, KUBERNETES, strict=True)
    ingress = by_kind(documents, "Ingress")[0]
    assert ingress["spec"]["rules"][0]["host"] == "cameo.example.com"
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == "likeness-user-api"
    grpc = next(d for d in by_kind(documents, "Deployment") if d["metadata"]["name"] == "likeness-grpc")
    pod = grpc["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["LIKENESS_TLS_CERT_FILE"] == "/etc/likeness/tls/tls.crt"
    assert env["LIKENESS_TLS_CLIENT_CA_FILE"] == "/etc/likeness/tls/ca.crt"
    assert env["LIKENESS_MEDIA_MAX_SECONDS"] == "30"
    assert {"tls", "extra"} <= {v["name"] for v in pod["volumes"]}
    assert "/extra" in {m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}


def test_the_compose_dev_stack_names_only_real_settings_and_commands() -> None:
    from identity_service.settings import Settings

    stack = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert {"postgres", "migrate", "grpc", "user-api"} <= set(stack["services"])
    known = {f"LIKENESS_{name.upper()}" for name in Settings.model_fields}
    for name, service in stack["services"].items():
        keys = {k for k in service.get("environment", {}) if k.startswith("LIKENESS_")}
        assert keys <= known, (name, keys - known)
    commands = {tuple(s["command"]) for s in stack["services"].values() if "command" in s}
    assert commands == {("db", "upgrade"), ("serve",), ("user-api",)}
