"""Cross-resource checks of a mesh, run on the typed spec before any resource is registered.

Modelled on ``istioctl analyze`` (IST codes) and Kiali's validations, each check has a stable code (``MR…``)
documented in ``docs/checks.md``. They are plain functions over a :class:`mesh_rollout.spec.MeshSpec`, usable
without Pulumi::

    from mesh_rollout.checks import raise_for_errors, run_checks
    from mesh_rollout.spec import load_stack_file

    findings = run_checks(load_stack_file("stacks/Pulumi.prod.yaml"))
    raise_for_errors(findings)          # ConfigError listing every error, with path and code

or from a shell / CI job: ``python -m mesh_rollout.checks stacks/Pulumi.*.yaml``.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..spec import ConfigError, MeshSpec
from . import (  # noqa: F401  (registers the checks)
    control_plane,
    egress,
    end_user_auth,
    exposure,
    identity,
    images,
    ingress,
    namespaces,
    revisions,
    rollout,
    security,
    traffic,
)
from .registry import Check, Finding, Severity, registered, sort_key

#: Every check, ordered by code.
CHECKS: tuple[Check, ...] = registered()


def run_checks(spec: MeshSpec) -> list[Finding]:
    """All findings of all checks, sorted by path then code. Pure: reads the spec, registers nothing."""
    if not isinstance(spec, MeshSpec):
        raise TypeError(f"run_checks takes a MeshSpec (mesh_rollout.spec.parse_mesh builds one), "
                        f"got {type(spec).__name__}")
    found = [item for each in CHECKS for item in each.run(spec)]
    return sorted(found, key=sort_key)


def errors(findings: Iterable[Finding]) -> list[Finding]:
    """The findings that stop a deployment."""
    return [item for item in findings if item.severity is Severity.ERROR]


def warnings(findings: Iterable[Finding]) -> list[Finding]:
    """The findings that are only reported."""
    return [item for item in findings if item.severity is Severity.WARNING]


def raise_for_errors(findings: Iterable[Finding]) -> None:
    """Raise :class:`mesh_rollout.spec.ConfigError` listing every error finding (path, message, code); warnings are
    ignored."""
    found = errors(findings)
    if found:
        raise ConfigError([item.as_problem() for item in found])


def markdown_table(link_prefix: str = "") -> str:
    """The table of all checks, as in ``docs/checks.md`` (``link_prefix="docs/checks.md"`` for the README)."""
    lines = ["| Code | Severity | Check |", "| --- | --- | --- |"]
    lines += [f"| [{c.code}]({link_prefix}#{c.anchor}) | {c.severity.value} | {c.title} |" for c in CHECKS]
    return "\n".join(lines)


__all__ = ("CHECKS", "Check", "Finding", "Severity", "errors", "markdown_table", "raise_for_errors", "run_checks",
           "warnings")
