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
})
#: Services' allow-lists, namespaces (default deny, ambient waypoints) and gateways.
ACCESS = frozenset({"MR140", "MR141", "MR142", "MR143", "MR160", "MR161", "MR193", "MR195"})
#: mTLS exceptions and the services they select.
MUTUAL_TLS = frozenset({"MR190", "MR194"})
#: Namespaces and their enrollment labels.
INJECTION = frozenset({"MR150", "MR152"})
#: The control plane on its own.
CONTROL_PLANE = frozenset({"MR200"})

SCOPES = {"Traffic": TRAFFIC, "Access": ACCESS, "MutualTls": MUTUAL_TLS, "Injection": INJECTION,
          "ControlPlane": CONTROL_PLANE}


def run_scope(spec: MeshSpec, codes: Iterable[str]) -> list[Finding]:
    """The findings of the checks ``codes`` only, sorted like :func:`mesh_rollout.checks.run_checks`."""
    from . import CHECKS  # the registry is complete once the package is imported

    wanted = frozenset(codes)
    unknown = wanted - {check.code for check in CHECKS}
    if unknown:
        raise ValueError(f"unknown check codes in scope: {sorted(unknown)}")
    return sorted((item for check in CHECKS if check.code in wanted for item in check.run(spec)), key=sort_key)
