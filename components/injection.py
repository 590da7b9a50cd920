"""Injection: namespaces enrolled in the mesh by revision label (sidecars) or dataplane mode (ambient)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional, Union

import pulumi
import pulumi_kubernetes as k8s

from ._registration import ConcernComponent
from ._validation import check_component, coerce, log_warnings, partial_mesh
from .checks.scopes import INJECTION
from .plan import plan_injection
from .spec import NamespaceSpec
from .spec.base import DnsLabel


@dataclass(kw_only=True)
class InjectionArgs:
    """Inputs of :class:`Injection`. Plain dicts (as in a stack file, camelCase keys) or models."""

    #: Namespaces by name: mode (sidecar, ambient, none), revision, create or patch, extra labels, waypoint.
    namespaces: Mapping[str, Union[NamespaceSpec, Mapping[str, Any]]]
    #: Revision or revision tag sidecar namespaces get when they do not name one.
    default_revision: str
    #: Kubernetes provider for every child; ``None`` inherits the one given through resource options.
    provider: Optional[k8s.Provider] = None
    #: The inputs were validated and every check ran on the whole mesh already (``Mesh`` sets it).
    checked: bool = False


class Injection(ConcernComponent):
    """Creates (or labels existing) namespaces with exactly one injection label each, and ambient waypoints."""

    def __init__(self, name: str, args: InjectionArgs, opts: Optional[pulumi.ResourceOptions] = None):
        namespaces = coerce(dict[DnsLabel, NamespaceSpec], args.namespaces, "namespaces")
        default_revision = coerce(DnsLabel, args.default_revision, "defaultRevision")
        found = [] if args.checked else check_component(
            partial_mesh({"namespaces": namespaces}), INJECTION, {"mesh.namespaces": "namespaces"})
        super().__init__("mesh-rollout:index:Injection", name, args.provider, opts)
        log_warnings(found, self)
        self.plan = plan_injection(namespaces, default_revision)
        self._register(self.plan)
        self.register_outputs({"namespaces": sorted(namespaces)})
