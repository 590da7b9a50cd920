"""The policy pack (policy/) under the real engine: the local stack passes it, a violation fails the preview."""

from __future__ import annotations

import shutil

import pytest
import yaml
from pulumi import automation as auto

from conftest import ROOT


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


def test_mesh_wide_plaintext_is_refused_by_the_policy_pack(project, monkeypatch):
    monkeypatch.setenv("MESH_ROLLOUT_POLICY_PYTHON", str(ROOT / ".venv" / "bin" / "python"))
    path = project / "stacks" / "Pulumi.local.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"]["mesh-rollout:mesh"]["mtls"] = {"mode": "DISABLE"}
    path.write_text(yaml.safe_dump(document))
    stack = stack_with_pack(project)
    with pytest.raises(auto.CommandError) as caught:
        stack.preview(policy_packs=[launcher(project)])
    assert "no-mesh-wide-plaintext" in str(caught.value)
