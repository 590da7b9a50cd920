"""The facts a platform stack publishes about its mesh, for app teams' stacks that add routing and access to it.

Large organisations split one mesh across many small stacks: a platform stack runs ``Mesh`` (control plane,
gateways, namespaces, shared services) and exports :class:`PlatformFacts` as the stack output ``platformFacts``; an
app team's stack reads it through a ``pulumi.StackReference`` and hands it to ``Traffic`` and ``Access``
(``platform=``), whose checks then see the union of the app's services and what the platform published: a gateway
or a caller the platform defines is known, one that is in neither stack is an error.

The output is plain JSON (camelCase keys, as in a stack file) with a ``schemaVersion``; this module reads the
version it writes and refuses any other with a message naming both. Nothing here imports Pulumi.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import pydantic
from pydantic import Field

from .plan.naming import service_account
from .spec import (
    ConfigError,
    DataplaneMode,
    ExposureSpec,
    GatewayApi,
    GatewayKind,
    GatewaySpec,
    IngressTls,
    MeshSpec,
    NamespaceSpec,
    PortSpec,
    ServiceSpec,
)
from .spec.base import ClusterDomain, DnsLabel, DnsSubdomain, Model
from .spec.errors import Problem, problems_from_validation_error

#: The version of :class:`PlatformFacts` this package writes and reads. It changes only when a field changes
#: meaning or goes away (a new optional field keeps it), so an app stack on an older package can tell.
PLATFORM_FACTS_VERSION: Literal[1] = 1
#: The stack output a platform program exports the facts under (``pulumi.export(PLATFORM_FACTS_OUTPUT, ...)``), and
#: so the name an app team's ``StackReference.get_output`` asks for.
PLATFORM_FACTS_OUTPUT = "platformFacts"


class PublishedNamespace(Model):
    """A namespace the platform enrols in the mesh."""

    mode: DataplaneMode = Field(description="How its workloads join the mesh: sidecar, ambient or none (outside).")
    waypoint: bool = Field(default=False, description="Ambient only: a waypoint enforces L7 policy there.")


class PublishedGateway(Model):
    """A gateway deployment of the platform: where it runs and the hosts its own Gateway object serves."""

    kind: GatewayKind = Field(description="ingress or egress.")
    namespace: DnsLabel = Field(description="Namespace of the gateway deployment (and of its TLS secret).")
    service_account: DnsSubdomain = Field(
        description="Service account the gateway's pods run as: its identity when it calls a service.")
    tls: IngressTls | None = Field(
        default=None, description="The gateway's TLS for hosts without their own (its `tls`, or `tlsSecret` as "
        "`{credentialName: <secret>, httpsRedirect: false}`); an app's host on it gets the same servers.")
    api: GatewayApi = Field(default=GatewayApi.ISTIO,
                            description="Which API the platform configures the gateway with (istio or gateway-api).")
    hosts: list[str] = Field(default_factory=list,
                             description="External hosts the platform's services are exposed at on this gateway.")


class PublishedService(Model):
    """A service the platform stack defines: enough to call it, route to it and recognise it as a caller."""

    namespace: DnsLabel = Field(description="Namespace of the Service.")
    service_account: DnsSubdomain = Field(description="Service account its workloads run as (their identity).")
    ports: list[PortSpec] = Field(default_factory=list, description="Its declared ports.")
    expose: ExposureSpec | None = Field(default=None, description="Its ingress exposure (gateway and hosts).")


class PlatformFacts(Model):
    """What a platform stack publishes about its mesh (stack output ``platformFacts``): version 1."""

    schema_version: Literal[1] = Field(
        default=PLATFORM_FACTS_VERSION, description="Version of this structure (see PLATFORM_FACTS_VERSION).")
    environment: str = Field(description="The platform stack's environment name.")
    production: bool = Field(description="Whether the platform stack is production.")
    root_namespace: DnsLabel = Field(description="Istio's root namespace (the control plane's).")
    trust_domain: str = Field(description="Mesh trust domain, the first part of every principal.")
    cluster_domain: ClusterDomain = Field(description="Kubernetes DNS domain of service hosts.")
    revision: DnsLabel = Field(description="The control plane's default revision.")
    injection_revision: DnsLabel = Field(
        description="The revision or revision tag namespaces are labelled with (istio.io/rev) to get sidecars.")
    namespaces: dict[DnsLabel, PublishedNamespace] = Field(
        default_factory=dict, description="Namespaces the platform enrols, by name, with their dataplane mode.")
    gateways: dict[DnsLabel, PublishedGateway] = Field(default_factory=dict, description="Gateways by name.")
    services: dict[DnsLabel, PublishedService] = Field(default_factory=dict, description="Services by name.")

    def describe_callers(self) -> str:
        """The identities the platform publishes, for error messages: namespaces with their mode, then
        ``namespace/serviceAccount`` of each service and gateway."""
        namespaces = ", ".join(f"{name} ({spec.mode.value})" for name, spec in sorted(self.namespaces.items()))
        identities = sorted({f"{s.namespace}/{s.service_account}" for s in self.services.values()}
                            | {f"{g.namespace}/{g.service_account}" for g in self.gateways.values()})
        return (f"namespaces {namespaces or '(none)'} and identities {', '.join(identities) or '(none)'}")

    def describe_gateways(self) -> str:
        """The gateways the platform publishes, for error messages: name, kind and namespace."""
        return ", ".join(f"{name} ({spec.kind.value}, namespace {spec.namespace})"
                         for name, spec in sorted(self.gateways.items())) or "(none)"


def platform_facts(spec: MeshSpec) -> PlatformFacts:
    """The facts a stack running ``spec`` publishes."""
    cp = spec.control_plane
    hosts: dict[str, set[str]] = {}
    for service in spec.services.values():
        if service.expose is not None:
            hosts.setdefault(service.expose.gateway, set()).update(service.expose.hosts)
    return PlatformFacts(
        environment=spec.environment,
        production=spec.production,
        root_namespace=spec.root_namespace,
        trust_domain=spec.trust_domain,
        cluster_domain=spec.cluster_domain,
        revision=cp.revision_name,
        injection_revision=cp.injection_revision,
        namespaces={name: PublishedNamespace(mode=ns.mode, waypoint=ns.waypoint)
                    for name, ns in sorted(spec.namespaces.items())},
        # The gateway chart runs its pods as a service account named after the release (check MR173 reports values
        # that rename it); its allow rules name that account.
        gateways={name: PublishedGateway(kind=gw.kind, namespace=gw.namespace, service_account=name,
                                         tls=gw.default_tls(), api=gw.api, hosts=sorted(hosts.get(name, set())))
                  for name, gw in sorted(cp.gateways.items())},
        services={name: PublishedService(namespace=svc.namespace, service_account=service_account(name, svc),
                                         ports=list(svc.ports), expose=svc.expose)
                  for name, svc in sorted(spec.services.items())},
    )


def read_platform_facts(value: PlatformFacts | Mapping[str, Any], root: str = "platform") -> PlatformFacts:
    """``value`` (the ``platformFacts`` output of a platform stack, or a :class:`PlatformFacts`) validated;
    problems are reported with paths from ``root``. A missing output (``None``) or another schema version is a
    :class:`ConfigError` that says what was expected."""
    if isinstance(value, PlatformFacts):
        return value
    if not isinstance(value, Mapping):
        raise ConfigError([Problem(
            root, f"expected the platform stack's {PLATFORM_FACTS_OUTPUT} output (a mapping; is the stack reference "
            f"right, and has the platform stack been updated since it began exporting {PLATFORM_FACTS_OUTPUT}?), "
            f"got {value!r}")])
    version = value.get("schemaVersion")
    if version != PLATFORM_FACTS_VERSION:
        raise ConfigError([Problem(
            f"{root}.schemaVersion", f"this mesh-rollout reads platform facts version {PLATFORM_FACTS_VERSION}; the "
            f"platform stack published version {version!r}: use the same mesh-rollout release in both stacks")])
    try:
        return PlatformFacts.model_validate(value, by_alias=True, by_name=False)
    except pydantic.ValidationError as error:
        raise ConfigError(problems_from_validation_error(error, root)) from None


def published_data(facts: PlatformFacts) -> dict[str, Any]:
    """The facts as the plain JSON a stack output holds (camelCase keys, unset optional fields left out)."""
    return facts.model_dump(mode="json", by_alias=True, exclude_none=True)


# --- the platform's facts as parts of a mesh, for the checks and plans of an app team's components --------------


def _free_key(name: str, taken: Mapping[str, object]) -> str:
    """``name``, or a variant no key of ``taken`` has (the app's own service of that name wins by name)."""
    if name not in taken:
        return name
    index = 1
    while f"{name[:50]}-platform{index}" in taken:
        index += 1
    return f"{name[:50]}-platform{index}"


def platform_services(facts: PlatformFacts, own: Mapping[str, ServiceSpec],
                      exposures: bool = True) -> dict[str, ServiceSpec]:
    """The platform's services as service specs under keys the app's ``own`` services do not use: they carry
    identity, ports and (with ``exposures``) exposure, and nothing for a plan to route or allow."""
    merged: dict[str, ServiceSpec] = {}
    for name, service in sorted(facts.services.items()):
        key = _free_key(name, {**own, **merged})
        merged[key] = ServiceSpec(namespace=service.namespace, service_account=service.service_account,
                                  ports=service.ports, expose=service.expose if exposures else None)
    return merged


def platform_gateways(facts: PlatformFacts) -> dict[str, GatewaySpec]:
    """The platform's gateways as gateway specs, where they run."""
    return {name: GatewaySpec(kind=gateway.kind, namespace=gateway.namespace, tls=gateway.tls, api=gateway.api)
            for name, gateway in facts.gateways.items()}


def platform_namespaces(facts: PlatformFacts) -> dict[str, NamespaceSpec]:
    """The platform's namespaces with their dataplane mode (and nothing the platform's own plan creates there,
    such as default deny)."""
    return {name: NamespaceSpec(mode=ns.mode, waypoint=ns.waypoint, create=False)
            for name, ns in facts.namespaces.items()}


__all__ = ("PLATFORM_FACTS_OUTPUT", "PLATFORM_FACTS_VERSION", "PlatformFacts", "PublishedGateway",
           "PublishedNamespace", "PublishedService", "platform_facts", "platform_gateways", "platform_namespaces",
           "platform_services", "published_data", "read_platform_facts")
