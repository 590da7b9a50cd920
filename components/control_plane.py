"""ControlPlane: Istio's Helm charts, base → istiod → (cni → ztunnel) → gateways."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Union

import pulumi
import pulumi_kubernetes as k8s

from ._registration import ConcernComponent
from ._validation import check_component, coerce, log_warnings, partial_mesh
from .checks.scopes import CONTROL_PLANE
from .plan import TracingProvider, plan_control_plane
from .spec import ControlPlaneSpec


@dataclass(kw_only=True)
class ControlPlaneArgs:
    """Inputs of :class:`ControlPlane`. Plain dicts (as in a stack file, camelCase keys) or models."""

    #: Version, revision, chart source, HA, meshConfig and gateways. ``install: false`` registers nothing.
    spec: Union[ControlPlaneSpec, Mapping[str, Any]]
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
    #: The inputs were validated and every check ran on the whole mesh already (``Mesh`` sets it).
    checked: bool = False


class ControlPlane(ConcernComponent):
    """Installs Istio from its official charts in order, each chart waiting for the one before it."""

    def __init__(self, name: str, args: ControlPlaneArgs, opts: Optional[pulumi.ResourceOptions] = None):
        spec = coerce(ControlPlaneSpec, args.spec, "spec")
        found = [] if args.checked else check_component(
            partial_mesh({"controlPlane": spec}), CONTROL_PLANE, {"mesh.controlPlane": "spec"})
        super().__init__("mesh-rollout:index:ControlPlane", name, args.provider, opts)
        log_warnings(found, self)
        self.plan = plan_control_plane(spec, args.trust_domain, args.tracing, args.managed_namespaces,
                                       args.nodeless)
        self._register(self.plan)
        #: The default revision (the one the cluster-wide validation webhook and defaultRevision name).
        self.revision = pulumi.Output.from_input(spec.revision_name)
        #: Every installed revision, oldest version first, and what each revision tag points at.
        self.revisions = pulumi.Output.from_input(list(spec.installed_revisions))
        self.revision_tags = pulumi.Output.from_input(spec.tag_targets)
        self.namespace = pulumi.Output.from_input(spec.namespace)
        self.register_outputs({
            "revision": self.revision,
            "revisions": self.revisions,
            "revisionTags": self.revision_tags,
            "namespace": self.namespace,
            "releases": [release.key for release in self.plan.releases],
        })
