"""Checks of routing and resilience: versions (subsets), weights, routed hosts, retries, fault injection, ports."""

from __future__ import annotations

from typing import Iterator

from ..plan.naming import version_labels
from ..spec import MeshSpec, duration_seconds
from ._facts import one_of, version_refs, yaml_map
from .registry import Finding, Severity, check, finding, path

#: Port name prefixes (``<protocol>`` or ``<protocol>-<suffix>``) Istio reads the protocol from.
PROTOCOL_PREFIXES = ("http", "http2", "https", "grpc", "grpc-web", "tcp", "tls", "mongo", "mysql", "redis", "udp")


@check("MR101", "Route to a version the target service does not define", Severity.ERROR)
def undefined_version(spec: MeshSpec) -> Iterator[Finding]:
    """A split entry, match rule or mirror names a version (subset) its target service does not define, including
    a target with no versions at all."""
    for ref in version_refs(spec):
        target = spec.services.get(ref.target)
        if target is None:
            continue  # the service itself is unknown: MR111
        if ref.version in target.versions:
            continue
        who = "this service" if ref.target == ref.owner else f"service {ref.target!r}"
        if not target.versions:
            yield finding("MR101", ref.path,
                          f"routes to version {ref.version!r}, but {who} defines no versions (no DestinationRule "
                          f"subsets), so these requests fail with 503; expected services.{ref.target}.versions "
                          f"to define {ref.version!r}, got no versions")
        else:
            yield finding("MR101", ref.path,
                          f"routes to version {ref.version!r}, which {who} does not define, so these requests fail "
                          f"with 503; expected {one_of(target.versions)}, got {ref.version!r}")


@check("MR102", "Split weight outside 0..100", Severity.ERROR)
def weight_range(spec: MeshSpec) -> Iterator[Finding]:
    """A split weight below 0 (Istio rejects it) or above 100 (Istio accepts it as a relative share, but split
    weights in this project are percentages, so 140 is a typo, not a share)."""
    for name, service in spec.services.items():
        for version, weight in service.traffic.split.items():
            if not 0 <= weight <= 100:
                yield finding("MR102", path("services", name, "traffic", "split", version),
                              f"weight must be between 0 and 100, got {weight}")


@check("MR103", "Split weights are all zero", Severity.ERROR)
def all_zero_weights(spec: MeshSpec) -> Iterator[Finding]:
    """A non-empty split in which every weight is 0 (Istio rejects the VirtualService)."""
    for name, service in spec.services.items():
        split = service.traffic.split
        if split and all(weight == 0 for weight in split.values()):
            yield finding("MR103", path("services", name, "traffic", "split"),
                          f"every split weight is 0, which Istio rejects (the whole VirtualService is refused); "
                          f"expected at least one positive weight, got {yaml_map(split)}")


def _percent(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".") + "%"


@check("MR104", "Split weights do not add up to 100", Severity.WARNING)
def weights_sum(spec: MeshSpec) -> Iterator[Finding]:
    """Weights in range, not all zero, whose total is not 100: Istio normalises them, hiding the real shares."""
    for name, service in spec.services.items():
        split = service.traffic.split
        weights = list(split.values())
        if not split or any(not 0 <= w <= 100 for w in weights) or not any(weights):
            continue  # empty, or already an error (MR102, MR103)
        total = sum(weights)
        if total != 100:
            shares = ", ".join(f"{version} {_percent(100 * weight / total)}" for version, weight in split.items())
            yield finding("MR104", path("services", name, "traffic", "split"),
                          f"split weights add up to {total}, not 100; Istio treats them as relative shares "
                          f"({shares}); expected a total of 100, got {total}")


@check("MR105", "Routed version has empty labels (its subset selects every pod)", Severity.ERROR)
def empty_version_labels(spec: MeshSpec) -> Iterator[Finding]:
    """A version used by a split, match or mirror whose ``labels`` is explicitly ``{}``."""
    reported: set[tuple[str, str]] = set()
    for ref in version_refs(spec):
        target = spec.services.get(ref.target)
        detail = target.versions.get(ref.version) if target is not None else None
        if detail is None or version_labels(ref.version, detail) or (ref.target, ref.version) in reported:
            continue
        reported.add((ref.target, ref.version))
        yield finding("MR105", path("services", ref.target, "versions", ref.version, "labels"),
                      f"version {ref.version!r} has empty labels, so its subset selects every pod of "
                      f"{ref.target} and traffic routed to it (by {ref.path}) reaches all versions; expected "
                      f"labels that select only {ref.version}'s pods, or no labels key for the default "
                      f"{{version: {ref.version}}}, got {{}}")


