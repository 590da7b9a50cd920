"""Reading stack files the way the Pulumi engine reads them, so ``show``, ``checks`` and ``pulumi preview`` agree.

The engine parses ``Pulumi.<stack>.yaml`` with Go's YAML library (YAML 1.2 rules) and hands a structured config
value to the program as JSON. PyYAML follows YAML 1.1, so the same file read with ``yaml.safe_load`` differs:

===============================  ==========================  ===========================
written                          the engine (program sees)   ``yaml.safe_load``
===============================  ==========================  ===========================
``yes``, ``no``, ``on``, ``Y``   the string                  ``True`` / ``False``
``1:30``                         the string ``"1:30"``       ``90``
``0777`` / ``0o17``              511 / 15                    511 / ``"0o17"``
``1e3``                          1000                        ``"1e3"``
``2001-12-14``                   ``"2001-12-14 00:00:00 +0000 UTC"``  a ``date``
``!!python/name:os.system``      ``""`` (unknown tags ignored)  refused
a key written twice              refused, with both lines    the last one wins
``.inf`` / ``.nan``              refused (not JSON)          a float
every number                     a float64 (2**53+1 → 2**53)  exact
===============================  ==========================  ===========================

This module reproduces the engine's column (checked against the real engine in
``tests/integration/test_engine_yaml.py``). Anything the engine refuses raises :class:`YamlError` with the line.
A file with several YAML documents is refused too: the engine would silently read only the first.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import math
import re
from decimal import Decimal
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

__all__ = ("YamlError", "load")

#: Deeper nesting than this is refused (no configuration needs it; Python's recursion limit would).
MAX_DEPTH = 200

_NULL = {"", "~", "null", "Null", "NULL"}
_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}
_INF_NAN = re.compile(r"^[-+]?\.(inf|Inf|INF)$|^\.(nan|NaN|NAN)$")
_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
# Go's strconv.ParseInt(s, 0, 64) after the YAML library removed every "_".
_GO_INT = re.compile(r"^[-+]?(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$")
_TIMESTAMP = re.compile(
    r"^(?P<year>[0-9]{4})-(?P<month>[0-9]{1,2})-(?P<day>[0-9]{1,2})"
    r"(?:(?P<sep>[Tt ])(?P<hour>[0-9]{1,2}):(?P<minute>[0-9]{1,2}):(?P<second>[0-9]{1,2})"
    r"(?:\.(?P<fraction>[0-9]+))?(?P<zone>Z|[-+][0-9]{2}:[0-9]{2})?)?$"
)
_STR, _INT, _FLOAT_TAG, _BOOL, _NULL_TAG = (f"tag:yaml.org,2002:{kind}" for kind in ("str", "int", "float", "bool",
                                                                                     "null"))
_BINARY, _TIMESTAMP_TAG, _MERGE = "tag:yaml.org,2002:binary", "tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:merge"


class YamlError(ValueError):
    """The file is not YAML the engine would accept; ``str()`` is one line naming the line number."""

    def __init__(self, reason: str, line: int | None = None):
        self.reason, self.line = reason, line
        super().__init__(f"line {line}: {reason}" if line else reason)


class _Timestamp:
    """A YAML timestamp; the engine turns it into Go's ``time.Time.String()``."""

    def __init__(self, text: str, match: re.Match[str]):
        parts = match.groupdict()
        self.value = dt.datetime(int(parts["year"]), int(parts["month"]), int(parts["day"]),
                                 int(parts["hour"] or 0), int(parts["minute"] or 0), int(parts["second"] or 0))
        self.nanos = int((parts["fraction"] or "0")[:9].ljust(9, "0"))
        zone = parts["zone"]
        self.offset = None if zone in (None, "Z") else zone.replace(":", "")
        if parts["sep"] and (parts["sep"] == " ") == bool(zone):
            raise ValueError(text)  # "2001-12-14 1:2:3Z" and "2001-12-14T1:2:3" match none of the engine's layouts

    def go_string(self) -> str:
        fraction = f".{self.nanos:09d}".rstrip("0") if self.nanos else ""
        zone = f"{self.offset} {self.offset}" if self.offset else "+0000 UTC"
        return f"{self.value:%Y-%m-%d %H:%M:%S}{fraction} {zone}"


