"""mesh-rollout: Pulumi components that roll an Istio service mesh out to Kubernetes.

``from components import Mesh, MeshArgs`` for the whole mesh, or one concern at a time: ``ControlPlane``,
``Injection``, ``MutualTls``, ``Traffic``, ``Access``, ``Observability``. The typed configuration lives in
``components.spec``, the pure spec → objects function in ``components.plan``, the cross-resource checks in
``components.checks``. Those three never import Pulumi, so tools and CI can use them without it: the component
classes below are imported on first use.
"""

from importlib import import_module
from typing import Any

_LAZY = {
    "Access": "access", "AccessArgs": "access",
    "ControlPlane": "control_plane", "ControlPlaneArgs": "control_plane",
    "Injection": "injection", "InjectionArgs": "injection",
    "Mesh": "mesh", "MeshArgs": "mesh",
    "MutualTls": "mutual_tls", "MutualTlsArgs": "mutual_tls",
    "Observability": "observability", "ObservabilityArgs": "observability",
    "Traffic": "traffic", "TrafficArgs": "traffic",
    "MeshPlan": "plan",
    "ConfigError": "spec", "MeshSpec": "spec", "parse_mesh": "spec",
    "run_checks": "checks",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'components' has no attribute {name!r}")
    value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
