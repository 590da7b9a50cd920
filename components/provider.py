"""mesh-rollout's component provider: its components for Pulumi programs in any language (YAML, TypeScript, Go, ...).

The engine starts it as the resource plugin ``pulumi-resource-mesh-rollout`` (``provider/`` in the repository, or the
console script of the same name a ``pip install`` puts on PATH), reads :func:`schema`, and asks it to construct
components. Each is built by the same Python class a Python program uses, so it validates its input and runs its
checks the same way; problems come back as property errors at the input's path (``spec.services.web.namespace``).

    python -m mesh_rollout.provider --schema     # print the package schema (what `pulumi package get-schema` reads)
"""

from __future__ import annotations

import dataclasses
import json
import sys
import typing
from collections.abc import Mapping
from importlib import metadata
from typing import Any

import pulumi
import pulumi.provider
from pulumi.errors import InputPropertiesError, InputPropertyErrorDetails

from .access import Access, AccessArgs
from .certificate_authority import CertificateAuthority, CertificateAuthorityArgs
from .control_plane import ControlPlane, ControlPlaneArgs
from .egress import Egress, EgressArgs
from .injection import Injection, InjectionArgs
from .mesh import Mesh, MeshArgs
from .mutual_tls import MutualTls, MutualTlsArgs
from .observability import Observability, ObservabilityArgs
from .package_schema import ComponentEntry, accepts_outputs, camel, package_schema, type_hints
from .spec import ConfigError
from .traffic import Traffic, TrafficArgs

#: Every component the provider constructs. ``checked`` (and ``tracing``) are what ``Mesh`` tells its children: a
#: program always gets the checks, and tracing comes from an Observability of the same mesh.
COMPONENTS = (
    # config_root: the provider names the program's property, `spec`, itself.
    ComponentEntry(Mesh, MeshArgs, frozenset({"config_root"})),
    ComponentEntry(CertificateAuthority, CertificateAuthorityArgs),
    ComponentEntry(ControlPlane, ControlPlaneArgs, frozenset({"checked", "tracing"})),
    ComponentEntry(Injection, InjectionArgs, frozenset({"checked"})),
    ComponentEntry(MutualTls, MutualTlsArgs, frozenset({"checked"})),
    ComponentEntry(Traffic, TrafficArgs, frozenset({"checked"})),
    ComponentEntry(Egress, EgressArgs, frozenset({"checked"})),
    ComponentEntry(Access, AccessArgs, frozenset({"checked"})),
    ComponentEntry(Observability, ObservabilityArgs, frozenset({"checked"})),
)
BY_TOKEN = {entry.token: entry for entry in COMPONENTS}


def version() -> str:
    """The installed distribution's version (the schema's and the plugin's)."""
    try:
        return metadata.version("mesh-rollout")
    except metadata.PackageNotFoundError:  # imported from a source tree that was never installed
        return "0.0.0"


def schema() -> dict[str, Any]:
    """The package schema of every component in :data:`COMPONENTS` (see :mod:`mesh_rollout.package_schema`)."""
    return package_schema(list(COMPONENTS), version())


