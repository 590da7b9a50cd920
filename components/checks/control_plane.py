"""Checks of the control plane this stack installs: istiod's chart values (disruption budget, meshConfig extension
providers) against what the rest of the plan relies on."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ..plan import mesh_tracing
from ..plan.control_plane import istiod_values
from ..plan.observability import telemetry
from ..spec import MeshSpec
from .registry import Finding, Severity, check, finding, path


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _number(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def istiod_minimum_replicas(values: Mapping[str, Any]) -> int:
    """The fewest istiod pods the istiod chart runs with these values: the autoscaler's minimum when autoscaling is
    on (the chart's default), else ``replicaCount``. ``pilot.*`` overrides the top level, as the chart copies it
    (templates/zzy_descope_legacy.yaml)."""
    merged = {**values, **_mapping(values.get("pilot"))}
    if merged.get("autoscaleEnabled", True):
        return _number(merged.get("autoscaleMin", 1), 1)
    return _number(merged.get("replicaCount", 1), 1)


@check("MR200", "istiod PodDisruptionBudget over a single replica (no budget, or blocked node drains)",
       Severity.WARNING)
def istiod_budget_single_replica(spec: MeshSpec) -> Iterator[Finding]:
    """``highAvailability.podDisruptionBudget: true`` (or the same through ``istiodValues``) while istiod runs with
    one replica (``replicas: 1``, with or without autoscaling: the autoscaler's minimum is ``replicas``). Only when
    this stack installs the control plane."""
    control_plane = spec.control_plane
    if not control_plane.install:
        return
    values = istiod_values(control_plane, spec.trust_domain, mesh_tracing(spec))
    budget = _mapping(_mapping(values.get("global")).get("defaultPodDisruptionBudget"))
    if not budget.get("enabled", True):
        return
    minimum = istiod_minimum_replicas(values)
    if minimum > 1:
        return
    ha = control_plane.high_availability
    where = (path("controlPlane", "highAvailability", "podDisruptionBudget") if ha.pod_disruption_budget
             else path("controlPlane", "istiodValues", "global", "defaultPodDisruptionBudget"))
    autoscaled = {**values, **_mapping(values.get("pilot"))}.get("autoscaleEnabled", True)
    scaling = f"autoscaler minimum {minimum}" if autoscaled else f"{minimum} replica, no autoscaler"
    if control_plane.istiod_values:
        scaling += ", after istiodValues"
    yield finding("MR200", where,
                  f"a PodDisruptionBudget is asked for istiod, but istiod runs with a single pod ({scaling}): "
                  f"a budget of minAvailable 1 over one pod allows no eviction and blocks every node drain and "
                  f"cluster upgrade (istio/istio#12602), which is why the istiod chart of Istio 1.30 renders no "
                  f"budget at all for a single replica; either way istiod is not protected, and a drain evicts the "
                  f"only istiod (no config pushes, certificate signing or sidecar injection until it is "
                  f"rescheduled); expected highAvailability.replicas >= 2 (the autoscaler's minimum too), or "
                  f"podDisruptionBudget: false, got {scaling}")


@check("MR210", "Telemetry names a tracing provider istiod's meshConfig does not define", Severity.ERROR)
def undefined_tracing_provider(spec: MeshSpec) -> Iterator[Finding]:
    """The mesh-wide Telemetry's tracing provider (``observability.tracing.provider``) is missing from the
    ``meshConfig.extensionProviders`` this stack gives istiod, because ``istiodValues`` replaced the list (lists are
    replaced, not merged). Only when this stack installs the control plane: the meshConfig of a control plane you
    bring is not in the stack."""
    control_plane, observability = spec.control_plane, spec.observability
    if not control_plane.install or observability is None:
        return
    tracing = mesh_tracing(spec)
    body = telemetry(observability, spec.root_namespace, tracing)["spec"]
    named = [provider.get("name") for entry in body.get("tracing", []) for provider in entry.get("providers", [])]
    if not named:
        return  # no tracing in the Telemetry (Jaeger off)
    mesh_config = _mapping(istiod_values(control_plane, spec.trust_domain, tracing).get("meshConfig"))
    providers = mesh_config.get("extensionProviders")
    defined = [_mapping(item).get("name") for item in providers] if isinstance(providers, list) else []
    overridden = _mapping(control_plane.istiod_values.get("meshConfig"))
    if "meshConfig" in control_plane.istiod_values and "extensionProviders" not in overridden:
        where = path("controlPlane", "istiodValues", "meshConfig")
    elif "extensionProviders" in overridden:
        where = path("controlPlane", "istiodValues", "meshConfig", "extensionProviders")
    else:
        where = path("observability", "tracing", "provider")
    for name in named:
        if any(isinstance(item, str) and item.casefold() == str(name).casefold() for item in defined):
            continue  # istiod looks providers up case-insensitively (strings.EqualFold)
        got = ", ".join(str(item) for item in defined) if defined else "none"
        yield finding("MR210", where,
                      f"the mesh-wide Telemetry sends traces to extension provider {name!r}, but istiod's "
                      f"meshConfig.extensionProviders (after istiodValues, which replace the generated list) does "
                      f"not define it, so istiod finds no provider for the tracing setting and turns tracing off "
                      f"for every proxy, without a warning: no span is ever sent; "
                      f"expected a provider named {name!r} in istiodValues.meshConfig.extensionProviders (or no "
                      f"extensionProviders there, to keep the generated Jaeger provider), got {got}")
