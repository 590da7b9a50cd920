"""Checks of mutual TLS and zero-trust access: client TLS vs PeerAuthentication, callers, exceptions, default deny."""

from __future__ import annotations

from collections.abc import Iterator

from ..plan.access import allow_policy
from ..spec import Caller, DataplaneMode, GatewayKind, MeshSpec, MtlsMode, TlsMode
from ._facts import HTTP_PROTOCOLS, effective_mtls_mode, one_of, port_protocol, service_account
from .registry import Finding, Severity, check, finding, path

#: Methods of HTTP (RFC 9110, PATCH) and WebDAV, as clients send them: upper case.
HTTP_METHODS = frozenset({
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
    "PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK",
})


@check("MR130", "Explicit client TLS mode contradicts the server's mTLS mode", Severity.ERROR)
def tls_mode_conflict(spec: MeshSpec) -> Iterator[Finding]:
    """``traffic.tlsMode`` other than ISTIO_MUTUAL where the service's effective mTLS mode is STRICT, or
    ISTIO_MUTUAL where it is DISABLE: clients and server never agree on a handshake (503)."""
    for name, service in spec.services.items():
        tls = service.traffic.tls_mode
        if tls is None:
            continue
        mode = effective_mtls_mode(spec, name, service)
        if mode is MtlsMode.STRICT and tls is not TlsMode.ISTIO_MUTUAL:
            yield finding("MR130", path("services", name, "traffic", "tlsMode"),
                          f"the service's workloads accept only Istio mTLS (effective mTLS mode STRICT), but clients "
                          f"are told to use {tls.value}, and an explicit TLS mode turns auto-mTLS off: every request "
                          f"fails with 503; expected no tlsMode (auto-mTLS), got {tls.value}")
        elif mode is MtlsMode.DISABLE and tls is TlsMode.ISTIO_MUTUAL:
            yield finding("MR130", path("services", name, "traffic", "tlsMode"),
                          "the service's workloads accept only plaintext (effective mTLS mode DISABLE), but clients "
                          "are told to send Istio mTLS: every request fails with 503; expected no tlsMode "
                          "(auto-mTLS), got ISTIO_MUTUAL")


@check("MR131", "Explicit ISTIO_MUTUAL client TLS mode (turns auto-mTLS off)", Severity.WARNING)
def explicit_istio_mutual(spec: MeshSpec) -> Iterator[Finding]:
    """``traffic.tlsMode: ISTIO_MUTUAL`` where it does not already conflict (MR130): redundant with auto-mTLS and
    it removes the plaintext fallback for clients of workloads without a sidecar."""
    for name, service in spec.services.items():
        if service.traffic.tls_mode is not TlsMode.ISTIO_MUTUAL:
            continue
        mode = effective_mtls_mode(spec, name, service)
        if mode is MtlsMode.DISABLE:
            continue  # MR130
        yield finding("MR131", path("services", name, "traffic", "tlsMode"),
                      f"ISTIO_MUTUAL is what auto-mTLS already sends to sidecar workloads (effective mTLS mode "
                      f"{mode.value}); setting it explicitly turns auto-mTLS off, so calls to any pod of this "
                      f"service without a sidecar fail instead of falling back to plaintext; expected no tlsMode, "
                      f"got ISTIO_MUTUAL")


def _accounts_by_namespace(spec: MeshSpec) -> dict[str, set[str]]:
    """Service accounts the stack's services run as, per namespace (computed once per check run, not per caller)."""
    accounts: dict[str, set[str]] = {}
    for name, service in spec.services.items():
        accounts.setdefault(service.namespace, set()).add(service_account(name, service))
    return accounts


