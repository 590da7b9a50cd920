"""ControlPlane: Istio's Helm charts, base → istiod → (cni → ztunnel) → gateways."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi

from ._registration import ConcernComponent
from ._validation import check_component, coerce, log_warnings, partial_mesh
from .checks.scopes import CONTROL_PLANE
from .plan import TracingProvider, plan_control_plane
from .plan.identity import CACERTS_SECRET, create_secret_command, with_cacerts
from .spec import CertificateAuthoritySpec, ControlPlaneSpec


@dataclass(kw_only=True)
class ControlPlaneArgs:
    """Inputs of :class:`ControlPlane`. Plain dicts (as in a stack file, camelCase keys) or models."""

    #: Version, revision, chart source, HA, meshConfig and gateways. ``install: false`` registers nothing.
    spec: ControlPlaneSpec | Mapping[str, Any]
    #: Trust domain written into meshConfig (must match the principals AuthorizationPolicies use).
    trust_domain: str = "cluster.local"
    #: Tracing extension provider for meshConfig (the Jaeger collector), if any.
    tracing: TracingProvider | None = None
    #: Namespaces owned elsewhere (e.g. by :class:`Injection`), so they are not created twice.
    managed_namespaces: frozenset[str] = field(default_factory=frozenset)
    #: The cluster runs no pods (``ClusterSpec.nodeless``): charts skip readiness waits, webhooks fail open.
    nodeless: bool = False
    #: ``mesh.certificateAuthority``: with mode generated or supplied, the ``cacerts`` Secret is created in the
    #: control plane's namespace before any chart (istiod reads it at startup only).
    certificate_authority: CertificateAuthoritySpec | Mapping[str, Any] | None = None
    #: The Secret's values: :attr:`CertificateAuthority.secret_values` (caCert, caKey, rootCert, certChain).
    ca_values: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    #: Leave the ``cacerts`` Secret out, with a warning naming the command that creates it (render mode without
    #: ``renderSecrets``: a rendered file would hold the CA key in base64).
    omit_secrets: bool = False
    #: The inputs were validated and every check ran on the whole mesh already (``Mesh`` sets it).
    checked: bool = False


class ControlPlane(ConcernComponent):
    """Installs Istio from its official charts in order, each chart waiting for the one before it."""

    revision: pulumi.Output[str]
    """The default revision: the one the cluster-wide validation webhook and ``defaultRevision`` name."""
    revisions: pulumi.Output[list[str]]
    """Every installed revision, oldest version first."""
    revision_tags: pulumi.Output[dict[str, str]]
    """What each revision tag points at (tag -> revision)."""
    namespace: pulumi.Output[str]
    """The control plane's namespace."""
    releases: pulumi.Output[list[str]]
    """The Helm releases installed, in installation order (none with ``install: false``)."""

    def __init__(self, name: str, args: ControlPlaneArgs, opts: pulumi.ResourceOptions | None = None):
        spec = coerce(ControlPlaneSpec, args.spec, "spec")
        found = [] if args.checked else check_component(
            partial_mesh({"controlPlane": spec}), CONTROL_PLANE, {"mesh.controlPlane": "spec"})
        super().__init__("mesh-rollout:index:ControlPlane", name, opts)
        log_warnings(found, self)
        ca = (coerce(CertificateAuthoritySpec, args.certificate_authority, "certificate_authority")
              if args.certificate_authority is not None else CertificateAuthoritySpec())
        self.plan = with_cacerts(plan_control_plane(spec, args.trust_domain, args.tracing, args.managed_namespaces,
                                                    args.nodeless), ca, spec.namespace)
        if args.omit_secrets and self.plan.secrets:
            pulumi.log.warn(
                f"Secret {spec.namespace}/{CACERTS_SECRET} (the mesh CA, key included) is not rendered (renderDir "
                f"would hold it in base64): create it before installing the rendered charts, with "
                f"`{create_secret_command(spec.namespace)}` in the directory holding the four files, or set "
                "cluster.renderSecrets: true", resource=self)
            self.plan.secrets = []
        self._register(self.plan, args.ca_values)
        self.revision = pulumi.Output.from_input(spec.revision_name)
        self.revisions = pulumi.Output.from_input(list(spec.installed_revisions))
        self.revision_tags = pulumi.Output.from_input(dict(spec.tag_targets))
        self.namespace = pulumi.Output.from_input(spec.namespace)
        self.releases = pulumi.Output.from_input([release.key for release in self.plan.releases])
        self.register_outputs({
            "revision": self.revision,
            "revisions": self.revisions,
            "revisionTags": self.revision_tags,
            "namespace": self.namespace,
            "releases": self.releases,
        })
