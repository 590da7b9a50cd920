"""Policy pack: guard rails on the Istio objects any program (this one or one importing its components) registers.

Run with ``pulumi preview --policy-pack policy/run-policy-pack``. The checks in ``mesh_rollout.checks`` see the typed
spec; these policies see the resources themselves, so they also hold for programs that use the components directly
and for hand-written CustomResources next to ours.

The mesh-dependent rules follow the stack: its root namespace (a custom ``controlPlane.namespace`` included) and
whether it is production, read from the outputs of the ``Mesh``/``MutualTls`` components the program registered.
The pack's
config overrides both (``--policy-pack-config``, e.g. ``{"all": {}, "no-mesh-wide-plaintext":
{"rootNamespace": "mesh-system"}}``) for programs that register neither component.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from rules import (
    ISTIO_GROUPS,
    MeshContext,
    fault_injection,
    legacy_api_version,
    mesh_context,
    mesh_wide_mtls_disabled,
    weak_mtls,
    wildcard_allow,
    wildcard_principals,
)

CONTEXT_SCHEMA = PolicyConfigSchema(properties={
    "rootNamespace": {"type": "string", "description": "Istio's root namespace (default: from the Mesh component)."},
    "production": {"type": "boolean", "description": "Apply the production rules (default: from the Mesh component)."},
})


def _istio(props: Any) -> Mapping[str, Any] | None:
    """The object if the props are an Istio custom resource (typed or CustomResource), else None. (The policy
    runtime hands props as read-only mapping proxies, not dicts.)"""
    if isinstance(props, Mapping) and str(props.get("apiVersion", "")).split("/")[0] in ISTIO_GROUPS:
        return props
    return None


def _context(args: StackValidationArgs) -> MeshContext:
    return mesh_context(((r.resource_type, r.props) for r in args.resources), args.get_config())


def _objects(args: StackValidationArgs):
    for resource in args.resources:
        obj = _istio(resource.props)
        if obj is not None:
            yield resource, obj


def current_api_versions(args: ResourceValidationArgs, report: ReportViolation) -> None:
    obj = _istio(args.props)
    if obj and legacy_api_version(obj):
        report(f"{obj['kind']} {obj.get('metadata', {}).get('name')} uses {obj['apiVersion']}; use the v1 API")


def no_mesh_wide_plaintext(args: StackValidationArgs, report: ReportViolation) -> None:
    context = _context(args)
    for resource, obj in _objects(args):
        if mesh_wide_mtls_disabled(obj, context):
            report(f"a PeerAuthentication without selector in {context.root_namespace} (the mesh's root namespace) "
                   "disables mTLS for the whole mesh", resource.urn)


def production_strict_mtls(args: StackValidationArgs, report: ReportViolation) -> None:
    context = _context(args)
    if not context.production:
        return
    for resource, obj in _objects(args):
        for problem in weak_mtls(obj, context):
            report(f"production: {problem}; production stacks run STRICT mTLS everywhere", resource.urn)


def production_no_wildcard_callers(args: StackValidationArgs, report: ReportViolation) -> None:
    if not _context(args).production:
        return
    for resource, obj in _objects(args):
        for found in wildcard_principals(obj):
            report(f"production: AuthorizationPolicy {obj['metadata'].get('name')} admits a wildcard caller "
                   f"({found}); name each caller", resource.urn)


def production_no_faults(args: StackValidationArgs, report: ReportViolation) -> None:
    if not _context(args).production:
        return
    for resource, obj in _objects(args):
        if fault_injection(obj):
            report(f"production: VirtualService {obj['metadata'].get('name')} injects faults", resource.urn)


def no_allow_all(args: ResourceValidationArgs, report: ReportViolation) -> None:
    obj = _istio(args.props)
    if obj and wildcard_allow(obj):
        report(f"AuthorizationPolicy {obj['metadata'].get('name')} allows every caller (an empty rule)")


PolicyPack(
    name="mesh-rollout",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[
        ResourceValidationPolicy(name="istio-v1-apis", description="Istio objects use the v1 APIs.",
                                 validate=current_api_versions),
        StackValidationPolicy(name="no-mesh-wide-plaintext", description="Mesh-wide mutual TLS is never DISABLE.",
                              validate=no_mesh_wide_plaintext, config_schema=CONTEXT_SCHEMA),
        StackValidationPolicy(name="production-strict-mtls",
                              description="Production: every PeerAuthentication is STRICT (or inherits).",
                              validate=production_strict_mtls, config_schema=CONTEXT_SCHEMA),
        StackValidationPolicy(name="production-no-wildcard-callers",
                              description="Production: ALLOW policies name their callers (no * principals).",
                              validate=production_no_wildcard_callers, config_schema=CONTEXT_SCHEMA),
        StackValidationPolicy(name="production-no-fault-injection",
                              description="Production: no VirtualService injects faults.",
                              validate=production_no_faults, config_schema=CONTEXT_SCHEMA),
        ResourceValidationPolicy(name="no-allow-all", description="ALLOW policies never contain an empty rule.",
                                 validate=no_allow_all, enforcement_level=EnforcementLevel.ADVISORY),
    ],
)
