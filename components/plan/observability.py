"""Plan of observability: Prometheus, Grafana, Jaeger and Kiali charts wired to each other, and the mesh-wide
Telemetry resource. Each add-on can be replaced by an existing endpoint URL, or installed from Istio's sample
manifest (which brings its own wiring) instead of its chart."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from importlib import resources
from typing import Any

from ..spec import ChartRepository, ObservabilitySpec
from ..spec.observability import SHIPPED_DASHBOARDS, AddonSpec
from .charts import release
from .control_plane import TracingProvider, namespace_object
from .model import ConcernPlan, HelmRelease, KubeObject, ManifestFile, PlannedSecret, deep_merge
from .naming import ISTIO_TELEMETRY, metadata


@dataclass(frozen=True)
class UpstreamChart:
    """Where an add-on's chart lives upstream, pinned."""

    chart: str
    version: str
    repository: str


#: Pinned upstream charts (override per stack with `chartVersion` / `repository`).
UPSTREAM = {
    "prometheus": UpstreamChart("prometheus", "27.39.0", "https://prometheus-community.github.io/helm-charts"),
    "grafana": UpstreamChart("grafana", "9.4.5", "https://grafana.github.io/helm-charts"),
    "jaeger": UpstreamChart("jaeger", "3.4.1", "https://jaegertracing.github.io/helm-charts"),
    "kiali": UpstreamChart("kiali-server", "2.17.0", "https://kiali.org/helm-charts"),
}

#: Secret config key (``pulumi config set --secret grafanaAdminPassword …``) for Grafana's admin password.
GRAFANA_PASSWORD_CONFIG = "grafanaAdminPassword"
GRAFANA_ADMIN_SECRET = "grafana-admin"


@dataclass(frozen=True)
class Endpoints:
    """Where each add-on answers, installed or existing; ``None`` when disabled."""

    prometheus: str | None
    grafana: str | None
    jaeger_query: str | None
    tracing: TracingProvider | None


def endpoints(observability: ObservabilitySpec, cluster_domain: str = "cluster.local") -> Endpoints:
    """URLs the add-ons use to find each other, and the tracing provider istiod sends spans to."""
    suffix = f"{observability.namespace}.svc.{cluster_domain}"

    def url(addon: AddonSpec, installed: str, sample: str | None = None) -> str | None:
        if not addon.enabled:
            return None
        if addon.installs_manifest and sample is not None:
            return sample
        return addon.url or installed

    jaeger = observability.jaeger
    tracing = None
    if jaeger.enabled:
        host = jaeger.collector_host or f"jaeger-collector.{suffix}"
        tracing = TracingProvider(observability.tracing.provider, host, jaeger.collector_port)
    return Endpoints(
        prometheus=url(observability.prometheus, f"http://prometheus.{suffix}:9090"),
        # Istio's samples serve Grafana on 3000 and Jaeger's UI as `tracing` under /jaeger.
        grafana=url(observability.grafana, f"http://grafana.{suffix}:80", f"http://grafana.{suffix}:3000"),
        jaeger_query=url(jaeger, f"http://jaeger-query.{suffix}:16686", f"http://tracing.{suffix}:80/jaeger"),
        tracing=tracing,
    )


def _release(name: str, addon: AddonSpec, namespace: str, values: dict[str, Any], depends_on: tuple[str, ...] = (),
             skip_await: bool = False, require_pinned: bool = False) -> HelmRelease:
    upstream = UPSTREAM[name]
    source = addon.repository or ChartRepository(url=upstream.repository)
    version = addon.chart_version or upstream.version
    # The upstream charts each name their image values differently (Grafana's `image.sha`, Kiali's
    # `deployment.image_digest`, …) and the plan does not fetch them: the digests are applied to the rendered
    # objects instead, the same way for every chart (and for the sample manifests).
    return release(name, upstream.chart, version, source, namespace, deep_merge(values, addon.values), depends_on,
                   skip_await=skip_await, where=f"mesh.observability.{name}.repository",
                   image_digests=addon.image_digests, require_pinned=require_pinned and not addon.allow_mutable_tags)


