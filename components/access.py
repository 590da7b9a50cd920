"""Access: zero-trust AuthorizationPolicies from per-service allow-lists, and per-namespace default deny."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from ._registration import ConcernComponent
from .plan import plan_access
from .spec import GatewaySpec, NamespaceSpec, ServiceSpec


@dataclass
class AccessArgs:
    """Inputs of :class:`Access`."""

    #: Services with their ``access.allowFrom`` callers.
    services: dict[str, ServiceSpec]
    #: Namespaces (``defaultDeny``, ambient waypoints).
    namespaces: dict[str, NamespaceSpec] = field(default_factory=dict)
    #: Mesh trust domain, the first part of every principal.
    trust_domain: str = "cluster.local"
    #: Gateways whose service accounts may reach the services they expose.
    gateways: dict[str, GatewaySpec] = field(default_factory=dict)
    #: Kubernetes provider for every child; ``None`` inherits the one given through resource options.
    provider: Optional[k8s.Provider] = None


class Access(ConcernComponent):
    """ALLOW policies per service, then DENY-by-default per namespace (allow before deny: no outage window)."""

    def __init__(self, name: str, args: AccessArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mesh-rollout:index:Access", name, args.provider, opts)
        self.plan = plan_access(args.services, args.namespaces, args.trust_domain, args.gateways)
        self._register(self.plan)
        self.register_outputs({"policies": [item.key for item in self.plan.objects]})
