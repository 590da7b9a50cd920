"""Fixtures for tests that drive the real Pulumi engine (Automation API) and istioctl.

The tools come from scripts/install-tools.sh (scripts/test.sh puts them on PATH). A missing tool fails these tests,
it does not skip them; MESH_ROLLOUT_SKIP_INTEGRATION=1 skips them explicitly (e.g. a quick local run).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from conftest import ROOT

COPIED = ("Pulumi.yaml", "__main__.py", "components", "stacks")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def tools():
    """Paths of the real tools, failing loudly when one is missing."""
    if os.environ.get("MESH_ROLLOUT_SKIP_INTEGRATION") == "1":
        pytest.skip("MESH_ROLLOUT_SKIP_INTEGRATION=1")
    found = {name: shutil.which(name) for name in ("pulumi", "pulumi-language-python", "pulumi-resource-kubernetes",
                                                    "istioctl")}
    missing = [name for name, path in found.items() if path is None]
    assert not missing, f"not on PATH: {missing}; run scripts/install-tools.sh (scripts/test.sh does)"
    return found


@pytest.fixture()
def project(tmp_path, tools, monkeypatch):
    """A throwaway copy of the Pulumi project with its own file backend, sharing the repo's venv."""
    work = tmp_path / "project"
    work.mkdir()
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, work / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, work / name)
    for stack_file in (work / "stacks").glob("Pulumi.*.yaml"):
        # A committed salt belongs to another passphrase; the throwaway backend makes its own.
        text = stack_file.read_text()
        stack_file.write_text("\n".join(line for line in text.splitlines() if not line.startswith("encryptionsalt:")))
    (work / ".venv").symlink_to(ROOT / ".venv")
    state = tmp_path / "state"
    state.mkdir()
    # Render mode refuses a KUBECONFIG from the environment (pulumi-kubernetes #4399).
    monkeypatch.delenv("KUBECONFIG", raising=False)
    env = {
        "PULUMI_BACKEND_URL": f"file://{state}",
        "PULUMI_CONFIG_PASSPHRASE": "integration-tests",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    # The language host built here predates Pulumi.yaml's `virtualenv` option in some versions: also put the venv
    # first on PATH, as scripts/bootstrap.sh does.
    monkeypatch.setenv("PATH", f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("VIRTUAL_ENV", str(ROOT / ".venv"))
    return work


def rendered_objects(directory: Path) -> list[dict]:
    """Every object pulumi-kubernetes' render mode wrote under ``directory``."""
    import yaml

    objects = []
    for path in sorted(directory.rglob("*.yaml")):
        objects.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return objects
