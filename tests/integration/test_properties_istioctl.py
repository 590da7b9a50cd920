"""Istio's own validation of generated meshes: a fixed sample of the valid meshes of tests/strategies.py is planned,
every object goes into one multi-document YAML file, and one `istioctl validate -f` call must find no error (nor
warning).

The sample reaches every edge of the valid range (strategies.VALID_RANGE_EDGES: 1024-byte header regexes, header
names with ``_`` and digits, all-numeric host and cluster domain labels, path templates, ``selector: {}``, int32
gateway replicas with ``autoscaleMax`` equal to them, namespace revisions…): what the spec accepts next to what it
refuses, Istio accepts too. A mesh is added for each edge the first ``SAMPLE`` meshes miss.

Deterministic (``derandomize=True``, no example database): the same sample on every run. Skipped when istioctl is
not on PATH (scripts/install-tools.sh builds it; scripts/test.sh puts it on PATH) or with
MESH_ROLLOUT_SKIP_INTEGRATION=1.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, Phase, find, given, settings

from conftest import PROPERTY_COUNTS
from mesh_rollout.checks import raise_for_errors, run_checks
from mesh_rollout.plan import plan
from mesh_rollout.spec import parse_mesh
from strategies import VALID_RANGE_EDGES, meshes, valid_range_edges

#: How many generated meshes go through istioctl (one call for all of them).
SAMPLE = 30


@pytest.fixture(scope="module")
def istioctl() -> str:
    if os.environ.get("MESH_ROLLOUT_SKIP_INTEGRATION") == "1":
        pytest.skip("MESH_ROLLOUT_SKIP_INTEGRATION=1")
    path = shutil.which("istioctl")
    if path is None:
        pytest.skip("istioctl is not on PATH (scripts/install-tools.sh builds it; scripts/test.sh puts it on PATH)")
    return path


def generated_meshes(count: int) -> list[dict]:
    """The first ``count`` meshes of a derandomized run of :func:`strategies.meshes` (the same on every run)."""
    found: list[dict] = []

    @settings(max_examples=count, derandomize=True, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(meshes())
    def collect(config):
        found.append(config)

    collect()
    return found


def edge_meshes(configs: list[dict]) -> list[dict]:
    """One generated mesh (derandomized) for each edge of the valid range that ``configs`` miss."""
    reached = set().union(*map(valid_range_edges, configs))
    return [find(meshes(), lambda config, edge=edge: edge in valid_range_edges(config),
                 settings=settings(max_examples=1000, derandomize=True, database=None, deadline=None,
                                   phases=[Phase.generate], suppress_health_check=list(HealthCheck)))
            for edge in VALID_RANGE_EDGES if edge not in reached]


def as_yaml(document: dict) -> str:
    """A document as JSON, which is YAML in flow style: PyYAML would write a label value ``N`` or ``y`` unquoted,
    which Go's YAML 1.1 reader takes for a boolean. Non-ASCII characters become YAML escapes (``\\U0001f600``, not
    JSON's surrogate pairs, which Go's YAML reader refuses)."""
    text = json.dumps(document, ensure_ascii=False)
    return re.sub(r"[^\x00-\x7f]", lambda m: (f"\\u{ord(m[0]):04x}" if ord(m[0]) <= 0xFFFF
                                               else f"\\U{ord(m[0]):08x}"), text)


def validate(istioctl: str, documents: list[dict], file: Path) -> subprocess.CompletedProcess:
    file.write_text("".join(f"---\n{as_yaml(document)}\n" for document in documents))
    return subprocess.run([istioctl, "validate", "-f", str(file)], capture_output=True, text=True, timeout=300)


def refused(result: subprocess.CompletedProcess) -> bool:
    """An error, or a warning: the generated meshes are coherent, so istioctl has nothing to warn about either."""
    output = result.stdout + result.stderr
    return result.returncode != 0 or "Error" in output or "has warnings" in output


def test_istioctl_validate_accepts_every_object_of_generated_meshes(istioctl, tmp_path):
    configs = generated_meshes(SAMPLE)
    assert len(configs) == SAMPLE
    extra = edge_meshes(configs)
    configs += extra
    reached = set().union(*map(valid_range_edges, configs))
    assert reached == set(VALID_RANGE_EDGES), f"edges never reached: {set(VALID_RANGE_EDGES) - reached}"
    per_config = []
    for config in configs:
        spec = parse_mesh(config)
        raise_for_errors(run_checks(spec))
        per_config.append([item.manifest for item in plan(spec).objects])
    documents = [manifest for objects in per_config for manifest in objects]

    result = validate(istioctl, documents, tmp_path / "generated.yaml")
    PROPERTY_COUNTS["generated meshes validated by istioctl"] = f"{len(configs)} ({len(extra)} added for an edge)"
    PROPERTY_COUNTS["edges of the valid range validated by istioctl"] = f"{len(reached)} of {len(VALID_RANGE_EDGES)}"
    PROPERTY_COUNTS["objects in the one istioctl validate call"] = len(documents)
    if refused(result):
        # Slow path, only on failure: find the first mesh istioctl refuses on its own and show it.
        for index, (config, objects) in enumerate(zip(configs, per_config, strict=True)):
            alone = validate(istioctl, objects, tmp_path / f"mesh-{index}.yaml")
            if refused(alone):
                pytest.fail(f"istioctl validate refuses the objects of generated mesh #{index}:\n"
                            f"{alone.stdout}{alone.stderr}\nmesh:\n{yaml.safe_dump(config, sort_keys=False)}")
        pytest.fail(f"istioctl validate refuses the generated objects:\n{result.stdout}{result.stderr}")
    assert "is valid" in result.stdout + result.stderr, result.stdout + result.stderr
