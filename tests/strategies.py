"""Hypothesis strategies for mesh configuration, written the way a stack file writes it: plain data, camelCase keys.

- :func:`meshes`: valid, coherent meshes (namespaces, services, ports, versions, splits that add up to 100, match
  rules, Go-style durations, retries, circuit breakers, faults, mirrors, allow-lists, mTLS exceptions, gateways and
  exposure, observability). Coherent means the cross-resource checks find no error: every routed version exists,
  every non-external caller is a workload of the mesh, tlsMode agrees with the effective mTLS mode, and so on.
  They reach the edges of the valid range, next to what the spec refuses (:data:`VALID_RANGE_EDGES`): header
  regexes up to the 1024 bytes istioctl allows, header names of letters, digits, ``-`` and ``_`` up to 64
  characters, hosts, wildcard hosts and cluster domains with all-numeric labels anywhere but last, path templates
  (``{*}``, one ``{**}`` and only literals after it), non-standard upper-case methods, ``selector: {}`` on
  services without an allow-list or mTLS exception, gateway and istiod replica counts up to int32 with
  ``autoscaleMax`` from ``replicas`` (equal included) up, namespace revisions of up to 63 characters.
- :data:`CORRUPTIONS` and :func:`corrupted`: a valid mesh with one targeted corruption at a known config path. The
  kinds cover every rule of the spec, among them: split weights beyond int32; header regexes that are empty,
  longer than 1024 characters or use ``\\C``; header names outside ``[-_A-Za-z0-9]``; empty methods and paths;
  ``{**}`` twice in a path; all-numeric top-level labels in hosts and the cluster domain; trailing newlines in
  every kind of name, label key and value, host, domain and revision; gateways named after a control plane
  release; a gateway ``autoscaleMax`` below its ``replicas``; a namespace revision that is not a DNS label;
  snake_case synonyms of camelCase keys (``retry_on``), unknown keys since parse_mesh takes camelCase only.
- :func:`empty_selector_exceptions`: a valid mesh in which one service gets ``selector: {}`` and an mTLS workload
  exception with a mode or port modes, which parse_mesh accepts (each part is valid) and check MR197 reports.
- :func:`junk` and :func:`grafted_junk`: arbitrary JSON-like data, alone or replacing a random part of a valid mesh.

Kept out of :func:`meshes` because istioctl refuses (or warns about) them although the spec accepts them: gaps in
the spec, reported separately rather than hidden here. Path templates beyond the rules above (``/a/{**}/{*}``,
``/a{*}``, ``/{*}//x``, ``/v1/{*}/a*``); ``*.`` followed by a single all-numeric label (``*.123``) and an
all-numeric one-label cluster domain (``42``); a cluster domain so long that ``<service>.<namespace>.svc.<domain>``
exceeds 255 characters; regexes of at most 1024 characters but more than 1024 UTF-8 bytes; regex syntax C++ RE2
takes and Go's regexp refuses (non-ASCII group names ``(?P<é>x)``, multi-word script names ``\\p{Linear_B}`` with
Go 1.26); ``selector: {}`` with an mTLS workload exception of mode UNSET (istioctl warns: selector without labels).
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

#: Go's largest duration (int64 nanoseconds), in whole milliseconds.
MAX_DURATION_MS = (2**63 - 1) // 10**6
INT32_MAX = 2**31 - 1
UINT32_MAX = 2**32 - 1

# ---------------------------------------------------------------------------------------------------- building blocks

NAME_POOL = ("shop", "payment", "order", "catalog", "frontend", "edge", "legacy", "billing", "api", "db", "web",
             "istio-ingress", "monitoring", "tracing", "a", "x1")


@functools.cache
def dns_labels(max_length: int = 63) -> st.SearchStrategy[str]:
    """Kubernetes DNS labels (lowercase, digits, '-'), realistic names first, up to ``max_length`` characters."""
    inner = max(max_length - 2, 0)
    generated = st.from_regex(rf"[a-z]([-a-z0-9]{{0,{inner}}}[a-z0-9])?", fullmatch=True)
    return st.one_of(st.sampled_from([n for n in NAME_POOL if len(n) <= max_length]), generated)


@functools.cache
def unique_names(min_size: int = 0, max_size: int = 4, exclude: frozenset[str] = frozenset(),
                 max_length: int = 63) -> st.SearchStrategy[list[str]]:
    return st.lists(dns_labels(max_length).filter(lambda n: n not in exclude), min_size=min_size, max_size=max_size,
                    unique=True)


_LABEL_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,20}[A-Za-z0-9])?"
#: Label keys the namespace enrollment sets (a user label among these conflicts with the mode: check MR150).
INJECTION_LABELS = ("istio-injection", "istio.io/rev", "istio.io/dataplane-mode")


@functools.cache
def label_keys() -> st.SearchStrategy[str]:
    prefix = st.sampled_from(["", "example.com/", "app.kubernetes.io/", "team.corp.example/"])
    key = st.builds(lambda p, n: p + n, prefix, st.from_regex(_LABEL_NAME, fullmatch=True))
    return st.one_of(st.sampled_from(["app", "version", "tier", "track"]), key).filter(
        lambda k: k not in INJECTION_LABELS)


@functools.cache
def label_values(allow_empty: bool = True) -> st.SearchStrategy[str]:
    values = st.one_of(st.sampled_from(["v1", "stable", "canary", "blue"]), st.from_regex(_LABEL_NAME, fullmatch=True))
    return st.one_of(st.just(""), values) if allow_empty else values


@functools.cache
def labels(min_size: int = 0, max_size: int = 3) -> st.SearchStrategy[dict[str, str]]:
    """Kubernetes labels (``min_size=1`` for selectors: an empty selector selects every workload)."""
    return st.dictionaries(label_keys(), label_values(), min_size=min_size, max_size=max_size)


@functools.cache
def domain_labels(numeric: bool = True) -> st.SearchStrategy[str]:
    """Labels of a domain name: letters of either case, digits, '-', up to 63 characters; all-numeric ones too
    unless ``numeric`` is false (then digits with a letter or '-': ``3com``, ``0-1``)."""
    if numeric:
        return st.one_of(st.from_regex(r"[a-zA-Z0-9]([-a-zA-Z0-9]{0,10}[a-zA-Z0-9])?", fullmatch=True),
                         st.from_regex(r"[0-9]{1,6}", fullmatch=True),
                         st.from_regex(r"[a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?", fullmatch=True))
    return st.one_of(st.from_regex(r"[a-zA-Z]([-a-zA-Z0-9]{0,10}[a-zA-Z0-9])?", fullmatch=True),
                     st.from_regex(r"[0-9]{1,3}([a-zA-Z]|-[0-9])", fullmatch=True),
                     st.from_regex(r"[a-zA-Z]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?", fullmatch=True))


@functools.cache
def domains(max_length: int = 253) -> st.SearchStrategy[str]:
    """Domain names as Istio validates hosts, at least two labels, at most ``max_length`` characters. Any label
    may be all digits (``123.example.com``) but the last: Istio refuses an all-numeric top-level domain."""
    return st.tuples(st.lists(domain_labels(), min_size=1, max_size=4), domain_labels(numeric=False)).map(
        lambda parts: ".".join([*parts[0], parts[1]])).filter(lambda domain: len(domain) <= max_length)


@st.composite
def whole_seconds(draw) -> str:
    """A duration of a whole number of seconds (what a CORS maxAge may be), in one of Go's spellings."""
    seconds = draw(st.integers(1, 86_400))
    return draw(st.sampled_from([f"{seconds}s", f"{seconds * 1000}ms", f"{seconds // 60}m{seconds % 60}s"]))


@st.composite
def durations(draw, min_ms: int = 1, max_ms: int = MAX_DURATION_MS) -> tuple[str, int]:
    """A Go-style duration string Istio accepts and its length in milliseconds: ``250ms``, ``2s``, ``1.5s``,
    ``1m30s``, ``2000us``, ``1h0m0s``, ``.5s``, ``1000000ns``…"""
    if min_ms > max_ms:
        raise ValueError(f"no duration between {min_ms}ms and {max_ms}ms")
    small = st.integers(min_ms, min(max_ms, max(min_ms, 120_000)))
    ms = draw(st.one_of(small, st.integers(min_ms, max_ms)))
    forms = [f"{ms}ms", f"{ms * 1000}us", f"{ms * 1000}\u00b5s", f"{ms * 10**6}ns", f"0{ms}ms"]
    seconds = Decimal(ms) / 1000
    text = format(seconds.normalize(), "f")
    forms.append(f"{text}s")
    if text.startswith("0."):
        forms.append(f"{text[1:]}s")  # ".25s"
    if ms % 1000 == 0:
        forms.append(f"{ms // 1000}.s")  # Go accepts a trailing dot
        forms.append(f"{ms // 1000}.000s")
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    parts = [(hours, "h"), (minutes, "m"), (secs, "s"), (millis, "ms")]
    forms.append("".join(f"{value}{unit}" for value, unit in parts if value) or "0s")
    forms.append("".join(f"{value}{unit}" for value, unit in parts))  # "0h1m30s0ms"
    return draw(st.sampled_from(forms)), ms


@functools.cache
def percents() -> st.SearchStrategy[float]:
    """Fault and mirror percentages Istio accepts: 0, or 0.0001 (its precision) to 100."""
    return st.one_of(st.just(0), st.integers(1, 100), st.floats(0.0001, 100, allow_nan=False, allow_infinity=False),
                     st.sampled_from([0.0001, 0.5, 12.5, 99.9999, 100.0]))


