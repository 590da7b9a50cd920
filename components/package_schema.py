"""The Pulumi package schema of mesh-rollout's components, generated from the code that defines them.

Pulumi programs in other languages (YAML, TypeScript, Go, ...) use the components through mesh-rollout's component
provider (:mod:`mesh_rollout.provider`); the engine and their SDK generators read this schema. Nothing in it is
written by hand, so it cannot drift from the Python API:

- every component's inputs are its ``…Args`` dataclass fields (camelCase, as Pulumi names properties), documented by
  the ``#:`` comment above each field;
- the configuration models (``MeshSpec``, ``ServiceSpec``, …) become object types from their pydantic JSON schema;
- every component's outputs are its ``pulumi.Output[...]`` attributes, documented by the docstring under each.

Constraints JSON Schema can say and Pulumi's schema cannot (patterns, ranges, key formats) stay in the models: the
provider validates every input with them and reports problems at the property's path.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import itertools
import re
import sys
import textwrap
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

import pulumi
import pydantic

PACKAGE = "mesh-rollout"
#: Pulumi's type token prefix for this package's resources and object types.
MODULE = f"{PACKAGE}:index:"
ANY = {"$ref": "pulumi.json#/Any"}

JsonObject = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class ComponentEntry:
    """A component the provider can construct: its class, its args dataclass and the args it does not offer."""

    component: type[pulumi.ComponentResource]
    args: type[Any]
    #: Fields ``Mesh`` sets for its children, which mean nothing to a program (e.g. ``checked``).
    hidden: frozenset[str] = frozenset()

    @property
    def token(self) -> str:
        return MODULE + self.component.__name__

    def build(self, name: str, args: Any, opts: pulumi.ResourceOptions | None) -> pulumi.ComponentResource:
        """``component(name, args, opts)``: every component's constructor (the base class's is another)."""
        constructor = typing.cast(Callable[[str, Any, "pulumi.ResourceOptions | None"], pulumi.ComponentResource],
                                  self.component)
        return constructor(name, args, opts)


def camel(name: str) -> str:
    """``omit_secrets`` -> ``omitSecrets``: Pulumi's property naming."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


# ------------------------------------------------------------------------------------------------- documentation
def field_comments(cls: type[Any]) -> dict[str, str]:
    """The ``#:`` comment lines above each annotated attribute of ``cls`` (Sphinx's attribute doc comments)."""
    docs: dict[str, str] = {}
    pending: list[str] = []
    for line in textwrap.dedent(inspect.getsource(cls)).splitlines():
        stripped = line.strip()
        if stripped.startswith("#:"):
            pending.append(stripped[2:].strip())
            continue
        match = re.match(r"^\s+([A-Za-z_]\w*)\s*:", line)
        if match and pending:
            docs[match.group(1)] = " ".join(pending)
        pending = []
    return docs


