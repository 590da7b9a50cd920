"""Plan of traffic management: per service a DestinationRule (subsets, circuit breaker, load balancing, port
policies) and a VirtualService (HTTP routes: matches, weighted split, per-route timeout, retries, fault injection,
mirroring, header changes, rewrite, redirect, CORS; TCP routes for opaque TCP ports), plus ingress Gateways."""

from __future__ import annotations

from typing import Any

from ..spec import GatewayApi, GatewayKind, GatewaySpec, ServiceSpec, TrafficSpec, WeightsManager
from ..spec.traffic import (
    ROUTE_DEFAULTS,
    CircuitBreakerSpec,
    FaultSpec,
    HeaderMatch,
    HeaderOperations,
    LoadBalancerSpec,
    MatchRule,
    MirrorSpec,
    QueryParamMatch,
    RedirectSpec,
    RetrySpec,
    RouteSettings,
)
from . import gateway_api
from .ingress import ExposedHost, certificates, exposed_hosts, redirects, serves_https, tls_key
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


def _circuit_breaker(breaker: CircuitBreakerSpec | None) -> dict[str, Any]:
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


def _load_balancer(balancer: LoadBalancerSpec) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if balancer.simple is not None:
        spec["simple"] = balancer.simple.value
    if balancer.consistent_hash is not None:
        spec["consistentHash"] = balancer.consistent_hash.model_dump(by_alias=True, exclude_none=True)
    locality = balancer.locality_lb_setting
    if locality is not None:
        setting: dict[str, Any] = {}
        if locality.failover:
            setting["failover"] = [{"from": item.from_, "to": item.to} for item in locality.failover]
        if locality.distribute:
            setting["distribute"] = [{"from": item.from_, "to": dict(item.to)} for item in locality.distribute]
        spec["localityLbSetting"] = setting
    return spec


def _policy(load_balancer: LoadBalancerSpec | None, breaker: CircuitBreakerSpec | None) -> dict[str, Any]:
    policy = _circuit_breaker(breaker)
    if load_balancer is not None:
        policy["loadBalancer"] = _load_balancer(load_balancer)
    return policy


def destination_rule(name: str, service: ServiceSpec, cluster_domain: str) -> dict[str, Any] | None:
    """The service's DestinationRule, or ``None`` when it has no versions, circuit breaker, load balancing, port
    policy or TLS setting."""
    traffic = service.traffic
    policy = _policy(traffic.load_balancer, traffic.circuit_breaker)
    if traffic.tls_mode is not None:
        policy["tls"] = {"mode": traffic.tls_mode.value}
    if traffic.port_policies:
        policy["portLevelSettings"] = [
            {"port": {"number": port}, **_policy(item.load_balancer, item.circuit_breaker)}
            for port, item in sorted(traffic.port_policies.items())
        ]
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


def effective(route: RouteSettings | None, traffic: TrafficSpec, setting: str) -> Any:
    """A route's timeout, retries, fault or mirror: its own value when it gives the key (``null`` included), else the
    service-level default (README "Per-route settings")."""
    if route is not None and not route.inherits(setting):
        return getattr(route, setting)  # a redirect route inherits nothing: None
    return getattr(traffic, setting)


def _string_match(match: HeaderMatch | QueryParamMatch) -> dict[str, str]:
    pruned: dict[str, str] = prune(match.model_dump())
    return pruned


def _header_operations(operations: HeaderOperations) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if operations.set:
        spec["set"] = dict(sorted(operations.set.items()))
    if operations.add:
        spec["add"] = dict(sorted(operations.add.items()))
    if operations.remove:
        spec["remove"] = list(operations.remove)
    return spec


def _route_policy(route: RouteSettings | None, traffic: TrafficSpec, own: str, hosts: _Hosts) -> dict[str, Any]:
    """What a route does besides choosing its destination: timeout, retries, fault and mirror (the route's own or
    the service defaults), header changes, rewrite, CORS."""
    policy: dict[str, Any] = {}
    timeout = effective(route, traffic, "timeout")
    if timeout is not None:
        policy["timeout"] = timeout
    retries: RetrySpec | None = effective(route, traffic, "retries")
    if retries is not None:
        policy["retries"] = prune(
            {"attempts": retries.attempts, "perTryTimeout": retries.per_try_timeout, "retryOn": retries.retry_on}
        )
    fault_spec: FaultSpec | None = effective(route, traffic, "fault")
    if fault_spec is not None:
        fault: dict[str, Any] = {}
        if fault_spec.delay is not None:
            delay = fault_spec.delay
            fault["delay"] = {"percentage": {"value": delay.percent}, "fixedDelay": delay.fixed_delay}
        if fault_spec.abort is not None:
            abort = fault_spec.abort
            fault["abort"] = {"percentage": {"value": abort.percent}, "httpStatus": abort.http_status}
        policy["fault"] = fault
    mirror: MirrorSpec | None = effective(route, traffic, "mirror")
    if mirror is not None:
        policy["mirror"] = prune({"host": hosts.of(mirror.service or own), "subset": mirror.version})
        policy["mirrorPercentage"] = {"value": mirror.percent}
    if route is None:
        return policy
    headers = {}
    if route.request_headers is not None:
        headers["request"] = _header_operations(route.request_headers)
    if route.response_headers is not None:
        headers["response"] = _header_operations(route.response_headers)
    if headers:
        policy["headers"] = headers
    if route.rewrite is not None:
        policy["rewrite"] = route.rewrite.model_dump(exclude_none=True)
    if route.cors is not None:
        cors = route.cors
        cors_policy: dict[str, Any] = {"allowOrigins": [_string_match(origin) for origin in cors.allow_origins]}
        for key, values in (("allowMethods", cors.allow_methods), ("allowHeaders", cors.allow_headers),
                            ("exposeHeaders", cors.expose_headers)):
            if values:
                cors_policy[key] = list(values)
        if cors.max_age is not None:
            cors_policy["maxAge"] = cors.max_age
        if cors.allow_credentials is not None:
            cors_policy["allowCredentials"] = cors.allow_credentials
        policy["corsPolicy"] = cors_policy
    return policy


