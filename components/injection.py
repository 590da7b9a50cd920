"""Injection: namespaces enrolled in the mesh by revision label (sidecars) or dataplane mode (ambient)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from ._registration import ConcernComponent
from .plan import plan_injection
from .spec import NamespaceSpec


@dataclass
class InjectionArgs:
    """Inputs of :class:`Injection`."""

    #: Namespaces by name: mode (sidecar, ambient, none), revision, create or patch, extra labels, waypoint.
    namespaces: dict[str, NamespaceSpec]
    #: Revision or revision tag sidecar namespaces get when they do not name one.
    default_revision: str
    #: Kubernetes provider for every child; ``None`` inherits the one given through resource options.
    provider: Optional[k8s.Provider] = None


class Injection(ConcernComponent):
    """Creates (or labels existing) namespaces with exactly one injection label each, and ambient waypoints."""

    def __init__(self, name: str, args: InjectionArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mesh-rollout:index:Injection", name, args.provider, opts)
        self.plan = plan_injection(args.namespaces, args.default_revision)
        self._register(self.plan)
        self.register_outputs({"namespaces": sorted(args.namespaces)})