def split_weights(versions: list[str]) -> st.SearchStrategy[dict[str, int]]:
    """Integer weights over ``versions`` that add up to 100."""
    cuts = st.lists(st.integers(0, 100), min_size=len(versions) - 1, max_size=len(versions) - 1).map(sorted)
    return cuts.map(lambda c: {v: hi - lo for v, lo, hi in zip(versions, [0, *c], [*c, 100], strict=True)})


#: Header names the spec accepts: Istio's rule (RFC 7230 tokens, pseudo-headers, JWT claim routes).
HEADER_NAMES = st.one_of(st.sampled_from(["x-user-segment", "x-region", "X-Canary", "end-user", "x_debug", "_", "-",
                                          "0", "X_Debug_2", "x-b3-traceid", "123", "x.seg", "x~seg!", ":authority",
                                          ":path", "@request.auth.claims.group"]),
                         st.from_regex(r"[-_A-Za-z0-9.!#$%&'*+^`|~]{1,64}", fullmatch=True)).filter(
    lambda name: not name.lower().startswith("x-route-"))  # reserved for the markers of :func:`meshes`
_HEADER_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=12)


#: The longest header regex istioctl accepts (it refuses longer ones, and so does the spec).
MAX_REGEX_LENGTH = 1024


@functools.cache
def re2_regexes() -> st.SearchStrategy[str]:
    """Small regular expressions valid for RE2 and for Go's regexp (what istioctl compiles with)."""
    atoms = st.one_of(
        st.from_regex(r"[a-z0-9]{1,4}", fullmatch=True),
        st.sampled_from([".", r"\d", r"\w", r"\.", r"\-", "[a-z]", "[0-9A-F]", "[^/]", r"\s", "[[:alpha:]]", r"\pL",
                         r"\p{Greek}", r"\PN", r"\x41", r"\x{263a}", r"\Q.*\E", "(?i:ab)", r"\\", r"\\C",
                         "[\\-_]", r"\b", "\u00e9", "\U0001f600"]))

    def extend(children):
        quantified = st.tuples(children, st.sampled_from(["*", "+", "?", "{2}", "{1,3}", "*?"])).map(
            lambda t: f"(?:{t[0]}){t[1]}")
        return st.one_of(
            st.lists(children, min_size=2, max_size=3).map("".join),
            st.lists(children, min_size=2, max_size=3).map(lambda xs: "(" + "|".join(xs) + ")"),
            quantified,
        )

    body = st.recursive(atoms, extend, max_leaves=6)
    return st.tuples(st.sampled_from(["", "^"]), body, st.sampled_from(["", "$"])).map("".join)


@st.composite
def long_regexes(draw) -> str:
    """Regular expressions of any length up to :data:`MAX_REGEX_LENGTH` UTF-8 bytes (exactly that often): a small
    one with literal text (or ``(?:…)`` groups of it) inserted after its anchor. Bytes, not characters: istioctl
    measures the length in bytes (see module doc)."""
    small = draw(re2_regexes())
    size = len(small.encode())
    length = draw(st.one_of(st.sampled_from([MAX_REGEX_LENGTH, MAX_REGEX_LENGTH - 1, 256]),
                            st.integers(size, MAX_REGEX_LENGTH)))
    room = max(length - size, 0)
    unit = draw(st.sampled_from(["a", "x9", "(?:ab|c)", "[a-z]", r"\d"]))
    padding = unit * (room // len(unit)) + "z" * (room % len(unit))
    anchor = "^" if small.startswith("^") else ""
    return anchor + padding + small[len(anchor):]


@functools.cache
def header_matches() -> st.SearchStrategy[dict[str, str]]:
    return st.one_of(
        _HEADER_TEXT.map(lambda v: {"exact": v}),
        _HEADER_TEXT.filter(bool).map(lambda v: {"prefix": v}),
        re2_regexes().map(lambda v: {"regex": v}),
        long_regexes().map(lambda v: {"regex": v}),
    )


@functools.cache
def uri_prefixes() -> st.SearchStrategy[str]:
    return st.from_regex(r"/([-a-zA-Z0-9_.~]{1,8}/?){0,3}", fullmatch=True)


#: Methods of allow rules: standard ones and others clients send in upper case (MR142 refuses lower case).
HTTP_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE", "PROPFIND", "PURGE",
                "X-CUSTOM")


@functools.cache
def access_paths() -> st.SearchStrategy[str]:
    """AuthorizationPolicy paths: exact, prefix (``/api/*``), suffix (``*/health``), templates: segments that are
    ``{*}`` or a literal (RFC 3986 pchar), at most one ``{**}`` and no operator after it (``/v1/{*}/x``,
    ``/{**}``, ``/a/{*}/{**}``, ``/{**}/x.json``)."""
    segment = st.from_regex(r"[a-z0-9]{1,6}", fullmatch=True)
    literal = st.one_of(segment, st.from_regex(r"[-a-zA-Z0-9._~%!$&'()+,;:@=]{1,8}", fullmatch=True))
    exact = st.lists(segment, min_size=1, max_size=3).map(lambda s: "/" + "/".join(s))
    before = st.lists(st.one_of(literal, st.just("{*}")), max_size=3)
    after = st.lists(literal, max_size=2)
    template = st.tuples(before, st.sampled_from([[], ["{**}"]]), after).map(
        lambda t: "/" + "/".join([*t[0], *t[1], *t[2]])).filter(lambda p: "{" in p)
    return st.one_of(exact, exact.map(lambda p: p + "/*"), exact.map(lambda p: "*" + p), st.just("/"),
                     st.tuples(segment, segment).map(lambda s: f"/{s[0]}/{{*}}/{s[1]}"),
                     segment.map(lambda s: f"/{s}/{{**}}"), template)


# ------------------------------------------------------------------------------------------------------- valid meshes

MTLS_MODES = ("STRICT", "PERMISSIVE", "DISABLE", "UNSET")
#: Helm releases of the control plane: a gateway (a release too) cannot be named after one.
CONTROL_PLANE_RELEASES = ("istio-base", "istiod", "istio-cni", "ztunnel")
#: Longest cluster domain for which every service host ``<service>.<namespace>.svc.<domain>`` stays within the 255
#: characters Istio allows a host (names of 63 characters each; see module doc).
MAX_CLUSTER_DOMAIN = 255 - len(".".join(["a" * 63, "a" * 63, "svc", ""]))


@functools.cache
def replica_counts() -> st.SearchStrategy[int]:
    """Replica counts: small ones mostly, up to int32."""
    return st.one_of(st.integers(1, 5), st.integers(1, INT32_MAX), st.just(INT32_MAX))


@st.composite
def autoscaling(draw, replicas: int) -> int:
    """An autoscaler maximum for ``replicas``: from ``replicas`` (equal is allowed) up to int32."""
    return draw(st.one_of(st.just(replicas), st.integers(replicas, min(replicas + 20, INT32_MAX)),
                          st.integers(replicas, INT32_MAX)))


_HTTP_PORT_PROTOCOLS = ("http", "http2", "grpc", "grpc-web")


def _speaks_http(port: dict) -> bool:
    """Whether Istio treats a generated port as HTTP (appProtocol wins over the name; both from fixed lists)."""
    if "appProtocol" in port:
        return port["appProtocol"] in _HTTP_PORT_PROTOCOLS
    name = port["name"]
    return name.startswith("grpc-web") or name.split("-", 1)[0] in _HTTP_PORT_PROTOCOLS


def _opaque_tcp(port: dict) -> bool:
    """Whether Istio routes a generated port with TCP routes (appProtocol wins over the name)."""
    if "appProtocol" in port:
        return port["appProtocol"] == "tcp"
    return port["name"].split("-", 1)[0] in ("tcp", "redis")


@st.composite
def _route_settings(draw, production: bool) -> dict[str, Any]:
    """Per-route settings that cannot clash with the service defaults (no timeout, so MR120 cannot trip): header
    changes, CORS for exact origins, a rewrite, retries off, timeout or mirror turned off, a fault outside
    production."""
    settings: dict[str, Any] = {}
    if draw(st.integers(0, 3)) == 0:
        settings["requestHeaders"] = {"set": {"x-route": draw(dns_labels(10))}, "remove": ["x-debug"]}
    if draw(st.integers(0, 4)) == 0:
        settings["responseHeaders"] = {"add": {"x-served-by": "mesh"}}
    if draw(st.integers(0, 4)) == 0:
        settings["cors"] = {"allowOrigins": [{"exact": "https://shop.example.com"}],
                            "allowMethods": ["GET"], "maxAge": draw(whole_seconds()),
                            "allowCredentials": draw(st.booleans())}
    if draw(st.integers(0, 4)) == 0:
        settings["rewrite"] = {"uri": "/"}
    if draw(st.integers(0, 4)) == 0:
        settings["retries"] = {"attempts": 0}
    if draw(st.integers(0, 5)) == 0:
        settings[draw(st.sampled_from(["timeout", "mirror", "fault"]))] = None
    if not production and draw(st.integers(0, 5)) == 0:
        settings["fault"] = {"abort": {"percent": draw(percents()), "httpStatus": 503}}
    return settings


