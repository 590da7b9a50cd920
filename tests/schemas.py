"""Strict validation of generated Istio objects against Istio's own CRD schemas (OpenAPI v3).

Kubernetes structural schemas never say ``additionalProperties: false`` because the API server prunes unknown
fields silently. Validated as-is, a typo such as ``perTryTimout`` would pass. Here every object schema that lists
``properties`` (and does not preserve unknown fields) is closed, so a misspelt or misplaced field fails the test.
CEL rules (``x-kubernetes-validations``) are not evaluated by jsonschema; tests cover those rules directly.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

#: Keys whose schemas add constraints to the object around them: their ``properties`` list only the fields they
#: constrain (Gateway API's address ``oneOf``), so closing them would refuse the object's other fields.
_BRANCHES = ("oneOf", "anyOf", "allOf")


def close_schema(schema: Any, branch: bool = False) -> Any:
    """A copy of ``schema`` where object schemas with ``properties`` reject unknown keys."""
    if isinstance(schema, list):
        return [close_schema(item, branch) for item in schema]
    if not isinstance(schema, dict):
        return schema
    closed = {key: close_schema(value, key in _BRANCHES) for key, value in schema.items()
              if not key.startswith("x-kubernetes-")}
    if (
        not branch
        and "properties" in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
        and "additionalProperties" not in schema
    ):
        closed["additionalProperties"] = False
    return closed


@dataclass
class IstioSchemas:
    """Validators by (apiVersion, kind) for the ``spec`` of Istio objects."""

    validators: dict[tuple[str, str], jsonschema.Draft7Validator]

    @classmethod
    def load(cls, path: Path) -> IstioSchemas:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        validators = {}
        for document in yaml.load_all(path.read_text(), Loader=loader):
            if not document or document.get("kind") != "CustomResourceDefinition":
                continue
            spec = document["spec"]
            for version in spec["versions"]:
                root = version["schema"]["openAPIV3Schema"]
                spec_schema = close_schema(root["properties"]["spec"])
                api_version = f"{spec['group']}/{version['name']}"
                validators[(api_version, spec["names"]["kind"])] = jsonschema.Draft7Validator(spec_schema)
        return cls(validators)

    def covers(self, manifest: dict[str, Any]) -> bool:
        """Whether Istio defines this object's apiVersion and kind."""
        return (manifest["apiVersion"], manifest["kind"]) in self.validators

    def errors(self, manifest: dict[str, Any]) -> list[str]:
        """Every schema violation in the object's spec, as ``path: message`` strings."""
        validator = self.validators[(manifest["apiVersion"], manifest["kind"])]
        found = []
        for error in validator.iter_errors(copy.deepcopy(manifest.get("spec", {}))):
            path = ".".join(str(part) for part in error.absolute_path) or "<spec>"
            found.append(f"{manifest['kind']}/{manifest['metadata']['name']} spec.{path}: {error.message}")
        return found
