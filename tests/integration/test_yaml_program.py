"""mesh-rollout from another Pulumi language, on the real engine: the component provider (provider/) serving the
schema generated from the models, and the Pulumi YAML program in examples/yaml run by the real YAML language host
(pulumi-language-yaml, built from tools/yaml)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from conftest import ROOT
from integration.conftest import rendered_objects
from integration.test_engine import comparable
from mesh_rollout.plan import object_key, plan
from mesh_rollout.provider import schema, sorted_keys
from mesh_rollout.spec import parse_mesh

PLUGIN = ROOT / "provider" / "pulumi-resource-mesh-rollout"
EXAMPLE = ROOT / "examples" / "yaml" / "Pulumi.yaml"


@pytest.fixture()
def engine(tools, tmp_path, monkeypatch) -> dict[str, str]:
    """A throwaway file backend; the YAML host and the repo's venv on PATH (the plugin runs with the venv)."""
    assert shutil.which("pulumi-language-yaml"), \
        "pulumi-language-yaml not on PATH; run scripts/install-tools.sh language-yaml (scripts/test.sh does)"
    state = tmp_path / "state"
    state.mkdir()
    monkeypatch.delenv("KUBECONFIG", raising=False)  # render mode refuses one
    return {**os.environ, "PULUMI_BACKEND_URL": f"file://{state}", "PULUMI_CONFIG_PASSPHRASE": "yaml-tests",
            "PULUMI_SKIP_UPDATE_CHECK": "true", "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}"}


def pulumi(env: dict[str, str], cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["pulumi", *args, "--non-interactive"], cwd=cwd, env=env, capture_output=True,
                            text=True, timeout=600)
    if check:
        assert result.returncode == 0, f"pulumi {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


def yaml_program(tmp_path: Path, change=None) -> tuple[Path, dict]:
    """examples/yaml copied to ``tmp_path`` (its package path made absolute), optionally edited by ``change``."""
    program = yaml.safe_load(EXAMPLE.read_text())
    program["packages"]["mesh-rollout"] = str(ROOT / "provider")
    if change:
        change(program)
    work = tmp_path / "program"
    work.mkdir()
    (work / "Pulumi.yaml").write_text(yaml.safe_dump(program, sort_keys=False))
    return work, program


def test_the_engine_loads_the_plugin_and_its_schema_is_a_valid_pulumi_package(engine, tmp_path):
    served = json.loads(pulumi(engine, tmp_path, "package", "get-schema", str(PLUGIN)).stdout)
    assert served.pop("config") == {}  # the engine's bound schema adds an empty config section
    assert served == schema()
    # Pulumi's own metaschema (in the pulumi/pkg module tools/pulumi builds from, so in the module cache).
    found = subprocess.run(["go", "mod", "download", "-json", "github.com/pulumi/pulumi/pkg/v3"],
                           cwd=ROOT / "tools" / "pulumi", capture_output=True, text=True,
                           env={**os.environ, "GOFLAGS": "-mod=readonly", "GOTOOLCHAIN": "local"})
    assert found.returncode == 0, found.stderr
    text = (Path(json.loads(found.stdout)["Dir"]) / "codegen/schema/pulumi.json").read_text()
    # Its patterns name groups the ECMA/Go way, (?<name>...); Python's re spells that (?P<name>...).
    metaschema = json.loads(text.replace("(?<", "(?P<"))
    jsonschema.Draft202012Validator(metaschema).validate(served)


def test_yaml_program_renders_what_the_plan_holds(engine, tmp_path):
    work, program = yaml_program(tmp_path)
    pulumi(engine, work, "stack", "init", "test")
    pulumi(engine, work, "config", "set", "renderDir", str(tmp_path / "rendered"))
    up = pulumi(engine, work, "up", "--yes")
    assert "mesh-rollout:index:Mesh" in up.stdout
    assert "[MR" not in up.stdout, "the example should pass every check without a warning"

    # Mapping order does not survive Pulumi's wire format; the provider sorts keys (see sorted_keys).
    spec = parse_mesh(sorted_keys(program["resources"]["mesh"]["properties"]["spec"]))
    expected = {item.key: comparable(item.manifest) for item in plan(spec, nodeless=True).objects}
    rendered = {object_key(m): comparable(m) for m in rendered_objects(tmp_path / "rendered")}
    assert expected and rendered == expected

    outputs = json.loads(pulumi(engine, work, "stack", "output", "--json").stdout)
    assert outputs["rootNamespace"] == "istio-system"
    routes = [item.manifest for item in plan(spec, nodeless=True).objects if item.manifest["kind"] == "VirtualService"]
    assert routes and outputs["hosts"] == {r["metadata"]["name"]: r["spec"]["hosts"][0] for r in routes}
    again = pulumi(engine, work, "preview", "--diff")
    assert "to create" not in again.stdout and "to update" not in again.stdout, again.stdout


def test_a_bad_property_fails_the_preview_at_its_path_before_anything_is_created(engine, tmp_path):
    def undefined_subset(program: dict) -> None:
        services = program["resources"]["mesh"]["properties"]["spec"]["services"]
        services["payment"]["traffic"]["split"] = {"v1": 90, "v3": 10}

    work, _ = yaml_program(tmp_path, undefined_subset)
    pulumi(engine, work, "stack", "init", "test")
    pulumi(engine, work, "config", "set", "renderDir", str(tmp_path / "rendered"))
    preview = pulumi(engine, work, "preview", check=False)
    output = preview.stdout + preview.stderr
    assert preview.returncode != 0
    assert "invalid Mesh inputs" in output
    # The engine prints each property error as "property <path> with value '<value>' has a problem: <reason>".
    assert re.search(r"property spec\.services\.payment\.traffic\.split\.v3 .*has a problem: routes to version "
                     r"'v3', which this service does not define.*\[MR101\]", output), output
    assert not (tmp_path / "rendered").exists()


def test_the_yaml_host_type_checks_properties_against_the_schema(engine, tmp_path):
    """A misspelt key is caught by the YAML language host from the schema, before the provider runs."""
    def misspelt(program: dict) -> None:
        program["resources"]["mesh"]["properties"]["spec"]["servicez"] = {}

    work, _ = yaml_program(tmp_path, misspelt)
    pulumi(engine, work, "stack", "init", "test")
    preview = pulumi(engine, work, "preview", check=False)
    output = preview.stdout + preview.stderr
    assert preview.returncode != 0
    assert "servicez" in output and "MeshSpec" in output, output
