"""Add-on image digests through the real Pulumi engine and Kubernetes provider (render mode): the transform the
components attach to a manifest file reaches the objects the provider registers, and a production stack with an
add-on image left by tag stops at the preview with check MR241's path-precise error."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pulumi import automation as auto

from integration.conftest import edit_mesh, rendered_objects
from mesh_rollout.plan.images import container_images, read_manifest, split_reference


def _render_stack(project: Path) -> auto.Stack:
    document = yaml.safe_load((project / "stacks" / "Pulumi.local.yaml").read_text())
    document["config"]["mesh-rollout:cluster"] = {"renderDir": "out/render"}
    (project / "stacks" / "Pulumi.pinned.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    return auto.create_or_select_stack(stack_name="pinned", work_dir=str(project))


def _digests(manifest: str) -> dict[str, str]:
    repositories = sorted({split_reference(i)[0] for i in container_images(read_manifest(manifest))})
    return {repository: "sha256:" + format(index + 1, "x") * 64 for index, repository in enumerate(repositories)}


def test_manifest_addons_are_rendered_by_digest_and_production_refuses_tags(project: Path) -> None:
    stack = _render_stack(project)
    pinned: dict[str, dict[str, str]] = {}

    def pin(mesh: dict) -> None:
        for name, addon in mesh["observability"].items():
            if isinstance(addon, dict) and "manifest" in addon:
                pinned[name] = addon["imageDigests"] = _digests(addon["manifest"])

    edit_mesh(project, pin, stack="pinned")
    assert set(pinned) == {"prometheus", "jaeger", "grafana", "kiali"}
    assert stack.up().summary.result == "succeeded"
    wanted = {digest for digests in pinned.values() for digest in digests.values()}
    images = [image for m in rendered_objects(project / "out" / "render")
              if m["kind"] in ("Deployment", "StatefulSet", "DaemonSet")
              and m["metadata"]["name"] in ("prometheus", "grafana", "jaeger", "kiali")
              for image in container_images(m)]
    assert len(images) >= 5
    for image in images:
        _, tag, digest = split_reference(image)
        assert tag and digest in wanted, image
    stack.destroy()

    # Production without a digest for Kiali: the checks stop the preview before anything is registered.
    def production(mesh: dict) -> None:
        mesh.update(production=True, allowMutableTags=False)
        mesh["observability"]["kiali"].pop("imageDigests")

    edit_mesh(project, production, stack="pinned")
    with pytest.raises(auto.CommandError) as caught:
        stack.preview()
    assert "mesh.observability.kiali.imageDigests" in str(caught.value) and "MR241" in str(caught.value)
    assert "quay.io/kiali/kiali" in str(caught.value)
