#!/usr/bin/env bash
# The test command (README "Tests"): sets up a fresh machine (venv, pinned requirements, the real Pulumi engine,
# Kubernetes provider and istioctl), runs the static checks (ruff, mypy --strict: seconds, so first) and then the
# whole suite: unit tests under Pulumi's mocks, schema validation against Istio's CRDs, and the integration tests on
# the real engine and istioctl. Any finding fails the run. Extra args go to pytest.
set -euo pipefail
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO_ROOT"
# shellcheck source=scripts/bootstrap.sh
. scripts/bootstrap.sh
# Both read their settings from pyproject.toml: ruff the rule set and the files, mypy --strict over components/.
echo "[test] ruff check" >&2
python -m ruff check --quiet .
echo "[test] mypy --strict" >&2
python -m mypy --strict
python -m pytest "$@"
