"""The gates of a rollout as PromQL over Istio's standard metrics (pure: no HTTP here).

Istio's proxies report every request twice, from the client side (``reporter="source"``) and from the server side
(``reporter="destination"``). The gates read the canary's own sidecars (``reporter="destination"``), selected by the
labels Istio puts on the destination: ``destination_service_name``, ``destination_service_namespace`` and
``destination_version`` (the pods' ``version`` label).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..spec import RolloutSpec
from ..spec.base import duration_nanos

REQUESTS = "istio_requests_total"
DURATION_BUCKETS = "istio_request_duration_milliseconds_bucket"

#: Units PromQL durations take, largest first (PromQL has no fractions: 1.5s is written 1500ms).
_PROMQL_UNITS = (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1))


def promql_duration(duration: str) -> str:
    """An Istio duration (``2m``, ``1m30s``, ``1.5s``) as a PromQL range: ``2m``, ``90s``, ``1500ms``."""
    millis = duration_nanos(duration) // 1_000_000
    for unit, size in _PROMQL_UNITS:
        if millis % size == 0:
            return f"{millis // size}{unit}"
    return f"{millis}ms"  # unreachable: every whole number of ms divides by 1


def selector(service: str, namespace: str, version: str) -> str:
    """The label matchers of the canary's requests as its own sidecars report them."""
    return (f'reporter="destination",destination_service_name="{service}",'
            f'destination_service_namespace="{namespace}",destination_version="{version}"')


def success_rate_query(service: str, namespace: str, version: str, window: str) -> str:
    """Share of the version's requests not answered with a 5xx, over ``window``."""
    labels = selector(service, namespace, version)
    return (f'sum(rate({REQUESTS}{{{labels},response_code!~"5.."}}[{window}])) / '
            f'sum(rate({REQUESTS}{{{labels}}}[{window}]))')


def p99_query(service: str, namespace: str, version: str, window: str) -> str:
    """99th percentile of the version's request duration in milliseconds, over ``window``."""
    labels = selector(service, namespace, version)
    return f"histogram_quantile(0.99, sum by (le) (rate({DURATION_BUCKETS}{{{labels}}}[{window}])))"


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return f"{value:g}"


@dataclass(frozen=True)
class Gate:
    """One condition the canary must meet, as a PromQL query and a bound."""

    #: The config key the gate comes from: ``successRate``, ``p99LatencyMs`` or ``query``.
    name: str
    promql: str
    #: ``min``: every value >= bound; ``max``: every value <= bound; ``true``: every value is not 0.
    kind: str
    #: The bound of a ``min`` or ``max`` gate; ``None`` for ``true``.
    bound: float | None = None

    @property
    def limit(self) -> float:
        """The bound of a ``min`` or ``max`` gate (they always have one)."""
        if self.bound is None:
            raise ValueError(f"the {self.kind} gate {self.name} has no bound")
        return self.bound

    def passes(self, value: float) -> bool:
        if self.kind == "min":
            return value >= self.limit
        if self.kind == "max":
            return value <= self.limit
        return value != 0

    def describe(self, value: float) -> str:
        """``successRate 0.9990 >= 0.99``, ``p99 620ms > 500ms``, ``query 1 (true)``."""
        ok = self.passes(value)
        if self.name == "successRate":
            return f"successRate {value:.4f} {'>=' if ok else '<'} {_number(self.limit)}"
        if self.name == "p99LatencyMs":
            return f"p99 {_number(round(value, 1))}ms {'<=' if ok else '>'} {_number(self.limit)}ms"
        if self.kind == "max":
            return f"query {_number(value)} {'<=' if ok else '>'} {_number(self.limit)}"
        return f"query {_number(value)} ({'true' if ok else 'false'})"

    def condition(self) -> str:
        """The gate in words, for headers: ``successRate >= 0.99``."""
        if self.name == "successRate":
            return f"successRate >= {_number(self.limit)}"
        if self.name == "p99LatencyMs":
            return f"p99 <= {_number(self.limit)}ms"
        return f"query <= {_number(self.limit)}" if self.kind == "max" else "query true"


def window_of(policy: RolloutSpec) -> str:
    """The PromQL range the gates use: ``gates.window``, else the soak time."""
    return promql_duration(policy.gates.window or policy.soak)


def gates_for(policy: RolloutSpec, service: str, namespace: str) -> list[Gate]:
    """The rollout's gates for ``service`` in ``namespace``, in a fixed order."""
    window, canary, gates = window_of(policy), policy.canary, policy.gates
    found = []
    if gates.success_rate is not None:
        found.append(Gate("successRate", success_rate_query(service, namespace, canary, window), "min",
                          gates.success_rate))
    if gates.p99_latency_ms is not None:
        found.append(Gate("p99LatencyMs", p99_query(service, namespace, canary, window), "max", gates.p99_latency_ms))
    if gates.query is not None:
        found.append(Gate("query", gates.query, "max" if gates.query_max is not None else "true", gates.query_max))
    return found
