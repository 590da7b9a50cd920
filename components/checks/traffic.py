"""Checks of routing and resilience: versions (subsets), weights, routed hosts, retries, fault injection, ports."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import re2

from ..plan.naming import version_labels
from ..plan.traffic import tcp_only, tcp_ports
from ..spec import HeaderMatch, MatchRule, MeshSpec, ServiceSpec, duration_seconds
from ..spec.traffic import (
    ROUTE_DEFAULTS,
    FaultSpec,
    LoadBalancerSpec,
    MirrorSpec,
    QueryParamMatch,
    RouteSettings,
    TrafficSpec,
)
from ._facts import KUBERNETES_APP_PROTOCOLS, declared_protocol, one_of, port_protocol, version_refs, yaml_map
from .registry import Finding, Severity, check, finding, path

#: Port name prefixes (``<protocol>`` or ``<protocol>-<suffix>``) Istio reads the protocol from.
PROTOCOL_PREFIXES = ("http", "http2", "https", "grpc", "grpc-web", "tcp", "tls", "mongo", "mysql", "redis", "udp")

#: Every route setting, compared when deciding whether a shadowed match changes anything (MR112).
_ROUTE_KEYS = tuple(RouteSettings.model_fields)


def _routes(traffic: TrafficSpec) -> list[tuple[RouteSettings | None, tuple[Any, ...]]]:
    """Each HTTP route with the config path of its settings: the match rules, then the default route."""
    return [*((match, ("matches", index)) for index, match in enumerate(traffic.matches)),
            (traffic.default_route, ("defaultRoute",))]


def _route_setting(route: RouteSettings | None, traffic: TrafficSpec, setting: str,
                   where: tuple[Any, ...]) -> tuple[Any, tuple[Any, ...]]:
    """What a route ends up with for ``setting`` (timeout, retries, fault, mirror), and the path of the key that
    decided it: the route's own key, or the service default's."""
    if route is not None and not route.inherits(setting):
        return getattr(route, setting), (*where, setting)  # a redirect route inherits nothing: None
    return getattr(traffic, setting), (setting,)


def _written(traffic: TrafficSpec, setting: str) -> list[tuple[tuple[Any, ...], Any]]:
    """Every ``setting`` written in the config (service default, match rules, default route) with its path."""
    found = [((setting,), getattr(traffic, setting))]
    found += [((*where, setting), getattr(route, setting)) for route, where in _routes(traffic) if route is not None]
    return [(where, value) for where, value in found if value is not None]


def _mirrors(traffic: TrafficSpec) -> list[tuple[tuple[Any, ...], MirrorSpec]]:
    return _written(traffic, "mirror")


def _faults(traffic: TrafficSpec) -> list[tuple[tuple[Any, ...], FaultSpec]]:
    return _written(traffic, "fault")


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
        routed |= {(match.service or name, match.version) for match in traffic.matches
                   if match.version is not None and match.redirect is None}
        routed |= {(mirror.service or name, mirror.version) for _, mirror in _mirrors(traffic)
                   if mirror.version is not None}
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
        traffic = service.traffic
        mirror, where_from = _route_setting(traffic.default_route, traffic, "mirror", ("defaultRoute",))
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
        where = (*where_from, "version") if mirror.version is not None else where_from
        yield finding("MR107", path("services", name, "traffic", *where),
                      f"mirrors {mirror.percent:g}% of requests to {target}, but {serving}: every mirrored request "
                      f"is handled twice by the same pods (duplicate writes and side effects, double load) and the "
                      f"mirror compares nothing; expected a version that receives no live traffic (e.g. a new v2 "
                      f"outside the split), or another service, got {target}")


def _header_implies(later: HeaderMatch | QueryParamMatch, earlier: HeaderMatch | QueryParamMatch) -> bool:
    """Whether every value ``later`` matches is also matched by ``earlier`` (regexes compared as text, or against a
    later exact value). Works for headers, paths, methods and query parameters alike."""
    later_prefix = getattr(later, "prefix", None)
    earlier_prefix = getattr(earlier, "prefix", None)
    if earlier.exact is not None:
        return later.exact == earlier.exact
    if earlier_prefix is not None:
        value = later.exact if later.exact is not None else later_prefix
        return value is not None and value.startswith(earlier_prefix)
    if earlier.regex is not None:
        if later.regex is not None:
            return later.regex == earlier.regex
        return later.exact is not None and re2.fullmatch(earlier.regex, later.exact) is not None
    return False


def _lower(conditions: Mapping[str, Any]) -> dict[str, Any]:
    return {header.lower(): value for header, value in conditions.items()}


def _shadows(earlier: MatchRule, later: MatchRule) -> bool:
    """Whether every request ``later`` matches is caught by ``earlier`` first: each condition of ``earlier`` is
    implied by one of ``later``'s (no report when unsure)."""
    for first, second in ((earlier.path_match(), later.path_match()), (earlier.method, later.method)):
        if first is not None and (second is None or not _header_implies(second, first)):
            return False
    later_headers = _lower(later.headers)  # header names compare without case, query parameters with it
    for header, condition in earlier.headers.items():
        other = later_headers.get(header.lower())
        if other is None or not _header_implies(other, condition):
            return False
    for name, parameter in earlier.query_params.items():
        other_parameter = later.query_params.get(name)
        if other_parameter is None or not _header_implies(other_parameter, parameter):
            return False
    later_without = _lower(later.without_headers)
    for header, condition in earlier.without_headers.items():
        # earlier excludes the values `condition` matches; later must exclude at least those.
        other = later_without.get(header.lower())
        if other is None or not _header_implies(condition, other):
            return False
    return True


