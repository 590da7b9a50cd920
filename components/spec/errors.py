"""The one error type bad configuration raises, listing every problem with its config path."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pydantic
from pydantic_core import ErrorDetails


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the configuration."""

    #: Dotted config path, e.g. ``mesh.services.payment.traffic.split.v2``.
    path: str
    #: What was expected, in words.
    message: str
    #: The value that was given, when there was one.
    given: Any = None
    #: Stable check code (``MR…``) for cross-resource checks; empty for schema errors.
    code: str = ""

    def __str__(self) -> str:
        path = ".".join(shorten(segment, 80) for segment in self.path.split("."))
        text = f"{path}: {shorten(self.message, 500)}"
        if self.given is not None and "got " not in self.message:
            text += f", got {shorten(_safe_repr(self.given), 120)}"
        if self.code:
            text += f" [{self.code}]"
        return text


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except ValueError:  # an int beyond Python's 4300-digit conversion limit
        return f"an integer of about {int(value.bit_length() * 0.30103)} digits" if isinstance(value, int) \
            else f"a {type(value).__name__}"


def shorten(text: str, limit: int) -> str:
    """``text`` cut to about ``limit`` characters, saying how long it was (a 10,000-character value stays
    readable in an error message)."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text)} characters)"


class ConfigError(ValueError):
    """Raised when stack configuration is invalid, before any resource is registered."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = list(problems)
        noun = "problem" if len(self.problems) == 1 else "problems"
        lines = [f"invalid mesh configuration ({len(self.problems)} {noun}):"]
        lines += [f"  - {problem}" for problem in self.problems]
        super().__init__("\n".join(lines))


class UnreadableFile(ConfigError):
    """A stack or mesh file that cannot be read as YAML the engine accepts; ``str()`` is one line:
    ``stacks/Pulumi.dev.yaml: line 4: mapping key 'environment' already defined at line 3``."""

    def __init__(self, file: str, reason: str):
        self.file, self.reason = file, reason
        super().__init__([Problem(path=file, message=reason)])
        self.args = (f"{file}: {shorten(reason, 500)}",)

    def __str__(self) -> str:
        return str(self.args[0])


def problems_from_validation_error(error: pydantic.ValidationError, root: str) -> list[Problem]:
    """Turn pydantic's errors into :class:`Problem` objects whose paths start at ``root``."""
    problems = []
    for detail in error.errors(include_url=False):
        location = [str(part) for part in detail["loc"]]
        message = _expected(detail)
        given = None if detail["type"] in ("missing",) else detail.get("input")
        if location and location[-1] == "[key]":
            # A bad mapping key (a namespace or service name): report it at the key itself.
            location.pop()
            given = None  # the path ends with the key itself
        path = ".".join([root, *location])
        if isinstance(given, (dict, list)) and detail["type"] != "extra_forbidden":
            # A whole sub-mapping echoed back is noise; the message names the offending key.
            given = None
        problems.append(Problem(path=path, message=message, given=given))
    return problems


def _expected(detail: ErrorDetails) -> str:
    kind = detail["type"]
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        return "unknown key (check its spelling against the config reference)"
    message = detail["msg"]
    # pydantic prefixes custom validator messages with "Value error, "; the rest already reads well.
    return message.removeprefix("Value error, ")
