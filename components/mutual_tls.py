"""MutualTls: mesh-wide PeerAuthentication with namespace, workload and port exceptions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi

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
    mtls: MtlsSpec | Mapping[str, Any]
    #: Services whose workload labels the workload exceptions select.
    services: Mapping[str, ServiceSpec | Mapping[str, Any]] = field(default_factory=dict)
    #: Istio's root namespace, where the mesh-wide policy lives.
    root_namespace: str = "istio-system"
    #: The inputs were validated and every check ran on the whole mesh already (``Mesh`` sets it).
    checked: bool = False


class MutualTls(ConcernComponent):
    """PeerAuthentications: the mesh-wide default, then the exceptions."""

    mode: pulumi.Output[str]
    """The mesh-wide mode: ``STRICT``, ``PERMISSIVE``, ``DISABLE`` or ``UNSET``."""
    root_namespace: pulumi.Output[str]
    """Istio's root namespace, where the mesh-wide PeerAuthentication lives (the policy pack reads it)."""

    def __init__(self, name: str, args: MutualTlsArgs, opts: pulumi.ResourceOptions | None = None):
        mtls = coerce(MtlsSpec, args.mtls, "mtls")
        services = coerce(dict[DnsLabel, ServiceSpec], args.services, "services")
        root_namespace = coerce(DnsLabel, args.root_namespace, "rootNamespace")
        found = [] if args.checked else check_component(
            partial_mesh({"mtls": mtls, "services": services,
                          "controlPlane": {"install": False, "namespace": root_namespace}}),
            MUTUAL_TLS, {"mesh.mtls": "mtls", "mesh.services": "services"})
        super().__init__("mesh-rollout:index:MutualTls", name, opts)
        log_warnings(found, self)
        self.plan = plan_mtls(mtls, services, root_namespace)
        self._register(self.plan)
        self.mode = pulumi.Output.from_input(mtls.mode.value)
        self.root_namespace = pulumi.Output.from_input(root_namespace)
        # The policy pack reads both (policy/rules.py mesh_context).
        self.register_outputs({"mode": self.mode, "rootNamespace": self.root_namespace})
