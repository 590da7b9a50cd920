"""Plan of egress: a ServiceEntry per external service, a DestinationRule where the mesh originates TLS, and a
Gateway plus VirtualServices where the traffic leaves through an egress gateway (Istio's egress gateway task)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..spec import EgressPort, ExternalService, GatewayKind, GatewaySpec
from .model import ConcernPlan, KubeObject
from .naming import ISTIO_NETWORKING, gateway_selector_label, metadata

#: Ports of the egress gateway the mesh sends to: the gateway chart's Service exposes 80 (HTTP) and 443 (TLS).
GATEWAY_HTTP_PORT = 80
GATEWAY_TLS_PORT = 443
#: The VirtualService gateway name for every sidecar of the mesh.
MESH = "mesh"


def entry_namespace(entry: ExternalService, root_namespace: str) -> str:
    """Namespace of an external service's objects: its own, else the root namespace."""
    return entry.namespace or root_namespace


def per_host_name(name: str, entry: ExternalService, index: int) -> str:
    """Name of an object made once per host: the entry's name for a single host, ``<name>-<index>`` otherwise."""
    return name if len(entry.hosts) == 1 else f"{name}-{index}"


def gateway_host(name: str, gateway: GatewaySpec, cluster_domain: str) -> str:
    """Host of a gateway's Service (the gateway chart names it after the release)."""
    return f"{name}.{gateway.namespace}.svc.{cluster_domain}"


def _port(port: EgressPort) -> dict[str, Any]:
    item: dict[str, Any] = {"number": port.number, "protocol": port.protocol.value, "name": port.port_name}
    if port.upstream_port != port.number:
        item["targetPort"] = port.upstream_port
    return item


def service_entry(name: str, entry: ExternalService, namespace: str) -> dict[str, Any]:
    """The ServiceEntry that puts the external hosts in the mesh's registry (MESH_EXTERNAL)."""
    spec: dict[str, Any] = {"hosts": list(entry.hosts)}
    if entry.addresses:
        spec["addresses"] = list(entry.addresses)
    spec["ports"] = [_port(port) for port in entry.ports]
    spec["location"] = "MESH_EXTERNAL"
    spec["resolution"] = entry.resolution.value
    if entry.endpoints:
        spec["endpoints"] = [{"address": address} for address in entry.endpoints]
    # Explicit even for "*": meshConfig.defaultServiceExportTo could otherwise narrow it.
    spec["exportTo"] = list(entry.export_to)
    return {"apiVersion": ISTIO_NETWORKING, "kind": "ServiceEntry", "metadata": metadata(name, namespace),
            "spec": spec}


def tls_origination_rules(name: str, entry: ExternalService, namespace: str) -> list[dict[str, Any]]:
    """One DestinationRule per host opening TLS (SIMPLE) on the ports marked ``originateTls``."""
    ports = [port for port in entry.ports if port.originate_tls]
    if not ports:
        return []
    tls: dict[str, Any] = {"mode": "SIMPLE"}
    if entry.ca_certificates is not None:
        tls["caCertificates"] = entry.ca_certificates
    settings = [{"port": {"number": port.number}, "tls": dict(tls)} for port in ports]
    return [{"apiVersion": ISTIO_NETWORKING, "kind": "DestinationRule",
             "metadata": metadata(per_host_name(name, entry, index), namespace),
             "spec": {"host": host, "trafficPolicy": {"portLevelSettings": [dict(item) for item in settings]}}}
            for index, host in enumerate(entry.hosts)]