def _prometheus_values() -> dict[str, Any]:
    # Istio merges app and proxy metrics behind the prometheus.io/* pod annotations the chart's default
    # `kubernetes-pods` job already scrapes; the extra exporters are not needed for the mesh dashboards.
    return {
        "alertmanager": {"enabled": False},
        "prometheus-pushgateway": {"enabled": False},
        "prometheus-node-exporter": {"enabled": False},
        "kube-state-metrics": {"enabled": False},
        "server": {"fullnameOverride": "prometheus", "service": {"servicePort": 9090}},
    }


def _grafana_values(spec: ObservabilitySpec, ends: Endpoints) -> dict[str, Any]:
    datasources = []
    if ends.prometheus:
        datasources.append({"name": "Prometheus", "type": "prometheus", "access": "proxy", "url": ends.prometheus,
                            "isDefault": True})
    if ends.jaeger_query:
        datasources.append({"name": "Jaeger", "type": "jaeger", "access": "proxy", "url": ends.jaeger_query})
    return {
        "fullnameOverride": "grafana",
        "admin": {"existingSecret": GRAFANA_ADMIN_SECRET, "userKey": "admin-user", "passwordKey": "admin-password"},
        "datasources": {"datasources.yaml": {"apiVersion": 1, "datasources": datasources}},
        "dashboardProviders": {
            "dashboardproviders.yaml": {
                "apiVersion": 1,
                "providers": [{"name": "istio", "orgId": 1, "folder": "Istio", "type": "file",
                               "disableDeletion": False,
                               "options": {"path": "/var/lib/grafana/dashboards/istio"}}],
            }
        },
        # Istio's dashboards shipped with the package, inline (the chart writes them into the ConfigMap
        # grafana-dashboards-istio, mounted at the provider's path); grafana.com ids only when asked for.
        "dashboards": {
            "istio": {
                **{name: {"json": dashboard_json(name)} for name in sorted(spec.grafana.dashboards)},
                **{name: {"gnetId": gnet_id, "datasource": "Prometheus"}
                   for name, gnet_id in sorted(spec.grafana.gnet_dashboards.items())},
            }
        },
    }


@dataclass(frozen=True)
class ShippedDashboard:
    """One of Istio's dashboards shipped in ``mesh_rollout/dashboards``."""

    name: str
    file: str
    #: Grafana's ``title`` of the dashboard.
    title: str
    sha256: str


#: The Istio release the shipped dashboards come from (see ``mesh_rollout/dashboards/README.md``).
DASHBOARDS_VERSION = "1.30.4"


def dashboard_json(name: str) -> str:
    """The JSON text of a shipped dashboard, as the package holds it."""
    return (resources.files("mesh_rollout") / "dashboards" / SHIPPED_DASHBOARDS[name]).read_text(encoding="utf-8")


def shipped_dashboard(name: str) -> ShippedDashboard:
    """A shipped dashboard's file, title and SHA-256."""
    text = dashboard_json(name)
    title = json.loads(text).get("title", name)
    return ShippedDashboard(name, SHIPPED_DASHBOARDS[name], str(title),
                            hashlib.sha256(text.encode("utf-8")).hexdigest())


def _jaeger_values() -> dict[str, Any]:
    # All-in-one with in-memory storage: a trace UI for the mesh, not long-term storage (point `url` at one).
    return {
        "provisionDataStore": {"cassandra": False},
        "allInOne": {"enabled": True},
        "storage": {"type": "memory"},
        "agent": {"enabled": False},
        "collector": {"enabled": False},
        "query": {"enabled": False},
    }


def _kiali_values(root_namespace: str, ends: Endpoints) -> dict[str, Any]:
    services: dict[str, Any] = {
        "istio": {"root_namespace": root_namespace},
        "prometheus": {"url": ends.prometheus},
        "grafana": {"enabled": ends.grafana is not None},
        "tracing": {"enabled": ends.jaeger_query is not None},
    }
    if ends.grafana:
        services["grafana"]["internal_url"] = ends.grafana
    if ends.jaeger_query:
        services["tracing"].update({"provider": "jaeger", "internal_url": ends.jaeger_query, "use_grpc": False})
    return {"istio_namespace": root_namespace, "external_services": services}


