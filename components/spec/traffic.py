"""Configuration of services and their traffic: versions, routing, resilience, fault injection, exposure."""

from __future__ import annotations

import enum
import re
from http import HTTPStatus
from typing import Annotated

from pydantic import Field, field_validator, model_validator

from .base import (
    DNS_LABEL_PATTERN,
    INT32_MAX,
    UINT32_MAX,
    DnsLabel,
    DnsSubdomain,
    Duration,
    HeaderName,
    Labels,
    Model,
    Re2Pattern,
    domain_problem,
    duration_nanos,
)
from .ingress import IngressTls
from .rollout import RolloutSpec, WeightsManager
from .security import AccessSpec


class PortSpec(Model):
    """A service port. Istio infers the protocol from the name prefix (``http-…``, ``grpc``) or appProtocol."""

    port: int = Field(ge=1, le=65535, description="Port number.")
    name: str | None = Field(default=None, description="Port name, e.g. http, http-web, grpc, tcp-db.")
    app_protocol: str | None = Field(default=None, description="Kubernetes appProtocol (http, http2, grpc, tcp).")


class VersionSpec(Model):
    """One version (DestinationRule subset) of a service."""

    labels: Labels | None = Field(
        default=None, description="Pod labels selecting this version; default {version: <version name>}."
    )


#: Retry conditions Istio accepts (Envoy's x-envoy-retry-on and x-envoy-retry-grpc-on values; istio
#: pkg/config/validation). An HTTP status code (e.g. 503) is accepted too.
RETRY_ON_CONDITIONS = frozenset({
    "5xx", "gateway-error", "reset", "reset-before-request", "connect-failure", "retriable-4xx", "refused-stream",
    "retriable-status-codes", "retriable-headers", "envoy-ratelimited", "http3-post-connect-failure",
    "cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable",
})


def _is_http_status(condition: str) -> bool:
    if not condition.isascii() or not condition.isdigit():
        return False
    try:
        HTTPStatus(int(condition))
    except ValueError:
        return False
    return True


class RetrySpec(Model):
    """Retry policy of a route."""

    attempts: int = Field(ge=0, le=INT32_MAX, description="Number of retries (0 turns retries off).")
    per_try_timeout: Duration | None = Field(default=None, description="Timeout of each try, e.g. 2s.")
    retry_on: str | None = Field(
        default=None,
        description="Envoy retry conditions, comma-separated without spaces, e.g. 5xx,reset,connect-failure,"
        "retriable-4xx; gRPC conditions (cancelled, unavailable, …) and HTTP status codes (503) too.",
    )

    @field_validator("retry_on")
    @classmethod
    def _known_conditions(cls, value: str | None) -> str | None:
        if value is None:
            return value
        unknown = [c for c in value.split(",") if c not in RETRY_ON_CONDITIONS and not _is_http_status(c)]
        if unknown:
            raise ValueError(f"unknown retry condition(s) {', '.join(map(repr, unknown))}: expected a comma-separated "
                             f"list (no spaces) of {', '.join(sorted(RETRY_ON_CONDITIONS))} or HTTP status codes")
        return value

    @model_validator(mode="after")
    def _no_settings_without_retries(self) -> RetrySpec:
        # Istio's webhook rejects perTryTimeout/retryOn when attempts is 0.
        if self.attempts == 0 and (self.per_try_timeout is not None or self.retry_on is not None):
            raise ValueError("perTryTimeout and retryOn need attempts > 0 (attempts: 0 turns retries off)")
        return self


class CircuitBreakerSpec(Model):
    """Connection pool limits and outlier detection: Istio's circuit breaker, set on the DestinationRule."""

    max_connections: int | None = Field(default=None, ge=1, le=INT32_MAX, description="TCP connection cap per host.")
    http1_max_pending_requests: int | None = Field(
        default=None, ge=1, le=INT32_MAX, description="Queued HTTP/1 requests cap.")
    http2_max_requests: int | None = Field(
        default=None, ge=1, le=INT32_MAX, description="Concurrent HTTP/2 requests cap.")
    max_requests_per_connection: int | None = Field(
        default=None, ge=1, le=INT32_MAX, description="Requests per connection.")
    consecutive5xx_errors: int = Field(default=5, ge=0, le=UINT32_MAX, alias="consecutive5xxErrors",
                                       description="5xx errors before a host is ejected.")
    interval: Duration = Field(default="10s", description="Ejection analysis interval.")
    base_ejection_time: Duration = Field(default="30s", description="Minimum ejection duration.")
    max_ejection_percent: int = Field(default=50, ge=0, le=100, description="Most hosts that may be ejected (%).")


