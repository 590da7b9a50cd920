"""A software bill of materials of what a stack deploys, computed from its plan (no cluster, no registry):
``python -m mesh_rollout.show prod --sbom``.

CycloneDX 1.5-shaped JSON: Helm charts (name, version, source), container images (reference by tag, and digest
when pinned, with a package URL), manifest files applied as they are, and Grafana dashboards (the shipped files
with their Istio version and SHA-256, or the grafana.com ids Grafana downloads).
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote

from .plan import MeshPlan
from .plan.charts import chart_sha256
from .plan.images import Image, ManifestUnreadable, container_images, read_manifest, stack_images
from .plan.model import HelmRelease, ManifestFile
from .plan.observability import DASHBOARDS_VERSION, shipped_dashboard
from .spec import MeshSpec
from .versions import DEFAULT_ISTIO_VERSION

__all__ = ("image_purl", "manifest_images", "sbom")


def image_purl(reference: str) -> str:
    """Package URL of an image: ``pkg:oci/<name>@sha256:…?repository_url=…&tag=…`` when pinned by digest, else
    ``pkg:docker/<namespace>/<name>@<tag>?repository_url=<registry>`` (a tag names no fixed content)."""
    name, _, digest = reference.partition("@")
    tag = None
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = name.rsplit(":", 1)
    if digest:
        qualifiers = f"repository_url={quote(name, safe='/')}" + (f"&tag={quote(tag)}" if tag else "")
        return f"pkg:oci/{name.rsplit('/', 1)[-1]}@{quote(digest, safe='')}?{qualifiers}"
    registry, _, path = name.partition("/")
    if not path or not ("." in registry or ":" in registry or registry == "localhost"):
        registry, path = "docker.io", name
    return f"pkg:docker/{path}@{quote(tag or 'latest')}?repository_url={quote(registry)}"


def _image_component(image: Image) -> dict[str, Any]:
    component: dict[str, Any] = {
        "type": "container",
        "bom-ref": f"image:{image.reference}",
        "name": image.name,
        "version": image.tag or image.digest or "latest",
        "purl": image_purl(image.reference),
        "properties": [
            {"name": "mesh-rollout:reference", "value": image.reference},
            {"name": "mesh-rollout:component", "value": image.component},
            {"name": "mesh-rollout:pinned", "value": "true" if image.pinned else "false"},
        ],
    }
    if image.tag:
        component["properties"].append({"name": "mesh-rollout:tag", "value": image.tag})
    if image.digest:
        component["hashes"] = [{"alg": "SHA-256", "content": image.digest.removeprefix("sha256:")}]
    return component


def _chart_component(release: HelmRelease) -> dict[str, Any]:
    if release.repository is not None:
        name, source = release.chart, release.repository
    elif release.chart.startswith("oci://"):
        name, source = release.chart.rsplit("/", 1)[-1], release.chart.rsplit("/", 1)[0]
    else:
        name, source = os.path.basename(release.chart), os.path.dirname(release.chart)
    component: dict[str, Any] = {
        "type": "application",
        "bom-ref": f"chart:{release.key}",
        "name": name,
        "version": release.version or "local",
        "externalReferences": [{"type": "distribution", "url": source}],
        "properties": [
            {"name": "mesh-rollout:kind", "value": "helm-chart"},
            {"name": "mesh-rollout:release", "value": release.key},
            {"name": "mesh-rollout:namespace", "value": release.namespace},
            {"name": "mesh-rollout:chart", "value": release.chart},
            {"name": "mesh-rollout:verified", "value": _verification(release)},
        ],
    }
    if release.repository is None and not release.chart.startswith("oci://") and os.path.exists(release.chart):
        # What the local chart is now; the value to put in the source's sha256 to have it checked.
        component["hashes"] = [{"alg": "SHA-256", "content": chart_sha256(release.chart)}]
    if release.image_digests:
        component["properties"].append({"name": "mesh-rollout:image-digests-applied-to-rendered-objects",
                                        "value": ", ".join(sorted(release.image_digests))})
    return component


def _verification(release: HelmRelease) -> str:
    if release.verify:
        keyring = release.keyring or "Helm's default keyring"
        return f"helm provenance (.prov signature checked against {keyring} when fetched)"
    if release.sha256:
        return "sha256 (checked against the configuration before registering)"
    return "none"


def manifest_images(path: str) -> list[str]:
    """The ``image`` of every container and init container in a manifest file, as the file has it; empty if it
    cannot be read."""
    try:
        return sorted(set(container_images(read_manifest(path))))
    except ManifestUnreadable:
        return []


def _manifest_component(manifest: ManifestFile) -> dict[str, Any]:
    return {
        "type": "file",
        "bom-ref": f"manifest:{manifest.key}",
        "name": manifest.key,
        "properties": [{"name": "mesh-rollout:kind", "value": "manifest"},
                       {"name": "mesh-rollout:path", "value": manifest.path}],
    }


def _dashboards(spec: MeshSpec) -> list[dict[str, Any]]:
    observability = spec.observability
    if observability is None or not observability.grafana.installs_chart or observability.grafana.installs_manifest:
        return []
    components: list[dict[str, Any]] = []
    for name in observability.grafana.dashboards:
        dashboard = shipped_dashboard(name)
        components.append({
            "type": "data",
            "bom-ref": f"dashboard:{name}",
            "name": name,
            "version": DASHBOARDS_VERSION,
            "description": dashboard.title,
            "hashes": [{"alg": "SHA-256", "content": dashboard.sha256}],
            "properties": [{"name": "mesh-rollout:kind", "value": "grafana-dashboard"},
                           {"name": "mesh-rollout:file", "value": f"mesh_rollout/dashboards/{dashboard.file}"},
                           {"name": "mesh-rollout:source", "value": f"istio.io/istio {DASHBOARDS_VERSION} "
                            "manifests/addons/dashboards"}],
        })
    for name, gnet_id in sorted(observability.grafana.gnet_dashboards.items()):
        components.append({
            "type": "data",
            "bom-ref": f"dashboard:{name}",
            "name": name,
            "version": "latest",
            "externalReferences": [{"type": "distribution", "url": f"https://grafana.com/api/dashboards/{gnet_id}"}],
            "properties": [{"name": "mesh-rollout:kind", "value": "grafana-dashboard"},
                           {"name": "mesh-rollout:gnetId", "value": str(gnet_id)},
                           {"name": "mesh-rollout:note", "value": "downloaded by Grafana at start-up, unpinned"}],
        })
    return components


def sbom(spec: MeshSpec, mesh_plan: MeshPlan, stack: str | None = None) -> dict[str, Any]:
    """The CycloneDX 1.5-shaped bill of materials of a stack's plan: charts, images, manifests, dashboards.

    Images are the control plane's (from the chart values the plan writes: hub, tag and image overrides included,
    digest when pinned), every container image of the manifest add-ons as they are applied (digests applied; a file
    that cannot be read lists none), and for chart add-ons the repositories given digests in ``imageDigests``
    (nothing is fetched, so an upstream chart's images are not enumerated; in production the preview refuses any
    left without a digest). Charts say how they were verified (``mesh-rollout:verified``).
    """
    components: list[dict[str, Any]] = []
    for _, concern in mesh_plan.concerns():
        components += [_chart_component(release) for release in concern.releases]
    seen = set()
    for image in stack_images(spec):
        if image.reference not in seen:
            seen.add(image.reference)
            components.append(_image_component(image))
    for _, concern in mesh_plan.concerns():
        components += [_manifest_component(manifest) for manifest in concern.manifests]
    components += _dashboards(spec)
    name = stack or spec.environment
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "metadata": {
            "component": {"type": "application", "bom-ref": f"stack:{name}", "name": f"mesh-rollout stack {name}",
                          "properties": [{"name": "mesh-rollout:production",
                                          "value": "true" if spec.production else "false"},
                                         {"name": "mesh-rollout:istio-default-version",
                                          "value": DEFAULT_ISTIO_VERSION}]},
            "tools": {"components": [{"type": "application", "name": "mesh-rollout"}]},
        },
        "components": components,
    }
