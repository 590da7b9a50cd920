"""Shared building blocks of the typed configuration: the model base class and value types."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

#: Kubernetes object names and label values Istio accepts for namespaces, services and versions.
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"


class Model(BaseModel):
    """Base of every config model.

    Config keys are camelCase (as in Istio's own YAML), Python attributes snake_case. Unknown keys are rejected
    rather than ignored, so a typo such as ``perTryTimout`` is an error instead of a silently dropped setting.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        use_enum_values=False,
        validate_default=True,
    )


def duration_seconds(value: str) -> float:
    """Seconds in an Istio duration string such as ``250ms``, ``2s``, ``1m`` or ``1h``."""
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"not a duration like 250ms, 2s, 1m or 1h: {value!r}")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def _check_duration(value: str) -> str:
    try:
        seconds = duration_seconds(value)
    except ValueError:
        raise ValueError("must be a duration such as 250ms, 2s, 1m or 1h") from None
    if seconds < 0.001:
        # Istio's CRDs reject durations under a millisecond (x-kubernetes-validations).
        raise ValueError("must be at least 1ms")
    return value


#: An Istio duration (``250ms``, ``2s``, ``1m``, ``1h``), at least 1ms.
Duration = Annotated[str, AfterValidator(_check_duration)]
