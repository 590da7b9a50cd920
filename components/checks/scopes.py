"""Which checks a component used on its own can run: those whose every input it holds.

``Mesh`` runs every check on the whole mesh. A program that builds ``Traffic`` or ``Access`` directly gives that
component only part of the mesh (no namespaces for ``Traffic``, no control plane for ``Injection``), so a check
that needs the missing part would report false problems there; each scope below lists the checks that do not.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..spec import MeshSpec
from .registry import Finding, sort_key

#: Services, their routing and exposure, the gateways they are exposed through.
TRAFFIC = frozenset({
    "MR101", "MR102", "MR103", "MR104", "MR105", "MR106", "MR107", "MR110", "MR111", "MR112", "MR120", "MR121",
    "MR170", "MR171", "MR172", "MR173", "MR180", "MR181",
    "MR280", "MR281", "MR282", "MR283", "MR284", "MR285", "MR286", "MR287", "MR288",
    "MR321", "MR322", "MR323", "MR325", "MR326",
})
#: Services' allow-lists, namespaces (default deny, ambient waypoints) and gateways.
ACCESS = frozenset({"MR140", "MR141", "MR142", "MR143", "MR160", "MR161", "MR193", "MR195",
                    "MR260", "MR261", "MR262", "MR263", "MR264", "MR266", "MR267"})
#: External services, the services that list them and the egress gateways they go through.
EGRESS = frozenset({"MR250", "MR251", "MR252", "MR253", "MR254", "MR255", "MR256", "MR257", "MR258", "MR259"})
#: mTLS exceptions and the services they select.
MUTUAL_TLS = frozenset({"MR190", "MR194"})
#: Namespaces and their enrollment labels.
INJECTION = frozenset({"MR150", "MR152"})
#: The control plane on its own.
CONTROL_PLANE = frozenset({"MR200"})

SCOPES = {"Traffic": TRAFFIC, "Egress": EGRESS, "Access": ACCESS, "MutualTls": MUTUAL_TLS, "Injection": INJECTION,
          "ControlPlane": CONTROL_PLANE}

#: Checks that ask whether something exists in the mesh, by what they look for (``callers``: namespaces and
#: workload identities; ``gateways``). A component given a platform stack's facts (``platform=``) checks against
#: the union of its own config and those facts, and these errors then also say what the platform published.
PLATFORM_DEPENDENT = {"MR140": "callers", "MR141": "callers", "MR170": "gateways"}


def run_scope(spec: MeshSpec, codes: Iterable[str]) -> list[Finding]:
    """The findings of the checks ``codes`` only, sorted like :func:`mesh_rollout.checks.run_checks`."""
    from . import CHECKS  # the registry is complete once the package is imported

    wanted = frozenset(codes)
    unknown = wanted - {check.code for check in CHECKS}
    if unknown:
        raise ValueError(f"unknown check codes in scope: {sorted(unknown)}")
    return sorted((item for check in CHECKS if check.code in wanted for item in check.run(spec)), key=sort_key)