def egress_gateway(name: str, entry: ExternalService, namespace: str, gateway_name: str) -> dict[str, Any]:
    """The Gateway on the egress gateway's pods: HTTP on 80 and TLS passthrough on 443, for the entry's hosts."""
    servers: list[dict[str, Any]] = []
    if any(port.protocol.is_http for port in entry.ports):
        servers.append({"port": {"number": GATEWAY_HTTP_PORT, "name": "http", "protocol": "HTTP"},
                        "hosts": list(entry.hosts)})
    if any(port.protocol.is_tls for port in entry.ports):
        servers.append({"port": {"number": GATEWAY_TLS_PORT, "name": "tls", "protocol": "TLS"},
                        "hosts": list(entry.hosts), "tls": {"mode": "PASSTHROUGH"}})
    return {"apiVersion": ISTIO_NETWORKING, "kind": "Gateway", "metadata": metadata(name, namespace),
            "spec": {"selector": {"istio": gateway_selector_label(gateway_name)}, "servers": servers}}


def _destination(host: str, port: int) -> dict[str, Any]:
    return {"destination": {"host": host, "port": {"number": port}}}


def egress_routes(name: str, entry: ExternalService, namespace: str, via: str) -> list[dict[str, Any]]:
    """Per host a VirtualService bound to the mesh and to the egress Gateway: sidecars send the host's traffic to
    the gateway, and the gateway sends it on to the host (on the port the application called)."""
    routes = []
    for index, host in enumerate(entry.hosts):
        http: list[dict[str, Any]] = []
        tls: list[dict[str, Any]] = []
        for port in entry.ports:
            if port.protocol.is_http:
                http += [{"match": [{"gateways": [MESH], "port": port.number}],
                          "route": [_destination(via, GATEWAY_HTTP_PORT)]},
                         {"match": [{"gateways": [name], "port": GATEWAY_HTTP_PORT}],
                          "route": [_destination(host, port.number)]}]
            elif port.protocol.is_tls:
                tls += [{"match": [{"gateways": [MESH], "port": port.number, "sniHosts": [host]}],
                         "route": [_destination(via, GATEWAY_TLS_PORT)]},
                        {"match": [{"gateways": [name], "port": GATEWAY_TLS_PORT, "sniHosts": [host]}],
                         "route": [_destination(host, port.number)]}]
        spec: dict[str, Any] = {"hosts": [host], "gateways": [name, MESH]}
        if http:
            spec["http"] = http
        if tls:
            spec["tls"] = tls
        routes.append({"apiVersion": ISTIO_NETWORKING, "kind": "VirtualService",
                       "metadata": metadata(per_host_name(name, entry, index), namespace), "spec": spec})
    return routes


def plan_egress(
    egress: Mapping[str, ExternalService], gateways: Mapping[str, GatewaySpec] | None = None,
    root_namespace: str = "istio-system", cluster_domain: str = "cluster.local",
) -> ConcernPlan:
    """Per external service: TLS origination DestinationRules, then the ServiceEntry (a port that sends plain HTTP
    to 443 must not be in the registry before the rule that encrypts it), then the egress Gateway and the
    VirtualServices that route through it (after everything they route to)."""
    gateways = gateways or {}
    plan = ConcernPlan()
    for name, entry in sorted(egress.items()):
        namespace = entry_namespace(entry, root_namespace)
        rules = [KubeObject(rule) for rule in tls_origination_rules(name, entry, namespace)]
        plan.objects += rules
        entry_object = KubeObject(service_entry(name, entry, namespace), depends_on=tuple(r.key for r in rules))
        plan.objects.append(entry_object)
        gateway = gateways.get(entry.gateway) if entry.gateway is not None else None
        if entry.gateway is None or gateway is None or gateway.kind is not GatewayKind.EGRESS:
            continue  # an unknown or ingress gateway is a check error (MR254): nothing to route through
        gateway_object = KubeObject(egress_gateway(name, entry, namespace, entry.gateway))
        plan.objects.append(gateway_object)
        after = (entry_object.key, gateway_object.key, *(r.key for r in rules))
        plan.objects += [KubeObject(route, depends_on=after)
                         for route in egress_routes(name, entry, namespace,
                                                    gateway_host(entry.gateway, gateway, cluster_domain))]
    return plan


__all__ = ("egress_gateway", "egress_routes", "entry_namespace", "gateway_host", "plan_egress", "service_entry",
           "tls_origination_rules")