def _caller_problem(spec: MeshSpec, caller: Caller, accounts_by_namespace: dict[str, set[str]]) -> str | None:
    """Why no workload of this stack has the caller's identity, or ``None`` when one has."""
    for gateway_name, gateway in spec.control_plane.gateways.items():
        # The gateway chart runs as a service account named after the release (the gateway's name).
        if (caller.namespace, caller.service_account) == (gateway.namespace, gateway_name):
            return None
    namespace = spec.namespaces.get(caller.namespace)
    if namespace is None:
        return (f"namespace {caller.namespace!r} is not in namespaces, so no workload there has a mesh identity; "
                f"expected a namespace from namespaces ({', '.join(sorted(spec.namespaces)) or 'none'}), "
                f"got {caller.namespace!r}")
    if namespace.mode is DataplaneMode.NONE:
        return (f"namespace {caller.namespace!r} is outside the mesh (mode none), so its workloads present no mesh "
                f"identity; expected a namespace in mode sidecar or ambient, got mode none")
    accounts = accounts_by_namespace.get(caller.namespace, set())
    if caller.service_account not in accounts:
        expected = one_of(accounts) if accounts else "the account of a service in that namespace (none is defined)"
        return (f"no service in namespace {caller.namespace!r} runs as service account {caller.service_account!r}; "
                f"expected {expected}, got {caller.service_account!r}")
    return None


def _unknown_callers(spec: MeshSpec, external: bool) -> Iterator[tuple[str, Caller, str]]:
    accounts = _accounts_by_namespace(spec)
    for name, service in spec.services.items():
        for index, caller in enumerate(service.access.allow_from or []):
            if caller.external is not external:
                continue
            problem = _caller_problem(spec, caller, accounts)
            if problem is not None:
                yield path("services", name, "access", "allowFrom", index), caller, problem


@check("MR140", "Allowed caller does not exist in this mesh", Severity.ERROR)
def unknown_caller(spec: MeshSpec) -> Iterator[Finding]:
    """An ``allowFrom`` caller whose namespace is not enrolled, or whose service account no service of that
    namespace runs as (gateways count as callers: their namespace and name)."""
    for where, caller, problem in _unknown_callers(spec, external=False):
        yield finding("MR140", where,
                      f"caller {caller.namespace}/{caller.service_account} matches no workload of this stack, so "
                      f"the policy allows an identity nobody has and the caller you meant is denied (403): "
                      f"{problem} (mark the caller external: true if another stack runs it)")


@check("MR141", "External allowed caller is not defined in this stack", Severity.WARNING)
def unknown_external_caller(spec: MeshSpec) -> Iterator[Finding]:
    """Like MR140 for a caller marked ``external: true``: reported, not fatal."""
    for where, caller, problem in _unknown_callers(spec, external=True):
        yield finding("MR141", where,
                      f"external caller {caller.namespace}/{caller.service_account} is not defined in this stack, "
                      f"so only its own stack can make sure it exists with this identity: {problem}")


@check("MR142", "HTTP method in an access rule is not upper case (never matches)", Severity.ERROR)
def lower_case_method(spec: MeshSpec) -> Iterator[Finding]:
    """An ``allowFrom`` method that is not upper case (``get``, ``Post``). Istio matches ``:method`` exactly and
    case-sensitively, so ``get`` never matches a client's ``GET`` and the caller is denied. An error for a standard
    method (``get`` → ``GET``), a warning for a non-standard one (it might really be sent in lower case)."""
    for name, service in spec.services.items():
        for index, caller in enumerate(service.access.allow_from or []):
            for position, method in enumerate(caller.methods):
                if method == method.upper():
                    continue
                # A wildcard (g*, *et) only ever targets standard methods; a bare non-standard name might really
                # be sent in lower case.
                standard = method.upper() in HTTP_METHODS or "*" in method
                yield finding("MR142", path("services", name, "access", "allowFrom", index, "methods", position),
                              f"method {method!r} is compared case-sensitively with the request's method, and "
                              f"clients send {method.upper()!r}, so this rule never matches and caller "
                              f"{caller.namespace}/{caller.service_account} is denied (403) for it; expected "
                              f"{method.upper()!r}, got {method!r}",
                              severity=None if standard else Severity.WARNING)


@check("MR143", "Access policy with an empty selector applies to the whole namespace (error when it allows nobody)",
       Severity.ERROR)
