"""Configuration of the Istio control plane: charts, revision, HA, mesh config, gateways."""

from __future__ import annotations

import re
import enum
from typing import Any, Optional

from pydantic import Field, field_validator, model_validator

from ..versions import DEFAULT_ISTIO_VERSION
from .base import DNS_LABEL_PATTERN, INT32_MAX, DnsLabel, Model


class ChartRepository(Model):
    """Where Helm charts come from. One string decides the kind of source.

    - ``https://…`` / ``http://…``: a classic Helm repository (index.yaml).
    - ``oci://…``: an OCI registry; the chart name is appended (``oci://host/istio/charts`` + ``/istiod``).
    - anything else: a local directory holding one unpacked chart directory per chart name (air-gapped mirrors).
    """

    url: str = Field(description="Repository URL (https://, oci://) or local directory holding the charts.")
    plain_http: bool = Field(default=False, description="Use plain HTTP for an OCI registry (mirrors in a lab).")

    @property
    def kind(self) -> str:
        """``http``, ``oci`` or ``local``."""
        if self.url.startswith(("http://", "https://")):
            return "http"
        if self.url.startswith("oci://"):
            return "oci"
        return "local"


class Resources(Model):
    """Kubernetes resource requests and limits, e.g. ``{requests: {cpu: 500m, memory: 2Gi}}``."""

    requests: dict[str, str] = Field(default_factory=dict, description="Resource requests (cpu, memory).")
    limits: dict[str, str] = Field(default_factory=dict, description="Resource limits (cpu, memory).")


class HighAvailability(Model):
    """How istiod survives node loss and load: replicas, autoscaling, disruption budget, resources."""

    replicas: int = Field(
        default=1, ge=1, le=INT32_MAX, description="istiod replicas (the autoscaler's minimum when enabled).")
    autoscale_max: Optional[int] = Field(
        default=None, ge=1, le=INT32_MAX,
        description="Enable the HorizontalPodAutoscaler with this maximum; unset = no autoscaling.",
    )
    pod_disruption_budget: bool = Field(
        default=False, description="Create a PodDisruptionBudget (needs replicas >= 2 to allow node drains)."
    )
    resources: Optional[Resources] = Field(default=None, description="istiod container resources.")

    @model_validator(mode="after")
    def _max_covers_min(self) -> "HighAvailability":
        if self.autoscale_max is not None and self.autoscale_max < self.replicas:
            raise ValueError(f"autoscaleMax ({self.autoscale_max}) must be >= replicas ({self.replicas})")
        return self


class OutboundTrafficPolicy(str, enum.Enum):
    """What sidecars do with traffic to hosts outside the mesh registry."""

    ALLOW_ANY = "ALLOW_ANY"
    REGISTRY_ONLY = "REGISTRY_ONLY"


class MeshConfig(Model):
    """The parts of istiod's meshConfig this package manages (tracing providers come from observability)."""

    access_log_file: str = Field(
        default="/dev/stdout", description="Envoy access log destination; empty string turns access logs off."
    )
    outbound_traffic_policy: OutboundTrafficPolicy = Field(
        default=OutboundTrafficPolicy.ALLOW_ANY, description="ALLOW_ANY or REGISTRY_ONLY egress from sidecars."
    )


class GatewayKind(str, enum.Enum):
    """Direction of a gateway."""

    INGRESS = "ingress"
    EGRESS = "egress"


class GatewaySpec(Model):
    """An Istio gateway deployment (istio ``gateway`` chart) plus its ``Gateway`` resource for ingress."""

    kind: GatewayKind = Field(default=GatewayKind.INGRESS, description="ingress or egress.")
    namespace: str = Field(
        default="istio-ingress", pattern=DNS_LABEL_PATTERN, description="Namespace of the gateway deployment."
    )
    replicas: int = Field(
        default=1, ge=1, le=INT32_MAX, description="Gateway replicas (autoscaler minimum when autoscaleMax set).")
    autoscale_max: Optional[int] = Field(default=None, ge=1, le=INT32_MAX, description="Autoscaler maximum; unset = off.")
    service_type: str = Field(default="LoadBalancer", description="Kubernetes Service type of the gateway.")
    tls_secret: Optional[str] = Field(
        default=None, description="Secret (in the gateway namespace) with the TLS certificate; adds an HTTPS server."
    )
    values: dict[str, Any] = Field(default_factory=dict, description="Extra gateway chart values, deep-merged last.")


