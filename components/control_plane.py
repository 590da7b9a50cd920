"""ControlPlane: Istio's Helm charts, base → istiod → (cni → ztunnel) → gateways."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from ._registration import ConcernComponent
from .plan import TracingProvider, plan_control_plane
from .spec import ControlPlaneSpec


@dataclass
class ControlPlaneArgs:
    """Inputs of :class:`ControlPlane`."""

    #: Version, revision, chart source, HA, meshConfig and gateways. ``install: false`` registers nothing.
    spec: ControlPlaneSpec
    #: Kubernetes provider for every child; ``None`` inherits the one given through resource options.
    provider: Optional[k8s.Provider] = None
    #: Trust domain written into meshConfig (must match the principals AuthorizationPolicies use).
    trust_domain: str = "cluster.local"
    #: Tracing extension provider for meshConfig (the Jaeger collector), if any.
    tracing: Optional[TracingProvider] = None
    #: Namespaces owned elsewhere (e.g. by :class:`Injection`), so they are not created twice.
    managed_namespaces: frozenset[str] = field(default_factory=frozenset)
    #: The cluster runs no pods (``ClusterSpec.nodeless``): charts skip readiness waits, webhooks fail open.
    nodeless: bool = False


class ControlPlane(ConcernComponent):
    """Installs Istio from its official charts in order, each chart waiting for the one before it."""

    def __init__(self, name: str, args: ControlPlaneArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mesh-rollout:index:ControlPlane", name, args.provider, opts)
        self.plan = plan_control_plane(args.spec, args.trust_domain, args.tracing, args.managed_namespaces,
                                       args.nodeless)
        self._register(self.plan)
        #: The revision namespaces are enrolled with (its first revision tag if any).
        self.revision = pulumi.Output.from_input(args.spec.revision_name)
        self.namespace = pulumi.Output.from_input(args.spec.namespace)
        self.register_outputs({
            "revision": self.revision,
            "namespace": self.namespace,
            "releases": [release.key for release in self.plan.releases],
        })
