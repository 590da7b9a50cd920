"""Facts derived from the spec that several checks share (what is routed where, who runs as what)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..plan.naming import service_account
from ..spec import MeshSpec, MirrorSpec, MtlsMode, PortSpec, ServiceSpec
from .registry import path

__all__ = ("HTTP_PROTOCOLS", "KUBERNETES_APP_PROTOCOLS", "VersionRef", "declared_protocol", "effective_mtls_mode",
           "one_of", "port_protocol", "service_account", "version_refs", "yaml_map")

#: What Istio reads from a port name prefix or an appProtocol, lower-cased (istio pkg/config/protocol ``Parse``).
ISTIO_PROTOCOLS = {
    "tcp": "TCP", "udp": "UDP", "grpc": "GRPC", "grpc-web": "GRPC-Web", "http": "HTTP", "http_proxy": "HTTP_PROXY",
    "http2": "HTTP2", "https": "HTTPS", "tls": "TLS", "mongo": "Mongo", "redis": "Redis", "mysql": "MySQL",
}
#: Kubernetes' standard appProtocol names, which Istio understands in appProtocol only (not in a port name).
KUBERNETES_APP_PROTOCOLS = {"kubernetes.io/h2c": "HTTP2", "kubernetes.io/ws": "HTTP", "kubernetes.io/wss": "HTTPS"}
#: Ports Istio treats as TCP when the protocol is not declared (SMTP, DNS, MySQL, MongoDB).
WELL_KNOWN_TCP_PORTS = frozenset({25, 53, 3306, 27017})
#: Protocols on which a sidecar or waypoint runs its HTTP filters (routing, retries, L7 authorization).
HTTP_PROTOCOLS = frozenset({"HTTP", "HTTP2", "GRPC", "GRPC-Web", "HTTP_PROXY"})


def declared_protocol(text: str, app_protocol: bool = False) -> str | None:
    """The Istio protocol a port name (or, with ``app_protocol``, an appProtocol) declares, or ``None``.

    As istio pkg/config/kube ``ConvertProtocol``: Kubernetes' ``kubernetes.io/…`` names (appProtocol only), then a
    ``grpc-web`` prefix, then the part before the first ``-``, case-insensitively.
    """
    if app_protocol and text in KUBERNETES_APP_PROTOCOLS:
        return KUBERNETES_APP_PROTOCOLS[text]
    if text[:8].lower() == "grpc-web":
        return "GRPC-Web"
    return ISTIO_PROTOCOLS.get(text.split("-", 1)[0].lower())


def port_protocol(port: PortSpec) -> str | None:
    """The protocol Istio gives a service port, or ``None`` when it falls back to protocol detection.

    appProtocol wins when set (the port name is then not read at all), else the name; an undeclared protocol on a
    well-known port (25, 53, 3306, 27017) is TCP.
    """
    if port.app_protocol is not None:
        protocol = declared_protocol(port.app_protocol, app_protocol=True)
    else:
        protocol = declared_protocol(port.name or "")
    if protocol is None and port.port in WELL_KNOWN_TCP_PORTS:
        return "TCP"
    return protocol


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
            if match.version is not None and match.redirect is None:  # a redirect routes nowhere (MR281 if both)
                yield VersionRef(path("services", name, "traffic", "matches", index, "version"), name,
                                 match.service or name, match.version)
        mirrors: list[tuple[tuple[str | int, ...], MirrorSpec | None]] = [(("mirror",), traffic.mirror)]
        mirrors += [(("matches", index, "mirror"), match.mirror) for index, match in enumerate(traffic.matches)]
        if traffic.default_route is not None:
            mirrors.append((("defaultRoute", "mirror"), traffic.default_route.mirror))
        for where, mirror in mirrors:
            if mirror is not None and mirror.version is not None:
                yield VersionRef(path("services", name, "traffic", *where, "version"), name,
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
