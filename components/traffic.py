"""Traffic: per service a DestinationRule (subsets, circuit breaker) ordered before its VirtualService."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi

from ._registration import ConcernComponent
from ._validation import check_component, coerce, log_warnings, partial_mesh
from .checks.scopes import TRAFFIC
from .plan import plan_traffic
from .spec import GatewaySpec, ServiceSpec
from .spec.base import DnsLabel, DomainName


@dataclass(kw_only=True)
class TrafficArgs:
    """Inputs of :class:`Traffic`. Plain dicts (as in a stack file, camelCase keys) or models."""

    #: Services by name with their versions, routing, resilience, fault injection, mirroring and exposure.
    services: Mapping[str, ServiceSpec | Mapping[str, Any]]
    #: Gateways services may be exposed through (name -> spec), usually ``controlPlane.gateways``.
    gateways: Mapping[str, GatewaySpec | Mapping[str, Any]] = field(default_factory=dict)
    #: Kubernetes DNS domain of service hosts.
    cluster_domain: str = "cluster.local"
    #: The inputs were validated and every check ran on the whole mesh already (``Mesh`` sets it).
    checked: bool = False


class Traffic(ConcernComponent):
    """Gateways, DestinationRules and VirtualServices. A VirtualService depends on the DestinationRules whose
    subsets it routes to, so a new subset exists before traffic is sent to it.

    Used on its own it validates its inputs and runs the traffic checks (undefined versions, weights, shadowed
    matches, exposure…) before registering anything: errors raise :class:`mesh_rollout.spec.ConfigError`.
    """

    hosts: pulumi.Output[dict[str, str]]
    """The host of every service the component routes (it has a DestinationRule or a VirtualService), by service
    name, e.g. ``{"catalog": "catalog.shop.svc.cluster.local"}``."""

    def __init__(self, name: str, args: TrafficArgs, opts: pulumi.ResourceOptions | None = None):
        services = coerce(dict[DnsLabel, ServiceSpec], args.services, "services")
        gateways = coerce(dict[DnsLabel, GatewaySpec], args.gateways, "gateways")
        cluster_domain = coerce(DomainName, args.cluster_domain, "clusterDomain")
        found = [] if args.checked else check_component(
            partial_mesh({"services": services, "controlPlane": {"install": False, "gateways": gateways},
                          "clusterDomain": cluster_domain}),
            TRAFFIC, {"mesh.services": "services", "mesh.controlPlane.gateways": "gateways"})
        super().__init__("mesh-rollout:index:Traffic", name, opts)
        log_warnings(found, self)
        self.plan = plan_traffic(services, gateways, cluster_domain)
        self._register(self.plan)
        hosts: dict[str, str] = {}
        for item in self.plan.objects:
            host = item.manifest["spec"].get("host") if item.kind == "DestinationRule" else None
            if item.kind == "VirtualService" and item.manifest["metadata"]["name"] in services:
                host = item.manifest["spec"]["hosts"][0]
            if host is not None:
                hosts.setdefault(item.manifest["metadata"]["name"], host)
        self.hosts = pulumi.Output.from_input(hosts)
        self.register_outputs({"hosts": self.hosts})
