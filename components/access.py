"""Access: zero-trust AuthorizationPolicies from per-service allow-lists, and per-namespace default deny."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi

from ._registration import ConcernComponent
from ._validation import (
    PlatformInput,
    agreed,
    check_component,
    coerce,
    log_warnings,
    partial_mesh,
    plan_later,
    plan_now,
)
from .checks import Finding
from .checks.scopes import ACCESS
from .plan import ConcernPlan, plan_access
from .platform import PlatformFacts, platform_gateways, platform_namespaces, platform_services
from .spec import EndUserAuthSpec, GatewaySpec, NamespaceSpec, ServiceSpec
from .spec.base import DnsLabel


@dataclass(kw_only=True)
class AccessArgs:
    """Inputs of :class:`Access`. Plain dicts (as in a stack file, camelCase keys) or models."""

    #: Services with their ``access.allowFrom`` callers.
    services: Mapping[str, ServiceSpec | Mapping[str, Any]]
    #: Namespaces (``defaultDeny``, ambient waypoints).
    namespaces: Mapping[str, NamespaceSpec | Mapping[str, Any]] = field(default_factory=dict)
    #: Mesh trust domain, the first part of every principal; default: the platform's (``platform``), else
    #: ``cluster.local``.
    trust_domain: str | None = None
    #: Gateways whose service accounts may reach the services they expose.
    gateways: Mapping[str, GatewaySpec | Mapping[str, Any]] = field(default_factory=dict)
    #: What the platform stack running the mesh publishes (:class:`mesh_rollout.platform.PlatformFacts`, its plain
    #: data, or an output of it such as ``StackReference(...).get_output("platformFacts")``). Callers may then be
    #: the platform's workloads and gateways, whose namespaces' dataplane modes the checks and policies follow.
    platform: PlatformInput | None = None
    #: End-user authentication (``endUserAuth``): token issuers, and the namespaces, services and gateways that
    #: validate (and may require) tokens; the issuers of ``access.allowUsers`` rules.
    end_user_auth: EndUserAuthSpec | Mapping[str, Any] | None = None
    #: Istio's root namespace, where an ``endUserAuth.namespaces`` entry applies to the whole mesh.
    root_namespace: str = "istio-system"
    #: The inputs were validated and every check ran on the whole mesh already (``Mesh`` sets it).
    checked: bool = False


class Access(ConcernComponent):
    """ALLOW policies per service, then DENY-by-default per namespace (allow before deny: no outage window).

    Used on its own it validates its inputs and runs the access checks (unknown callers, lower-case methods, L7
    rules without a proxy that can enforce them…) before registering anything. With ``platform`` an output, the
    checks run once it resolves, and an error fails the registration of the component's policies (the preview or
    update) with the same message.
    """

    policies: pulumi.Output[list[str]]
    """Every AuthorizationPolicy the component registers, as ``namespace/name``: the ALLOW policy of each service
    with ``access.allowFrom`` (``shop/payment-allow``), then the DENY-by-default policy of each namespace with
    ``defaultDeny`` (``shop/default-deny``)."""

    def __init__(self, name: str, args: AccessArgs, opts: pulumi.ResourceOptions | None = None):
        services = coerce(dict[DnsLabel, ServiceSpec], args.services, "services")
        namespaces = coerce(dict[DnsLabel, NamespaceSpec], args.namespaces, "namespaces")
        gateways = coerce(dict[DnsLabel, GatewaySpec], args.gateways, "gateways")
        trust_domain = coerce(str | None, args.trust_domain, "trustDomain")
        auth = coerce(EndUserAuthSpec, args.end_user_auth or {}, "endUserAuth")
        root_namespace = coerce(DnsLabel, args.root_namespace, "rootNamespace")

        def build(facts: PlatformFacts | None) -> tuple[ConcernPlan, list[Finding]]:
            trust = agreed(trust_domain, facts.trust_domain if facts else None, "trustDomain", "trust domain",
                           "cluster.local")
            # The platform's namespaces carry their dataplane mode (ambient waypoints), never its default deny.
            published_namespaces = platform_namespaces(facts) if facts else {}
            published_gateways = platform_gateways(facts) if facts else {}
            all_gateways = {**published_gateways, **gateways}
            checked: list[Finding] = []
            if not args.checked:
                # Without namespaces (a mesh someone else enrols) the services' own namespaces are taken as
                # enrolled, so a caller among the services is known, unless the platform says otherwise.
                fallback = {} if namespaces else {s.namespace: NamespaceSpec() for s in services.values()}
                theirs = platform_services(facts, services, exposures=False) if facts else {}
                checked = check_component(
                    partial_mesh({"services": {**theirs, **services},
                                  "namespaces": {**fallback, **published_namespaces, **namespaces},
                                  "trustDomain": trust, "endUserAuth": auth,
                                  "controlPlane": {"install": False, "namespace": root_namespace,
                                                   "gateways": all_gateways}}),
                    ACCESS, {"mesh.services": "services", "mesh.namespaces": "namespaces",
                             "mesh.controlPlane.gateways": "gateways", "mesh.endUserAuth": "endUserAuth"},
                    platform=facts,
                    foreign={"mesh.services": theirs,
                             "mesh.namespaces": [n for n in published_namespaces if n not in namespaces],
                             "mesh.controlPlane.gateways": [g for g in published_gateways if g not in gateways]})
            plan = plan_access(services, {**published_namespaces, **namespaces}, trust, all_gateways, auth,
                               root_namespace)
            return plan, checked

        platform = args.platform
        found: list[Finding] = []
        if not isinstance(platform, pulumi.Output):
            plan, found = plan_now(platform, build)
        super().__init__("mesh-rollout:index:Access", name, opts)
        if isinstance(platform, pulumi.Output):
            # Which policies exist follows from this component's own services and namespaces alone.
            self.plan, _ = plan_later(self, platform, build, plan_access(services, namespaces, "cluster.local",
                                                                         gateways, auth, root_namespace))
        else:
            log_warnings(found, self)
            self.plan = plan
        self._register(self.plan)
        self.policies = pulumi.Output.from_input(
            [f"{item.manifest['metadata']['namespace']}/{item.manifest['metadata']['name']}"
             for item in self.plan.objects if item.kind == "AuthorizationPolicy"])
        self.register_outputs({"policies": self.policies})
