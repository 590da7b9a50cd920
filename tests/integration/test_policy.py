"""The policy pack (policy/) under the real engine: the local stack passes it, a violation fails the preview."""

from __future__ import annotations

import shutil

import pytest
from pulumi import automation as auto

from conftest import ROOT
from integration.conftest import edit_mesh


def stack_with_pack(project):
    shutil.copytree(ROOT / "policy", project / "policy", ignore=shutil.ignore_patterns("venv", "__pycache__"))
    return auto.create_or_select_stack(stack_name="local", work_dir=str(project))


def launcher(project) -> str:
    return str(project / "policy" / "run-policy-pack")


def test_local_stack_passes_the_policy_pack(project, monkeypatch):
    monkeypatch.setenv("MESH_ROLLOUT_POLICY_PYTHON", str(ROOT / ".venv" / "bin" / "python"))
    stack = stack_with_pack(project)
    result = stack.preview(policy_packs=[launcher(project)])
    assert result.change_summary.get("create", 0) > 0


def violations(project, monkeypatch) -> str:
    monkeypatch.setenv("MESH_ROLLOUT_POLICY_PYTHON", str(ROOT / ".venv" / "bin" / "python"))
    stack = stack_with_pack(project)
    with pytest.raises(auto.CommandError) as caught:
        stack.preview(policy_packs=[launcher(project)])
    return str(caught.value)


@pytest.mark.parametrize("namespace", ["istio-system", "mesh-system"])
def test_mesh_wide_plaintext_is_refused_in_whatever_the_root_namespace_is(project, monkeypatch, namespace):
    def change(mesh):
        mesh["mtls"] = {"mode": "DISABLE"}
        mesh["controlPlane"]["namespace"] = namespace
        mesh["observability"] = None  # Istio's sample add-on manifests are made for istio-system

    edit_mesh(project, change)
    text = violations(project, monkeypatch)
    assert "no-mesh-wide-plaintext" in text and f"without selector in {namespace}" in text


def test_production_rules_refuse_what_the_checks_only_warn_about(project, monkeypatch):
    def change(mesh):
        mesh["production"] = True
        mesh["allowMutableTags"] = True  # no registry to resolve image digests here (MR240/MR241 would stop it)
        mesh["mtls"] = {"mode": "STRICT", "namespaces": {"shop": "PERMISSIVE"}}
        mesh["services"]["payment"]["traffic"].pop("fault")  # a fault in production is a check error (MR122)

    edit_mesh(project, change)
    text = violations(project, monkeypatch)
    assert "production-strict-mtls" in text and "PeerAuthentication shop/default sets mode PERMISSIVE" in text
