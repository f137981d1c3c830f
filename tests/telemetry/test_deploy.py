"""deploy/: every manifest parses, references what exists, and runs commands and settings Ingenium accepts."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from ingenium.component import Component
from ingenium.config import Settings
from ingenium.loader import load_class, parse_params
from ingenium.observability import TelemetryConfig

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
BASE = DEPLOY / "k8s" / "base"
COMPONENTS = {"ingenium-ledger", "ingenium-strategy", "ingenium-portfolio", "ingenium-executor"}


def load_all(path: Path) -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert docs, f"{path} holds no YAML document"
    assert all(isinstance(d, dict) for d in docs), f"{path}: every document must be a mapping"
    return docs


def manifests() -> list[dict[str, Any]]:
    kustomization = load_all(BASE / "kustomization.yaml")[0]
    return [doc for name in kustomization["resources"] for doc in load_all(BASE / name)]


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in manifests() if d["kind"] == kind}


def test_every_yaml_file_parses() -> None:
    files = sorted([*DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml")])
    assert len(files) >= 12
    for path in files:
        load_all(path)


def test_kubernetes_objects_have_the_required_keys() -> None:
    for doc in manifests():
        assert {"apiVersion", "kind", "metadata"} <= doc.keys(), doc
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", doc["metadata"]["name"]), doc["metadata"]


def test_kustomizations_reference_existing_files() -> None:
    base = load_all(BASE / "kustomization.yaml")[0]
    assert base["namespace"] == "ingenium"
    for name in base["resources"]:
        assert (BASE / name).is_file(), name
    for generator in base["configMapGenerator"]:
        for entry in generator["files"]:
            assert (BASE / entry.split("=")[-1]).is_file(), entry
    overlay_dir = DEPLOY / "k8s" / "overlays" / "helm-nats"
    overlay = load_all(overlay_dir / "kustomization.yaml")[0]
    assert all((overlay_dir / r / "kustomization.yaml").is_file() for r in overlay["resources"])
    deleted = {yaml.safe_load(p["patch"])["metadata"]["name"] for p in overlay["patches"]}
    assert deleted == {"nats", "nats-headless", "nats-config"}


def workloads() -> dict[str, dict[str, Any]]:
    return {**by_kind("Deployment"), **by_kind("StatefulSet")}


def test_workload_selectors_match_their_pods_and_probes_use_declared_ports() -> None:
    for name, workload in workloads().items():
        spec = workload["spec"]
        labels = spec["template"]["metadata"]["labels"]
        assert spec["selector"]["matchLabels"].items() <= labels.items(), name
        for container in spec["template"]["spec"]["containers"]:
            assert container["name"] and container["image"], name
            ports = {p["name"] for p in container.get("ports", [])}
            for probe in ("readinessProbe", "livenessProbe"):
                port = container.get(probe, {}).get("httpGet", {}).get("port")
                assert port is None or port in ports, f"{name} {probe} uses undeclared port {port}"


def test_services_select_a_workload() -> None:
    pod_labels = [w["spec"]["template"]["metadata"]["labels"] for w in workloads().values()]
    for name, service in by_kind("Service").items():
        selector = service["spec"]["selector"]
        assert any(selector.items() <= labels.items() for labels in pod_labels), f"service {name} selects no pods"


def test_nats_is_a_three_node_jetstream_cluster() -> None:
    nats = by_kind("StatefulSet")["nats"]["spec"]
    assert nats["replicas"] == 3
    headless = by_kind("Service")[nats["serviceName"]]
    assert headless["spec"]["clusterIP"] == "None"
    conf = by_kind("ConfigMap")["nats-config"]["data"]["nats.conf"]
    routes = re.findall(r"nats://([\w.-]+):6222", conf)
    assert routes == [f"nats-{i}.{nats['serviceName']}" for i in range(3)]
    assert "jetstream" in conf and "store_dir: /data/jetstream" in conf
    assert {c["metadata"]["name"] for c in nats["volumeClaimTemplates"]} == {"data"}


def shared_environment() -> dict[str, str]:
    env = dict(by_kind("ConfigMap")["ingenium-config"]["data"])
    env.update(by_kind("Secret")["ingenium-secrets"]["stringData"])
    return env


def test_shared_settings_are_valid_ingenium_and_otel_settings() -> None:
    env = shared_environment()
    ingenium = {k.removeprefix("INGENIUM_").lower(): v for k, v in env.items() if k.startswith("INGENIUM_")}
    assert set(ingenium) <= set(Settings.model_fields), set(ingenium) - set(Settings.model_fields)
    settings = Settings(_env_file=None, **ingenium)  # type: ignore[call-arg]
    assert settings.stream_replicas == 3 and settings.nats_url == "nats://nats:4222"
    assert settings.database_url is not None and "@postgres:5432/" in settings.database_url

    telemetry = TelemetryConfig.from_env("x", {k: v for k, v in env.items() if k.startswith("OTEL_")})
    collector = by_kind("Service")["otel-collector"]
    port = {p["name"]: p["port"] for p in collector["spec"]["ports"]}["otlp-http"]
    assert telemetry.traces.endpoint == f"http://otel-collector:{port}/v1/traces"
    assert telemetry.metrics.enabled and telemetry.logs.enabled


@pytest.mark.parametrize("name", sorted(COMPONENTS))
def test_component_deployments_run_real_commands(name: str) -> None:
    deployment = by_kind("Deployment")[name]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "ingenium"
    assert {ref.get("configMapRef", ref.get("secretRef"))["name"] for ref in container["envFrom"]} == {
        "ingenium-config", "ingenium-secrets"}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["OTEL_SERVICE_NAME"] == name
    assert "$(POD_NAME)" in env["OTEL_RESOURCE_ATTRIBUTES"]
    assert list(env).index("POD_NAME") < list(env).index("OTEL_RESOURCE_ATTRIBUTES")  # $(VAR) needs it defined first
    args = container["args"]
    if name == "ingenium-ledger":
        assert args == ["ledger", "serve"] and deployment["spec"]["replicas"] == 2
        return
    assert args[0] == "run" and deployment["spec"]["strategy"]["type"] == "Recreate"
    cls = load_class(args[1])
    assert issubclass(cls, Component)
    options = dict(zip(args[2::2], args[3::2], strict=True))
    params = [v for k, v in zip(args[2::2], args[3::2], strict=True) if k == "--param"]
    component = cls(name=options["--name"], **parse_params(params))
    assert component.name == options["--name"]


def test_image_entrypoint_is_the_cli_and_holds_every_package() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["ingenium"]' in dockerfile
    for package in ("ingenium", "ledger", "services", "migrations"):
        assert f"COPY {package} {package}" in dockerfile
    images = load_all(BASE / "kustomization.yaml")[0]["images"]
    assert [i["name"] for i in images] == ["ingenium"]


def test_collector_pipelines_use_defined_components_and_match_the_services() -> None:
    config = load_all(BASE / "otel-collector-config.yaml")[0]
    assert set(config["receivers"]["otlp"]["protocols"]) == {"grpc", "http"}
    pipelines = config["service"]["pipelines"]
    assert set(pipelines) == {"traces", "metrics", "logs"}
    for pipeline in pipelines.values():
        for section in ("receivers", "processors", "exporters"):
            for component in pipeline[section]:
                assert component in config[section], f"{component} is not defined under {section}"
    assert "prometheus" in pipelines["metrics"]["exporters"]
    assert pipelines["traces"]["exporters"] == ["otlp/traces"]
    prometheus_port = config["exporters"]["prometheus"]["endpoint"].rsplit(":", 1)[1]
    ports = {p["name"]: str(p["port"]) for p in by_kind("Service")["otel-collector"]["spec"]["ports"]}
    assert ports == {"otlp-grpc": "4317", "otlp-http": "4318", "prometheus": prometheus_port}
    scrape = load_all(DEPLOY / "prometheus.yaml")[0]["scrape_configs"][0]["static_configs"][0]["targets"]
    assert scrape == [f"otel-collector:{prometheus_port}"]


def test_compose_mounts_files_that_exist() -> None:
    compose = load_all(DEPLOY / "compose.yaml")[0]
    assert {"otel-collector", "jaeger", "prometheus"} <= set(compose["services"])
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert (DEPLOY / source).is_file(), volume
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{port}: publish on loopback only"
    command = shlex.join(compose["services"]["otel-collector"]["command"])
    assert "--config=/etc/otelcol/config.yaml" in command