def _conditions(match: MatchRule) -> dict[str, Any]:
    conditions: dict[str, Any] = {}
    if match.headers:
        conditions["headers"] = {header: _string_match(value) for header, value in sorted(match.headers.items())}
    path = match.path_match()
    if path is not None:
        conditions["uri"] = _string_match(path)
    if match.method is not None:
        conditions["method"] = _string_match(match.method)
    if match.query_params:
        conditions["queryParams"] = {name: _string_match(value) for name, value in sorted(match.query_params.items())}
    if match.without_headers:
        conditions["withoutHeaders"] = {header: _string_match(value)
                                        for header, value in sorted(match.without_headers.items())}
    return conditions


def _redirect(redirect: RedirectSpec) -> dict[str, Any]:
    return redirect.model_dump(by_alias=True, exclude_none=True)


#: Protocols whose ports take the VirtualService's ``tcp`` routes (opaque TCP; TLS ports take ``tls`` routes and
#: HTTP ports ``http`` routes, istio VirtualService reference).
TCP_PROTOCOLS = frozenset({"TCP", "Mongo", "MySQL", "Redis"})


def tcp_ports(service: ServiceSpec) -> list[int]:
    """The service's declared ports that carry opaque TCP (name prefix or appProtocol tcp, mongo, mysql, redis)."""
    from ..checks._facts import port_protocol  # the protocol rules live with the checks; imported late (cycle)

    return [port.port for port in service.ports if port_protocol(port) in TCP_PROTOCOLS]


def tcp_only(service: ServiceSpec) -> bool:
    """Whether the service declares ports and every one of them is opaque TCP: it has no HTTP routes at all."""
    return bool(service.ports) and len(tcp_ports(service)) == len(service.ports)


def _has_http_routing(traffic: TrafficSpec) -> bool:
    return bool(traffic.matches or traffic.default_route or any(getattr(traffic, key) for key in ROUTE_DEFAULTS))


def virtual_service(
    name: str, service: ServiceSpec, services: dict[str, ServiceSpec], gateways: dict[str, GatewaySpec],
    cluster_domain: str,
) -> dict[str, Any] | None:
    """The service's VirtualService, or ``None`` when nothing about its routing is configured."""
    traffic = service.traffic
    hosts = _Hosts(services, cluster_domain)
    own_host = hosts.of(name)
    tcp = bool(traffic.split) and bool(tcp_ports(service))
    http = not tcp_only(service) and (bool(traffic.split) or _has_http_routing(traffic) or service.expose is not None)
    if not (http or tcp):
        return None
    if traffic.split:
        weighted = [
            {"destination": {"host": own_host, "subset": version}, "weight": weight}
            for version, weight in traffic.split.items()
        ]
    else:
        weighted = [{"destination": {"host": own_host}}]
    spec: dict[str, Any] = {"hosts": [own_host]}
    if http:
        routes = []
        for match in traffic.matches:
            route: dict[str, Any] = {"name": match.name, "match": [_conditions(match)]}
            if match.redirect is not None:
                route["redirect"] = _redirect(match.redirect)
            else:
                route["route"] = [{"destination": prune({"host": hosts.of(match.service or name),
                                                         "subset": match.version})}]
            routes.append({**route, **_route_policy(match, traffic, name, hosts)})
        default: dict[str, Any] = {"name": "default"}
        if traffic.default_route is not None and traffic.default_route.redirect is not None:
            default["redirect"] = _redirect(traffic.default_route.redirect)
        else:
            default["route"] = weighted
        routes.append({**default, **_route_policy(traffic.default_route, traffic, name, hosts)})
        spec["http"] = routes
    if tcp:
        # One route for every opaque TCP port: the split between versions, as for HTTP.
        spec["tcp"] = [{"route": weighted}]
    if service.expose is not None:
        gateway = gateways.get(service.expose.gateway)
        namespace = gateway.namespace if gateway is not None else service.namespace
        # "mesh" keeps the rules for in-mesh callers too; listing only the gateway would drop them.
        spec["gateways"] = [f"{namespace}/{service.expose.gateway}", "mesh"]
        spec["hosts"] = [own_host, *service.expose.hosts]
    return {"apiVersion": ISTIO_NETWORKING, "kind": "VirtualService", "metadata": metadata(name, service.namespace),
            "spec": spec}


