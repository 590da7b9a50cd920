"""Policy pack: guard rails on the Istio objects any program (this one or one importing its components) registers.

Run with ``pulumi preview --policy-pack policy``. The checks in ``components.checks`` see the typed spec; these
policies see the resources themselves, so they also hold for hand-written CustomResources next to ours.
"""

from pulumi_policy import EnforcementLevel, PolicyPack, ReportViolation, ResourceValidationArgs, \
    ResourceValidationPolicy

from rules import ISTIO_GROUPS, legacy_api_version, mesh_wide_mtls_disabled, wildcard_allow


def _istio(args: ResourceValidationArgs) -> dict | None:
    """The object if the resource is an Istio custom resource (typed or CustomResource), else None."""
    props = args.props
    api_version = props.get("apiVersion", "")
    if api_version.split("/")[0] in ISTIO_GROUPS:
        return props
    return None


def current_api_versions(args: ResourceValidationArgs, report: ReportViolation):
    obj = _istio(args)
    if obj and legacy_api_version(obj):
        report(f"{obj['kind']} {obj.get('metadata', {}).get('name')} uses {obj['apiVersion']}; use the v1 API")


def no_mesh_wide_plaintext(args: ResourceValidationArgs, report: ReportViolation):
    obj = _istio(args)
    if obj and mesh_wide_mtls_disabled(obj):
        report("a PeerAuthentication without selector in istio-system disables mTLS for the whole mesh")


def no_allow_all(args: ResourceValidationArgs, report: ReportViolation):
    obj = _istio(args)
    if obj and wildcard_allow(obj):
        report(f"AuthorizationPolicy {obj['metadata'].get('name')} allows every caller (an empty rule)")


PolicyPack(
    name="mesh-rollout",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[
        ResourceValidationPolicy(name="istio-v1-apis", description="Istio objects use the v1 APIs.",
                                 validate=current_api_versions),
        ResourceValidationPolicy(name="no-mesh-wide-plaintext",
                                 description="Mesh-wide mutual TLS is never DISABLE.", validate=no_mesh_wide_plaintext),
        ResourceValidationPolicy(name="no-allow-all", description="ALLOW policies never contain an empty rule.",
                                 validate=no_allow_all, enforcement_level=EnforcementLevel.ADVISORY),
    ],
)
