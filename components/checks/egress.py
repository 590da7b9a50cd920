"""Checks of egress: declared external dependencies, their visibility, hosts, gateways and plaintext exits."""

from __future__ import annotations

from collections.abc import Iterator

from ..plan.egress import entry_namespace
from ..spec import EgressProtocol, ExternalService, GatewayKind, MeshSpec, OutboundTrafficPolicy, Resolution
from ._facts import one_of
from .registry import Finding, Severity, check, finding, path


def _registry_only(spec: MeshSpec) -> bool:
    return spec.control_plane.mesh_config.outbound_traffic_policy is OutboundTrafficPolicy.REGISTRY_ONLY


def visible_in(spec: MeshSpec, entry: ExternalService, namespace: str) -> bool:
    """Whether a ServiceEntry is visible to workloads of ``namespace`` (its exportTo)."""
    own = entry_namespace(entry, spec.root_namespace)
    return any(value == "*" or value == namespace or (value == "." and namespace == own) for value in entry.export_to)


@check("MR250", "Service calls an external service that is not declared in egress", Severity.ERROR)
def undeclared_dependency(spec: MeshSpec) -> Iterator[Finding]:
    """A name in ``services.<name>.egress`` that is not a key of ``egress``. With ``REGISTRY_ONLY`` the sidecar
    blocks every call to a host the registry does not know; with ``ALLOW_ANY`` the call leaves unmanaged (no
    TLS origination, no gateway), and the name is a typo either way."""
    declared = sorted(spec.egress)
    for name, service in spec.services.items():
        for index, dependency in enumerate(service.egress):
            if dependency in spec.egress:
                continue
            effect = ("outboundTrafficPolicy is REGISTRY_ONLY, so the sidecar answers every call to it with 502 "
                      "(BlackHoleCluster)" if _registry_only(spec) else
                      "the calls leave through the passthrough cluster, without the mesh's TLS origination, gateway "
                      "or metrics per host, and would break the day the mesh turns REGISTRY_ONLY")
            yield finding("MR250", path("services", name, "egress", index),
                          f"service {name} lists external service {dependency!r}, which egress does not declare: "
                          f"{effect}; expected {one_of(declared) if declared else 'a name declared in egress'}, "
                          f"got {dependency!r}")


@check("MR251", "External service that no service lists as a dependency", Severity.WARNING)
def unused_external_service(spec: MeshSpec) -> Iterator[Finding]:
    """A key of ``egress`` that no ``services.<name>.egress`` list names: either a service forgot to declare the
    dependency (the next reader cannot tell who calls out where), or the entry is stale and opens a way out of the
    mesh that nobody needs."""
    used = {dependency for service in spec.services.values() for dependency in service.egress}
    for name in spec.egress:
        if name not in used:
            yield finding("MR251", path("egress", name),
                          f"no service lists {name!r} in its egress, so either a caller is missing its declaration "
                          f"or the entry is stale and keeps {', '.join(spec.egress[name].hosts)} reachable for no "
                          f"one; expected {name!r} in some services.<name>.egress, got no service listing it")


@check("MR252", "External service is not visible in the namespace of a service that calls it", Severity.ERROR)
def invisible_dependency(spec: MeshSpec) -> Iterator[Finding]:
    """A service lists an external service whose ``exportTo`` leaves out the service's namespace: its sidecar
    never receives the ServiceEntry, so the call is blocked (``REGISTRY_ONLY``) or leaves unmanaged."""
    for name, service in spec.services.items():
        for index, dependency in enumerate(service.egress):
            entry = spec.egress.get(dependency)
            if entry is None or visible_in(spec, entry, service.namespace):
                continue  # undeclared: MR250
            own = entry_namespace(entry, spec.root_namespace)
            yield finding("MR252", path("services", name, "egress", index),
                          f"external service {dependency!r} lives in namespace {own!r} with exportTo "
                          f"{entry.export_to}, which does not include namespace {service.namespace!r} of service "
                          f"{name}: its sidecar never sees the entry, so the call is "
                          f"{'blocked (REGISTRY_ONLY)' if _registry_only(spec) else 'not managed by the mesh'}; "
                          f"expected exportTo to include {service.namespace!r} (or *), got {entry.export_to}")


