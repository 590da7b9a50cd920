"""Where a rollout writes: the service's split in the mesh (inline in the stack file, or in its ``meshFile``) and
the progress record ``mesh-rollout:rollout.<service>`` in the stack file.

Edits are surgical: only the scalars that change are rewritten (or a missing key inserted), so comments, ordering,
quoting and layout of the user's file stay as they were and ``git diff`` shows exactly the new weights. Every edit
is checked by reading the result back with the engine's YAML rules (:mod:`mesh_rollout.spec.engine_yaml`): the file
must mean exactly the old one plus the change, or nothing is written.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ..spec import CONFIG_KEY, MESH_FILE_KEY, engine_yaml
from ..spec.loading import PROJECT

#: The stack config key holding every service's rollout progress: ``mesh-rollout:rollout``.
RECORD_KEY = "rollout"


class EditError(RuntimeError):
    """A file could not be edited safely (nothing was written)."""


# --------------------------------------------------------------------------------------------- rendering values

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:/-]*$")
_PLAIN_WORD = re.compile(r"^[a-z][a-z0-9-]*$")
#: Words YAML 1.1 readers (PyYAML, older tools) would not read back as strings.
_SPECIAL = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}


def _render_key(key: str) -> str:
    if _PLAIN_KEY.match(key) and key.lower() not in _SPECIAL and ": " not in key and not key.endswith(":"):
        return key
    return json.dumps(key, ensure_ascii=False)


def render_flow(value: Any) -> str:
    """``value`` as one line of flow-style YAML that every YAML 1.1/1.2 reader (and the engine) reads back the same."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise EditError(f"cannot write {value!r}: the engine refuses non-finite numbers")
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        if _PLAIN_WORD.match(value) and value not in _SPECIAL:
            return value
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_render_key(str(k))}: {render_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(render_flow(v) for v in value) + "]"
    raise EditError(f"cannot write a {type(value).__name__} to a stack file")


def _render_entry(key: str, value: Any, indent: int) -> str:
    """A block-mapping entry (with its line break). A mapping holding mappings (a progress record) becomes a
    readable block; a mapping of plain values (weights) stays on one line."""
    pad = " " * indent
    if isinstance(value, Mapping) and any(isinstance(v, Mapping) for v in value.values()):
        return f"{pad}{_render_key(key)}:\n" + "".join(
            _render_entry(str(k), v, indent + 2) for k, v in value.items())
    return f"{pad}{_render_key(key)}: {render_flow(value)}\n"


# --------------------------------------------------------------------------------------------- editing

def _compose(text: str) -> Node:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        raise EditError(f"not YAML: {error}") from None
    if node is None:
        raise EditError("the file is empty")
    return node


def _child(node: MappingNode, key: str) -> Node | None:
    for key_node, value_node in node.value:
        if isinstance(key_node, ScalarNode) and key_node.value == key and isinstance(value_node, Node):
            return value_node
    return None


def _line_start(text: str, index: int) -> int:
    return text.rfind("\n", 0, index) + 1


def _insert(text: str, mapping: MappingNode, key: str, value: Any) -> str:
    """``text`` with ``key: value`` added at the end of ``mapping``."""
    if mapping.flow_style:
        end = mapping.end_mark.index - 1
        if text[end] != "}":
            raise EditError(f"unexpected flow mapping at line {mapping.start_mark.line + 1}")
        if mapping.value:
            last = mapping.value[-1][1].end_mark.index
            return f"{text[:last]}, {_render_key(key)}: {render_flow(value)}{text[last:]}"
        return f"{text[:end]}{_render_key(key)}: {render_flow(value)}{text[end:]}"
    indent = mapping.value[0][0].start_mark.column
    # A block mapping ends where the next token starts (a less indented key, or the end of the file): insert the
    # entry on a line of its own just before that line.
    end = mapping.end_mark.index
    entry = _render_entry(key, value, indent)
    if end >= len(text) and not text.endswith("\n"):
        return text + "\n" + entry
    start = _line_start(text, end)
    if text[start:end].strip():
        raise EditError(f"cannot find the end of the mapping at line {mapping.start_mark.line + 1}")
    return text[:start] + entry + text[start:]


def _replace(text: str, node: Node, value: Any) -> str:
    if isinstance(node, ScalarNode):
        start, end = node.start_mark.index, node.end_mark.index
        rendered = render_flow(value)
        if node.style in ("|", ">"):
            rendered += "\n"  # a block scalar's span takes its line break along
        return text[:start] + rendered + text[end:]
    if isinstance(node, (MappingNode, SequenceNode)) and node.flow_style:
        return text[:node.start_mark.index] + render_flow(value) + text[node.end_mark.index:]
    raise EditError(f"will not replace the block at line {node.start_mark.line + 1} by a single value")


def _set_one(text: str, path: Sequence[str], value: Any) -> str:
    node = _compose(text)
    for depth, key in enumerate(path):
        if not isinstance(node, MappingNode):
            raise EditError(f"{'.'.join(path[:depth]) or 'the document'} (line {node.start_mark.line + 1}) is not "
                            f"a mapping")
        child = _child(node, key)
        if child is None:
            nested = value
            for inner in reversed(path[depth + 1:]):
                nested = {inner: nested}
            return _insert(text, node, key, nested)
        node = child
    if isinstance(value, Mapping) and isinstance(node, MappingNode):
        for key, inner in value.items():
            text = _set_one(text, [*path, str(key)], inner)
        return text
    return _replace(text, node, value)


def _merged(document: Any, path: Sequence[str], value: Any) -> Any:
    """What ``document`` means after setting ``path`` to ``value`` (mappings merge key by key, as the edit does)."""
    if not path:
        if isinstance(value, Mapping) and isinstance(document, Mapping):
            result = dict(document)
            for key, inner in value.items():
                result[str(key)] = _merged(result.get(str(key)), [], inner)
            return result
        return _normalized(value)
    result = dict(document) if isinstance(document, Mapping) else {}
    result[path[0]] = _merged(result.get(path[0]), path[1:], value)
    return result


def _normalized(value: Any) -> Any:
    """Values as the engine reads them back: every number a float."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, Mapping):
        return {str(k): _normalized(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_normalized(v) for v in value]
    return value


def set_value(text: str, path: Sequence[str], value: Any) -> str:
    """``text`` (a YAML document) with ``path`` set to ``value``, changing nothing else.

    Mappings are merged key by key (keys not in ``value`` stay); a missing key is inserted at the end of its
    mapping. The result is read back with the engine's rules and must equal the old meaning plus this change.
    """
    new = _set_one(text, list(path), value)
    try:
        before, after = engine_yaml.load(text), engine_yaml.load(new)
    except engine_yaml.YamlError as error:
        raise EditError(f"the edit would not be YAML the engine reads ({error})") from None
    if _normalized(after) != _normalized(_merged(before, list(path), value)):
        raise EditError(f"the edit of {'.'.join(path)} would change more than that value")
    return new


# --------------------------------------------------------------------------------------------- the stack's files

def stack_config_dir(project: Path) -> Path:
    """The directory of the project's stack files (``stackConfigDir`` in ``Pulumi.yaml``)."""
    settings = yaml.safe_load((project / "Pulumi.yaml").read_text())
    directory = settings.get("stackConfigDir") if isinstance(settings, dict) else None
    return project / str(directory or ".")


@dataclass
class StackFiles:
    """The files one stack's rollout edits."""

    stack_file: Path
    project: Path

    def _config_key(self, text: str, name: str) -> str:
        """The key a setting has in this file: ``mesh-rollout:<name>``, or ``<name>`` if written unqualified."""
        root = _compose(text)
        config = _child(root, "config") if isinstance(root, MappingNode) else None
        if isinstance(config, MappingNode) and _child(config, name) is not None \
                and _child(config, f"{PROJECT}:{name}") is None:
            return name
        return f"{PROJECT}:{name}"

    def mesh_location(self) -> tuple[Path, list[str]]:
        """The file holding the mesh and the path of the mesh in it: the stack file under ``config``, or the
        ``meshFile`` (relative to the project directory) at its root."""
        text = self.stack_file.read_text()
        config = engine_yaml.load(text).get("config") or {}
        mesh_file = config.get(f"{PROJECT}:{MESH_FILE_KEY}") or config.get(MESH_FILE_KEY)
        if mesh_file:
            return self.project / Path(mesh_file).expanduser(), []
        return self.stack_file, ["config", self._config_key(text, CONFIG_KEY)]

    def write_split(self, service: str, weights: Mapping[str, int]) -> Path:
        """Set the service's ``traffic.split`` weights (other versions in the split stay); returns the file."""
        file, prefix = self.mesh_location()
        _write(file, set_value(file.read_text(), [*prefix, "services", service, "traffic", "split"], dict(weights)))
        return file

    def records(self) -> dict[str, dict[str, Any]]:
        """Every service's rollout record in the stack file."""
        config = engine_yaml.load(self.stack_file.read_text()).get("config") or {}
        records = config.get(f"{PROJECT}:{RECORD_KEY}") or config.get(RECORD_KEY) or {}
        return {name: record for name, record in records.items() if isinstance(record, dict)} \
            if isinstance(records, dict) else {}

    def write_record(self, service: str, record: Mapping[str, Any]) -> None:
        text = self.stack_file.read_text()
        key = self._config_key(text, RECORD_KEY)
        _write(self.stack_file, set_value(text, ["config", key, service], dict(record)))

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive access to the stack's files among rollouts on this machine (an advisory lock on the stack
        files' directory, released when the process exits however it exits)."""
        fd = os.open(self.stack_file.parent, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def _write(path: Path, text: str) -> None:
    """Replace ``path`` atomically (a reader sees the old file or the new one, never half of one)."""
    temporary = path.with_name(f".{path.name}.rollout-{os.getpid()}")
    temporary.write_text(text)
    os.chmod(temporary, path.stat().st_mode & 0o7777)
    os.replace(temporary, path)