def _timestamp(text: str) -> _Timestamp | None:
    match = _TIMESTAMP.match(text)
    if not match:
        return None
    try:
        return _Timestamp(text, match)
    except ValueError:
        return None


def _go_float(text: str) -> float | None:
    """Go's strconv.ParseFloat: ``None`` where it fails (overflow is an error there, underflow gives 0)."""
    value = float(text)
    return None if math.isinf(value) else value


def _resolve_plain(text: str, line: int) -> Any:
    """A plain (unquoted, untagged) scalar, resolved as the engine's YAML library does."""
    if text in _NULL:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    if _INF_NAN.match(text):
        raise YamlError(f"{text!r} is not a number the engine can pass on (JSON has no infinity or NaN); "
                        "quote it for a string", line)
    if text[:1] in "-+.0123456789":
        digits = text.replace("_", "")
        if _GO_INT.match(digits):
            number = int(digits, 8) if re.match(r"^[-+]?0[0-7]+$", digits) else int(digits, 0)
            if -(2**63) <= number < 2**63:
                return number
            if number < 2**64:  # a uint64 reaches the program as a float64
                return float(number)
        if _FLOAT.match(digits):
            value = _go_float(digits)
            if value is not None:
                return value
        stamp = _timestamp(text)
        if stamp is not None:
            return stamp
    return text


