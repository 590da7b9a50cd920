"""The container images a stack deploys, by tag and (when pinned) digest: what checks MR240/MR241 and the SBOM
read, and the rewriting that pins an add-on's images. Computed from the spec and the plan (the chart values it
writes, the manifest objects it applies); no registry is asked."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from ..spec import ControlPlaneSpec, IstioImage, MeshSpec
from ..spec.observability import ADDONS, AddonSpec

#: Where Istio's released images live; the chart source trees default to a test registry, so the plan pins it.
ISTIO_HUB = "docker.io/istio"
#: The pod annotation with which a pod (a gateway's, through its chart's ``podAnnotations``) names its own proxy
#: image; Istio's injection templates take it whole when it contains a "/".
PROXY_IMAGE_ANNOTATION = "sidecar.istio.io/proxyImage"


def istio_reference(image: IstioImage, version: str, digest: str | None) -> str:
    """``docker.io/istio/<image>:<version>`` plus ``@sha256:…`` when pinned (the tag stays for people; the
    container runtime pulls by digest)."""
    reference = f"{ISTIO_HUB}/{image.value}:{version}"
    return f"{reference}@{digest}" if digest else reference


def split_reference(reference: str) -> tuple[str, str | None, str | None]:
    """``(repository, tag, digest)`` of an image reference; the repository keeps its registry
    (``docker.io/grafana/grafana``). A ":" before the last "/" is a registry port, not a tag."""
    name, at, digest = reference.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = None
    if ":" in last:
        name, tag = name.rsplit(":", 1)
    return name, tag, digest if at else None


def with_digest(reference: str, digest: str) -> str:
    """``reference`` (with its tag, any digest dropped) pinned to ``digest``."""
    return reference.partition("@")[0] + "@" + digest


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
        return split_reference(self.reference)[2]

    @property
    def pinned(self) -> bool:
        """Whether the reference names a digest (immutable), not only a tag."""
        return self.digest is not None

    @property
    def name(self) -> str:
        """Repository without registry, tag or digest: ``istio/pilot``."""
        parts = split_reference(self.reference)[0].split("/")
        if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
            parts = parts[1:]
        return "/".join(parts)

    @property
    def tag(self) -> str | None:
        """The tag, if the reference has one."""
        return split_reference(self.reference)[1]


# --- the control plane: what Istio's charts build out of the values the plan writes ---------------------------------

def _text(values: Mapping[str, Any], *path: str) -> str:
    node: Any = values
    for key in path:
        node = node.get(key) if isinstance(node, Mapping) else None
    return "" if node is None else str(node)


def _versioned(tag: str, variant: str) -> str:
    return f"{tag}-{variant}" if variant else tag


def _chart_image(values: Mapping[str, Any], default: str) -> str:
    """How the istiod and cni charts build their own image: ``image`` whole when it contains a "/", else
    ``(hub or global.hub)/(image or <default>):(tag or global.tag)[-variant]``."""
    image = _text(values, "image")
    if "/" in image:
        return image
    hub = _text(values, "hub") or _text(values, "global", "hub")
    tag = _text(values, "tag") or _text(values, "global", "tag")
    variant = _text(values, "variant") or _text(values, "global", "variant")
    return f"{hub}/{image or default}:{_versioned(tag, variant)}"


def istiod_image(values: Mapping[str, Any]) -> str:
    """The image the istiod chart runs, as its deployment template builds it (pilot by default)."""
    return _chart_image(values, "pilot")


def proxy_image(values: Mapping[str, Any], init: bool = False) -> str:
    """The proxy image the istiod chart's injection templates put into sidecars and gateways (``init``: the
    ``istio-init`` container): ``global.proxy.image`` (``global.proxy_init.image``) whole when it contains a "/",
    else istiod's ``global.hub/<global.proxy.image or proxyv2>:global.tag[-global.variant]``."""
    if init:
        whole = _text(values, "global", "proxy_init", "image")
        if "/" in whole:
            return whole
    image = _text(values, "global", "proxy", "image")
    if "/" in image:
        return image
    return (f"{_text(values, 'global', 'hub')}/{image or 'proxyv2'}:"
            f"{_versioned(_text(values, 'global', 'tag'), _text(values, 'global', 'variant'))}")


def cni_image(values: Mapping[str, Any]) -> str:
    """The install-cni image of the cni chart (install-cni by default)."""
    return _chart_image(values, "install-cni")


def ztunnel_image(values: Mapping[str, Any]) -> str:
    """The ztunnel chart's image: ``image`` whole with a "/", else ``hub/(image or ztunnel):tag[-variant]`` (its
    top-level values only)."""
    image = _text(values, "image")
    if "/" in image:
        return image
    return f"{_text(values, 'hub')}/{image or 'ztunnel'}:{_versioned(_text(values, 'tag'), _text(values, 'variant'))}"


