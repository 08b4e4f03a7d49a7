"""deploy/kubernetes: probes, hardening and graceful stops agree; selectors find the pods."""

from __future__ import annotations

import re
from typing import Any

import pytest

from push_service.config import ConfigError, Settings
from tests.deploy.files import (
    KUBERNETES,
    LONGEST_WAIT,
    SECRET_SETTINGS,
    load_yaml,
    manifests,
    push_services,
    runtime_uid,
)


def _deployment() -> dict[str, Any]:
    return manifests()["Deployment"]


def _pod() -> dict[str, Any]:
    spec: dict[str, Any] = _deployment()["spec"]["template"]["spec"]
    return spec


def _container() -> dict[str, Any]:
    (container,) = _pod()["containers"]
    return dict(container)


def _pod_labels() -> dict[str, str]:
    labels: dict[str, str] = _deployment()["spec"]["template"]["metadata"]["labels"]
    return labels


def _selects_pods(selector: dict[str, str]) -> bool:
    return bool(selector) and selector.items() <= _pod_labels().items()


def _http_port() -> dict[str, Any]:
    (port,) = _container()["ports"]
    return dict(port)


def _is_container_port(port: str | int) -> bool:
    return port in {_http_port()["name"], _http_port()["containerPort"]}


def test_manifests_are_namespace_agnostic() -> None:
    for document in manifests().values():
        assert "namespace" not in document.get("metadata", {}), document["kind"]


def test_kustomization_lists_every_manifest_but_the_example_secret() -> None:
    listed = load_yaml(KUBERNETES / "kustomization.yaml")["resources"]
    present = {path.name for path in KUBERNETES.glob("*.yaml")}
    assert set(listed) == present - {"kustomization.yaml", "secret.example.yaml"}


def test_three_replicas_selected_by_their_own_labels() -> None:
    spec = _deployment()["spec"]
    assert spec["replicas"] == 3
    assert _selects_pods(spec["selector"]["matchLabels"])
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_serves_on_the_image_port() -> None:
    assert _http_port()["containerPort"] == 8080


@pytest.mark.parametrize(
    ("probe", "path"),
    [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz"), ("startupProbe", "/healthz")],
)
def test_probes_ask_the_right_endpoint_on_the_container_port(probe: str, path: str) -> None:
    check = _container()[probe]["httpGet"]
    assert check["path"] == path
    assert _is_container_port(check["port"])


def test_runs_locked_down_as_the_image_user() -> None:
    pod, container = _pod()["securityContext"], _container()["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert container["runAsNonRoot"] is True
    assert container["runAsUser"] == pod["runAsUser"] == runtime_uid()
    assert container["allowPrivilegeEscalation"] is False
    assert container["readOnlyRootFilesystem"] is True
    assert container["capabilities"]["drop"] == ["ALL"]
    assert pod["seccompProfile"]["type"] == "RuntimeDefault"


def test_stops_after_leaving_the_endpoints_and_finishing_long_polls() -> None:
    command = _container()["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    pause = int(command[1])
    assert pause >= 5
    assert _pod()["terminationGracePeriodSeconds"] > pause + LONGEST_WAIT


def test_has_requests_and_limits() -> None:
    resources = _container()["resources"]
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= resources[kind].keys()


def test_spreads_across_nodes() -> None:
    constraints = _pod()["topologySpreadConstraints"]
    keys = {c["topologyKey"] for c in constraints}
    assert "kubernetes.io/hostname" in keys
    assert all(_selects_pods(c["labelSelector"]["matchLabels"]) for c in constraints)


def test_environment_comes_from_the_configmap_and_the_secret() -> None:
    sources = _container()["envFrom"]
    assert {"configMapRef": {"name": manifests()["ConfigMap"]["metadata"]["name"]}} in sources
    assert {"secretRef": {"name": manifests()["Secret"]["metadata"]["name"]}} in sources
    assert "env" not in _container(), "settings live in the ConfigMap or the Secret"


def test_secrets_stay_out_of_the_configmap() -> None:
    data = manifests()["ConfigMap"]["data"]
    assert not SECRET_SETTINGS & data.keys()
    assert data["PUSH_PUBLIC_URL"].startswith("https://")


def test_example_secret_holds_placeholders_that_refuse_to_start() -> None:
    data = manifests()["Secret"]["stringData"]
    assert data.keys() == SECRET_SETTINGS
    assert all("CHANGE-ME" in value for value in data.values())
    with pytest.raises(ConfigError, match="PUSH_ADMIN_TOKEN"):
        Settings.from_env(data)


def test_service_selects_the_pods_without_affinity() -> None:
    spec = manifests()["Service"]["spec"]
    assert _selects_pods(spec["selector"])
    assert spec.get("sessionAffinity", "None") == "None"
    assert all(_is_container_port(port["targetPort"]) for port in spec["ports"])


def test_disruption_budget_takes_one_pod_at_a_time() -> None:
    spec = manifests()["PodDisruptionBudget"]["spec"]
    assert _selects_pods(spec["selector"]["matchLabels"])
    assert spec.get("maxUnavailable") == 1 or (
        spec.get("minAvailable") == _deployment()["spec"]["replicas"] - 1
    )


def test_autoscaler_scales_the_deployment_on_cpu() -> None:
    hpa = manifests()["HorizontalPodAutoscaler"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    deployment = _deployment()
    assert target == {
        "apiVersion": deployment["apiVersion"],
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert hpa["spec"]["minReplicas"] >= 2, "with maxUnavailable 1, one pod is never enough"
    assert hpa["spec"]["maxReplicas"] >= hpa["spec"]["minReplicas"]
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"


def test_image_matches_the_compose_build() -> None:
    images = {service["image"] for service in push_services().values()}
    assert images == {_container()["image"]}
    assert re.fullmatch(r"[\w./-]+:[\w.-]+", _container()["image"]), "a pinned tag, not latest"
