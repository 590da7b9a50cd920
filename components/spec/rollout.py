"""Configuration of metric-gated canary rollouts (``services.<name>.rollout``) and of handing a service's route
weights to an in-cluster controller (``services.<name>.traffic.weightsManagedBy``).

A rollout is driven by ``python -m mesh_rollout.rollout <stack> <service>`` (see :mod:`mesh_rollout.rollout`): it moves
the service's split from ``stable`` to ``canary`` step by step, one targeted ``pulumi up`` per step, and after each
soak asks Prometheus whether the canary is healthy.
"""

from __future__ import annotations

import enum
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from .base import DnsLabel, Duration, Model


class WeightsManager(str, enum.Enum):
    """An in-cluster controller that owns a service's route weights."""

    #: Argo Rollouts edits ``spec.http[].route[].weight`` of the VirtualService you deploy (and, with subset-level
    #: splitting, injects ``rollouts-pod-template-hash`` into the DestinationRule's subset labels).
    ARGO_ROLLOUTS = "argo-rollouts"
    #: Flagger generates the whole VirtualService of the service itself (from its Canary's ``service:`` block).
    FLAGGER = "flagger"


#: A weight step: the canary's share of the traffic after the step, in percent.
StepWeight = Annotated[int, Field(ge=1, le=100)]


class GatesSpec(Model):
    """What the canary must show after each soak to be promoted. Measured over Istio's standard metrics with
    ``reporter="destination"`` (the canary's own sidecars): ``istio_requests_total`` and
    ``istio_request_duration_milliseconds_bucket``. No data, or Prometheus not answering, is a hold, never a
    promotion."""

    success_rate: float | None = Field(
        default=0.99, ge=0, le=1,
        description="Lowest share of the canary's requests that may answer with something other than 5xx "
        "(0.99 = 99%); null turns the gate off.")
    p99_latency_ms: float | None = Field(
        default=None, gt=0, description="Highest 99th percentile of the canary's request duration, in ms.")
    query: str | None = Field(
        default=None, min_length=1,
        description="A custom PromQL query: every value it returns must be <= queryMax or, without queryMax, true "
        "(not 0, e.g. `... < bool 5`). An empty result is no data (a hold).")
    query_max: float | None = Field(default=None, description="Highest value `query` may return.")
    window: Duration | None = Field(
        default=None,
        description="Range of the rate() windows, e.g. 1m; default: the soak time. Keep it at least two scrape "
        "intervals, or every query returns no data.")

    @model_validator(mode="after")
    def _at_least_one_gate(self) -> GatesSpec:
        if self.success_rate is None and self.p99_latency_ms is None and self.query is None:
            raise ValueError("a rollout needs at least one gate (successRate, p99LatencyMs or query): without one "
                             "every step would be promoted blind")
        if self.query_max is not None and self.query is None:
            raise ValueError("queryMax bounds the value of `query`: set query too")
        return self


def _check_prometheus_url(url: str | None) -> str | None:
    if url is None:
        return url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must be an http:// or https:// URL of Prometheus (its HTTP API answers under "
                         f"/api/v1), got {url!r}")
    return url


class RolloutSpec(Model):
    """A metric-gated canary rollout of a service, run by ``python -m mesh_rollout.rollout <stack> <service>``.

    Each step sets the split to ``{stable: 100 - w, canary: w}``, deploys only this service's VirtualService, waits
    ``soak`` and checks the gates: promote to the next step, hold (no data: wait another soak), or roll back to the
    last good weights. Steps at or below the canary's current weight are skipped, so a rollout starts where the
    traffic is."""

    canary: DnsLabel = Field(description="The version being rolled out (a key of `versions`).")
    stable: DnsLabel = Field(description="The version it takes the traffic from (a key of `versions`).")
    steps: list[StepWeight] = Field(
        default_factory=lambda: [5, 25, 50, 100],
        description="The canary's weight after each step, in percent: strictly increasing, each 1..100, ending at "
        "100.")
    soak: Duration = Field(default="2m", description="How long each step runs before the gates are checked.")
    gates: GatesSpec = Field(default_factory=GatesSpec, description="What the canary must show to be promoted.")
    prometheus: str | None = Field(
        default=None,
        description="Prometheus base URL the rollout command queries (it runs where you start it, e.g. in CI); "
        "default: observability.prometheus.url, else the in-cluster address of the Prometheus this stack installs.")
    max_holds: int = Field(
        default=3, ge=0, le=1000,
        description="Holds (no data, Prometheus unreachable) allowed at one step; one more rolls back.")

    @field_validator("prometheus")
    @classmethod
    def _prometheus_url(cls, url: str | None) -> str | None:
        return _check_prometheus_url(url)

    @field_validator("steps")
    @classmethod
    def _increasing_to_100(cls, steps: list[int]) -> list[int]:
        if not steps:
            raise ValueError("needs at least one step, and the last must be 100")
        for index in range(1, len(steps)):
            if steps[index] <= steps[index - 1]:
                raise ValueError(f"steps must be strictly increasing: step {index + 1} ({steps[index]}) does not "
                                 f"exceed step {index} ({steps[index - 1]})")
        if steps[-1] != 100:
            raise ValueError(f"the last step must be 100 (the canary takes all the traffic), got {steps[-1]}")
        return steps

    @model_validator(mode="after")
    def _two_versions(self) -> RolloutSpec:
        if self.canary == self.stable:
            raise ValueError(f"canary and stable must be different versions, both are {self.canary!r}")
        return self

    def weights(self, canary_weight: int) -> dict[str, int]:
        """The split with ``canary_weight`` percent on the canary, the rest on the stable version."""
        return {self.stable: 100 - canary_weight, self.canary: canary_weight}