def _tagged_scalar(node: ScalarNode) -> Any:
    line = node.start_mark.line + 1
    text = node.value
    if node.tag == _STR:
        return text
    if node.tag == _BINARY:
        try:
            return base64.b64decode("".join(text.split()), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise YamlError(f"!!binary value is not base64-encoded UTF-8 text: {_short(text)}", line) from None
    resolved = _resolve_plain(text, line)
    expected = {_INT: (int,), _FLOAT_TAG: (int, float), _BOOL: (bool,), _NULL_TAG: (type(None),),
                _TIMESTAMP_TAG: (_Timestamp,)}.get(node.tag)
    if expected is None:
        return text  # an unknown tag (!custom, !!python/...): the engine keeps the text
    if (isinstance(resolved, bool) and bool not in expected) or not isinstance(resolved, expected):
        raise YamlError(f"cannot read {_short(text)} as {node.tag.rsplit(':', 1)[-1]}", line)
    if node.tag == _FLOAT_TAG and isinstance(resolved, int):
        return float(resolved)  # !!float 1 is 1.0
    return resolved


def _short(text: str, limit: int = 60) -> str:
    return repr(text) if len(text) <= limit else repr(text[:limit]) + f"… ({len(text)} characters)"


class _Converter:
    def __init__(self) -> None:
        self.depth = 0

    def value(self, node: Node) -> Any:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise YamlError(f"nesting deeper than {MAX_DEPTH} levels", node.start_mark.line + 1)
        try:
            if isinstance(node, ScalarNode):
                if getattr(node, "_explicit_tag", False):
                    return _tagged_scalar(node)
                if node.style is None:  # plain: PyYAML gave it a YAML 1.1 tag; resolve it by the engine's rules
                    return _resolve_plain(node.value, node.start_mark.line + 1)
                return node.value  # quoted or block scalar
            if isinstance(node, SequenceNode):
                return [self.value(item) for item in node.value]
            if isinstance(node, MappingNode):
                return self.mapping(node)
        finally:
            self.depth -= 1
        raise YamlError(f"unsupported YAML node {type(node).__name__}", node.start_mark.line + 1)

    def mapping(self, node: MappingNode) -> dict[str, Any]:
        result: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == _MERGE or (isinstance(key_node, ScalarNode) and key_node.value == "<<"
                                          and key_node.style is None):
                sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
                for source in sources:
                    if not isinstance(source, MappingNode):
                        raise YamlError("a merge key (<<) takes a mapping or a list of mappings", line)
                    for key, value in self.mapping(source).items():
                        merged.setdefault(key, value)
                continue
            key = self.key(key_node)
            if key in first_line:
                raise YamlError(f"mapping key {_short(key)} already defined at line {first_line[key]}", line)
            first_line[key] = line
            result[key] = self.value(value_node)
        return {**merged, **result}

    def key(self, node: Node) -> str:
        if not isinstance(node, ScalarNode):
            raise YamlError("a mapping key must be a scalar, not a list or mapping", node.start_mark.line + 1)
        value = self.value(node)
        return _go_key(value)


def _go_key(value: Any) -> str:
    """A mapping key as Go's fmt ``%v`` prints it (the engine's map keys are strings)."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_g(value)
    if isinstance(value, _Timestamp):
        return value.go_string()
    return str(value)


def _go_g(value: float) -> str:
    """Go's ``%v`` for a float64 (strconv's shortest ``g``): exponent form below 1e-4 and from 1e6."""
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    mantissa = "".join(map(str, digits))
    point = len(digits) + exponent - 1  # decimal exponent of the first digit
    prefix = "-" if sign else ""
    if value == 0:
        return "0"
    if point < -4 or point >= 6:
        head, tail = mantissa[0], mantissa[1:]
        return f"{prefix}{head}{'.' + tail if tail else ''}e{'-' if point < 0 else '+'}{abs(point):02d}"
    return prefix + format(Decimal(repr(abs(value))).normalize(), "f")


def _as_json_number(value: float | int) -> float | int:
    """A number as the program gets it: int64 values exactly; floats through Go's JSON encoding, so integral
    values below 1e21 arrive as Python ints (Go prints them without a fraction), the rest as floats."""
    if isinstance(value, int):
        return value
    if value == int(value) and abs(value) < 1e21:
        return int(Decimal(repr(value)))
    return value


def _as_json(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return _as_json_number(value)
    if isinstance(value, _Timestamp):
        return value.go_string()
    if isinstance(value, list):
        return [_as_json(item) for item in value]
    return {key: _as_json(item) for key, item in value.items()}


class _Loader(yaml.SafeLoader):
    """PyYAML's parser and composer, remembering which scalars carried an explicit tag."""

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]  # types-PyYAML leaves Parser.peek_event unannotated
        explicit = isinstance(event, yaml.ScalarEvent) and event.tag is not None
        node = super().compose_node(parent, index)
        if explicit and isinstance(node, ScalarNode):
            node._explicit_tag = True  # type: ignore[attr-defined]
        return node


def load(text: str | bytes) -> Any:
    """Parse one YAML document with the engine's rules; the result is what a Pulumi program would receive."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as error:
            raise YamlError(f"not UTF-8 text (byte {error.object[error.start]:#04x} at offset {error.start})") \
                from None
    loader = _Loader(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.composer.ComposerError as error:
            if "expected a single document" in str(error):
                line = error.problem_mark.line + 1 if error.problem_mark else None
                raise YamlError("several YAML documents in one file; the engine reads only the first, so the rest "
                                "would be silently ignored: keep one document", line) from None
            raise
        except RecursionError:
            raise YamlError(f"nesting deeper than {MAX_DEPTH} levels") from None
        if node is None:
            return None
        return _as_json(_Converter().value(node))
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        reason = " ".join(part for part in (error.context, error.problem) if part)
        raise YamlError(f"invalid YAML: {reason}", mark.line + 1 if mark else None) from None
    except yaml.YAMLError as error:
        raise YamlError(f"invalid YAML: {str(error).splitlines()[0]}") from None
    finally:
        loader.dispose()
