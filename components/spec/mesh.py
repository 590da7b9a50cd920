"""The root of the typed configuration: ``mesh-rollout:mesh`` in a stack file."""

from __future__ import annotations

from pydantic import Field

from .base import ClusterDomain, DnsLabel, Model
from .control_plane import ControlPlaneSpec
from .egress import ExternalService
from .identity import CertificateAuthoritySpec
from .namespaces import NamespaceSpec
from .observability import ObservabilitySpec
from .security import EndUserAuthSpec, MtlsSpec
from .traffic import ServiceSpec


class MeshSpec(Model):
    """Everything one stack rolls out."""

    environment: str = Field(default="dev", description="Environment name (labels, docs).")
    production: bool = Field(default=False, description="Production stack: stricter checks (no fault injection).")
    allow_mutable_tags: bool = Field(
        default=False,
        description="Accept images referenced by tag only in a production stack (opts out of checks MR240 and "
        "MR241). Outside production, tags are always accepted.",
    )
    trust_domain: str = Field(default="cluster.local", description="Mesh trust domain used in principals.")
    cluster_domain: ClusterDomain = Field(default="cluster.local",
                                          description="Kubernetes DNS domain used in service hosts.")
    control_plane: ControlPlaneSpec = Field(
        description="Istio control plane: the chart source to install from, or install: false (bring your own)."
    )
    namespaces: dict[DnsLabel, NamespaceSpec] = Field(default_factory=dict, description="Mesh namespaces by name.")
    mtls: MtlsSpec = Field(default_factory=MtlsSpec, description="Mutual TLS.")
    services: dict[DnsLabel, ServiceSpec] = Field(default_factory=dict, description="Services by name.")
    observability: ObservabilitySpec | None = Field(
        default_factory=ObservabilitySpec, description="Observability stack; null turns it off."
    )
    egress: dict[DnsLabel, ExternalService] = Field(
        default_factory=dict,
        description="External services the mesh may call, by name (ServiceEntries; TLS origination; egress gateway "
        "routing).")
    end_user_auth: EndUserAuthSpec = Field(
        default_factory=EndUserAuthSpec, description="End-user authentication: JWT issuers and where tokens are "
        "validated.")
    certificate_authority: CertificateAuthoritySpec = Field(
        default_factory=CertificateAuthoritySpec,
        description="The CA istiod signs workload certificates with: Istio's self-signed one (default) or a root "
        "and intermediate plugged in through the cacerts Secret (README \"Mesh CA\").")

    @property
    def root_namespace(self) -> str:
        """Istio's root namespace: mesh-wide policies live here."""
        return self.control_plane.namespace

    def service_host(self, name: str) -> str:
        """Fully qualified host of a service in ``services``."""
        return f"{name}.{self.services[name].namespace}.svc.{self.cluster_domain}"
