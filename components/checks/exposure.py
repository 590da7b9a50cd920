"""Checks of ingress exposure: which gateway publishes a service, and which service owns an external host."""

from __future__ import annotations

from collections import defaultdict
from typing import Iterator

from ..spec import GatewayKind, MeshSpec
from ._facts import one_of
from .registry import Finding, Severity, check, finding, path


def _host(host: str) -> str:
    return host.lower().rstrip(".")


@check("MR110", "Two services claim the same external host on one gateway", Severity.ERROR)
def conflicting_exposure(spec: MeshSpec) -> Iterator[Finding]:
    """Two services expose the same external host (case-insensitive) on the same gateway: two VirtualServices claim
    every request for it and Istio merges them in no guaranteed order."""
    claims: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    for name, service in spec.services.items():
        if service.expose is None:
            continue
        for index, host in enumerate(service.expose.hosts):
            claims[(service.expose.gateway, _host(host))].setdefault(name, index)
    for (gateway, host), claimants in claims.items():
        if len(claimants) < 2:
            continue
        for name, index in claimants.items():
            rivals = ", ".join(sorted(other for other in claimants if other != name))
            yield finding("MR110", path("services", name, "expose", "hosts", index),
                          f"host {host} on gateway {gateway!r} is also exposed by {rivals}; both VirtualServices "
                          f"route every path of it and Istio merges them in no guaranteed order, so one service "
                          f"silently gets the other's requests; expected each host on a gateway to belong to one "
                          f"service, got {len(claimants)} services")


@check("MR170", "Exposure through an undefined or egress gateway", Severity.ERROR)
def exposure_gateway(spec: MeshSpec) -> Iterator[Finding]:
    """``expose.gateway`` names no gateway in ``controlPlane.gateways``, or an egress gateway."""
    gateways = spec.control_plane.gateways
    ingress = [name for name, gateway in gateways.items() if gateway.kind is GatewayKind.INGRESS]
    expected = f"an ingress gateway from controlPlane.gateways ({one_of(ingress)})" if ingress else \
        "an ingress gateway defined in controlPlane.gateways (none is defined)"
    for name, service in spec.services.items():
        if service.expose is None:
            continue
        wanted = service.expose.gateway
        gateway = gateways.get(wanted)
        if gateway is None:
            yield finding("MR170", path("services", name, "expose", "gateway"),
                          f"gateway {wanted!r} is not defined in controlPlane.gateways, so no Gateway serves "
                          f"{', '.join(service.expose.hosts)}; expected {expected}, got {wanted!r}")
        elif gateway.kind is GatewayKind.EGRESS:
            yield finding("MR170", path("services", name, "expose", "gateway"),
                          f"gateway {wanted!r} is an egress gateway, which never receives traffic from outside the "
                          f"cluster, so {', '.join(service.expose.hosts)} is unreachable; expected {expected}, "
                          f"got {wanted!r} (kind egress)")
