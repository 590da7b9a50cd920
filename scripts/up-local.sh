#!/usr/bin/env bash
# `pulumi up` of the local stack on a fresh machine, applied for real to a local Kubernetes API server:
#   1. scripts/bootstrap.sh: the venv, the Pulumi engine, provider and istioctl, the local cluster's binaries
#      (etcd, kube-apiserver, kube-controller-manager, kubectl) and Istio's charts and add-on manifests;
#   2. scripts/cluster.sh start: the API server on 127.0.0.1 (no nodes: pods never run; left running);
#   3. pulumi up: Istio's real charts (base + CRDs, istiod, ingress gateway), the add-ons and every mesh object;
#   4. kubectl get: what the API server now holds.
# State is a local file backend (.state/, passphrase secrets provider): no Pulumi account. Extra args go to
# `pulumi up`. A second run changes nothing. Stop the cluster with `scripts/cluster.sh stop`.
set -euo pipefail
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO_ROOT"
# shellcheck source=scripts/bootstrap.sh
. scripts/bootstrap.sh

KUBECONFIG_FILE=$(scripts/cluster.sh start)

mkdir -p .state
export PULUMI_BACKEND_URL="file://$REPO_ROOT/.state"
export PULUMI_CONFIG_PASSPHRASE=${PULUMI_CONFIG_PASSPHRASE:-local-only-not-secret}
# bootstrap.sh put .venv/bin first on PATH: the language host built here runs the first python3 it finds.

pulumi stack select local --create --non-interactive >/dev/null
pulumi up --yes --non-interactive --skip-preview --stack local "$@"

k() { kubectl --kubeconfig "$KUBECONFIG_FILE" "$@"; }
echo
echo "What the local API server holds (kubeconfig: $KUBECONFIG_FILE; no nodes, so no pod ever runs):"
echo "--- Istio CRDs: $(k get crd -o name | grep -c 'istio.io')"
k get deployments,services,configmaps -n istio-system
k get deployments,services -n istio-ingress
k get validatingwebhookconfigurations,mutatingwebhookconfigurations
k get peerauthentications,destinationrules,virtualservices,authorizationpolicies,telemetries --all-namespaces
echo
echo "State: $REPO_ROOT/.state (stack 'local'). Destroy: PULUMI_BACKEND_URL=$PULUMI_BACKEND_URL pulumi destroy --stack local"
echo "Stop the cluster: scripts/cluster.sh stop"
