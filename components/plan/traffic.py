"""Plan of traffic management: per service a DestinationRule (subsets, circuit breaker) and a VirtualService
(matches, weighted split, timeout, retries, fault injection, mirroring), plus ingress Gateways."""

from __future__ import annotations

from typing import Any

from ..spec import GatewayKind, GatewaySpec, ServiceSpec, TrafficSpec, WeightsManager
from .model import ConcernPlan, KubeObject, object_key, prune
from .naming import ISTIO_NETWORKING, gateway_selector_label, metadata, service_host, version_labels

#: What an in-cluster controller edits, per ``traffic.weightsManagedBy`` and kind: the stack sets these fields when
#: it creates the object and ignores changes to them afterwards (Pulumi ``ignoreChanges``), so a ``pulumi up`` never
#: puts back weights the controller moved. Argo Rollouts edits ``spec.http[].route[].weight`` of the VirtualService
#: and, with subset-level splitting, adds ``rollouts-pod-template-hash`` to the DestinationRule's subset labels.
#: (Flagger generates the whole VirtualService itself: the stack creates none for such a service.)
CONTROLLER_FIELDS = {
    WeightsManager.ARGO_ROLLOUTS: {
        "VirtualService": ("spec.http[*].route[*].weight",),
        "DestinationRule": ("spec.subsets[*].labels",),
    },
}


def _controller_fields(service: ServiceSpec, kind: str) -> tuple[str, ...]:
    manager = service.traffic.weights_managed_by
    return CONTROLLER_FIELDS.get(manager, {}).get(kind, ()) if manager is not None else ()


def _circuit_breaker(traffic: TrafficSpec) -> dict[str, Any]:
    breaker = traffic.circuit_breaker
    if breaker is None:
        return {}
    pruned: dict[str, Any] = prune(
        {
            "connectionPool": {
                "tcp": {"maxConnections": breaker.max_connections},
                "http": {
                    "http1MaxPendingRequests": breaker.http1_max_pending_requests,
                    "http2MaxRequests": breaker.http2_max_requests,
                    "maxRequestsPerConnection": breaker.max_requests_per_connection,
                },
            },
            "outlierDetection": {
                "consecutive5xxErrors": breaker.consecutive5xx_errors,
                "interval": breaker.interval,
                "baseEjectionTime": breaker.base_ejection_time,
                "maxEjectionPercent": breaker.max_ejection_percent,
            },
        }
    )
    return pruned


def destination_rule(name: str, service: ServiceSpec, cluster_domain: str) -> dict[str, Any] | None:
    """The service's DestinationRule, or ``None`` when it has no versions, circuit breaker or TLS setting."""
    traffic = service.traffic
    policy = _circuit_breaker(traffic)
    if traffic.tls_mode is not None:
        policy["tls"] = {"mode": traffic.tls_mode.value}
    if not service.versions and not policy:
        return None
    spec: dict[str, Any] = {"host": service_host(name, service, cluster_domain)}
    if service.versions:
        spec["subsets"] = [
            {"name": version, "labels": version_labels(version, detail)}
            for version, detail in sorted(service.versions.items())
        ]
    if policy:
        spec["trafficPolicy"] = policy
    return {"apiVersion": ISTIO_NETWORKING, "kind": "DestinationRule", "metadata": metadata(name, service.namespace),
            "spec": spec}


class _Hosts:
    """Resolves service names (this one or another in the mesh) to hosts."""

    def __init__(self, services: dict[str, ServiceSpec], cluster_domain: str):
        self.services, self.cluster_domain = services, cluster_domain

    def of(self, name: str) -> str:
        service = self.services.get(name)
        if service is None:
            # Unknown services are reported by check MR111; keep the plan total by routing to the short name.
            return name
        return service_host(name, service, self.cluster_domain)


def _route_policy(traffic: TrafficSpec, own: str, hosts: _Hosts) -> dict[str, Any]:
    """Timeout, retries, fault injection and mirroring: applied to every HTTP route of the service."""
    policy: dict[str, Any] = {}
    if traffic.timeout is not None:
        policy["timeout"] = traffic.timeout
    if traffic.retries is not None:
        retries = traffic.retries
        policy["retries"] = prune(
            {"attempts": retries.attempts, "perTryTimeout": retries.per_try_timeout, "retryOn": retries.retry_on}
        )
    if traffic.fault is not None:
        fault: dict[str, Any] = {}
        if traffic.fault.delay is not None:
            delay = traffic.fault.delay
            fault["delay"] = {"percentage": {"value": delay.percent}, "fixedDelay": delay.fixed_delay}
        if traffic.fault.abort is not None:
            abort = traffic.fault.abort
            fault["abort"] = {"percentage": {"value": abort.percent}, "httpStatus": abort.http_status}
        if fault:
            policy["fault"] = fault
    if traffic.mirror is not None:
        mirror = traffic.mirror
        policy["mirror"] = prune({"host": hosts.of(mirror.service or own), "subset": mirror.version})
        policy["mirrorPercentage"] = {"value": mirror.percent}
    return policy


