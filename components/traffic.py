"""Traffic: per service a DestinationRule (subsets, circuit breaker) ordered before its VirtualService."""

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
from .checks.scopes import TRAFFIC
from .plan import ConcernPlan, plan_traffic
from .platform import PlatformFacts, PublishedGateway, platform_gateways, platform_services
from .spec import ConfigError, GatewayApi, GatewayKind, GatewaySpec, Problem, ServiceSpec
from .spec.base import DnsLabel, DomainName


@dataclass(kw_only=True)
class TrafficArgs:
    """Inputs of :class:`Traffic`. Plain dicts (as in a stack file, camelCase keys) or models."""

    #: Services by name with their versions, routing, resilience, fault injection, mirroring and exposure.
    services: Mapping[str, ServiceSpec | Mapping[str, Any]]
    #: Gateways services may be exposed through (name -> spec), usually ``controlPlane.gateways``.
    gateways: Mapping[str, GatewaySpec | Mapping[str, Any]] = field(default_factory=dict)
    #: Kubernetes DNS domain of service hosts; default: the platform's (``platform``), else ``cluster.local``.
    cluster_domain: str | None = None
    #: What the platform stack running the mesh publishes (:class:`mesh_rollout.platform.PlatformFacts`, its plain
    #: data, or an output of it such as ``StackReference(...).get_output("platformFacts")``). Services may then be
    #: exposed through the platform's gateways and route to its services; the checks run against both stacks.
    platform: PlatformInput | None = None
    #: The inputs were validated and every check ran on the whole mesh already (``Mesh`` sets it).
    checked: bool = False


def _exposed_through_platform(services: Mapping[str, ServiceSpec],
                              own_gateways: Mapping[str, GatewaySpec]) -> dict[str, str]:
    """Gateway name -> the namespace of this component's Gateway object for it, for every gateway the services are
    exposed through that the component is not given (the platform's): the namespace of the first such service by
    name."""
    namespaces: dict[str, str] = {}
    for _, service in sorted(services.items()):
        if service.expose is not None and service.expose.gateway not in own_gateways:
            namespaces.setdefault(service.expose.gateway, service.namespace)
    return namespaces


def _plan(services: dict[str, ServiceSpec], gateways: dict[str, GatewaySpec], cluster_domain: str,
          facts: PlatformFacts | None) -> ConcernPlan:
    if facts is None:
        return plan_traffic(services, gateways, cluster_domain)
    # A platform gateway's deployment and its own Gateway object are the platform stack's. This stack gets its own
    # Gateway object for its hosts, in its service's namespace, selecting the same pods (istio: <name>): Istio
    # merges the servers of every Gateway object that selects a deployment, and reads the TLS secret from the
    # deployment's namespace, so the platform's secret serves here too.
    relocated = {name: GatewaySpec(kind=facts.gateways[name].kind, namespace=namespace, tls=facts.gateways[name].tls)
                 for name, namespace in _exposed_through_platform(services, gateways).items()
                 if name in facts.gateways}
    # The platform's services, unrouted here, resolve a match or mirror to them to their hosts.
    known = {**platform_services(facts, services, exposures=False), **services}
    return plan_traffic(known, {**gateways, **relocated}, cluster_domain)


def refuse_gateway_api_platform_gateways(services: Mapping[str, ServiceSpec], own: Mapping[str, GatewaySpec],
                                         facts: PlatformFacts) -> None:
    """An app stack cannot expose a host through a platform gateway the platform configures with Gateway API: the
    platform's Gateway object has a listener per host it knows, so an app's HTTPRoute for another host would attach
    to nothing (Gateway API's ListenerSet, which lets other namespaces add listeners, is not in v1.6's standard
    channel). Raised as a ConfigError at the exposure, instead of planning a route no listener accepts."""
    problems = [
        Problem(f"services.{name}.expose.gateway",
                f"gateway {service.expose.gateway!r} is the platform stack's and uses api: gateway-api, whose Gateway "
                "object lists the platform's hosts only; expected a platform gateway with api: istio (an app stack "
                "adds its own Gateway object for its hosts there), or the host declared in the platform stack",
                given=service.expose.gateway)
        for name, service in sorted(services.items())
        if service.expose is not None and service.expose.gateway not in own
        and (published := facts.gateways.get(service.expose.gateway)) is not None
        and published.api is GatewayApi.GATEWAY_API]
    if problems:
        raise ConfigError(problems)


