"""Plan of namespace enrollment: exactly one injection label per namespace, plus ambient waypoints."""

from __future__ import annotations

from typing import Any

from ..spec import DataplaneMode, NamespaceSpec
from .model import ConcernPlan, KubeObject
from .naming import GATEWAY_API, MANAGED_BY, metadata

#: Every label that selects how (or whether) a namespace's pods join the mesh.
INJECTION_LABELS = ("istio-injection", "istio.io/rev", "istio.io/dataplane-mode")
WAYPOINT_NAME = "waypoint"
#: pulumi-kubernetes' per-object switch for server-side apply with force.
FORCE_ANNOTATION = "pulumi.com/patchForce"


def enrollment_labels(namespace: NamespaceSpec, default_revision: str) -> dict[str, str]:
    """The injection labels for a namespace's mode. Never more than one of :data:`INJECTION_LABELS`."""
    if namespace.mode is DataplaneMode.SIDECAR:
        return {"istio.io/rev": namespace.revision or default_revision}
    if namespace.mode is DataplaneMode.AMBIENT:
        labels = {"istio.io/dataplane-mode": "ambient"}
        if namespace.waypoint:
            labels["istio.io/use-waypoint"] = WAYPOINT_NAME
        return labels
    return {"istio-injection": "disabled"}


def waypoint(namespace: str) -> dict[str, Any]:
    """An ambient waypoint proxy for a namespace's services (Gateway API, class istio-waypoint)."""
    return {
        "apiVersion": GATEWAY_API,
        "kind": "Gateway",
        "metadata": metadata(WAYPOINT_NAME, namespace, {"istio.io/waypoint-for": "service"}),
        "spec": {
            "gatewayClassName": "istio-waypoint",
            "listeners": [{"name": "mesh", "port": 15008, "protocol": "HBONE"}],
        },
    }


def plan_injection(namespaces: dict[str, NamespaceSpec], default_revision: str) -> ConcernPlan:
    """Namespaces created (or existing ones patched) with their enrollment labels, then waypoints."""
    plan = ConcernPlan()
    for name, namespace in sorted(namespaces.items()):
        # User labels first, so a conflicting injection label cannot silently win (check MR150 reports it).
        labels = {**namespace.labels, **enrollment_labels(namespace, default_revision)}
        if namespace.create:
            labels = {**MANAGED_BY, **labels}
        # The stack's enrollment labels win on the server (server-side apply with force): a Namespace the stack
        # stopped creating is retained with its field manager, which would otherwise keep co-owning the labels and
        # refuse every later change of them (create: true -> false -> true, then a revision change).
        manifest = {"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": name, "labels": labels, "annotations": {FORCE_ANNOTATION: "true"}}}
        # Deleting a Namespace deletes every workload in it, and the workloads are not this stack's: when the stack
        # stops creating one (create: false, the namespace leaves the config, pulumi destroy) it stays in the
        # cluster, only forgotten by the stack.
        plan.objects.append(KubeObject(manifest, patch=not namespace.create, retain_on_delete=namespace.create))
    for name, namespace in sorted(namespaces.items()):
        if namespace.mode is DataplaneMode.AMBIENT and namespace.waypoint:
            plan.objects.append(KubeObject(waypoint(name), depends_on=(f"Namespace/{name}",)))
    return plan
