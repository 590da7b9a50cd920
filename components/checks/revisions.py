"""Checks of side-by-side control-plane revisions (``controlPlane.revisions``): what tags, gateways and the default
point at, and how far apart the installed versions are."""

from __future__ import annotations

from collections.abc import Iterator

from ..spec import MeshSpec
from ..spec.control_plane import version_key
from .registry import Finding, Severity, check, finding, path


@check("MR220", "Revision tag points at a revision this stack does not install", Severity.ERROR)
def tag_to_unknown_revision(spec: MeshSpec) -> Iterator[Finding]:
    """A ``revisionTags`` entry (tag -> revision) whose revision is not in ``revisions``: typically the old revision
    was removed while a tag still pointed at it. Only when this stack installs the control plane."""
    control_plane = spec.control_plane
    if not control_plane.install or not control_plane.revisions:
        return
    installed = list(control_plane.installed_revisions)
    for tag, target in control_plane.tag_targets.items():
        if target not in installed:
            yield finding("MR220", path("controlPlane", "revisionTags", tag),
                          f"tag {tag} points at revision {target}, which this stack does not install, so no istiod "
                          f"renders the tag's injector webhook and every namespace and gateway labelled "
                          f"istio.io/rev={tag} gets pods without a sidecar; expected one of {', '.join(installed)}, "
                          f"got {target!r}")


@check("MR221", "Gateway revision matches no revision or tag of the control plane", Severity.ERROR)
def gateway_unknown_revision(spec: MeshSpec) -> Iterator[Finding]:
    """A gateway's ``revision`` that names neither an installed revision nor a tag: its pods keep ``image: auto``
    (nothing injects them) and ingress is down. Only when this stack installs the control plane."""
    control_plane = spec.control_plane
    if not control_plane.install:
        return
    known = control_plane.revision_and_tag_names
    for name, gateway in control_plane.gateways.items():
        if gateway.revision is not None and gateway.revision not in known:
            yield finding("MR221", path("controlPlane", "gateways", name, "revision"),
                          f"no injector webhook answers to istio.io/rev={gateway.revision}, so the gateway's pods "
                          f"keep image: auto, never start, and the gateway serves nothing; expected a revision or "
                          f"tag ({', '.join(known)}), got {gateway.revision!r}")


@check("MR222", "Installed revisions more than one minor version apart", Severity.WARNING)
def revisions_too_far_apart(spec: MeshSpec) -> Iterator[Finding]:
    """Istio supports canary upgrades one minor version at a time (two with care: every release note lists what
    changed in between). Reported at the newest revision's version."""
    control_plane = spec.control_plane
    if not control_plane.install or len(control_plane.revisions) < 2:
        return
    ordered = sorted(control_plane.revisions.items(), key=lambda item: version_key(item[1].version))
    (old_name, oldest), (new_name, newest) = ordered[0], ordered[-1]
    old, new = version_key(oldest.version), version_key(newest.version)
    gap = (new[1] - old[1]) if new[0] == old[0] else 99
    if gap > 1:
        yield finding("MR222", path("controlPlane", "revisions", new_name, "version"),
                      f"revision {new_name} ({newest.version}) runs next to {old_name} ({oldest.version}), {gap} "
                      "minor versions apart: Istio supports upgrading one minor version at a time (sidecars of the "
                      "old revision must work with the new istiod and the shared CRDs); expected at most one minor "
                      f"version above {oldest.version}, got {newest.version}")


@check("MR223", "defaultRevision names no revision or tag", Severity.ERROR)
def unknown_default_revision(spec: MeshSpec) -> Iterator[Finding]:
    """With ``revisions``, ``defaultRevision`` must name an installed revision or a tag: it is what namespaces and
    gateways without a revision are labelled with, and which istiod validates for the cluster."""
    control_plane = spec.control_plane
    default = control_plane.default_revision
    if not control_plane.install or not control_plane.revisions or not isinstance(default, str):
        return
    known = control_plane.revision_and_tag_names
    if default not in known:
        yield finding("MR223", path("controlPlane", "defaultRevision"),
                      f"defaultRevision {default} is neither an installed revision nor a tag, so namespaces "
                      f"without a revision get istio.io/rev={default}, which no injector answers; expected one of "
                      f"{', '.join(known)}, got {default!r}")
