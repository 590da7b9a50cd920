#!/usr/bin/env bash
# Sets up everything on a fresh machine: the project venv with pinned requirements, and (unless
# MESH_ROLLOUT_SKIP_TOOLS=1) the Pulumi CLI, its Python language host, the Kubernetes provider plugin and istioctl.
# Source-able: after `. scripts/bootstrap.sh`, PATH has the venv and the tools.
set -euo pipefail
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python3}

if [ ! -x "$REPO_ROOT/.venv/bin/python" ]; then
  echo "[bootstrap] creating $REPO_ROOT/.venv" >&2
  "$PYTHON" -m venv "$REPO_ROOT/.venv"
fi
stamp="$REPO_ROOT/.venv/.requirements.sha"
want=$(cat "$REPO_ROOT/requirements.txt" "$REPO_ROOT/requirements-dev.txt" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[bootstrap] installing pinned requirements" >&2
  "$REPO_ROOT/.venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REPO_ROOT/requirements-dev.txt"
  echo "$want" > "$stamp"
fi
export PATH="$REPO_ROOT/.venv/bin:$PATH"

if [ "${MESH_ROLLOUT_SKIP_TOOLS:-0}" != "1" ]; then
  tools_bin=$("$REPO_ROOT/scripts/install-tools.sh" | tail -1)
  export PATH="$tools_bin:$PATH"
fi
# Nothing may try the network, and render mode refuses a KUBECONFIG from the environment.
export PULUMI_SKIP_UPDATE_CHECK=true
unset KUBECONFIG
