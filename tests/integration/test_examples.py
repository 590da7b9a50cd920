"""examples/platform and examples/app-team on the real Pulumi engine (Automation API, file backend, render mode: no
cluster): the app team's StackReference reads the platform stack's published facts, and the checks span both."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml
from pulumi import automation as auto

from conftest import ROOT
from integration.conftest import rendered_objects
from mesh_rollout.plan import object_key


@pytest.fixture()
def examples(tmp_path: Path, tools, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A throwaway copy of examples/ (platform and app-team) next to a link to the repo's venv, as their
    Pulumi.yaml expects (``../../.venv``), with its own file backend."""
    work = tmp_path / "repo"
    for project in ("platform", "app-team"):
        shutil.copytree(ROOT / "examples" / project, work / "examples" / project,
                        ignore=shutil.ignore_patterns("__pycache__", "out"))
    (work / ".venv").symlink_to(ROOT / ".venv")
    state = tmp_path / "state"
    state.mkdir()
    # Render mode refuses a KUBECONFIG from the environment (pulumi-kubernetes #4399).
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{state}")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "integration-tests")
    monkeypatch.setenv("PULUMI_SKIP_UPDATE_CHECK", "true")
    monkeypatch.setenv("PATH", f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("VIRTUAL_ENV", str(ROOT / ".venv"))
    return work / "examples"


def stack(examples: Path, project: str) -> auto.Stack:
    return auto.create_or_select_stack(stack_name="dev", work_dir=str(examples / project))


def edit_services(examples: Path, change) -> None:
    path = examples / "app-team" / "Pulumi.dev.yaml"
    document = yaml.safe_load(path.read_text())
    change(document["config"]["app-team:services"])
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def test_app_team_stack_reads_the_platform_stack_and_renders_its_routing_and_access(examples, istio_schemas):
    platform = stack(examples, "platform")
    assert platform.up().summary.result == "succeeded"
    published = platform.outputs()["platformFacts"].value
    assert published["gateways"]["ingress"]["namespace"] == "istio-ingress"
    platform_objects = {object_key(m) for m in rendered_objects(examples / "platform" / "out" / "render")}
    assert {"Gateway/istio-ingress/ingress", "ResourceQuota/payments/team-quota"} <= platform_objects

    app = stack(examples, "app-team")
    preview = app.preview()
    assert preview.change_summary.get("create", 0) > 0
    up = app.up()
    assert up.summary.result == "succeeded"
    objects = {object_key(m): m for m in rendered_objects(examples / "app-team" / "out" / "render")}
    assert set(objects) == {"Gateway/payments/ingress", "DestinationRule/payments/payment",
                            "VirtualService/payments/payment", "AuthorizationPolicy/payments/payment-allow"}
    for manifest in objects.values():
        assert istio_schemas.errors(manifest) == [], object_key(manifest)
    assert objects["Gateway/payments/ingress"]["spec"]["selector"] == {"istio": "ingress"}
    assert objects["Gateway/payments/ingress"]["spec"]["servers"][1]["tls"]["credentialName"] == \
        "wildcard-example-com"
    assert objects["VirtualService/payments/payment"]["spec"]["gateways"] == ["payments/ingress", "mesh"]
    assert objects["AuthorizationPolicy/payments/payment-allow"]["spec"]["rules"] == [{"from": [{"source": {
        "principals": ["cluster.local/ns/istio-ingress/sa/ingress", "cluster.local/ns/shop/sa/order"]}}]}]
    assert up.outputs["policies"].value == ["payments/payment-allow"]


def test_a_caller_the_platform_does_not_publish_fails_the_app_teams_preview(examples):
    assert stack(examples, "platform").up().summary.result == "succeeded"
    edit_services(examples, lambda services: services["payment"]["access"].update(allowFrom=["shop/reporting"]))
    app = stack(examples, "app-team")
    with pytest.raises(auto.CommandError) as caught:
        app.preview()
    text = str(caught.value)
    assert "services.payment.access.allowFrom.0: caller shop/reporting matches no workload" in text
    assert "[MR140]" in text
    assert "platform: the platform stack publishes namespaces payments (sidecar), shop (sidecar)" in text
    assert not (examples / "app-team" / "out").exists()
