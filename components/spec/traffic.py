"""Configuration of services and their traffic: versions, routing, resilience, fault injection, exposure."""

from __future__ import annotations

import enum
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
)
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


class MatchRule(Model):
    """Send matching requests (a user segment, a header, a path) to one version."""

    name: str = Field(pattern=DNS_LABEL_PATTERN, description="Route name (shows in metrics and access logs).")
    headers: dict[HeaderName, HeaderMatch] = Field(default_factory=dict,
                                                   description="Header matches (all must match).")
    uri_prefix: str | None = Field(default=None, description="Path prefix match.")
    version: str = Field(description="Version receiving the matched requests.")
    service: str | None = Field(default=None, description="Another service to send them to; default: this one.")

    @model_validator(mode="after")
    def _matches_something(self) -> MatchRule:
        if not self.headers and self.uri_prefix is None:
            raise ValueError("a match needs headers or uriPrefix (otherwise it would catch every request)")
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
