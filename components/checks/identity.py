"""Checks of the mesh's certificate authority (``certificateAuthority``): validity, rotation and multi-cluster
trust."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from ..spec import CaMode, MeshSpec
from .registry import Finding, Severity, check, finding, path

#: How long before a plugged-in CA's rotation date the stack starts warning.
ROTATION_NOTICE = dt.timedelta(days=30)


def _multi_cluster_settings(spec: MeshSpec) -> list[str]:
    control_plane = spec.control_plane
    settings = {"meshId": control_plane.mesh_id, "network": control_plane.network,
                "clusterName": control_plane.cluster_name}
    return [f"{key}: {value}" for key, value in settings.items() if value]


@check("MR310", "Generated intermediate CA valid longer than its root", Severity.ERROR)
def intermediate_outlives_root(spec: MeshSpec) -> Iterator[Finding]:
    """``generated.intermediateValidityDays`` above ``generated.rootValidityDays``."""
    ca = spec.certificate_authority
    if ca.mode is not CaMode.GENERATED:
        return
    settings = ca.generation
    if settings.intermediate_validity_days > settings.root_validity_days:
        yield finding("MR310", path("certificateAuthority", "generated", "intermediateValidityDays"),
                      f"the intermediate would be valid {settings.intermediate_validity_days} days but its root only "
                      f"{settings.root_validity_days}: past the root's expiry every workload certificate fails "
                      f"verification, whatever the intermediate says (the generator would cut it to the root's "
                      f"expiry); expected at most rootValidityDays ({settings.root_validity_days}), got "
                      f"{settings.intermediate_validity_days}")


@check("MR311", "Plugged-in CA without a rotation date in a production stack", Severity.ERROR)
def plugged_in_without_rotation_date(spec: MeshSpec) -> Iterator[Finding]:
    """Mode ``existing`` or ``supplied`` in a production stack without ``rotateBy``: certificates made outside the
    stack expire without the stack knowing when."""
    ca = spec.certificate_authority
    if not spec.production or ca.mode not in (CaMode.EXISTING, CaMode.SUPPLIED) or ca.rotate_by is not None:
        return
    yield finding("MR311", path("certificateAuthority", "rotateBy"),
                  f"mode {ca.mode.value} plugs in an intermediate made outside the stack, and nothing records when "
                  f"it expires: when it does, istiod keeps signing with it and every new workload certificate fails "
                  f"verification (mesh-wide mTLS outage); expected rotateBy: <date before the intermediate's "
                  f"notAfter> (openssl x509 -enddate -noout -in ca-cert.pem), got none")


@check("MR312", "Plugged-in CA rotation date passed or near (error once passed)", Severity.WARNING)
def rotation_date_near(spec: MeshSpec) -> Iterator[Finding]:
    """``rotateBy`` is today or earlier (error), or within 30 days (warning)."""
    ca = spec.certificate_authority
    if ca.rotate_by is None:
        return
    today = dt.date.today()
    where = path("certificateAuthority", "rotateBy")
    if ca.rotate_by <= today:
        yield finding("MR312", where,
                      f"the plugged-in intermediate was due for rotation on {ca.rotate_by}: replace the cacerts "
                      f"files (README \"Mesh CA\", rotation runbook), restart istiod, then set the new date; "
                      f"expected a date after {today}, got {ca.rotate_by}", Severity.ERROR)
    elif ca.rotate_by - today <= ROTATION_NOTICE:
        yield finding("MR312", where,
                      f"the plugged-in intermediate is due for rotation in {(ca.rotate_by - today).days} days "
                      f"({ca.rotate_by}); plan the rotation (README \"Mesh CA\"), got {ca.rotate_by}")


@check("MR313", "Multi-cluster settings with istiod's self-signed CA (clusters do not trust each other)",
       Severity.WARNING)
def multi_cluster_self_signed(spec: MeshSpec) -> Iterator[Finding]:
    """``controlPlane.meshId``, ``network`` or ``clusterName`` set while ``certificateAuthority.mode`` is ``istiod``
    (the default): each cluster's istiod makes its own root."""
    settings = _multi_cluster_settings(spec)
    if spec.certificate_authority.mode is not CaMode.ISTIOD or not settings:
        return
    yield finding("MR313", path("certificateAuthority", "mode"),
                  f"the control plane is set up for a multi-cluster mesh ({', '.join(settings)}) but istiod signs "
                  f"with its own self-signed root, which no other cluster's istiod shares: cross-cluster mTLS fails "
                  f"certificate verification; Istio's multi-cluster installs plug in intermediates of one shared "
                  f"root; expected mode supplied (an intermediate of the shared root per cluster) or existing, got "
                  f"istiod")


@check("MR314", "Generated CA in a multi-cluster mesh (each stack generates its own root)", Severity.WARNING)
def multi_cluster_generated(spec: MeshSpec) -> Iterator[Finding]:
    """``mode: generated`` with ``controlPlane.meshId`` or ``network`` set: the root is per stack, so per cluster."""
    control_plane = spec.control_plane
    if spec.certificate_authority.mode is not CaMode.GENERATED or not (control_plane.mesh_id or
                                                                        control_plane.network):
        return
    yield finding("MR314", path("certificateAuthority", "mode"),
                  "mode generated makes a root in this stack alone, while meshId/network say this cluster shares "
                  "a mesh with others: their roots differ, so cross-cluster mTLS fails verification unless this is "
                  "the only cluster; expected mode supplied with an intermediate of the mesh's shared root (as "
                  "Istio's plug-in CA task does per cluster), got generated")


@check("MR315", "cacerts Secret for a control plane this stack does not install", Severity.WARNING)
def cacerts_without_install(spec: MeshSpec) -> Iterator[Finding]:
    """Mode ``generated`` or ``supplied`` with ``controlPlane.install: false``."""
    ca = spec.certificate_authority
    if not ca.creates_secret or spec.control_plane.install:
        return
    yield finding("MR315", path("certificateAuthority", "mode"),
                  f"the stack creates the cacerts Secret in {spec.control_plane.namespace}, but installs no istiod: "
                  f"the namespace must exist already, and the istiod you run reads the Secret at startup only "
                  f"(restart it after each up that changes the CA; a managed control plane may ignore cacerts "
                  f"altogether); expected controlPlane.install: true or mode existing/istiod, got mode "
                  f"{ca.mode.value}")
