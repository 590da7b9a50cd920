"""Deploy-time pinning (image digests in chart values, shipped dashboards) and the SBOM of a stack.

Digests here are syntactically valid placeholders: no registry is reachable where these tests run.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from mesh_rollout.checks import run_checks
from mesh_rollout.plan import plan
from mesh_rollout.plan.images import Image, control_plane_images
from mesh_rollout.sbom import image_purl, manifest_images, sbom
from mesh_rollout.show import main as show_main
from mesh_rollout.spec import ConfigError, load_stack_file, parse_mesh
from mesh_rollout.spec.observability import SHIPPED_DASHBOARDS

ROOT = Path(__file__).resolve().parent.parent
PILOT, PROXY, CNI, ZTUNNEL = ("sha256:" + c * 64 for c in "1234")
CHARTS = {"url": "https://charts.example.com/istio"}


def test_digests_become_whole_image_references_in_the_chart_values() -> None:
    spec = parse_mesh({"controlPlane": {"charts": CHARTS, "ambient": True, "imageDigests": {
        "pilot": PILOT, "proxyv2": PROXY, "install-cni": CNI, "ztunnel": ZTUNNEL}}})
    control_plane = plan(spec).control_plane
    istiod = control_plane.release("istiod").values
    # The istiod chart and the injection templates take a value containing "/" as the whole image reference.
    assert istiod["image"] == f"docker.io/istio/pilot:1.30.4@{PILOT}"
    assert istiod["global"]["proxy"]["image"] == f"docker.io/istio/proxyv2:1.30.4@{PROXY}"
    assert istiod["global"]["proxy_init"]["image"] == f"docker.io/istio/proxyv2:1.30.4@{PROXY}"
    assert control_plane.release("istio-cni").values["image"] == f"docker.io/istio/install-cni:1.30.4@{CNI}"
    assert control_plane.release("ztunnel").values["image"] == f"docker.io/istio/ztunnel:1.30.4@{ZTUNNEL}"


def test_the_real_charts_take_those_values_as_whole_references() -> None:
    charts = Path.home() / ".cache/mesh-rollout/istio-1.30.4/charts"
    if not charts.is_dir():
        pytest.skip("Istio's charts are not installed (scripts/install-tools.sh)")
    for template in ("istiod/templates/deployment.yaml", "cni/templates/daemonset.yaml",
                     "ztunnel/templates/daemonset.yaml"):
        assert 'if contains "/" .Values.image' in (charts / template).read_text()
    injection = (charts / "istiod/files/injection-template.yaml").read_text()
    assert ("contains \"/\" (annotation .ObjectMeta `sidecar.istio.io/proxyImage` .Values.global.proxy.image)"
            in injection)


def test_without_digests_values_are_unchanged() -> None:
    istiod = plan(parse_mesh({"controlPlane": {"charts": CHARTS}})).control_plane.release("istiod").values
    assert "image" not in istiod and "proxy_init" not in istiod["global"]
    assert "image" not in istiod["global"].get("proxy", {})


def test_revisions_carry_their_own_digests() -> None:
    spec = parse_mesh({"controlPlane": {"charts": CHARTS, "revisions": {
        "1-29-2": {"version": "1.29.2", "imageDigests": {"pilot": PILOT}},
        "1-30-4": {"version": "1.30.4", "imageDigests": {"pilot": PROXY, "proxyv2": PROXY}}}}})
    releases = plan(spec).control_plane
    assert releases.release("istiod-1-29-2").values["image"] == f"docker.io/istio/pilot:1.29.2@{PILOT}"
    assert releases.release("istiod-1-30-4").values["image"] == f"docker.io/istio/pilot:1.30.4@{PROXY}"
    unpinned = [(i.config_path, i.reference) for i in control_plane_images(spec.control_plane) if not i.pinned]
    assert unpinned == [(("controlPlane", "revisions", "1-29-2", "imageDigests", "proxyv2"),
                         "docker.io/istio/proxyv2:1.29.2")]


@pytest.mark.parametrize(("control_plane", "message"), [
    ({"imageDigests": {"pilot": "sha256:abc"}}, "64 lower-case hex"),
    ({"imageDigests": {"pilot": "1.30.4"}}, "sha256:"),
    ({"imageDigests": {"envoy": PILOT}}, "imageDigests"),
    ({"revisions": {"a": {"version": "1.30.4"}}, "imageDigests": {"pilot": PILOT}}, "revisions.<name>.imageDigests"),
    ({"revisions": {"a": {"version": "1.30.4", "imageDigests": {"ztunnel": PILOT}}}}, "controlPlane.imageDigests"),
])
def test_bad_digests_are_refused(control_plane: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_mesh({"controlPlane": {"charts": CHARTS, **control_plane}})
    assert message in str(error.value)


def test_prod_stack_passes_the_pinning_checks() -> None:
    findings = run_checks(load_stack_file(ROOT / "stacks/Pulumi.prod.yaml"))
    assert not [f for f in findings if f.code in ("MR240", "MR241")]


def test_dev_stack_is_not_production_and_may_use_tags() -> None:
    findings = run_checks(load_stack_file(ROOT / "stacks/Pulumi.dev.yaml"))
    assert not [f for f in findings if f.code in ("MR240", "MR241")]


# --- shipped dashboards ------------------------------------------------------------------------------------------

def test_dashboards_ship_with_the_package_and_match_their_manifest() -> None:
    folder = ROOT / "components" / "dashboards"
    readme = (folder / "README.md").read_text()
    assert "1.30.4" in readme
    for name, file in SHIPPED_DASHBOARDS.items():
        data = (folder / file).read_bytes()
        json.loads(data)
        assert re.search(rf"\| {re.escape(name)} \| {re.escape(file)} \| {hashlib.sha256(data).hexdigest()} \|",
                         readme), f"README.md table out of date for {file}"
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"dashboards/*.json"' in pyproject


def test_grafana_gets_shipped_dashboards_and_gnet_ids_only_on_request() -> None:
    spec = parse_mesh({"controlPlane": {"install": False}, "observability": {"grafana": {
        "dashboards": ["istio-mesh"], "gnetDashboards": {"node-exporter": 1860}}}})
    values = plan(spec).observability.release("grafana").values["dashboards"]["istio"]
    assert json.loads(values["istio-mesh"]["json"])["title"] == "Istio Mesh Dashboard"
    assert values["node-exporter"] == {"gnetId": 1860, "datasource": "Prometheus"}
    assert set(values) == {"istio-mesh", "node-exporter"}


@pytest.mark.parametrize(("grafana", "message"), [
    ({"dashboards": ["istio-nope"]}, "no shipped dashboard istio-nope"),
    ({"dashboards": ["istio-mesh"], "gnetDashboards": {"istio-mesh": 7639}}, "both shipped"),
])
def test_bad_dashboards_are_refused(grafana: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_mesh({"controlPlane": {"install": False}, "observability": {"grafana": grafana}})
    assert message in str(error.value)


# --- SBOM --------------------------------------------------------------------------------------------------------

def _prod_sbom(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    assert show_main([str(ROOT / "stacks/Pulumi.prod.yaml"), "--sbom"]) == 0
    document: dict[str, object] = json.loads(capsys.readouterr().out)
    return document


def test_sbom_of_prod_lists_charts_images_and_dashboards(capsys: pytest.CaptureFixture[str]) -> None:
    document = _prod_sbom(capsys)
    assert document["bomFormat"] == "CycloneDX" and document["specVersion"] == "1.5"
    components = document["components"]
    assert isinstance(components, list)
    charts = {(c["name"], c["version"]) for c in components if c["type"] == "application"}
    assert {("base", "1.30.4"), ("istiod", "1.30.4"), ("gateway", "1.30.4"), ("prometheus", "27.39.0"),
            ("grafana", "9.4.5"), ("jaeger", "3.4.1"), ("kiali-server", "2.17.0")} == charts
    istiod = next(c for c in components if c["name"] == "istiod")
    assert istiod["externalReferences"] == [{"type": "distribution",
                                            "url": "oci://registry.internal.example.com/istio-charts"}]
    images = {c["name"]: c for c in components if c["type"] == "container"}
    pilot = images["istio/pilot"]
    digest = "1" * 64
    assert pilot["version"] == "1.30.4"
    assert pilot["hashes"] == [{"alg": "SHA-256", "content": digest}]
    assert pilot["purl"] == (f"pkg:oci/pilot@sha256%3A{digest}?repository_url=docker.io/istio/pilot&tag=1.30.4")
    assert {"name": "mesh-rollout:reference", "value": f"docker.io/istio/pilot:1.30.4@sha256:{digest}"} in (
        pilot["properties"])
    assert "istio/proxyv2" in images
    dashboards = {c["name"]: c for c in components if c["type"] == "data"}
    assert set(dashboards) == set(SHIPPED_DASHBOARDS)
    assert all(c["version"] == "1.30.4" and c["hashes"] for c in dashboards.values())


def test_sbom_of_an_unpinned_stack_names_tags(capsys: pytest.CaptureFixture[str]) -> None:
    assert show_main([str(ROOT / "stacks/Pulumi.dev.yaml"), "--sbom"]) == 0
    components = json.loads(capsys.readouterr().out)["components"]
    pilot = next(c for c in components if c["name"] == "istio/pilot")
    assert "hashes" not in pilot
    assert pilot["purl"].startswith("pkg:docker/istio/pilot@")
    assert {"name": "mesh-rollout:pinned", "value": "false"} in pilot["properties"]


def test_sbom_reads_images_out_of_manifest_files(tmp_path: Path) -> None:
    manifest = tmp_path / "grafana.yaml"
    manifest.write_text("apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n"
                        "      initContainers: [{name: init, image: busybox:1.36}]\n"
                        "      containers: [{name: grafana, image: 'docker.io/grafana/grafana:12.0.1'}]\n")
    assert manifest_images(str(manifest)) == ["busybox:1.36", "docker.io/grafana/grafana:12.0.1"]
    assert manifest_images(str(tmp_path / "missing.yaml")) == []
    spec = parse_mesh({"controlPlane": {"install": False}, "observability": {"grafana": {"manifest": str(manifest)},
                       "prometheus": {"enabled": False}, "kiali": {"enabled": False},
                       "jaeger": {"enabled": False}}})
    document = sbom(spec, plan(spec))
    names = {c["name"] for c in document["components"]}
    assert {"grafana", "busybox", "grafana/grafana"} <= names


@pytest.mark.parametrize(("reference", "name", "tag", "purl"), [
    ("busybox:1.36", "busybox", "1.36", "pkg:docker/busybox@1.36?repository_url=docker.io"),
    ("quay.io/kiali/kiali:v2.26", "kiali/kiali", "v2.26", "pkg:docker/kiali/kiali@v2.26?repository_url=quay.io"),
    ("localhost:5000/x/y", "x/y", None, "pkg:docker/x/y@latest?repository_url=localhost%3A5000"),
])
def test_image_names_and_purls(reference: str, name: str, tag: str | None, purl: str) -> None:
    image = Image(reference, "test", ())
    assert (image.name, image.tag, image_purl(reference)) == (name, tag, purl)
