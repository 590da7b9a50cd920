"""Shared fixtures: the stack files, the Istio CRD schemas, plain-data builders."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

# The package under test is `mesh_rollout`, the venv's editable install of this checkout's components/ (pyproject.toml
# maps the one onto the other; scripts/bootstrap.sh installs it). Not some other copy: a stale `pip install .` would
# test old code.
try:
    import mesh_rollout
except ImportError as error:  # pragma: no cover - a setup problem, not a test failure
    pytest.exit(f"{error}: install this checkout into the venv: python -m pip install --no-deps -e {ROOT}",
                returncode=4)
if Path(mesh_rollout.__file__).resolve().parent != ROOT / "components":  # pragma: no cover
    pytest.exit(f"mesh_rollout is imported from {mesh_rollout.__file__}, not from {ROOT / 'components'}: "
                f"python -m pip install --no-deps -e {ROOT}", returncode=4)

STACKS = sorted((ROOT / "stacks").glob("Pulumi.*.yaml"))
SCHEMA_FILE = ROOT.parent / "shared" / "schemas" / "istio" / "crds-1.30.3.yaml"


@pytest.fixture(scope="session")
def istio_schemas():
    """Strict validators for Istio's CRDs; skipped where ../shared is absent (a user's clone)."""
    if not SCHEMA_FILE.exists():
        pytest.skip(f"Istio CRD schemas not found at {SCHEMA_FILE} (../shared exists in CI and dev machines only)")
    from schemas import IstioSchemas

    return IstioSchemas.load(SCHEMA_FILE)


def shop_config(**overrides) -> dict:
    """A small, valid mesh (shop: frontend, order, payment, catalog with a 90/10 canary) as plain config data."""
    config = {
        "environment": "test",
        "controlPlane": {"install": False},
        "namespaces": {"shop": {"mode": "sidecar"}},
        "mtls": {"mode": "STRICT"},
        "services": {
            "frontend": {"namespace": "shop", "ports": [{"port": 8080, "name": "http"}]},
            "order": {"namespace": "shop", "ports": [{"port": 8080, "name": "http"}],
                      "access": {"allowFrom": ["shop/frontend"]}},
            "payment": {"namespace": "shop", "ports": [{"port": 8443, "name": "grpc"}],
                        "access": {"allowFrom": ["shop/order"]}},
            "catalog": {
                "namespace": "shop",
                "ports": [{"port": 8080, "name": "http"}],
                "versions": {"v1": {}, "v2": {}},
                "traffic": {"split": {"v1": 90, "v2": 10}},
            },
        },
        "observability": {
            "prometheus": {"url": "http://prometheus.monitoring:9090"},
            "grafana": {"url": "http://grafana.monitoring:3000"},
            "jaeger": {"url": "http://jaeger.tracing:16686", "collectorHost": "jaeger-collector.tracing"},
            "kiali": {"url": "http://kiali.istio-system:20001"},
        },
    }
    config.update(overrides)
    return config


# ---- Counts of the property tests (tests/test_properties.py and its istioctl part), shown after the run.

#: What the property tests generated and checked, by description (filled in by the tests).
PROPERTY_COUNTS: dict[str, object] = {}


def pytest_terminal_summary(terminalreporter):
    if PROPERTY_COUNTS:
        terminalreporter.write_sep("-", "property tests")
        for name, value in PROPERTY_COUNTS.items():
            terminalreporter.write_line(f"{name}: {value}")
