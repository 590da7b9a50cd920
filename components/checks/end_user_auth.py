"""Checks of end-user authentication: issuers, where tokens are validated, rules on request principals and claims."""

from __future__ import annotations

from collections.abc import Iterator

from ..spec import DataplaneMode, GatewayKind, JwtPolicy, MeshSpec, ServiceSpec
from ._facts import HTTP_PROTOCOLS, one_of, port_protocol
from .registry import Finding, Severity, check, finding, path


def _policies(spec: MeshSpec) -> Iterator[tuple[tuple[str, ...], JwtPolicy]]:
    """Every place tokens are validated, with its path below ``endUserAuth``."""
    auth = spec.end_user_auth
    for kind, policies in (("namespaces", auth.namespaces), ("workloads", auth.workloads),
                           ("gateways", auth.gateways)):
        for name, policy in policies.items():
            yield (kind, name), policy


def issuers_for(spec: MeshSpec, name: str, service: ServiceSpec) -> dict[str, tuple[str, ...]]:
    """Issuer names whose tokens the service's workloads validate, each with the config path that validates it:
    the service's own policy, its namespace's, the root namespace's (mesh-wide)."""
    auth = spec.end_user_auth
    found: dict[str, tuple[str, ...]] = {}
    for where, policy in (
        (("workloads", name), auth.workloads.get(name)),
        (("namespaces", service.namespace), auth.namespaces.get(service.namespace)),
        (("namespaces", spec.root_namespace), auth.namespaces.get(spec.root_namespace)),
    ):
        for issuer in policy.issuers if policy else []:
            found.setdefault(issuer, where)
    return found


@check("MR260", "Token validation names an issuer that endUserAuth.issuers does not define", Severity.ERROR)
def unknown_issuer(spec: MeshSpec) -> Iterator[Finding]:
    """An issuer name in ``endUserAuth.namespaces|workloads|gateways.<name>.issuers`` that is not a key of
    ``endUserAuth.issuers``."""
    defined = spec.end_user_auth.issuers
    expected = one_of(defined) if defined else "an issuer defined in endUserAuth.issuers"
    for where, policy in _policies(spec):
        for index, issuer in enumerate(policy.issuers):
            if issuer not in defined:
                yield finding("MR260", path("endUserAuth", *where, "issuers", index),
                              f"issuer {issuer!r} is not defined in endUserAuth.issuers, so its tokens are not "
                              f"validated here and every request carrying one is rejected (401, Jwt issuer is not "
                              f"configured); expected {expected}, got {issuer!r}")


@check("MR261", "End-user rule on an issuer whose tokens the service does not validate", Severity.ERROR)
def rule_on_unvalidated_issuer(spec: MeshSpec) -> Iterator[Finding]:
    """An ``access.allowUsers`` entry whose issuer is not among those the service's workloads validate
    (``endUserAuth.workloads.<service>``, its namespace, the root namespace). A request gets a request principal
    and claims only from a token a RequestAuthentication validated, so the rule never matches and these users are
    denied (403)."""
    for name, service in spec.services.items():
        validated = issuers_for(spec, name, service)
        for index, user in enumerate(service.access.allow_users or []):
            if user.issuer in validated:
                continue
            known = user.issuer in spec.end_user_auth.issuers
            reason = ("no RequestAuthentication of this service, its namespace or the mesh validates its tokens" if
                      known else "it is not defined in endUserAuth.issuers")
            expected = (f"issuer {user.issuer!r} in endUserAuth.workloads.{name}.issuers (or its namespace's), or "
                        f"{one_of(validated)}" if known and validated else
                        f"issuer {user.issuer!r} in endUserAuth.workloads.{name}.issuers (or its namespace's)" if known
                        else one_of(validated) if validated else "an issuer defined in endUserAuth.issuers")
            yield finding("MR261", path("services", name, "access", "allowUsers", index, "issuer"),
                          f"the rule allows users of issuer {user.issuer!r}, but {reason}: requests never carry a "
                          f"principal or claims of that issuer, so the rule matches nothing and these users are "
                          f"denied (403); expected {expected}, got {user.issuer!r}")