def revision_from_version(version: str) -> str:
    """Istio revision names cannot contain dots: ``1.30.4`` becomes ``1-30-4``."""
    return version.replace(".", "-")


class ControlPlaneSpec(Model):
    """The Istio control plane: installed from Istio's Helm charts, or brought by the user (managed Istio)."""

    install: bool = Field(
        default=True,
        description="Install Istio's charts. false = bring your own control plane: only mesh config is laid down.",
    )
    version: str = Field(
        default=DEFAULT_ISTIO_VERSION, description="Istio version (x.y.z, e.g. 1.30.4; a pre-release suffix "
        "such as -beta.1 is allowed)."
    )
    revision: Optional[str] = Field(
        default=None, pattern=DNS_LABEL_PATTERN, description="Revision name; default: version with dots as dashes."
    )
    revision_tags: list[str] = Field(
        default_factory=list, description="Revision tags (e.g. stable, canary) pointing at this revision."
    )
    default_revision: bool = Field(
        default=True, description="Make this revision the default (istio-injection=enabled, validation webhook)."
    )
    namespace: str = Field(default="istio-system", pattern=DNS_LABEL_PATTERN, description="Control plane namespace.")
    ambient: bool = Field(default=False, description="Install ambient mode: istiod and cni with profile ambient, ztunnel.")
    charts: Optional[ChartRepository] = Field(
        default=None, description="Where Istio's charts come from. Required when install is true."
    )
    high_availability: HighAvailability = Field(default_factory=HighAvailability, description="istiod HA settings.")
    mesh_config: MeshConfig = Field(default_factory=MeshConfig, description="Managed parts of istiod's meshConfig.")
    mesh_id: Optional[str] = Field(default=None, description="global.meshID (multi-cluster meshes).")
    cluster_name: Optional[str] = Field(default=None, description="global.multiCluster.clusterName.")
    network: Optional[str] = Field(default=None, description="global.network (multi-network meshes).")
    proxy_resources: Optional[Resources] = Field(default=None, description="Sidecar proxy resources (global.proxy).")
    gateways: dict[DnsLabel, GatewaySpec] = Field(default_factory=dict, description="Gateways by name.")
    istiod_values: dict[str, Any] = Field(
        default_factory=dict, description="Extra istiod chart values, deep-merged over the generated ones."
    )

    @field_validator("version")
    @classmethod
    def _istio_version(cls, version: str) -> str:
        # ASCII digits only: a pattern's \d would take Arabic-Indic or full-width digits.
        if not re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?", version):
            raise ValueError("must be an Istio version like 1.30.4 (ASCII digits; optional suffix such as -beta.1)")
        return version

    @field_validator("revision_tags")
    @classmethod
    def _tags_are_labels(cls, tags: list[str]) -> list[str]:
        for tag in tags:
            if not re.match(DNS_LABEL_PATTERN, tag):
                raise ValueError(f"revision tag {tag!r} must be a DNS label (lowercase letters, digits, '-')")
        return tags

    @model_validator(mode="after")
    def _charts_when_installing(self) -> "ControlPlaneSpec":
        if self.install and self.charts is None:
            raise ValueError(
                "charts.url is required when install is true (an https:// Helm repo, an oci:// registry or a "
                "local chart directory); set install: false to bring your own control plane"
            )
        return self

    @property
    def revision_name(self) -> str:
        """The revision actually used: the configured one, or one derived from the version."""
        return self.revision or revision_from_version(self.version)

    @property
    def injection_revision(self) -> str:
        """What namespaces are labelled with by default: the first revision tag, else the revision."""
        return self.revision_tags[0] if self.revision_tags else self.revision_name
