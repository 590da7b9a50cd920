"""MutualTls: mesh-wide PeerAuthentication with namespace, workload and port exceptions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Union

import pulumi
import pulumi_kubernetes as k8s

from ._registration import ConcernComponent
from ._validation import check_component, coerce, log_warnings, partial_mesh
from .checks.scopes import MUTUAL_TLS
from .plan import plan_mtls
from .spec import MtlsSpec, ServiceSpec
from .spec.base import DnsLabel


@dataclass(kw_only=True)
class MutualTlsArgs:
    """Inputs of :class:`MutualTls`. Plain dicts (as in a stack file, camelCase keys) or models."""

    #: Mesh-wide mode plus namespace and workload exceptions.
    mtls: Union[MtlsSpec, Mapping[str, Any]]
    #: Services whose workload labels the workload exceptions select.
    services: Mapping[str, Union[ServiceSpec, Mapping[str, Any]]] = field(default_factory=dict)
    #: Istio's root namespace, where the mesh-wide policy lives.
    root_namespace: str = "istio-system"
    #: Kubernetes provider for every child; ``None`` inherits the one given through resource options.
    provider: Optional[k8s.Provider] = None
    #: The inputs were validated and every check ran on the whole mesh already (``Mesh`` sets it).
    checked: bool = False


class MutualTls(ConcernComponent):
    """PeerAuthentications: the mesh-wide default, then the exceptions."""

    def __init__(self, name: str, args: MutualTlsArgs, opts: Optional[pulumi.ResourceOptions] = None):
        mtls = coerce(MtlsSpec, args.mtls, "mtls")
        services = coerce(dict[DnsLabel, ServiceSpec], args.services, "services")
        root_namespace = coerce(DnsLabel, args.root_namespace, "rootNamespace")
        found = [] if args.checked else check_component(
            partial_mesh({"mtls": mtls, "services": services,
                          "controlPlane": {"install": False, "namespace": root_namespace}}),
            MUTUAL_TLS, {"mesh.mtls": "mtls", "mesh.services": "services"})
        super().__init__("mesh-rollout:index:MutualTls", name, args.provider, opts)
        log_warnings(found, self)
        self.plan = plan_mtls(mtls, services, root_namespace)
        self._register(self.plan)
        self.mode = pulumi.Output.from_input(mtls.mode.value)
        self.register_outputs({"mode": self.mode, "rootNamespace": root_namespace})  # the policy pack reads both
