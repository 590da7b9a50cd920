"""Plan of the Istio control plane: namespaces, then charts base → istiod → cni → ztunnel → gateways."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..spec import ChartRepository, ControlPlaneSpec, GatewayKind, IstioImage, Resources
from ..spec.control_plane import version_key
from .charts import release
from .images import ISTIO_HUB, cni_image, istiod_image, proxy_image, with_digest, ztunnel_image
from .model import ConcernPlan, KubeObject, deep_merge, prune
from .naming import metadata


@dataclass(frozen=True)
class TracingProvider:
    """An OpenTelemetry tracing extension provider for istiod's meshConfig."""

    name: str
    service: str
    port: int


def _resources(resources: Resources | None) -> dict[str, Any] | None:
    return None if resources is None else prune(resources.model_dump())


def namespace_object(name: str) -> KubeObject:
    """A plain Namespace owned by the stack."""
    return KubeObject({"apiVersion": "v1", "kind": "Namespace", "metadata": metadata(name)})


#: With several revisions, the Pulumi names of every istiod chart's objects derive from this one key (see
#: :attr:`HelmRelease.resource_key`): it is the single-revision form's release, so adding revisions to a stack keeps
#: the identity of everything its istiod chart created.
SHARED_ISTIOD_KEY = "istiod"



def webhook_values(nodeless: bool) -> dict[str, Any]:
    """The validation webhooks' failure policy.

    ``Fail`` normally: without it base renders ``Ignore`` and istiod flips it to ``Fail``, an endless drift. On a
    node-less cluster no istiod ever answers, so ``Fail`` would refuse every Istio resource: ``Ignore`` there.
    """
    return {"base": {"validationFailurePolicy": "Ignore" if nodeless else "Fail"}}


def istiod_values(
    control_plane: ControlPlaneSpec, trust_domain: str, tracing: TracingProvider | None, nodeless: bool = False,
    revision: str | None = None,
) -> dict[str, Any]:
    """Values of the istiod chart of one revision (default: the default revision): generated, then the control
    plane's ``istiodValues``, then the revision's own."""
    installed = control_plane.installed_revisions[revision or control_plane.revision_name]
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
    values: dict[str, Any] = {
        "revision": installed.name,
        # The tags' injection webhooks are rendered by the chart of the revision they point at.
        "revisionTags": control_plane.tags_of(installed.name),
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
            "tag": installed.version,
            "meshID": control_plane.mesh_id,
            "network": control_plane.network,
            "multiCluster": {"clusterName": control_plane.cluster_name},
            "proxy": {"resources": _resources(control_plane.proxy_resources)},
            "defaultPodDisruptionBudget": {"enabled": ha.pod_disruption_budget},
        },
    }
    merged = deep_merge(deep_merge(prune(values), webhook_values(nodeless)), control_plane.istiod_values)
    merged = deep_merge(merged, installed.istiod_values)
    # Digests go in last, onto the image the chart would build from the merged values (a user's global.hub,
    # global.tag or image included): a value containing "/" is taken whole by the deployment template and by the
    # injection templates (sidecar, istio-init, gateway).
    pilot = installed.image_digests.get(IstioImage.PILOT)
    if pilot is not None:
        merged["image"] = with_digest(istiod_image(merged), pilot)
    proxy = installed.image_digests.get(IstioImage.PROXYV2)
    if proxy is not None:
        init = with_digest(proxy_image(merged, init=True), proxy)
        merged.setdefault("global", {}).setdefault("proxy", {})["image"] = with_digest(proxy_image(merged), proxy)
        merged["global"].setdefault("proxy_init", {})["image"] = init
    return merged


