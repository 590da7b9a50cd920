"""The real Pulumi engine, Python language host and Kubernetes provider in render mode (GitOps: YAML files, no
cluster), through the Automation API. tests/integration/test_cluster.py applies the same stack to a real API server."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from pulumi import automation as auto

from integration.conftest import edit_mesh, rendered_objects
from mesh_rollout.plan import object_key, plan
from mesh_rollout.spec import load_stack_file


def local_stack(project: Path, name: str = "local") -> auto.Stack:
    return auto.create_or_select_stack(stack_name=name, work_dir=str(project))


def comparable(manifest: dict) -> dict:
    """The fields this package sets (render mode may add its own annotations)."""
    meta = manifest["metadata"]
    return {"apiVersion": manifest["apiVersion"], "kind": manifest["kind"],
            "metadata": {k: meta[k] for k in ("name", "namespace", "labels") if k in meta},
            **({"spec": manifest["spec"]} if "spec" in manifest else {})}


def render_stack(project: Path) -> None:
    """The local stack's mesh in render mode (``renderDir``), as a GitOps user would configure it."""
    document = yaml.safe_load((project / "stacks" / "Pulumi.local.yaml").read_text())
    document["config"]["mesh-rollout:cluster"] = {"renderDir": "out/render"}
    (project / "stacks" / "Pulumi.render.yaml").write_text(yaml.safe_dump(document, sort_keys=False))


def test_render_mode_writes_the_plan_and_the_real_charts_then_no_changes_then_destroy(project):
    render_stack(project)
    stack = local_stack(project, "render")
    preview = stack.preview()
    assert preview.change_summary.get("create", 0) > 0

    up = stack.up()
    assert up.summary.result == "succeeded"
    manifests = rendered_objects(project / "out" / "render")
    rendered = {object_key(m): comparable(m) for m in manifests}
    expected = {item.key: comparable(item.manifest)
                for item in plan(load_stack_file(project / "stacks" / "Pulumi.render.yaml")).objects}
    assert {key: rendered.get(key) for key in expected} == expected
    # Istio's real charts and add-on manifests went through the engine too: CRDs, istiod, gateway, add-ons.
    crds = list((project / "out" / "render" / "0-crd").glob("*.yaml"))
    assert len(crds) >= 14
    deployments = {m["metadata"]["name"] for m in manifests if m["kind"] == "Deployment"}
    assert {"istiod-1-30-4", "ingress", "prometheus", "grafana", "jaeger", "kiali"} <= deployments

    again = stack.up()
    assert set(again.summary.resource_changes) == {"same"}

    edit_mesh(project, lambda mesh: mesh["services"]["catalog"]["traffic"].update(split={"v1": 80, "v2": 20}),
              stack="render")
    changed = stack.preview(diff=True)
    assert {k: v for k, v in changed.change_summary.items() if k != "same"} == {"update": 1}
    assert "replace" not in changed.change_summary
    # The same change in mesh terms, against the deployed state (what the CI workflow posts next to the preview).
    diff = subprocess.run([sys.executable, "-m", "mesh_rollout.diff", "--deployed", "render",
                           "stacks/Pulumi.render.yaml"], cwd=project, capture_output=True, text=True)
    assert diff.returncode == 1, diff.stdout + diff.stderr
    assert [line.strip() for line in diff.stdout.splitlines() if line.startswith("  ")] == [
        "~ shop/catalog: default: catalog.shop:v1 90%, catalog.shop:v2 10% -> catalog.shop:v1 80%, catalog.shop:v2 20%"]

    destroyed = stack.destroy()
    assert destroyed.summary.result == "succeeded"
    assert not stack.export_stack().deployment.get("resources")


def test_bad_config_fails_preview_with_the_path_precise_error(project):
    render_stack(project)
    edit_mesh(project, lambda mesh: mesh["services"]["catalog"]["traffic"].update(split={"v1": 90, "v3": 10}),
              stack="render")
    stack = local_stack(project, "render")
    with pytest.raises(auto.CommandError) as caught:
        stack.preview()
    text = str(caught.value)
    assert "mesh.services.catalog.traffic.split.v3" in text and "MR101" in text
    assert not (project / "out" / "render").exists()