def control_plane_images(control_plane: ControlPlaneSpec) -> list[Image]:
    """istiod and proxyv2 of every installed revision (proxyv2 runs as every sidecar and gateway the revision
    injects), install-cni and ztunnel in ambient mode, and a gateway's own proxy image when its ``podAnnotations``
    name one; empty when the control plane is not installed. Read out of the chart values the plan writes, so
    ``global.hub``, ``global.tag`` or ``image`` overrides are what is reported."""
    from .control_plane import cni_values, istiod_values, ztunnel_values  # that module imports this one

    if not control_plane.install:
        return []
    images = []
    several = bool(control_plane.revisions)
    for revision in control_plane.installed_revisions.values():
        where = ("controlPlane", "revisions", revision.name, "imageDigests") if several else (
            "controlPlane", "imageDigests")
        values = istiod_values(control_plane, "cluster.local", None, revision=revision.name)
        images.append(Image(istiod_image(values), f"istiod {revision.name}", (*where, IstioImage.PILOT.value)))
        proxy, init = proxy_image(values), proxy_image(values, init=True)
        images.append(Image(proxy, f"proxies of {revision.name} (sidecars, gateways)",
                            (*where, IstioImage.PROXYV2.value)))
        if init != proxy:
            images.append(Image(init, f"istio-init of {revision.name}", (*where, IstioImage.PROXYV2.value)))
    if control_plane.ambient:
        images.append(Image(cni_image(cni_values(control_plane)), "istio-cni",
                            ("controlPlane", "imageDigests", IstioImage.INSTALL_CNI.value)))
        images.append(Image(ztunnel_image(ztunnel_values(control_plane)), "ztunnel",
                            ("controlPlane", "imageDigests", IstioImage.ZTUNNEL.value)))
    for name, gateway in sorted(control_plane.gateways.items()):
        annotations = gateway.values.get("podAnnotations")
        own = annotations.get(PROXY_IMAGE_ANNOTATION) if isinstance(annotations, Mapping) else None
        if isinstance(own, str) and "/" in own:
            images.append(Image(own, f"gateway {name}", ("controlPlane", "gateways", name, "values",
                                                         "podAnnotations", PROXY_IMAGE_ANNOTATION)))
    return images


# --- add-ons: pinning the images of manifest objects and rendered chart objects --------------------------------------

def container_images(node: object) -> Iterator[str]:
    """The ``image`` of every container and init container anywhere in ``node`` (objects, lists of objects)."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                yield from (str(item["image"]) for item in value if isinstance(item, Mapping) and "image" in item)
            else:
                yield from container_images(value)
    elif isinstance(node, list):
        for item in node:
            yield from container_images(item)


def pin_images(node: Any, digests: Mapping[str, str]) -> Any:
    """``node`` rebuilt (mappings and lists new, leaves shared) with every container and init container image whose
    repository (registry included, e.g. ``docker.io/grafana/grafana``) has a digest in ``digests`` referenced as
    ``repository:tag@digest``."""
    if isinstance(node, Mapping):
        result = {}
        for key, value in node.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                result[key] = [_pin_container(item, digests) for item in value]
            else:
                result[key] = pin_images(value, digests)
        return result
    if isinstance(node, list):
        return [pin_images(item, digests) for item in node]
    return node  # leaves are shared, not copied: a transform's props may hold secrets or unknowns


def _pin_container(container: Any, digests: Mapping[str, str]) -> Any:
    pinned = pin_images(container, digests)
    if isinstance(pinned, dict) and isinstance(pinned.get("image"), str):
        digest = digests.get(split_reference(pinned["image"])[0])
        if digest is not None:
            pinned["image"] = with_digest(pinned["image"], digest)
    return pinned


class ManifestUnreadable(ValueError):
    """A manifest file the plan must read (to pin its images) cannot be read or parsed."""


def read_manifest(path: str) -> list[dict[str, Any]]:
    """The objects of a YAML manifest file (empty documents left out); :class:`ManifestUnreadable` if it cannot be
    read or parsed."""
    try:
        with open(os.path.expanduser(path), encoding="utf-8") as handle:
            documents = list(yaml.safe_load_all(handle))
    except (OSError, yaml.YAMLError) as error:
        raise ManifestUnreadable(f"cannot read manifest {path}: {error}") from error
    return [document for document in documents if isinstance(document, dict)]


def manifest_repositories(path: str) -> list[str]:
    """The image repositories (registry included, no tag) the containers of a manifest file run, sorted."""
    return sorted({split_reference(image)[0] for image in container_images(read_manifest(path))})


def installed_addons(spec: MeshSpec) -> list[tuple[str, AddonSpec]]:
    """The add-ons the stack installs (chart or manifest), in wiring order."""
    observability = spec.observability
    if observability is None:
        return []
    return [(name, getattr(observability, name)) for name in ADDONS if getattr(observability, name).installs_chart]


def addon_images(spec: MeshSpec) -> list[Image]:
    """The images the installed add-ons deploy. A manifest add-on: every container image of its objects as the plan
    applies them (digests applied; unreadable files give none). A chart add-on: the repositories given digests in
    ``imageDigests`` (the plan does not render upstream charts; every other image of the chart is refused at deploy
    time in production, see :func:`unpinned_images`)."""
    images: list[Image] = []
    for name, addon in installed_addons(spec):
        where = ("observability", name, "imageDigests")
        if addon.manifest is not None:
            try:
                objects = pin_images(read_manifest(addon.manifest), addon.image_digests)
            except ManifestUnreadable:
                continue
            for reference in sorted(set(container_images(objects))):
                images.append(Image(reference, name, (*where, split_reference(reference)[0])))
        else:
            images += [Image(f"{repository}@{digest}", name, (*where, repository))
                       for repository, digest in sorted(addon.image_digests.items())]
    return images


def unpinned_images(node: object) -> list[str]:
    """The container images in ``node`` referenced by tag only (no digest)."""
    return sorted({image for image in container_images(node) if split_reference(image)[2] is None})


def stack_images(spec: MeshSpec) -> list[Image]:
    """Every image the stack is known to deploy: the control plane's, then the add-ons'."""
    return [*control_plane_images(spec.control_plane), *addon_images(spec)]


__all__ = ("ISTIO_HUB", "PROXY_IMAGE_ANNOTATION", "Image", "ManifestUnreadable", "addon_images", "cni_image",
           "container_images", "control_plane_images", "installed_addons", "istio_reference", "istiod_image",
           "manifest_repositories", "pin_images", "proxy_image", "read_manifest", "split_reference", "stack_images",
           "unpinned_images", "with_digest", "ztunnel_image")