def _required(spec: MeshSpec, namespace: str) -> bool:
    auth = spec.end_user_auth
    return any(policy.require_token for key, policy in auth.namespaces.items()
               if key in (namespace, spec.root_namespace))


@check("MR262", "Tokens validated but never required (requests without a token pass)", Severity.WARNING)
def token_not_required(spec: MeshSpec) -> Iterator[Finding]:
    """A namespace, service or gateway that validates tokens, where nothing requires one: no ``requireToken`` there
    (or in its namespace, or mesh-wide) and no ``access.allowUsers`` rule on the services concerned. A
    RequestAuthentication only rejects *invalid* tokens; a request with no token passes, unauthenticated: Istio's
    best-known authentication trap."""
    auth = spec.end_user_auth
    for kind, policies in (("namespaces", auth.namespaces), ("workloads", auth.workloads),
                           ("gateways", auth.gateways)):
        for name, policy in policies.items():
            if policy.require_token:
                continue
            if kind == "gateways":
                gateway = spec.control_plane.gateways.get(name)
                covered = gateway is not None and _required(spec, gateway.namespace)
            elif kind == "workloads":
                service = spec.services.get(name)
                covered = service is None or service.access.allow_users is not None or _required(
                    spec, service.namespace)
            else:
                members = [s for s in spec.services.values() if name in (s.namespace, spec.root_namespace)]
                covered = _required(spec, name) or (
                    bool(members) and all(s.access.allow_users is not None for s in members))
            if covered:
                continue
            yield finding("MR262", path("endUserAuth", kind, name, "requireToken"),
                          f"tokens are validated for {kind[:-1]} {name!r}, but nothing requires one: a "
                          f"RequestAuthentication only rejects invalid tokens, so a request without any token "
                          f"passes unauthenticated; expected requireToken: true (or allowUsers rules on its "
                          f"services), got requireToken: false")


@check("MR263", "Token validation for a service or gateway that is not defined (or not an ingress gateway)",
       Severity.ERROR)
def unknown_target(spec: MeshSpec) -> Iterator[Finding]:
    """A key of ``endUserAuth.workloads`` that is not a service, or of ``endUserAuth.gateways`` that is not an
    ingress gateway in ``controlPlane.gateways`` (an egress gateway never receives end users' requests)."""
    auth = spec.end_user_auth
    for name in auth.workloads:
        if name not in spec.services:
            yield finding("MR263", path("endUserAuth", "workloads", name),
                          f"service {name!r} is not defined in services, so no workload validates these tokens "
                          f"and the policy is not created; expected "
                          f"{one_of(spec.services) if spec.services else 'a service name'}, got {name!r}")
    ingress = sorted(n for n, g in spec.control_plane.gateways.items() if g.kind is GatewayKind.INGRESS)
    for name in auth.gateways:
        gateway = spec.control_plane.gateways.get(name)
        if gateway is None or gateway.kind is not GatewayKind.INGRESS:
            what = "not defined in controlPlane.gateways" if gateway is None else "an egress gateway"
            yield finding("MR263", path("endUserAuth", "gateways", name),
                          f"gateway {name!r} is {what}, so no ingress validates these tokens and the policy is not "
                          f"created; expected {one_of(ingress) if ingress else 'an ingress gateway name'}, "
                          f"got {name!r}")


@check("MR264", "Token validation for a namespace this stack does not manage", Severity.WARNING)
def unknown_namespace(spec: MeshSpec) -> Iterator[Finding]:
    """A key of ``endUserAuth.namespaces`` that is neither in ``namespaces`` nor the root namespace."""
    for name in spec.end_user_auth.namespaces:
        if name not in spec.namespaces and name != spec.root_namespace:
            yield finding("MR264", path("endUserAuth", "namespaces", name),
                          f"namespace {name!r} is not in namespaces and is not the root namespace: the policy is "
                          f"created, but a typo leaves the intended namespace without token validation; expected "
                          f"{one_of([*spec.namespaces, spec.root_namespace])}, got {name!r}")


