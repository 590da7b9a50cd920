"""Traffic: per service a DestinationRule (subsets, circuit breaker) ordered before its VirtualService."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from ._registration import ConcernComponent
from .plan import plan_traffic
from .spec import GatewaySpec, ServiceSpec


@dataclass
class TrafficArgs:
    """Inputs of :class:`Traffic`."""

    #: Services by name with their versions, routing, resilience, fault injection, mirroring and exposure.
    services: dict[str, ServiceSpec]
    #: Gateways services may be exposed through (name -> spec), usually ``controlPlane.gateways``.
    gateways: dict[str, GatewaySpec] = field(default_factory=dict)
    #: Kubernetes DNS domain of service hosts.
    cluster_domain: str = "cluster.local"
    #: Kubernetes provider for every child; ``None`` inherits the one given through resource options.
    provider: Optional[k8s.Provider] = None


class Traffic(ConcernComponent):
    """Gateways, DestinationRules and VirtualServices. A VirtualService depends on the DestinationRules whose
    subsets it routes to, so a new subset exists before traffic is sent to it."""

    def __init__(self, name: str, args: TrafficArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mesh-rollout:index:Traffic", name, args.provider, opts)
        self.plan = plan_traffic(args.services, args.gateways, args.cluster_domain)
        self._register(self.plan)
        self.hosts = {
            item.manifest["metadata"]["name"]: item.manifest["spec"]["host"]
            for item in self.plan.objects if item.kind == "DestinationRule"
        }
        self.register_outputs({"hosts": self.hosts})
