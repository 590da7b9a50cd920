"""Facts derived from the spec that several checks share (what is routed where, who runs as what)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Mapping

from ..plan.naming import service_account
from ..spec import MeshSpec, MtlsMode, ServiceSpec
from .registry import path

__all__ = ["VersionRef", "effective_mtls_mode", "one_of", "service_account", "version_refs", "yaml_map"]


@dataclass(frozen=True)
class VersionRef:
    """A place that routes to a version (DestinationRule subset) of a service."""

    #: Config path of the key naming the version.
    path: str
    #: Service whose config holds the reference.
    owner: str
    #: Service whose versions must define it (the owner, or the match/mirror ``service``).
    target: str
    version: str


def version_refs(spec: MeshSpec) -> Iterator[VersionRef]:
    """Every version a split entry, a match rule or a mirror routes to."""
    for name, service in spec.services.items():
        traffic = service.traffic
        for version in traffic.split:
            yield VersionRef(path("services", name, "traffic", "split", version), name, name, version)
        for index, match in enumerate(traffic.matches):
            yield VersionRef(path("services", name, "traffic", "matches", index, "version"), name,
                             match.service or name, match.version)
        mirror = traffic.mirror
        if mirror is not None and mirror.version is not None:
            yield VersionRef(path("services", name, "traffic", "mirror", "version"), name,
                             mirror.service or name, mirror.version)


def effective_mtls_mode(spec: MeshSpec, name: str, service: ServiceSpec) -> MtlsMode:
    """The PeerAuthentication mode a service's workloads get: workload exception, else namespace, else mesh-wide.

    ``UNSET`` inherits at each level; an unset mesh-wide mode is Istio's default, ``PERMISSIVE``.
    """
    mtls = spec.mtls
    workload = mtls.workloads.get(name)
    for mode in (workload.mode if workload else MtlsMode.UNSET, mtls.namespaces.get(service.namespace, MtlsMode.UNSET),
                 mtls.mode):
        if mode is not MtlsMode.UNSET:
            return mode
    return MtlsMode.PERMISSIVE


def one_of(names: Any) -> str:
    """``one of a, b, c`` for messages."""
    return "one of " + ", ".join(sorted(str(name) for name in names))


def yaml_map(mapping: Mapping[Any, Any]) -> str:
    """A mapping as flow-style YAML (``{v1: 0, v2: 0}``), the way it was written in the stack file."""
    return "{" + ", ".join(f"{key}: {value}" for key, value in mapping.items()) + "}"