def _assumed_facts(services: Mapping[str, ServiceSpec], gateways: Mapping[str, GatewaySpec]) -> PlatformFacts:
    """Facts in which every gateway the services need and the component is not given is a platform ingress
    gateway: the objects planned with them are the ones planned with the real facts whenever those pass the
    checks (an unknown or egress gateway is an error, MR170)."""
    return PlatformFacts(environment="", production=False, root_namespace="istio-system",
                         trust_domain="cluster.local", cluster_domain="cluster.local", revision="default",
                         injection_revision="default",
                         gateways={name: PublishedGateway(kind=GatewayKind.INGRESS, namespace=namespace,
                                                          service_account=name)
                                   for name, namespace in _exposed_through_platform(services, gateways).items()})


def _hosts(plan: ConcernPlan, services: Mapping[str, ServiceSpec]) -> dict[str, str]:
    hosts: dict[str, str] = {}
    for item in plan.objects:
        host = item.manifest["spec"].get("host") if item.kind == "DestinationRule" else None
        if item.kind == "VirtualService" and item.manifest["metadata"]["name"] in services:
            host = item.manifest["spec"]["hosts"][0]
        if host is not None:
            hosts.setdefault(item.manifest["metadata"]["name"], host)
    return hosts


class Traffic(ConcernComponent):
    """Gateways, DestinationRules and VirtualServices. A VirtualService depends on the DestinationRules whose
    subsets it routes to, so a new subset exists before traffic is sent to it.

    Used on its own it validates its inputs and runs the traffic checks (undefined versions, weights, shadowed
    matches, exposure…) before registering anything: errors raise :class:`mesh_rollout.spec.ConfigError`. With
    ``platform`` an output, the checks run once it resolves, and an error fails the registration of the
    component's objects (the preview or update) with the same message.
    """

    hosts: pulumi.Output[dict[str, str]]
    """The host of every service the component routes (it has a DestinationRule or a VirtualService), by service
    name, e.g. ``{"catalog": "catalog.shop.svc.cluster.local"}``."""

    def __init__(self, name: str, args: TrafficArgs, opts: pulumi.ResourceOptions | None = None):
        services = coerce(dict[DnsLabel, ServiceSpec], args.services, "services")
        gateways = coerce(dict[DnsLabel, GatewaySpec], args.gateways, "gateways")
        cluster_domain = coerce(DomainName | None, args.cluster_domain, "clusterDomain")

        def build(facts: PlatformFacts | None) -> tuple[ConcernPlan, list[Finding]]:
            if facts is not None:
                refuse_gateway_api_platform_gateways(services, gateways, facts)
            domain = agreed(cluster_domain, facts.cluster_domain if facts else None, "clusterDomain",
                            "cluster domain", "cluster.local")
            checked: list[Finding] = []
            if not args.checked:
                theirs = platform_services(facts, services) if facts else {}
                published = {key: value for key, value in platform_gateways(facts).items() if key not in gateways} \
                    if facts else {}
                checked = check_component(
                    partial_mesh({"services": {**theirs, **services},
                                  "controlPlane": {"install": False, "gateways": {**published, **gateways}},
                                  "clusterDomain": domain}),
                    TRAFFIC, {"mesh.services": "services", "mesh.controlPlane.gateways": "gateways"},
                    platform=facts, foreign={"mesh.services": theirs, "mesh.controlPlane.gateways": published})
            return _plan(services, gateways, domain, facts), checked

        platform = args.platform
        found: list[Finding] = []
        if not isinstance(platform, pulumi.Output):
            plan, found = plan_now(platform, build)
        super().__init__("mesh-rollout:index:Traffic", name, opts)
        if isinstance(platform, pulumi.Output):
            shape = _plan(services, gateways, "cluster.local", _assumed_facts(services, gateways))
            self.plan, real = plan_later(self, platform, build, shape)
            self.hosts = real.apply(lambda resolved: _hosts(resolved, services))
        else:
            log_warnings(found, self)
            self.plan = plan
            self.hosts = pulumi.Output.from_input(_hosts(plan, services))
        self._register(self.plan)
        self.register_outputs({"hosts": self.hosts})
