"""Plan of the Istio control plane: namespaces, then charts base → istiod → cni → ztunnel → gateways."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from ..spec import ControlPlaneSpec, GatewayKind, Resources
from .charts import release
from .model import ConcernPlan, KubeObject, deep_merge, prune
from .naming import metadata


@dataclass(frozen=True)
class TracingProvider:
    """An OpenTelemetry tracing extension provider for istiod's meshConfig."""

    name: str
    service: str
    port: int


def _resources(resources: Optional[Resources]) -> Optional[dict[str, Any]]:
    return None if resources is None else prune(resources.model_dump())


def namespace_object(name: str) -> KubeObject:
    """A plain Namespace owned by the stack."""
    return KubeObject({"apiVersion": "v1", "kind": "Namespace", "metadata": metadata(name)})


def istiod_values(
    control_plane: ControlPlaneSpec, trust_domain: str, tracing: Optional[TracingProvider]
) -> dict[str, Any]:
    """Values of the istiod chart for this spec (user's ``istiodValues`` merged last)."""
    ha = control_plane.high_availability
    mesh = control_plane.mesh_config
    mesh_config: dict[str, Any] = {
        "accessLogFile": mesh.access_log_file,
        "outboundTrafficPolicy": {"mode": mesh.outbound_traffic_policy.value},
        "trustDomain": trust_domain,
    }
    if tracing is not None:
        mesh_config["extensionProviders"] = [
            {"name": tracing.name, "opentelemetry": {"service": tracing.service, "port": tracing.port}}
        ]
    values = {
        "revision": control_plane.revision_name,
        "revisionTags": list(control_plane.revision_tags),
        "profile": "ambient" if control_plane.ambient else None,
        "pilot": {
            "replicaCount": ha.replicas,
            "autoscaleEnabled": ha.autoscale_max is not None,
            "autoscaleMin": ha.replicas if ha.autoscale_max is not None else None,
            "autoscaleMax": ha.autoscale_max,
            "resources": _resources(ha.resources),
        },
        "meshConfig": mesh_config,
        "global": {
            "meshID": control_plane.mesh_id,
            "network": control_plane.network,
            "multiCluster": {"clusterName": control_plane.cluster_name},
            "proxy": {"resources": _resources(control_plane.proxy_resources)},
            "defaultPodDisruptionBudget": {"enabled": ha.pod_disruption_budget},
        },
    }
    return deep_merge(prune(values), control_plane.istiod_values)


def gateway_values(name: str, control_plane: ControlPlaneSpec) -> dict[str, Any]:
    """Values of Istio's gateway chart for one gateway (user's ``values`` merged last)."""
    gateway = control_plane.gateways[name]
    values = {
        # The chart uses `image: auto`: the revision's injector fills in the proxy, so the revision must match.
        "revision": control_plane.revision_name,
        "replicaCount": gateway.replicas,
        "autoscaling": {
            "enabled": gateway.autoscale_max is not None,
            "minReplicas": gateway.replicas,
            "maxReplicas": gateway.autoscale_max if gateway.autoscale_max is not None else gateway.replicas,
        },
        "service": {"type": gateway.service_type},
    }
    if gateway.kind is GatewayKind.EGRESS and gateway.service_type == "LoadBalancer":
        # An egress gateway has no business on a public load balancer unless asked for explicitly via values.
        values["service"]["type"] = "ClusterIP"
    return deep_merge(values, gateway.values)


def plan_control_plane(
    control_plane: ControlPlaneSpec,
    trust_domain: str = "cluster.local",
    tracing: Optional[TracingProvider] = None,
    managed_namespaces: frozenset[str] = frozenset(),
) -> ConcernPlan:
    """Namespaces and charts of the control plane; empty when the control plane is brought by the user.

    ``managed_namespaces`` are namespaces another concern (injection) already owns, so they are not created twice.
    """
    plan = ConcernPlan()
    if not control_plane.install:
        return plan
    assert control_plane.charts is not None  # enforced by ControlPlaneSpec
    source, version, ns = control_plane.charts, control_plane.version, control_plane.namespace

    namespaces = [ns] + sorted({gateway.namespace for gateway in control_plane.gateways.values()} - {ns})
    for name in namespaces:
        if name not in managed_namespaces:
            plan.objects.append(namespace_object(name))
    root_ns = (f"Namespace/{ns}",) if ns not in managed_namespaces else ()

    base_values = {
        "defaultRevision": control_plane.revision_name if control_plane.default_revision else "",
        # Without this, base renders failurePolicy Ignore and istiod flips it to Fail: endless drift.
        "base": {"validationFailurePolicy": "Fail"},
    }
    plan.releases.append(release("istio-base", "base", version, source, ns, base_values, root_ns))
    plan.releases.append(
        release("istiod", "istiod", version, source, ns, istiod_values(control_plane, trust_domain, tracing),
                ("istio-base",))
    )
    last = "istiod"
    if control_plane.ambient:
        plan.releases.append(release("istio-cni", "cni", version, source, ns, {"profile": "ambient"}, ("istiod",)))
        plan.releases.append(
            release("ztunnel", "ztunnel", version, source, ns,
                    {"revision": control_plane.revision_name}, ("istio-cni",))
        )
        last = "ztunnel"
    for name, gateway in sorted(control_plane.gateways.items()):
        depends = (last,) if gateway.namespace in managed_namespaces else (last, f"Namespace/{gateway.namespace}")
        plan.releases.append(
            release(name, "gateway", version, source, gateway.namespace, gateway_values(name, control_plane), depends)
        )
    return plan
