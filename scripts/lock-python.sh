#!/usr/bin/env bash
# Re-locks the Python dependencies (README "Versions and tools", docs/tools.md): requirements.lock,
# requirements-dev.lock and policy/requirements.lock, every package with its hashes, from the direct pins in
# requirements.txt, requirements-dev.txt and policy/requirements.txt. pip-tools runs in a throwaway venv, never in
# .venv. A lock keeps the versions it already has unless asked to move them; extra arguments go to every
# pip-compile call:
#   scripts/lock-python.sh                              # after editing a requirements*.txt: add/remove what changed
#   scripts/lock-python.sh --upgrade-package urllib3    # move one package (and what it needs) to its newest version
#   scripts/lock-python.sh --upgrade                    # move everything
# Then `. scripts/bootstrap.sh` installs the new lock into .venv (its stamp is a hash of the lock files).
# The locks are for the CPython minor version of the machines (3.11): run this with that python3.
set -euo pipefail
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PIP_TOOLS_VERSION=7.6.2
PYTHON=${PYTHON:-python3}

work=$(mktemp -d "${TMPDIR:-/tmp}/mesh-rollout-lock.XXXXXX")
trap 'rm -rf "$work"' EXIT
"$PYTHON" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check "pip-tools==$PIP_TOOLS_VERSION"

export CUSTOM_COMPILE_COMMAND="scripts/lock-python.sh"
unset PIP_FIND_LINKS  # a machine's local wheel dir must not decide what the lock holds
compile() {
  "$work/venv/bin/pip-compile" --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
    --no-emit-trusted-host --no-emit-find-links --resolver=backtracking "$@"
}
cd "$REPO_ROOT"
# The library's runtime dependencies, then the test tools constrained to the same versions of what they share.
compile "$@" --output-file requirements.lock requirements.txt
compile "$@" --constraint requirements.lock --output-file requirements-dev.lock requirements-dev.txt
# The policy pack's own venv (policy/venv, when used) gets exactly the versions the tests ran it with.
cd policy
compile "$@" --constraint ../requirements-dev.lock --output-file requirements.lock requirements.txt
echo "[lock-python] wrote requirements.lock, requirements-dev.lock, policy/requirements.lock" >&2
