"""What will this stack create? A pure function from the typed spec to plain objects and Helm releases."""

from __future__ import annotations

from ..spec import MeshSpec
from .access import plan_access
from .control_plane import TracingProvider, plan_control_plane
from .injection import INJECTION_LABELS, enrollment_labels, plan_injection
from .model import CONCERNS, ConcernPlan, HelmRelease, KubeObject, MeshPlan, PlannedSecret, deep_merge, object_key
from .mtls import plan_mtls
from .observability import GRAFANA_PASSWORD_CONFIG, UPSTREAM, endpoints, plan_observability
from .traffic import plan_traffic


def plan(spec: MeshSpec) -> MeshPlan:
    """Every object and release ``spec`` creates, grouped by concern, each concern in dependency order."""
    control_plane = spec.control_plane
    tracing = endpoints(spec.observability, spec.cluster_domain).tracing if spec.observability else None
    managed = frozenset(spec.namespaces)
    cp_namespaces = frozenset({control_plane.namespace, *(g.namespace for g in control_plane.gateways.values())})
    return MeshPlan(
        control_plane=plan_control_plane(control_plane, spec.trust_domain, tracing, managed),
        injection=plan_injection(spec.namespaces, control_plane.injection_revision),
        mtls=plan_mtls(spec.mtls, spec.services, spec.root_namespace),
        traffic=plan_traffic(spec.services, control_plane.gateways, spec.cluster_domain),
        access=plan_access(spec.services, spec.namespaces, spec.trust_domain, control_plane.gateways),
        observability=plan_observability(
            spec.observability, spec.root_namespace, spec.cluster_domain,
            managed | (cp_namespaces if control_plane.install else frozenset()),
        ),
    )


__all__ = [
    "CONCERNS", "ConcernPlan", "HelmRelease", "KubeObject", "MeshPlan", "PlannedSecret", "TracingProvider",
    "GRAFANA_PASSWORD_CONFIG", "INJECTION_LABELS", "UPSTREAM", "deep_merge", "endpoints", "enrollment_labels",
    "object_key", "plan", "plan_access", "plan_control_plane", "plan_injection", "plan_mtls", "plan_observability",
    "plan_traffic",
]
