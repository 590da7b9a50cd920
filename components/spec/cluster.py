"""Where a stack deploys: a cluster (kubeconfig/context) or a directory of rendered manifests."""

from __future__ import annotations

import os

from pydantic import Field, model_validator

from .base import Model


class ClusterSpec(Model):
    """The ``mesh-rollout:cluster`` stack config key."""

    kubeconfig: str | None = Field(
        default=None, description="Path to a kubeconfig file (or its contents); default: the ambient kubeconfig."
    )
    context: str | None = Field(default=None, description="kubeconfig context to use.")
    render_dir: str | None = Field(
        default=None,
        description="Render manifests into this directory instead of applying them (no cluster needed). "
        "Relative paths are relative to the project directory.",
    )
    render_secrets: bool = Field(
        default=False,
        description="Render mode: also write Secrets built from secret config (Grafana's admin password) into "
        "renderDir. They are only base64-encoded there, readable by anyone who can read the directory. Off, they "
        "are left out and a warning names each one and how to create it in the cluster.",
    )
    enable_server_side_apply: bool = Field(default=True, description="Use server-side apply (needed for patches).")
    config_map_mutable: bool = Field(
        default=True,
        description="Update ConfigMaps in place, as Helm does (pulumi-kubernetes' enableConfigMapMutable). Off, a "
        "meshConfig change replaces istiod's `istio-<revision>` ConfigMap by delete-then-create: a window in which "
        "istiod sees no mesh config.",
    )
    nodeless: bool = Field(
        default=False,
        description="The cluster has no nodes: pods are accepted but never run (e.g. the local API server of "
        "scripts/cluster.sh). Nothing waits for workloads to become ready (skipAwait on charts and manifests), and "
        "Istio's validation webhooks, which no running istiod can answer, get failurePolicy Ignore. Never set it "
        "on a cluster that runs pods.",
    )

    @model_validator(mode="after")
    def _render_excludes_cluster(self) -> ClusterSpec:
        if self.render_dir is not None and (self.kubeconfig is not None or self.context is not None):
            raise ValueError("renderDir cannot be combined with kubeconfig or context (render mode talks to no "
                             "cluster)")
        if self.render_secrets and self.render_dir is None:
            raise ValueError("renderSecrets applies to render mode only (set renderDir)")
        return self

    @property
    def kubeconfig_path_or_contents(self) -> str | None:
        """``kubeconfig`` with a leading ``~`` expanded when it is a path (contents are returned as they are)."""
        if self.kubeconfig is None or "\n" in self.kubeconfig:
            return self.kubeconfig
        return os.path.expanduser(self.kubeconfig)
