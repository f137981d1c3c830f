"""deploy/helm/ingenium rendered by the real helm, every object validated against the Kubernetes schemas.

`helm lint --strict` and `helm template` run with the default values and with each ci/*.yaml (helm checks the
values against values.schema.json itself); kubernetes-validate checks every rendered object, strictly, against
the bundled schemas of Kubernetes 1.35. Then what the objects say is checked against Ingenium itself: each
container's arguments parse with the real CLI and name real components, the shared settings are settings
Ingenium accepts, and each component connects as the NATS user that deploy/helm/nats-values.yaml defines for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from ingenium.config import Settings
from ingenium.telemetry import TelemetryConfig
from tests.deploy.chart import CHART, CI_VALUES, NAMESPACE, by_kind, containers, env_of, helm, render
from tests.deploy.cli import check_command, has_command, parse
from tests.deploy.natsconf import users

pytestmark = pytest.mark.deploy

VALUE_SETS = [None, *CI_VALUES]
IDS = ["default", *(p.stem for p in CI_VALUES)]
KUBERNETES = "1.35.0"
FULLNAME = "ingenium"
INGENIUM_IMAGE = "ghcr.io/example/ingenium:0.1.0"


@pytest.fixture(scope="module", params=VALUE_SETS, ids=IDS)
def rendered(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return render(request.param)


@pytest.fixture(scope="module")
def default() -> list[dict[str, Any]]:
    return render()


def test_there_are_ci_value_sets_for_each_database_and_auth_mode() -> None:
    values = [yaml.safe_load(p.read_text()) for p in CI_VALUES]
    assert {v.get("postgresql", {}).get("mode", "cnpg") for v in values} == {"cnpg", "external"}
    assert {v.get("nats", {}).get("auth", {}).get("mode", "password") for v in values} >= {"none", "creds"}


@pytest.mark.parametrize("values", VALUE_SETS, ids=IDS)
def test_helm_lint_strict_passes(values: Path | None) -> None:
    result = helm("lint", "--strict", str(CHART), *(["-f", str(values)] if values else []))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[WARNING]" not in result.stdout and "[ERROR]" not in result.stdout, result.stdout


def test_every_object_is_valid_kubernetes(rendered: list[dict[str, Any]]) -> None:
    checked = 0
    for obj in rendered:
        if obj["apiVersion"].startswith("postgresql.cnpg.io/"):
            continue  # a custom resource: no schema in Kubernetes' own; its fields are checked below
        kubernetes_validate.validate(obj, KUBERNETES, strict=True)
        checked += 1
    assert checked >= 10


def test_the_cnpg_cluster_replicates_synchronously(default: list[dict[str, Any]]) -> None:
    (cluster,) = [o for o in default if o["kind"] == "Cluster"]
    assert cluster["apiVersion"] == "postgresql.cnpg.io/v1"
    spec = cluster["spec"]
    assert spec["instances"] == 3 and spec["storage"]["size"] == "20Gi"
    assert spec["bootstrap"] == {"initdb": {"database": "ingenium", "owner": "ingenium"}}
    assert spec["postgresql"]["synchronous"] == {"method": "any", "number": 1, "dataDurability": "required"}
    ledger = by_kind(default, "Deployment")[f"{FULLNAME}-ledger"]
    url = env_of(containers(ledger)[0])["INGENIUM_DATABASE_URL"]
    assert url == {"secretKeyRef": {"name": f"{cluster['metadata']['name']}-app", "key": "uri"}}


def test_an_external_database_url_goes_into_a_secret() -> None:
    objects = render(None, "postgresql.mode=external", "postgresql.external.url=postgresql://u:p@db:5432/x")
    assert not [o for o in objects if o["kind"] == "Cluster"]
    secret = by_kind(objects, "Secret")[f"{FULLNAME}-database"]
    assert Settings(_env_file=None, database_url=secret["stringData"]["uri"]).database_url  # type: ignore[call-arg]
    ledger = by_kind(objects, "Deployment")[f"{FULLNAME}-ledger"]
    assert env_of(containers(ledger)[0])["INGENIUM_DATABASE_URL"] == {
        "secretKeyRef": {"name": f"{FULLNAME}-database", "key": "uri"}}


BAD_VALUES = {
    "a second portfolio replica": ({"components": [{"name": "pf", "kind": "portfolio", "target": "a.b:C",
                                                    "replicas": 2}]}, "/components/0/replicas"),
    "an unknown component kind": ({"components": [{"name": "x", "kind": "broker", "target": "a.b:C"}]},
                                  "/components/0/kind"),
    "a component name Kubernetes refuses": ({"components": [{"name": "Sma_Cross", "kind": "strategy",
                                                             "target": "a.b:C"}]}, "/components/0/name"),
    "an unknown database mode": ({"postgresql": {"mode": "sqlite"}}, "/postgresql/mode"),
    "an external database without a URL": ({"postgresql": {"mode": "external"}}, "/postgresql"),
    "password auth without a secret": ({"nats": {"auth": {"mode": "password", "existingSecret": ""}}},
                                       "/nats/auth/existingSecret"),
    "seven stream replicas": ({"settings": {"streamReplicas": 7}}, "/settings/streamReplicas"),
    "a misspelt setting": ({"settings": {"streamReplica": 3}}, "streamReplica"),
    "a non-NATS URL": ({"nats": {"url": "http://nats:4222"}}, "/nats/url"),
}


@pytest.mark.parametrize("values,where", BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_the_schema_refuses_bad_values(values: dict[str, Any], where: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(values))
    result = helm("template", "x", str(CHART), "-f", str(bad))
    assert result.returncode != 0, f"accepted: {values}"
    assert "values don't meet the specifications of the schema" in result.stderr, result.stderr
    assert where in result.stderr, result.stderr


def ingenium_containers(objects: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(o, c) for o in objects if o["kind"] in ("Deployment", "Job", "Pod")
            for c in containers(o) if c["image"] == INGENIUM_IMAGE]


def test_every_ingenium_container_runs_a_real_command(rendered: list[dict[str, Any]]) -> None:
    commands = set()
    for workload, container in ingenium_containers(rendered):
        if "command" in container:  # the helm test pod runs two commands through sh
            assert container["command"][:2] == ["sh", "-c"]
            lines = [part.split() for part in container["command"][2].split("&&")]
        else:
            lines = [container["args"]]
        for line in lines:
            assert line[0] != "ingenium" or "command" in container, workload["metadata"]["name"]
            args = line[1:] if line[0] == "ingenium" else line
            if args[0] == "web" and not has_command("web"):
                # `ingenium web` is built in parallel (services/web); until the CLI has it, hold the agreed line.
                assert args == ["web", "--host", "0.0.0.0", "--port", "8080"]
            else:
                check_command(args)
            commands.add(args[0] if args[0] != "ledger" else " ".join(args[:2]))
    assert {"run", "streams", "ledger serve"} <= commands


def test_each_component_connects_as_its_nats_user(rendered: list[dict[str, Any]]) -> None:
    defined = users()
    for workload, container in ingenium_containers(rendered):
        env = env_of(container)
        kind = workload["metadata"]["labels"].get("app.kubernetes.io/component", "")
        if container["name"] == "migrate":
            assert "INGENIUM_NATS_USER" not in env and "INGENIUM_NATS_CREDS" not in env
            continue
        if "INGENIUM_NATS_USER" in env:
            user = env["INGENIUM_NATS_USER"]
            assert env["INGENIUM_NATS_PASSWORD"]["secretKeyRef"]["key"] == user
        elif "INGENIUM_NATS_CREDS" in env:
            user = Path(env["INGENIUM_NATS_CREDS"]).stem
        else:
            continue  # nats.auth.mode: none
        assert user in defined, f"{workload['metadata']['name']} connects as {user}, which nats-values.yaml lacks"
        if workload["kind"] != "Pod":
            assert user == kind, workload["metadata"]["name"]


def test_executors_use_the_bucket_their_user_may_write(rendered: list[dict[str, Any]]) -> None:
    allowed = users()["executor"]["permissions"]["publish"]["allow"]
    for workload, container in ingenium_containers(rendered):
        if workload["metadata"]["labels"].get("app.kubernetes.io/component") == "executor":
            _, params = parse(container["args"])
            key = f"$KV.INGENIUM_EXECUTOR_{params['name']}.o.x"
            assert any(subject_matches(pattern, key) for pattern in allowed), (
                f"executor {params['name']}: add its bucket to the executor user in ingenium/permissions.py")


def subject_matches(pattern: str, subject: str) -> bool:
    """Whether a NATS subject matches a pattern with ``*`` (one token) and ``>`` (the rest) wildcards."""
    wanted, tokens = pattern.split("."), subject.split(".")
    for i, token in enumerate(wanted):
        if token == ">":
            return len(tokens) > i
        if i >= len(tokens) or token not in ("*", tokens[i]):
            return False
    return len(tokens) == len(wanted)


def test_the_shared_settings_are_valid_ingenium_and_otel_settings(rendered: list[dict[str, Any]]) -> None:
    env = by_kind(rendered, "ConfigMap")[f"{FULLNAME}-config"]["data"]
    fields = {k.removeprefix("INGENIUM_").lower(): v for k, v in env.items() if k.startswith("INGENIUM_")}
    assert set(fields) - {"ledger_starting_cash"} <= set(Settings.model_fields)
    settings = Settings(_env_file=None, **{k: v for k, v in fields.items() if k in Settings.model_fields})  # type: ignore[arg-type]
    assert settings.stream_replicas == 3 and settings.nats_url == "nats://nats:4222"
    telemetry = TelemetryConfig.from_env("x", {k: v for k, v in env.items() if k.startswith("OTEL_")})
    assert telemetry.metrics.enabled and telemetry.traces.endpoint is not None
    collector = by_kind(rendered, "Service").get(f"{FULLNAME}-otel-collector")
    if collector is not None:
        port = {p["name"]: p["port"] for p in collector["spec"]["ports"]}["otlp-http"]
        assert telemetry.traces.endpoint == f"http://{FULLNAME}-otel-collector:{port}/v1/traces"


def test_selectors_services_and_probes_match(rendered: list[dict[str, Any]]) -> None:
    workloads = by_kind(rendered, "Deployment")
    pod_labels = [w["spec"]["template"]["metadata"]["labels"] for w in workloads.values()]
    for name, workload in workloads.items():
        spec = workload["spec"]
        assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items(), name
        for container in containers(workload):
            ports = {p["name"] for p in container.get("ports", [])}
            for probe in ("readinessProbe", "livenessProbe"):
                check = container.get(probe, {})
                port = check.get("httpGet", check.get("tcpSocket", {})).get("port")
                assert port is None or port in ports, f"{name} {probe} uses undeclared port {port}"
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
    for name, service in by_kind(rendered, "Service").items():
        assert any(service["spec"]["selector"].items() <= labels.items() for labels in pod_labels), name
    for name, pdb in by_kind(rendered, "PodDisruptionBudget").items():
        assert any(pdb["spec"]["selector"]["matchLabels"].items() <= labels.items() for labels in pod_labels), name


def test_trading_components_run_one_replica_and_stop_before_a_new_one_starts(rendered: list[dict[str, Any]]) -> None:
    for workload, container in ingenium_containers(rendered):
        if container.get("args", [""])[0] == "run":
            assert workload["spec"]["replicas"] <= 1 and workload["spec"]["strategy"]["type"] == "Recreate"


def test_the_ledger_is_one_writer_with_a_hot_standby(default: list[dict[str, Any]]) -> None:
    ledger = by_kind(default, "Deployment")[f"{FULLNAME}-ledger"]
    assert ledger["spec"]["replicas"] == 2
    assert containers(ledger)[0]["args"][:2] == ["ledger", "serve"]
    assert by_kind(default, "PodDisruptionBudget")[f"{FULLNAME}-ledger"]["spec"]["minAvailable"] == 1


def test_the_provision_job_creates_streams_and_consumers_before_anything_starts(
    rendered: list[dict[str, Any]]
) -> None:
    job = by_kind(rendered, "Job")[f"{FULLNAME}-provision"]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    (container,) = containers(job)
    assert container["args"][:2] == ["streams", "init"]
    provisioned = dict(spec.partition("=")[::2] for spec in container["args"][3::2])
    assert container["args"][2::2] == ["--component"] * len(provisioned)
    # Every component started with `ingenium run` binds to durables the Job made for its name and class.
    for workload, run in ingenium_containers(rendered):
        if run.get("args", [""])[0] == "run":
            _, params = parse(run["args"])
            target = run["args"][1] + (f":{params['symbols']}" if params.get("symbols") else "")
            assert provisioned.get(params["name"]) == target, workload["metadata"]["name"]
            auth = "INGENIUM_NATS_USER" in env_of(run) or "INGENIUM_NATS_CREDS" in env_of(run)
            assert env_of(run).get("INGENIUM_NATS_PROVISIONED") == ("true" if auth else None)
    env = env_of(container)
    config = by_kind(rendered, "ConfigMap")[f"{FULLNAME}-config"]["data"]
    assert {k: env[k] for k in config} == config  # the same settings as every component, inline
    assert env.get("INGENIUM_NATS_USER", "provisioner") == "provisioner"
    assert "envFrom" not in container  # the release's ConfigMap does not exist yet at pre-install


def test_components_with_a_database_migrate_first(default: list[dict[str, Any]]) -> None:
    for name in (f"{FULLNAME}-portfolio", f"{FULLNAME}-web"):
        init = by_kind(default, "Deployment")[name]["spec"]["template"]["spec"]["initContainers"]
        assert [c["args"] for c in init] == [["ledger", "migrate"]]
    strategy = by_kind(default, "Deployment")[f"{FULLNAME}-sma-cross"]
    assert "INGENIUM_DATABASE_URL" not in env_of(containers(strategy)[0])


def test_the_collector_config_is_the_one_compose_uses(default: list[dict[str, Any]]) -> None:
    config = by_kind(default, "ConfigMap")[f"{FULLNAME}-otel-collector"]["data"]["config.yaml"]
    assert yaml.safe_load(config) == yaml.safe_load((CHART / "files" / "otel-collector-config.yaml").read_text())


def test_namespace_comes_from_the_release() -> None:
    notes = helm("install", "x", str(CHART), "--dry-run=client", "--namespace", NAMESPACE)
    assert notes.returncode == 0, notes.stderr
    assert f"kubectl -n {NAMESPACE} logs deploy/x-ingenium-ledger" in notes.stdout


def test_a_restore_stops_the_projectors_and_rebuilds_from_the_streams() -> None:
    objects = render(CHART / "ci" / "cnpg-values.yaml")
    assert by_kind(objects, "Deployment")[f"{FULLNAME}-ledger"]["spec"]["replicas"] == 0
    (job,) = [j for name, j in by_kind(objects, "Job").items() if name.startswith(f"{FULLNAME}-ledger-rebuild-")]
    init, rebuild = containers(job)
    assert init["args"] == ["ledger", "migrate"]
    assert rebuild["args"][:4] == ["ledger", "rebuild", "--source", "streams"]
    assert env_of(rebuild)["INGENIUM_NATS_USER"] == "ledger"
