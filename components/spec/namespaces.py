"""Configuration of the namespaces enrolled in the mesh."""

from __future__ import annotations

import enum

from pydantic import Field

from .base import DnsLabel, Labels, Model


class DataplaneMode(str, enum.Enum):
    """How workloads of a namespace join the mesh."""

    #: Envoy sidecars injected by the revision's webhook (``istio.io/rev`` label).
    SIDECAR = "sidecar"
    #: ztunnel node proxies, no sidecars (``istio.io/dataplane-mode=ambient``).
    AMBIENT = "ambient"
    #: Not in the mesh (``istio-injection=disabled``).
    NONE = "none"


class NamespaceSpec(Model):
    """A namespace in the mesh."""

    mode: DataplaneMode = Field(default=DataplaneMode.SIDECAR, description="sidecar, ambient or none.")
    revision: DnsLabel | None = Field(
        default=None,
        description="Revision or revision tag for sidecar injection; default: the control plane's first tag, "
        "else its revision.",
    )
    create: bool = Field(
        default=True, description="Create the namespace. false = label an existing namespace (server-side patch). "
        "A namespace the stack created is never deleted by it (create: false, leaving the config and pulumi destroy "
        "only forget it): its workloads are not the mesh's."
    )
    labels: Labels = Field(default_factory=dict, description="Extra labels for the namespace.")
    default_deny: bool = Field(
        default=False,
        description="Deny every request into the namespace unless an AuthorizationPolicy allows it.",
    )
    waypoint: bool = Field(
        default=False,
        description="Ambient only: deploy a waypoint proxy (Gateway API Gateway, class istio-waypoint) so L7 "
        "routing and authorization apply.",
    )