def _contains_output(value: Any) -> bool:
    if isinstance(value, pulumi.Output):
        return True
    if isinstance(value, Mapping):
        return any(_contains_output(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return any(_contains_output(item) for item in value)
    return False


def sorted_keys(value: Any) -> Any:
    """``value`` with every mapping's keys sorted. Pulumi's wire format (protobuf Struct) does not keep key order,
    so the order a YAML program wrote (e.g. a canary's ``split``) arrives shuffled, differently from run to run;
    sorted, every run plans the same objects in the same order and a preview shows no phantom diff."""
    if isinstance(value, Mapping):
        return {key: sorted_keys(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [sorted_keys(item) for item in value]
    return value


def property_path(entry: ComponentEntry, config_path: str) -> str:
    """A problem's config path as the program's property path: ``cluster_domain`` is ``clusterDomain``, and a
    missing secret config key (``grafanaAdminPassword``) is that key of ``secrets`` (``Mesh`` is built with
    ``config_root="spec"``, so its paths start at ``spec`` already)."""
    head, _, rest = config_path.partition(".")
    fields = {camel(item.name) for item in dataclasses.fields(entry.args)}
    if not rest and camel(head) not in fields and "secrets" in fields:
        return f"secrets.{head}"
    head = camel(head)
    return f"{head}.{rest}" if rest else head


def args_from_inputs(entry: ComponentEntry, inputs: Mapping[str, Any]) -> Any:
    """The component's args dataclass from the engine's inputs (camelCase, plain values). Unknown properties and
    outputs where the component needs plain values are property errors."""
    hints = type_hints(entry.args)
    fields = {camel(item.name): item for item in dataclasses.fields(entry.args) if item.name not in entry.hidden}
    errors: list[InputPropertyErrorDetails] = []
    kwargs: dict[str, Any] = {}
    for key, value in inputs.items():
        item = fields.get(key)
        if item is None:
            errors.append({"property_path": key, "reason": f"unknown property; {entry.component.__name__} takes "
                                                          f"{', '.join(sorted(fields))}"})
            continue
        if _contains_output(value) and not accepts_outputs(hints[item.name]):
            errors.append({"property_path": key, "reason": (
                "must be known when the program runs (plain values, no other resource's outputs or secrets): "
                f"{entry.component.__name__} checks the whole configuration before it registers anything")})
            continue
        value = sorted_keys(value)
        if typing.get_origin(hints[item.name]) is frozenset and isinstance(value, list):
            value = frozenset(value)
        kwargs[item.name] = value
    for key, item in fields.items():
        if key not in inputs and item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING:
            errors.append({"property_path": key, "reason": "required property is missing"})
    if errors:
        raise InputPropertiesError(f"invalid {entry.component.__name__} inputs", errors)
    return entry.args(**kwargs)


class MeshRolloutProvider(pulumi.provider.Provider):
    """Constructs mesh-rollout's components for the engine."""

    def __init__(self) -> None:
        super().__init__(version(), json.dumps(schema()))

    def construct(self, name: str, resource_type: str, inputs: pulumi.Inputs,
                  options: pulumi.ResourceOptions | None = None) -> pulumi.provider.ConstructResult:
        entry = BY_TOKEN.get(resource_type)
        if entry is None:
            raise ValueError(f"unknown resource type {resource_type}; this provider has {', '.join(BY_TOKEN)}")
        args = args_from_inputs(entry, inputs)
        if isinstance(args, MeshArgs):  # problems and warnings at the program's property: spec.services.…
            args = dataclasses.replace(args, config_root="spec")
        try:
            component = entry.build(name, args, options)
        except ConfigError as error:
            noun = "problem" if len(error.problems) == 1 else "problems"
            raise InputPropertiesError(f"invalid {entry.component.__name__} inputs ({len(error.problems)} {noun})", [
                {"property_path": property_path(entry, problem.path),
                 "reason": str(problem).partition(": ")[2] or problem.message}
                for problem in error.problems]) from None
        outputs = {camel(attribute): getattr(component, attribute)
                   for attribute, hint in type_hints(entry.component).items()
                   if typing.get_origin(hint) is pulumi.Output}
        return pulumi.provider.ConstructResult(urn=component.urn, state=outputs)


def main(argv: list[str] | None = None) -> None:
    """The plugin's entry point (``pulumi-resource-mesh-rollout``): serve the engine, or ``--schema``."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--schema"]:
        json.dump(schema(), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    pulumi.provider.main(MeshRolloutProvider(), args)


if __name__ == "__main__":
    main()

__all__ = ("BY_TOKEN", "COMPONENTS", "MeshRolloutProvider", "args_from_inputs", "main", "property_path", "schema",
           "sorted_keys", "version")