def _conditions(match: MatchRule) -> str:
    def kinds(prefix: str, condition: HeaderMatch | QueryParamMatch) -> list[str]:
        return [f"{prefix} {kind} {value!r}" for kind in ("exact", "prefix", "regex")
                for value in [getattr(condition, kind, None)] if value is not None]

    parts = [part for header, condition in match.headers.items() for part in kinds(header, condition)]
    if match.uri_prefix is not None:
        parts.append(f"uriPrefix {match.uri_prefix!r}")
    elif match.uri is not None:
        parts += kinds("uri", match.uri)
    if match.method is not None:
        parts += kinds("method", match.method)
    parts += [part for name, condition in match.query_params.items() for part in kinds(f"query {name}", condition)]
    parts += [f"not {part}" for header, condition in match.without_headers.items()
              for part in kinds(header, condition)]
    return " and ".join(parts)


def _target(name: str, match: MatchRule) -> str:
    if match.redirect is not None:
        return "a redirect"
    return f"{match.service or name} {match.version}" if match.version else f"{match.service or name}"


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
                same = _target(name, earlier) == _target(name, later) and all(
                    getattr(earlier, key) == getattr(later, key) for key in _ROUTE_KEYS)
                destination = _target(name, later)
                effect = (f"both send them to {destination} with the same settings anyway: the rule is only dead "
                          f"weight" if same else
                          f"they go to {_target(name, earlier)} with {earlier.name!r}'s settings instead of to "
                          f"{destination}")
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
        refs += [(path("services", name, "traffic", *where, "service"), mirror.service)
                 for where, mirror in _mirrors(traffic)]
        for where, target in refs:
            if target is not None and target not in spec.services:
                yield finding("MR111", where,
                              f"routes to service {target!r}, which is not defined in services, so the route "
                              f"points at a host nothing serves; expected {one_of(spec.services)}, got {target!r}")


@check("MR120", "Retries cannot finish within the route timeout", Severity.WARNING)
def retries_exceed_timeout(spec: MeshSpec) -> Iterator[Finding]:
    """(attempts + 1) × perTryTimeout exceeds the route timeout: the timeout cuts the last tries off.

    ``attempts`` counts retries; the first try also gets ``perTryTimeout``. Only when both timeouts are set. Each
    route is checked with what it ends up with (its own setting, else the service default); the finding is at the
    route's own retries or timeout when it gives one (an override that contradicts the default), else at
    ``traffic.retries``, once.
    """
    for name, service in spec.services.items():
        traffic = service.traffic
        reported: set[tuple[str, ...]] = set()
        for route, where in _routes(traffic):
            timeout, timeout_at = _route_setting(route, traffic, "timeout", where)
            retries, retries_at = _route_setting(route, traffic, "retries", where)
            if timeout is None or retries is None or retries.per_try_timeout is None or retries.attempts == 0:
                continue
            tries = retries.attempts + 1
            worst = tries * duration_seconds(retries.per_try_timeout)
            if worst <= duration_seconds(timeout):
                continue
            blamed = retries_at if retries_at != ("retries",) else timeout_at if timeout_at != ("timeout",) else \
                retries_at
            if blamed in reported:
                continue
            reported.add(blamed)
            origin = "" if blamed == ("retries",) else (
                f" (route {'default' if route is None or not where else where[-1]}: retries from "
                f"{'the route' if retries_at != ('retries',) else 'the service default'}, timeout from "
                f"{'the route' if timeout_at != ('timeout',) else 'the service default'})")
            yield finding("MR120", path("services", name, "traffic", *blamed),
                          f"{retries.attempts} retries plus the first try, {retries.per_try_timeout} each, need up "
                          f"to {worst:g}s but the route timeout is {timeout}{origin}, so the last tries are cut "
                          f"off; expected (attempts + 1) × perTryTimeout <= timeout {timeout}, "
                          f"got {tries} × {retries.per_try_timeout} = {worst:g}s")