class FaultDelay(Model):
    """Inject a fixed delay into a percentage of requests."""

    percent: float = Field(description="Share of requests delayed, 0-100.")
    fixed_delay: Duration = Field(description="Delay, e.g. 5s.")


class FaultAbort(Model):
    """Abort a percentage of requests with an HTTP status."""

    percent: float = Field(description="Share of requests aborted, 0-100.")
    http_status: int = Field(ge=200, le=599, description="HTTP status returned, e.g. 503.")


class FaultSpec(Model):
    """Fault injection on a route (chaos testing; never in production)."""

    delay: FaultDelay | None = Field(default=None, description="Delay injection.")
    abort: FaultAbort | None = Field(default=None, description="Abort injection.")

    @model_validator(mode="after")
    def _delay_or_abort(self) -> FaultSpec:
        if self.delay is None and self.abort is None:
            raise ValueError("fault needs delay, abort or both (Istio rejects an empty fault)")
        return self


class MirrorSpec(Model):
    """Copy live traffic (fire and forget) to a version of this service, or to another service."""

    version: str | None = Field(default=None, description="Version of this (or `service`'s) service to mirror to.")
    service: str | None = Field(default=None, description="Another service (name in `services`); default: this one.")
    percent: float = Field(default=100.0, description="Share of requests mirrored, 0-100.")


class HeaderMatch(Model):
    """How a header value is matched: exactly one of exact, prefix, regex."""

    exact: str | None = Field(default=None, description="Exact value.")
    prefix: str | None = Field(default=None, min_length=1,
                                  description="Value prefix (not empty: Istio refuses an empty prefix).")
    regex: Re2Pattern | None = Field(default=None, description="RE2 regular expression (no lookaround).")

    @model_validator(mode="after")
    def _exactly_one(self) -> HeaderMatch:
        given = [kind for kind in ("exact", "prefix", "regex") if getattr(self, kind) is not None]
        if len(given) != 1:
            raise ValueError(f"set exactly one of exact, prefix, regex (given: {', '.join(given) or 'none'})")
        return self


class UriMatch(HeaderMatch):
    """How the request path is matched: exactly one of exact, prefix, regex."""


class QueryParamMatch(Model):
    """How a query parameter is matched: exactly one of exact, regex (Envoy has no prefix match for them)."""

    exact: str | None = Field(default=None, description="Exact value (empty: the parameter is present).")
    regex: Re2Pattern | None = Field(default=None, description="RE2 regular expression (no lookaround).")

    @model_validator(mode="after")
    def _exactly_one(self) -> QueryParamMatch:
        given = [kind for kind in ("exact", "regex") if getattr(self, kind) is not None]
        if len(given) != 1:
            raise ValueError(f"set exactly one of exact, regex (given: {', '.join(given) or 'none'}); Istio has no "
                             "prefix match for query parameters")
        return self


class HeaderOperations(Model):
    """Headers a route sets, adds or removes (request headers before forwarding, response headers on the way back)."""

    set: dict[HeaderName, str] = Field(default_factory=dict, description="Headers to set (overwriting), by name.")
    add: dict[HeaderName, str] = Field(default_factory=dict, description="Headers to append, by name.")
    remove: list[HeaderName] = Field(default_factory=list, description="Header names to remove.")


class RewriteSpec(Model):
    """Rewrite the path and/or the Host (authority) before forwarding."""

    uri: str | None = Field(default=None, min_length=1,
                            description="Replaces the matched part of the path (the whole path for an exact or "
                            "regex match, the prefix for a prefix match).")
    authority: str | None = Field(default=None, min_length=1, description="New Host/authority header.")

    @model_validator(mode="after")
    def _something(self) -> RewriteSpec:
        if self.uri is None and self.authority is None:
            raise ValueError("rewrite needs uri, authority or both (Istio refuses an empty rewrite)")
        return self


