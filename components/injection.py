"""Injection: namespaces enrolled in the mesh by revision label (sidecars) or dataplane mode (ambient)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi

from ._registration import ConcernComponent
from ._validation import check_component, coerce, log_warnings, partial_mesh
from .checks.scopes import INJECTION
from .plan import enrollment_labels, plan_injection
from .spec import NamespaceSpec
from .spec.base import DnsLabel


@dataclass(kw_only=True)
class InjectionArgs:
    """Inputs of :class:`Injection`. Plain dicts (as in a stack file, camelCase keys) or models."""

    #: Namespaces by name: mode (sidecar, ambient, none), revision, create or patch, extra labels, waypoint.
    namespaces: Mapping[str, NamespaceSpec | Mapping[str, Any]]
    #: Revision or revision tag sidecar namespaces get when they do not name one.
    default_revision: str
    #: The inputs were validated and every check ran on the whole mesh already (``Mesh`` sets it).
    checked: bool = False


class Injection(ConcernComponent):
    """Creates (or labels existing) namespaces with exactly one injection label each, and ambient waypoints."""

    namespaces: pulumi.Output[list[str]]
    """The enrolled namespaces (created, or existing ones labelled), sorted by name."""
    injection_labels: pulumi.Output[dict[str, dict[str, str]]]
    """Per namespace the labels that enrol it: ``istio.io/rev`` (sidecars, the revision or tag),
    ``istio.io/dataplane-mode: ambient`` (with ``istio.io/use-waypoint`` when it has a waypoint) or
    ``istio-injection: disabled``."""

    def __init__(self, name: str, args: InjectionArgs, opts: pulumi.ResourceOptions | None = None):
        namespaces = coerce(dict[DnsLabel, NamespaceSpec], args.namespaces, "namespaces")
        default_revision = coerce(DnsLabel, args.default_revision, "defaultRevision")
        found = [] if args.checked else check_component(
            partial_mesh({"namespaces": namespaces}), INJECTION, {"mesh.namespaces": "namespaces"})
        super().__init__("mesh-rollout:index:Injection", name, opts)
        log_warnings(found, self)
        self.plan = plan_injection(namespaces, default_revision)
        self._register(self.plan)
        self.namespaces = pulumi.Output.from_input(sorted(namespaces))
        self.injection_labels = pulumi.Output.from_input(
            {name: enrollment_labels(namespace, default_revision) for name, namespace in sorted(namespaces.items())})
        self.register_outputs({"namespaces": self.namespaces, "injectionLabels": self.injection_labels})
