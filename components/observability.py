"""Observability: Prometheus, Grafana, Jaeger, Kiali wired together, and Istio's Telemetry resource."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi

from ._registration import ConcernComponent
from ._validation import coerce
from .plan import endpoints, plan_observability
from .spec import ObservabilitySpec


@dataclass(kw_only=True)
class ObservabilityArgs:
    """Inputs of :class:`Observability`. Plain dicts (as in a stack file, camelCase keys) or models."""

    #: Add-ons (chart or existing endpoint each), trace sampling and access logging.
    spec: ObservabilitySpec | Mapping[str, Any]
    #: Istio's root namespace, where the mesh-wide Telemetry lives.
    root_namespace: str = "istio-system"
    #: Kubernetes DNS domain used in the add-ons' in-cluster URLs.
    cluster_domain: str = "cluster.local"
    #: Secret config values by key, e.g. ``{"grafanaAdminPassword": config.require_secret(...)}``.
    secrets: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    #: Namespaces created elsewhere, not created again.
    existing_namespaces: frozenset[str] = field(default_factory=frozenset)
    #: The cluster runs no pods (``ClusterSpec.nodeless``): nothing waits for the add-ons to become ready.
    nodeless: bool = False
    #: Leave out Secrets built from secret config (render mode without ``renderSecrets``: a rendered file would
    #: hold them in base64). A warning names each one and how to create it.
    omit_secrets: bool = False
    #: A production stack that accepts no mutable tags: an add-on object whose container image has no digest fails
    #: the preview (unless its add-on sets ``allowMutableTags``).
    require_pinned_images: bool = False


class Observability(ConcernComponent):
    """Charts in wiring order (Prometheus, Jaeger, Grafana, then Kiali pointed at all three) and Telemetry."""

    urls: pulumi.Output[dict[str, str | None]]
    """Where the ``prometheus``, ``grafana`` and ``jaeger`` (query UI) add-ons answer, installed or existing;
    ``None`` for a disabled add-on."""

    def __init__(self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None):
        spec = coerce(ObservabilitySpec, args.spec, "spec")
        super().__init__("mesh-rollout:index:Observability", name, opts)
        self.plan = plan_observability(spec, args.root_namespace, args.cluster_domain,
                                       args.existing_namespaces, args.nodeless, args.require_pinned_images)
        if args.omit_secrets:
            for secret in self.plan.secrets:
                literals = " ".join(f"--from-literal={k}={v}" for k, v in sorted(secret.literal.items()))
                values = " ".join(f"--from-literal={k}=<{c}>" for k, c in sorted(secret.from_config.items()))
                pulumi.log.warn(
                    f"Secret {secret.namespace}/{secret.name} is not rendered (renderDir would hold it in base64): "
                    f"create it in the cluster with `kubectl create secret generic {secret.name} -n "
                    f"{secret.namespace} {literals} {values}`, or set cluster.renderSecrets: true", resource=self)
            self.plan.secrets = []
        self._register(self.plan, args.secrets)
        ends = endpoints(spec, args.cluster_domain)
        urls: dict[str, str | None] = {"prometheus": ends.prometheus, "grafana": ends.grafana,
                                       "jaeger": ends.jaeger_query}
        self.urls = pulumi.Output.from_input(urls)
        self.register_outputs({"urls": self.urls})