def virtual_service(
    name: str, service: ServiceSpec, services: dict[str, ServiceSpec], gateways: dict[str, GatewaySpec],
    cluster_domain: str,
) -> dict[str, Any] | None:
    """The service's VirtualService, or ``None`` when nothing about its routing is configured."""
    traffic = service.traffic
    hosts = _Hosts(services, cluster_domain)
    policy = _route_policy(traffic, name, hosts)
    if not (traffic.split or traffic.matches or policy or service.expose):
        return None
    own_host = hosts.of(name)
    routes = []
    for match in traffic.matches:
        conditions: dict[str, Any] = {}
        if match.headers:
            conditions["headers"] = {
                header: prune(value.model_dump()) for header, value in sorted(match.headers.items())
            }
        if match.uri_prefix is not None:
            conditions["uri"] = {"prefix": match.uri_prefix}
        destination = {"host": hosts.of(match.service or name), "subset": match.version}
        routes.append({"name": match.name, "match": [conditions], "route": [{"destination": destination}], **policy})
    if traffic.split:
        default_route = [
            {"destination": {"host": own_host, "subset": version}, "weight": weight}
            for version, weight in traffic.split.items()
        ]
    else:
        default_route = [{"destination": {"host": own_host}}]
    routes.append({"name": "default", "route": default_route, **policy})

    spec: dict[str, Any] = {"hosts": [own_host], "http": routes}
    if service.expose is not None:
        gateway = gateways.get(service.expose.gateway)
        namespace = gateway.namespace if gateway is not None else service.namespace
        # "mesh" keeps the rules for in-mesh callers too; listing only the gateway would drop them.
        spec["gateways"] = [f"{namespace}/{service.expose.gateway}", "mesh"]
        spec["hosts"] = [own_host, *service.expose.hosts]
    return {"apiVersion": ISTIO_NETWORKING, "kind": "VirtualService", "metadata": metadata(name, service.namespace),
            "spec": spec}


def ingress_gateway(name: str, gateway: GatewaySpec, hosts: list[str]) -> dict[str, Any]:
    """An Istio Gateway on an ingress deployment: HTTP for the hosts, plus HTTPS when a TLS secret is given."""
    servers: list[dict[str, Any]] = [{"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": hosts}]
    if gateway.tls_secret:
        servers.append(
            {
                "port": {"number": 443, "name": "https", "protocol": "HTTPS"},
                "hosts": hosts,
                "tls": {"mode": "SIMPLE", "credentialName": gateway.tls_secret},
            }
        )
    return {
        "apiVersion": ISTIO_NETWORKING,
        "kind": "Gateway",
        "metadata": metadata(name, gateway.namespace),
        "spec": {"selector": {"istio": gateway_selector_label(name)}, "servers": servers},
    }


def plan_traffic(
    services: dict[str, ServiceSpec], gateways: dict[str, GatewaySpec] | None = None,
    cluster_domain: str = "cluster.local",
) -> ConcernPlan:
    """Gateways, then each service's DestinationRule before the VirtualService that routes to its subsets."""
    gateways = gateways or {}
    plan = ConcernPlan()

    exposed: dict[str, list[str]] = {}
    for service in services.values():
        if service.expose is not None:
            exposed.setdefault(service.expose.gateway, []).extend(service.expose.hosts)
    for name, hosts in sorted(exposed.items()):
        gateway = gateways.get(name)
        if gateway is not None and gateway.kind is GatewayKind.INGRESS:
            plan.objects.append(KubeObject(ingress_gateway(name, gateway, sorted(set(hosts)))))

    rules = {}
    for name, service in sorted(services.items()):
        rule = destination_rule(name, service, cluster_domain)
        if rule is not None:
            rules[name] = object_key(rule)
            plan.objects.append(KubeObject(rule, ignore_changes=_controller_fields(service, "DestinationRule")))
    for name, service in sorted(services.items()):
        if service.traffic.weights_managed_by is WeightsManager.FLAGGER:
            continue  # Flagger generates this service's VirtualService from its Canary
        route = virtual_service(name, service, services, gateways, cluster_domain)
        if route is None:
            continue
        targets = {name, *(m.service for m in service.traffic.matches if m.service)}
        if service.traffic.mirror is not None and service.traffic.mirror.service:
            targets.add(service.traffic.mirror.service)
        depends = [rules[target] for target in sorted(targets) if target in rules]
        if service.expose is not None:
            gateway = gateways.get(service.expose.gateway)
            if gateway is not None and gateway.kind is GatewayKind.INGRESS:
                depends.append(f"Gateway/{gateway.namespace}/{service.expose.gateway}")
        plan.objects.append(KubeObject(route, depends_on=tuple(depends),
                                       ignore_changes=_controller_fields(service, "VirtualService")))
    return plan