def empty_selector_allow_policy(spec: MeshSpec) -> Iterator[Finding]:
    """A service with ``selector: {}`` and ``access.allowFrom``: its ALLOW policy gets ``matchLabels: {}``, which
    selects every workload of the namespace. With no rules (``allowFrom: []``, not exposed) it allows nothing, so
    every workload of the namespace denies every request: an error. With rules, every workload of the namespace
    accepts only these callers: a warning. (An ambient namespace with a waypoint targets the Service instead.)"""
    gateways = spec.control_plane.gateways
    for name, service in spec.services.items():
        if not service.access.restricted:
            continue
        policy = allow_policy(name, service, spec.trust_domain, spec.namespaces.get(service.namespace), gateways,
                              spec.end_user_auth.issuers)
        selector = policy["spec"].get("selector")
        if selector is None or selector.get("matchLabels"):
            continue
        where = path("services", name, "selector")
        if not policy["spec"].get("rules"):
            yield finding("MR143", where,
                          f"selector {{}} gives the ALLOW policy {name}-allow an empty selector, which selects every "
                          f"workload in namespace {service.namespace!r}, and allowFrom allows no caller, so the "
                          f"policy allows nothing: every workload of the namespace (not only {name}) denies every "
                          f"request (403); expected the labels of {name}'s pods (or no selector for the default "
                          f"{{app: {name}}}), got {{}}")
        else:
            yield finding("MR143", where,
                          f"selector {{}} gives the ALLOW policy {name}-allow an empty selector, which selects every "
                          f"workload in namespace {service.namespace!r}, so every workload there (not only {name}) "
                          f"accepts only {name}'s callers and denies everyone else; expected the labels of {name}'s "
                          f"pods (or no selector for the default {{app: {name}}}), got {{}}",
                          severity=Severity.WARNING)


@check("MR160", "L7 access rule in an ambient namespace without a waypoint", Severity.ERROR)
def l7_rule_without_waypoint(spec: MeshSpec) -> Iterator[Finding]:
    """An ``allowFrom`` caller with ``methods``/``paths`` on a service in an ambient namespace without waypoint."""
    for name, service in spec.services.items():
        namespace = spec.namespaces.get(service.namespace)
        if namespace is None or namespace.mode is not DataplaneMode.AMBIENT or namespace.waypoint:
            continue
        for index, caller in enumerate(service.access.allow_from or []):
            if caller.is_l7:
                restricts = ", ".join(filter(None, [
                    f"methods {', '.join(caller.methods)}" if caller.methods else "",
                    f"paths {', '.join(caller.paths)}" if caller.paths else "",
                ]))
                yield finding("MR160", path("services", name, "access", "allowFrom", index),
                              f"caller {caller.namespace}/{caller.service_account} is restricted to {restricts} "
                              f"(L7), but namespace {service.namespace!r} is ambient without a waypoint: ztunnel "
                              f"enforces L4 only and turns an ALLOW rule with L7 conditions into a deny, so this "
                              f"caller is always refused; expected waypoint: true on namespace "
                              f"{service.namespace!r} or no methods/paths, got {restricts} and no waypoint")


def _restricts(caller: Caller) -> str:
    return ", ".join(filter(None, [
        f"methods {', '.join(caller.methods)}" if caller.methods else "",
        f"paths {', '.join(caller.paths)}" if caller.paths else "",
    ]))


@check("MR161", "L7 access rule on a service whose ports are all non-HTTP", Severity.ERROR)
def l7_rule_on_tcp_service(spec: MeshSpec) -> Iterator[Finding]:
    """An ``allowFrom`` caller with ``methods``/``paths`` on a service that declares ports, every one of them with a
    protocol Istio knows is not HTTP (``tcp``, ``tls``, ``https``, ``mongo``, ``mysql``, ``redis``, ``udp``, by name
    prefix or appProtocol, as MR180 infers it). Istio skips an ALLOW rule with HTTP-only fields on a TCP filter
    chain, so the caller is denied. A warning when the same caller is also allowed at L4 (the rule is then only
    useless). Ports left to protocol detection, and ambient namespaces without a waypoint (MR160), are not checked."""
    for name, service in spec.services.items():
        if not service.ports:
            continue
        protocols = [port_protocol(port) for port in service.ports]
        if any(protocol is None or protocol in HTTP_PROTOCOLS for protocol in protocols):
            continue
        namespace = spec.namespaces.get(service.namespace)
        if namespace is not None and namespace.mode is DataplaneMode.AMBIENT and not namespace.waypoint:
            continue  # MR160
        callers = service.access.allow_from or []
        l4 = {(c.namespace, c.service_account) for c in callers if not c.is_l7}
        ports = ", ".join(f"{port.port} ({protocol})" for port, protocol in zip(service.ports, protocols, strict=True))
        for index, caller in enumerate(callers):
            if not caller.is_l7:
                continue
            also_l4 = (caller.namespace, caller.service_account) in l4
            effect = ("the restriction does nothing: its L4 entry allows the caller everything anyway" if also_l4
                      else "this caller is denied on every port (its connections are closed)")
            yield finding("MR161", path("services", name, "access", "allowFrom", index),
                          f"caller {caller.namespace}/{caller.service_account} is restricted to {_restricts(caller)} "
                          f"(HTTP-only fields), but every port of {name} is non-HTTP ({ports}): Istio skips an ALLOW "
                          f"rule with HTTP-only fields on a TCP filter chain, so {effect}; expected an HTTP port "
                          f"(name http-…, grpc-… or appProtocol http) or no methods/paths, "
                          f"got {_restricts(caller)}",
                          severity=Severity.WARNING if also_l4 else None)


