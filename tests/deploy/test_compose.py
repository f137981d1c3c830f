"""deploy/compose.yaml and the telemetry files: they parse, reference what exists and run real commands.

Compose cannot run here (no Docker engine), so what it would do is checked: every Ingenium service's command
parses with the real CLI, its environment holds settings Ingenium accepts, start-up order points at real
services, mounted files exist, ports are published on loopback only, and the collector pipeline uses only
components it defines and feeds the Prometheus that scrapes it.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from ingenium.config import Settings
from ingenium.telemetry import TelemetryConfig
from tests.deploy.cli import check_command, has_command

pytestmark = pytest.mark.deploy

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
COLLECTOR_CONFIG = DEPLOY / "helm" / "ingenium" / "files" / "otel-collector-config.yaml"


def load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text())
    assert isinstance(doc, dict), f"{path} is not a mapping"
    return doc


def compose() -> dict[str, Any]:
    return load(DEPLOY / "compose.yaml")


def ingenium_services() -> dict[str, dict[str, Any]]:
    return {name: s for name, s in compose()["services"].items() if s.get("image") == "ingenium:local"}


def command_lines(service: dict[str, Any]) -> list[list[str]]:
    """The ingenium command lines a service runs: its command after the image's ENTRYPOINT, or an sh -c script."""
    entrypoint = service.get("entrypoint")
    if entrypoint:
        assert entrypoint[:2] == ["sh", "-c"] and not service.get("command")
        return [shlex.split(part) for part in entrypoint[2].split("&&")]
    return [["ingenium", *service["command"]]]


def test_every_yaml_file_under_deploy_parses() -> None:
    files = sorted([*DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml")])
    templates = DEPLOY / "helm" / "ingenium" / "templates"
    plain = [f for f in files if not f.is_relative_to(templates)]  # templates are Go templates, rendered by helm
    assert len(plain) >= 8
    for path in plain:
        assert [d for d in yaml.safe_load_all(path.read_text()) if d], path


def test_one_image_built_from_the_dockerfile_runs_every_component() -> None:
    services = ingenium_services()
    assert {"provision", "ledger", "feed", "strategy", "portfolio", "executor", "web"} <= set(services)
    for name, service in services.items():
        build = service["build"]
        assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == (DEPLOY / "Dockerfile").resolve(), name


def test_every_ingenium_service_runs_a_real_command() -> None:
    for name, service in ingenium_services().items():
        for line in command_lines(service):
            assert line[0] == "ingenium", name
            if line[1] == "web" and not has_command("web"):
                # `ingenium web` is built in parallel (services/web); until the CLI has it, hold the agreed line.
                assert line[1:] == ["web", "--host", "0.0.0.0", "--port", "8080"]
            else:
                check_command(line[1:])


def test_the_ledger_runs_a_writer_and_a_standby_after_the_streams_and_tables_exist() -> None:
    services = compose()["services"]
    assert services["ledger"]["deploy"]["replicas"] == 2
    assert [line[1:3] for line in command_lines(services["provision"])] == [["streams", "init"], ["ledger", "migrate"]]
    assert services["provision"]["restart"] == "no"
    for name, service in ingenium_services().items():
        if name != "provision":
            assert service["depends_on"] == {"provision": {"condition": "service_completed_successfully"}}, name


def test_environments_are_valid_settings_and_the_database_goes_only_where_needed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key in [k for k in os.environ if k.startswith("INGENIUM_")]:  # each service has only its own environment
        monkeypatch.delenv(key)
    services = compose()["services"]
    for name, service in ingenium_services().items():
        env = service["environment"]
        fields = {k.removeprefix("INGENIUM_").lower(): v for k, v in env.items() if k.startswith("INGENIUM_")}
        assert set(fields) <= set(Settings.model_fields), name
        settings = Settings(_env_file=None, **fields)  # type: ignore[arg-type]
        host = str(settings.nats_url).split("//")[1].split(":")[0]
        assert host in services, f"{name}: NATS host {host} is no service"
        wants_database = name in {"provision", "ledger", "portfolio", "web"}
        assert (settings.database_url is not None) == wants_database, name
        telemetry = TelemetryConfig.from_env(name, {k: v for k, v in env.items() if k.startswith("OTEL_")})
        assert telemetry.traces.endpoint == "http://otel-collector:4318/v1/traces"


def test_dependencies_mounts_and_ports_are_real_and_local() -> None:
    services = compose()["services"]
    for name, service in services.items():
        depends = service.get("depends_on", [])
        assert set(depends) <= set(services), f"{name} depends on a missing service"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert source in compose()["volumes"] or (DEPLOY / source).is_file(), f"{name}: {volume}"
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} {port}: publish on loopback only"


def test_collector_pipelines_use_defined_components_and_feed_prometheus() -> None:
    config = load(COLLECTOR_CONFIG)
    assert set(config["receivers"]["otlp"]["protocols"]) == {"grpc", "http"}
    pipelines = config["service"]["pipelines"]
    assert set(pipelines) == {"traces", "metrics", "logs"}
    for pipeline in pipelines.values():
        for section in ("receivers", "processors", "exporters"):
            for component in pipeline[section]:
                assert component in config[section], f"{component} is not defined under {section}"
    assert pipelines["traces"]["exporters"] == ["otlp/traces"] and "prometheus" in pipelines["metrics"]["exporters"]
    prometheus_port = config["exporters"]["prometheus"]["endpoint"].rsplit(":", 1)[1]
    collector = compose()["services"]["otel-collector"]
    assert f"127.0.0.1:{prometheus_port}:{prometheus_port}" in collector["ports"]
    assert "--config=/etc/otelcol/config.yaml" in shlex.join(collector["command"])
    scrape = load(DEPLOY / "prometheus.yaml")["scrape_configs"][0]["static_configs"][0]["targets"]
    assert scrape == [f"otel-collector:{prometheus_port}"]