@st.composite
def _load_balancers(draw, with_breaker: bool) -> dict[str, Any]:
    """A load balancer of every kind; locality failover only with a circuit breaker (MR286)."""
    kind = draw(st.sampled_from(["simple", "header", "cookie", "ip", "query", "distribute", "failover"]))
    if kind == "failover" and not with_breaker:
        kind = "distribute"
    return {
        "simple": lambda: {"simple": draw(st.sampled_from(["ROUND_ROBIN", "LEAST_REQUEST", "RANDOM", "PASSTHROUGH"]))},
        "header": lambda: {"consistentHash": {"httpHeaderName": draw(HEADER_NAMES)}},
        "cookie": lambda: {"consistentHash": {"httpCookie": {"name": "session", "ttl": draw(durations())[0]}}},
        "ip": lambda: {"consistentHash": {"useSourceIp": True}},
        "query": lambda: {"consistentHash": {"httpQueryParameterName": "user"}},
        "distribute": lambda: {"localityLbSetting": {"distribute": [
            {"from": "us-east/*", "to": {"us-east/*": 80, "us-west/*": 20}}]}},
        "failover": lambda: {"localityLbSetting": {"failover": [{"from": "us-east", "to": "us-west"}]}},
    }[kind]()


def _effective_mtls(mtls: dict, service_name: str, namespace: str) -> str:
    workload = mtls.get("workloads", {}).get(service_name, {})
    for mode in (workload.get("mode", "UNSET"), mtls.get("namespaces", {}).get(namespace, "UNSET"),
                 mtls.get("mode", "STRICT")):
        if mode != "UNSET":
            return mode
    return "PERMISSIVE"


@st.composite
def _control_plane(draw) -> dict:
    install = draw(st.booleans())
    control_plane: dict[str, Any] = {"install": install}
    if install:
        control_plane["charts"] = draw(st.sampled_from([
            {"url": "https://istio-release.storage.googleapis.com/charts"},
            {"url": "oci://registry.example.com/istio-charts", "plainHttp": draw(st.booleans())},
            {"url": "~/.cache/mesh-rollout/istio/charts"},
        ]))
        control_plane["ambient"] = draw(st.booleans())
    if draw(st.booleans()):
        control_plane["version"] = draw(st.sampled_from(["1.30.4", "1.29.0", "1.31.0-beta.1"]))
    if draw(st.booleans()):
        control_plane["revision"] = draw(dns_labels(20))
    tags = draw(unique_names(max_size=2, max_length=20))
    if tags:
        control_plane["revisionTags"] = tags
    if draw(st.booleans()):
        control_plane["defaultRevision"] = draw(st.booleans())
    if draw(st.booleans()):
        replicas = draw(replica_counts())
        ha: dict[str, Any] = {"replicas": replicas, "podDisruptionBudget": draw(st.booleans())}
        if draw(st.booleans()):
            ha["autoscaleMax"] = draw(autoscaling(replicas))
        if draw(st.booleans()):
            ha["resources"] = {"requests": {"cpu": "500m", "memory": "2Gi"}, "limits": {"memory": "4Gi"}}
        control_plane["highAvailability"] = ha
    if draw(st.booleans()):
        control_plane["meshConfig"] = {"accessLogFile": draw(st.sampled_from(["/dev/stdout", ""])),
                                       "outboundTrafficPolicy": draw(st.sampled_from(["ALLOW_ANY", "REGISTRY_ONLY"]))}
    gateways = {}
    # Not the name of a control plane release (the spec refuses it).
    for name in draw(unique_names(max_size=3, max_length=40, exclude=frozenset(CONTROL_PLANE_RELEASES))):
        gateway: dict[str, Any] = {}
        if draw(st.booleans()):
            gateway["kind"] = draw(st.sampled_from(["ingress", "egress"]))
        if draw(st.booleans()):
            gateway["namespace"] = draw(dns_labels())
        if draw(st.booleans()):
            replicas = draw(replica_counts())
            gateway["replicas"] = replicas
            if draw(st.booleans()):
                gateway["autoscaleMax"] = draw(autoscaling(replicas))
        elif draw(st.integers(0, 3)) == 0:
            gateway["autoscaleMax"] = draw(autoscaling(1))  # over the default of one replica
        if draw(st.booleans()):
            gateway["serviceType"] = draw(st.sampled_from(["LoadBalancer", "ClusterIP", "NodePort"]))
        if draw(st.booleans()):
            gateway["tlsSecret"] = draw(dns_labels())
        gateways[name] = gateway
    if gateways:
        control_plane["gateways"] = gateways
    return control_plane


@st.composite
def _ingress_tls(draw, redirect: bool | None) -> dict:
    """An exposure's TLS that passes the checks: a credential in the gateway's namespace (MR321, MR323) and, for
    MUTUAL, a client CA Istio reads (MR322)."""
    credential = draw(dns_labels())
    tls: dict[str, Any] = {"credentialName": credential}
    if draw(st.booleans()):
        tls["mode"] = "MUTUAL"
        tls["clientCaSecret"] = draw(st.sampled_from([credential, f"{credential}-cacert"]))
    if draw(st.booleans()):
        tls["minProtocolVersion"] = draw(st.sampled_from(["TLSV1_2", "TLSV1_3"]))
    if redirect is not None:
        tls["httpsRedirect"] = redirect
    elif draw(st.booleans()):
        tls["httpsRedirect"] = draw(st.booleans())
    return tls


@st.composite
def _observability(draw, cluster_domain: str) -> dict | None:
    if draw(st.integers(0, 4)) == 0:
        return None
    observability: dict[str, Any] = {}
    namespace = draw(st.sampled_from(["istio-system", "monitoring", "istio-system"]))
    if namespace != "istio-system" or draw(st.booleans()):
        observability["namespace"] = namespace
    if draw(st.booleans()):
        tracing: dict[str, Any] = {"samplingPercent": draw(st.one_of(
            st.integers(0, 100), st.floats(0, 100, allow_nan=False, allow_infinity=False)))}
        if draw(st.booleans()):
            tracing["provider"] = draw(dns_labels(20))
        observability["tracing"] = tracing
    if draw(st.booleans()):
        observability["accessLogging"] = draw(st.booleans())

    def addon(name: str) -> dict:
        choices = ["default", "disabled", "url", "chart"]
        if namespace == "istio-system":
            choices.append("manifest")
        kind = draw(st.sampled_from(choices))
        if kind == "default":
            return {}
        if kind == "disabled":
            return {"enabled": False}
        if kind == "url":
            return {"url": f"http://{name}.observability.svc.{cluster_domain}:8080"}
        if kind == "manifest":
            return {"manifest": f"~/.cache/mesh-rollout/istio/samples/addons/{name}.yaml"}
        chart: dict[str, Any] = {}
        if draw(st.booleans()):
            chart["chartVersion"] = draw(st.sampled_from(["1.0.0", "27.39.0", "2.17.0"]))
        if draw(st.booleans()):
            chart["repository"] = {"url": "oci://registry.example.com/charts", "plainHttp": draw(st.booleans())}
        if draw(st.booleans()):
            chart["values"] = {"replicas": draw(st.integers(1, 3)), "nested": {"flag": draw(st.booleans())}}
        return chart

    for name in ("prometheus", "grafana", "jaeger", "kiali"):
        settings = addon(name)
        if name == "jaeger" and settings.get("url"):
            settings["collectorHost"] = f"jaeger-collector.tracing.svc.{cluster_domain}"
        if name == "jaeger" and draw(st.booleans()):
            settings["collectorPort"] = draw(st.integers(1, 65535))
        if name == "grafana" and draw(st.booleans()):
            settings["gnetDashboards"] = draw(st.dictionaries(dns_labels(20), st.integers(1, 20000), max_size=3))
            settings["dashboards"] = [name for name in ("istio-mesh", "istio-control-plane")
                                      if name not in settings["gnetDashboards"]]
        # Kiali installed by the stack reads Prometheus: it must not be disabled (the spec refuses that).
        if (name == "kiali" and settings.get("url") is None and settings.get("enabled", True)
                and observability.get("prometheus", {}).get("enabled") is False):
            observability["prometheus"] = {}
        if settings or draw(st.booleans()):
            observability[name] = settings
    return observability