@check("MR190", "mTLS exception for a service that is not defined", Severity.ERROR)
def mtls_unknown_workload(spec: MeshSpec) -> Iterator[Finding]:
    """A key of ``mtls.workloads`` that is not a service in ``services`` (nothing to select: no policy is made)."""
    for name in spec.mtls.workloads:
        if name not in spec.services:
            yield finding("MR190", path("mtls", "workloads", name),
                          f"service {name!r} is not defined in services, so this exception selects no workload and "
                          f"is not applied; expected {one_of(spec.services) if spec.services else 'a service name'}, "
                          f"got {name!r}")


@check("MR191", "mTLS exception for a namespace this stack does not manage", Severity.WARNING)
def mtls_unknown_namespace(spec: MeshSpec) -> Iterator[Finding]:
    """A key of ``mtls.namespaces`` that is not in ``namespaces``."""
    for name in spec.mtls.namespaces:
        if name not in spec.namespaces:
            yield finding("MR191", path("mtls", "namespaces", name),
                          f"namespace {name!r} is not in namespaces: its PeerAuthentication is created but this "
                          f"stack neither creates nor enrols that namespace (a typo leaves the intended namespace on "
                          f"the mesh-wide mode); expected "
                          f"{one_of(spec.namespaces) if spec.namespaces else 'a namespace from namespaces'}, "
                          f"got {name!r}")


_WEAK = (MtlsMode.PERMISSIVE, MtlsMode.DISABLE)


@check("MR192", "Production stack without STRICT mTLS everywhere", Severity.WARNING)
def production_mtls(spec: MeshSpec) -> Iterator[Finding]:
    """``production: true`` with a mesh-wide mode other than STRICT, or a PERMISSIVE/DISABLE namespace or workload
    exception (port-level exceptions are deliberate and narrow, and not reported)."""
    if not spec.production:
        return
    mtls = spec.mtls
    if mtls.mode is not MtlsMode.STRICT:
        effective = "PERMISSIVE, Istio's default" if mtls.mode is MtlsMode.UNSET else mtls.mode.value
        yield finding("MR192", path("mtls", "mode"),
                      f"production accepts plaintext mesh-wide (effective mode {effective}); once every client has "
                      f"a sidecar, switch to STRICT; expected STRICT, got {mtls.mode.value}")
    for name, mode in mtls.namespaces.items():
        if mode in _WEAK:
            yield finding("MR192", path("mtls", "namespaces", name),
                          f"namespace {name!r} accepts plaintext in production; keep exceptions only while plaintext "
                          f"clients remain; expected STRICT or UNSET, got {mode.value}")
    for name, workload in mtls.workloads.items():
        if workload.mode in _WEAK:
            yield finding("MR192", path("mtls", "workloads", name, "mode"),
                          f"service {name!r} accepts plaintext in production; keep exceptions only while plaintext "
                          f"clients remain (or narrow it to the port that needs it); expected STRICT or UNSET, "
                          f"got {workload.mode.value}")


