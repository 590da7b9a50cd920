"""Observability: Prometheus, Grafana, Jaeger, Kiali wired together, and Istio's Telemetry resource."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional

import pulumi
import pulumi_kubernetes as k8s

from ._registration import ConcernComponent
from .plan import endpoints, plan_observability
from .spec import ObservabilitySpec


@dataclass
class ObservabilityArgs:
    """Inputs of :class:`Observability`."""

    #: Add-ons (chart or existing endpoint each), trace sampling and access logging.
    spec: ObservabilitySpec
    #: Istio's root namespace, where the mesh-wide Telemetry lives.
    root_namespace: str = "istio-system"
    #: Kubernetes DNS domain used in the add-ons' in-cluster URLs.
    cluster_domain: str = "cluster.local"
    #: Secret config values by key, e.g. ``{"grafanaAdminPassword": config.require_secret(...)}``.
    secrets: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    #: Namespaces created elsewhere, not created again.
    existing_namespaces: frozenset[str] = field(default_factory=frozenset)
    #: Kubernetes provider for every child; ``None`` inherits the one given through resource options.
    provider: Optional[k8s.Provider] = None
    #: The cluster runs no pods (``ClusterSpec.nodeless``): nothing waits for the add-ons to become ready.
    nodeless: bool = False


class Observability(ConcernComponent):
    """Charts in wiring order (Prometheus, Jaeger, Grafana, then Kiali pointed at all three) and Telemetry."""

    def __init__(self, name: str, args: ObservabilityArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mesh-rollout:index:Observability", name, args.provider, opts)
        self.plan = plan_observability(args.spec, args.root_namespace, args.cluster_domain,
                                       args.existing_namespaces, args.nodeless)
        self._register(self.plan, args.secrets)
        ends = endpoints(args.spec, args.cluster_domain)
        self.urls = {"prometheus": ends.prometheus, "grafana": ends.grafana, "jaeger": ends.jaeger_query}
        self.register_outputs({"urls": self.urls})
