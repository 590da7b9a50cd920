"""Reading configuration: plain data (from Pulumi config or a stack file) to a validated :class:`MeshSpec`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, TypeVar

import pydantic
import yaml

from .errors import ConfigError, Problem, problems_from_validation_error
from .cluster import ClusterSpec
from .mesh import MeshSpec

#: The structured stack config key holding the mesh (``mesh-rollout:mesh``).
CONFIG_KEY = "mesh"
#: The structured stack config key saying where to deploy (``mesh-rollout:cluster``).
CLUSTER_KEY = "cluster"
PROJECT = "mesh-rollout"


ModelT = TypeVar("ModelT", bound=pydantic.BaseModel)


def _parse(model: type[ModelT], data: Any, root: str, what: str) -> ModelT:
    """Validate a config value as ``model``; every problem is reported at once, paths starting at ``root``."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError([Problem(root, f"must be a mapping of {what} settings", type(data).__name__)])
    try:
        return model.model_validate(dict(data))
    except pydantic.ValidationError as error:
        raise ConfigError(problems_from_validation_error(error, root)) from None


def parse_mesh(data: Any, root: str = CONFIG_KEY) -> MeshSpec:
    """Validate plain data as a :class:`MeshSpec`; every problem is reported at once as a :class:`ConfigError`."""
    return _parse(MeshSpec, data, root, "mesh")


def parse_cluster(data: Any, root: str = CLUSTER_KEY) -> ClusterSpec:
    """Validate plain data as a :class:`ClusterSpec` (same error reporting as :func:`parse_mesh`)."""
    return _parse(ClusterSpec, data, root, "cluster")


def read_stack_file(path: str | Path) -> dict[str, Any]:
    """The ``config:`` mapping of a ``Pulumi.<stack>.yaml`` file, keys without the project prefix."""
    document = yaml.safe_load(Path(path).read_text()) or {}
    config = document.get("config") or {}
    prefix = f"{PROJECT}:"
    return {key.removeprefix(prefix): value for key, value in config.items()}


def load_stack_file(path: str | Path) -> MeshSpec:
    """Parse the mesh of a stack file (for tools and tests that run without the Pulumi engine)."""
    return parse_mesh(read_stack_file(path).get(CONFIG_KEY))
