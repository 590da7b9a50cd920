"""Checks of ingress TLS (plaintext hosts in production, credentials, client CAs, certificates) and of what a
Gateway API gateway can express of a service's routes."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from ..plan.gateway_api import HEADER_NAME, METHODS, gateway_duration, http_port, version_service
from ..plan.ingress import ExposedHost, exposed_hosts
from ..plan.traffic import TCP_PROTOCOLS, effective
from ..spec import GatewayApi, GatewayKind, GatewaySpec, MeshSpec, ServiceSpec
from ..spec.traffic import RouteSettings
from ._facts import port_protocol
from .registry import Finding, Severity, check, finding, path


def _ingress(spec: MeshSpec) -> Iterator[tuple[str, GatewaySpec, list[ExposedHost]]]:
    for name, gateway in sorted(spec.control_plane.gateways.items()):
        if gateway.kind is GatewayKind.INGRESS:
            hosts = exposed_hosts(name, gateway, spec.services)
            if hosts:
                yield name, gateway, hosts


def _tls_path(host: ExposedHost, gateway_name: str, gateway: GatewaySpec, *keys: str) -> str:
    """Where the host's TLS setting was given: the exposure's ``tls``, the gateway's ``tls`` or ``tlsSecret``."""
    if host.own_tls:
        return path("services", host.service, "expose", "tls", *keys)
    if gateway.tls_secret is not None:
        return path("controlPlane", "gateways", gateway_name, "tlsSecret")
    return path("controlPlane", "gateways", gateway_name, "tls", *keys)


def _per_service(hosts: list[ExposedHost]) -> dict[str, list[ExposedHost]]:
    grouped: dict[str, list[ExposedHost]] = defaultdict(list)
    for host in hosts:
        grouped[host.service].append(host)
    return grouped


@check("MR320", "Production exposes a host over plaintext HTTP", Severity.ERROR)
def plaintext_in_production(spec: MeshSpec) -> Iterator[Finding]:
    """A production stack exposes a host without TLS, or with TLS but without ``httpsRedirect`` (port 80 then
    serves the service in plaintext next to HTTPS)."""
    if not spec.production:
        return
    for gateway_name, gateway, hosts in _ingress(spec):
        for service, mine in sorted(_per_service(hosts).items()):
            first = mine[0]
            names = ", ".join(host.host for host in mine)
            if first.tls is None:
                yield finding("MR320", path("services", service, "expose", "tls"),
                              f"production exposes {names} on gateway {gateway_name!r} over plaintext HTTP only "
                              f"(neither expose.tls nor the gateway's tls is set): credentials and cookies cross the "
                              f"internet readable; expected tls: {{credentialName: <secret in {gateway.namespace}>}} "
                              f"(httpsRedirect defaults to true), got no TLS")
            elif not first.tls.https_redirect:
                yield finding("MR320", _tls_path(first, gateway_name, gateway, "httpsRedirect"),
                              f"production serves {names} on gateway {gateway_name!r} over HTTPS and also over "
                              f"plaintext HTTP on port 80 (no redirect), so a client that types http:// sends its "
                              f"cookies in the clear; expected httpsRedirect: true (port 80 answers 301 to https), "
                              f"got httpsRedirect: false" + (" (tlsSecret is that shorthand: use tls: "
                              f"{{credentialName: {gateway.tls_secret}}})" if gateway.tls_secret and not first.own_tls
                                                            else ""))


@check("MR321", "A TLS host has no credential", Severity.ERROR)
def tls_without_credential(spec: MeshSpec) -> Iterator[Finding]:
    """TLS is asked for a host but no ``credentialName`` is given and the gateway has no ``certManager`` to issue
    one: the gateway would have no certificate to serve, so no HTTPS server is planned for it."""
    for gateway_name, gateway, hosts in _ingress(spec):
        for service, mine in sorted(_per_service(hosts).items()):
            first = mine[0]
            if first.tls is None or first.credential is not None:
                continue
            yield finding("MR321", _tls_path(first, gateway_name, gateway, "credentialName"),
                          f"TLS is set for {', '.join(h.host for h in mine)} (service {service}) on gateway "
                          f"{gateway_name!r}, but no secret holds its certificate: no credentialName, and the "
                          f"gateway has no certManager to issue one, so only plaintext port 80 would serve it; "
                          f"expected credentialName: <secret in {gateway.namespace}> or "
                          f"controlPlane.gateways.{gateway_name}.certManager, got neither")


