"""Turning a chart source (Helm repo, OCI registry, local directory) into a :class:`HelmRelease`, and checking a
local chart against the SHA-256 the configuration expects of it."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from typing import Any

from ..spec import ChartRepository
from ..spec.errors import ConfigError, Problem
from .model import HelmRelease


def _file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def chart_sha256(path: str) -> str:
    """SHA-256 (hex) of a local chart: of the file for a packaged chart (``sha256sum`` of the .tgz); for an unpacked
    chart directory, of the lines ``<relative path>\\0<SHA-256 of the file>\\n`` of every file under it, sorted by
    path ("/"-separated), so neither timestamps nor the order the file system lists files in change it."""
    if os.path.isfile(path):
        return _file_sha256(path)
    entries = []
    for directory, _, files in os.walk(path):
        for name in files:
            full = os.path.join(directory, name)
            digest = _file_sha256(full)
            entries.append(f"{os.path.relpath(full, path).replace(os.sep, '/')}\0{digest}\n")
    return hashlib.sha256("".join(sorted(entries)).encode("utf-8")).hexdigest()


def release(
    key: str,
    chart: str,
    version: str | None,
    source: ChartRepository,
    namespace: str,
    values: dict[str, Any],
    depends_on: tuple[str, ...] = (),
    skip_await: bool = False,
    where: str = "mesh",
    image_digests: Mapping[str, str] | None = None,
    require_pinned: bool = False,
) -> HelmRelease:
    """A release of ``chart`` from ``source``: repo + name, ``oci://…/name``, or ``<dir>/<name>`` for local charts
    (a leading ``~`` in a local directory is the user's home).

    ``where`` is the config path of ``source`` (e.g. ``mesh.controlPlane.charts``), named by the error a local chart
    whose SHA-256 differs from ``source.sha256`` raises (:class:`ConfigError`, before anything is registered).
    ``image_digests`` and ``require_pinned``: see :class:`HelmRelease`.
    """
    pinning: dict[str, Any] = {"image_digests": dict(image_digests or {}), "require_pinned": require_pinned,
                               "skip_await": skip_await}
    if source.kind == "http":
        return HelmRelease(key, chart, version, source.url.rstrip("/"), namespace, values, depends_on,
                           verify=source.verify, keyring=source.keyring, **pinning)
    if source.kind == "oci":
        reference = f"{source.url.rstrip('/')}/{chart}"
        return HelmRelease(key, reference, version, None, namespace, values, depends_on, plain_http=source.plain_http,
                           verify=source.verify, keyring=source.keyring, **pinning)
    # A local directory is already one exact version: passing a version would only make Helm compare it.
    path = os.path.join(os.path.expanduser(source.url), chart)
    expected = source.sha256.get(chart)
    if expected is not None:
        if not os.path.exists(path):
            raise ConfigError([Problem(f"{where}.sha256.{chart}", f"expected the chart {chart} at {path} to check "
                                       "its SHA-256, but there is no such file or directory")])
        found = chart_sha256(path)
        if found != expected:
            raise ConfigError([Problem(
                f"{where}.sha256.{chart}", f"the chart at {path} is not the one this configuration expects: "
                f"expected SHA-256 {expected}, got {found} (the chart changed, or the digest is out of date)")])
    return HelmRelease(key, path, None, None, namespace, values, depends_on, sha256=expected, **pinning)
