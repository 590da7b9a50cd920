"""Mesh: the whole rollout for one stack, composed of the concern components in installation order."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi

from .access import Access, AccessArgs
from .certificate_authority import DEFAULT_CLUSTER_NAME, CertificateAuthority, CertificateAuthorityArgs
from .checks import Finding, errors, run_checks, warnings
from .control_plane import ControlPlane, ControlPlaneArgs
from .egress import Egress, EgressArgs
from .injection import Injection, InjectionArgs
from .mutual_tls import MutualTls, MutualTlsArgs
from .observability import Observability, ObservabilityArgs
from .plan import mesh_tracing, namespaces_created_before_observability, required_secret_config
from .platform import platform_facts, published_data
from .spec import CONFIG_KEY, ConfigError, MeshSpec, Problem, parse_mesh
from .traffic import Traffic, TrafficArgs


@dataclass(kw_only=True)
class MeshArgs:
    """Inputs of :class:`Mesh`."""

    #: The mesh configuration: a :class:`MeshSpec` (``mesh_rollout.spec.parse_mesh`` builds one from stack config) or
    #: the same plain data a stack file holds (camelCase keys), validated here.
    spec: MeshSpec | Mapping[str, Any]
    #: Secret config values by key (e.g. ``grafanaAdminPassword``); they stay secret outputs.
    secrets: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    #: The cluster runs no pods (``ClusterSpec.nodeless``, e.g. scripts/cluster.sh): nothing waits for workloads to
    #: become ready and Istio's validation webhooks fail open. Never on a cluster that runs pods.
    nodeless: bool = False
    #: Leave out Secrets built from secret config, with a warning for each (render mode without
    #: ``cluster.renderSecrets``: rendered files would hold them in base64).
    omit_secrets: bool = False
    #: Where the program keeps this configuration: the first segment of every problem's and warning's path
    #: (``mesh``, as in a stack file). A program that nests the mesh in its own config, e.g. under
    #: ``platform.mesh``, says so, and errors point there.
    config_root: str = CONFIG_KEY


def _rooted(finding: Finding, root: str) -> Finding:
    """``finding`` with its path starting at ``root`` instead of ``mesh``."""
    if root == CONFIG_KEY or not (finding.path == CONFIG_KEY or finding.path.startswith(CONFIG_KEY + ".")):
        return finding
    return dataclasses.replace(finding, path=root + finding.path[len(CONFIG_KEY):])


def preflight(spec: MeshSpec, secrets: Mapping[str, object], omit_secrets: bool = False,
              config_root: str = CONFIG_KEY) -> list[Finding]:
    """Everything that must hold before any resource is registered: no check errors, every secret config key the
    plan needs is set (unless Secrets are left out, ``omit_secrets``). Raises :class:`ConfigError` listing all
    problems; returns the warnings. Paths start at ``config_root`` (see :attr:`MeshArgs.config_root`)."""
    findings = [_rooted(finding, config_root) for finding in run_checks(spec)]
    problems = [finding.as_problem() for finding in errors(findings)]
    for key, needed_by in sorted(required_secret_config(spec).items() if not omit_secrets else []):
        if key not in secrets:
            problems.append(Problem(
                key, f"secret config is required by {needed_by}: pulumi config set --secret {key} <value>"
                + (" (or give the add-on an existing url)" if needed_by.startswith("Secret") else "")))
    if problems:
        raise ConfigError(problems)
    return warnings(findings)


class Mesh(pulumi.ComponentResource):
    """Control plane, then namespaces, then mTLS, traffic, egress and access policies, then observability.

    Cross-resource checks run first: any error raises :class:`mesh_rollout.spec.ConfigError` before a single resource
    (this component included) is registered; warnings are logged.
    """

    root_namespace: pulumi.Output[str]
    """Istio's root namespace (the control plane's), where mesh-wide policies live. The policy pack reads it."""
    production: pulumi.Output[bool]
    """Whether the stack is production (stricter checks; the policy pack's production rules apply)."""
    environment: pulumi.Output[str]
    """The environment's name (``environment``)."""
    revision: pulumi.Output[str]
    """The control plane's default revision."""
    namespaces: pulumi.Output[list[str]]
    """The namespaces enrolled in the mesh (``namespaces``), sorted by name."""
    hosts: pulumi.Output[dict[str, str]]
    """The host of every routed service, by service name (:attr:`Traffic.hosts`)."""
    urls: pulumi.Output[dict[str, str | None]]
    """Where the add-ons answer (:attr:`Observability.urls`); empty without ``observability``."""
    platform_facts: pulumi.Output[dict[str, Any]]
    """What this stack publishes for app teams' stacks that add routing and access to its mesh
    (:class:`mesh_rollout.platform.PlatformFacts` as plain JSON, versioned): export it as ``platformFacts`` and
    pass ``StackReference(...).get_output("platformFacts")`` to their ``Traffic`` and ``Access`` (``platform=``)."""

    certificate_authority: CertificateAuthority | None
    """The mesh CA istiod's ``cacerts`` Secret is made from (the first child); ``None`` unless
    ``certificateAuthority.mode`` is generated or supplied."""
    control_plane: ControlPlane
    """Istio's charts (and the ``cacerts`` Secret, before them)."""
    injection: Injection
    """Namespace enrollment."""
    mutual_tls: MutualTls
    """PeerAuthentications."""
    traffic: Traffic
    """Gateways, DestinationRules and VirtualServices."""
    access: Access
    """AuthorizationPolicies and RequestAuthentications."""
    egress: Egress
    """ServiceEntries, TLS origination DestinationRules, egress gateway routing."""
    observability: Observability | None
    """The add-ons and Telemetry; ``None`` when ``observability`` is null."""

    def __init__(self, name: str, args: MeshArgs, opts: pulumi.ResourceOptions | None = None):
        spec = args.spec if isinstance(args.spec, MeshSpec) else parse_mesh(args.spec, args.config_root)
        found_warnings = preflight(spec, args.secrets, args.omit_secrets, args.config_root)
        super().__init__("mesh-rollout:index:Mesh", name, None, opts)
        for finding in found_warnings:
            pulumi.log.warn(str(finding), resource=self)

        cp = spec.control_plane
        owned_namespaces = frozenset(spec.namespaces)

        def child(*after: pulumi.Resource) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(parent=self, depends_on=list(after))

        ca = spec.certificate_authority
        self.certificate_authority = None
        ca_values: Mapping[str, pulumi.Input[str]] = {}
        if ca.creates_secret:
            self.certificate_authority = CertificateAuthority(
                f"{name}-ca",
                CertificateAuthorityArgs(spec=ca, namespace=cp.namespace,
                                         cluster_name=cp.cluster_name or DEFAULT_CLUSTER_NAME,
                                         trust_domain=spec.trust_domain, secrets=args.secrets),
                child(),
            )
            ca_values = self.certificate_authority.secret_values
        self.control_plane = ControlPlane(
            f"{name}-control-plane",
            ControlPlaneArgs(spec=cp, trust_domain=spec.trust_domain, tracing=mesh_tracing(spec),
                             managed_namespaces=owned_namespaces, nodeless=args.nodeless,
                             certificate_authority=ca, ca_values=ca_values, omit_secrets=args.omit_secrets,
                             checked=True),
            child(*([self.certificate_authority] if self.certificate_authority else [])),
        )
        # Namespace labels name a revision whose injector webhook must exist first.
        self.injection = Injection(
            f"{name}-injection", InjectionArgs(namespaces=spec.namespaces, default_revision=cp.injection_revision,
                                               checked=True),
            child(self.control_plane),
        )
        # Istio custom resources need the CRDs (base chart) and istiod's validation webhook, and their namespaces.
        istio_ready = (self.control_plane, self.injection)
        self.mutual_tls = MutualTls(
            f"{name}-mtls", MutualTlsArgs(mtls=spec.mtls, services=spec.services, root_namespace=spec.root_namespace,
                                        checked=True),
            child(*istio_ready)
        )
        self.traffic = Traffic(
            f"{name}-traffic",
            TrafficArgs(services=spec.services, gateways=cp.gateways, cluster_domain=spec.cluster_domain,
                        checked=True),
            child(*istio_ready),
        )
        self.access = Access(
            f"{name}-access",
            AccessArgs(services=spec.services, namespaces=spec.namespaces, trust_domain=spec.trust_domain,
                       gateways=cp.gateways, end_user_auth=spec.end_user_auth, root_namespace=spec.root_namespace,
                       checked=True),
            child(*istio_ready),
        )
        self.egress = Egress(
            f"{name}-egress",
            EgressArgs(egress=spec.egress, services=spec.services, gateways=cp.gateways,
                       root_namespace=spec.root_namespace, cluster_domain=spec.cluster_domain, checked=True),
            child(*istio_ready),
        )
        self.observability = None
        if spec.observability is not None:
            self.observability = Observability(
                f"{name}-observability",
                ObservabilityArgs(
                    spec=spec.observability, root_namespace=spec.root_namespace,
                    cluster_domain=spec.cluster_domain, secrets=args.secrets,
                    existing_namespaces=namespaces_created_before_observability(spec),
                    nodeless=args.nodeless, omit_secrets=args.omit_secrets,
                    require_pinned_images=spec.production and not spec.allow_mutable_tags,
                ),
                child(*istio_ready),
            )
        self.root_namespace = pulumi.Output.from_input(spec.root_namespace)
        self.production = pulumi.Output.from_input(spec.production)
        self.environment = pulumi.Output.from_input(spec.environment)
        self.revision = self.control_plane.revision
        self.namespaces = pulumi.Output.from_input(sorted(spec.namespaces))
        self.hosts = self.traffic.hosts
        no_urls: dict[str, str | None] = {}
        self.urls = self.observability.urls if self.observability else pulumi.Output.from_input(no_urls)
        self.platform_facts = pulumi.Output.from_input(published_data(platform_facts(spec)))
        self.register_outputs({
            # The policy pack reads these three (policy/rules.py mesh_context): its rules follow the stack's root
            # namespace and environment.
            "rootNamespace": self.root_namespace,
            "production": self.production,
            "environment": self.environment,
            "revision": self.revision,
            "namespaces": self.namespaces,
            "hosts": self.hosts,
            "urls": self.urls,
            "platformFacts": self.platform_facts,
        })
