"""MutualTls: mesh-wide PeerAuthentication with namespace, workload and port exceptions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from ._registration import ConcernComponent
from .plan import plan_mtls
from .spec import MtlsSpec, ServiceSpec


@dataclass
class MutualTlsArgs:
    """Inputs of :class:`MutualTls`."""

    #: Mesh-wide mode plus namespace and workload exceptions.
    mtls: MtlsSpec
    #: Services whose workload labels the workload exceptions select.
    services: dict[str, ServiceSpec] = field(default_factory=dict)
    #: Istio's root namespace, where the mesh-wide policy lives.
    root_namespace: str = "istio-system"
    #: Kubernetes provider for every child; ``None`` inherits the one given through resource options.
    provider: Optional[k8s.Provider] = None


class MutualTls(ConcernComponent):
    """PeerAuthentications: the mesh-wide default, then the exceptions."""

    def __init__(self, name: str, args: MutualTlsArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mesh-rollout:index:MutualTls", name, args.provider, opts)
        self.plan = plan_mtls(args.mtls, args.services, args.root_namespace)
        self._register(self.plan)
        self.mode = pulumi.Output.from_input(args.mtls.mode.value)
        self.register_outputs({"mode": self.mode})
