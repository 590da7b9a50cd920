"""Plan of mutual TLS: mesh-wide, namespace and workload PeerAuthentications."""

from __future__ import annotations

from typing import Any

from ..spec import MtlsMode, MtlsSpec, ServiceSpec
from .model import ConcernPlan, KubeObject
from .naming import ISTIO_SECURITY, metadata, workload_labels

#: Pulumi identity of the mesh-wide PeerAuthentication (see :attr:`KubeObject.resource_key`).
MESH_WIDE_POLICY = "PeerAuthentication/mesh-wide"


def peer_authentication(name: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    """A PeerAuthentication object."""
    return {"apiVersion": ISTIO_SECURITY, "kind": "PeerAuthentication", "metadata": metadata(name, namespace),
            "spec": spec}


def plan_mtls(mtls: MtlsSpec, services: dict[str, ServiceSpec], root_namespace: str) -> ConcernPlan:
    """Mesh-wide policy in the root namespace, then per-namespace and per-workload exceptions.

    Workload exceptions need a selector (Istio ignores ``portLevelMtls`` without one): the service's workload labels.
    """
    plan = ConcernPlan()
    # Its Pulumi identity does not name the root namespace: moving the control plane replaces it (the new policy is
    # created before the old one is deleted) instead of deleting one resource and creating an unrelated one.
    plan.objects.append(KubeObject(peer_authentication("default", root_namespace, {"mtls": {"mode": mtls.mode.value}}),
                                   resource_key=MESH_WIDE_POLICY))
    for namespace, mode in sorted(mtls.namespaces.items()):
        plan.objects.append(KubeObject(peer_authentication("default", namespace, {"mtls": {"mode": mode.value}})))
    for name, workload in sorted(mtls.workloads.items()):
        service = services.get(name)
        if service is None:
            continue  # reported by check MR190; nothing to select
        spec: dict[str, Any] = {"selector": {"matchLabels": workload_labels(name, service)}}
        if workload.mode is not MtlsMode.UNSET:
            spec["mtls"] = {"mode": workload.mode.value}
        if workload.ports:
            spec["portLevelMtls"] = {str(port): {"mode": mode.value} for port, mode in sorted(workload.ports.items())}
        plan.objects.append(KubeObject(peer_authentication(name, service.namespace, spec)))
    return plan
