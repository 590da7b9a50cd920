#!/usr/bin/env bash
# The test command (README "Tests"): sets up a fresh machine (venv, pinned requirements, the real Pulumi engine,
# Kubernetes provider and istioctl) and runs the whole suite: unit tests under Pulumi's mocks, schema validation
# against Istio's CRDs, and the integration tests on the real engine and istioctl. Extra args go to pytest.
set -euo pipefail
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO_ROOT"
# shellcheck source=scripts/bootstrap.sh
. scripts/bootstrap.sh
python -m pytest "$@"
