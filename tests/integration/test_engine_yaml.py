"""The real engine is the oracle for mesh_rollout.spec.engine_yaml: every snippet in tests/yaml_cases.py is written
into a stack file, read back with `pulumi config --json` (what the program receives), and compared with our
loader. Snippets the engine refuses must be refused by both."""

from __future__ import annotations

import json
import re
import subprocess
import textwrap
from pathlib import Path

import pytest

from mesh_rollout.spec import UnreadableFile, read_stack_file
from yaml_cases import ACCEPTED, REFUSED


@pytest.fixture(scope="module")
def engine_project(tools, tmp_path_factory):
    """An empty Pulumi project with a file backend and one stack, driven by the pulumi CLI."""
    root = tmp_path_factory.mktemp("engine-yaml")
    (root / "state").mkdir()
    (root / "Pulumi.yaml").write_text("name: mesh-rollout\nruntime: python\n")
    env = {"PULUMI_BACKEND_URL": f"file://{root / 'state'}", "PULUMI_CONFIG_PASSPHRASE": "engine-yaml",
           "PULUMI_SKIP_UPDATE_CHECK": "true", "PATH": str(Path(tools["pulumi"]).parent) + ":/usr/bin:/bin",
           "HOME": str(root)}
    subprocess.run([tools["pulumi"], "stack", "init", "t", "--non-interactive"], cwd=root, env=env, check=True,
                   capture_output=True)

    def engine_reads(snippet: str) -> subprocess.CompletedProcess:
        (root / "Pulumi.t.yaml").write_text("config:\n  mesh-rollout:mesh:\n" + textwrap.indent(snippet, "    "))
        return subprocess.run([tools["pulumi"], "config", "--json", "--stack", "t"], cwd=root, env=env,
                              capture_output=True, text=True)

    engine_reads.env = env  # type: ignore[attr-defined]
    return root, engine_reads


@pytest.mark.parametrize("case", sorted(ACCEPTED))
def test_our_loader_reads_what_the_engine_hands_the_program(engine_project, case):
    root, engine_reads = engine_project
    snippet, expected = ACCEPTED[case]
    result = engine_reads(snippet)
    assert result.returncode == 0, result.stderr
    # The program gets the "value" string and json-decodes it (pulumi.Config.get_object).
    engine = json.loads(json.loads(result.stdout)["mesh-rollout:mesh"]["value"])
    ours = read_stack_file(root / "Pulumi.t.yaml")["mesh"]
    assert ours == engine == expected
    assert {k: type(v) for k, v in ours.items()} == {k: type(v) for k, v in engine.items()}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_what_the_engine_refuses_our_loader_refuses(engine_project, case):
    root, engine_reads = engine_project
    snippet, reason = REFUSED[case]
    result = engine_reads(snippet)
    assert result.returncode != 0, f"the engine accepted {snippet!r}: {result.stdout}"
    with pytest.raises(UnreadableFile) as raised:
        read_stack_file(root / "Pulumi.t.yaml")
    # Line numbers differ by the two lines the snippet is indented under.
    assert re.sub(r"line [0-9]+", "line N", reason) in re.sub(r"line [0-9]+", "line N", str(raised.value))


def test_the_engine_reads_only_the_first_document_which_is_why_we_refuse_several(engine_project):
    root, engine_reads = engine_project
    engine_reads("environment: first\n")
    with (root / "Pulumi.t.yaml").open("a") as file:
        file.write("---\nconfig:\n  mesh-rollout:mesh: {environment: second}\n")
    result = subprocess.run(["pulumi", "config", "--json", "--stack", "t"], cwd=root, capture_output=True, text=True,
                            env=engine_reads.env)
    assert result.returncode == 0, result.stderr
    assert json.loads(json.loads(result.stdout)["mesh-rollout:mesh"]["value"]) == {"environment": "first"}
    with pytest.raises(UnreadableFile, match="several YAML documents"):
        read_stack_file(root / "Pulumi.t.yaml")
