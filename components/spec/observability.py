"""Configuration of metrics, dashboards, tracing and the mesh console, and of Istio's Telemetry API."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field, field_validator, model_validator

from .base import DNS_LABEL_PATTERN, ImageDigest, Model
from .control_plane import ChartRepository

#: The add-ons, in wiring order (Kiali reads the other three).
ADDONS = ("prometheus", "jaeger", "grafana", "kiali")
#: Istio's dashboards shipped in ``mesh_rollout/dashboards`` (name -> file), see its README.md.
SHIPPED_DASHBOARDS = {
    "istio-mesh": "istio-mesh-dashboard.gen.json",
    "istio-service": "istio-service-dashboard.json",
    "istio-workload": "istio-workload-dashboard.json",
    "istio-control-plane": "pilot-dashboard.gen.json",
    "istio-performance": "istio-performance-dashboard.json",
}
def _check_repository(repository: str) -> str:
    if not repository or "@" in repository or ":" in repository.rsplit("/", 1)[-1] or repository != repository.strip():
        raise ValueError("must be an image repository with its registry and without tag or digest, e.g. "
                         "docker.io/grafana/grafana (the tag stays as the manifest or chart has it)")
    return repository


#: An image repository with its registry, no tag or digest: ``docker.io/grafana/grafana``.
ImageRepository = Annotated[str, AfterValidator(_check_repository)]

#: Where Istio's sample add-on manifests install themselves (hard-coded in the samples).
SAMPLES_NAMESPACE = "istio-system"


class AddonSpec(Model):
    """An observability add-on: installed from its upstream chart (pinned), or an existing endpoint, or off."""

    enabled: bool = Field(default=True, description="Wire this add-on in at all.")
    url: str | None = Field(
        default=None, description="Use this existing endpoint instead of installing the chart (e.g. a managed one)."
    )
    chart_version: str | None = Field(default=None, description="Chart version; default: the pinned version.")
    repository: ChartRepository | None = Field(default=None, description="Chart source; default: upstream repo.")
    values: dict[str, Any] = Field(default_factory=dict, description="Extra chart values, deep-merged last.")
    image_digests: dict[ImageRepository, ImageDigest] = Field(
        default_factory=dict,
        description="Digests by image repository, registry included, as the add-on's containers name it (e.g. "
        "{docker.io/grafana/grafana: \"sha256:…\"}): every container and init container of the add-on that runs "
        "that repository is deployed as repository:tag@sha256:…. With `manifest`, each repository must be one the "
        "file's containers run (check MR242). With the chart, the rendered objects are rewritten as they are "
        "registered, and in a production stack an image of the chart without a digest here fails the preview.",
    )
    allow_mutable_tags: bool = Field(
        default=False,
        description="Accept that this add-on's images are referenced by tag in a production stack (opts out of "
        "check MR241 for this add-on only, and from the preview-time refusal of chart images without a digest).",
    )
    manifest: str | None = Field(
        default=None,
        description="Apply Istio's sample add-on manifest from this file instead of the chart (samples/addons/"
        "<addon>.yaml of the Istio release; scripts/install-tools.sh copies them). The samples install into "
        "istio-system with their own names and wiring; Istio calls them demos, not production.",
    )

    @model_validator(mode="before")
    @classmethod
    def _images_became_digests(cls, data: Any) -> Any:
        # `images` (a list of references the SBOM reported, which changed nothing that was deployed) was replaced by
        # `imageDigests`; say so instead of the generic unknown-key error a stack written for it would get.
        if isinstance(data, dict) and "images" in data:
            raise ValueError(
                "images was replaced by imageDigests, which pins what is actually deployed: a mapping from image "
                "repository (registry included) to its sha256 digest, e.g. {docker.io/grafana/grafana: "
                "\"sha256:…\"}; move each digest of images there and remove images")
        return data

    @model_validator(mode="after")
    def _one_source(self) -> AddonSpec:
        if self.manifest is not None:
            clashing = [name for name, value in (("url", self.url), ("chartVersion", self.chart_version),
                                                 ("repository", self.repository), ("values", self.values or None))
                        if value is not None]
            if clashing:
                raise ValueError(f"manifest is applied as it is: remove {', '.join(clashing)} (a manifest takes no "
                                 "chart settings and is not an existing endpoint)")
        return self

    @property
    def installs_chart(self) -> bool:
        """Whether the package installs the add-on (enabled and no existing endpoint given), by chart or manifest."""
        return self.enabled and self.url is None

    @property
    def installs_manifest(self) -> bool:
        """Whether the add-on is installed from Istio's sample manifest rather than its chart."""
        return self.installs_chart and self.manifest is not None