def attribute_docstrings(cls: type[Any]) -> dict[str, str]:
    """The string literal right under each annotated attribute of ``cls`` (PEP 257 attribute docstrings)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    docs: dict[str, str] = {}
    for first, second in itertools.pairwise(body):
        if (isinstance(first, ast.AnnAssign) and isinstance(first.target, ast.Name)
                and isinstance(second, ast.Expr) and isinstance(second.value, ast.Constant)
                and isinstance(second.value.value, str)):
            docs[first.target.id] = inspect.cleandoc(second.value.value)
    return docs


def type_hints(cls: type[Any]) -> dict[str, Any]:
    """The annotations ``cls`` and its bases declare, evaluated (Pulumi's own base classes are left out: their
    annotations are not the component's interface). ``pulumi.Input[X]`` holds the forward reference
    ``'Output[T]'`` (T unsubstituted), which only ever becomes an output variant that the schema leaves out."""
    hints: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        if klass.__module__.partition(".")[0] in ("pulumi", "builtins", "typing", "abc"):
            continue
        module_globals = vars(sys.modules[klass.__module__])
        for name, annotation in vars(klass).get("__annotations__", {}).items():
            hints[name] = typing._eval_type(  # type: ignore[attr-defined]  # what get_type_hints does per name
                typing.ForwardRef(annotation) if isinstance(annotation, str) else annotation,
                module_globals, {"Output": pulumi.Output, "T": Any})
    return hints


def markdown(text: str) -> str:
    """reStructuredText roles and literals (``x``, :class:`X`) as the Markdown schema descriptions use."""
    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"`\1`", text)
    return text.replace("``", "`")


def summary(cls: type[Any]) -> str:
    return inspect.cleandoc(cls.__doc__ or "")


# ------------------------------------------------------------------------------------------------- models -> types
class TypeCollector:
    """Object and enum types, by token, found while converting models' JSON schemas."""

    def __init__(self) -> None:
        self.types: dict[str, JsonObject] = {}

    def model(self, model: type[pydantic.BaseModel]) -> JsonObject:
        """A reference to ``model``'s object type, adding it (and every model it uses) to :attr:`types`."""
        schema = model.model_json_schema(by_alias=True, mode="validation", ref_template="#/$defs/{model}")
        for name, definition in schema.get("$defs", {}).items():
            self._define(name, definition)
        own = {key: value for key, value in schema.items() if key != "$defs"}
        self._define(model.__name__, own)
        return {"$ref": f"#/types/{MODULE}{model.__name__}"}

    def _define(self, name: str, definition: JsonObject) -> None:
        token = MODULE + name
        if token in self.types:
            return
        description = definition.get("description", "")
        if "enum" in definition:
            values = definition["enum"]
            kind = {str: "string", int: "integer", float: "number", bool: "boolean"}[type(values[0])]
            self.types[token] = {"type": kind, "description": markdown(description),
                                 "enum": [{"value": value} for value in values]}
            return
        self.types[token] = {
            "type": "object",
            "description": markdown(description),
            "properties": {key: self.property(value) for key, value in definition.get("properties", {}).items()},
        }
        if definition.get("required"):
            self.types[token]["required"] = sorted(definition["required"])

    def property(self, node: JsonObject) -> JsonObject:
        """A Pulumi property type from one JSON Schema node (optional ``X | None`` is just ``X``)."""
        converted = self.type_of(node)
        if node.get("description"):
            converted["description"] = markdown(node["description"])
        default = node.get("default")
        if isinstance(default, (str, int, float, bool)) and "$ref" not in converted:
            converted["default"] = default
        return converted

    def type_of(self, node: JsonObject) -> JsonObject:
        if "$ref" in node:
            return {"$ref": "#/types/" + MODULE + node["$ref"].rsplit("/", 1)[-1]}
        if "anyOf" in node:
            variants = [self.type_of(variant) for variant in node["anyOf"] if variant.get("type") != "null"]
            return variants[0] if len(variants) == 1 else {"oneOf": variants}
        kind = node.get("type")
        if kind == "array":
            return {"type": "array", "items": self.type_of(node.get("items", {}))}
        if kind == "object":
            values = node.get("additionalProperties", True)
            return {"type": "object", "additionalProperties": self.type_of(values) if isinstance(values, dict)
                    else ANY}
        if kind in ("string", "integer", "number", "boolean"):
            return {"type": kind}
        return dict(ANY)


# ------------------------------------------------------------------------------------------------- python types
#: What makes a type an input another resource's output may fill: ``pulumi.Input[str]`` is ``str | Awaitable[str] |
#: Output[str]``.
_OUTPUT_WRAPPERS = (pulumi.Output, typing.get_origin(typing.Awaitable[str]))


def _plain_variants(hint: Any) -> list[Any]:
    """The variants of a union a schema can describe: ``None`` goes (every input is optional in a schema unless
    required), and so do ``Awaitable``/``Output`` (the property is a string, which another resource's output may
    fill)."""
    return [arg for arg in typing.get_args(hint)
            if arg is not type(None) and typing.get_origin(arg) not in _OUTPUT_WRAPPERS]


def accepts_outputs(hint: Any) -> bool:
    """Whether a type hint (from :func:`type_hints`) takes another resource's output anywhere in it, e.g.
    ``Mapping[str, pulumi.Input[str]]`` or ``PlatformFacts | pulumi.Output[Any] | None``."""
    return typing.get_origin(hint) in _OUTPUT_WRAPPERS or any(accepts_outputs(arg) for arg in typing.get_args(hint))


def python_type(hint: Any, collector: TypeCollector, where: str) -> JsonObject:
    """A Pulumi property type for an args field or output type hint; a hint with no meaning in a schema raises
    :class:`TypeError` naming ``where`` (a new field must be given a schema type, never dropped silently)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        variants = _plain_variants(hint)
        # `Spec | Mapping[str, Any]`: a model or its plain data; the schema offers the model's shape.
        models = [arg for arg in variants if isinstance(arg, type) and issubclass(arg, pydantic.BaseModel)]
        if len(models) == 1:
            return collector.model(models[0])
        if len(variants) == 1:
            return python_type(variants[0], collector, where)
        return {"oneOf": [python_type(arg, collector, where) for arg in variants]}
    if isinstance(hint, type) and issubclass(hint, pydantic.BaseModel):
        return collector.model(hint)
    if origin is pulumi.Output:
        return python_type(typing.get_args(hint)[0], collector, where)
    if hint in (str, int, float, bool):
        return {"type": {str: "string", int: "integer", float: "number", bool: "boolean"}[hint]}
    if origin in (dict, Mapping):
        key, value = typing.get_args(hint)
        if key is not str:
            raise TypeError(f"{where}: mapping keys must be strings in a Pulumi schema, got {key!r}")
        return {"type": "object", "additionalProperties": python_type(value, collector, where)}
    if origin in (list, tuple, frozenset, set):
        return {"type": "array", "items": python_type(typing.get_args(hint)[0], collector, where)}
    if hint is Any:
        return dict(ANY)
    raise TypeError(f"{where}: no Pulumi schema type for {hint!r}; give it one in mesh_rollout.package_schema")


def component_resource(entry: ComponentEntry, collector: TypeCollector) -> JsonObject:
    """The schema of one component: inputs from its args dataclass, outputs from its ``Output`` attributes."""
    args_hints = type_hints(entry.args)
    field_docs = field_comments(entry.args)
    inputs: JsonObject = {}
    required: list[str] = []
    for item in dataclasses.fields(entry.args):
        if item.name in entry.hidden:
            continue
        where = f"{entry.args.__name__}.{item.name}"
        prop = python_type(args_hints[item.name], collector, where)
        if not field_docs.get(item.name):
            raise TypeError(f"{where}: no #: doc comment (every public argument is documented)")
        prop["description"] = markdown(field_docs[item.name])
        if item.name == "secrets":  # secret config values (``Mesh``, ``Observability``): secret in every language
            prop["secret"] = True
        if item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING:
            required.append(camel(item.name))
        elif isinstance(item.default, (str, int, float, bool)):
            prop["default"] = item.default
        inputs[camel(item.name)] = prop
    output_hints = type_hints(entry.component)
    output_docs = attribute_docstrings(entry.component)
    outputs: JsonObject = {}
    for name, hint in output_hints.items():
        if typing.get_origin(hint) is not pulumi.Output:
            continue  # child components and internals are not outputs
        where = f"{entry.component.__name__}.{name}"
        if not output_docs.get(name):
            raise TypeError(f"{where}: no docstring under the output (every output is documented)")
        outputs[camel(name)] = {**python_type(hint, collector, where), "description": markdown(output_docs[name])}
    return {
        "isComponent": True,
        "description": markdown(summary(entry.component)),
        "inputProperties": inputs,
        "requiredInputs": sorted(required),
        "properties": outputs,
        "required": sorted(outputs),
    }


def package_schema(entries: list[ComponentEntry], version: str) -> JsonObject:
    """The whole package schema: one component resource per entry, the object types they use."""
    collector = TypeCollector()
    resources = {entry.token: component_resource(entry, collector) for entry in entries}
    return {
        "name": PACKAGE,
        "displayName": "mesh-rollout",
        "version": version,
        "description": "Istio service mesh rollouts as Pulumi components: control plane, injection, mTLS, traffic, "
                       "access and observability, validated before anything is registered.",
        "keywords": ["istio", "service-mesh", "kubernetes", "category/cloud", "kind/component"],
        "license": "Apache-2.0",
        "resources": resources,
        "types": dict(sorted(collector.types.items())),
        "language": {"python": {"packageName": "mesh_rollout"}},
    }


__all__ = ("ANY", "MODULE", "PACKAGE", "ComponentEntry", "TypeCollector", "accepts_outputs", "attribute_docstrings",
           "camel", "component_resource", "field_comments", "markdown", "package_schema", "python_type", "type_hints")