def telemetry(spec: ObservabilitySpec, root_namespace: str, tracing: TracingProvider | None) -> dict[str, Any]:
    """Mesh-wide Telemetry (root namespace): trace sampling to the tracing provider, Envoy access logs."""
    body: dict[str, Any] = {}
    if tracing is not None:
        body["tracing"] = [{"providers": [{"name": tracing.name}],
                            "randomSamplingPercentage": spec.tracing.sampling_percent}]
    body["accessLogging"] = [{"providers": [{"name": "envoy"}], "disabled": not spec.access_logging}]
    return {"apiVersion": ISTIO_TELEMETRY, "kind": "Telemetry", "metadata": metadata("mesh-default", root_namespace),
            "spec": body}


def plan_observability(
    observability: ObservabilitySpec | None, root_namespace: str = "istio-system",
    cluster_domain: str = "cluster.local", existing_namespaces: frozenset[str] = frozenset(),
    nodeless: bool = False, require_pinned: bool = False,
) -> ConcernPlan:
    """Add-on charts or sample manifests (Prometheus, Jaeger, Grafana, then Kiali pointed at all three) and the
    Telemetry resource.

    ``existing_namespaces`` are namespaces created elsewhere (control plane, injection), not created again.
    ``nodeless``: the cluster runs no pods, so nothing waits for the add-ons to become ready.
    ``require_pinned``: a production stack that does not accept mutable tags: an add-on object whose container
    image has no digest fails the preview (unless the add-on sets ``allowMutableTags``).
    """
    plan = ConcernPlan()
    if observability is None:
        return plan
    spec, ns = observability, observability.namespace
    ends = endpoints(spec, cluster_domain)
    installs = [name for name in ("prometheus", "jaeger", "grafana", "kiali") if getattr(spec, name).installs_chart]
    needs_ns = ns not in existing_namespaces and ns != root_namespace and installs
    ns_dep: tuple[str, ...] = ()
    if needs_ns:
        plan.objects.append(namespace_object(ns))
        ns_dep = (f"Namespace/{ns}",)

    def add(name: str, values: dict[str, Any], depends_on: tuple[str, ...] = ns_dep) -> None:
        addon: AddonSpec = getattr(spec, name)
        if addon.manifest is not None:
            path = os.path.expanduser(addon.manifest)
            plan.manifests.append(ManifestFile(name, path, depends_on, skip_await=nodeless,
                                               image_digests=dict(addon.image_digests),
                                               require_pinned=require_pinned and not addon.allow_mutable_tags))
            return
        plan.releases.append(_release(name, addon, ns, values, depends_on, skip_await=nodeless,
                                      require_pinned=require_pinned))

    if "prometheus" in installs:
        add("prometheus", _prometheus_values())
    if "jaeger" in installs:
        add("jaeger", _jaeger_values())
    if "grafana" in installs:
        depends = ns_dep
        if not spec.grafana.installs_manifest:  # Istio's sample Grafana has no admin login (anonymous access)
            plan.secrets.append(PlannedSecret(ns, GRAFANA_ADMIN_SECRET, {"admin-user": "admin"},
                                              {"admin-password": GRAFANA_PASSWORD_CONFIG}))
            depends = (*ns_dep, f"Secret/{ns}/{GRAFANA_ADMIN_SECRET}")
        add("grafana", _grafana_values(spec, ends), depends)
    if "kiali" in installs:
        wired = tuple(name for name in ("prometheus", "jaeger", "grafana") if name in installs)
        add("kiali", _kiali_values(root_namespace, ends), ns_dep + wired)
    plan.objects.append(KubeObject(telemetry(spec, root_namespace, ends.tracing)))
    return plan