@st.composite
def meshes(draw, min_services: int = 0, max_services: int = 5) -> dict:
    """A valid, coherent ``mesh-rollout:mesh`` value: it parses and the checks find no error."""
    mesh: dict[str, Any] = {}
    production = draw(st.booleans())
    if draw(st.booleans()):
        mesh["environment"] = draw(st.sampled_from(["dev", "staging", "prod", "local", "test"]))
    if production or draw(st.booleans()):
        mesh["production"] = production
    if production:  # pinned images (checks MR240, MR241) are tested on their own; tags accepted here
        mesh["allowMutableTags"] = True
    if draw(st.booleans()):
        mesh["trustDomain"] = draw(st.sampled_from(["cluster.local", "corp.example", "td1"]))
    cluster_domain = "cluster.local"
    if draw(st.booleans()):
        cluster_domain = draw(st.one_of(st.sampled_from(["cluster.local", "corp.example", "corp.42.example"]),
                                        domains(MAX_CLUSTER_DOMAIN)))
        mesh["clusterDomain"] = cluster_domain

    control_plane = draw(_control_plane())
    mesh["controlPlane"] = control_plane
    install, ambient = control_plane["install"], control_plane.get("ambient", False)
    gateways = control_plane.get("gateways", {})
    revision = control_plane.get("revision") or control_plane.get("version", "1.30.4").replace(".", "-")
    revisions = [revision, *control_plane.get("revisionTags", [])]

    # Namespaces: ambient only where ztunnel is installed (MR151), a waypoint only when ambient (MR152), no mode none
    # where a gateway of this stack runs (MR155), no label that fights the mode (MR150), a known revision (MR154).
    gateway_namespaces = {g.get("namespace", "istio-ingress") for g in gateways.values()}
    # No default deny where it would deny an ingress gateway's own pods (MR195): its namespace, the root namespace.
    no_deny = {g.get("namespace", "istio-ingress") for g in gateways.values() if g.get("kind", "ingress") == "ingress"}
    no_deny.add(control_plane.get("namespace", "istio-system"))
    namespaces: dict[str, dict] = {}
    for name in draw(unique_names(min_size=1, max_size=3)):
        modes = ["sidecar", "none"] + (["ambient"] if ambient or not install else [])
        if install and name in gateway_namespaces:
            modes.remove("none")
        mode = draw(st.sampled_from(modes))
        namespace: dict[str, Any] = {}
        if mode != "sidecar" or draw(st.booleans()):
            namespace["mode"] = mode
        if mode == "sidecar" and draw(st.integers(0, 3)) == 0:
            # Installed here: one of its revisions or tags (MR154); else any revision label of the user's.
            namespace["revision"] = draw(st.sampled_from(revisions)) if install else draw(dns_labels())
        if draw(st.booleans()):
            namespace["create"] = draw(st.booleans())
        user_labels = draw(labels())
        if user_labels:
            namespace["labels"] = user_labels
        if name not in no_deny and draw(st.integers(0, 3)) == 0:
            namespace["defaultDeny"] = True
        if mode == "ambient" and draw(st.booleans()):
            namespace["waypoint"] = True
        namespaces[name] = namespace
    mesh["namespaces"] = namespaces
    namespace_names = list(namespaces)

    # Services: a namespace of the mesh each, versions with non-empty labels, unique port numbers.
    services: dict[str, dict] = {}
    # Services with selector {}: it selects every workload of the namespace, which only the PeerAuthentication of
    # an mTLS exception (MR197, and istioctl warns even for mode UNSET) and the ALLOW policy of an allow-list
    # (MR143, istioctl warns) would use. These services get neither.
    unselective: set[str] = set()
    for name in draw(unique_names(min_size=min_services, max_size=max_services)):
        service: dict[str, Any] = {"namespace": draw(st.sampled_from(namespace_names))}
        if draw(st.integers(0, 3)) == 0:
            service["serviceAccount"] = draw(dns_labels(30))
        if draw(st.integers(0, 3)) == 0:
            service["selector"] = draw(labels(min_size=1))
        elif draw(st.integers(0, 7)) == 0:
            service["selector"] = {}
            unselective.add(name)
        ports = []
        for number in draw(st.lists(st.integers(1, 65535), max_size=3, unique=True)):
            port: dict[str, Any] = {"port": number}
            style = draw(st.sampled_from(["name", "name", "appProtocol", "both"]))
            if style in ("name", "both"):
                port["name"] = draw(st.sampled_from(["http", "http-web", "grpc", "http2", "tcp-db", "tls", "https",
                                                     "grpc-web", "redis"]))
            if style in ("appProtocol", "both"):
                port["appProtocol"] = draw(st.sampled_from(["http", "http2", "grpc", "tcp"]))
            ports.append(port)
        if ports:
            service["ports"] = ports
        versions = draw(unique_names(max_size=3, max_length=20))
        if versions:
            # Explicit labels keep a key naming the version, so no two versions select the same pods (MR106).
            service["versions"] = {
                version: ({"labels": {**draw(labels()), "app.kubernetes.io/version": version}}
                          if draw(st.integers(0, 3)) == 0 else {})
                for version in versions
            }
        services[name] = service
    mesh["services"] = services

    # mTLS: namespace and workload exceptions for the stack's own namespaces and services; port-level exceptions
    # on declared ports (MR194).
    mtls: dict[str, Any] = {}
    if draw(st.booleans()):
        mtls["mode"] = draw(st.sampled_from(MTLS_MODES))
    chosen = draw(st.lists(st.sampled_from(namespace_names), unique=True, max_size=2))
    if chosen:
        mtls["namespaces"] = {name: draw(st.sampled_from(MTLS_MODES)) for name in chosen}
    workloads = {}
    selective = sorted(set(services) - unselective)
    for name in draw(st.lists(st.sampled_from(selective), unique=True, max_size=2)) if selective else []:
        workload: dict[str, Any] = {}
        if draw(st.booleans()):
            workload["mode"] = draw(st.sampled_from(MTLS_MODES))
        declared = [p["port"] for p in services[name].get("ports", [])]
        if declared and draw(st.booleans()):
            workload["ports"] = {port: draw(st.sampled_from(MTLS_MODES[:3]))
                                 for port in draw(st.lists(st.sampled_from(declared), unique=True, min_size=1))}
        workloads[name] = workload
    if workloads:
        mtls["workloads"] = workloads
    if mtls or draw(st.booleans()):
        mesh["mtls"] = mtls

    # Who can call: each service's workloads (namespace in the mesh, not mode none) and the gateways.
    identities = sorted({(s["namespace"], s.get("serviceAccount", n)) for n, s in services.items()
                         if namespaces[s["namespace"]].get("mode", "sidecar") != "none"}
                        | {(g.get("namespace", "istio-ingress"), n) for n, g in gateways.items()})
    ingress = sorted(n for n, g in gateways.items() if g.get("kind", "ingress") == "ingress")
    with_versions = sorted(n for n, s in services.items() if s.get("versions"))

    for name, service in services.items():
        versions = list(service.get("versions", {}))
        namespace = namespaces[service["namespace"]]
        traffic: dict[str, Any] = {}
        if versions and draw(st.booleans()):
            routed = draw(st.lists(st.sampled_from(versions), unique=True, min_size=1))
            traffic["split"] = draw(split_weights(routed))
        # A service whose ports are all opaque TCP takes only the split (HTTP settings there are MR287's).
        tcp_only = bool(service.get("ports")) and all(_opaque_tcp(port) for port in service["ports"])
        if with_versions and not tcp_only and draw(st.integers(0, 2)) == 0:
            matches = []
            names = draw(unique_names(min_size=1, max_size=3, max_length=30))
            for index, match_name in enumerate(names):
                target = draw(st.sampled_from([name] if versions and draw(st.booleans()) else with_versions))
                match: dict[str, Any] = {"name": match_name}
                headers = draw(st.dictionaries(HEADER_NAMES, header_matches(), max_size=2))
                if index < len(names) - 1:
                    # A header no later match has, so no match catches every request of a later one (MR112).
                    headers[f"x-route-{index}"] = {"exact": match_name}
                if headers:
                    match["headers"] = headers
                if not headers or draw(st.booleans()):
                    match["uriPrefix"] = draw(uri_prefixes())
                if draw(st.integers(0, 3)) == 0:
                    match["method"] = {"exact": draw(st.sampled_from(["GET", "POST", "PURGE"]))}
                if draw(st.integers(0, 3)) == 0:
                    match["queryParams"] = {draw(dns_labels(10)): draw(st.sampled_from(
                        [{"exact": ""}, {"exact": "1"}, {"regex": "[0-9]+"}]))}
                if draw(st.integers(0, 4)) == 0:
                    match["withoutHeaders"] = {"x-skip": {"prefix": draw(st.sampled_from(["a", "yes"]))}}
                match["version"] = draw(st.sampled_from(list(services[target]["versions"])))
                if target != name or draw(st.integers(0, 3)) == 0:
                    match["service"] = target
                match.update(draw(_route_settings(production)))
                matches.append(match)
            traffic["matches"] = matches
        attempts = None
        if not tcp_only and draw(st.integers(0, 3)) == 0:
            traffic["defaultRoute"] = draw(_route_settings(production))
        if not tcp_only and draw(st.integers(0, 2)) == 0:
            attempts = draw(st.one_of(st.integers(0, 5), st.just(INT32_MAX)))
            retries: dict[str, Any] = {"attempts": attempts}
            if attempts and draw(st.booleans()):
                retries["perTryTimeout"], per_try_ms = draw(durations(max_ms=60_000))
            if attempts and draw(st.booleans()):
                conditions = draw(st.lists(st.sampled_from(
                    ["5xx", "gateway-error", "reset", "connect-failure", "retriable-4xx", "refused-stream",
                     "unavailable", "cancelled", "deadline-exceeded", "503", "429"]), min_size=1, max_size=4,
                    unique=True))
                retries["retryOn"] = ",".join(conditions)
            traffic["retries"] = retries
        if not tcp_only and draw(st.integers(0, 2)) == 0:
            # Room for every try (MR120 warns otherwise): (attempts + 1) × perTryTimeout <= timeout.
            needed = 1
            if traffic.get("retries", {}).get("perTryTimeout"):
                needed = (attempts + 1) * per_try_ms
            if needed <= MAX_DURATION_MS:
                traffic["timeout"] = draw(durations(min_ms=needed))[0]
        if draw(st.integers(0, 3)) == 0:
            breaker: dict[str, Any] = {}
            for key in ("maxConnections", "http1MaxPendingRequests", "http2MaxRequests", "maxRequestsPerConnection"):
                if draw(st.booleans()):
                    breaker[key] = draw(st.one_of(st.integers(1, 1000), st.just(INT32_MAX)))
            if draw(st.booleans()):
                breaker["consecutive5xxErrors"] = draw(st.one_of(st.integers(0, 100), st.just(UINT32_MAX)))
            for key in ("interval", "baseEjectionTime"):
                if draw(st.booleans()):
                    breaker[key] = draw(durations())[0]
            if draw(st.booleans()):
                breaker["maxEjectionPercent"] = draw(st.integers(0, 100))
            traffic["circuitBreaker"] = breaker
        if draw(st.integers(0, 3)) == 0:
            traffic["loadBalancer"] = draw(_load_balancers(with_breaker="circuitBreaker" in traffic))
            declared = [port["port"] for port in service.get("ports", [])]
            if declared and draw(st.booleans()):
                traffic["portPolicies"] = {draw(st.sampled_from(declared)): {
                    "loadBalancer": draw(_load_balancers(with_breaker="circuitBreaker" in traffic))}}
        if not production and not tcp_only and draw(st.integers(0, 3)) == 0:
            fault: dict[str, Any] = {}
            kinds = draw(st.sampled_from([("delay",), ("abort",), ("delay", "abort")]))
            if "delay" in kinds:
                fault["delay"] = {"percent": draw(percents()), "fixedDelay": draw(durations(max_ms=600_000))[0]}
            if "abort" in kinds:
                fault["abort"] = {"percent": draw(percents()), "httpStatus": draw(st.integers(200, 599))}
            traffic["fault"] = fault
        if not tcp_only and draw(st.integers(0, 3)) == 0:
            target = draw(st.sampled_from(sorted(services)))
            mirror: dict[str, Any] = {}
            if target != name or draw(st.booleans()):
                mirror["service"] = target
            target_versions = list(services[target].get("versions", {}))
            if target_versions and draw(st.booleans()):
                mirror["version"] = draw(st.sampled_from(target_versions))
            if draw(st.booleans()):
                mirror["percent"] = draw(percents())
            traffic["mirror"] = mirror
        if draw(st.integers(0, 3)) == 0:
            # An explicit client TLS mode the server's effective mTLS mode agrees with (MR130); MUTUAL is refused.
            effective = _effective_mtls(mtls, name, service["namespace"])
            allowed = {"STRICT": ["ISTIO_MUTUAL"], "DISABLE": ["DISABLE", "SIMPLE"],
                       "PERMISSIVE": ["DISABLE", "SIMPLE", "ISTIO_MUTUAL"]}[effective]
            traffic["tlsMode"] = draw(st.sampled_from(allowed))
        if traffic:
            service["traffic"] = traffic

        # No allow-list for an empty selector, so no exposure where default deny would then deny it all (MR193).
        exposed = (bool(ingress) and not (name in unselective and namespace.get("defaultDeny"))
                   and draw(st.integers(0, 2)) == 0)
        if exposed:
            # Hosts carry the service's name, so no two services claim one host on a gateway (MR110).
            room = 253 - len(name) - 1
            hosts = [f"{name}.{domain}"
                     for domain in draw(st.lists(domains(room), min_size=1, max_size=2, unique=True))]
            if draw(st.booleans()):
                hosts.append(f"*.{name}.{draw(st.one_of(st.just('example.com'), domains(room - 2)))}")
            if draw(st.booleans()):
                hosts = [host.upper() if i == 0 else host for i, host in enumerate(hosts)]
            service["expose"] = {"gateway": draw(st.sampled_from(ingress)), "hosts": hosts}
            # Production serves no host over plaintext (MR320): TLS with the redirect there, anything elsewhere.
            if production or draw(st.booleans()):
                service["expose"]["tls"] = draw(_ingress_tls(redirect=True if production else None))

        # Exposed services in a default-deny namespace need an allow-list (MR193).
        if name not in unselective and ((exposed and namespace.get("defaultDeny")) or draw(st.integers(0, 2)) == 0):
            # Methods and paths need an L7 proxy: not in ambient without a waypoint (MR160), and not on a service
            # whose every port is non-HTTP (MR161).
            l7_ok = not (namespace.get("mode") == "ambient" and not namespace.get("waypoint"))
            own_ports = service.get("ports", [])
            l7_ok = l7_ok and (not own_ports or any(_speaks_http(port) for port in own_ports))
            callers, seen = [], set()
            for _ in range(draw(st.integers(0, 3))):
                external = not identities or draw(st.integers(0, 3)) == 0
                if external:
                    caller_ns, account = draw(dns_labels(30)), draw(dns_labels(30))
                else:
                    caller_ns, account = draw(st.sampled_from(identities))
                methods = draw(st.lists(st.sampled_from(HTTP_METHODS), unique=True, max_size=2)) if l7_ok else []
                paths = draw(st.lists(access_paths(), unique=True, max_size=2)) if l7_ok else []
                key = (caller_ns, account, tuple(methods), tuple(paths))
                if key in seen:
                    continue
                seen.add(key)
                if not (external or methods or paths) and draw(st.booleans()):
                    callers.append(f"{caller_ns}/{account}")
                    continue
                caller: dict[str, Any] = {"namespace": caller_ns, "serviceAccount": account}
                if external:
                    caller["external"] = True
                if methods:
                    caller["methods"] = methods
                if paths:
                    caller["paths"] = paths
                callers.append(caller)
            service["access"] = {"allowFrom": callers}

    observability = draw(_observability(cluster_domain))
    if observability is None:
        mesh["observability"] = None
    elif observability or draw(st.booleans()):
        mesh["observability"] = observability
    return mesh