@check("MR121", "Fault or mirror percentage Istio refuses (not 0 and not within 0.0001..100)", Severity.ERROR)
def percent_range(spec: MeshSpec) -> Iterator[Finding]:
    """Fault delay/abort ``percent`` or mirror ``percent`` below 0, above 100, or between 0 and 0.0001 (Istio's
    smallest percentage: it refuses anything finer, istio pkg/config/validation ``validatePercentage``)."""
    for name, service in spec.services.items():
        traffic = service.traffic
        values: list[tuple[tuple[Any, ...], float]] = []
        for where, fault in _faults(traffic):
            if fault.delay is not None:
                values.append(((*where, "delay", "percent"), fault.delay.percent))
            if fault.abort is not None:
                values.append(((*where, "abort", "percent"), fault.abort.percent))
        values += [((*where, "percent"), mirror.percent) for where, mirror in _mirrors(traffic)]
        for keys, value in values:
            if not 0 <= value <= 100:
                yield finding("MR121", path("services", name, "traffic", *keys),
                              f"percent must be between 0 and 100, got {value:g}")
            elif 0 < value < 0.0001:
                yield finding("MR121", path("services", name, "traffic", *keys),
                              f"percent must be 0 or at least 0.0001 (Istio's smallest percentage), got {value:g}")


