"""The Python locks (requirements.lock, requirements-dev.lock, policy/requirements.lock, made by
scripts/lock-python.sh): every package pinned with its hashes, the direct pins in them, the venv exactly the lock."""
from __future__ import annotations

import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LOCKS = {"requirements.lock": "requirements.txt", "requirements-dev.lock": "requirements-dev.txt",
         "policy/requirements.lock": "policy/requirements.txt"}
# What `python -m venv` puts in every venv before anything is installed (setuptools only on Python < 3.12), and
# this checkout itself (scripts/bootstrap.sh installs it editable): not dependencies, so not locked.
NOT_LOCKED = {"pip", "setuptools", "mesh-rollout"}


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def entries(lock: str) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of a pip-compile --generate-hashes file (continuation lines joined)."""
    text = re.sub(r"\\\n", " ", (ROOT / lock).read_text())
    found = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            assert not line.startswith(("-e", "--editable", "-r", "-c", "--find-links", "--index-url")), (lock, line)
            continue
        m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)((?:\s+--hash=sha256:[0-9a-f]{64})*)", line)
        assert m, f"{lock}: not an exact pin with hashes: {line}"
        found[norm(m.group(1))] = (m.group(2), re.findall(r"sha256:([0-9a-f]{64})", m.group(3)))
    return found


def direct_pins(requirements: str) -> dict[str, str]:
    pins = {}
    for line in (ROOT / requirements).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            pins.update(direct_pins(str(Path(requirements).parent / line[3:].strip())))
        elif line:
            name, version = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*(\S+)", line).groups()
            pins[norm(name)] = version
    return pins


@pytest.mark.parametrize("lock", LOCKS)
def test_every_locked_package_has_a_pinned_version_and_hashes(lock):
    found = entries(lock)
    assert found
    assert not [name for name, (_, hashes) in found.items() if not hashes]


@pytest.mark.parametrize("lock", LOCKS)
def test_the_lock_holds_the_direct_pins(lock):
    found = entries(lock)
    for name, version in direct_pins(LOCKS[lock]).items():
        assert found.get(name, (None,))[0] == version, \
            f"{LOCKS[lock]} pins {name}=={version}; rerun scripts/lock-python.sh"


@pytest.mark.parametrize("lock", ["requirements.lock", "policy/requirements.lock"])
def test_the_dev_lock_has_the_same_versions(lock):
    """The tests run what the library and the policy pack get: one version of each package across the locks."""
    dev = entries("requirements-dev.lock")
    assert {n: v for n, (v, _) in entries(lock).items()} == {n: dev[n][0] for n in entries(lock)}


def test_the_venv_is_exactly_the_dev_lock():
    """Every distribution installed in the venv running the tests is locked at that version, and the reverse
    (scripts/bootstrap.sh installs requirements-dev.lock and warns about anything else)."""
    if Path(sys.prefix).resolve() != (ROOT / ".venv").resolve():
        pytest.skip(f"not running in the project venv ({sys.prefix}): scripts/test.sh runs the suite in .venv")
    locked = {n: v for n, (v, _) in entries("requirements-dev.lock").items()}
    installed = {norm(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()}
    extra = {n: v for n, v in installed.items() if n not in locked and n not in NOT_LOCKED}
    assert not extra, (f"installed in .venv but not in requirements-dev.lock: {extra}; if the project needs them, add "
                       "them to requirements-dev.txt and run scripts/lock-python.sh, else pip uninstall them")
    wrong = {n: (v, installed.get(n)) for n, v in locked.items() if installed.get(n) != v}
    assert not wrong, f"(locked, installed) differ: {wrong}; run . scripts/bootstrap.sh"


def test_bootstrap_installs_the_lock_and_its_stamp_covers_the_lock_files():
    script = (ROOT / "scripts/bootstrap.sh").read_text()
    assert re.search(r"install .*--require-hashes --no-deps -r \"\$REPO_ROOT/requirements-dev.lock\"", script)
    stamp = next(line_ for line_ in script.splitlines() if line_.startswith("want="))
    assert "requirements.lock" in stamp and "requirements-dev.lock" in stamp and "pyproject.toml" in stamp


def test_the_library_keeps_ranges_for_its_users():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert deps and not [d for d in deps if "==" in d]
