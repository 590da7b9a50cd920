"""Checks of image pinning: a production stack deploys images by digest (immutable), not by tag only, unless the
stack opts out explicitly (``allowMutableTags``)."""

from __future__ import annotations

from collections.abc import Iterator

from ..plan.images import ManifestUnreadable, control_plane_images, installed_addons, manifest_repositories
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
    """In a ``production: true`` stack, each add-on it installs runs its images by digest:
    ``observability.<addon>.imageDigests`` gives one for every repository the add-on's containers run. For a sample
    manifest the check reads the file and names each repository left without one; an upstream chart is not fetched
    here, so the check asks for ``imageDigests`` at all, and the preview refuses any rendered image of the chart
    still without a digest. Opt out for one add-on with ``observability.<addon>.allowMutableTags: true``, or for the
    stack with ``allowMutableTags: true``."""
    if not spec.production or spec.allow_mutable_tags:
        return
    for name, addon in installed_addons(spec):
        if addon.allow_mutable_tags:
            continue
        where = path("observability", name, "imageDigests")
        if addon.manifest is None:
            if not addon.image_digests:
                yield finding("MR241", where,
                              f"{name} is installed from its upstream chart, whose images are referenced by tag; "
                              "expected a digest for each repository its containers run (e.g. "
                              "{docker.io/grafana/grafana: \"sha256:…\"}; the preview names any it misses), got "
                              "none (or set allowMutableTags: true on the add-on to accept tags)")
            continue
        try:
            repositories = manifest_repositories(addon.manifest)
        except ManifestUnreadable as error:
            yield finding("MR241", path("observability", name, "manifest"),
                          f"expected a readable manifest to check that its images are pinned, got: {error}")
            continue
        for repository in repositories:
            if repository not in addon.image_digests:
                yield finding("MR241", where,
                              f"{name} runs {repository} by tag (from {addon.manifest}), a tag the registry can "
                              f"move; expected {repository}: \"sha256:…\" here, got no digest for it")


@check("MR242", "Image digest for a repository the add-on's manifest does not run", Severity.ERROR)
def digest_of_unknown_image(spec: MeshSpec) -> Iterator[Finding]:
    """``observability.<addon>.imageDigests`` of an add-on installed from a manifest names repositories (registry
    included, e.g. ``docker.io/grafana/grafana``) the file's containers run: a digest for any other one pins
    nothing (usually a typo, or a registry left out). Chart add-ons are not fetched here, so their keys cannot be
    checked before the preview."""
    for name, addon in installed_addons(spec):
        if addon.manifest is None or not addon.image_digests:
            continue
        try:
            repositories = manifest_repositories(addon.manifest)
        except ManifestUnreadable as error:
            yield finding("MR242", path("observability", name, "manifest"),
                          f"expected a readable manifest to apply imageDigests to, got: {error}")
            continue
        for repository in addon.image_digests:
            if repository not in repositories:
                yield finding("MR242", path("observability", name, "imageDigests", repository),
                              f"{name}'s manifest runs no container from {repository}; expected one of "
                              f"{', '.join(repositories) or '(none)'}, got {repository}")