class GrafanaSpec(AddonSpec):
    """Grafana with a Prometheus datasource and Istio's dashboards, shipped with this package (no download)."""

    dashboards: list[str] = Field(
        default_factory=lambda: list(SHIPPED_DASHBOARDS),
        description="Istio's dashboards to provision, from the JSON files shipped in the package "
        "(mesh_rollout/dashboards, Istio 1.30.4): " + ", ".join(SHIPPED_DASHBOARDS) + ".",
    )
    gnet_dashboards: dict[str, int] = Field(
        default_factory=dict,
        description="Opt-in: dashboards by name -> grafana.com id, downloaded by Grafana at start-up (latest "
        "revision, needs egress to grafana.com), e.g. {node-exporter: 1860}.",
    )

    @field_validator("dashboards")
    @classmethod
    def _shipped(cls, names: list[str]) -> list[str]:
        unknown = [name for name in names if name not in SHIPPED_DASHBOARDS]
        if unknown:
            raise ValueError(f"no shipped dashboard {', '.join(unknown)}; expected some of "
                             f"{', '.join(SHIPPED_DASHBOARDS)} (grafana.com dashboards go in gnetDashboards)")
        if len(set(names)) != len(names):
            raise ValueError("a dashboard is listed twice")
        return names

    @model_validator(mode="after")
    def _distinct_names(self) -> GrafanaSpec:
        both = sorted(set(self.dashboards) & set(self.gnet_dashboards))
        if both:
            raise ValueError(f"dashboard {', '.join(both)} is both shipped (dashboards) and downloaded "
                             "(gnetDashboards): keep one")
        return self


class JaegerSpec(AddonSpec):
    """Jaeger: collector (OTLP) for the proxies, query UI for Kiali and people."""

    collector_host: str | None = Field(
        default=None,
        description="OTLP collector host (e.g. otel-collector.tracing.svc.cluster.local); default: the chart's "
        "collector. Required with `url`.",
    )
    collector_port: int = Field(default=4317, ge=1, le=65535, description="OTLP gRPC port of the collector.")

    @model_validator(mode="after")
    def _collector_with_url(self) -> JaegerSpec:
        if self.enabled and self.url is not None and self.collector_host is None:
            raise ValueError("collectorHost is required when url points at an existing Jaeger")
        return self


class TracingSpec(Model):
    """Trace sampling through Istio's Telemetry API."""

    sampling_percent: float = Field(default=1.0, ge=0, le=100, description="Share of requests traced, 0-100.")
    provider: str = Field(default="jaeger", pattern=DNS_LABEL_PATTERN, description="Extension provider name.")


class ObservabilitySpec(Model):
    """Prometheus, Grafana, Jaeger and Kiali, wired to each other and to Istio's Telemetry API."""

    namespace: str = Field(default="istio-system", pattern=DNS_LABEL_PATTERN, description="Add-on namespace.")
    tracing: TracingSpec = Field(default_factory=TracingSpec, description="Trace sampling.")
    access_logging: bool = Field(default=True, description="Envoy access logs through the Telemetry API.")
    prometheus: AddonSpec = Field(default_factory=AddonSpec, description="Prometheus.")
    grafana: GrafanaSpec = Field(default_factory=GrafanaSpec, description="Grafana.")
    jaeger: JaegerSpec = Field(default_factory=JaegerSpec, description="Jaeger (OTLP collector + UI).")
    kiali: AddonSpec = Field(default_factory=AddonSpec, description="Kiali console.")

    @model_validator(mode="after")
    def _kiali_needs_prometheus(self) -> ObservabilitySpec:
        if self.kiali.installs_chart and not self.prometheus.enabled:
            raise ValueError("kiali needs prometheus: enable prometheus or give prometheus.url")
        return self

    @model_validator(mode="after")
    def _samples_live_in_istio_system(self) -> ObservabilitySpec:
        samples = [name for name in ADDONS if getattr(self, name).installs_manifest]
        if samples and self.namespace != SAMPLES_NAMESPACE:
            raise ValueError(f"Istio's sample add-on manifests ({', '.join(samples)}) install into "
                             f"{SAMPLES_NAMESPACE}, not {self.namespace!r}: set namespace: {SAMPLES_NAMESPACE} or use "
                             "the charts")
        return self