class RedirectSpec(Model):
    """Answer with an HTTP redirect instead of forwarding (the route then has no destination)."""

    uri: str | None = Field(default=None, min_length=1, description="Path of the redirect location.")
    authority: str | None = Field(default=None, min_length=1, description="Host of the redirect location.")
    scheme: str | None = Field(default=None, pattern=r"^(http|https)$", description="http or https.")
    port: int | None = Field(default=None, ge=1, le=65535, description="Port of the redirect location.")
    redirect_code: int = Field(default=301, description="Status: 301, 302, 303, 307 or 308.")

    @field_validator("redirect_code")
    @classmethod
    def _redirect_status(cls, code: int) -> int:
        if code not in (301, 302, 303, 307, 308):
            raise ValueError(f"must be a redirect status, one of 301, 302, 303, 307, 308, got {code}")
        return code

    @model_validator(mode="after")
    def _somewhere(self) -> RedirectSpec:
        if self.uri is None and self.authority is None and self.scheme is None and self.port is None:
            raise ValueError("redirect needs at least one of uri, authority, scheme, port (otherwise it redirects "
                             "to the same URL forever)")
        return self


class CorsSpec(Model):
    """Cross-origin resource sharing policy, answered by the proxy (preflights included)."""

    allow_origins: list[HeaderMatch] = Field(
        min_length=1, description="Origins allowed, each {exact|prefix|regex}, e.g. {exact: https://shop.example.com}.")
    allow_methods: list[str] = Field(default_factory=list, description="Methods allowed, e.g. [GET, POST].")
    allow_headers: list[HeaderName] = Field(default_factory=list, description="Request headers allowed.")
    expose_headers: list[HeaderName] = Field(default_factory=list, description="Response headers browsers may read.")
    max_age: Duration | None = Field(default=None, description="How long browsers cache a preflight, e.g. 24h.")
    allow_credentials: bool | None = Field(default=None, description="Allow credentialed requests (cookies).")

    @field_validator("allow_methods")
    @classmethod
    def _upper_case(cls, methods: list[str]) -> list[str]:
        wrong = [m for m in methods if not re.fullmatch(r"[A-Z]+", m)]
        if wrong:
            raise ValueError(f"methods are upper-case tokens (GET, POST, ...), got {', '.join(map(repr, wrong))}")
        return methods

    @field_validator("max_age")
    @classmethod
    def _whole_seconds(cls, max_age: str | None) -> str | None:
        # Access-Control-Max-Age is in seconds, and Istio's validation refuses a maxAge with a fraction of one
        # ("max_age duration is accurate only to seconds precision"), found by istioctl in the property suite.
        if max_age is not None and duration_nanos(max_age) % 1_000_000_000:
            raise ValueError(f"must be whole seconds (browsers cache a preflight for a number of seconds), got "
                             f"{max_age!r}")
        return max_age


#: Route settings a redirect route cannot have: the proxy answers it itself, so they would never apply (fault:
#: Istio refuses it next to a redirect; rewrite: refused too).
_NOT_WITH_REDIRECT = ("timeout", "retries", "fault", "mirror", "rewrite")


class RouteSettings(Model):
    """What one HTTP route does besides choosing a destination. A key left out inherits the service-level default
    (traffic.timeout, retries, fault, mirror); a key given as null turns that default off on this route."""

    timeout: Duration | None = Field(default=None, description="Route timeout; null: no timeout on this route.")
    retries: RetrySpec | None = Field(
        default=None, description="Retry policy; {attempts: 0} turns retries off, null leaves Istio's default.")
    fault: FaultSpec | None = Field(default=None, description="Fault injection; null: none on this route.")
    mirror: MirrorSpec | None = Field(default=None, description="Traffic mirroring; null: none on this route.")
    request_headers: HeaderOperations | None = Field(default=None, description="Request header changes.")
    response_headers: HeaderOperations | None = Field(default=None, description="Response header changes.")
    rewrite: RewriteSpec | None = Field(default=None, description="Path/authority rewrite before forwarding.")
    redirect: RedirectSpec | None = Field(
        default=None, description="Answer with a redirect instead of forwarding (no version, service or split).")
    cors: CorsSpec | None = Field(default=None, description="CORS policy.")

    @model_validator(mode="after")
    def _redirect_alone(self) -> RouteSettings:
        if self.redirect is not None:
            clash = [key for key in _NOT_WITH_REDIRECT if getattr(self, key) is not None]
            if clash:
                raise ValueError(f"a redirect route is answered by the proxy, so {', '.join(clash)} would never "
                                 f"apply (Istio refuses fault and rewrite next to a redirect); expected redirect "
                                 f"alone, got redirect with {', '.join(clash)}")
        return self

    def inherits(self, setting: str) -> bool:
        """Whether ``setting`` (timeout, retries, fault, mirror) comes from the service-level default: the route
        does not give the key and is not a redirect (a redirect route takes none of them)."""
        return self.redirect is None and setting not in self.model_fields_set


