"""Validation at every component's boundary: a program that builds ``Traffic`` or ``Access`` directly gets the
same path-precise errors and the same checks ``Mesh`` gives, from plain dicts or models alike."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

import pulumi
import pydantic

from .checks import Finding, errors, warnings
from .checks.scopes import run_scope
from .spec import ConfigError, MeshSpec
from .spec.errors import problems_from_validation_error

T = TypeVar("T")

_ADAPTERS: dict[Any, pydantic.TypeAdapter[Any]] = {}


def coerce(kind: Any, value: Any, root: str) -> Any:
    """``value`` (plain data or models) validated as ``kind``; problems are reported with paths from ``root``
    (the argument's name, e.g. ``services.payment.traffic.timeout``)."""
    adapter = _ADAPTERS.get(kind)
    if adapter is None:
        adapter = _ADAPTERS[kind] = pydantic.TypeAdapter(kind)
    try:
        return adapter.validate_python(value, by_alias=True, by_name=False)  # camelCase keys only
    except pydantic.ValidationError as error:
        raise ConfigError(problems_from_validation_error(error, root)) from None


def partial_mesh(data: Mapping[str, Any]) -> MeshSpec:
    """A mesh holding only what a component was given (validated parts), with a control plane that installs
    nothing unless one is given."""
    return MeshSpec.model_validate({"controlPlane": {"install": False}, **data}, by_alias=True, by_name=False)


def _rooted(finding: Finding, paths: Mapping[str, str]) -> Finding:
    """The finding with its ``mesh.…`` path rewritten to the component's argument names."""
    for prefix, argument in paths.items():
        if finding.path == prefix or finding.path.startswith(prefix + "."):
            return dataclasses.replace(finding, path=argument + finding.path[len(prefix):])
    return finding


def check_component(spec: MeshSpec, scope: frozenset[str], paths: Mapping[str, str]) -> list[Finding]:
    """Run the checks of ``scope`` on ``spec``; raise :class:`ConfigError` on errors (paths rewritten by
    ``paths``, longest prefix first), return the warnings for the component to log."""
    ordered = dict(sorted(paths.items(), key=lambda item: -len(item[0])))
    found = [_rooted(item, ordered) for item in run_scope(spec, scope)]
    if errors(found):
        raise ConfigError([item.as_problem() for item in errors(found)])
    return warnings(found)


def log_warnings(found: list[Finding], resource: pulumi.Resource | None) -> None:
    for item in found:
        pulumi.log.warn(str(item), resource=resource)


__all__ = ("check_component", "coerce", "log_warnings", "partial_mesh")