def cni_values(control_plane: ControlPlaneSpec) -> dict[str, Any]:
    """Values of the cni chart (ambient mode): the default revision's images, the install-cni digest applied to
    the image the chart builds (see :func:`istiod_values`)."""
    default = control_plane.installed_revisions[control_plane.revision_name]
    values: dict[str, Any] = {"profile": "ambient", "global": {"hub": ISTIO_HUB, "tag": default.version}}
    digest = control_plane.image_digests.get(IstioImage.INSTALL_CNI)
    if digest is not None:  # a whole reference (with a "/") replaces hub/image:tag in the chart
        values["image"] = with_digest(cni_image(values), digest)
    return values


def ztunnel_values(control_plane: ControlPlaneSpec) -> dict[str, Any]:
    """Values of the ztunnel chart, whose image settings are top-level values."""
    default = control_plane.installed_revisions[control_plane.revision_name]
    values: dict[str, Any] = {"revision": default.name, "hub": ISTIO_HUB, "tag": default.version}
    digest = control_plane.image_digests.get(IstioImage.ZTUNNEL)
    if digest is not None:
        values["image"] = with_digest(ztunnel_image(values), digest)
    return values


def gateway_values(name: str, control_plane: ControlPlaneSpec) -> dict[str, Any]:
    """Values of Istio's gateway chart for one gateway (user's ``values`` merged last)."""
    gateway = control_plane.gateways[name]
    values: dict[str, Any] = {
        # The chart uses `image: auto`: the revision's (or tag's) injector fills in the proxy.
        "revision": control_plane.gateway_revision(name),
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
    tracing: TracingProvider | None = None,
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
    source, ns = control_plane.charts, control_plane.namespace
    revisions = control_plane.installed_revisions
    default = revisions[control_plane.revision_name]

    namespaces = [ns, *sorted({gateway.namespace for gateway in control_plane.gateways.values()} - {ns})]
    for name in namespaces:
        if name not in managed_namespaces:
            plan.objects.append(namespace_object(name))
    root_ns = (f"Namespace/{ns}",) if ns not in managed_namespaces else ()

    base_values = {
        "defaultRevision": default.name if control_plane.is_default_installed else "",
        **webhook_values(nodeless),
    }

    def add(key: str, chart: str, version: str, namespace: str, values: dict[str, Any], depends_on: tuple[str, ...],
            chart_source: ChartRepository | None = None, resource_key: str | None = None,
            owner: str | None = None) -> None:
        # A revision's own chart source is configured under it (`owner`), every other one at controlPlane.charts.
        where = (f"mesh.controlPlane.revisions.{owner}.charts" if chart_source is not None
                 else "mesh.controlPlane.charts")
        item = release(key, chart, version, chart_source or source, namespace, values, depends_on,
                       skip_await=nodeless, where=where)
        plan.releases.append(dataclasses.replace(item, resource_key=resource_key))

    # One base chart (the CRDs) for every revision, from the newest: CRDs are backward compatible.
    newest = max(revisions.values(), key=lambda r: version_key(r.version))
    add("istio-base", "base", newest.version, ns, base_values, root_ns, newest.charts, owner=newest.name)
    several = bool(control_plane.revisions)
    for revision in revisions.values():
        add(revision.release, "istiod", revision.version, ns,
            istiod_values(control_plane, trust_domain, tracing, nodeless, revision.name), ("istio-base",),
            revision.charts, resource_key=SHARED_ISTIOD_KEY if several else None, owner=revision.name)
    istiods = tuple(revision.release for revision in revisions.values())
    last = istiods
    if control_plane.ambient:
        add("istio-cni", "cni", default.version, ns, cni_values(control_plane), istiods, default.charts,
            owner=default.name)
        add("ztunnel", "ztunnel", default.version, ns, ztunnel_values(control_plane), ("istio-cni",),
            default.charts, owner=default.name)
        last = ("ztunnel",)
    for name, gateway in sorted(control_plane.gateways.items()):
        depends = last if gateway.namespace in managed_namespaces else (*last, f"Namespace/{gateway.namespace}")
        add(name, "gateway", default.version, gateway.namespace, gateway_values(name, control_plane), depends,
            default.charts, owner=default.name)
    return plan
