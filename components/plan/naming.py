"""Names derived from the spec, in one place: hosts, workload labels, service accounts, principals, metadata."""

from __future__ import annotations

from typing import Any

from ..spec import ServiceSpec, VersionSpec

#: Label on every object this package creates.
MANAGED_BY = {"app.kubernetes.io/managed-by": "mesh-rollout"}

ISTIO_NETWORKING = "networking.istio.io/v1"
ISTIO_SECURITY = "security.istio.io/v1"
ISTIO_TELEMETRY = "telemetry.istio.io/v1"
GATEWAY_API = "gateway.networking.k8s.io/v1"


def service_host(name: str, service: ServiceSpec, cluster_domain: str) -> str:
    """The fully qualified in-cluster host of a service."""
    return f"{name}.{service.namespace}.svc.{cluster_domain}"


def workload_labels(name: str, service: ServiceSpec) -> dict[str, str]:
    """Pod labels of a service's workloads (its selector)."""
    return dict(service.selector) if service.selector is not None else {"app": name}


def version_labels(version: str, spec: VersionSpec) -> dict[str, str]:
    """Pod labels of one version (subset) of a service."""
    return dict(spec.labels) if spec.labels is not None else {"version": version}


def service_account(name: str, service: ServiceSpec) -> str:
    """The service account a service's workloads run as."""
    return service.service_account or name


def principal(trust_domain: str, namespace: str, account: str) -> str:
    """SPIFFE-style principal Istio matches in AuthorizationPolicy ``source.principals``."""
    return f"{trust_domain}/ns/{namespace}/sa/{account}"


def gateway_selector_label(gateway_name: str) -> str:
    """Value of the ``istio`` pod label Istio's gateway chart sets: the release name without an ``istio-`` prefix."""
    return gateway_name.removeprefix("istio-")


def metadata(name: str, namespace: str | None = None, labels: dict[str, str] | None = None) -> dict[str, Any]:
    """Object metadata with the managed-by label."""
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta["labels"] = {**MANAGED_BY, **(labels or {})}
    return meta