def _mesh_host_problem(spec: MeshSpec, host: str) -> str | None:
    lowered = host.lower()
    suffix = f".svc.{spec.cluster_domain}".lower()
    for name, service in spec.services.items():
        mesh_host = f"{name}.{service.namespace}.svc.{spec.cluster_domain}".lower()
        if lowered == mesh_host or (lowered.startswith("*.") and mesh_host.endswith(lowered[1:])):
            return f"it covers {mesh_host}, the host of service {name}"
    if lowered.endswith(suffix) or lowered == f"*.{spec.cluster_domain}".lower():
        return f"it is a Kubernetes service host (ending in svc.{spec.cluster_domain})"
    return None


@check("MR253", "External host that is, or covers, an in-mesh service host", Severity.ERROR)
def external_host_shadows_service(spec: MeshSpec) -> Iterator[Finding]:
    """An ``egress`` host equal to a service's host (``<service>.<namespace>.svc.<clusterDomain>``), a wildcard
    covering one, or any host under ``svc.<clusterDomain>``: the MESH_EXTERNAL entry merges with or shadows the
    Kubernetes service, so in-mesh calls lose mTLS and go where the entry says."""
    for name, entry in spec.egress.items():
        for index, host in enumerate(entry.hosts):
            problem = _mesh_host_problem(spec, host)
            if problem:
                yield finding("MR253", path("egress", name, "hosts", index),
                              f"host {host!r} is declared as outside the mesh (MESH_EXTERNAL), but {problem}: Istio "
                              f"merges the entry with the in-mesh service, whose calls then lose mTLS and are sent "
                              f"where the entry says; expected a host outside the cluster domain, got {host!r}")


@check("MR254", "External service routed through an undefined or ingress gateway", Severity.ERROR)
def egress_gateway_unknown(spec: MeshSpec) -> Iterator[Finding]:
    """``egress.<name>.gateway`` names no gateway in ``controlPlane.gateways``, or one with ``kind: ingress``."""
    gateways = spec.control_plane.gateways
    egress_gateways = sorted(name for name, gateway in gateways.items() if gateway.kind is GatewayKind.EGRESS)
    expected = (one_of(egress_gateways) if egress_gateways
                else "an egress gateway (kind: egress) in controlPlane.gateways")
    for name, entry in spec.egress.items():
        if entry.gateway is None:
            continue
        gateway = gateways.get(entry.gateway)
        if gateway is None:
            yield finding("MR254", path("egress", name, "gateway"),
                          f"gateway {entry.gateway!r} is not defined in controlPlane.gateways, so no Gateway and no "
                          f"route through it are created and {name}'s traffic leaves straight from the sidecars, "
                          f"unlike what the config says; expected {expected}, got {entry.gateway!r}")
        elif gateway.kind is not GatewayKind.EGRESS:
            yield finding("MR254", path("egress", name, "gateway"),
                          f"gateway {entry.gateway!r} is an ingress gateway (public load balancer, no egress "
                          f"routing is planned on it), so {name}'s traffic would not leave through a dedicated exit; "
                          f"expected {expected}, got {entry.gateway!r} (kind ingress)")


@check("MR255", "Two external services declare the same host", Severity.ERROR)
def duplicate_external_host(spec: MeshSpec) -> Iterator[Finding]:
    """The same host (case-insensitively) in two ``egress`` entries: Istio merges or picks between the two
    ServiceEntries (and their TLS origination rules) by creation time, so which ports, resolution and gateway apply
    is not what either entry says."""
    first: dict[str, str] = {}
    for name in sorted(spec.egress):
        for index, host in enumerate(spec.egress[name].hosts):
            owner = first.setdefault(host.lower(), name)
            if owner != name:
                yield finding("MR255", path("egress", name, "hosts", index),
                              f"host {host!r} is already declared by external service {owner!r}; two ServiceEntries "
                              f"for one host are merged or shadow each other by creation time, so ports, resolution "
                              f"and routing are not what either says; expected the host in one entry only, got it in "
                              f"{owner!r} and {name!r}")


