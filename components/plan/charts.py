"""Turning a chart source (Helm repo, OCI registry, local directory) into a :class:`HelmRelease`."""

from __future__ import annotations

import os
from typing import Any

from ..spec import ChartRepository
from .model import HelmRelease


def release(
    key: str,
    chart: str,
    version: str | None,
    source: ChartRepository,
    namespace: str,
    values: dict[str, Any],
    depends_on: tuple[str, ...] = (),
    skip_await: bool = False,
) -> HelmRelease:
    """A release of ``chart`` from ``source``: repo + name, ``oci://…/name``, or ``<dir>/<name>`` for local charts
    (a leading ``~`` in a local directory is the user's home)."""
    if source.kind == "http":
        return HelmRelease(key, chart, version, source.url.rstrip("/"), namespace, values, depends_on,
                           skip_await=skip_await)
    if source.kind == "oci":
        reference = f"{source.url.rstrip('/')}/{chart}"
        return HelmRelease(key, reference, version, None, namespace, values, depends_on, plain_http=source.plain_http,
                           skip_await=skip_await)
    # A local directory is already one exact version: passing a version would only make Helm compare it.
    return HelmRelease(key, os.path.join(os.path.expanduser(source.url), chart), None, None, namespace, values,
                       depends_on, skip_await=skip_await)
