"""Reading configuration: plain data (from Pulumi config or a stack file) to a validated :class:`MeshSpec`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import pydantic

from . import engine_yaml
from .cluster import ClusterSpec
from .errors import ConfigError, Problem, UnreadableFile, problems_from_validation_error
from .mesh import MeshSpec

#: The structured stack config key holding the mesh (``mesh-rollout:mesh``).
CONFIG_KEY = "mesh"
#: The structured stack config key saying where to deploy (``mesh-rollout:cluster``).
CLUSTER_KEY = "cluster"
#: Config key naming a YAML file that holds the mesh instead of ``mesh-rollout:mesh`` (large meshes: the Python
#: language host hands a program its whole config in one environment variable, which Linux caps at 128 KiB).
MESH_FILE_KEY = "meshFile"
PROJECT = "mesh-rollout"


ModelT = TypeVar("ModelT", bound=pydantic.BaseModel)


def _parse(model: type[ModelT], data: Any, root: str, what: str) -> ModelT:
    """Validate a config value as ``model``; every problem is reported at once, paths starting at ``root``."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError([Problem(root, f"must be a mapping of {what} settings", type(data).__name__)])
    try:
        # Config keys are camelCase only: a snake_case synonym (retry_on) next to retryOn would silently win or lose.
        return model.model_validate(dict(data), by_alias=True, by_name=False)
    except pydantic.ValidationError as error:
        raise ConfigError(problems_from_validation_error(error, root)) from None


def parse_mesh(data: Any, root: str = CONFIG_KEY) -> MeshSpec:
    """Validate plain data as a :class:`MeshSpec`; every problem is reported at once as a :class:`ConfigError`."""
    return _parse(MeshSpec, data, root, "mesh")


def parse_cluster(data: Any, root: str = CLUSTER_KEY) -> ClusterSpec:
    """Validate plain data as a :class:`ClusterSpec` (same error reporting as :func:`parse_mesh`)."""
    return _parse(ClusterSpec, data, root, "cluster")


def read_yaml_file(path: str | Path) -> Any:
    """One YAML file read with the Pulumi engine's rules (:mod:`mesh_rollout.spec.engine_yaml`).

    Raises :class:`UnreadableFile` (a :class:`ConfigError` whose ``str()`` is one line) when the file is missing,
    not UTF-8, not YAML, holds several documents or anything the engine would refuse (duplicate keys, ``.inf``).
    """
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise UnreadableFile(str(path), f"cannot read: {error.strerror or error}") from None
    try:
        return engine_yaml.load(data)
    except engine_yaml.YamlError as error:
        raise UnreadableFile(str(path), str(error)) from None


def read_stack_file(path: str | Path) -> dict[str, Any]:
    """The ``config:`` mapping of a ``Pulumi.<stack>.yaml`` file, keys without the project prefix."""
    document = read_yaml_file(path)
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise UnreadableFile(str(path), f"a stack file must be a mapping (with a config: key), "
                                        f"not a {_kind(document)}")
    config = document.get("config")
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise UnreadableFile(str(path), f"config: must be a mapping of settings, not a {_kind(config)}")
    prefix = f"{PROJECT}:"
    return {key.removeprefix(prefix): value for key, value in config.items()}


def _kind(value: Any) -> str:
    return {list: "list", str: "string", bool: "boolean", int: "number", float: "number"}.get(type(value),
                                                                                             type(value).__name__)


def project_dir(stack_file: str | Path) -> Path:
    """The Pulumi project directory of a stack file: the nearest directory upwards holding ``Pulumi.yaml``."""
    start = Path(stack_file).resolve().parent
    for directory in (start, *start.parents):
        if (directory / "Pulumi.yaml").is_file():
            return directory
    return start


def read_mesh_file(path: str | Path, project: str | Path = ".") -> Any:
    """The mesh held by a ``meshFile`` (relative paths are relative to the project directory)."""
    file = Path(project) / Path(path).expanduser()
    try:
        return read_yaml_file(file)
    except UnreadableFile as error:
        reason = error.reason.removeprefix("cannot read: ")
        raise ConfigError([Problem(MESH_FILE_KEY, f"cannot read the mesh file {str(file)!r}: {reason}", str(path))]) \
            from None


def mesh_data(config: Mapping[str, Any], project: str | Path = ".") -> tuple[Any, str]:
    """The mesh's plain data from stack config (``mesh`` inline, or ``meshFile``) and the root its error paths
    start at."""
    # Empty values are what Pulumi.yaml's defaults give a stack that sets only the other key.
    inline, file = config.get(CONFIG_KEY) or None, config.get(MESH_FILE_KEY) or None
    if inline is not None and file is not None:
        raise ConfigError([Problem(MESH_FILE_KEY, f"set either {PROJECT}:{CONFIG_KEY} or {PROJECT}:{MESH_FILE_KEY}, "
                                   "not both", file)])
    if file is not None:
        if not isinstance(file, str):
            raise ConfigError([Problem(MESH_FILE_KEY, "must be a path to a YAML file", file)])
        return read_mesh_file(file, project), f"{file}:{CONFIG_KEY}"
    return inline, CONFIG_KEY


def load_stack_file(path: str | Path) -> MeshSpec:
    """Parse the mesh of a stack file (for tools and tests that run without the Pulumi engine)."""
    data, root = mesh_data(read_stack_file(path), project_dir(path))
    return parse_mesh(data, root=root)