@check("MR322", "MUTUAL TLS without a client CA Istio reads", Severity.ERROR)
def mutual_without_ca(spec: MeshSpec) -> Iterator[Finding]:
    """MUTUAL TLS verifies client certificates against ``ca.crt``, which Istio reads from the credential secret
    itself or from a secret named ``<credentialName>-cacert``. A warning when ``clientCaSecret`` does not say which
    (the secret is not visible to the stack), an error when it names a secret Istio never reads."""
    for gateway_name, gateway, hosts in _ingress(spec):
        for _, mine in sorted(_per_service(hosts).items()):
            first = mine[0]
            if first.tls is None or first.credential is None or first.tls.mode.value != "MUTUAL":
                continue
            readable = (first.credential, f"{first.credential}-cacert")
            given = first.tls.client_ca_secret
            where = _tls_path(first, gateway_name, gateway, "clientCaSecret")
            if given is None:
                yield finding("MR322", where,
                              f"{', '.join(h.host for h in mine)} on gateway {gateway_name!r} use MUTUAL TLS: the "
                              f"gateway refuses every client unless ca.crt (the CA that signs client certificates) "
                              f"is in secret {readable[0]} or in {readable[1]} (Istio's -cacert convention), and "
                              f"nothing here says which; expected clientCaSecret: {readable[0]} or {readable[1]}, "
                              f"got none", severity=Severity.WARNING)
            elif given not in readable:
                yield finding("MR322", where,
                              f"Istio reads the client CA of credential {first.credential} only from "
                              f"{readable[0]} (key ca.crt) or {readable[1]}, never from {given}, so every client "
                              f"certificate is refused; expected {readable[0]} or {readable[1]}, got {given}")


@check("MR323", "TLS credential outside the gateway's namespace", Severity.ERROR)
def credential_elsewhere(spec: MeshSpec) -> Iterator[Finding]:
    """``credentialName: namespace/name`` with a namespace other than the gateway deployment's: Istio reads
    gateway credentials only from the gateway's own namespace, so the secret is never found."""
    for gateway_name, gateway, hosts in _ingress(spec):
        for _, mine in sorted(_per_service(hosts).items()):
            first = mine[0]
            if first.credential_namespace is None or first.credential_namespace == gateway.namespace:
                continue
            yield finding("MR323", _tls_path(first, gateway_name, gateway, "credentialName"),
                          f"the credential of {', '.join(h.host for h in mine)} is in namespace "
                          f"{first.credential_namespace}, but gateway {gateway_name!r} runs in {gateway.namespace} "
                          f"and Istio reads its secrets from there only, so the HTTPS server has no certificate "
                          f"and the TLS handshake fails; expected the secret in {gateway.namespace} "
                          f"(credentialName: {first.credential}), got {first.credential_namespace}/"
                          f"{first.credential}")


@check("MR325", "Wildcard host with a cert-manager certificate", Severity.WARNING)
def certificate_vs_host(spec: MeshSpec) -> Iterator[Finding]:
    """A wildcard host (``*.example.com``) whose certificate cert-manager issues (``certManager``, no
    ``credentialName``): ACME issuers give wildcard certificates only through a DNS-01 solver, and the certificate
    covers one label only (not ``example.com`` itself nor ``a.b.example.com``)."""
    for gateway_name, gateway, hosts in _ingress(spec):
        for host in hosts:
            if host.tls is None or gateway.cert_manager is None or host.tls.credential_name is not None:
                continue
            if host.host.startswith("*."):
                domain = host.host[2:]
                yield finding("MR325", path("services", host.service, "expose", "hosts", host.index),
                              f"cert-manager issues a certificate for {host.host} on gateway {gateway_name!r}: an "
                              f"ACME issuer needs a DNS-01 solver for wildcard names (HTTP-01 cannot prove them), "
                              f"and the certificate covers one label only (not {domain} itself nor a.b.{domain}); "
                              f"expected issuer {gateway.cert_manager.issuer} to have a DNS-01 solver, or explicit "
                              f"host names, got {host.host}")