@check("MR111", "Route or mirror to a service that is not defined", Severity.ERROR)
def undefined_service(spec: MeshSpec) -> Iterator[Finding]:
    """A match rule's or mirror's ``service`` names no service in ``services``."""
    for name, service in spec.services.items():
        traffic = service.traffic
        refs = [(path("services", name, "traffic", "matches", index, "service"), match.service)
                for index, match in enumerate(traffic.matches)]
        if traffic.mirror is not None:
            refs.append((path("services", name, "traffic", "mirror", "service"), traffic.mirror.service))
        for where, target in refs:
            if target is not None and target not in spec.services:
                yield finding("MR111", where,
                              f"routes to service {target!r}, which is not defined in services, so the route "
                              f"points at a host nothing serves; expected {one_of(spec.services)}, got {target!r}")


@check("MR120", "Retries cannot finish within the route timeout", Severity.WARNING)
def retries_exceed_timeout(spec: MeshSpec) -> Iterator[Finding]:
    """(attempts + 1) × perTryTimeout exceeds the route timeout: the timeout cuts the last tries off.

    ``attempts`` counts retries; the first try also gets ``perTryTimeout``. Only when both timeouts are set.
    """
    for name, service in spec.services.items():
        traffic, retries = service.traffic, service.traffic.retries
        if traffic.timeout is None or retries is None or retries.per_try_timeout is None or retries.attempts == 0:
            continue
        tries = retries.attempts + 1
        worst = tries * duration_seconds(retries.per_try_timeout)
        if worst > duration_seconds(traffic.timeout):
            yield finding("MR120", path("services", name, "traffic", "retries"),
                          f"{retries.attempts} retries plus the first try, {retries.per_try_timeout} each, need up "
                          f"to {worst:g}s but the route timeout is {traffic.timeout}, so the last tries are cut "
                          f"off; expected (attempts + 1) × perTryTimeout <= timeout {traffic.timeout}, "
                          f"got {tries} × {retries.per_try_timeout} = {worst:g}s")


@check("MR121", "Fault or mirror percentage Istio refuses (not 0 and not within 0.0001..100)", Severity.ERROR)
def percent_range(spec: MeshSpec) -> Iterator[Finding]:
    """Fault delay/abort ``percent`` or mirror ``percent`` below 0, above 100, or between 0 and 0.0001 (Istio's
    smallest percentage: it refuses anything finer, istio pkg/config/validation ``validatePercentage``)."""
    for name, service in spec.services.items():
        traffic = service.traffic
        values = []
        if traffic.fault is not None:
            if traffic.fault.delay is not None:
                values.append((("fault", "delay", "percent"), traffic.fault.delay.percent))
            if traffic.fault.abort is not None:
                values.append((("fault", "abort", "percent"), traffic.fault.abort.percent))
        if traffic.mirror is not None:
            values.append((("mirror", "percent"), traffic.mirror.percent))
        for keys, value in values:
            if not 0 <= value <= 100:
                yield finding("MR121", path("services", name, "traffic", *keys),
                              f"percent must be between 0 and 100, got {value:g}")
            elif 0 < value < 0.0001:
                yield finding("MR121", path("services", name, "traffic", *keys),
                              f"percent must be 0 or at least 0.0001 (Istio's smallest percentage), got {value:g}")


@check("MR122", "Fault injection in a production stack", Severity.ERROR)
def fault_in_production(spec: MeshSpec) -> Iterator[Finding]:
    """Any ``traffic.fault`` when ``production: true``."""
    if not spec.production:
        return
    for name, service in spec.services.items():
        fault = service.traffic.fault
        if fault is None:
            continue
        kinds = []
        if fault.delay is not None:
            kinds.append(f"delay of {fault.delay.fixed_delay} on {fault.delay.percent:g}% of requests")
        if fault.abort is not None:
            kinds.append(f"HTTP {fault.abort.http_status} on {fault.abort.percent:g}% of requests")
        yield finding("MR122", path("services", name, "traffic", "fault"),
                      f"fault injection is configured in a production stack (production: true), so real users "
                      f"get the injected faults; expected no fault in production, "
                      f"got {' and '.join(kinds) or 'an empty fault block'}")


def _names_protocol(name: str) -> bool:
    name = name.lower()
    return any(name == prefix or name.startswith(prefix + "-") for prefix in PROTOCOL_PREFIXES)


@check("MR180", "Port protocol not declared by name prefix or appProtocol", Severity.WARNING)
def port_protocol(spec: MeshSpec) -> Iterator[Finding]:
    """A port with no ``appProtocol`` whose name is missing or has no protocol prefix Istio recognises."""
    for name, service in spec.services.items():
        for index, port in enumerate(service.ports):
            if port.app_protocol is not None or (port.name is not None and _names_protocol(port.name)):
                continue
            given = f"name {port.name!r}" if port.name is not None else "no name"
            yield finding("MR180", path("services", name, "ports", index),
                          f"port {port.port} does not declare its protocol, so Istio falls back to protocol "
                          f"detection (plain TCP when it cannot tell: no HTTP routing, retries or L7 policy); "
                          f"expected a name <protocol>[-suffix] with protocol {one_of(PROTOCOL_PREFIXES)}, "
                          f"or appProtocol, got {given}")
