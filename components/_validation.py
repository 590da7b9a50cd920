"""Validation at every component's boundary: a program that builds ``Traffic`` or ``Access`` directly gets the
same path-precise errors and the same checks ``Mesh`` gives, from plain dicts or models alike."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping
from typing import Any, TypeVar

import pulumi
import pydantic

from .checks import Finding, errors, warnings
from .checks.scopes import PLATFORM_DEPENDENT, run_scope
from .plan import ConcernPlan
from .platform import PlatformFacts, read_platform_facts
from .spec import ConfigError, MeshSpec, Problem
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


def _under(path: str, prefix: str, keys: Collection[str]) -> bool:
    return any(path == f"{prefix}.{key}" or path.startswith(f"{prefix}.{key}.") for key in keys)


def _what_the_platform_publishes(found: list[Finding], platform: PlatformFacts) -> list[Problem]:
    """For errors about something that exists in neither stack (a caller, a gateway): one more problem, at
    ``platform``, saying what the platform stack published that the app's config could have named."""
    about = {PLATFORM_DEPENDENT[item.code] for item in errors(found) if item.code in PLATFORM_DEPENDENT}
    problems = []
    if "callers" in about:
        problems.append(Problem("platform", f"the platform stack publishes {platform.describe_callers()}; a caller "
                                            "must be one of them or a service of this stack (or be marked "
                                            "external: true)"))
    if "gateways" in about:
        problems.append(Problem("platform", f"the platform stack publishes gateways "
                                            f"{platform.describe_gateways()}; a service is exposed through one of "
                                            "their ingress gateways or through a gateway of this stack"))
    return problems


def check_component(spec: MeshSpec, scope: frozenset[str], paths: Mapping[str, str],
                    platform: PlatformFacts | None = None,
                    foreign: Mapping[str, Collection[str]] | None = None) -> list[Finding]:
    """Run the checks of ``scope`` on ``spec``; raise :class:`ConfigError` on errors (paths rewritten by
    ``paths``, longest prefix first), return the warnings for the component to log.

    With ``platform``, ``spec`` also holds what the platform stack published; ``foreign`` names those entries
    (config path prefix -> keys), whose own findings are the platform stack's business and are left out."""
    ordered = dict(sorted(paths.items(), key=lambda item: -len(item[0])))
    theirs = foreign or {}
    found = [item for item in run_scope(spec, scope)
             if not any(_under(item.path, prefix, keys) for prefix, keys in theirs.items())]
    found = [_rooted(item, ordered) for item in found]
    if errors(found):
        context = _what_the_platform_publishes(found, platform) if platform is not None else []
        raise ConfigError([*(item.as_problem() for item in errors(found)), *context])
    return warnings(found)


def log_warnings(found: list[Finding], resource: pulumi.Resource | None) -> None:
    for item in found:
        pulumi.log.warn(str(item), resource=resource)


#: What a component accepts as ``platform``: the facts, their plain data, or an output holding that data (straight
#: from ``pulumi.StackReference(...).get_output("platformFacts")``).
PlatformInput = PlatformFacts | Mapping[str, Any] | pulumi.Output[Any]


def agreed(own: str | None, published: str | None, path: str, what: str, default: str) -> str:
    """A setting the app's component and the platform stack must agree on (trust domain, cluster domain): the
    component's when given, else the platform's, else ``default``; both given and different is an error."""
    if own is not None and published is not None and own != published:
        raise ConfigError([Problem(path, f"the platform stack publishes {what} {published!r} and every workload of "
                                         f"the mesh uses it; expected {published!r} (or leave {path} unset), "
                                         f"got {own!r}")])
    return own if own is not None else published if published is not None else default


#: A component's checks and plan for given platform facts (``None``: no platform stack); raises ConfigError.
Build = Callable[[PlatformFacts | None], tuple[ConcernPlan, list[Finding]]]


def plan_now(platform: PlatformFacts | Mapping[str, Any] | None, build: Build) -> tuple[ConcernPlan, list[Finding]]:
    """Checks and plan with facts that are already known: errors raise before anything is registered."""
    return build(None if platform is None else read_platform_facts(platform))


def plan_later(resource: pulumi.Resource, platform: pulumi.Output[Any], build: Build,
               shape: ConcernPlan) -> tuple[ConcernPlan, pulumi.Output[ConcernPlan]]:
    """Checks and plan once the platform's facts resolve (a StackReference output). Which objects exist cannot
    wait for an output (Pulumi registers resources up front), so ``shape`` (the plan with facts assumed) gives
    them, and each object's ``spec`` is an output of the real plan: a check error raised there fails those
    resources' registration, and with it the preview or update, with the same ConfigError message."""

    def resolve(raw: Any) -> ConcernPlan:
        plan, found = build(read_platform_facts(raw))
        log_warnings(found, resource)
        planned, expected = [item.key for item in plan.objects], [item.key for item in shape.objects]
        if planned != expected:  # the shape is derived from the app's own config only; a mismatch is a bug here
            raise AssertionError(f"objects planned with the platform's facts {planned} differ from those "
                                 f"registered {expected}")
        return plan

    real = platform.apply(resolve)

    def spec_of(key: str) -> pulumi.Output[Any]:
        return real.apply(lambda plan: plan.object(key).manifest.get("spec", {}))

    objects = [dataclasses.replace(item, manifest={**item.manifest, "spec": spec_of(item.key)})
               for item in shape.objects]
    return ConcernPlan(objects=objects), real


__all__ = ("Build", "PlatformInput", "agreed", "check_component", "coerce", "log_warnings", "partial_mesh",
           "plan_later", "plan_now")
