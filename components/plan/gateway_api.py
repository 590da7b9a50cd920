"""Plan of Gateway API objects (``gateway.networking.k8s.io/v1``) for an ingress gateway with ``api: gateway-api``.

- a ``Gateway`` of class ``istio`` bound to the gateway chart's deployment (``addresses``: its Service, Istio's
  "manual deployment"), so pods, Service and identity stay those of the chart release; one listener per host and
  port, TLS listeners terminating with the credential (``certificateRefs``), MUTUAL through Istio's
  ``gateway.istio.io/tls-terminate-mode`` option; each listener accepts routes only from the namespace that owns it;
- per exposed service an ``HTTPRoute`` attached to its listeners, and when the service has in-mesh routing one
  attached to its Service (GAMMA), so mesh callers get the same rules (no VirtualService: Istio advises against
  configuring one host with both APIs);
- a redirect ``HTTPRoute`` (in the gateway's namespace) for the port 80 listeners of hosts redirected to HTTPS;
- per-version Services (``<service>-<version>``): Gateway API routes to Services, not to DestinationRule subsets;
- a ``ReferenceGrant`` in every other namespace a route sends (or mirrors) requests to.

What Gateway API v1.6 cannot express (faults, retries, withoutHeaders, ...) is check MR326's error; the functions
here leave such settings out rather than fail, so a plan is total.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..spec import GatewaySpec, ServiceSpec
from ..spec.base import duration_nanos
from ..spec.traffic import HeaderMatch, HeaderOperations, MatchRule, QueryParamMatch, RouteSettings, UriMatch
from .ingress import ExposedHost, exposed_hosts, redirects, serves_https
from .model import KubeObject, prune
from .naming import GATEWAY_API, ISTIO_NETWORKING, metadata, version_labels, workload_labels

GROUP = GATEWAY_API.split("/")[0]
#: Istio's listener option for client-certificate verification (its secure ingress task, Gateway API tab).
TERMINATE_MODE_OPTION = "gateway.istio.io/tls-terminate-mode"
#: The methods an HTTPRoute method match takes (Gateway API v1 HTTPMethod).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"})
#: Header and query parameter names Gateway API accepts (HTTPHeaderName): no HTTP/2 pseudo-headers.
HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`|~]+")
_PARTS = (("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1))


def gateway_duration(value: str) -> str | None:
    """``value`` as a Gateway API duration (GEP-2257: up to four parts of h, m, s, ms with at most five digits
    each), or ``None`` when it cannot be one (a fraction of a millisecond, or too long)."""
    nanos = duration_nanos(value)
    if nanos % 1_000_000:
        return None
    millis, text = nanos // 1_000_000, ""
    for unit, size in _PARTS:
        amount, millis = divmod(millis, size)
        if amount:
            text += f"{amount}{unit}"
    if any(len(digits) > 5 for digits in re.findall(r"[0-9]+", text)):
        return None
    return text or "0s"


def version_service(name: str, version: str) -> str:
    """Name of the Service that selects one version of a service (Gateway API's stand-in for a subset)."""
    return f"{name}-{version}"


def _slug(host: str) -> str:
    return "any" if host == "*" else host.lower().rstrip(".").replace("*", "wildcard").replace(".", "-")


def listener_name(host: str, https: bool) -> str:
    """The listener serving ``host`` on port 443 (``https``) or 80."""
    return f"{'https' if https else 'http'}-{_slug(host)}"


def redirect_route_name(gateway_name: str) -> str:
    """The HTTPRoute answering port 80 with redirects to HTTPS."""
    return f"{gateway_name}-https-redirect"


def _allowed(namespace: str) -> dict[str, Any]:
    return {"namespaces": {"from": "Selector", "selector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}}


def ingress_objects(name: str, gateway: GatewaySpec, hosts: list[ExposedHost], cluster_domain: str,
                    after: tuple[str, ...], namespaces: Mapping[str, str] | None = None) -> list[KubeObject]:
    """The Gateway (and the redirect HTTPRoute, if any host is redirected) of an ingress gateway; ``namespaces``
    maps each exposing service to its namespace (the namespace its routes live in)."""
    owners = dict(namespaces or {})
    listeners: list[dict[str, Any]] = []
    redirected: list[str] = []
    seen: set[str] = set()
    for host in sorted(hosts, key=lambda item: (item.host, item.service)):
        if host.host in seen:
            continue  # a host claimed twice is check MR110's error; its first claimant keeps the listeners
        seen.add(host.host)
        hostname = {} if host.host == "*" else {"hostname": host.host.rstrip(".")}
        owner = owners.get(host.service, gateway.namespace)
        http = listener_name(host.host, https=False)
        if redirects(host):
            redirected.append(http)
            listeners.append({"name": http, **hostname, "port": 80, "protocol": "HTTP",
                              "allowedRoutes": _allowed(gateway.namespace)})
        else:
            listeners.append({"name": http, **hostname, "port": 80, "protocol": "HTTP",
                              "allowedRoutes": _allowed(owner)})
        if serves_https(host):
            assert host.tls is not None and host.credential is not None
            tls: dict[str, Any] = {"mode": "Terminate", "certificateRefs": [{"name": host.credential}]}
            if host.tls.mode.value == "MUTUAL":
                tls["options"] = {TERMINATE_MODE_OPTION: "MUTUAL"}
            listeners.append({"name": listener_name(host.host, https=True), **hostname, "port": 443,
                              "protocol": "HTTPS", "tls": tls, "allowedRoutes": _allowed(owner)})
    spec = {
        "gatewayClassName": "istio",
        # Bind to the gateway chart's deployment through its Service instead of letting Istio deploy one.
        "addresses": [{"type": "Hostname", "value": f"{name}.{gateway.namespace}.svc.{cluster_domain}"}],
        "listeners": listeners,
    }
    gateway_object = KubeObject({"apiVersion": GATEWAY_API, "kind": "Gateway",
                                 "metadata": metadata(name, gateway.namespace), "spec": spec}, depends_on=after)
    objects = [gateway_object]
    if redirected:
        route = {
            "parentRefs": [{"name": name, "sectionName": listener} for listener in redirected],
            "rules": [{"filters": [{"type": "RequestRedirect",
                                    "requestRedirect": {"scheme": "https", "statusCode": 301}}]}],
        }
        objects.append(KubeObject({"apiVersion": GATEWAY_API, "kind": "HTTPRoute",
                                   "metadata": metadata(redirect_route_name(name), gateway.namespace),
                                   "spec": route}, depends_on=(gateway_object.key,)))
    return objects


class _Backends:
    """Resolves a (service, version) to a backendRef, and records the namespaces that need a ReferenceGrant."""

    def __init__(self, route_namespace: str, services: Mapping[str, ServiceSpec]):
        self.route_namespace, self.services = route_namespace, services
        self.crossed: dict[str, set[str]] = {}

    def ref(self, service_name: str, version: str | None) -> dict[str, Any]:
        target = self.services.get(service_name)
        name = version_service(service_name, version) if version else service_name
        ref: dict[str, Any] = {"name": name}
        if target is not None:
            port = http_port(target)
            if port is not None:
                ref["port"] = port
            if target.namespace != self.route_namespace:
                ref["namespace"] = target.namespace
                self.crossed.setdefault(target.namespace, set()).add(name)
        return ref


def http_port(service: ServiceSpec) -> int | None:
    """The port a backendRef names (Gateway API requires one for a Service): the first declared port that is not
    opaque TCP."""
    from ..checks._facts import port_protocol  # imported late: traffic imports this module
    from .traffic import TCP_PROTOCOLS  # imported late: traffic imports this module

    for port in service.ports:
        if port_protocol(port) not in TCP_PROTOCOLS:
            return port.port
    return None


def _string(kind_name: str, match: HeaderMatch | QueryParamMatch) -> dict[str, str]:
    if match.exact is not None:
        return {"name": kind_name, "type": "Exact", "value": match.exact}
    if isinstance(match, HeaderMatch) and match.prefix is not None:
        # Envoy matches a regex against the whole value: a prefix is the escaped prefix and anything after it.
        return {"name": kind_name, "type": "RegularExpression", "value": f"{re.escape(match.prefix)}.*"}
    assert match.regex is not None
    return {"name": kind_name, "type": "RegularExpression", "value": match.regex}


def _path(path: UriMatch) -> dict[str, str]:
    if path.exact is not None:
        return {"type": "Exact", "value": path.exact}
    if path.prefix is not None:
        return {"type": "PathPrefix", "value": path.prefix}
    assert path.regex is not None
    return {"type": "RegularExpression", "value": path.regex}


def _conditions(match: MatchRule) -> dict[str, Any]:
    conditions: dict[str, Any] = {}
    path = match.path_match()
    if path is not None:
        conditions["path"] = _path(path)
    if match.headers:
        conditions["headers"] = [_string(name, value) for name, value in sorted(match.headers.items())]
    if match.query_params:
        conditions["queryParams"] = [_string(name, value) for name, value in sorted(match.query_params.items())]
    if match.method is not None and match.method.exact in METHODS:
        conditions["method"] = match.method.exact
    return conditions


def _modifier(operations: HeaderOperations) -> dict[str, Any]:
    modifier: dict[str, Any] = prune({
        "set": [{"name": key, "value": value} for key, value in sorted(operations.set.items())],
        "add": [{"name": key, "value": value} for key, value in sorted(operations.add.items())],
        "remove": list(operations.remove),
    })
    return modifier


def _filters(route: RouteSettings | None, path: UriMatch | None, mirror: Any, backends: _Backends,
             own: str) -> list[dict[str, Any]]:
    filters: list[dict[str, Any]] = []
    if route is not None and route.request_headers is not None:
        filters.append({"type": "RequestHeaderModifier", "requestHeaderModifier": _modifier(route.request_headers)})
    if route is not None and route.response_headers is not None:
        filters.append({"type": "ResponseHeaderModifier",
                        "responseHeaderModifier": _modifier(route.response_headers)})
    if route is not None and route.rewrite is not None:
        rewrite: dict[str, Any] = {}
        if route.rewrite.authority is not None:
            rewrite["hostname"] = route.rewrite.authority
        if route.rewrite.uri is not None:
            # Istio replaces the matched prefix of a prefix match, and the whole path otherwise.
            rewrite["path"] = ({"type": "ReplacePrefixMatch", "replacePrefixMatch": route.rewrite.uri}
                               if path is not None and path.prefix is not None else
                               {"type": "ReplaceFullPath", "replaceFullPath": route.rewrite.uri})
        filters.append({"type": "URLRewrite", "urlRewrite": rewrite})
    if route is not None and route.redirect is not None:
        redirect = route.redirect
        filters.append({"type": "RequestRedirect", "requestRedirect": prune({
            "scheme": redirect.scheme, "hostname": redirect.authority, "port": redirect.port,
            "path": {"type": "ReplaceFullPath", "replaceFullPath": redirect.uri} if redirect.uri else None,
            "statusCode": redirect.redirect_code})})
    if mirror is not None:
        percent = mirror.percent
        filters.append({"type": "RequestMirror", "requestMirror": {
            "backendRef": backends.ref(mirror.service or own, mirror.version), "percent": int(percent)}})
    if route is not None and route.cors is not None:
        cors = route.cors
        filters.append({"type": "CORS", "cors": prune({
            "allowOrigins": [origin.exact for origin in cors.allow_origins if origin.exact is not None],
            "allowMethods": list(cors.allow_methods), "allowHeaders": list(cors.allow_headers),
            "exposeHeaders": list(cors.expose_headers),
            "maxAge": duration_nanos(cors.max_age) // 10**9 if cors.max_age is not None else None,
            "allowCredentials": cors.allow_credentials})})
    return filters


def route_rules(name: str, service: ServiceSpec, backends: _Backends) -> list[dict[str, Any]]:
    """The HTTPRoute rules of a service: one per match (with its settings), then the default route with the
    weighted split across per-version Services. Settings Gateway API cannot express are left out (MR326)."""
    from .traffic import effective  # imported late: traffic imports this module

    traffic = service.traffic
    rules: list[dict[str, Any]] = []

    def settings(route: RouteSettings | None, path: UriMatch | None) -> dict[str, Any]:
        rule: dict[str, Any] = {}
        filters = _filters(route, path, effective(route, traffic, "mirror"), backends, name)
        if filters:
            rule["filters"] = filters
        timeout = effective(route, traffic, "timeout")
        converted = gateway_duration(timeout) if timeout is not None else None
        if converted is not None:
            rule["timeouts"] = {"request": converted}
        return rule

    for match in traffic.matches:
        rule: dict[str, Any] = {"name": match.name, "matches": [_conditions(match)]}
        if match.redirect is None:
            rule["backendRefs"] = [backends.ref(match.service or name, match.version)]
        rules.append({**rule, **settings(match, match.path_match())})
    default: dict[str, Any] = {"name": "default"}
    if traffic.default_route is None or traffic.default_route.redirect is None:
        if traffic.split:
            default["backendRefs"] = [{**backends.ref(name, version), "weight": weight}
                                      for version, weight in traffic.split.items()]
        else:
            default["backendRefs"] = [backends.ref(name, None)]
    rules.append({**default, **settings(traffic.default_route, None)})
    return rules


def _versions_routed(name: str, service: ServiceSpec, services: Mapping[str, ServiceSpec]) -> set[tuple[str, str]]:
    from .traffic import _mirrors  # imported late: traffic imports this module

    traffic = service.traffic
    wanted = {(name, version) for version in traffic.split}
    wanted |= {(match.service or name, match.version) for match in traffic.matches if match.version}
    wanted |= {(mirror.service or name, mirror.version) for mirror in _mirrors(traffic) if mirror.version}
    return {(svc, version) for svc, version in wanted if svc in services and version in services[svc].versions}


def _version_services(wanted: set[tuple[str, str]], services: Mapping[str, ServiceSpec],
                      cluster_domain: str) -> list[KubeObject]:
    """A Service per routed version, and, when the service's DestinationRule has a traffic policy (circuit breaker,
    load balancing, TLS, port policies), a DestinationRule for that Service's host with the same policy: Istio
    applies a DestinationRule by host, so the service's own would not reach traffic sent to ``<svc>-<version>``."""
    from .traffic import destination_rule  # imported late: traffic imports this module

    policies = {}  # the traffic policy of each service's own DestinationRule, once per service
    for name in {name for name, _ in wanted}:
        rule = destination_rule(name, services[name], cluster_domain)
        policies[name] = rule["spec"].get("trafficPolicy") if rule is not None else None
    objects = []
    for name, version in sorted(wanted):
        service = services[name]
        selector = {**workload_labels(name, service), **version_labels(version, service.versions[version])}
        ports = [prune({"name": port.name, "port": port.port, "appProtocol": port.app_protocol})
                 for port in service.ports]
        per_version = version_service(name, version)
        objects.append(KubeObject({"apiVersion": "v1", "kind": "Service",
                                   "metadata": metadata(per_version, service.namespace),
                                   "spec": {"selector": selector, "ports": ports}}))
        policy = policies[name]
        if policy:
            host = f"{per_version}.{service.namespace}.svc.{cluster_domain}"
            objects.append(KubeObject({"apiVersion": ISTIO_NETWORKING, "kind": "DestinationRule",
                                       "metadata": metadata(per_version, service.namespace),
                                       "spec": {"host": host, "trafficPolicy": policy}}))
    return objects


def _has_mesh_routing(service: ServiceSpec) -> bool:
    from .traffic import _has_http_routing  # imported late: traffic imports this module

    return bool(service.traffic.split) or _has_http_routing(service.traffic)


def service_routes(name: str, service: ServiceSpec, services: Mapping[str, ServiceSpec],
                   gateways: Mapping[str, GatewaySpec], cluster_domain: str) -> list[KubeObject]:
    """A service exposed through a Gateway API gateway: its per-version Services, the HTTPRoute attached to its
    listeners, the GAMMA HTTPRoute attached to its Service (when it has in-mesh routing) and ReferenceGrants."""

    assert service.expose is not None
    gateway_name = service.expose.gateway
    gateway = gateways[gateway_name]
    backends = _Backends(service.namespace, services)
    rules = route_rules(name, service, backends)
    objects = _version_services(_versions_routed(name, service, services), services, cluster_domain)
    before = tuple(item.key for item in objects)
    mine = exposed_hosts(gateway_name, gateway, {name: service})
    parents = []
    for host in mine:
        if not redirects(host):
            parents.append({"name": gateway_name, "namespace": gateway.namespace,
                            "sectionName": listener_name(host.host, https=False)})
        if serves_https(host):
            parents.append({"name": gateway_name, "namespace": gateway.namespace,
                            "sectionName": listener_name(host.host, https=True)})
    hostnames = sorted({host.host.rstrip(".") for host in mine if host.host != "*"})
    ingress = prune({"parentRefs": parents, "hostnames": hostnames, "rules": rules})
    gateway_key = f"Gateway/{gateway.namespace}/{gateway_name}"
    objects.append(KubeObject({"apiVersion": GATEWAY_API, "kind": "HTTPRoute",
                               "metadata": metadata(name, service.namespace), "spec": ingress},
                              depends_on=(*before, gateway_key)))
    if _has_mesh_routing(service):
        mesh = {"parentRefs": [{"group": "", "kind": "Service", "name": name}], "rules": rules}
        objects.append(KubeObject({"apiVersion": GATEWAY_API, "kind": "HTTPRoute",
                                   "metadata": metadata(f"{name}-mesh", service.namespace), "spec": mesh},
                                  depends_on=before))
    for namespace, targets in sorted(backends.crossed.items()):
        grant = {"from": [{"group": GROUP, "kind": "HTTPRoute", "namespace": service.namespace}],
                 "to": [{"group": "", "kind": "Service", "name": target} for target in sorted(targets)]}
        objects.insert(0, KubeObject({"apiVersion": GATEWAY_API, "kind": "ReferenceGrant",
                                      "metadata": metadata(f"from-{service.namespace}-{name}", namespace),
                                      "spec": grant}))
    return objects