@check("MR122", "Fault injection in a production stack", Severity.ERROR)
def fault_in_production(spec: MeshSpec) -> Iterator[Finding]:
    """Any fault (``traffic.fault``, a match rule's or the default route's) when ``production: true``."""
    if not spec.production:
        return
    for name, service in spec.services.items():
        for where, fault in _faults(service.traffic):
            kinds = []
            if fault.delay is not None:
                kinds.append(f"delay of {fault.delay.fixed_delay} on {fault.delay.percent:g}% of requests")
            if fault.abort is not None:
                kinds.append(f"HTTP {fault.abort.http_status} on {fault.abort.percent:g}% of requests")
            yield finding("MR122", path("services", name, "traffic", *where),
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


@check("MR280", "Route setting repeats the service default (the override changes nothing)", Severity.WARNING)
def redundant_override(spec: MeshSpec) -> Iterator[Finding]:
    """A match rule or the default route gives timeout, retries, fault or mirror with exactly the value of the
    service-level default it would inherit anyway. Usually the default was changed and the copy was forgotten."""
    for name, service in spec.services.items():
        traffic = service.traffic
        for route, where in _routes(traffic):
            if route is None or route.redirect is not None:
                continue
            for setting in ROUTE_DEFAULTS:
                default = getattr(traffic, setting)
                if route.inherits(setting) or default is None or getattr(route, setting) != default:
                    continue
                yield finding("MR280", path("services", name, "traffic", *where, setting),
                              f"this route sets {setting} to the value the service default traffic.{setting} "
                              f"already gives it, so the override changes nothing and silently stops following the "
                              f"default when that changes; expected a value different from the default, or no "
                              f"{setting} key here (the route inherits it), got the same value")


@check("MR281", "Redirect route with a destination", Severity.ERROR)
def redirect_with_destination(spec: MeshSpec) -> Iterator[Finding]:
    """A match rule with ``redirect`` that also names a ``version`` or ``service``, or a ``defaultRoute.redirect``
    next to a ``split``. Istio refuses a route with both (``HTTP route cannot contain both route and redirect``);
    the plan keeps the redirect, so the destination would be silently dropped."""
    for name, service in spec.services.items():
        traffic = service.traffic
        for index, match in enumerate(traffic.matches):
            if match.redirect is None:
                continue
            for key in ("version", "service"):
                value = getattr(match, key)
                if value is not None:
                    yield finding("MR281", path("services", name, "traffic", "matches", index, key),
                                  f"match {match.name!r} redirects, so the proxy answers it and forwards nothing: "
                                  f"its {key} {value!r} never receives these requests (Istio refuses a route with "
                                  f"both a redirect and a destination); expected redirect alone, or no redirect, "
                                  f"got both")
        if traffic.default_route is not None and traffic.default_route.redirect is not None and traffic.split:
            yield finding("MR281", path("services", name, "traffic", "split"),
                          f"the default route redirects (defaultRoute.redirect), so the split "
                          f"{yaml_map(traffic.split)} never receives a request (Istio refuses a route with both a "
                          f"redirect and a destination); expected no split with a default redirect, got both")


def _any_origin(origin: HeaderMatch) -> bool:
    """Whether an allowOrigins entry matches every origin (or every origin of a scheme)."""
    if origin.exact is not None:
        return origin.exact == "*"
    if origin.prefix is not None:
        return origin.prefix.rstrip("/:") in ("http", "https", "*") or origin.prefix in ("h", "ht", "htt")
    return origin.regex is not None and any(
        re2.fullmatch(origin.regex, sample) is not None for sample in ("https://attacker.invalid",
                                                                       "http://attacker.invalid"))


@check("MR282", "CORS allows credentials from any origin", Severity.ERROR)
def cors_credentials_any_origin(spec: MeshSpec) -> Iterator[Finding]:
    """``cors.allowCredentials: true`` with an ``allowOrigins`` entry that matches any origin (``exact: "*"``, a
    ``regex`` such as ``.*``, a ``prefix`` such as ``https://``). Envoy answers a matched origin by echoing it, so
    any web site a logged-in user visits can read this service's responses with the user's cookies."""
    for name, service in spec.services.items():
        for route, where in _routes(service.traffic):
            cors = route.cors if route is not None else None
            if cors is None or not cors.allow_credentials:
                continue
            for index, origin in enumerate(cors.allow_origins):
                if _any_origin(origin):
                    given = next(f"{kind} {value!r}" for kind in ("exact", "prefix", "regex")
                                 for value in [getattr(origin, kind)] if value is not None)
                    yield finding("MR282", path("services", name, "traffic", *where, "cors", "allowOrigins", index),
                                  f"allowCredentials is true and this origin ({given}) matches any web site, and "
                                  f"Envoy echoes the caller's origin: any page a logged-in user opens can read "
                                  f"responses sent with the user's cookies; expected the exact origins of your own "
                                  f"front ends (e.g. exact 'https://shop.example.com'), got {given}")


def _balancers(service: ServiceSpec) -> list[tuple[tuple[Any, ...], LoadBalancerSpec]]:
    traffic = service.traffic
    found: list[tuple[tuple[Any, ...], LoadBalancerSpec | None]] = [(("loadBalancer",), traffic.load_balancer)]
    found += [(("portPolicies", port, "loadBalancer"), item.load_balancer)
              for port, item in traffic.port_policies.items()]
    return [(where, balancer) for where, balancer in found if balancer is not None]


def _match_headers(traffic: TrafficSpec) -> set[str]:
    """Header names (lower case) some match rule requires."""
    return {header.lower() for match in traffic.matches for header in match.headers}


@check("MR283", "Sticky sessions hash on a header no match rule requires", Severity.WARNING)
def hash_header_not_required(spec: MeshSpec) -> Iterator[Finding]:
    """``consistentHash.httpHeaderName`` names a header that no match rule of the service requires. Requests without
    it get no hash and are spread like without stickiness; when the header is a routing key the match rules use,
    every request that reaches those routes carries it."""
    for name, service in spec.services.items():
        required = _match_headers(service.traffic)
        for where, balancer in _balancers(service):
            header = balancer.consistent_hash.http_header_name if balancer.consistent_hash else None
            if header is None or header.lower() in required:
                continue
            used = ", ".join(sorted(required)) or "none"
            yield finding("MR283", path("services", name, "traffic", *where, "consistentHash", "httpHeaderName"),
                          f"sticky sessions hash on header {header!r}, which no match rule requires, so nothing "
                          f"makes callers send it: requests without it get no hash and are load balanced as if "
                          f"stickiness were off; expected a header the match rules require (they require: {used}), "
                          f"or httpCookie with a ttl (Envoy then sets the cookie itself), got {header!r}")


@check("MR284", "Port policy load balancer drops the service's sticky sessions", Severity.WARNING)
def port_drops_hash(spec: MeshSpec) -> Iterator[Finding]:
    """The service balances with ``consistentHash`` but a ``portPolicies`` entry gives its port another load
    balancer (``simple: LEAST_REQUEST``...): a port-level load balancer replaces the service-level one, so that
    port loses its sticky sessions."""
    for name, service in spec.services.items():
        balancer = service.traffic.load_balancer
        if balancer is None or balancer.consistent_hash is None:
            continue
        for port, item in service.traffic.port_policies.items():
            own = item.load_balancer
            if own is None or own.consistent_hash is not None or own.simple is None:
                continue
            yield finding("MR284", path("services", name, "traffic", "portPolicies", port, "loadBalancer", "simple"),
                          f"the service keeps sessions sticky (loadBalancer.consistentHash), but port {port} "
                          f"balances with {own.simple.value}, which replaces the consistent hash on that port: its "
                          f"requests are no longer sticky; expected the port to keep consistentHash (or no "
                          f"loadBalancer of its own), got simple {own.simple.value}")


@check("MR285", "Sticky sessions on a service whose traffic is split between versions", Severity.WARNING)
def hash_with_split(spec: MeshSpec) -> Iterator[Finding]:
    """``consistentHash`` on a service whose split sends traffic to two or more versions. The version is chosen per
    request before the hash, so a user's requests alternate between versions (each version has its own pods), and
    every weight change moves users again: the stickiness holds within a version only."""
    for name, service in spec.services.items():
        traffic = service.traffic
        live = [version for version, weight in traffic.split.items() if weight > 0]
        for where, balancer in _balancers(service):
            if balancer.consistent_hash is None or len(live) < 2:
                continue
            yield finding("MR285", path("services", name, "traffic", *where, "consistentHash"),
                          f"sessions are sticky by consistent hash, but the split sends each request to "
                          f"{', '.join(live)} by weight first ({yaml_map(traffic.split)}), so a user's requests "
                          f"alternate between versions and every weight change moves them again; expected a match "
                          f"rule that pins a user to a version (e.g. on the same header or cookie), or no split, "
                          f"got a split between {len(live)} versions")


@check("MR286", "Locality failover without outlier detection (Istio ignores it)", Severity.ERROR)
def failover_without_outlier_detection(spec: MeshSpec) -> Iterator[Finding]:
    """``localityLbSetting.failover`` on a service (or port) with no ``circuitBreaker``: Istio applies locality
    failover only with outlier detection, which the circuit breaker sets. Without it, the failover is silently
    ignored and traffic never leaves an unhealthy region."""
    for name, service in spec.services.items():
        traffic = service.traffic
        for where, balancer in _balancers(service):
            locality = balancer.locality_lb_setting
            if locality is None or not locality.failover:
                continue
            port_breaker = traffic.port_policies[where[1]].circuit_breaker if where[0] == "portPolicies" else None
            if traffic.circuit_breaker is not None or port_breaker is not None:
                continue
            yield finding("MR286", path("services", name, "traffic", *where, "localityLbSetting", "failover"),
                          "locality failover is configured, but Istio applies it only with outlier detection and "
                          "this service has none, so the failover is silently ignored and traffic stays in an "
                          "unhealthy region; expected traffic.circuitBreaker (it sets outlierDetection), got no "
                          "circuitBreaker")


#: HTTP-only route settings of a service's traffic (MR287).
_HTTP_SETTINGS = (("matches", "matches"), ("default_route", "defaultRoute"), ("timeout", "timeout"),
                  ("retries", "retries"), ("fault", "fault"), ("mirror", "mirror"))


@check("MR287", "HTTP route setting on a service whose ports are all TCP", Severity.ERROR)
def http_settings_on_tcp(spec: MeshSpec) -> Iterator[Finding]:
    """A service whose declared ports are all opaque TCP (tcp, mongo, mysql, redis by name or appProtocol) with
    matches, a default route, timeout, retries, fault or mirror. Its VirtualService has only TCP routes (the split
    applies to them); the HTTP settings would never apply, so the plan would silently drop them."""
    for name, service in spec.services.items():
        if not tcp_only(service):
            continue
        ports = ", ".join(str(port) for port in tcp_ports(service))
        for attribute, key in _HTTP_SETTINGS:
            if getattr(service.traffic, attribute):
                yield finding("MR287", path("services", name, "traffic", key),
                              f"every port of this service is opaque TCP ({ports}), so Istio routes its connections "
                              f"with TCP routes, where {key} does not exist (only the split applies); expected no "
                              f"{key}, or an HTTP port (name http-..., or appProtocol http), got {key} on a TCP "
                              f"service")


@check("MR288", "Port policy for a port the service does not declare", Severity.ERROR)
def undeclared_policy_port(spec: MeshSpec) -> Iterator[Finding]:
    """A ``portPolicies`` entry for a port number the service's ``ports`` do not list (only when it lists ports).
    The DestinationRule's portLevelSettings then apply to no port, so the policy is silently ignored."""
    for name, service in spec.services.items():
        declared = [port.port for port in service.ports]
        if not declared:
            continue
        for port in service.traffic.port_policies:
            if port not in declared:
                yield finding("MR288", path("services", name, "traffic", "portPolicies", port),
                              f"port {port} is not a port of this service, so its policy applies to no traffic; "
                              f"expected {one_of(declared)}, got {port}")
