"""The package users install: named `mesh_rollout` (its source is components/), with an explicit, typed public API."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import textwrap
import tomllib
import zipfile

import mesh_rollout
from conftest import ROOT

SOURCE = ROOT / "components"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def subpackages() -> set[str]:
    """``mesh_rollout`` and every directory below components/ that holds an ``__init__.py``, as import names."""
    return {".".join(("mesh_rollout", *init.parent.relative_to(SOURCE).parts)) for init in SOURCE.rglob("__init__.py")
            if "__pycache__" not in init.parts}


def test_pyproject_maps_every_subpackage_of_components_onto_mesh_rollout():
    setuptools = PYPROJECT["tool"]["setuptools"]
    assert setuptools["package-dir"] == {"mesh_rollout": "components"}
    assert set(setuptools["packages"]) == subpackages()
    assert setuptools["package-data"] == {"mesh_rollout": ["py.typed", "dashboards/*.json", "dashboards/README.md"]}
    assert (SOURCE / "py.typed").is_file() and list((SOURCE / "dashboards").glob("*.json"))


def test_the_public_api_is_explicit():
    """Plain imports and a literal ``__all__`` tuple (so type checkers and IDEs see every name), no lazy
    ``__getattr__``; every name in ``__all__`` exists."""
    for init in sorted(SOURCE.rglob("__init__.py")):
        tree = ast.parse(init.read_text())
        assert not any(isinstance(node, ast.FunctionDef) and node.name in ("__getattr__", "__dir__")
                       for node in tree.body), init
        declared = [node for node in tree.body if isinstance(node, ast.Assign)
                    and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)]
        assert len(declared) == 1, f"{init}: no __all__"
        value = declared[0].value
        assert isinstance(value, ast.Tuple) and all(isinstance(e, ast.Constant) for e in value.elts), \
            f"{init}: __all__ is not a literal tuple"
    assert isinstance(mesh_rollout.__all__, tuple)
    assert [name for name in mesh_rollout.__all__ if not hasattr(mesh_rollout, name)] == []
    assert {"Mesh", "MeshArgs", "Traffic", "TrafficArgs", "Access", "AccessArgs", "ConfigError",
            "parse_mesh"} <= set(mesh_rollout.__all__)


#: `components` as an import name or a `python -m` module: the package is `mesh_rollout` everywhere.
OLD_NAME = re.compile(r"^\s*(from|import)\s+components\b|-m\s+components\.|\"-m\",\s*\"components\.", re.MULTILINE)


def test_nothing_imports_or_runs_the_package_under_its_directory_name():
    """With the repository root on sys.path (``python -m pytest`` from it, ``pulumi up`` in it) ``components`` would
    import, as a second copy of the package whose classes are not mesh_rollout's: nothing may use that name."""
    offenders = []
    for path in sorted(ROOT.rglob("*")):
        relative = path.relative_to(ROOT)
        if relative.parts[0] in {".git", ".venv", "tools", ".state", "build", ".hypothesis"} or not path.is_file() \
                or "__pycache__" in relative.parts or relative.parts[-1].endswith(".egg-info"):
            continue
        if path.suffix in {".py", ".md", ".sh", ".yml", ".yaml", ".toml"} or path.name == "run":
            offenders += [f"{relative}: {m.group(0).strip()}" for m in OLD_NAME.finditer(path.read_text())]
    assert offenders == []


def test_the_wheel_holds_mesh_rollout_and_no_components(tmp_path):
    """What ``pip install .`` installs: the mapped package with every subpackage and py.typed, no ``components``."""
    project = tmp_path / "project"
    project.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, project / name)
    shutil.copytree(SOURCE, project / "components", ignore=shutil.ignore_patterns("__pycache__"))
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                             "--no-index", "--wheel-dir", str(tmp_path / "dist"), str(project)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = (tmp_path / "dist").glob("mesh_rollout-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top_level == {"mesh_rollout"}
    assert "mesh_rollout/py.typed" in names
    # Istio's dashboards ship as package data (Grafana gets them from the package, not from grafana.com).
    assert {f"mesh_rollout/dashboards/{path.name}" for path in (SOURCE / "dashboards").iterdir()} <= set(names)
    assert {f"{package.replace('.', '/')}/__init__.py" for package in subpackages()} <= set(names)
    # The component provider, as the resource plugin other Pulumi languages load (examples/yaml).
    (entry_points,) = [name for name in names if name.endswith(".dist-info/entry_points.txt")]
    assert "pulumi-resource-mesh-rollout = mesh_rollout.provider:main" in zipfile.ZipFile(wheel).read(
        entry_points).decode()
    assert {name.removeprefix("mesh_rollout/") for name in names if name.endswith(".py")} == {
        str(path.relative_to(SOURCE)) for path in SOURCE.rglob("*.py") if "__pycache__" not in path.parts}


def test_a_users_program_gets_the_packages_types(tmp_path):
    """The README's component example passes ``mypy --strict`` against the package, and what it imports is typed
    (not ``Any``, as lazily exported names were): the classes, their args and their outputs."""
    readme = (ROOT / "README.md").read_text().split("## Using the components in your own Pulumi program", 1)[1]
    program = re.search(r"```python\n(.*?)```", readme, re.S).group(1) + textwrap.dedent("""
        reveal_type(Traffic)
        reveal_type(traffic.hosts)
        reveal_type(Mesh("other", MeshArgs(spec=spec)).injection.injection_labels)
    """)
    (tmp_path / "example.py").write_text(program)
    # As an installed package: the editable install's import hook is invisible to mypy, a path holding the package is
    # not (a `pip install .`ed mesh_rollout, with its py.typed, is found the same way).
    (tmp_path / "path").mkdir()
    (tmp_path / "path" / "mesh_rollout").symlink_to(SOURCE)
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--config-file", str(ROOT / "pyproject.toml"), "--cache-dir",
         str(tmp_path / "cache"), "--no-error-summary", "example.py"],
        cwd=tmp_path, env={**os.environ, "MYPYPATH": str(tmp_path / "path")}, capture_output=True, text=True,
        timeout=300)
    lines = result.stdout.splitlines()
    assert [line for line in lines if ": error:" in line] == [], result.stdout + result.stderr
    revealed = [line.split("Revealed type is ", 1)[1] for line in lines if "Revealed type is" in line]
    assert revealed == [
        '"def (name: str, args: mesh_rollout.traffic.TrafficArgs, opts: pulumi.resource.ResourceOptions | None =) '
        '-> mesh_rollout.traffic.Traffic"',
        '"pulumi.output.Output[dict[str, str]]"',
        '"pulumi.output.Output[dict[str, dict[str, str]]]"',
    ]
