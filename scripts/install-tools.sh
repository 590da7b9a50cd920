#!/usr/bin/env bash
# Builds mesh-rollout's command-line tools from the committed Go modules under tools/ (see docs/tools.md):
#   scripts/install-tools.sh                    # all: pulumi language-python language-yaml kubernetes istioctl
#                                               #      istio-assets cluster prometheus
#   scripts/install-tools.sh pulumi istioctl    # a subset
#   export PATH="$(scripts/install-tools.sh | tail -1):$PATH"
# Progress goes to stderr; the last line of stdout is the bin dir. The work is done by scripts/install_tools.py
# (its docstring lists the environment variables); this wrapper keeps the old command line.
set -euo pipefail
exec "${PYTHON:-python3}" "$(dirname "${BASH_SOURCE[0]}")/install_tools.py" "$@"
