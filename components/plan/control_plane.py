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


#: Where Istio's released images live; the chart source trees default to a test registry, so the plan pins it.
ISTIO_HUB = "docker.io/istio"


def webhook_values(nodeless: bool) -> dict[str, Any]:
    """The validation webhooks' failure policy.

    ``Fail`` normally: without it base renders ``Ignore`` and istiod flips it to ``Fail``, an endless drift. On a
    node-less cluster no istiod ever answers, so ``Fail`` would refuse every Istio resource: ``Ignore`` there.
    """
    return {"base": {"validationFailurePolicy": "Ignore" if nodeless else "Fail"}}


def istiod_values(
    control_plane: ControlPlaneSpec, trust_domain: str, tracing: Optional[TracingProvider], nodeless: bool = False
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
            # Images of the pinned release, whatever the chart source (a source tree says test registry/latest).
            "hub": ISTIO_HUB,
            "tag": control_plane.version,
            "meshID": control_plane.mesh_id,
            "network": control_plane.network,
            "multiCluster": {"clusterName": control_plane.cluster_name},
            "proxy": {"resources": _resources(control_plane.proxy_resources)},
            "defaultPodDisruptionBudget": {"enabled": ha.pod_disruption_budget},
        },
    }
    return deep_merge(deep_merge(prune(values), webhook_values(nodeless)), control_plane.istiod_values)


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
    nodeless: bool = False,
) -> ConcernPlan:
    """Namespaces and charts of the control plane; empty when the control plane is brought by the user.

    ``managed_namespaces`` are namespaces another concern (injection) already owns, so they are not created twice.
    ``nodeless``: the cluster runs no pods (see :attr:`ClusterSpec.nodeless`): nothing waits for readiness and the
    validation webhooks fail open.
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
        **webhook_values(nodeless),
    }

    def add(key: str, chart: str, namespace: str, values: dict[str, Any], depends_on: tuple[str, ...]) -> None:
        plan.releases.append(release(key, chart, version, source, namespace, values, depends_on, skip_await=nodeless))

    add("istio-base", "base", ns, base_values, root_ns)
    add("istiod", "istiod", ns, istiod_values(control_plane, trust_domain, tracing, nodeless), ("istio-base",))
    last = "istiod"
    if control_plane.ambient:
        pinned = {"global": {"hub": ISTIO_HUB, "tag": version}}
        add("istio-cni", "cni", ns, {"profile": "ambient", **pinned}, ("istiod",))
        # ztunnel's image settings are top-level values.
        add("ztunnel", "ztunnel", ns, {"revision": control_plane.revision_name, "hub": ISTIO_HUB, "tag": version},
            ("istio-cni",))
        last = "ztunnel"
    for name, gateway in sorted(control_plane.gateways.items()):
        depends = (last,) if gateway.namespace in managed_namespaces else (last, f"Namespace/{gateway.namespace}")
        add(name, "gateway", gateway.namespace, gateway_values(name, control_plane), depends)
    return plan
