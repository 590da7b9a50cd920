"""Checks of routing and resilience: versions (subsets), weights, routed hosts, retries, fault injection, ports."""

from __future__ import annotations

from collections.abc import Iterator

import re2

from ..plan.naming import version_labels
from ..spec import HeaderMatch, MatchRule, MeshSpec, ServiceSpec, duration_seconds
from ._facts import KUBERNETES_APP_PROTOCOLS, declared_protocol, one_of, port_protocol, version_refs, yaml_map
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


def _routed_versions(spec: MeshSpec) -> set[tuple[str, str]]:
    """(service, version) pairs that receive traffic: a positive split weight, a match rule or a mirror."""
    routed = set()
    for name, service in spec.services.items():
        traffic = service.traffic
        routed |= {(name, version) for version, weight in traffic.split.items() if weight > 0}
        routed |= {(match.service or name, match.version) for match in traffic.matches}
        if traffic.mirror is not None and traffic.mirror.version is not None:
            routed.add((traffic.mirror.service or name, traffic.mirror.version))
    return routed


def _labels_text(labels: dict[str, str]) -> str:
    return "{" + ", ".join(f"{key}: {value}" for key, value in sorted(labels.items())) + "}"


@check("MR106", "Two versions of a service select the same pods (identical labels)", Severity.ERROR)
def identical_version_labels(spec: MeshSpec) -> Iterator[Finding]:
    """Two or more versions of one service whose labels (explicit, or the default ``{version: <name>}``) are
    identical: their subsets select the same pods. An error when at least two of them receive traffic (the split or
    match between them is meaningless), a warning otherwise. Empty labels are MR105."""
    routed = _routed_versions(spec)
    for name, service in spec.services.items():
        groups: dict[tuple[tuple[str, str], ...], list[str]] = {}
        for version, detail in service.versions.items():
            labels = version_labels(version, detail)
            if labels:
                groups.setdefault(tuple(sorted(labels.items())), []).append(version)
        for key, versions in groups.items():
            if len(versions) < 2:
                continue
            explicit = [v for v in versions if service.versions[v].labels is not None]
            # Blame the versions that wrote the labels; when all did, the first one keeps them.
            blamed = explicit if len(explicit) < len(versions) else versions[1:]
            used = [v for v in versions if (name, v) in routed]
            severity = Severity.ERROR if len(used) >= 2 else Severity.WARNING
            labels_text = _labels_text(dict(key))
            for version in blamed:
                others = ", ".join(v for v in versions if v != version)
                effect = (f"traffic routed to {', '.join(used)} reaches the same pods whichever version it names, so "
                          f"the split or match between them is meaningless (a canary gets live traffic on every "
                          f"pod, per-version metrics mean nothing)" if len(used) >= 2 else
                          "a route to one of them reaches the other's pods too")
                yield finding("MR106", path("services", name, "versions", version, "labels"),
                              f"version {version!r} selects the same pods as {others} (labels {labels_text}): their "
                              f"DestinationRule subsets are identical, and {effect}; expected labels that only "
                              f"{version}'s pods carry (e.g. {{version: {version}}}), got {labels_text}",
                              severity=severity)


def _pods(service: ServiceSpec, versions: frozenset[str] | None) -> frozenset[str]:
    """The versions whose pods a destination reaches: ``None`` is the whole service (every version, or ``*`` when
    the service defines none)."""
    if versions is not None:
        return versions
    return frozenset(service.versions) or frozenset({"*"})


@check("MR107", "Mirror to the same pods that already serve the traffic", Severity.WARNING)
def mirror_to_live_pods(spec: MeshSpec) -> Iterator[Finding]:
    """A mirror to this service (no ``service``, or its own name) whose version, or the whole service when no
    version is given, is exactly what the default route already sends the live traffic to: every mirrored request
    is handled a second time by the pods that served it."""
    for name, service in spec.services.items():
        traffic, mirror = service.traffic, service.traffic.mirror
        if mirror is None or (mirror.service or name) != name or not 0 < mirror.percent <= 100:
            continue  # no mirror, another service, or a percentage that is MR121's
        if mirror.version is not None and mirror.version not in service.versions:
            continue  # MR101
        if any(version not in service.versions for version in traffic.split):
            continue  # MR101
        live_versions = [version for version, weight in traffic.split.items() if weight > 0]
        if traffic.split and not live_versions:
            continue  # all weights zero: MR103
        live = _pods(service, frozenset(live_versions) if traffic.split else None)
        mirrored = _pods(service, frozenset({mirror.version}) if mirror.version is not None else None)
        if live != mirrored:
            continue
        target = f"version {mirror.version!r}" if mirror.version is not None else "the whole service (no version)"
        serving = (f"the split sends all live traffic to {', '.join(sorted(live_versions))}" if traffic.split
                   else "with no split the default route sends all live traffic to every pod of the service")
        where = ("mirror", "version") if mirror.version is not None else ("mirror",)
        yield finding("MR107", path("services", name, "traffic", *where),
                      f"mirrors {mirror.percent:g}% of requests to {target}, but {serving}: every mirrored request "
                      f"is handled twice by the same pods (duplicate writes and side effects, double load) and the "
                      f"mirror compares nothing; expected a version that receives no live traffic (e.g. a new v2 "
                      f"outside the split), or another service, got {target}")


