"""Access: zero-trust AuthorizationPolicies from per-service allow-lists, and per-namespace default deny."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi

from ._registration import ConcernComponent
from ._validation import check_component, coerce, log_warnings, partial_mesh
from .checks.scopes import ACCESS
from .plan import plan_access
from .spec import GatewaySpec, NamespaceSpec, ServiceSpec
from .spec.base import DnsLabel


@dataclass(kw_only=True)
class AccessArgs:
    """Inputs of :class:`Access`. Plain dicts (as in a stack file, camelCase keys) or models."""

    #: Services with their ``access.allowFrom`` callers.
    services: Mapping[str, ServiceSpec | Mapping[str, Any]]
    #: Namespaces (``defaultDeny``, ambient waypoints).
    namespaces: Mapping[str, NamespaceSpec | Mapping[str, Any]] = field(default_factory=dict)
    #: Mesh trust domain, the first part of every principal.
    trust_domain: str = "cluster.local"
    #: Gateways whose service accounts may reach the services they expose.
    gateways: Mapping[str, GatewaySpec | Mapping[str, Any]] = field(default_factory=dict)
    #: The inputs were validated and every check ran on the whole mesh already (``Mesh`` sets it).
    checked: bool = False


class Access(ConcernComponent):
    """ALLOW policies per service, then DENY-by-default per namespace (allow before deny: no outage window).

    Used on its own it validates its inputs and runs the access checks (unknown callers, lower-case methods, L7
    rules without a proxy that can enforce them…) before registering anything.
    """

    policies: pulumi.Output[list[str]]
    """Every AuthorizationPolicy the component registers, as ``namespace/name``: the ALLOW policy of each service
    with ``access.allowFrom`` (``shop/payment-allow``), then the DENY-by-default policy of each namespace with
    ``defaultDeny`` (``shop/default-deny``)."""

    def __init__(self, name: str, args: AccessArgs, opts: pulumi.ResourceOptions | None = None):
        services = coerce(dict[DnsLabel, ServiceSpec], args.services, "services")
        namespaces = coerce(dict[DnsLabel, NamespaceSpec], args.namespaces, "namespaces")
        gateways = coerce(dict[DnsLabel, GatewaySpec], args.gateways, "gateways")
        # Without namespaces (a mesh someone else enrols) the services' own namespaces are taken as enrolled, so a
        # caller among the services is known.
        enrolled = namespaces or {service.namespace: NamespaceSpec() for service in services.values()}
        found = [] if args.checked else check_component(
            partial_mesh({"services": services, "namespaces": enrolled, "trustDomain": args.trust_domain,
                          "controlPlane": {"install": False, "gateways": gateways}}),
            ACCESS, {"mesh.services": "services", "mesh.namespaces": "namespaces",
                     "mesh.controlPlane.gateways": "gateways"})
        super().__init__("mesh-rollout:index:Access", name, opts)
        log_warnings(found, self)
        self.plan = plan_access(services, namespaces, args.trust_domain, gateways)
        self._register(self.plan)
        self.policies = pulumi.Output.from_input(
            [f"{item.manifest['metadata']['namespace']}/{item.manifest['metadata']['name']}"
             for item in self.plan.objects if item.kind == "AuthorizationPolicy"])
        self.register_outputs({"policies": self.policies})
