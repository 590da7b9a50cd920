"""`python -m mesh_rollout.show`: what a stack file creates, without Pulumi."""

import subprocess
import sys

import yaml

from conftest import ROOT
from mesh_rollout.plan import plan
from mesh_rollout.spec import load_stack_file


def show(*args):
    return subprocess.run([sys.executable, "-m", "mesh_rollout.show", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def test_prints_the_plan_of_a_stack_as_yaml():
    result = show("stacks/Pulumi.prod.yaml")
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load(result.stdout) == plan(load_stack_file(ROOT / "stacks" / "Pulumi.prod.yaml")).to_dict()


def test_one_concern_and_summary():
    traffic = yaml.safe_load(show("stacks/Pulumi.dev.yaml", "--concern", "traffic").stdout)
    assert list(traffic) == ["traffic"]
    assert {o["kind"] for o in traffic["traffic"]["objects"]} == {"DestinationRule", "VirtualService", "Gateway"}
    summary = show("stacks/Pulumi.prod.yaml", "--summary").stdout
    assert "control_plane: 2 Namespace, chart oci://registry.internal.example.com/istio-charts/base@1.30.4" in summary
    assert "Secret grafana-admin (from secret config)" in summary


def test_bad_config_and_check_errors_exit_2_with_paths(tmp_path):
    bad = tmp_path / "Pulumi.bad.yaml"
    bad.write_text(yaml.safe_dump({"config": {"mesh-rollout:mesh": {
        "controlPlane": {"install": False}, "namespaces": {"shop": {}},
        "services": {"catalog": {"namespace": "shop", "versions": {"v1": {}},
                                 "traffic": {"split": {"v1": 50, "v9": 50}}}}}}}))
    result = show(str(bad))
    assert result.returncode == 2
    assert "error: mesh.services.catalog.traffic.split.v9:" in result.stderr and "[MR101]" in result.stderr
    assert result.stdout == ""
    typo = tmp_path / "Pulumi.typo.yaml"
    typo.write_text(yaml.safe_dump({"config": {"mesh-rollout:mesh": {"controlPlane": {"instal": False}}}}))
    result = show(str(typo))
    assert result.returncode == 2 and "mesh.controlPlane.instal: unknown key" in result.stderr
