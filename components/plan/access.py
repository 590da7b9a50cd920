"""Plan of zero-trust access: per-service AuthorizationPolicies from allow-lists, per-namespace default deny."""

from __future__ import annotations

from typing import Any

from ..spec import DataplaneMode, GatewaySpec, NamespaceSpec, ServiceSpec
from .model import ConcernPlan, KubeObject
from .naming import ISTIO_SECURITY, metadata, principal, workload_labels

DEFAULT_DENY_NAME = "default-deny"


def authorization_policy(name: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    """An AuthorizationPolicy object."""
    return {"apiVersion": ISTIO_SECURITY, "kind": "AuthorizationPolicy", "metadata": metadata(name, namespace),
            "spec": spec}


def _rules(name: str, service: ServiceSpec, trust_domain: str,
           gateways: dict[str, GatewaySpec]) -> list[dict[str, Any]]:
    callers = list(service.access.allow_from or [])
    l4 = [principal(trust_domain, c.namespace, c.service_account) for c in callers if not c.is_l7]
    if service.expose is not None and service.expose.gateway in gateways:
        # The gateway chart runs as a service account named after the release: let published traffic in.
        gateway = gateways[service.expose.gateway]
        l4.append(principal(trust_domain, gateway.namespace, service.expose.gateway))
    rules: list[dict[str, Any]] = []
    if l4:
        rules.append({"from": [{"source": {"principals": sorted(set(l4))}}]})
    for caller in callers:
        if caller.is_l7:
            operation: dict[str, Any] = {}
            if caller.methods:
                operation["methods"] = list(caller.methods)
            if caller.paths:
                operation["paths"] = list(caller.paths)
            rules.append(
                {
                    "from": [{"source": {"principals": [principal(trust_domain, caller.namespace,
                                                                  caller.service_account)]}}],
                    "to": [{"operation": operation}],
                }
            )
    return rules


def allow_policy(
    name: str, service: ServiceSpec, trust_domain: str, namespace: NamespaceSpec | None,
    gateways: dict[str, GatewaySpec],
) -> dict[str, Any]:
    """ALLOW policy for one service. With no rules it matches nothing, so every caller is denied."""
    spec: dict[str, Any] = {"action": "ALLOW"}
    if namespace is not None and namespace.mode is DataplaneMode.AMBIENT and namespace.waypoint:
        # In ambient mode L7 policy is enforced by the waypoint, which is addressed by targetRefs, not selector.
        spec["targetRefs"] = [{"kind": "Service", "group": "", "name": name}]
    else:
        spec["selector"] = {"matchLabels": workload_labels(name, service)}
    rules = _rules(name, service, trust_domain, gateways)
    if rules:
        spec["rules"] = rules
    return authorization_policy(f"{name}-allow", service.namespace, spec)


def plan_access(
    services: dict[str, ServiceSpec], namespaces: dict[str, NamespaceSpec], trust_domain: str = "cluster.local",
    gateways: dict[str, GatewaySpec] | None = None,
) -> ConcernPlan:
    """Allow policies first, then default-deny: denying before allowing would cut live traffic during rollout."""
    gateways = gateways or {}
    plan = ConcernPlan()
    allows = []
    for name, service in sorted(services.items()):
        if service.access.allow_from is None:
            continue
        policy = KubeObject(allow_policy(name, service, trust_domain, namespaces.get(service.namespace), gateways))
        allows.append(policy)
        plan.objects.append(policy)
    for namespace, spec in sorted(namespaces.items()):
        if spec.default_deny:
            before = tuple(p.key for p in allows if p.manifest["metadata"]["namespace"] == namespace)
            # `spec: {}` selects every workload in the namespace and allows nothing.
            plan.objects.append(KubeObject(authorization_policy(DEFAULT_DENY_NAME, namespace, {}), depends_on=before))
    return plan
