"""Plan of zero-trust access: per-service AuthorizationPolicies from allow-lists (workload callers and end users),
per-namespace default deny, and end-user authentication (RequestAuthentication, token requirement)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..spec import (
    DataplaneMode,
    EndUser,
    EndUserAuthSpec,
    GatewayKind,
    GatewaySpec,
    JwtIssuer,
    JwtPolicy,
    NamespaceSpec,
    ServiceSpec,
)
from .model import ConcernPlan, KubeObject
from .naming import GATEWAY_API, ISTIO_SECURITY, gateway_selector_label, metadata, principal, workload_labels

DEFAULT_DENY_NAME = "default-deny"
#: Names of a namespace-wide RequestAuthentication and token requirement (a service's end in -jwt, -require-jwt).
NAMESPACE_JWT_NAME = "jwt"
NAMESPACE_REQUIRE_JWT_NAME = "jwt-required"
#: Name of the waypoint Gateway of an ambient namespace (plan/injection.py creates it).
_WAYPOINT = "waypoint"


def authorization_policy(name: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    """An AuthorizationPolicy object."""
    return {"apiVersion": ISTIO_SECURITY, "kind": "AuthorizationPolicy", "metadata": metadata(name, namespace),
            "spec": spec}


def request_principals(issuer: JwtIssuer, user: EndUser) -> list[str]:
    """``<iss>/<sub>`` for each allowed subject, or ``<iss>/*`` (any subject of the issuer)."""
    return [f"{issuer.issuer}/{subject}" for subject in user.subjects] or [f"{issuer.issuer}/*"]


def user_rule(issuer: JwtIssuer, user: EndUser) -> dict[str, Any]:
    """The ALLOW rule of one ``allowUsers`` entry: request principals, then operation and claim conditions."""
    rule: dict[str, Any] = {"from": [{"source": {"requestPrincipals": request_principals(issuer, user)}}]}
    operation: dict[str, Any] = {}
    if user.methods:
        operation["methods"] = list(user.methods)
    if user.paths:
        operation["paths"] = list(user.paths)
    if operation:
        rule["to"] = [{"operation": operation}]
    if user.claims:
        rule["when"] = [{"key": claim.key, "values": list(claim.values)} for claim in user.claims]
    return rule


def _rules(name: str, service: ServiceSpec, trust_domain: str,
           gateways: dict[str, GatewaySpec], issuers: Mapping[str, JwtIssuer]) -> list[dict[str, Any]]:
    callers = list(service.access.allow_from or [])
    l4 = [principal(trust_domain, c.namespace, c.service_account) for c in callers if not c.is_l7]
    users = service.access.allow_users
    if service.expose is not None and service.expose.gateway in gateways and users is None:
        # The gateway chart runs as a service account named after the release: let published traffic in. Not with
        # allowUsers: the gateway forwards every outside request, so letting it in would skip the token.
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
    for user in users or []:
        if user.issuer in issuers:  # an unknown issuer is a check error (MR261): no rule to build
            rules.append(user_rule(issuers[user.issuer], user))
    return rules


def _uses_waypoint(namespace: NamespaceSpec | None) -> bool:
    return namespace is not None and namespace.mode is DataplaneMode.AMBIENT and namespace.waypoint


def _workload_target(name: str, service: ServiceSpec, namespace: NamespaceSpec | None) -> dict[str, Any]:
    if _uses_waypoint(namespace):
        # In ambient mode L7 policy is enforced by the waypoint, which is addressed by targetRefs, not selector.
        return {"targetRefs": [{"kind": "Service", "group": "", "name": name}]}
    return {"selector": {"matchLabels": workload_labels(name, service)}}


def allow_policy(
    name: str, service: ServiceSpec, trust_domain: str, namespace: NamespaceSpec | None,
    gateways: dict[str, GatewaySpec], issuers: Mapping[str, JwtIssuer] | None = None,
) -> dict[str, Any]:
    """ALLOW policy for one service. With no rules it matches nothing, so every caller is denied."""
    spec: dict[str, Any] = {"action": "ALLOW", **_workload_target(name, service, namespace)}
    rules = _rules(name, service, trust_domain, gateways, issuers or {})
    if rules:
        spec["rules"] = rules
    return authorization_policy(f"{name}-allow", service.namespace, spec)


def jwt_rule(issuer: JwtIssuer) -> dict[str, Any]:
    """One ``jwtRules`` entry of a RequestAuthentication."""
    rule: dict[str, Any] = {"issuer": issuer.issuer}
    if issuer.jwks_uri is not None:
        rule["jwksUri"] = issuer.jwks_uri
    if issuer.jwks is not None:
        rule["jwks"] = issuer.jwks
    if issuer.audiences:
        rule["audiences"] = list(issuer.audiences)
    if issuer.from_headers:
        rule["fromHeaders"] = [{"name": h.name, **({"prefix": h.prefix} if h.prefix is not None else {})}
                               for h in issuer.from_headers]
    if issuer.from_params:
        rule["fromParams"] = list(issuer.from_params)
    if issuer.forward_original_token:
        rule["forwardOriginalToken"] = True
    if issuer.output_claim_to_headers:
        rule["outputClaimToHeaders"] = [{"header": c.header, "claim": c.claim} for c in issuer.output_claim_to_headers]
    return rule


def request_authentication(name: str, namespace: str, target: dict[str, Any], policy: JwtPolicy,
                           issuers: Mapping[str, JwtIssuer]) -> dict[str, Any]:
    """A RequestAuthentication validating the tokens of ``policy``'s issuers (unknown names are check errors)."""
    rules = [jwt_rule(issuers[issuer]) for issuer in policy.issuers if issuer in issuers]
    return {"apiVersion": ISTIO_SECURITY, "kind": "RequestAuthentication", "metadata": metadata(name, namespace),
            "spec": {**target, "jwtRules": rules}}


def require_token_policy(name: str, namespace: str, target: dict[str, Any], policy: JwtPolicy) -> dict[str, Any]:
    """DENY every request without a valid token (no request principal), except on ``exceptPaths``."""
    rule: dict[str, Any] = {"from": [{"source": {"notRequestPrincipals": ["*"]}}]}
    if policy.except_paths:
        rule["to"] = [{"operation": {"notPaths": list(policy.except_paths)}}]
    return authorization_policy(name, namespace, {**target, "action": "DENY", "rules": [rule]})


def _jwt_targets(
    auth: EndUserAuthSpec, services: Mapping[str, ServiceSpec], namespaces: Mapping[str, NamespaceSpec],
    gateways: Mapping[str, GatewaySpec],
) -> list[tuple[str, str, str, dict[str, Any], JwtPolicy]]:
    """``(RequestAuthentication name, DENY name, namespace, target, policy)`` for every place tokens are
    validated: namespaces (no selector: every workload), services, ingress gateways."""
    targets = []
    for namespace, policy in sorted(auth.namespaces.items()):
        detail = namespaces.get(namespace)
        target: dict[str, Any] = {}
        if _uses_waypoint(detail):
            target = {"targetRefs": [{"kind": "Gateway", "group": GATEWAY_API.split("/")[0], "name": _WAYPOINT}]}
        targets.append((NAMESPACE_JWT_NAME, NAMESPACE_REQUIRE_JWT_NAME, namespace, target, policy))
    for name, policy in sorted(auth.workloads.items()):
        service = services.get(name)
        if service is None:
            continue  # MR263
        targets.append((f"{name}-jwt", f"{name}-require-jwt", service.namespace,
                        _workload_target(name, service, namespaces.get(service.namespace)), policy))
    for name, policy in sorted(auth.gateways.items()):
        gateway = gateways.get(name)
        if gateway is None or gateway.kind is not GatewayKind.INGRESS:
            continue  # MR263
        targets.append((f"{name}-jwt", f"{name}-require-jwt", gateway.namespace,
                        {"selector": {"matchLabels": {"istio": gateway_selector_label(name)}}}, policy))
    return targets


def plan_access(
    services: dict[str, ServiceSpec], namespaces: dict[str, NamespaceSpec], trust_domain: str = "cluster.local",
    gateways: dict[str, GatewaySpec] | None = None, end_user_auth: EndUserAuthSpec | None = None,
    root_namespace: str | None = None,
) -> ConcernPlan:
    """RequestAuthentications first, then allow policies and token requirements, then default-deny: denying before
    allowing would cut live traffic during rollout, and a rule on request principals before the tokens are validated
    would deny every user."""
    gateways = gateways or {}
    auth = end_user_auth or EndUserAuthSpec()
    plan = ConcernPlan()
    authentications: list[KubeObject] = []
    requirements: list[KubeObject] = []
    for name, deny_name, namespace, target, policy in _jwt_targets(auth, services, namespaces, gateways):
        authentication = KubeObject(request_authentication(name, namespace, target, policy, auth.issuers))
        authentications.append(authentication)
        if policy.require_token:
            requirements.append(KubeObject(require_token_policy(deny_name, namespace, target, policy),
                                           depends_on=(authentication.key,)))
    plan.objects += authentications
    allows = []
    for name, service in sorted(services.items()):
        if not service.access.restricted:
            continue
        # Tokens validated anywhere in the service's namespace (or mesh-wide) must be validated before a rule on
        # their principals applies.
        before = tuple(a.key for a in authentications
                       if a.manifest["metadata"]["namespace"] in (service.namespace, root_namespace))
        allow = KubeObject(allow_policy(name, service, trust_domain, namespaces.get(service.namespace), gateways,
                                        auth.issuers),
                           depends_on=before if service.access.allow_users else ())
        allows.append(allow)
        plan.objects.append(allow)
    plan.objects += requirements
    for namespace, spec in sorted(namespaces.items()):
        if spec.default_deny:
            before = tuple(p.key for p in allows if p.manifest["metadata"]["namespace"] == namespace)
            # `spec: {}` selects every workload in the namespace and allows nothing.
            plan.objects.append(KubeObject(authorization_policy(DEFAULT_DENY_NAME, namespace, {}), depends_on=before))
    return plan
