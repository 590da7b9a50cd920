"""Checks of image pinning: a production stack deploys images by digest (immutable), not by tag only, unless the
stack opts out explicitly (``allowMutableTags``)."""

from __future__ import annotations

from collections.abc import Iterator

from ..plan.images import control_plane_images, installed_addons
from ..spec import MeshSpec
from .registry import Finding, Severity, check, finding, path


@check("MR240", "Control-plane image referenced by a mutable tag in a production stack", Severity.ERROR)
def control_plane_tag_only(spec: MeshSpec) -> Iterator[Finding]:
    """In a ``production: true`` stack that installs the control plane, each of Istio's images it deploys (pilot and
    proxyv2 of every revision; install-cni and ztunnel in ambient mode) needs its digest in
    ``controlPlane.imageDigests`` (with ``revisions``: ``revisions.<name>.imageDigests``), unless
    ``allowMutableTags: true``."""
    if not spec.production or spec.allow_mutable_tags:
        return
    for image in control_plane_images(spec.control_plane):
        if not image.pinned:
            yield finding("MR240", path(*image.config_path),
                          f"{image.component} would run {image.reference}, a tag the registry can move to other "
                          "content (two clusters, or two restarts, can run different code); expected a digest "
                          "(sha256: and 64 hex digits, e.g. from `crane digest "
                          f"{image.reference}`), got none (or set allowMutableTags: true to accept tags)")


@check("MR241", "Add-on deployed without pinned images in a production stack", Severity.ERROR)
def addon_tag_only(spec: MeshSpec) -> Iterator[Finding]:
    """In a ``production: true`` stack, each add-on it installs (chart or Istio's sample manifest) declares the
    images it deploys, each with a digest, in ``observability.<addon>.images``, after pinning them through the
    add-on's ``values`` (or in your copy of the manifest): the package cannot see inside the upstream charts. Opt
    out for one add-on with ``observability.<addon>.allowMutableTags: true``, or for the stack with
    ``allowMutableTags: true``."""
    if not spec.production or spec.allow_mutable_tags:
        return
    for name, addon in installed_addons(spec):
        if addon.allow_mutable_tags:
            continue
        if not addon.images:
            source = "its sample manifest" if addon.installs_manifest else "its upstream chart"
            yield finding("MR241", path("observability", name, "images"),
                          f"{name} is installed from {source}, whose images are referenced by tag; expected its "
                          "images pinned through values and listed here with their digests "
                          "(registry/repository:tag@sha256:…), got none (or set allowMutableTags: true on the "
                          "add-on to accept tags)")
            continue
        for index, reference in enumerate(addon.images):
            if "@sha256:" not in reference:
                yield finding("MR241", path("observability", name, "images", index),
                              f"{name} deploys {reference}, a tag the registry can move; expected "
                              f"{reference}@sha256:<digest>, got no digest")