#: Service-level settings that are defaults of every HTTP route.
ROUTE_DEFAULTS = ("timeout", "retries", "fault", "mirror")


class MatchRule(RouteSettings):
    """Send matching requests (a user segment, a header, a path) to one version, with settings of its own.

    Every condition given must hold (AND)."""

    name: str = Field(pattern=DNS_LABEL_PATTERN, description="Route name (shows in metrics and access logs).")
    headers: dict[HeaderName, HeaderMatch] = Field(default_factory=dict,
                                                   description="Header matches (all must match).")
    without_headers: dict[HeaderName, HeaderMatch] = Field(
        default_factory=dict, description="Headers that must not match (absent, or another value).")
    uri: UriMatch | None = Field(default=None, description="Path match: {exact|prefix|regex}.")
    uri_prefix: str | None = Field(default=None, description="Path prefix match (short for uri: {prefix: ...}).")
    method: HeaderMatch | None = Field(default=None, description="Method match, e.g. {exact: POST}.")
    query_params: dict[str, QueryParamMatch] = Field(
        default_factory=dict, description="Query parameter matches (all must match), {exact|regex} each.")
    version: str | None = Field(
        default=None, description="Version receiving the matched requests; default: the whole service.")
    service: str | None = Field(default=None, description="Another service to send them to; default: this one.")

    @model_validator(mode="after")
    def _matches_something(self) -> MatchRule:
        if not (self.headers or self.without_headers or self.uri or self.uri_prefix is not None or self.method
                or self.query_params):
            raise ValueError("a match needs headers, withoutHeaders, uri (or uriPrefix), method or queryParams "
                             "(otherwise it would catch every request)")
        if self.uri is not None and self.uri_prefix is not None:
            raise ValueError("give the path match once: uri: {prefix: ...} or uriPrefix, not both")
        return self

    def path_match(self) -> UriMatch | None:
        """The path condition, whichever key gave it (``uriPrefix`` is ``uri: {prefix: ...}``)."""
        if self.uri_prefix is not None:
            # Not validated again: uriPrefix has always taken any string and planned it as written.
            return UriMatch.model_construct(prefix=self.uri_prefix)
        return self.uri


class DefaultRouteSpec(RouteSettings):
    """Settings of the default route only (requests no match rule takes): they override the service-level
    defaults there, and leave the match rules alone."""


class SimpleLoadBalancer(str, enum.Enum):
    """Envoy's load balancing algorithms as Istio names them."""

    ROUND_ROBIN = "ROUND_ROBIN"
    LEAST_REQUEST = "LEAST_REQUEST"
    RANDOM = "RANDOM"
    PASSTHROUGH = "PASSTHROUGH"


class HttpCookieSpec(Model):
    """A cookie to hash on; Envoy sets it on the first response when the request has none (and ttl is given)."""

    name: str = Field(min_length=1, pattern=r"^[!#$%&'*+\-.^_`|~A-Za-z0-9]+$", description="Cookie name.")
    ttl: Duration | None = Field(default=None,
                                 description="Lifetime of the cookie Envoy generates; unset: Envoy generates none.")
    path: str | None = Field(default=None, min_length=1, description="Path of the generated cookie.")


class ConsistentHashSpec(Model):
    """Sticky sessions: requests with the same key go to the same pod (within a version). Exactly one key."""

    http_header_name: HeaderName | None = Field(default=None, description="Hash on this request header.")
    http_cookie: HttpCookieSpec | None = Field(default=None, description="Hash on this cookie.")
    use_source_ip: bool | None = Field(default=None, description="Hash on the caller's IP address (true).")
    http_query_parameter_name: str | None = Field(default=None, min_length=1,
                                                  description="Hash on this query parameter.")

    @model_validator(mode="after")
    def _exactly_one(self) -> ConsistentHashSpec:
        if self.use_source_ip is False:
            raise ValueError("useSourceIp: false hashes on nothing; leave it out and name another key")
        given = [key for key, value in (("httpHeaderName", self.http_header_name), ("httpCookie", self.http_cookie),
                                        ("useSourceIp", self.use_source_ip),
                                        ("httpQueryParameterName", self.http_query_parameter_name))
                 if value is not None]
        if len(given) != 1:
            raise ValueError("set exactly one of httpHeaderName, httpCookie, useSourceIp, httpQueryParameterName "
                             f"(given: {', '.join(given) or 'none'})")
        return self


