"""The building blocks of the checks: severities, findings, the check registry and its decorator.

Nothing here imports Pulumi: checks are plain functions over a :class:`mesh_rollout.spec.MeshSpec`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..spec import CONFIG_KEY, MeshSpec, Problem

_CODE = re.compile(r"^MR\d{3}$")


class Severity(str, enum.Enum):
    """How bad a finding is: errors stop ``pulumi preview``/``up``, warnings are logged."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    """One problem a check found, at a config path such as ``mesh.services.payment.traffic.split.v3``."""

    code: str
    severity: Severity
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message} [{self.code}]"

    def as_problem(self) -> Problem:
        """The finding as a :class:`mesh_rollout.spec.Problem` (for :class:`mesh_rollout.spec.ConfigError`)."""
        return Problem(path=self.path, message=self.message, code=self.code)


#: What a check function is: the spec in, its findings out (usually a generator).
CheckFunction = Callable[[MeshSpec], Iterable[Finding]]


@dataclass(frozen=True)
class Check:
    """A registered check: a stable code, a one-line title, its default severity and the function."""

    code: str
    title: str
    severity: Severity
    function: CheckFunction

    @property
    def anchor(self) -> str:
        """Anchor of the check's section in ``docs/checks.md`` (``mr101``)."""
        return self.code.lower()

    @property
    def docs(self) -> str:
        """Repository-relative link to the check's documentation."""
        return f"docs/checks.md#{self.anchor}"

    def run(self, spec: MeshSpec) -> list[Finding]:
        """This check alone: its findings, sorted like :func:`mesh_rollout.checks.run_checks` sorts them."""
        found = list(self.function(spec))
        for item in found:
            if not isinstance(item, Finding) or item.code != self.code:
                raise TypeError(f"check {self.code} ({self.function.__qualname__}) yielded {item!r}; "
                                f"expected Finding objects with code {self.code}")
        return sorted(found, key=sort_key)


_REGISTRY: dict[str, Check] = {}


def check(code: str, title: str, severity: Severity) -> Callable[[CheckFunction], CheckFunction]:
    """Register a function as the check ``code`` (one function per code; codes are unique and never reused)."""
    if not _CODE.match(code):
        raise ValueError(f"check code must look like MR123, got {code!r}")

    def register(function: CheckFunction) -> CheckFunction:
        if code in _REGISTRY:
            raise ValueError(f"check code {code} is registered twice ({_REGISTRY[code].function.__qualname__} "
                             f"and {function.__qualname__})")
        _REGISTRY[code] = Check(code=code, title=title, severity=severity, function=function)
        return function

    return register


def finding(code: str, path: str, message: str, severity: Severity | None = None) -> Finding:
    """A finding of the registered check ``code``, with that check's severity unless one is given."""
    return Finding(code=code, severity=severity or _REGISTRY[code].severity, path=path, message=message)


def registered() -> tuple[Check, ...]:
    """Every registered check, ordered by code."""
    return tuple(_REGISTRY[code] for code in sorted(_REGISTRY))


def path(*parts: object) -> str:
    """A config path from the root key: ``path("services", "payment")`` → ``mesh.services.payment``.

    List indexes are plain segments (``allowFrom.0``), like the paths pydantic's schema errors get.
    """
    return ".".join([CONFIG_KEY, *(str(part) for part in parts)])


def _segment_key(segment: str) -> tuple[int, int, str]:
    return (0, int(segment), "") if segment.isdigit() else (1, 0, segment)


def sort_key(found: Finding) -> tuple[tuple[tuple[int, int, str], ...], str, str]:
    """Findings sort by path (segment by segment, list indexes numerically: ``allowFrom.2`` before
    ``allowFrom.10``), then code, then message, so the order never depends on dict or check order."""
    return (tuple(_segment_key(segment) for segment in found.path.split(".")), found.code, found.message)