#: Edges of the valid range :func:`meshes` must reach (see :func:`valid_range_edges`): values next to what the
#: spec refuses, which a too-strict spec would refuse too.
VALID_RANGE_EDGES = (
    "header regex of 1024 bytes", "header regex over 512 bytes", "header name with '_' or a digit",
    "all-numeric host label (not the last)", "all-numeric cluster domain label (not the last)", "wildcard host",
    "path template with {**}", "path template with {*}", "non-standard method", "selector {}",
    "gateway autoscaleMax equal to replicas", "gateway replicas over 2**30", "namespace revision",
)
_STANDARD_METHODS = {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"}


def valid_range_edges(mesh: dict) -> set[str]:
    """Which of :data:`VALID_RANGE_EDGES` a generated mesh reaches."""
    found: set[str] = set()
    for service in mesh.get("services", {}).values():
        if service.get("selector") == {}:
            found.add("selector {}")
        for match in service.get("traffic", {}).get("matches", []):
            for name, header in match.get("headers", {}).items():
                size = len(header.get("regex", "").encode())
                if size == MAX_REGEX_LENGTH:
                    found.add("header regex of 1024 bytes")
                if size > 512:
                    found.add("header regex over 512 bytes")
                if "_" in name or any(c.isdigit() for c in name):
                    found.add("header name with '_' or a digit")
        for host in service.get("expose", {}).get("hosts", []):
            if any(label.isdigit() for label in host.split(".")[:-1]):
                found.add("all-numeric host label (not the last)")
            if host.startswith("*."):
                found.add("wildcard host")
        for caller in service.get("access", {}).get("allowFrom", []):
            if isinstance(caller, dict):
                if any("{**}" in path for path in caller.get("paths", [])):
                    found.add("path template with {**}")
                if any("{*}" in path for path in caller.get("paths", [])):
                    found.add("path template with {*}")
                if set(caller.get("methods", [])) - _STANDARD_METHODS:
                    found.add("non-standard method")
    if any(label.isdigit() for label in mesh.get("clusterDomain", "").split(".")[:-1]):
        found.add("all-numeric cluster domain label (not the last)")
    for gateway in mesh["controlPlane"].get("gateways", {}).values():
        if "autoscaleMax" in gateway and gateway["autoscaleMax"] == gateway.get("replicas", 1):
            found.add("gateway autoscaleMax equal to replicas")
        if gateway.get("replicas", 1) > 2**30:
            found.add("gateway replicas over 2**30")
    if any("revision" in namespace for namespace in mesh.get("namespaces", {}).values()):
        found.add("namespace revision")
    return found


# ---------------------------------------------------------------------------------------------------- invalid meshes

#: Marks a key to delete instead of a value to set.
DELETE = object()

BAD_DURATIONS = ("fast", "10", "1500us", "0.5ms", "500us", "-1s", "99999999999h", "1s ", " 1s", "1e3ms", "\uff15s",
                 "\u0661s", "", "1 s", "1S", "1sec", "1s\n", "P1D", 5, 1.5, [], {})
#: Strings that are not DNS labels (a trailing newline too: a ``$``-anchored Python regex matches "shop" + newline).
NOT_LABELS = ("Shop", "shop_1", "-shop", "shop-", "a" * 64, "", "sh\u00f6p", "sh op", "shop.io", "shop\n", "1.30.4")
BAD_LABELS = (*NOT_LABELS, 5, [])
#: Label maps with a trailing newline in the key (name or prefix) or the value.
NEWLINE_LABEL_MAPS = ({"tier\n": "web"}, {"tier": "web\n"}, {"example.com\n/tier": "web"},
                      {"example.com/tier\n": "web"}, {"app": "shop", "app.kubernetes.io/name": "shop\n"})
BAD_LABEL_MAPS = ({"version": "v 2!"}, {"example.com/": "x"}, {"-a": "b"}, {"a" * 64: "b"}, {"k": "v" * 64},
                  {"Example.com/x": "y"}, {"a/b/c": "d"}, {"k": "-v"}, {"k": 1}, {"": "v"}, *NEWLINE_LABEL_MAPS)


@dataclass(frozen=True)
class Corruption:
    """One way to break a valid mesh at a known place.

    ``where`` is a dotted path from the mesh root. ``*`` stands for every existing key of a mapping (or index of a
    list), ``+`` appends to a list, ``<key>`` inserts one of the ``values``' keys (``values`` are then ``(key,
    value)`` pairs). Missing mappings along the way are created from ``scaffold`` (by segment, default ``{}``), so
    only the corrupted value is wrong. The problem must be reported at the corrupted path, or ``up`` segments
    above it when the check belongs to the enclosing mapping (a model-level or whole-field validator).
    """

    name: str
    where: str
    values: tuple
    scaffold: dict = field(default_factory=dict)
    up: int = 0

    def _fresh(self, segment: str, rest: list[str]) -> Any:
        """What a missing mapping (or list, when ``+`` follows) along the path is created as."""
        return copy.deepcopy(self.scaffold.get(segment, [] if rest[:1] == ["+"] else {}))

    def sites(self, mesh: dict) -> list[tuple]:
        """Concrete paths (tuples of keys) at which this corruption can be applied in ``mesh``."""
        segments = self.where.split(".")
        found: list[tuple] = []

        def walk(node: Any, done: tuple, rest: list[str]) -> None:
            head, tail = rest[0], rest[1:]
            if not tail:
                if (isinstance(node, dict) and head not in ("*", "+")) or (isinstance(node, list) and head == "+"):
                    found.append((*done, head))
                return
            if head == "*":
                keys = list(node) if isinstance(node, dict) else range(len(node)) if isinstance(node, list) else []
                for key in keys:
                    walk(node[key], (*done, key), tail)
            elif head == "+":
                if isinstance(node, list):
                    walk(self._fresh("+", tail), (*done, "+"), tail)
            elif isinstance(node, dict):
                child = node.get(head)
                if child is None:
                    child = self._fresh(head, tail)
                walk(child, (*done, head), tail)

        walk(mesh, (), segments)
        return found

    def apply(self, mesh: dict, site: tuple, value: Any) -> tuple[dict, str]:
        """A corrupted copy of ``mesh`` and the config path where the problem must be reported."""
        mesh = copy.deepcopy(mesh)
        node: Any = mesh
        reported: list[str] = ["mesh"]
        for position, key in enumerate(site[:-1]):
            rest = [str(k) for k in site[position + 1:]]
            if key == "+":
                node.append(self._fresh("+", rest))
                reported.append(str(len(node) - 1))
                node = node[-1]
                continue
            if isinstance(node, dict) and node.get(key) is None:
                node[key] = self._fresh(key, rest)
            node = node[key]
            reported.append(str(key))
        last = site[-1]
        if last == "+":
            node.append(value)
            reported.append(str(len(node) - 1))
        elif last == "<key>":
            key, item = value
            node[key] = item
            reported.append(str(key))
        elif value is DELETE:
            node.pop(last, None)
            reported.append(str(last))
        else:
            node[last] = value
            reported.append(str(last))
        return mesh, ".".join(reported[:len(reported) - self.up])


_RETRIES = {"retries": {"attempts": 2}}
_MATCH = {"+": {"name": "beta", "version": "v1"}}
_PATH_MATCH = {"+": {"name": "moved", "uriPrefix": "/old"}}
_CALLER = {"+": {"namespace": "shop", "serviceAccount": "order"}}
_EXPOSE = {"expose": {"gateway": "ingress"}}
#: Header regexes RE2 compiles but Istio refuses: empty, longer than 1024 characters, or with \C (any byte: Go's
#: regexp, which istioctl and istiod validate with, does not have it), also after an escaped backslash (\\\C).
REFUSED_REGEXES = ("", "a" * 1025, "(?:ab|c)" * 128 + "z", "^" + "[a-z]" * 205 + "$", r"\C", r"a\Cb", r"^(\C)+$",
                   r"\\\C", r"x\C*")

CORRUPTIONS: tuple[Corruption, ...] = (
    # Go-style durations Istio refuses
    Corruption("bad route timeout", "services.*.traffic.timeout", BAD_DURATIONS),
    Corruption("bad perTryTimeout", "services.*.traffic.retries.perTryTimeout", BAD_DURATIONS, _RETRIES),
    Corruption("bad ejection interval", "services.*.traffic.circuitBreaker.interval", BAD_DURATIONS),
    Corruption("bad baseEjectionTime", "services.*.traffic.circuitBreaker.baseEjectionTime", BAD_DURATIONS),
    Corruption("bad fixedDelay", "services.*.traffic.fault.delay.fixedDelay", BAD_DURATIONS,
               {"delay": {"percent": 10}}),
    # integers out of range (int32, uint32, ports, percentages, HTTP status)
    Corruption("retry attempts out of range", "services.*.traffic.retries.attempts", (-1, 2**31, 10**30), _RETRIES),
    Corruption("connection cap out of range", "services.*.traffic.circuitBreaker.maxConnections", (0, -5, 2**31)),
    Corruption("http2MaxRequests out of range", "services.*.traffic.circuitBreaker.http2MaxRequests", (0, 2**31)),
    Corruption("5xx errors out of range", "services.*.traffic.circuitBreaker.consecutive5xxErrors", (-1, 2**32)),
    Corruption("ejection percent out of range", "services.*.traffic.circuitBreaker.maxEjectionPercent", (-1, 101)),
    Corruption("abort status out of range", "services.*.traffic.fault.abort.httpStatus", (0, 199, 600, 10**6),
               {"abort": {"percent": 5}}),
    Corruption("service port out of range", "services.*.ports.+.port", (0, -1, 65536, 2**40)),
    Corruption("istiod replicas out of range", "controlPlane.highAvailability.replicas", (0, -1, 2**31)),
    Corruption("gateway replicas out of range", "controlPlane.gateways.gw-extra.replicas", (0, 2**31)),
    Corruption("collector port out of range", "observability.jaeger.collectorPort", (0, 65536)),
    Corruption("sampling percent out of range", "observability.tracing.samplingPercent",
               (-1, 100.5, 1e9, float("nan"), float("inf"))),
    Corruption("mTLS port out of range", "mtls.workloads.*.ports.<key>", ((0, "DISABLE"), (65536, "DISABLE"),
                                                                          (-80, "STRICT")), up=1),
    Corruption("mTLS port not a number", "mtls.workloads.*.ports.<key>", (("http", "DISABLE"), ("80a", "STRICT"))),
    # names that must be DNS labels
    Corruption("service namespace not a label", "services.*.namespace", BAD_LABELS),
    Corruption("caller namespace not a label", "services.*.access.allowFrom.+.namespace", BAD_LABELS,
               {"+": {"serviceAccount": "order"}}),
    Corruption("control plane namespace not a label", "controlPlane.namespace", BAD_LABELS),
    Corruption("gateway namespace not a label", "controlPlane.gateways.gw-extra.namespace", BAD_LABELS),
    Corruption("revision not a label", "controlPlane.revision", BAD_LABELS),
    Corruption("revision tag not a label", "controlPlane.revisionTags", (["Stable"], ["ok", "bad_tag"], [""]),),
    Corruption("match name not a label", "services.*.traffic.matches.+.name", BAD_LABELS,
               {"+": {"uriPrefix": "/", "version": "v1"}}),
    Corruption("add-on namespace not a label", "observability.namespace", BAD_LABELS),
    Corruption("tracing provider not a label", "observability.tracing.provider", BAD_LABELS),
    Corruption("service name not a label", "services.<key>", (("Payment", {"namespace": "shop"}),
                                                              ("pay_ment", {"namespace": "shop"}),
                                                              ("a" * 64, {"namespace": "shop"}))),
    Corruption("namespace name not a label", "namespaces.<key>", (("Shop", {}), ("shop.io", {}), ("-x", {}))),
    Corruption("gateway name not a label", "controlPlane.gateways.<key>", (("Ingress", {}), ("a.b", {}),
                                                                          ("istio-", {}))),
    Corruption("version name not a label", "services.*.versions.<key>", (("V2", {}), ("v 2", {}), ("v2.1", {}))),
    # unknown keys (typos)
    Corruption("unknown key at the root", "<key>", (("servics", {}), ("meshConfig", {}), ("cluster", {}))),
    Corruption("unknown key in a service", "services.*.<key>", (("port", 80), ("Namespace", "shop"),
                                                               ("access_", {}))),
    Corruption("unknown key in traffic", "services.*.traffic.<key>", (("timout", "5s"), ("retry", {}),
                                                                      ("weights", {"v1": 100}))),
    Corruption("unknown key in retries", "services.*.traffic.retries.<key>", (("perTryTimout", "1s"),
                                                                              ("retryon", "5xx")), _RETRIES),
    Corruption("unknown key in a namespace", "namespaces.*.<key>", (("injection", True), ("defaultdeny", True))),
    Corruption("unknown key in the control plane", "controlPlane.<key>", (("chartsUrl", "x"), ("replicas", 2))),
    Corruption("unknown key in observability", "observability.<key>", (("tracingPercent", 1), ("loki", {}))),
    # regular expressions RE2 (Envoy) refuses
    Corruption("header regex not RE2", "services.*.traffic.matches.+.headers.x-seg.regex",
               ("(?<=a)b", "(?=x)", "(a", "a{1001}", r"(a)\1", "[z-a]", "*a", "a**", r"\p{Bogus}"), _MATCH),
    # ... and ones RE2 compiles but Istio refuses
    Corruption("header regex Istio refuses", "services.*.traffic.matches.+.headers.x-seg.regex", REFUSED_REGEXES,
               _MATCH),
    # header names that are not an RFC 7230 token, a pseudo-header or a JWT claim route (Istio's rule)
    Corruption("header name Istio refuses", "services.*.traffic.matches.+.headers.<key>",
               (("x seg", {"exact": "a"}), (":host", {"prefix": "a"}), ("", {"exact": "a"}),
                ("x-seg\n", {"exact": "a"}), ("x-s\u00e9g", {"regex": "a"}), ("x/seg", {"exact": "a"}),
                ("x:seg", {"exact": "a"}), ("x(seg)", {"exact": "a"}), ('x"seg', {"exact": "a"})), _MATCH),
    # Kubernetes label syntax
    Corruption("bad version labels", "services.*.versions.vbad.labels", BAD_LABEL_MAPS),
    Corruption("bad namespace labels", "namespaces.*.labels", BAD_LABEL_MAPS),
    Corruption("bad selector", "services.*.selector", BAD_LABEL_MAPS),
    # enums
    Corruption("unknown mTLS mode", "mtls.mode", ("STRICTER", "strict", "", 1, None)),
    Corruption("unknown namespace mTLS mode", "mtls.namespaces.<key>", (("shop", "LOOSE"), ("legacy", "permissive"))),
    Corruption("unknown dataplane mode", "namespaces.*.mode", ("sidecars", "SIDECAR", "ambient-mode", "")),
    Corruption("unknown or refused tlsMode", "services.*.traffic.tlsMode", ("MUTUAL", "TLS", "istio_mutual", "")),
    Corruption("unknown gateway kind", "controlPlane.gateways.gw-extra.kind", ("sideways", "INGRESS", "")),
    Corruption("unknown egress policy", "controlPlane.meshConfig.outboundTrafficPolicy", ("DENY", "allow_any")),
    # wrong types
    Corruption("install not a boolean", "controlPlane.install", ("maybe", 2, [], {}, None)),
    Corruption("production not a boolean", "production", ("yes please", 2, [])),
    Corruption("defaultDeny not a boolean", "namespaces.*.defaultDeny", ("sometimes", [], 2)),
    Corruption("traffic not a mapping", "services.*.traffic", ("fast", 5, [])),
    Corruption("versions not a mapping", "services.*.versions", (["v1", "v2"], "v1", 3)),
    Corruption("split not a mapping", "services.*.traffic.split", (["v1"], "v1=100")),
    Corruption("split weight not an integer", "services.*.traffic.split.v1", ("ninety", 9.5, [], None)),
    Corruption("ports not a list", "services.*.ports", ("8080", {"port": 8080}, 8080)),
    Corruption("allowFrom not a list", "services.*.access.allowFrom", ("shop/order", {"namespace": "shop"}, 1)),
    Corruption("observability not a mapping", "observability", ("on", 1, [])),
    Corruption("fault percent not a number", "services.*.traffic.fault.abort.percent", ("lots", [], {}),
               {"abort": {"httpStatus": 503}}),
    Corruption("resources not strings", "controlPlane.highAvailability.resources.requests", ({"cpu": 1}, "1cpu")),
    Corruption("dashboard id not an integer", "observability.grafana.gnetDashboards.istio-mesh", ("7639a", 1.5, None)),
    Corruption("dashboard not shipped", "observability.grafana.dashboards", (["istio-nope"], "istio-mesh", {})),
    # values Istio refuses
    Corruption("unknown retryOn condition", "services.*.traffic.retries.retryOn",
               ("5xx, reset", "bogus", "5xx;reset", "", "999", "5xx,,reset", "\u0665\u0660\u0663"), _RETRIES),
    Corruption("host not a domain", "services.*.expose.hosts", (["short"], ["bad_host!.com"], [], "a.example.com",
                                                                ["a..example.com"], ["*"]),
               {"expose": {"gateway": "ingress"}}),
    Corruption("cluster domain not a domain", "clusterDomain", ("bad_domain", "", "a..b", "-a.com", "cluster.local.")),
    Corruption("version not an Istio version", "controlPlane.version", ("1.30", "v1.30.4", "1.30.4.1", "latest")),
    # shapes the models refuse
    Corruption("bad caller shorthand", "services.*.access.allowFrom.+", ("order", "shop/Order_1", "shop/", "/order",
                                                                         "a/b/c", 5)),
    Corruption("empty method in an allow rule", "services.*.access.allowFrom.+.methods",
               ([""], ["GET", ""], ["", "POST"]), _CALLER),
    Corruption("empty path in an allow rule", "services.*.access.allowFrom.+.paths",
               ([""], ["/api/*", ""], ["", "/"]), _CALLER),
    Corruption("{**} twice in a path", "services.*.access.allowFrom.+.paths",
               (["/a/{**}/b/{**}"], ["/{**}/{**}"], ["/ok", "/x/{**}/{*}/{**}"], ["/{**}/a/{**}"]), _CALLER),
    Corruption("caller listed twice", "services.*.access.allowFrom", (["shop/order", "shop/order"],
                                                                      ["shop/order", {"namespace": "shop",
                                                                                      "serviceAccount": "order"}])),
    Corruption("header match not exactly one operator", "services.*.traffic.matches.+.headers.x-seg",
               ({}, {"exact": "a", "prefix": "b"}, {"prefix": ""}, {"exact": "a", "regex": "a"}), _MATCH),
    Corruption("match without condition", "services.*.traffic.matches.+",
               ({"name": "m", "version": "v1"}, {"name": "m", "headers": {}, "version": "v1"})),
    # (a match without version routes to the whole service: no longer a corruption)
    Corruption("empty fault", "services.*.traffic.fault", ({},)),
    # per-route settings, match kinds and load balancing
    Corruption("route setting next to a redirect", "services.*.traffic.defaultRoute",
               ({"redirect": {"uri": "/x"}, "fault": {"abort": {"percent": 1, "httpStatus": 500}}},
                {"redirect": {"uri": "/x"}, "rewrite": {"uri": "/"}}, {"redirect": {"uri": "/x"}, "timeout": "1s"})),
    Corruption("empty redirect or rewrite", "services.*.traffic.matches.+.<key>",
               (("redirect", {}), ("rewrite", {}), ("redirect", {"redirectCode": 307})), _PATH_MATCH),
    Corruption("bad redirect code", "services.*.traffic.matches.+.redirect.redirectCode", (200, 404, 300, 399),
               {"+": {"name": "moved", "uriPrefix": "/old", "redirect": {"uri": "/x"}}}),
    Corruption("bad route timeout override", "services.*.traffic.defaultRoute.timeout", BAD_DURATIONS),
    Corruption("bad CORS", "services.*.traffic.defaultRoute.cors",
               ({"allowOrigins": []}, {"allowOrigins": [{}]}, {"allowMethods": ["GET"]},
                {"allowOrigins": [{"exact": "x"}], "allowMethods": ["get"]},
                # Istio refuses a preflight cache time with a fraction of a second (found by istioctl)
                {"allowOrigins": [{"exact": "x"}], "maxAge": "1500ms"},
                {"allowOrigins": [{"exact": "x"}], "maxAge": "0.5s"})),
    Corruption("query parameter prefix match", "services.*.traffic.matches.+.queryParams.q",
               ({"prefix": "a"}, {}, {"exact": "a", "regex": "a"}), _MATCH),
    Corruption("uri and uriPrefix together", "services.*.traffic.matches.+",
               ({"name": "m", "uri": {"prefix": "/a"}, "uriPrefix": "/a"},)),
    Corruption("simple and consistentHash together", "services.*.traffic.loadBalancer",
               ({"simple": "RANDOM", "consistentHash": {"useSourceIp": True}}, {},
                {"consistentHash": {"httpHeaderName": "x", "httpQueryParameterName": "q"}},
                {"consistentHash": {"useSourceIp": False}})),
    Corruption("unknown load balancer", "services.*.traffic.loadBalancer.simple",
               ("LEAST_CONN", "round_robin", "", "UNSPECIFIED")),
    Corruption("bad locality setting", "services.*.traffic.loadBalancer.localityLbSetting",
               ({}, {"failover": [{"from": "a", "to": "a"}]}, {"distribute": [{"from": "a", "to": {"b": 50}}]},
                {"failover": [{"from": "a", "to": "b"}], "distribute": [{"from": "a", "to": {"b": 100}}]})),
    Corruption("port policy out of range", "services.*.traffic.portPolicies.<key>",
               ((0, {"loadBalancer": {"simple": "RANDOM"}}), (65536, {"loadBalancer": {"simple": "RANDOM"}})), up=1),
    Corruption("empty port policy", "services.*.traffic.portPolicies.<key>", ((80, {}),)),
    Corruption("retry settings without attempts", "services.*.traffic.retries",
               ({"attempts": 0, "perTryTimeout": "1s"}, {"attempts": 0, "retryOn": "5xx"}, {"perTryTimeout": "1s"})),
    Corruption("exposure without gateway", "services.*.expose.gateway", (DELETE,),
               {"expose": {"hosts": ["a.example.com"]}}),
    Corruption("service without namespace", "services.*.namespace", (DELETE,)),
    Corruption("no control plane", "controlPlane", (DELETE,)),
    Corruption("install without charts", "controlPlane", ({"install": True}, {"install": True, "charts": None})),
    Corruption("autoscaleMax below replicas", "controlPlane.highAvailability",
               ({"replicas": 3, "autoscaleMax": 2}, {"autoscaleMax": 0})),
    Corruption("gateway autoscaleMax below replicas", "controlPlane.gateways.gw-extra",
               ({"replicas": 3, "autoscaleMax": 2}, {"replicas": 2, "autoscaleMax": 1},
                {"replicas": INT32_MAX, "autoscaleMax": INT32_MAX - 1}, {"kind": "egress", "replicas": 5,
                                                                         "autoscaleMax": 4})),
    Corruption("gateway named after a control plane release", "controlPlane.gateways.<key>",
               (*((name, {}) for name in CONTROL_PLANE_RELEASES), ("istiod", {"kind": "egress"})), up=1),
    Corruption("namespace revision not a label", "namespaces.*.revision", NOT_LABELS),
    # all-numeric top-level labels (Istio reads them as IP addresses)
    Corruption("cluster domain with a numeric top-level label", "clusterDomain",
               ("corp.42", "cluster.local.0", "a.b.123456", "x.007", "123.456")),
    Corruption("host with a numeric top-level label", "services.*.expose.hosts",
               (["shop.example.123"], ["*.example.42"], ["a.example.com", "b.1"], ["1.2.3.4"]), _EXPOSE),
    # trailing newlines (a `$`-anchored Python regex takes "name\n": every check must match the whole value)
    Corruption("trailing newline in a service name", "services.<key>", (("payment\n", {"namespace": "shop"}),)),
    Corruption("trailing newline in a namespace name", "namespaces.<key>", (("shop\n", {}), ("a\n", {}))),
    Corruption("trailing newline in a gateway name", "controlPlane.gateways.<key>", (("ingress\n", {}),)),
    Corruption("trailing newline in a version name", "services.*.versions.<key>", (("v2\n", {}),)),
    Corruption("trailing newline in a split version", "services.*.traffic.split.<key>", (("v1\n", 100),)),
    Corruption("trailing newline in an mTLS exception", "mtls.workloads.<key>",
               (("payment\n", {"mode": "STRICT"}), ("shop\n", {}))),
    Corruption("trailing newline in an mTLS namespace", "mtls.namespaces.<key>", (("shop\n", "STRICT"),)),
    Corruption("trailing newline in namespace labels", "namespaces.*.labels", NEWLINE_LABEL_MAPS),
    Corruption("trailing newline in a selector", "services.*.selector", NEWLINE_LABEL_MAPS),
    Corruption("trailing newline in a host", "services.*.expose.hosts",
               (["shop.example.com\n"], ["*.example.com\n"], ["a.example.com", "B.example.org\n"]), _EXPOSE),
    Corruption("trailing newline in the cluster domain", "clusterDomain", ("cluster.local\n", "corp.example\n")),
    Corruption("trailing newline in a revision tag", "controlPlane.revisionTags", (["stable\n"], ["ok", "canary\n"])),
    Corruption("trailing newline in a namespace revision", "namespaces.*.revision", ("canary\n", "1-30-4\n")),
    # integers beyond what Istio's int32 fields hold
    Corruption("split weight beyond int32", "services.*.traffic.split.v1", (2**31, -2**31 - 1, 2**63, 10**30)),
    # snake_case synonyms of camelCase keys: unknown keys (next to the camelCase one, one would silently win)
    Corruption("snake_case key at the root", "<key>", (("trust_domain", "corp.example"),
                                                       ("cluster_domain", "cluster.local"),
                                                       ("control_plane", {"install": False}))),
    Corruption("snake_case key in a service", "services.*.<key>", (("service_account", "order"),)),
    Corruption("snake_case key in access", "services.*.access.<key>", (("allow_from", ["shop/order"]),)),
    Corruption("snake_case key in a caller", "services.*.access.allowFrom.+.<key>",
               (("service_account", "order"), ("service_account", "frontend")), {"+": {"namespace": "shop"}}, up=1),
    Corruption("snake_case key in traffic", "services.*.traffic.<key>",
               (("circuit_breaker", {}), ("tls_mode", "DISABLE"), ("weights_managed_by", "flagger"))),
    Corruption("snake_case key in retries", "services.*.traffic.retries.<key>",
               (("retry_on", "5xx"), ("per_try_timeout", "1s")), _RETRIES),
    Corruption("snake_case key in a circuit breaker", "services.*.traffic.circuitBreaker.<key>",
               (("max_connections", 10), ("consecutive5xx_errors", 3), ("consecutive_5xx_errors", 3),
                ("base_ejection_time", "30s"))),
    Corruption("snake_case key in a match", "services.*.traffic.matches.+.<key>",
               (("uri_prefix", "/"), ("uri_prefix", "/api")), _MATCH),
    Corruption("snake_case key in a namespace", "namespaces.*.<key>", (("default_deny", True),)),
    Corruption("snake_case key in the control plane", "controlPlane.<key>",
               (("revision_tags", ["stable"]), ("high_availability", {}), ("mesh_config", {}),
                ("default_revision", False), ("istiod_values", {}))),
    Corruption("snake_case key in a gateway", "controlPlane.gateways.gw-extra.<key>",
               (("autoscale_max", 3), ("service_type", "ClusterIP"), ("tls_secret", "cert"))),
    Corruption("snake_case key in observability", "observability.<key>", (("access_logging", True),)),
    Corruption("existing Jaeger without collector", "observability.jaeger", ({"url": "http://jaeger:16686"},)),
    Corruption("manifest with chart settings", "observability.prometheus",
               ({"manifest": "/x.yaml", "url": "http://p"}, {"manifest": "/x.yaml", "chartVersion": "1.0.0"})),
    Corruption("Kiali without Prometheus", "observability", ({"prometheus": {"enabled": False}},)),
    Corruption("sample manifests outside istio-system", "observability",
               ({"namespace": "monitoring", "grafana": {"manifest": "/g.yaml"}},)),
)


@st.composite
def corrupted(draw, corruption: Corruption) -> tuple[dict, str]:
    """A valid mesh with ``corruption`` applied at one of its sites: ``(config, path where it must be reported)``."""
    mesh = draw(meshes(min_services=1, max_services=3).filter(lambda m: bool(corruption.sites(m))))
    site = draw(st.sampled_from(corruption.sites(mesh)))
    value = draw(st.sampled_from(corruption.values))
    return corruption.apply(mesh, site, value)


@st.composite
def empty_selector_exceptions(draw) -> tuple[dict, str]:
    """A valid mesh in which one service gets ``selector: {}`` and an mTLS workload exception with a mode or port
    modes: ``(config, path where check MR197 must report an error)``. parse_mesh takes it (each part is valid on
    its own); the PeerAuthentication would select every workload of the namespace, or Istio refuses its ports."""
    mesh = draw(meshes(min_services=1, max_services=3))
    name = draw(st.sampled_from(sorted(mesh["services"])))
    service = mesh["services"][name]
    service["selector"] = {}
    mtls = mesh.get("mtls") or {}
    mesh["mtls"] = mtls
    workload = mtls.setdefault("workloads", {}).setdefault(name, {})
    declared = [port["port"] for port in service.get("ports", [])]
    with_ports = draw(st.booleans())
    if with_ports:
        # Declared ports or not (an undeclared one is only a warning, MR194); a workload mode may come with them.
        numbers = draw(st.lists(st.sampled_from(declared) if declared and draw(st.booleans())
                                else st.integers(1, 65535), min_size=1, max_size=2, unique=True))
        workload["ports"] = {number: draw(st.sampled_from(MTLS_MODES[:3])) for number in numbers}
        if draw(st.booleans()):
            workload["mode"] = draw(st.sampled_from(MTLS_MODES))
        else:
            workload.pop("mode", None)
    else:
        workload.pop("ports", None)
        workload["mode"] = draw(st.sampled_from(MTLS_MODES[:3]))  # not UNSET: a mode of its own
    return mesh, f"mesh.mtls.workloads.{name}.{'ports' if with_ports else 'mode'}"


# ------------------------------------------------------------------------------------------------------------- junk

#: Keys the config uses, so junk mappings reach the models' fields and not only "unknown key".
CONFIG_KEYS = ("controlPlane", "install", "charts", "url", "gateways", "namespaces", "services", "namespace", "mode",
               "traffic", "split", "matches", "headers", "defaultRoute", "loadBalancer", "consistentHash", "redirect",
               "rewrite", "cors", "uri", "method", "queryParams", "withoutHeaders", "portPolicies", "regex", "exact",
               "prefix", "version", "versions", "labels",
               "retries", "attempts", "perTryTimeout", "retryOn", "timeout", "fault", "delay", "abort", "percent",
               "httpStatus", "fixedDelay", "mirror", "circuitBreaker", "interval", "ports", "port", "mtls",
               "workloads", "access", "allowFrom", "serviceAccount", "methods", "paths", "expose", "hosts",
               "gateway", "observability", "jaeger", "kiali", "prometheus", "grafana", "manifest", "tracing",
               "samplingPercent", "selector", "tlsMode", "revision", "revisionTags", "highAvailability", "replicas")


@functools.cache
def junk() -> st.SearchStrategy[Any]:
    """JSON-like values of any shape: unicode text, huge integers, NaN and infinities, nested lists and mappings."""
    scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=2**63 - 2, max_value=2**70),
                        st.floats(), st.text(), st.sampled_from(["1s", "STRICT", "shop/order", "v1", "5xx", "*"]))
    keys = st.one_of(st.sampled_from(CONFIG_KEYS), st.text(max_size=8), st.integers(-2, 70000))
    return st.recursive(scalars, lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)), max_leaves=25)


def _get(node: Any, path: tuple) -> Any:
    for key in path:
        node = node[key]
    return node


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


@st.composite
def grafted_junk(draw, values: st.SearchStrategy[Any] | None = None, replace_numbers: bool = False) -> dict:
    """A valid mesh in which one value (anywhere, at any depth) is replaced by ``values`` (default :func:`junk`);
    with ``replace_numbers``, one of its numbers (a weight, a port, a replica count…) when it has any."""
    mesh = draw(meshes(max_services=3))
    paths = _paths(mesh)
    if replace_numbers:
        numbers = [path for path in paths if type(_get(mesh, path)) in (int, float)]
        paths = numbers or paths
    target = draw(st.sampled_from(paths))
    node = mesh
    for key in target[:-1]:
        node = node[key]
    node[target[-1]] = draw(values if values is not None else junk())
    return mesh
