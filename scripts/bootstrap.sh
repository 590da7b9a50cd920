#!/usr/bin/env bash
# Sets up everything on a fresh machine: the project venv with the locked requirements, and (unless
# MESH_ROLLOUT_SKIP_TOOLS=1) the Pulumi CLI, its Python language host, the Kubernetes provider plugin and istioctl.
# Source-able: after `. scripts/bootstrap.sh`, PATH has the venv and the tools.
set -euo pipefail
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python3}

if [ ! -x "$REPO_ROOT/.venv/bin/python" ]; then
  echo "[bootstrap] creating $REPO_ROOT/.venv" >&2
  "$PYTHON" -m venv "$REPO_ROOT/.venv"
fi
# The venv holds requirements-dev.lock (every package pinned with its hashes; scripts/lock-python.sh makes
# it), installed with --require-hashes --no-deps, plus this checkout itself as an editable install (`mesh_rollout`,
# built with the lock's setuptools: no build isolation, nothing unlocked downloaded). Anything else found in the
# venv is reported, not removed (someone may be using it); tests/test_python_lock.py fails on it. The stamp is a
# hash of the lock files and pyproject.toml, so a new lock or package layout reinstalls.
stamp="$REPO_ROOT/.venv/.requirements.sha"
want=$(cat "$REPO_ROOT/requirements.lock" "$REPO_ROOT/requirements-dev.lock" "$REPO_ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[bootstrap] installing the locked requirements (requirements-dev.lock) and this checkout (editable)" >&2
  venv_pip=("$REPO_ROOT/.venv/bin/python" -m pip --disable-pip-version-check)
  "${venv_pip[@]}" install --quiet --require-hashes --no-deps -r "$REPO_ROOT/requirements-dev.lock"
  "${venv_pip[@]}" install --quiet --no-deps --no-build-isolation -e "$REPO_ROOT"
  extra=$("$REPO_ROOT/.venv/bin/python" - "$REPO_ROOT/requirements-dev.lock" <<'PY'
import importlib.metadata, re, sys
norm = lambda name: re.sub(r"[-_.]+", "-", name).lower()
locked = {norm(n) for n in re.findall(r"(?m)^([A-Za-z0-9][A-Za-z0-9._-]*)==", open(sys.argv[1]).read())}
print(" ".join(sorted({d.metadata["Name"] for d in importlib.metadata.distributions()
                       if norm(d.metadata["Name"]) not in locked | {"pip", "mesh-rollout"}})))
PY
)
  if [ -n "$extra" ]; then
    echo "[bootstrap] WARNING: .venv has packages requirements-dev.lock does not: $extra (lock them: add to" \
      "requirements-dev.txt and run scripts/lock-python.sh; or pip uninstall them)" >&2
  fi
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