#: A locality: region, region/zone or region/zone/subzone; ``*`` for any (distribute's from only).
_LOCALITY = r"^(\*|[^/*\s]+(/(\*|[^/*\s]+)(/(\*|[^/*\s]+))?)?)$"


class LocalityFailover(Model):
    """Send a region's traffic to another region when its own endpoints are unhealthy."""

    from_: str = Field(alias="from", pattern=r"^[^/*\s]+$", description="Region the traffic comes from.")
    to: str = Field(pattern=r"^[^/*\s]+$", description="Region it fails over to.")

    @model_validator(mode="after")
    def _elsewhere(self) -> LocalityFailover:
        if self.from_ == self.to:
            raise ValueError(f"failover from {self.from_!r} to itself changes nothing; expected another region")
        return self


class LocalityDistribute(Model):
    """Share traffic from one locality among localities by weight."""

    from_: str = Field(alias="from", pattern=_LOCALITY, description="Locality of the callers, e.g. us-west/zone1/*.")
    to: dict[Annotated[str, Field(pattern=_LOCALITY)], Annotated[int, Field(ge=1, le=100)]] = Field(
        min_length=1, description="Weights by destination locality, adding up to 100.")

    @model_validator(mode="after")
    def _hundred(self) -> LocalityDistribute:
        total = sum(self.to.values())
        if total != 100:
            raise ValueError(f"the weights in to must add up to 100 (Istio refuses anything else), got {total}")
        return self


class LocalitySpec(Model):
    """Locality-aware load balancing: failover between regions, or a weighted distribution."""

    failover: list[LocalityFailover] = Field(
        default_factory=list, description="Failover regions (needs outlier detection: a circuitBreaker).")
    distribute: list[LocalityDistribute] = Field(default_factory=list, description="Weighted distribution.")

    @model_validator(mode="after")
    def _one_kind(self) -> LocalitySpec:
        if self.failover and self.distribute:
            raise ValueError("set failover or distribute, not both (Istio refuses both)")
        if not self.failover and not self.distribute:
            raise ValueError("set failover or distribute (an empty locality setting does nothing)")
        return self


class LoadBalancerSpec(Model):
    """How a caller's proxy picks a pod: an algorithm (simple) or sticky sessions (consistentHash), plus locality."""

    simple: SimpleLoadBalancer | None = Field(
        default=None, description="ROUND_ROBIN, LEAST_REQUEST (Istio's default), RANDOM or PASSTHROUGH.")
    consistent_hash: ConsistentHashSpec | None = Field(default=None, description="Sticky sessions.")
    locality_lb_setting: LocalitySpec | None = Field(default=None, description="Locality failover/distribution.")

    @model_validator(mode="after")
    def _simple_or_hash(self) -> LoadBalancerSpec:
        if self.simple is not None and self.consistent_hash is not None:
            raise ValueError(f"set simple or consistentHash, not both: a consistent hash is the algorithm (Istio "
                             f"refuses both); got simple {self.simple.value} and consistentHash")
        if self.simple is None and self.consistent_hash is None and self.locality_lb_setting is None:
            raise ValueError("loadBalancer needs simple, consistentHash or localityLbSetting")
        return self


class PortPolicySpec(Model):
    """Traffic policy of one port of the service (DestinationRule portLevelSettings): replaces the service-level
    loadBalancer / circuitBreaker on that port."""

    load_balancer: LoadBalancerSpec | None = Field(default=None, description="Load balancing on this port.")
    circuit_breaker: CircuitBreakerSpec | None = Field(default=None, description="Circuit breaker on this port.")

    @model_validator(mode="after")
    def _something(self) -> PortPolicySpec:
        if self.load_balancer is None and self.circuit_breaker is None:
            raise ValueError("a port policy needs loadBalancer, circuitBreaker or both")
        return self


class TlsMode(str, enum.Enum):
    """DestinationRule client TLS modes."""

    DISABLE = "DISABLE"
    SIMPLE = "SIMPLE"
    MUTUAL = "MUTUAL"
    ISTIO_MUTUAL = "ISTIO_MUTUAL"


