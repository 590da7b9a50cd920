"""Checks of canary rollouts (``services.<name>.rollout``) and of route weights handed to an in-cluster controller
(``traffic.weightsManagedBy``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ..plan.observability import endpoints
from ..spec import MeshSpec, WeightsManager
from .registry import Finding, Severity, check, finding, path


def _one_of(names: Iterable[str]) -> str:
    return "one of " + ", ".join(sorted(names)) if names else "no versions at all"


@check("MR300", "Rollout names a version the service does not define", Severity.ERROR)
def rollout_versions(spec: MeshSpec) -> Iterator[Finding]:
    """``rollout.canary`` or ``rollout.stable`` is not a key of the service's ``versions``."""
    for name, service in spec.services.items():
        rollout = service.rollout
        if rollout is None:
            continue
        for role in ("stable", "canary"):
            version = getattr(rollout, role)
            if version not in service.versions:
                yield finding("MR300", path("services", name, "rollout", role),
                              f"the rollout's {role} version {version!r} is not defined, so every step would route "
                              f"traffic to a subset no DestinationRule has (503s); expected "
                              f"{_one_of(service.versions)}, got {version!r}")


@check("MR301", "Rollout of a service whose split also sends traffic to another version", Severity.ERROR)
def rollout_third_version(spec: MeshSpec) -> Iterator[Finding]:
    """The split gives weight to a version that is neither the rollout's stable nor its canary: the rollout moves
    all the traffic between those two, and that version's share would make every step's weights wrong."""
    for name, service in spec.services.items():
        rollout = service.rollout
        if rollout is None:
            continue
        for version, weight in service.traffic.split.items():
            if version not in (rollout.stable, rollout.canary) and weight > 0:
                yield finding("MR301", path("services", name, "traffic", "split", version),
                              f"version {version!r} gets {weight}% of the traffic, but the rollout moves all of it "
                              f"between {rollout.stable} (stable) and {rollout.canary} (canary); expected 0 or no "
                              f"entry, got {weight}")


@check("MR302", "Rollout of a service whose weights an in-cluster controller manages", Severity.ERROR)
def rollout_and_controller(spec: MeshSpec) -> Iterator[Finding]:
    """A service has both a ``rollout`` policy and ``traffic.weightsManagedBy``: two drivers for one split."""
    for name, service in spec.services.items():
        manager = service.traffic.weights_managed_by
        if service.rollout is not None and manager is not None:
            yield finding("MR302", path("services", name, "rollout"),
                          f"the route weights are left to {manager.value} (traffic.weightsManagedBy), so the "
                          f"stack never changes them and the rollout could not move any traffic; expected either "
                          f"a rollout or weightsManagedBy, got both")


@check("MR303", "Rollout without a Prometheus to query", Severity.WARNING)
def rollout_prometheus(spec: MeshSpec) -> Iterator[Finding]:
    """No ``rollout.prometheus`` and the stack has no Prometheus (``observability`` off or its Prometheus
    disabled): the rollout command has nowhere to read the gates from."""
    for name, service in spec.services.items():
        rollout = service.rollout
        if rollout is None or rollout.prometheus is not None:
            continue
        if spec.observability is None or endpoints(spec.observability, spec.cluster_domain).prometheus is None:
            yield finding("MR303", path("services", name, "rollout", "prometheus"),
                          "the rollout has no Prometheus to query (observability.prometheus is off and "
                          "rollout.prometheus is not set), so `python -m mesh_rollout.rollout` refuses to start; "
                          "expected rollout.prometheus: http://<prometheus>:9090, got none")


#: VirtualService settings, which a Flagger-managed service cannot have (Flagger generates that VirtualService).
_VIRTUAL_SERVICE_SETTINGS = ("split", "matches", "timeout", "retries", "fault", "mirror", "defaultRoute")


@check("MR304", "VirtualService setting on a service whose VirtualService Flagger generates", Severity.ERROR)
def flagger_virtual_service(spec: MeshSpec) -> Iterator[Finding]:
    """``weightsManagedBy: flagger`` with a setting that only the VirtualService carries (split, matches, timeout,
    retries, fault, mirror, expose): Flagger generates that VirtualService from its Canary, so the stack creates none
    and the setting would be silently dropped."""
    for name, service in spec.services.items():
        traffic = service.traffic
        if traffic.weights_managed_by is not WeightsManager.FLAGGER:
            continue
        for setting in _VIRTUAL_SERVICE_SETTINGS:
            if getattr(traffic, "default_route" if setting == "defaultRoute" else setting):
                yield finding("MR304", path("services", name, "traffic", setting),
                              f"Flagger generates this service's VirtualService from its Canary (the stack creates "
                              f"none), so {setting} would never reach the cluster; expected it in the Canary's "
                              f"`service:` block, got it here")
        if service.expose is not None:
            yield finding("MR304", path("services", name, "expose"),
                          "Flagger generates this service's VirtualService from its Canary (the stack creates none), "
                          "so the gateway binding would never reach the cluster; expected service.gateways and "
                          "service.hosts in the Canary, got expose here")


@check("MR305", "Argo Rollouts service without a split between two versions", Severity.ERROR)
def argo_split(spec: MeshSpec) -> Iterator[Finding]:
    """``weightsManagedBy: argo-rollouts`` and a split with fewer than two versions: Argo Rollouts needs the route
    it manages to have two destinations (stable and canary), with initial weights."""
    for name, service in spec.services.items():
        traffic = service.traffic
        if traffic.weights_managed_by is WeightsManager.ARGO_ROLLOUTS and len(traffic.split) < 2:
            yield finding("MR305", path("services", name, "traffic", "split"),
                          f"Argo Rollouts edits the weights of a route with two destinations (stable and canary), "
                          f"and this route has {len(traffic.split)}; expected a split such as {{stable: 100, "
                          f"canary: 0}} naming two versions, got {len(traffic.split)}")