@check("MR265", "Keys of a token issuer fetched over plain HTTP in production", Severity.WARNING)
def jwks_over_http(spec: MeshSpec) -> Iterator[Finding]:
    """``production: true`` and an issuer whose ``jwksUri`` is ``http://``. istiod fetches the keys itself, without
    a sidecar, so the mesh's mTLS does not protect the download: whoever can answer in its place can sign tokens the
    mesh accepts."""
    if not spec.production:
        return
    for name, issuer in spec.end_user_auth.issuers.items():
        if issuer.jwks_uri is not None and issuer.jwks_uri.startswith("http://"):
            yield finding("MR265", path("endUserAuth", "issuers", name, "jwksUri"),
                          f"istiod downloads {name}'s signing keys in plaintext (it has no sidecar, so mesh mTLS "
                          f"does not apply): anyone on the path can substitute keys and mint tokens the mesh "
                          f"accepts; expected an https:// URL (or inline jwks), got {issuer.jwks_uri!r}")


def _l7_blocker(spec: MeshSpec, service: ServiceSpec) -> str | None:
    """Why no proxy can apply HTTP-level rules to the service, or ``None``."""
    namespace = spec.namespaces.get(service.namespace)
    if namespace is not None and namespace.mode is DataplaneMode.AMBIENT and not namespace.waypoint:
        return (f"namespace {service.namespace!r} is ambient without a waypoint, and ztunnel does not look at HTTP "
                "(it neither validates tokens nor matches request principals)")
    if service.ports:
        protocols = [port_protocol(port) for port in service.ports]
        if all(protocol is not None and protocol not in HTTP_PROTOCOLS for protocol in protocols):
            return "every port of the service is non-HTTP, and tokens travel in HTTP requests"
    return None


@check("MR266", "End-user authentication on a service no proxy can inspect at HTTP level", Severity.ERROR)
def end_user_auth_without_l7(spec: MeshSpec) -> Iterator[Finding]:
    """``access.allowUsers`` or ``endUserAuth.workloads.<service>`` on a service whose declared ports are all
    non-HTTP, or in an ambient namespace without a waypoint: tokens are never read, so an ALLOW rule on request
    principals never matches (users denied) and no token is validated."""
    for name, service in spec.services.items():
        blocker = _l7_blocker(spec, service)
        if blocker is None:
            continue
        if service.access.allow_users:
            yield finding("MR266", path("services", name, "access", "allowUsers"),
                          f"{blocker}, so the rules on end users never match and these users are denied; expected "
                          f"an HTTP port (or a waypoint), got allowUsers on {name}")
        if name in spec.end_user_auth.workloads:
            yield finding("MR266", path("endUserAuth", "workloads", name),
                          f"{blocker}, so no token is ever validated for {name}; expected an HTTP port (or a "
                          f"waypoint), got token validation for {name}")


@check("MR267", "Token requirement over services with non-HTTP ports (their TCP connections are denied)",
       Severity.WARNING)
def token_requirement_over_tcp(spec: MeshSpec) -> Iterator[Finding]:
    """``requireToken: true`` on a namespace (or mesh-wide) or a service, where a service concerned declares a
    non-HTTP port. The requirement is a DENY rule on ``notRequestPrincipals``, an HTTP-only condition: on a TCP
    connection Istio cannot evaluate it and applies the DENY rule to the whole connection, so every TCP client of
    that port is refused (``istioctl analyze`` IST0133)."""
    auth = spec.end_user_auth
    for name, service in spec.services.items():
        tcp = [port.port for port in service.ports
               if (protocol := port_protocol(port)) is not None and protocol not in HTTP_PROTOCOLS]
        if not tcp:
            continue
        places = [("workloads", name)] if name in auth.workloads else []
        places += [("namespaces", key) for key in (service.namespace, spec.root_namespace) if key in auth.namespaces]
        for kind, key in places:
            policy = auth.workloads[key] if kind == "workloads" else auth.namespaces[key]
            if not policy.require_token:
                continue
            yield finding("MR267", path("endUserAuth", kind, key, "requireToken"),
                          f"service {name} has non-HTTP port(s) {', '.join(map(str, tcp))}; the token requirement "
                          f"is a DENY rule on an HTTP-only condition, which Istio applies to a TCP connection as "
                          f"'deny', so every client of those ports is refused; expected requireToken only where "
                          f"every port is HTTP (require it on the HTTP services' own entries), got requireToken: true "
                          f"over {name}")
