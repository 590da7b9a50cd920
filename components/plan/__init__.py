"""What will this stack create? A pure function from the typed spec to plain objects and Helm releases."""

from __future__ import annotations

from ..spec import MeshSpec
from .access import plan_access
from .control_plane import TracingProvider, plan_control_plane
from .egress import plan_egress
from .identity import CACERTS_KEYS, CACERTS_SECRET, required_ca_config, with_cacerts
from .injection import INJECTION_LABELS, enrollment_labels, plan_injection
from .model import (
    CONCERNS,
    ConcernPlan,
    HelmRelease,
    KubeObject,
    ManifestFile,
    MeshPlan,
    PlannedSecret,
    deep_merge,
    object_key,
)
from .mtls import plan_mtls
from .observability import GRAFANA_PASSWORD_CONFIG, UPSTREAM, endpoints, plan_observability
from .traffic import plan_traffic


def mesh_tracing(spec: MeshSpec) -> TracingProvider | None:
    """The tracing provider istiod's meshConfig gets: the Jaeger collector, when observability has one."""
    return endpoints(spec.observability, spec.cluster_domain).tracing if spec.observability else None


def namespaces_created_before_observability(spec: MeshSpec) -> frozenset[str]:
    """Namespaces the injection and control plane concerns create, which observability must not create again."""
    created = set(spec.namespaces)
    control_plane = spec.control_plane
    if control_plane.install:
        created |= {control_plane.namespace, *(g.namespace for g in control_plane.gateways.values())}
    return frozenset(created)


def required_secret_config(spec: MeshSpec) -> dict[str, str]:
    """Pulumi secret config keys the plan reads, each with the Secret that needs it."""
    secrets = plan_observability(spec.observability, spec.root_namespace, spec.cluster_domain).secrets
    needed = {key: f"Secret {s.namespace}/{s.name}" for s in secrets for key in s.from_config.values()}
    for key, data_key in required_ca_config(spec.certificate_authority).items():
        needed[key] = f"mesh.certificateAuthority (mode supplied: {data_key} of Secret {spec.root_namespace}/cacerts)"
    return needed


def plan(spec: MeshSpec, nodeless: bool = False) -> MeshPlan:
    """Every object and release ``spec`` creates, grouped by concern, each concern in dependency order.

    ``nodeless``: the target cluster runs no pods (``mesh-rollout:cluster`` ``nodeless: true``).
    The ``Mesh`` component registers exactly this, concern by concern (tests hold it to that).
    """
    control_plane = spec.control_plane
    return MeshPlan(
        control_plane=with_cacerts(plan_control_plane(control_plane, spec.trust_domain, mesh_tracing(spec),
                                                      frozenset(spec.namespaces), nodeless),
                                   spec.certificate_authority, control_plane.namespace),
        injection=plan_injection(spec.namespaces, control_plane.injection_revision),
        mtls=plan_mtls(spec.mtls, spec.services, spec.root_namespace),
        traffic=plan_traffic(spec.services, control_plane.gateways, spec.cluster_domain),
        egress=plan_egress(spec.egress, control_plane.gateways, spec.root_namespace, spec.cluster_domain),
        access=plan_access(spec.services, spec.namespaces, spec.trust_domain, control_plane.gateways,
                           spec.end_user_auth, spec.root_namespace),
        observability=plan_observability(
            spec.observability, spec.root_namespace, spec.cluster_domain,
            namespaces_created_before_observability(spec), nodeless,
            require_pinned=spec.production and not spec.allow_mutable_tags,
        ),
    )


__all__ = (
    "CACERTS_KEYS",
    "CACERTS_SECRET",
    "CONCERNS",
    "GRAFANA_PASSWORD_CONFIG",
    "INJECTION_LABELS",
    "UPSTREAM",
    "ConcernPlan",
    "HelmRelease",
    "KubeObject",
    "ManifestFile",
    "MeshPlan",
    "PlannedSecret",
    "TracingProvider",
    "deep_merge",
    "endpoints",
    "enrollment_labels",
    "mesh_tracing",
    "namespaces_created_before_observability",
    "object_key",
    "plan",
    "plan_access",
    "plan_control_plane",
    "plan_egress",
    "plan_injection",
    "plan_mtls",
    "plan_observability",
    "plan_traffic",
    "required_secret_config",
    "with_cacerts",
)
