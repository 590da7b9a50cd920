"""The policy pack's rules as plain functions over an object (testable without the policy runtime)."""

from __future__ import annotations

ISTIO_GROUPS = ("networking.istio.io", "security.istio.io", "telemetry.istio.io")
ROOT_NAMESPACE = "istio-system"


def legacy_api_version(obj: dict) -> bool:
    """An Istio object on a v1alpha/v1beta API where v1 exists."""
    return obj.get("apiVersion", "").split("/")[-1] != "v1"


def mesh_wide_mtls_disabled(obj: dict) -> bool:
    """A mesh-wide PeerAuthentication (root namespace, no selector) with mode DISABLE."""
    if obj.get("kind") != "PeerAuthentication":
        return False
    spec = obj.get("spec") or {}
    namespace = (obj.get("metadata") or {}).get("namespace")
    return namespace == ROOT_NAMESPACE and not spec.get("selector") and \
        (spec.get("mtls") or {}).get("mode") == "DISABLE"


def wildcard_allow(obj: dict) -> bool:
    """An ALLOW AuthorizationPolicy with an empty rule, which matches every request."""
    if obj.get("kind") != "AuthorizationPolicy":
        return False
    spec = obj.get("spec") or {}
    return spec.get("action", "ALLOW") == "ALLOW" and any(rule == {} for rule in spec.get("rules") or [])