@check("MR193", "Default-deny namespace denies all traffic to a service (error when exposed)", Severity.WARNING)
def default_deny_without_allow(spec: MeshSpec) -> Iterator[Finding]:
    """A service without ``access.allowFrom`` in a namespace with ``defaultDeny: true``: every request is denied.
    An error when the service is exposed through a gateway (its published hosts answer 403). A namespace without
    proxies (mode none) denies nothing: MR196."""
    for name, service in spec.services.items():
        namespace = spec.namespaces.get(service.namespace)
        if namespace is None or not namespace.default_deny or service.access.restricted:
            continue
        if namespace.mode is DataplaneMode.NONE:
            continue  # nothing enforces the deny there: MR196
        where = path("services", name, "access", "allowFrom")
        if service.expose is not None:
            yield finding("MR193", where,
                          f"namespace {service.namespace!r} denies by default and this exposed service allows no "
                          f"caller, so the ingress gateway {service.expose.gateway!r} is denied too and "
                          f"{', '.join(service.expose.hosts)} answers 403; expected an allowFrom list (the gateway is "
                          f"added to it automatically; [] allows the gateway only), got none",
                          severity=Severity.ERROR)
        else:
            yield finding("MR193", where,
                          f"namespace {service.namespace!r} denies by default and this service allows no caller, so "
                          f"every request to it is denied (403); expected an allowFrom list of its callers, "
                          f"got none")


@check("MR194", "Port-level mTLS exception for a port the service does not declare", Severity.WARNING)
def mtls_undeclared_port(spec: MeshSpec) -> Iterator[Finding]:
    """A port in ``mtls.workloads.<service>.ports`` that is not among the service's declared ``ports``."""
    for name, workload in spec.mtls.workloads.items():
        service = spec.services.get(name)
        if service is None or not service.ports:
            continue  # unknown service: MR190; no ports declared: nothing to compare with
        declared = sorted(port.port for port in service.ports)
        for port in workload.ports:
            if port not in declared:
                yield finding("MR194", path("mtls", "workloads", name, "ports", port),
                              f"port {port} is not among {name}'s declared ports, so the exception may exempt "
                              f"nothing (portLevelMtls applies to a port the workload listens on); expected "
                              f"{one_of(declared)} (or the container port behind one of them), got {port}")


@check("MR195", "Default deny in the namespace of an ingress gateway (the gateway is denied too)", Severity.ERROR)
def default_deny_on_gateway(spec: MeshSpec) -> Iterator[Finding]:
    """``defaultDeny: true`` on the namespace an ingress gateway runs in, or on the root namespace (the control
    plane's, where a policy applies to the whole mesh). The allow-nothing AuthorizationPolicy selects the gateway's
    own pods, and no ``allowFrom`` can let outside clients back in (they have no mesh identity)."""
    root = spec.root_namespace
    for name, gateway in sorted(spec.control_plane.gateways.items()):
        if gateway.kind is not GatewayKind.INGRESS:
            continue
        for namespace in sorted({gateway.namespace, root}):
            detail = spec.namespaces.get(namespace)
            if detail is None or not detail.default_deny:
                continue
            scope = (f"gateway {name!r} runs in namespace {namespace!r}" if namespace == gateway.namespace else
                     f"{namespace!r} is the root namespace, where an AuthorizationPolicy applies to every workload "
                     f"of the mesh, gateway {name!r} (namespace {gateway.namespace!r}) included")
            yield finding("MR195", path("namespaces", namespace, "defaultDeny"),
                          f"{scope}; the default-deny policy selects the gateway's own pods, and requests from "
                          f"outside the cluster carry no mesh identity that an allowFrom could allow, so the gateway "
                          f"answers every request with 403 (RBAC: access denied) and everything published through "
                          f"it is down; expected defaultDeny: false on {namespace!r} (deny by default in the "
                          f"application namespaces instead), got defaultDeny: true")


