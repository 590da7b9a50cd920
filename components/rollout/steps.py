"""The rollout's decisions, as pure functions: which weights each step sets, where a rollout starts or resumes, and
whether a step is promoted, held or rolled back given what Prometheus answered. No HTTP, no engine, no files."""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..spec import RolloutSpec
from .queries import Gate


@dataclass(frozen=True)
class Step:
    """One step of a rollout: its number in the policy (1-based) and the split it sets."""

    number: int
    total: int
    weights: dict[str, int]

    @property
    def label(self) -> str:
        return f"{self.number}/{self.total}"


def format_weights(weights: Mapping[str, int]) -> str:
    """``v1=75 v2=25``."""
    return " ".join(f"{version}={weight}" for version, weight in weights.items())


def baseline(policy: RolloutSpec, split: Mapping[str, float]) -> dict[str, int]:
    """The weights the rollout starts from, read from the service's current split (stable first). An empty split
    sends everything to the service as a whole, which the rollout takes as all on the stable version."""
    if not split:
        return policy.weights(0)
    return {policy.stable: int(split.get(policy.stable, 0)), policy.canary: int(split.get(policy.canary, 0))}


def remaining_steps(policy: RolloutSpec, last_good: Mapping[str, int]) -> list[Step]:
    """The steps still to run when the canary already has ``last_good[canary]`` percent: those above it. A new
    rollout starts where the traffic is; a resumed one after its last completed step."""
    done = last_good.get(policy.canary, 0)
    total = len(policy.steps)
    return [Step(number, total, policy.weights(weight))
            for number, weight in enumerate(policy.steps, start=1) if weight > done]


class Verdict(str, enum.Enum):
    PROMOTE = "promote"
    HOLD = "hold"
    ROLLBACK = "ROLLBACK"


@dataclass(frozen=True)
class Measurement:
    """What Prometheus answered for one gate: its values (several for a custom query returning a vector; empty
    when there was no data), or why there is none."""

    gate: Gate
    values: tuple[float, ...] = ()
    #: Why there are no values (``empty result``, ``Prometheus unreachable: …``); ``None`` when values came back.
    problem: str | None = None

    @property
    def usable(self) -> tuple[float, ...]:
        """The values a gate can be judged on: NaN (``0/0``: no requests in the window) is no data."""
        return tuple(v for v in self.values if not math.isnan(v))

    def verdict(self) -> bool | None:
        """``True`` passes, ``False`` fails, ``None`` no data."""
        values = self.usable
        if not values:
            return None
        return all(self.gate.passes(v) for v in values)

    def describe(self) -> str:
        """The measured value against the bound (the worst value when several failed), or why there is none."""
        values = self.usable
        if not values:
            why = self.problem or ("no requests in the window (NaN)" if self.values else "empty result")
            return f"{self.gate.name}: {why}"
        failing = [v for v in values if not self.gate.passes(v)]
        if failing:
            worst = min(failing) if self.gate.kind == "min" else max(failing)
            return self.gate.describe(worst)
        return self.gate.describe(min(values) if self.gate.kind == "min" else max(values))


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    #: Why, in words: the gates' values against their bounds, or which gate had no data.
    reason: str
    #: Holds at this step so far, this one included.
    holds: int = 0


def decide(measurements: Sequence[Measurement], holds: int, max_holds: int) -> Decision:
    """Promote when every gate passes; roll back when any gate fails on data; hold when a gate has no data (never
    promote without data), until ``max_holds`` holds at this step have passed: then roll back.

    ``holds`` counts the holds at this step before this decision.
    """
    if not measurements:
        raise ValueError("a decision needs at least one gate")
    failed = [m for m in measurements if m.verdict() is False]
    if failed:
        return Decision(Verdict.ROLLBACK, ", ".join(m.describe() for m in failed), holds)
    missing = [m for m in measurements if m.verdict() is None]
    if missing:
        why = "; ".join(m.describe() for m in missing)
        if holds + 1 > max_holds:
            return Decision(Verdict.ROLLBACK, f"no data after {holds} hold{'s' if holds != 1 else ''}: {why}", holds)
        return Decision(Verdict.HOLD, f"no data: {why}", holds + 1)
    return Decision(Verdict.PROMOTE, ", ".join(m.describe() for m in measurements), holds)


class Start(str, enum.Enum):
    NEW = "new"
    RESUME = "resume"
    DONE = "done"
    REFUSE = "refuse"


#: Record statuses a rollout can resume from: it stopped before finishing (its process died or was stopped, the
#: stack was locked, the engine failed).
RESUMABLE = frozenset({"running", "interrupted", "failed"})


@dataclass(frozen=True)
class StartPlan:
    kind: Start
    #: The weights known good when starting: the baseline of a new rollout, the last completed step's when resuming.
    last_good: dict[str, int] = field(default_factory=dict)
    #: The weights before the rollout began (kept across resumes).
    baseline: dict[str, int] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)
    reason: str = ""


def plan_start(policy: RolloutSpec, split: Mapping[str, float], record: Mapping[str, Any] | None, resume: bool,
               owner_alive: bool | None) -> StartPlan:
    """Where a rollout starts, given the service's split and its progress record in the stack config.

    ``owner_alive`` says whether the process named in a ``running`` record still runs: ``True``, ``False``, or
    ``None`` when it cannot be told (another host).
    """
    record = record or {}
    status = record.get("status")
    if status == "running" and owner_alive is True:
        return StartPlan(Start.REFUSE, reason="already running")
    if status == "running" and owner_alive is None and not resume:
        return StartPlan(Start.REFUSE, reason="running elsewhere")
    if status in RESUMABLE:
        last_good = _weights(record.get("lastGood"), policy) or baseline(policy, split)
        base = _weights(record.get("baseline"), policy) or dict(last_good)
        steps = remaining_steps(policy, last_good)
        if steps:
            return StartPlan(Start.RESUME, last_good, base, steps)
    elif resume:
        return StartPlan(Start.REFUSE, reason=f"nothing to resume (last rollout: {status or 'none'})")
    start = baseline(policy, split)
    steps = remaining_steps(policy, start)
    if not steps:
        return StartPlan(Start.DONE, start, start, reason=f"{policy.canary} already has 100% of the traffic")
    return StartPlan(Start.NEW, start, start, steps)


def _weights(value: object, policy: RolloutSpec) -> dict[str, int]:
    """Weights from a record (numbers may come back as floats from YAML); empty when absent or unusable."""
    if not isinstance(value, Mapping):
        return {}
    try:
        return {policy.stable: int(value.get(policy.stable, 0)), policy.canary: int(value.get(policy.canary, 0))}
    except (TypeError, ValueError):
        return {}