def _mirrors(traffic: TrafficSpec) -> list[MirrorSpec]:
    """Every mirror a route of the service ends up with (service default, per-route, default route)."""
    routes: list[RouteSettings | None] = [*traffic.matches, traffic.default_route]
    return [mirror for route in routes for mirror in [effective(route, traffic, "mirror")] if mirror is not None]


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name}-{seen[name]}")
    return unique


def ingress_gateway(name: str, gateway: GatewaySpec, hosts: list[ExposedHost]) -> dict[str, Any]:
    """An Istio Gateway on an ingress deployment. Port 80: the hosts served in plaintext, and (a server of its own)
    the hosts redirected to HTTPS (``tls.httpsRedirect``). Port 443: one HTTPS server per TLS setting (mode,
    credential, minimum version), as Istio's secure ingress task writes one server per credential."""
    def names(items: list[ExposedHost]) -> list[str]:
        return sorted({item.host for item in items})

    plain = [host for host in hosts if not redirects(host)]
    redirected = [host for host in hosts if redirects(host)]
    servers: list[dict[str, Any]] = []
    if plain:
        servers.append({"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": names(plain)})
    if redirected:
        servers.append({"port": {"number": 80, "name": "http-redirect", "protocol": "HTTP"},
                        "hosts": names(redirected), "tls": {"httpsRedirect": True}})
    groups: dict[tuple[str, str, str, str], list[ExposedHost]] = {}
    for host in hosts:
        key = tls_key(host)
        if key is not None and serves_https(host):
            groups.setdefault(key, []).append(host)
    ordered = sorted(groups.items())
    port_names = _unique(["https"] if len(ordered) == 1 else [f"https-{key[1]}" for key, _ in ordered])
    for port_name, ((mode, credential, version, _), members) in zip(port_names, ordered, strict=True):
        tls = prune({"mode": mode, "credentialName": credential, "minProtocolVersion": version or None})
        servers.append({"port": {"number": 443, "name": port_name, "protocol": "HTTPS"}, "hosts": names(members),
                        "tls": tls})
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

    exposed = sorted({service.expose.gateway for service in services.values() if service.expose is not None})
    api_routed: set[str] = set()  # services whose routes are HTTPRoutes (exposed through a gateway-api gateway)
    for name in exposed:
        gateway = gateways.get(name)
        if gateway is None or gateway.kind is not GatewayKind.INGRESS:
            continue
        hosts = exposed_hosts(name, gateway, services)
        issued = certificates(name, gateway, hosts)
        plan.objects.extend(issued)
        after = tuple(item.key for item in issued)
        if gateway.api is GatewayApi.GATEWAY_API:
            owners = {host.service: services[host.service].namespace for host in hosts}
            plan.objects.extend(gateway_api.ingress_objects(name, gateway, hosts, cluster_domain, after, owners))
            api_routed |= {host.service for host in hosts}
        else:
            plan.objects.append(KubeObject(ingress_gateway(name, gateway, hosts), depends_on=after))

    rules = {}
    for name, service in sorted(services.items()):
        rule = destination_rule(name, service, cluster_domain)
        if rule is not None:
            rules[name] = object_key(rule)
            plan.objects.append(KubeObject(rule, ignore_changes=_controller_fields(service, "DestinationRule")))
    for name, service in sorted(services.items()):
        if service.traffic.weights_managed_by is WeightsManager.FLAGGER:
            continue  # Flagger generates this service's VirtualService from its Canary
        if name in api_routed:
            plan.objects.extend(gateway_api.service_routes(name, service, services, gateways, cluster_domain))
            continue
        route = virtual_service(name, service, services, gateways, cluster_domain)
        if route is None:
            continue
        targets = {name, *(m.service for m in service.traffic.matches if m.service),
                   *(mirror.service for mirror in _mirrors(service.traffic) if mirror.service)}
        depends = [rules[target] for target in sorted(targets) if target in rules]
        if service.expose is not None:
            gateway = gateways.get(service.expose.gateway)
            if gateway is not None and gateway.kind is GatewayKind.INGRESS:
                depends.append(f"Gateway/{gateway.namespace}/{service.expose.gateway}")
        ignored = _controller_fields(service, "VirtualService")
        if ignored and "tcp" in route["spec"]:
            ignored = (*ignored, "spec.tcp[*].route[*].weight")  # the controller moves TCP weights as well
        plan.objects.append(KubeObject(route, depends_on=tuple(depends), ignore_changes=ignored))
    return plan
