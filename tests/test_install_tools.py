"""scripts/install_tools.py: every tool comes from a committed, complete Go module, and a go.sum or go.mod that does
not match the modules fails loudly before anything is compiled (no real build here: a tampered copy of the repo's
tools/ fails in the script's verification step, which every build runs first)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import install_tools  # noqa: E402

HOST = "github.com/pulumi/pulumi/sdk/v3/python/cmd/pulumi-language-python"
# A module the Python language host's build compiles (its logging package imports it).
GLOG = "github.com/golang/glog v1.0.0"


@pytest.fixture(scope="module", autouse=True)
def needs_go():
    assert shutil.which("go"), "the Go toolchain is needed to build the tools (and for these tests)"


@pytest.fixture
def repo(tmp_path):
    """The parts of the repo the script reads, copied so they can be tampered with."""
    copy = tmp_path / "repo"
    for rel in ("scripts/install_tools.py", "requirements.txt", "components/versions.py"):
        (copy / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / rel, copy / rel)
    shutil.copytree(ROOT / "tools", copy / "tools")
    return copy


def run(repo: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MESH_ROLLOUT_TOOLS_DIR": str(repo.parent / "tools-out")}
    env.pop("MESH_ROLLOUT_TOOLS_FORCE", None)
    return subprocess.run([sys.executable, str(repo / "scripts/install_tools.py"), *args], capture_output=True,
                          text=True, env=env, timeout=600)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def nothing_installed(repo: Path, *files: str) -> None:
    out = repo.parent / "tools-out"
    assert not [f for f in files if (out / "bin" / f).exists()]
    assert not (out / "stamps").exists() or not any((out / "stamps").iterdir())


def test_the_committed_modules_verify(repo):
    result = run(repo, "--verify", "language-python")
    assert result.returncode == 0, result.stderr
    assert "language-python: tools/language-python verified (v3.68.0" in result.stderr
    assert result.stdout.strip().splitlines()[-1] == str((repo.parent / "tools-out/bin").resolve())
    nothing_installed(repo, "pulumi-language-python")


def test_a_tampered_go_sum_hash_fails_the_build(repo):
    go_sum = repo / "tools/language-python/go.sum"
    line = next(line_ for line_ in go_sum.read_text().splitlines() if line_.startswith(GLOG + " h1:"))
    digest = line.split("h1:")[1]
    edit(go_sum, line, line.replace(digest, ("A" if digest[0] != "A" else "B") + digest[1:]))
    result = run(repo, "language-python")  # a real install: it must stop before compiling
    assert result.returncode == 1
    assert "ERROR: language-python" in result.stderr
    assert "verifying github.com/golang/glog@v1.0.0: checksum mismatch" in result.stderr
    assert "SECURITY ERROR" in result.stderr
    assert "Nothing was built" in result.stderr
    assert "building" not in result.stderr
    nothing_installed(repo, "pulumi-language-python", "pulumi-language-python-exec")


def test_a_module_missing_from_go_sum_fails_the_build(repo):
    go_sum = repo / "tools/language-python/go.sum"
    edit(go_sum, next(line_ for line_ in go_sum.read_text().splitlines(True) if line_.startswith(GLOG + " h1:")), "")
    result = run(repo, "language-python")
    assert result.returncode == 1
    assert "ERROR: language-python" in result.stderr
    assert "missing go.sum entry for module providing package github.com/golang/glog" in result.stderr
    nothing_installed(repo, "pulumi-language-python")


def test_a_module_missing_from_go_mod_fails_the_build(repo):
    edit(repo / "tools/language-python/go.mod", f"\t{GLOG} // indirect\n", "")
    result = run(repo, "language-python")
    assert result.returncode == 1
    assert "updates to go.mod needed, disabled by -mod=readonly" in result.stderr
    nothing_installed(repo, "pulumi-language-python")


def test_a_current_stamp_skips_the_build_and_a_go_sum_change_invalidates_it(repo):
    """The stamp is a hash of go.mod + go.sum and the recipe: current stamp and files there, nothing runs; any
    go.sum change makes the tool due again (here a tampered one, so the rebuild stops at verification)."""
    out = repo.parent / "tools-out"
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import install_tools as t; "
            "tool = t.BY_NAME['language-python'];"
            "f = tool.facts(t.REPO_ROOT / tool.module); t.BIN.mkdir(parents=True); t.STAMPS.mkdir();"
            "[p.write_text('placeholder') for p in t.outputs(tool, f)];"
            "(t.STAMPS / tool.name).write_text(t.stamp_key(tool, f) + '\\n')")
    subprocess.run([sys.executable, "-c", code, str(repo / "scripts")], check=True,
                   env={**os.environ, "MESH_ROLLOUT_TOOLS_DIR": str(out)})
    result = run(repo, "language-python")
    assert result.returncode == 0, result.stderr
    assert "language-python: up to date (v3.68.0)" in result.stderr
    assert (out / "bin/pulumi-language-python").read_text() == "placeholder"
    go_sum = repo / "tools/language-python/go.sum"
    line = next(line_ for line_ in go_sum.read_text().splitlines() if line_.startswith(GLOG + " h1:"))
    edit(go_sum, line, line[:-5] + ("AAAA=" if not line.endswith("AAAA=") else "BBBB="))
    result = run(repo, "language-python")
    assert result.returncode == 1 and "up to date" not in result.stderr and "checksum mismatch" in result.stderr
    assert (out / "bin/pulumi-language-python").read_text() == "placeholder"


def test_files_copied_out_of_a_module_are_checked_too(repo):
    """istio-assets compiles nothing: the istio.io/istio module it copies from is checked against go.sum."""
    go_sum = repo / "tools/istioctl/go.sum"
    line = next(line_ for line_ in go_sum.read_text().splitlines()
                if line_.startswith("istio.io/istio ") and "/go.mod" not in line_)
    edit(go_sum, line, line[:-5] + ("AAAA=" if not line.endswith("AAAA=") else "BBBB="))
    result = run(repo, "--verify", "istio-assets")
    assert result.returncode == 1
    assert "ERROR: istio-assets" in result.stderr and "checksum mismatch" in result.stderr


def test_the_go_sum_hash_is_recomputed_from_the_module_files():
    """The script's own h1: hash (used on files it copies out of the module cache) is go's."""
    info = install_tools.download(ROOT / "tools/language-python", "github.com/pulumi/pulumi/sdk/v3")
    assert install_tools.dirhash(Path(info["Dir"]), f"{info['Path']}@{info['Version']}") == info["Sum"]
    go_sum = (ROOT / "tools/language-python/go.sum").read_text()
    assert f"github.com/pulumi/pulumi/sdk/v3 {info['Version']} {info['Sum']}" in go_sum


@pytest.mark.parametrize("tool", install_tools.TOOLS, ids=lambda t: t.name)
def test_every_tool_is_built_from_a_committed_module(tool):
    moddir = ROOT / tool.module
    assert (moddir / "go.mod").is_file() and (moddir / "go.sum").is_file()
    facts = tool.facts(moddir)  # also checks go.mod against the repo's pins
    declared = install_tools.section(moddir / "go.mod", "tool")
    for build in tool.builds(facts):
        for package in build.packages:
            assert re.search(rf"(?m)^\s*(tool\s+)?{re.escape(package)}\s*$", declared), (package, tool.module)


@pytest.mark.parametrize("gomod", sorted((ROOT / "tools").glob("*/go.mod")), ids=lambda p: p.parent.name)
def test_every_replace_says_why(gomod):
    """Each substitution the proxy forces is written down with its reason: a comment right above the replace
    (or above its block), or at the end of its line."""
    lines = gomod.read_text().splitlines()
    in_block = False
    for i, line in enumerate(lines):
        s = line.strip()
        if s.startswith("replace ("):
            in_block, block_start = True, i
            continue
        if in_block and s == ")":
            in_block = False
            continue
        if s.startswith("replace ") or (in_block and "=>" in s):
            above = lines[i - 1].strip()
            commented = ("//" in line or above.startswith("//")
                         or (in_block and block_start > 0 and lines[block_start - 1].strip().startswith("//")))
            assert commented, f"{gomod.relative_to(ROOT)}:{i + 1}: replace without a comment: {s}"


def test_the_shell_wrapper_keeps_the_cli():
    result = subprocess.run(["bash", str(ROOT / "scripts/install-tools.sh"), "no-such-tool"], capture_output=True,
                            text=True)
    assert result.returncode == 2
    assert "unknown tool(s) ['no-such-tool']" in result.stderr
    assert "pulumi language-python language-yaml kubernetes istioctl istio-assets cluster prometheus" in result.stderr


def test_the_old_module_version_overrides_are_refused(repo):
    env_var = "MESH_ROLLOUT_ISTIO_MODULE_VERSION"
    os.environ[env_var] = "v0.0.0-20260101000000-000000000000"
    try:
        result = run(repo, "--verify", "istioctl")
    finally:
        del os.environ[env_var]
    assert result.returncode == 2 and "no longer read" in result.stderr