CHART_YAML = "apiVersion: v2\nname: {name}\nversion: {version}\ntype: application\n"
CONFIG_MAP = textwrap.dedent("""\
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: {{ .Release.Name }}-values
      namespace: {{ .Release.Namespace }}
    data:
      chart: {{ .Chart.Name | quote }}
      values.json: {{ .Values | toJson | quote }}
    """)


def write_chart(root: Path, name: str, version: str) -> None:
    (root / name / "templates").mkdir(parents=True)
    (root / name / "Chart.yaml").write_text(CHART_YAML.format(name=name, version=version))
    (root / name / "templates" / "values.yaml").write_text(CONFIG_MAP)


def test_helm_charts_from_a_local_path_run_through_the_engine(project, tmp_path):
    charts = tmp_path / "charts"
    for name in ("base", "istiod", "gateway", "prometheus", "grafana", "jaeger", "kiali-server"):
        write_chart(charts, name, "1.30.4")
    local_repo = {"url": str(charts)}
    mesh = {
        "controlPlane": {"install": True, "charts": local_repo, "revisionTags": ["stable"],
                         "gateways": {"ingress": {"namespace": "istio-ingress"}}},
        "namespaces": {"shop": {}},
        "services": {"payment": {"namespace": "shop", "access": {"allowFrom": ["shop/order"]}},
                     "order": {"namespace": "shop"}},
        "observability": {addon: {"repository": local_repo} for addon in ("prometheus", "grafana", "jaeger", "kiali")},
    }
    document = {"config": {"mesh-rollout:cluster": {"renderDir": "out/charts"}, "mesh-rollout:mesh": mesh}}
    (project / "stacks" / "Pulumi.charts.yaml").write_text(yaml.safe_dump(document))
    stack = local_stack(project, "charts")
    stack.set_config("grafanaAdminPassword", auto.ConfigValue("integration-password", secret=True))
    up = stack.up()
    assert up.summary.result == "succeeded"

    objects = rendered_objects(project / "out" / "charts")
    values = {m["metadata"]["name"]: m for m in objects if m["kind"] == "ConfigMap"}
    assert set(values) == {"istio-base-values", "istiod-values", "ingress-values", "prometheus-values",
                           "grafana-values", "jaeger-values", "kiali-values"}
    import json
    istiod = json.loads(values["istiod-values"]["data"]["values.json"])
    assert istiod["revision"] == "1-30-4" and istiod["revisionTags"] == ["stable"]
    assert json.loads(values["istio-base-values"]["data"]["values.json"])["base"] == {"validationFailurePolicy": "Fail"}
    assert values["ingress-values"]["metadata"]["namespace"] == "istio-ingress"
    kiali = json.loads(values["kiali-values"]["data"]["values.json"])
    assert kiali["external_services"]["prometheus"]["url"].startswith("http://prometheus.")
    kinds = {m["kind"] for m in objects}
    assert {"Namespace", "PeerAuthentication", "AuthorizationPolicy", "Telemetry"} <= kinds
    # Secrets from secret config are not rendered by default (a file would hold them in base64); the preview says
    # which one to create and how.
    assert "Secret" not in kinds
    assert "integration-password" not in "".join(p.read_text() for p in (project / "out" / "charts").rglob("*.yaml"))
    assert "Secret istio-system/grafana-admin is not rendered" in up.stdout
    assert "kubectl create secret generic grafana-admin -n istio-system" in up.stdout

    # Asked for (cluster.renderSecrets), the Secret is written, with a warning that says so.
    stack_file = project / "stacks" / "Pulumi.charts.yaml"
    document = yaml.safe_load(stack_file.read_text())  # now also holds the encrypted password and its salt
    document["config"]["mesh-rollout:cluster"]["renderSecrets"] = True
    stack_file.write_text(yaml.safe_dump(document))
    up = stack.up()
    assert "grafanaAdminPassword will be written to out/charts in base64" in up.stdout
    objects = rendered_objects(project / "out" / "charts")
    secret = next(m for m in objects if m["kind"] == "Secret")
    import base64
    assert base64.b64decode(secret["data"]["admin-password"]).decode() == "integration-password"
    # In state the password stays a secret.
    outputs = stack.export_stack().deployment["resources"]
    state_secret = next(r for r in outputs if r["type"] == "kubernetes:core/v1:Secret")
    assert "integration-password" not in json.dumps(state_secret)
