"""Typed, validated configuration of a mesh (pydantic v2). See README "Configuration reference"."""

from .base import Duration, duration_seconds
from .control_plane import (
    ChartRepository,
    ControlPlaneSpec,
    GatewayKind,
    GatewaySpec,
    HighAvailability,
    MeshConfig,
    OutboundTrafficPolicy,
    Resources,
    revision_from_version,
)
from . import engine_yaml
from .errors import ConfigError, Problem, UnreadableFile
from .cluster import ClusterSpec
from .loading import (
    CLUSTER_KEY, CONFIG_KEY, MESH_FILE_KEY, load_stack_file, mesh_data, parse_cluster, parse_mesh, project_dir,
    read_mesh_file, read_stack_file, read_yaml_file,
)
from .mesh import MeshSpec
from .namespaces import DataplaneMode, NamespaceSpec
from .observability import AddonSpec, GrafanaSpec, JaegerSpec, ObservabilitySpec, TracingSpec
from .security import AccessSpec, Caller, MtlsMode, MtlsSpec, WorkloadMtls
from .rollout import GatesSpec, RolloutSpec, WeightsManager
from .traffic import (
    CircuitBreakerSpec,
    ExposureSpec,
    FaultAbort,
    FaultDelay,
    FaultSpec,
    HeaderMatch,
    MatchRule,
    MirrorSpec,
    PortSpec,
    RetrySpec,
    ServiceSpec,
    TlsMode,
    TrafficSpec,
    VersionSpec,
)

__all__ = [name for name in dir() if not name.startswith("_")]
