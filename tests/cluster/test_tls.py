"""TLS on a real 3-node cluster: clients and routes speak mutual TLS with certificates made at test time (trustme).

The cluster's R3 streams only work when the nodes reach each other, so a stored publish shows the routes work
over TLS; the nodes' own report says their routes require it. A client without the CA and its certificate is
refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from ingenium.config import Settings
from ingenium.connection import connect_nats
from ingenium.errors import ConfigurationError, ConnectionFailed
from tests.cluster.harness import NatsCluster, TlsFiles, provision_streams

pytestmark = pytest.mark.cluster


@pytest.fixture
def certificates(tmp_path: Path) -> dict[str, Path]:
    ca = trustme.CA()
    files = {"ca": tmp_path / "ca.pem"}
    ca.cert_pem.write_to_path(str(files["ca"]))
    for who in ("server", "client"):
        cert = ca.issue_cert("127.0.0.1", "localhost", f"ingenium-{who}.test")
        files[f"{who}.cert"] = tmp_path / f"{who}.pem"
        files[f"{who}.key"] = tmp_path / f"{who}.key"
        cert.cert_chain_pems[0].write_to_path(str(files[f"{who}.cert"]))
        cert.private_key_pem.write_to_path(str(files[f"{who}.key"]))
    return files


@pytest.fixture
def tls_cluster(tmp_path: Path, certificates: dict[str, Path]) -> Iterator[NatsCluster]:
    tls = TlsFiles(certificates["ca"], certificates["server.cert"], certificates["server.key"])
    nodes = NatsCluster(tmp_path / "cluster", tls=tls)
    nodes.start()
    try:
        yield nodes
    finally:
        nodes.stop()


async def test_clients_and_routes_speak_tls_and_a_plaintext_client_is_refused(
    tls_cluster: NatsCluster, certificates: dict[str, Path], tmp_path: Path
) -> None:
    base = Settings(_env_file=None, data_dir=tmp_path / "data", nats_url=tls_cluster.urls, stream_replicas=3)  # type: ignore[call-arg]
    secured = base.model_copy(update={"nats_tls_ca": certificates["ca"], "nats_tls_cert": certificates["client.cert"],
                                      "nats_tls_key": certificates["client.key"]})
    nc = await connect_nats(secured, name="test-tls")
    try:
        ours = [c for node in tls_cluster.nodes.values() for c in node.monitor("/connz")["connections"]
                if c.get("name") == "test-tls"]
        assert len(ours) == 1 and ours[0]["tls_version"].startswith("1.")  # the server's word: the socket is TLS
        await provision_streams(nc, secured)
        js = nc.jetstream(timeout=30)  # R3 streams on a just-started cluster, on a loaded machine
        ack = await js.publish("ingenium.strategy.signal", b"{}")
        info = await js.stream_info("INGENIUM_SIGNALS")
        assert ack.seq == 1 and info.cluster is not None and len(info.cluster.replicas or []) == 2
    finally:
        await nc.close()
    for node in tls_cluster.nodes.values():
        varz = node.monitor("/varz")
        assert varz["tls_required"] and varz["tls_verify"]
        assert varz["cluster"]["tls_required"] and varz["cluster"]["tls_verify"], node.name

    with pytest.raises(ConnectionFailed, match="INGENIUM_NATS_TLS_CA"):
        async with asyncio.timeout(30):
            await connect_nats(base, name="test-plaintext")  # no CA: the servers' certificates are not trusted
    without_cert = base.model_copy(update={"nats_tls_ca": certificates["ca"]})
    with pytest.raises(ConnectionFailed):
        async with asyncio.timeout(30):
            await connect_nats(without_cert, name="test-no-client-cert")  # the servers require one


def test_a_client_certificate_without_its_key_is_refused_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="INGENIUM_NATS_TLS_CERT and INGENIUM_NATS_TLS_KEY go together"):
        Settings(_env_file=None, nats_tls_cert=tmp_path / "client.pem")  # type: ignore[call-arg]


async def test_unreadable_tls_files_are_named(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, nats_url="nats://127.0.0.1:1", nats_tls_ca=tmp_path / "missing.pem")  # type: ignore[call-arg]
    with pytest.raises(ConfigurationError, match="INGENIUM_NATS_TLS_CA"):
        await connect_nats(settings)