def _header_implies(later: HeaderMatch, earlier: HeaderMatch) -> bool:
    """Whether every header value ``later`` matches is also matched by ``earlier`` (regexes compared as text,
    or against a later exact value)."""
    if earlier.exact is not None:
        return later.exact == earlier.exact
    if earlier.prefix is not None:
        value = later.exact if later.exact is not None else later.prefix
        return value is not None and value.startswith(earlier.prefix)
    if earlier.regex is not None:
        if later.regex is not None:
            return later.regex == earlier.regex
        return later.exact is not None and re2.fullmatch(earlier.regex, later.exact) is not None
    return False


def _shadows(earlier: MatchRule, later: MatchRule) -> bool:
    """Whether every request ``later`` matches is caught by ``earlier`` first (earlier's conditions are a subset of
    later's, each implied by one of later's)."""
    if earlier.uri_prefix is not None and (later.uri_prefix is None or not later.uri_prefix.startswith(
            earlier.uri_prefix)):
        return False
    later_headers = {header.lower(): value for header, value in later.headers.items()}
    for header, condition in earlier.headers.items():
        other = later_headers.get(header.lower())
        if other is None or not _header_implies(other, condition):
            return False
    return True


def _conditions(match: MatchRule) -> str:
    parts = [f"{header} {kind} {value!r}" for header, condition in match.headers.items()
             for kind in ("exact", "prefix", "regex") for value in [getattr(condition, kind)] if value is not None]
    if match.uri_prefix is not None:
        parts.append(f"uriPrefix {match.uri_prefix!r}")
    return " and ".join(parts)


@check("MR112", "Match rule never used: an earlier match catches all its requests", Severity.ERROR)
def shadowed_match(spec: MeshSpec) -> Iterator[Finding]:
    """A match rule whose requests all match an earlier rule of the same service (the earlier one's conditions are a
    subset of its own: the same header match, a shorter header or URI prefix, ``uriPrefix: /`` before ``/api``).
    Istio takes the first matching route, so the later rule is dead. An error when it routes somewhere else than
    the earlier one, a warning when both send the requests to the same place."""
    for name, service in spec.services.items():
        matches = service.traffic.matches
        for index, later in enumerate(matches):
            for first, earlier in enumerate(matches[:index]):
                if not _shadows(earlier, later):
                    continue
                same = (earlier.service or name, earlier.version) == (later.service or name, later.version)
                destination = f"{later.service or name} {later.version}"
                effect = (f"both send them to {destination} anyway: the rule is only dead weight" if same else
                          f"they go to {earlier.service or name} {earlier.version} instead of {destination}")
                yield finding("MR112", path("services", name, "traffic", "matches", index),
                              f"match {later.name!r} ({_conditions(later)}) is never used: every request it matches "
                              f"also matches the earlier match {earlier.name!r} (matches.{first}: "
                              f"{_conditions(earlier)}), and Istio takes the first matching route, so {effect}; "
                              f"expected the more specific match first (move {later.name!r} above "
                              f"{earlier.name!r}), got it after",
                              severity=Severity.WARNING if same else None)
                break


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
        values: list[tuple[tuple[str, ...], float]] = []
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
def undeclared_port_protocol(spec: MeshSpec) -> Iterator[Finding]:
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


@check("MR181", "Port appProtocol Istio does not recognise (the port name is then ignored)", Severity.WARNING)
def unknown_app_protocol(spec: MeshSpec) -> Iterator[Finding]:
    """A port whose ``appProtocol`` Istio does not recognise. Istio reads appProtocol instead of the port name, so a
    well-named port (``http-web``) with ``appProtocol: web`` is left to protocol detection (MR180 is silent: the
    port does declare an appProtocol)."""
    for name, service in spec.services.items():
        for index, port in enumerate(service.ports):
            if port.app_protocol is None or declared_protocol(port.app_protocol, app_protocol=True) is not None:
                continue
            named = declared_protocol(port.name or "")
            ignored = (f"; its name {port.name!r} declares {named}, but Istio does not read the name when "
                       f"appProtocol is set" if named is not None else "")
            fallback = ("plain TCP (a well-known port)" if port_protocol(port) == "TCP" else
                        "protocol detection (plain TCP when it cannot tell: no HTTP routing, retries or L7 policy)")
            known = one_of([*PROTOCOL_PREFIXES, "http_proxy", *KUBERNETES_APP_PROTOCOLS])
            yield finding("MR181", path("services", name, "ports", index, "appProtocol"),
                          f"port {port.port} declares appProtocol {port.app_protocol!r}, which Istio does not "
                          f"recognise, so it falls back to {fallback}{ignored}; expected {known} (optionally with "
                          f"a -suffix), or no appProtocol and a protocol name prefix, got {port.app_protocol!r}")
