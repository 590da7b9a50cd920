"""Egress: ServiceEntries for the external services the mesh may call, TLS origination, egress gateway routing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi

from ._registration import ConcernComponent
from ._validation import check_component, coerce, log_warnings, partial_mesh
from .checks.scopes import EGRESS
from .plan import plan_egress
from .spec import ExternalService, GatewaySpec, ServiceSpec
from .spec.base import DnsLabel, DomainName


@dataclass(kw_only=True)
class EgressArgs:
    """Inputs of :class:`Egress`. Plain dicts (as in a stack file, camelCase keys) or models."""

    #: External services by name (``egress`` in a stack file): hosts, ports, resolution, TLS origination, gateway.
    egress: Mapping[str, ExternalService | Mapping[str, Any]]
    #: Services whose ``egress`` lists are checked against the declared external services.
    services: Mapping[str, ServiceSpec | Mapping[str, Any]] = field(default_factory=dict)
    #: Gateways external services may be routed through (kind egress), usually ``controlPlane.gateways``.
    gateways: Mapping[str, GatewaySpec | Mapping[str, Any]] = field(default_factory=dict)
    #: Namespace of entries that name none (Istio's root namespace).
    root_namespace: str = "istio-system"
    #: Kubernetes DNS domain of the gateways' service hosts.
    cluster_domain: str = "cluster.local"
    #: The inputs were validated and every check ran on the whole mesh already (``Mesh`` sets it).
    checked: bool = False


class Egress(ConcernComponent):
    """ServiceEntries (each after the DestinationRule that originates its TLS), then the egress Gateways and the
    VirtualServices that send the traffic through them.

    Used on its own it validates its inputs and runs the egress checks (undeclared dependencies, hosts that shadow
    in-mesh services, gateways that are not egress gateways…) before registering anything.
    """

    service_entries: pulumi.Output[list[str]]
    """Every ServiceEntry the component registers, as ``namespace/name`` (``istio-system/stripe``)."""

    def __init__(self, name: str, args: EgressArgs, opts: pulumi.ResourceOptions | None = None):
        egress = coerce(dict[DnsLabel, ExternalService], args.egress, "egress")
        services = coerce(dict[DnsLabel, ServiceSpec], args.services, "services")
        gateways = coerce(dict[DnsLabel, GatewaySpec], args.gateways, "gateways")
        root_namespace = coerce(DnsLabel, args.root_namespace, "rootNamespace")
        cluster_domain = coerce(DomainName, args.cluster_domain, "clusterDomain")
        found = [] if args.checked else check_component(
            partial_mesh({"egress": egress, "services": services, "clusterDomain": cluster_domain,
                          "controlPlane": {"install": False, "namespace": root_namespace, "gateways": gateways}}),
            EGRESS, {"mesh.egress": "egress", "mesh.services": "services", "mesh.controlPlane.gateways": "gateways"})
        super().__init__("mesh-rollout:index:Egress", name, opts)
        log_warnings(found, self)
        self.plan = plan_egress(egress, gateways, root_namespace, cluster_domain)
        self._register(self.plan)
        self.service_entries = pulumi.Output.from_input(
            [f"{item.manifest['metadata']['namespace']}/{item.manifest['metadata']['name']}"
             for item in self.plan.objects if item.kind == "ServiceEntry"])
        self.register_outputs({"serviceEntries": self.service_entries})