def _route_gaps(service: ServiceSpec, route: RouteSettings | None,
                where: list[str | int]) -> Iterator[tuple[list[str | int], str]]:
    traffic = service.traffic
    for setting, why in (("fault", "fault injection is not part of Gateway API"),
                         ("retries", "HTTPRoute retries are experimental-channel only in v1.6")):
        if effective(route, traffic, setting) is not None:
            own = route is not None and not route.inherits(setting)
            yield ([*where, setting] if own else ["traffic", setting]), why
    mirror = effective(route, traffic, "mirror")
    if mirror is not None and mirror.percent != int(mirror.percent):
        yield ["traffic", "mirror", "percent"], f"mirror percent {mirror.percent} (RequestMirror takes whole percents)"
    timeout = effective(route, traffic, "timeout")
    if timeout is not None and gateway_duration(timeout) is None:
        yield ["traffic", "timeout"], f"timeout {timeout} (Gateway API durations are whole milliseconds, h/m/s/ms)"
    if route is not None and route.cors is not None and any(o.exact is None for o in route.cors.allow_origins):
        yield [*where, "cors", "allowOrigins"], "CORS origins by prefix or regex (the CORS filter takes exact origins)"


def _match_gaps(service: ServiceSpec) -> Iterator[tuple[list[str | int], str]]:
    for index, match in enumerate(service.traffic.matches):
        where: list[str | int] = ["traffic", "matches", index]
        if match.without_headers:
            yield [*where, "withoutHeaders"], "withoutHeaders (HTTPRoute matches cannot negate)"
        if match.method is not None and (match.method.exact is None or match.method.exact not in METHODS):
            yield [*where, "method"], "a method match other than an exact standard method"
        for key, names in (("headers", match.headers), ("queryParams", match.query_params)):
            for name in names:
                if not HEADER_NAME.fullmatch(name):
                    yield [*where, key, name], f"{key} name {name!r} (HTTP/2 pseudo-headers cannot be matched)"
        for name, value in match.query_params.items():
            if value.exact == "":
                yield [*where, "queryParams", name], "an empty exact query parameter (values need a character)"
        yield from _route_gaps(service, match, where)
        if match.version and len(version_service(match.service or "", match.version)) > 63:
            yield [*where, "version"], "a per-version Service name longer than 63 characters"
    yield from _route_gaps(service, service.traffic.default_route, ["traffic", "defaultRoute"])


@check("MR326", "Route setting a Gateway API gateway cannot express", Severity.ERROR)
def gateway_api_gaps(spec: MeshSpec) -> Iterator[Finding]:
    """A service exposed through a gateway with ``api: gateway-api`` uses a setting HTTPRoute (v1.6 standard
    channel) cannot express, or lacks what it needs (a port for backendRefs). The plan would drop it silently."""
    gateways = spec.control_plane.gateways
    for name, service in sorted(spec.services.items()):
        expose = service.expose
        if expose is None:
            continue
        gateway = gateways.get(expose.gateway)
        if gateway is None or gateway.api is not GatewayApi.GATEWAY_API or gateway.kind is not GatewayKind.INGRESS:
            continue
        gaps: dict[tuple[str | int, ...], list[str]] = defaultdict(list)
        for where, what in _match_gaps(service):
            gaps[tuple(where)].append(what)
        if http_port(service) is None:
            gaps[("ports",)].append("no HTTP port (an HTTPRoute backendRef to a Service needs one)")
        if service.traffic.weights_managed_by is not None:
            gaps[("traffic", "weightsManagedBy")].append("weights managed by a controller that edits VirtualServices")
        if service.traffic.split and any(port_protocol(p) in TCP_PROTOCOLS for p in service.ports):
            gaps[("traffic", "split")].append("a split of opaque TCP ports (that is a TCPRoute, not planned)")
        for version in service.traffic.split:
            if len(version_service(name, version)) > 63:
                gaps[("traffic", "split", version)].append("a per-version Service name longer than 63 characters")
        tls = expose.tls if expose.tls is not None else gateway.default_tls()
        if tls is not None and tls.min_protocol_version is not None:
            gaps[("expose", "tls", "minProtocolVersion")].append("minProtocolVersion (no Gateway listener field)")
        for place, whats in sorted(gaps.items(), key=lambda item: [str(part) for part in item[0]]):
            yield finding("MR326", path("services", name, *place),
                          f"service {name} is exposed through gateway {expose.gateway!r} (api: gateway-api), whose "
                          f"HTTPRoutes cannot express {'; '.join(sorted(set(whats)))}: the plan would leave it out "
                          f"and the routes would behave differently; expected settings Gateway API v1.6 has, or "
                          f"api: istio on the gateway, got {'; '.join(sorted(set(whats)))}")

