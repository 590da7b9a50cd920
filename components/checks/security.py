"""Checks of mutual TLS and zero-trust access: client TLS vs PeerAuthentication, callers, exceptions, default deny."""

from __future__ import annotations

from typing import Iterator, Optional

from ..spec import Caller, DataplaneMode, MeshSpec, MtlsMode, TlsMode
from ._facts import effective_mtls_mode, one_of, service_account
from .registry import Finding, Severity, check, finding, path


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


def _caller_problem(spec: MeshSpec, caller: Caller, accounts_by_namespace: dict[str, set[str]]) -> Optional[str]:
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
    An error when the service is exposed through a gateway (its published hosts answer 403)."""
    for name, service in spec.services.items():
        namespace = spec.namespaces.get(service.namespace)
        if namespace is None or not namespace.default_deny or service.access.allow_from is not None:
            continue
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
