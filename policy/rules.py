"""The policy pack's rules as plain functions over objects (testable without the policy runtime).

The rules that depend on the mesh read a :class:`MeshContext`: the root namespace (where a PeerAuthentication
without selector applies to the whole mesh) and whether the stack is production. It comes from the policy pack's
config when given, else from the ``Mesh`` / ``MutualTls`` components the program registered (their outputs carry
``rootNamespace`` and ``production``; a stack policy sees a component's registered outputs), else Istio's
defaults.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

ISTIO_GROUPS = ("networking.istio.io", "security.istio.io", "telemetry.istio.io")
DEFAULT_ROOT_NAMESPACE = "istio-system"
#: Component types whose props say what the mesh's root namespace is and whether the stack is production.
CONTEXT_COMPONENTS = ("mesh-rollout:index:Mesh", "mesh-rollout:index:MutualTls")


@dataclass(frozen=True)
class MeshContext:
    root_namespace: str = DEFAULT_ROOT_NAMESPACE
    production: bool = False


def mesh_context(components: Iterable[tuple[str, Mapping[str, Any]]], config: Mapping[str, Any]) -> MeshContext:
    """The context from ``(type, outputs)`` of the stack's resources, overridden by the pack's config."""
    found: dict[str, Any] = {}
    for resource_type, props in components:
        if resource_type in CONTEXT_COMPONENTS:
            # Mesh is registered before MutualTls and knows more (production); the first value wins.
            for key in ("rootNamespace", "production"):
                if key in props and key not in found:
                    found[key] = props[key]
    found.update({key: config[key] for key in ("rootNamespace", "production") if config.get(key) is not None})
    return MeshContext(root_namespace=str(found.get("rootNamespace") or DEFAULT_ROOT_NAMESPACE),
                       production=bool(found.get("production", False)))


def _spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("spec") or {}


def _name(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}".lstrip("/")


def legacy_api_version(obj: Mapping[str, Any]) -> bool:
    """An Istio object on a v1alpha/v1beta API where v1 exists."""
    return obj.get("apiVersion", "").split("/")[-1] != "v1"


def mesh_wide_mtls_disabled(obj: Mapping[str, Any], context: MeshContext = MeshContext()) -> bool:
    """A mesh-wide PeerAuthentication (root namespace, no selector) with mode DISABLE."""
    if obj.get("kind") != "PeerAuthentication":
        return False
    spec = _spec(obj)
    namespace = (obj.get("metadata") or {}).get("namespace")
    return namespace == context.root_namespace and not spec.get("selector") and \
        (spec.get("mtls") or {}).get("mode") == "DISABLE"


def weak_mtls(obj: Mapping[str, Any], context: MeshContext) -> list[str]:
    """Production: every mode a PeerAuthentication sets that is not STRICT (UNSET inherits and is fine), and a
    mesh-wide policy that is not explicitly STRICT."""
    if obj.get("kind") != "PeerAuthentication":
        return []
    spec = _spec(obj)
    problems = []
    mode = (spec.get("mtls") or {}).get("mode", "UNSET")
    mesh_wide = (obj.get("metadata") or {}).get("namespace") == context.root_namespace and not spec.get("selector")
    if mode not in ("STRICT", "UNSET") or (mesh_wide and mode != "STRICT"):
        problems.append(f"PeerAuthentication {_name(obj)} sets mode {mode}")
    for port, setting in sorted((spec.get("portLevelMtls") or {}).items()):
        port_mode = (setting or {}).get("mode", "UNSET")
        if port_mode not in ("STRICT", "UNSET"):
            problems.append(f"PeerAuthentication {_name(obj)} sets mode {port_mode} on port {port}")
    return problems


def wildcard_principals(obj: Mapping[str, Any]) -> list[str]:
    """Wildcards in the callers an ALLOW AuthorizationPolicy admits (principals, namespaces): ``*`` admits any
    authenticated workload, ``cluster.local/ns/shop/*`` any in a namespace."""
    if obj.get("kind") != "AuthorizationPolicy" or _spec(obj).get("action", "ALLOW") != "ALLOW":
        return []
    found = []
    for rule in _spec(obj).get("rules") or []:
        for source in rule.get("from") or []:
            sources = source.get("source") or {}
            for field in ("principals", "namespaces", "requestPrincipals"):
                found += [f"{field}: {value}" for value in sources.get(field) or [] if "*" in str(value)]
    return found


def fault_injection(obj: Mapping[str, Any]) -> bool:
    """A VirtualService route that injects delays or aborts."""
    if obj.get("kind") != "VirtualService":
        return False
    return any(route.get("fault") for route in _spec(obj).get("http") or [])


def wildcard_allow(obj: Mapping[str, Any]) -> bool:
    """An ALLOW AuthorizationPolicy with an empty rule, which matches every request."""
    if obj.get("kind") != "AuthorizationPolicy":
        return False
    spec = _spec(obj)
    return spec.get("action", "ALLOW") == "ALLOW" and any(rule == {} for rule in spec.get("rules") or [])
