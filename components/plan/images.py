"""The container images a stack deploys, by tag and (when pinned) digest: what checks MR240/MR241 and the SBOM
read. Pure: computed from the spec, no registry is asked."""

from __future__ import annotations

from dataclasses import dataclass

from ..spec import ControlPlaneSpec, IstioImage, MeshSpec
from ..spec.observability import ADDONS, AddonSpec

#: Where Istio's released images live; the chart source trees default to a test registry, so the plan pins it.
ISTIO_HUB = "docker.io/istio"


def istio_reference(image: IstioImage, version: str, digest: str | None) -> str:
    """``docker.io/istio/<image>:<version>`` plus ``@sha256:…`` when pinned (the tag stays for people; the
    container runtime pulls by digest)."""
    reference = f"{ISTIO_HUB}/{image.value}:{version}"
    return f"{reference}@{digest}" if digest else reference


@dataclass(frozen=True)
class Image:
    """One image the stack deploys."""

    #: A full reference: ``registry/repository:tag`` and ``@sha256:…`` when pinned.
    reference: str
    #: What runs it, e.g. ``istiod 1-30-4`` or ``grafana``.
    component: str
    #: The config path (segments under ``mesh``) where its digest is set.
    config_path: tuple[str, ...]

    @property
    def digest(self) -> str | None:
        """The ``sha256:…`` digest, or ``None`` for a reference by tag only."""
        _, at, digest = self.reference.partition("@")
        return digest if at else None

    @property
    def pinned(self) -> bool:
        """Whether the reference names a digest (immutable), not only a tag."""
        return self.digest is not None

    @property
    def name(self) -> str:
        """Repository without registry, tag or digest: ``istio/pilot``."""
        repository = self.reference.partition("@")[0]
        last = repository.rsplit("/", 1)
        if ":" in last[-1]:
            repository = repository.rsplit(":", 1)[0]
        parts = repository.split("/")
        if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
            parts = parts[1:]
        return "/".join(parts)

    @property
    def tag(self) -> str | None:
        """The tag, if the reference has one."""
        repository = self.reference.partition("@")[0]
        last = repository.rsplit("/", 1)[-1]
        return last.split(":", 1)[1] if ":" in last else None


def control_plane_images(control_plane: ControlPlaneSpec) -> list[Image]:
    """istiod and proxyv2 of every installed revision (proxyv2 runs as every sidecar and gateway the revision
    injects), then install-cni and ztunnel in ambient mode; empty when the control plane is not installed."""
    if not control_plane.install:
        return []
    images = []
    several = bool(control_plane.revisions)
    for revision in control_plane.installed_revisions.values():
        where = ("controlPlane", "revisions", revision.name, "imageDigests") if several else (
            "controlPlane", "imageDigests")
        for image, component in ((IstioImage.PILOT, f"istiod {revision.name}"),
                                 (IstioImage.PROXYV2, f"proxies of {revision.name} (sidecars, gateways)")):
            digest = revision.image_digests.get(image)
            images.append(Image(istio_reference(image, revision.version, digest), component, (*where, image.value)))
    if control_plane.ambient:
        default = control_plane.installed_revisions[control_plane.revision_name]
        for image, component in ((IstioImage.INSTALL_CNI, "istio-cni"), (IstioImage.ZTUNNEL, "ztunnel")):
            digest = control_plane.image_digests.get(image)
            images.append(Image(istio_reference(image, default.version, digest), component,
                                ("controlPlane", "imageDigests", image.value)))
    return images


def installed_addons(spec: MeshSpec) -> list[tuple[str, AddonSpec]]:
    """The add-ons the stack installs (chart or manifest), in wiring order."""
    observability = spec.observability
    if observability is None:
        return []
    return [(name, getattr(observability, name)) for name in ADDONS if getattr(observability, name).installs_chart]


def addon_images(spec: MeshSpec) -> list[Image]:
    """The images the installed add-ons declare (``observability.<addon>.images``)."""
    return [Image(reference, name, ("observability", name, "images", str(index)))
            for name, addon in installed_addons(spec) for index, reference in enumerate(addon.images)]


def stack_images(spec: MeshSpec) -> list[Image]:
    """Every image the stack is known to deploy: the control plane's, then the add-ons' declared ones."""
    return [*control_plane_images(spec.control_plane), *addon_images(spec)]


__all__ = ("ISTIO_HUB", "Image", "addon_images", "control_plane_images", "installed_addons", "istio_reference",
           "stack_images")