class TrafficSpec(Model):
    """Routing and resilience for requests to a service."""

    split: dict[DnsLabel, Annotated[int, Field(ge=-INT32_MAX - 1, le=INT32_MAX)]] = Field(
        default_factory=dict,
        description="Weighted split by version, e.g. {v1: 90, v2: 10}; empty = all traffic to the service.",
    )
    matches: list[MatchRule] = Field(default_factory=list, description="Match rules, evaluated before the split.")
    timeout: Duration | None = Field(default=None, description="Route timeout, e.g. 5s.")
    retries: RetrySpec | None = Field(default=None, description="Retry policy.")
    circuit_breaker: CircuitBreakerSpec | None = Field(default=None, description="Circuit breaker.")
    fault: FaultSpec | None = Field(default=None, description="Fault injection (dev/test stacks).")
    mirror: MirrorSpec | None = Field(default=None, description="Traffic mirroring.")
    default_route: DefaultRouteSpec | None = Field(
        default=None, description="Settings of the default route only (what no match takes); they override the "
        "service-level timeout, retries, fault and mirror there.")
    load_balancer: LoadBalancerSpec | None = Field(default=None, description="Load balancing (DestinationRule).")
    port_policies: dict[Annotated[int, Field(ge=1, le=65535)], PortPolicySpec] = Field(
        default_factory=dict, description="Traffic policy by port number (portLevelSettings).")
    tls_mode: TlsMode | None = Field(
        default=None,
        description="Explicit client TLS mode on the DestinationRule. Leave unset: it turns off auto-mTLS. MUTUAL "
        "(your own client certificates) is refused: certificates cannot be given here; use ISTIO_MUTUAL.",
    )
    weights_managed_by: WeightsManager | None = Field(
        default=None,
        description="Leave the route weights to an in-cluster controller: argo-rollouts (the stack creates the "
        "VirtualService with `split` as initial weights and never changes the weights again; it ignores the subset "
        "labels Argo injects too), flagger (Flagger generates the VirtualService: the stack creates none).",
    )

    @field_validator("tls_mode")
    @classmethod
    def _no_mutual_without_certificates(cls, mode: TlsMode | None) -> TlsMode | None:
        if mode is TlsMode.MUTUAL:
            raise ValueError("MUTUAL needs a client certificate and key, which this package cannot configure (Istio "
                             "refuses MUTUAL without them): use ISTIO_MUTUAL for mesh mTLS, SIMPLE for server-only TLS")
        return mode


class ExposureSpec(Model):
    """Publish a service through an ingress gateway."""

    gateway: str = Field(description="Gateway name from controlPlane.gateways.")
    hosts: list[str] = Field(min_length=1, description="External host names, e.g. shop.example.com or *.example.com.")
    tls: IngressTls | None = Field(
        default=None, description="TLS of these hosts (mode, credentialName, minProtocolVersion, httpsRedirect); "
        "default: the gateway's tls (or tlsSecret); neither: plaintext HTTP on port 80 only.")

    @field_validator("hosts")
    @classmethod
    def _domain_names(cls, hosts: list[str]) -> list[str]:
        problems = [problem for host in hosts for problem in [domain_problem(host, wildcard=True)] if problem]
        problems += [f"{host!r} is a short name: a gateway host must be fully qualified (e.g. shop.example.com)"
                     for host in hosts if "." not in host and host != "*"]
        if problems:
            raise ValueError("; ".join(problems))
        return hosts


class ServiceSpec(Model):
    """A Kubernetes Service in the mesh and everything the mesh does for it."""

    namespace: str = Field(pattern=DNS_LABEL_PATTERN, description="Namespace of the Service (key of `namespaces`).")
    service_account: DnsSubdomain | None = Field(
        default=None, description="Workload service account; default: name.")
    selector: Labels | None = Field(default=None, description="Workload labels; default {app: <name>}.")
    ports: list[PortSpec] = Field(default_factory=list, description="Service ports (protocol inference check).")
    versions: dict[DnsLabel, VersionSpec] = Field(default_factory=dict, description="Versions (subsets) by name.")
    traffic: TrafficSpec = Field(default_factory=TrafficSpec, description="Routing and resilience.")
    access: AccessSpec = Field(default_factory=AccessSpec, description="Zero-trust allow-list.")
    expose: ExposureSpec | None = Field(default=None, description="Ingress exposure.")
    rollout: RolloutSpec | None = Field(
        default=None, description="Metric-gated canary rollout policy (python -m mesh_rollout.rollout).")
    egress: list[DnsLabel] = Field(
        default_factory=list,
        description="External services (names in `egress`) the service calls; with REGISTRY_ONLY each must be "
        "declared there, or the sidecar blocks the call.")