@check("MR196", "STRICT mTLS or default deny on a namespace without proxies (nothing enforces it)", Severity.WARNING)
def policy_without_proxies(spec: MeshSpec) -> Iterator[Finding]:
    """A namespace with ``mode: none`` (its pods get no sidecar and no ztunnel) given ``defaultDeny: true``, a
    STRICT namespace mode in ``mtls.namespaces``, or a STRICT workload exception for one of its services. Only a
    proxy enforces a PeerAuthentication or an AuthorizationPolicy, so the policy exists and does nothing: its pods
    accept plaintext from anyone, and workloads without a sidecar cannot do mTLS at all. Namespaces that host a
    gateway (MR155, MR195) and namespaces not in ``namespaces`` (MR153, MR191) are left to those checks."""
    gateway_namespaces = {gateway.namespace for gateway in spec.control_plane.gateways.values()}

    def without_proxies(namespace: str) -> bool:
        detail = spec.namespaces.get(namespace)
        return detail is not None and detail.mode is DataplaneMode.NONE and namespace not in gateway_namespaces

    unenforced = ("its pods run without a sidecar or ztunnel (mode none, istio-injection=disabled), and only a "
                  "proxy enforces mesh policy")
    for name, detail in spec.namespaces.items():
        if detail.default_deny and without_proxies(name):
            yield finding("MR196", path("namespaces", name, "defaultDeny"),
                          f"namespace {name!r} asks to deny every request by default, but {unenforced}: the "
                          f"AuthorizationPolicies are created and nothing applies them, so every service there "
                          f"accepts every caller, mesh or not; expected mode sidecar or ambient (or no defaultDeny), "
                          f"got mode none")
    for name, mode in spec.mtls.namespaces.items():
        if mode is MtlsMode.STRICT and without_proxies(name):
            yield finding("MR196", path("mtls", "namespaces", name),
                          f"namespace {name!r} is set to STRICT, but {unenforced}: nothing refuses plaintext, and "
                          f"its pods cannot present a mesh certificate, so they cannot call STRICT services "
                          f"themselves; expected mode sidecar or ambient for {name!r} (or no STRICT exception), "
                          f"got mode none")
    for name, workload in spec.mtls.workloads.items():
        service = spec.services.get(name)
        if service is not None and workload.mode is MtlsMode.STRICT and without_proxies(service.namespace):
            yield finding("MR196", path("mtls", "workloads", name, "mode"),
                          f"service {name!r} is set to STRICT, but namespace {service.namespace!r} is outside the "
                          f"mesh: {unenforced}, so nothing refuses plaintext to it; expected mode sidecar or "
                          f"ambient for {service.namespace!r} (or no STRICT exception), got mode none")


@check("MR197", "mTLS exception for a service with an empty selector (namespace-wide, or refused with ports)",
       Severity.ERROR)
def mtls_exception_without_selector(spec: MeshSpec) -> Iterator[Finding]:
    """A workload exception (``mtls.workloads.<service>``) selects the service's pods by its workload labels. With
    ``selector: {}`` the PeerAuthentication gets ``matchLabels: {}``: port-level modes are refused by Istio
    (``portLevelMtls requires selector``, the CRD's CEL rule and istioctl), and a workload mode silently applies to
    every workload of the namespace instead of one service."""
    for name, workload in spec.mtls.workloads.items():
        service = spec.services.get(name)
        if service is None or service.selector is None or service.selector:
            continue
        if workload.ports:
            yield finding("MR197", path("mtls", "workloads", name, "ports"),
                          f"service {name} has selector {{}}, so its PeerAuthentication has an empty selector and "
                          "Istio refuses port-level modes without one (portLevelMtls requires selector); expected "
                          f"services.{name}.selector to hold the labels of {name}'s pods, got {{}}")
        elif workload.mode is MtlsMode.UNSET:
            # Nothing to except, and an empty selector istioctl warns about.
            yield finding("MR197", path("mtls", "workloads", name),
                          f"service {name} has selector {{}} and this exception sets no mode and no ports: its "
                          "PeerAuthentication selects every workload of the namespace and changes nothing; expected "
                          f"a mode or ports, and services.{name}.selector holding the labels of {name}'s pods, "
                          "got {}")
        else:
            yield finding("MR197", path("mtls", "workloads", name, "mode"),
                          f"service {name} has selector {{}}, so this exception selects every workload in namespace "
                          f"{service.namespace!r}, not only {name}; expected services.{name}.selector to hold the "
                          f"labels of {name}'s pods (or mtls.namespaces.{service.namespace} for a namespace-wide "
                          "mode), got {}")