@check("MR256", "TCP port of an external service without addresses (catches every TCP connection to that port)",
       Severity.WARNING)
def tcp_without_addresses(spec: MeshSpec) -> Iterator[Finding]:
    """A TCP port in an ``egress`` entry without ``addresses`` (resolution DNS or NONE). A TCP connection carries no
    host name, so the sidecar matches it by destination IP and port only: without addresses, the entry's listener
    takes every TCP connection to that port, whatever the destination (``istioctl analyze`` IST0134
    ServiceEntryAddressesRequired)."""
    for name, entry in spec.egress.items():
        if entry.addresses or entry.resolution is Resolution.STATIC:
            continue
        for index, port in enumerate(entry.ports):
            if port.protocol is EgressProtocol.TCP:
                yield finding("MR256", path("egress", name, "ports", index),
                              f"port {port.number} is TCP and the entry has no addresses: the sidecar cannot tell "
                              f"{', '.join(entry.hosts)} from any other destination on port {port.number}, so every "
                              f"TCP connection to that port goes through this entry; expected addresses (the "
                              f"service's IPs or CIDR blocks), got none")


@check("MR257", "External service routed through an egress gateway that cannot see it", Severity.ERROR)
def gateway_cannot_see_entry(spec: MeshSpec) -> Iterator[Finding]:
    """``egress.<name>.gateway`` is set but the entry's ``exportTo`` leaves out the gateway's namespace: the
    gateway receives the traffic but has no cluster for the host (404 or 502 at the gateway)."""
    for name, entry in spec.egress.items():
        gateway = spec.control_plane.gateways.get(entry.gateway) if entry.gateway else None
        if gateway is None or gateway.kind is not GatewayKind.EGRESS:
            continue  # MR254
        if not visible_in(spec, entry, gateway.namespace):
            yield finding("MR257", path("egress", name, "exportTo"),
                          f"{name} is routed through gateway {entry.gateway!r} in namespace {gateway.namespace!r}, "
                          f"but exportTo {entry.export_to} hides the entry from that namespace: the gateway gets "
                          f"the requests and knows no way to {', '.join(entry.hosts)}; expected exportTo to include "
                          f"{gateway.namespace!r} (or *), got {entry.export_to}")


@check("MR258", "Wildcard external host routed through an egress gateway", Severity.ERROR)
def wildcard_through_gateway(spec: MeshSpec) -> Iterator[Finding]:
    """A ``*.`` host in an entry with ``gateway``: the gateway must send each request on to the host it was meant
    for, and a route's destination cannot be a wildcard (Istio's wildcard egress needs a dynamic forward proxy,
    which this package does not configure)."""
    for name, entry in spec.egress.items():
        if entry.gateway is None:
            continue
        for index, host in enumerate(entry.hosts):
            if host.startswith("*."):
                yield finding("MR258", path("egress", name, "hosts", index),
                              f"host {host!r} is a wildcard and {name} is routed through gateway {entry.gateway!r}: "
                              f"the gateway's route needs one destination host and cannot forward to "
                              f"'whichever host matched', so these calls fail at the gateway; expected the host "
                              f"names themselves (e.g. {'api' + host[1:]}), got {host!r}")


@check("MR259", "External HTTP port sends plaintext out of the cluster in production", Severity.WARNING)
def plaintext_exit(spec: MeshSpec) -> Iterator[Finding]:
    """``production: true`` and an ``egress`` port with protocol HTTP (or HTTP2, GRPC) without ``originateTls``:
    requests, with their credentials, cross networks the mesh does not control in plaintext."""
    if not spec.production:
        return
    for name, entry in spec.egress.items():
        for index, port in enumerate(entry.ports):
            if port.protocol.is_http and not port.originate_tls:
                yield finding("MR259", path("egress", name, "ports", index),
                              f"port {port.number} of {', '.join(entry.hosts)} is {port.protocol.value} and leaves "
                              f"the cluster unencrypted in production: any network in between reads the requests "
                              f"and their credentials; expected originateTls: true (the mesh encrypts, and still "
                              f"sees each request) or an HTTPS port, got {port.protocol.value} without originateTls")
