#!/usr/bin/env bash
# `pulumi up` on the local stack on a fresh machine: no cluster, no Pulumi account.
# Installs everything (scripts/bootstrap.sh), keeps state in a local file backend (.state/, passphrase secrets
# provider), and renders every manifest into out/local/ (pulumi-kubernetes render mode) instead of applying it.
set -euo pipefail
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO_ROOT"
# shellcheck source=scripts/bootstrap.sh
. scripts/bootstrap.sh

mkdir -p .state
export PULUMI_BACKEND_URL="file://$REPO_ROOT/.state"
export PULUMI_CONFIG_PASSPHRASE=${PULUMI_CONFIG_PASSPHRASE:-local-only-not-secret}
# bootstrap.sh put .venv/bin first on PATH: the language host built here runs the first python3 it finds.

pulumi stack select local --create --non-interactive >/dev/null
pulumi up --yes --non-interactive --skip-preview --stack local "$@"

echo
echo "Rendered manifests (nothing was applied to any cluster):"
find "$REPO_ROOT/out/local" -type f -name '*.yaml' | sort | sed "s|^$REPO_ROOT/||"
echo
echo "Created, by kind:"
cat out/local/*/*.yaml | grep -E '^kind: ' | sort | uniq -c
echo "State: $REPO_ROOT/.state (stack 'local'); destroy with: PULUMI_BACKEND_URL=$PULUMI_BACKEND_URL pulumi destroy --stack local"
