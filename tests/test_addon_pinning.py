"""Issue 12's deploy-time pinning beyond the control plane's own digests: add-on images by digest applied to the
objects as they are registered (Istio's real sample manifests), hub/tag/image overrides in the control plane's
values, and chart provenance (local SHA-256, Helm's verification passed through).

Digests are syntactically valid placeholders: no registry is reachable where these tests run.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pulumi
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mesh_rollout._registration import image_pinning
from mesh_rollout.checks import run_checks
from mesh_rollout.plan import plan
from mesh_rollout.plan.charts import chart_sha256
from mesh_rollout.plan.images import (
    container_images,
    control_plane_images,
    istiod_image,
    pin_images,
    proxy_image,
    read_manifest,
    split_reference,
    stack_images,
)
from mesh_rollout.sbom import sbom
from mesh_rollout.spec import ConfigError, parse_mesh

ASSETS = Path.home() / ".cache/mesh-rollout/istio-1.30.4"
ADDONS = ("prometheus", "jaeger", "grafana", "kiali")
CHARTS = {"url": "https://charts.example.com/istio"}
D1, D2, D3 = ("sha256:" + c * 64 for c in "abc")


def _manifests() -> dict[str, Path]:
    if not (ASSETS / "addons").is_dir():
        pytest.skip("Istio's add-on manifests are not installed (scripts/install-tools.sh)")
    return {name: ASSETS / "addons" / f"{name}.yaml" for name in ADDONS}


def _digest(repository: str) -> str:
    return "sha256:" + format(abs(hash(repository)) % (1 << 64), "064x")


def _all_pinned_spec(manifests: dict[str, Path], production: bool = True) -> Any:
    observability = {name: {"manifest": str(path), "imageDigests": {
        repository: _digest(repository)
        for repository in sorted({split_reference(i)[0] for i in container_images(read_manifest(str(path)))})}}
        for name, path in manifests.items()}
    return parse_mesh({"production": production, "mtls": {"mode": "STRICT"},
                       "controlPlane": {"install": False}, "observability": observability})


def _register(transform: pulumi.ResourceTransform, manifest: dict[str, Any]) -> dict[str, Any]:
    """What the transform makes of one object a chart or manifest file registers (Pulumi's wire props)."""
    result = transform(pulumi.ResourceTransformArgs(True, f"kubernetes:{manifest['kind']}", "child", manifest,
                                                    pulumi.ResourceOptions()))
    assert result is None or isinstance(result, pulumi.ResourceTransformResult)
    return manifest if result is None else dict(result.props)


# --- add-ons from Istio's real sample manifests ----------------------------------------------------------------------

def test_every_container_of_every_real_addon_manifest_is_registered_by_digest() -> None:
    manifests = _manifests()
    spec = _all_pinned_spec(manifests)
    planned = plan(spec).observability.manifests
    assert [m.key for m in planned] == ["prometheus", "jaeger", "grafana", "kiali"]
    seen = 0
    for manifest in planned:
        assert manifest.require_pinned and manifest.image_digests
        [transform] = image_pinning(manifest.key, manifest.image_digests, manifest.require_pinned)
        for document in read_manifest(manifest.path):
            registered = _register(transform, document)
            for image in container_images(registered):
                repository, tag, digest = split_reference(image)
                assert tag and digest == manifest.image_digests[repository], image
                seen += 1
    assert seen >= 5  # prometheus (2), jaeger, grafana, kiali
    # What MR241, MR242 and the SBOM report is that: every add-on image pinned, each with its tag.
    assert not [f for f in run_checks(spec) if f.code in ("MR241", "MR242")]
    images = [i for i in stack_images(spec)]
    assert images and all(i.pinned and i.tag for i in images)
    bom = {c["name"] for c in sbom(spec, plan(spec))["components"] if c["type"] == "container"}
    assert {"grafana/grafana", "kiali/kiali", "prom/prometheus", "jaegertracing/jaeger"} <= bom


def test_an_image_left_by_tag_fails_registration_and_mr241_names_it() -> None:
    manifests = _manifests()
    spec = _all_pinned_spec(manifests)
    kiali = spec.observability.kiali
    digests = {k: v for k, v in kiali.image_digests.items() if k != "quay.io/kiali/kiali"}
    spec = spec.model_copy(update={"observability": spec.observability.model_copy(update={
        "kiali": kiali.model_copy(update={"image_digests": digests})})})
    findings = [f for f in run_checks(spec) if f.code == "MR241"]
    assert [f.path for f in findings] == ["mesh.observability.kiali.imageDigests"]
    assert "quay.io/kiali/kiali" in findings[0].message
    [transform] = image_pinning("kiali", digests, require_pinned=True)
    deployment = next(d for d in read_manifest(str(manifests["kiali"])) if d["kind"] == "Deployment")
    with pytest.raises(ValueError, match=re.escape("quay.io/kiali/kiali:v2.26 by tag only")):
        _register(transform, deployment)
    # Near miss: the same object with the add-on opting out is registered as it is.
    [lenient] = image_pinning("kiali", digests, require_pinned=False) or [None]
    assert lenient is None or _register(lenient, deployment) == deployment


def test_a_digest_for_a_repository_the_manifest_does_not_run_is_an_error_at_its_path() -> None:
    manifests = _manifests()
    grafana = {"manifest": str(manifests["grafana"]), "imageDigests": {"grafana/grafana": D1}}
    spec = parse_mesh({"controlPlane": {"install": False}, "observability": {
        "grafana": grafana, "prometheus": {"enabled": False}, "jaeger": {"enabled": False},
        "kiali": {"enabled": False}}})
    [finding] = [f for f in run_checks(spec) if f.code == "MR242"]
    assert finding.path == "mesh.observability.grafana.imageDigests.grafana/grafana"
    assert "docker.io/grafana/grafana" in finding.message  # what it should have been
    grafana["imageDigests"] = {"docker.io/grafana/grafana": D1}
    spec = parse_mesh({"controlPlane": {"install": False}, "observability": {
        "grafana": grafana, "prometheus": {"enabled": False}, "jaeger": {"enabled": False},
        "kiali": {"enabled": False}}})
    assert not [f for f in run_checks(spec) if f.code == "MR242"]


def test_chart_addons_carry_their_digests_and_production_refuses_tags_at_registration() -> None:
    spec = parse_mesh({"production": True, "controlPlane": {"install": False}, "observability": {
        "grafana": {"imageDigests": {"docker.io/grafana/grafana": D1}},
        "prometheus": {"allowMutableTags": True}, "jaeger": {"enabled": False}, "kiali": {"enabled": False}}})
    observability = plan(spec).observability
    grafana, prometheus = observability.release("grafana"), observability.release("prometheus")
    assert grafana.image_digests == {"docker.io/grafana/grafana": D1} and grafana.require_pinned
    assert not prometheus.require_pinned and image_pinning("prometheus", {}, False) == []
    # A Deployment shaped like the Grafana chart renders (an init container from another repository).
    rendered = {"kind": "Deployment", "spec": {"template": {"spec": {
        "initContainers": [{"name": "download-dashboards", "image": "docker.io/curlimages/curl:8.9.1"}],
        "containers": [{"name": "grafana", "image": "docker.io/grafana/grafana:12.1.1"}]}}}}
    [transform] = image_pinning("grafana", grafana.image_digests, grafana.require_pinned)
    with pytest.raises(ValueError, match=re.escape("curlimages/curl:8.9.1")):
        _register(transform, rendered)
    [transform] = image_pinning("grafana", {**grafana.image_digests, "docker.io/curlimages/curl": D2}, True)
    pinned = _register(transform, rendered)
    assert sorted(container_images(pinned)) == [f"docker.io/curlimages/curl:8.9.1@{D2}",
                                                f"docker.io/grafana/grafana:12.1.1@{D1}"]
    assert [f.path for f in run_checks(spec) if f.code == "MR241"] == []
    spec = parse_mesh({"production": True, "controlPlane": {"install": False},
                       "observability": {"jaeger": {"enabled": False}, "kiali": {"enabled": False}}})
    assert sorted(f.path for f in run_checks(spec) if f.code == "MR241") == [
        "mesh.observability.grafana.imageDigests", "mesh.observability.prometheus.imageDigests"]


@given(st.from_regex(r"[a-z0-9.:/@_-]{0,40}", fullmatch=True))
def test_image_repository_keys_are_repositories_or_refused(key: str) -> None:
    try:
        parse_mesh({"controlPlane": {"install": False}, "observability": {"grafana": {"imageDigests": {key: D1}}}})
    except ConfigError as error:
        assert "observability.grafana.imageDigests" in str(error)
        return
    assert key and "@" not in key and ":" not in key.rsplit("/", 1)[-1]


def test_pin_images_keeps_tags_and_replaces_an_old_digest() -> None:
    pod = {"containers": [{"image": f"localhost:5000/a/b:1@{D1}"}, {"image": "busybox:1.36"}]}
    assert [c["image"] for c in pin_images(pod, {"localhost:5000/a/b": D2})["containers"]] == [
        f"localhost:5000/a/b:1@{D2}", "busybox:1.36"]


# --- hub / tag / image overrides of the control plane -----------------------------------------------------------------

@pytest.mark.parametrize(("istiod_values", "pilot", "proxy"), [
    ({"global": {"hub": "registry.internal/istio"}},
     "registry.internal/istio/pilot:1.30.4", "registry.internal/istio/proxyv2:1.30.4"),
    ({"global": {"tag": "1.30.4-distroless"}},
     "docker.io/istio/pilot:1.30.4-distroless", "docker.io/istio/proxyv2:1.30.4-distroless"),
    ({"hub": "mirror.example/istio", "global": {"variant": "distroless"}},
     "mirror.example/istio/pilot:1.30.4-distroless", "docker.io/istio/proxyv2:1.30.4-distroless"),
    ({"image": "mirror.example/istio/pilot:1.30.4", "global": {"proxy": {"image": "mirror.example/p/proxy:1"}}},
     "mirror.example/istio/pilot:1.30.4", "mirror.example/p/proxy:1"),
])
def test_overrides_are_what_is_reported_and_what_digests_pin(istiod_values: dict[str, Any], pilot: str,
                                                             proxy: str) -> None:
    control_plane = {"charts": CHARTS, "istiodValues": istiod_values}
    images = {i.component: i.reference for i in control_plane_images(parse_mesh({"controlPlane": control_plane})
                                                                     .control_plane)}
    assert images["istiod 1-30-4"] == pilot
    assert images["proxies of 1-30-4 (sidecars, gateways)"] == proxy
    pinned = parse_mesh({"controlPlane": {**control_plane, "imageDigests": {"pilot": D1, "proxyv2": D2}}})
    values = plan(pinned).control_plane.release("istiod").values
    assert values["image"] == f"{pilot}@{D1}"
    assert values["global"]["proxy"]["image"] == values["global"]["proxy_init"]["image"] == f"{proxy}@{D2}"
    # What the charts will build from those values is the pinned reference, and that is what is reported.
    assert istiod_image(values) == f"{pilot}@{D1}" and proxy_image(values, init=True) == f"{proxy}@{D2}"
    reported = {i.reference for i in control_plane_images(pinned.control_plane)}
    assert reported == {f"{pilot}@{D1}", f"{proxy}@{D2}"}


def test_a_gateway_with_its_own_proxy_image_is_reported_and_checked() -> None:
    annotations = {"sidecar.istio.io/proxyImage": "mirror.example/istio/proxyv2:1.30.4"}
    mesh = {"production": True, "mtls": {"mode": "STRICT"}, "controlPlane": {
        "charts": CHARTS, "imageDigests": {"pilot": D1, "proxyv2": D2},
        "gateways": {"ingress": {"values": {"podAnnotations": annotations}}}}}
    [finding] = [f for f in run_checks(parse_mesh(mesh)) if f.code == "MR240"]
    assert finding.path.endswith("gateways.ingress.values.podAnnotations.sidecar.istio.io/proxyImage")
    annotations["sidecar.istio.io/proxyImage"] += f"@{D3}"
    assert not [f for f in run_checks(parse_mesh(mesh)) if f.code == "MR240"]


def test_the_real_istio_charts_build_images_the_way_the_plan_reads_them() -> None:
    charts = ASSETS / "charts"
    if not charts.is_dir():
        pytest.skip("Istio's charts are not installed (scripts/install-tools.sh)")
    deployment = (charts / "istiod/templates/deployment.yaml").read_text()
    assert re.search(r'if contains "/" \.Values\.image \}\}\s*image: "\{\{ \.Values\.image \}\}"', deployment)
    assert ('image: "{{ .Values.hub | default .Values.global.hub }}/{{ .Values.image | default "pilot" }}:'
            '{{ .Values.tag | default .Values.global.tag }}{{with (.Values.variant | default .Values.global.variant)}}'
            '-{{.}}{{end}}"') in deployment
    for template in ("injection-template.yaml", "gateway-injection-template.yaml"):
        text = (charts / "istiod/files" / template).read_text()
        assert ('if contains "/" (annotation .ObjectMeta `sidecar.istio.io/proxyImage` .Values.global.proxy.image)'
                in text)
    # The gateway chart leaves its image to injection: the revision's proxy image (or the pod's annotation).
    assert "image: auto" in (charts / "gateway/templates/deployment.yaml").read_text()
    # The defaults the plan's values fall back on are the chart's: pilot and proxyv2 under global.hub.
    values = (charts / "istiod/values.yaml").read_text()
    assert re.search(r"(?m)^  image: pilot$", values) and re.search(r"(?m)^      image: proxyv2$", values)


# --- chart provenance ---------------------------------------------------------------------------------------------

def _local_charts(tmp_path: Path) -> Path:
    for name in ("base", "istiod"):
        (tmp_path / name / "templates").mkdir(parents=True)
        (tmp_path / name / "Chart.yaml").write_text(f"name: {name}\nversion: 1.30.4\n")
        (tmp_path / name / "templates" / "a.yaml").write_text("kind: ConfigMap\n")
    return tmp_path


def test_a_local_chart_is_checked_against_its_sha256_before_anything_is_registered(tmp_path: Path) -> None:
    charts = _local_charts(tmp_path)
    digest = chart_sha256(str(charts / "istiod"))
    mesh = {"controlPlane": {"charts": {"url": str(charts), "sha256": {"istiod": digest}}}}
    spec = parse_mesh(mesh)
    assert plan(spec).control_plane.release("istiod").sha256 == digest
    chart = next(c for c in sbom(spec, plan(spec))["components"] if c["name"] == "istiod")
    assert chart["hashes"] == [{"alg": "SHA-256", "content": digest}]
    assert {"name": "mesh-rollout:verified", "value": "sha256 (checked against the configuration before "
            "registering)"} in chart["properties"]
    base = next(c for c in sbom(spec, plan(spec))["components"] if c["name"] == "base")
    assert {"name": "mesh-rollout:verified", "value": "none"} in base["properties"]
    (charts / "istiod" / "templates" / "a.yaml").write_text("kind: Secret\n")
    with pytest.raises(ConfigError) as error:
        plan(parse_mesh(mesh))
    assert "mesh.controlPlane.charts.sha256.istiod" in str(error.value)
    assert f"expected SHA-256 {digest}" in str(error.value)


def test_the_tree_digest_ignores_listing_order_but_not_names(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    for root, names in ((one, ("a", "b")), (two, ("b", "a"))):
        root.mkdir()
        for name in names:
            (root / name).write_text(name)
    assert chart_sha256(str(one)) == chart_sha256(str(two))
    (two / "a").rename(two / "c")
    assert chart_sha256(str(one)) != chart_sha256(str(two))


def test_a_packaged_chart_digest_is_what_sha256sum_prints(tmp_path: Path) -> None:
    import hashlib

    archive = tmp_path / "istiod"
    archive.write_bytes(b"\x1f\x8b not really a chart")
    assert chart_sha256(str(archive)) == hashlib.sha256(archive.read_bytes()).hexdigest()


@pytest.mark.parametrize(("charts", "message"), [
    ({"url": "/charts", "verify": True}, "a local directory has none"),
    ({"url": "oci://r.example/c", "keyring": "/k.gpg"}, "keyring is only read when verify is true"),
    ({"url": "oci://r.example/c", "sha256": {"istiod": "a" * 64}}, "use verify"),
    ({"url": "/charts", "sha256": {"istiod": "A" * 64}}, "64 lower-case hex"),
])
def test_provenance_settings_that_cannot_work_are_refused(charts: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_mesh({"controlPlane": {"charts": charts}})
    assert message in str(error.value) and "controlPlane.charts" in str(error.value)


def test_helm_verification_is_passed_to_the_chart_and_named_in_the_sbom() -> None:
    spec = parse_mesh({"controlPlane": {"charts": {"url": "oci://r.example/istio", "verify": True,
                                                   "keyring": "~/keys/istio.gpg"}},
                       "observability": {"grafana": {"repository": {"url": "https://grafana.github.io/helm-charts",
                                                                   "verify": True}}}})
    releases = plan(spec)
    istiod = releases.control_plane.release("istiod")
    assert istiod.verify and istiod.keyring == "~/keys/istio.gpg"
    assert releases.observability.release("grafana").verify
    assert not releases.observability.release("prometheus").verify
    verified = {c["name"]: p["value"] for c in sbom(spec, releases)["components"] if c["type"] == "application"
                for p in c["properties"] if p["name"] == "mesh-rollout:verified"}
    assert verified["istiod"].startswith("helm provenance") and "~/keys/istio.gpg" in verified["istiod"]
    assert "Helm's default keyring" in verified["grafana"] and verified["prometheus"] == "none"


def test_the_old_images_list_gets_a_migration_message_at_its_add_on():
    from conftest import shop_config

    data = shop_config(observability={"grafana": {"images": ["docker.io/grafana/grafana:12.0.0@sha256:" + "a" * 64]}})
    with pytest.raises(ConfigError) as caught:
        parse_mesh(data)
    (problem,) = caught.value.problems
    assert problem.path == "mesh.observability.grafana"
    assert problem.message.startswith("images was replaced by imageDigests")
