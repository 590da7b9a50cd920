"""mesh-rollout: Pulumi components that roll an Istio service mesh out to Kubernetes.

``from mesh_rollout import Mesh, MeshArgs`` for the whole mesh, or one concern at a time: ``ControlPlane``,
``Injection``, ``MutualTls``, ``Traffic``, ``Egress``, ``Access``, ``Observability``. The typed configuration lives in
``mesh_rollout.spec``, the pure spec → objects function in ``mesh_rollout.plan``, the cross-resource checks in
``mesh_rollout.checks``; no module of those three imports Pulumi (importing them through this package does, for
the component classes below).

The source lives in the repository's ``components/`` directory; ``pyproject.toml`` maps it onto the import name
``mesh_rollout`` (README "Layout").
"""

from .access import Access, AccessArgs
from .certificate_authority import CertificateAuthority, CertificateAuthorityArgs
from .checks import run_checks
from .control_plane import ControlPlane, ControlPlaneArgs
from .egress import Egress, EgressArgs
from .injection import Injection, InjectionArgs
from .mesh import Mesh, MeshArgs
from .mutual_tls import MutualTls, MutualTlsArgs
from .observability import Observability, ObservabilityArgs
from .plan import MeshPlan
from .platform import PLATFORM_FACTS_OUTPUT, PlatformFacts
from .spec import ConfigError, MeshSpec, parse_mesh
from .traffic import Traffic, TrafficArgs

__all__ = (
    "PLATFORM_FACTS_OUTPUT",
    "Access",
    "AccessArgs",
    "CertificateAuthority",
    "CertificateAuthorityArgs",
    "ConfigError",
    "ControlPlane",
    "ControlPlaneArgs",
    "Egress",
    "EgressArgs",
    "Injection",
    "InjectionArgs",
    "Mesh",
    "MeshArgs",
    "MeshPlan",
    "MeshSpec",
    "MutualTls",
    "MutualTlsArgs",
    "Observability",
    "ObservabilityArgs",
    "PlatformFacts",
    "Traffic",
    "TrafficArgs",
    "parse_mesh",
    "run_checks",
)
