"""What will this stack create? ``python -m mesh_rollout.show stacks/Pulumi.dev.yaml``

Prints the plan of a stack file (Istio and Kubernetes objects, Helm releases with their values) as YAML, after the
same validation and checks ``pulumi preview`` runs. No Pulumi engine, cluster or credentials needed. ``--sbom``
prints what the stack deploys (charts, images, manifests, dashboards) as CycloneDX 1.5-shaped JSON instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from .checks import errors, run_checks
from .plan import CONCERNS, MeshPlan, plan
from .sbom import sbom
from .spec import CLUSTER_KEY, ConfigError, mesh_data, parse_cluster, parse_mesh, project_dir, read_stack_file


def stack_path(name_or_path: str) -> Path:
    """``dev`` means ``stacks/Pulumi.dev.yaml``; anything else is a path."""
    path = Path(name_or_path)
    if not path.exists() and "/" not in name_or_path and not name_or_path.endswith((".yaml", ".yml")):
        path = Path("stacks") / f"Pulumi.{name_or_path}.yaml"
    return path


def _summary(mesh_plan: MeshPlan) -> str:
    lines = []
    for name, concern in mesh_plan.concerns():
        kinds: dict[str, int] = {}
        for item in concern.objects:
            kinds[item.kind] = kinds.get(item.kind, 0) + 1
        parts = [f"{count} {kind}" for kind, count in sorted(kinds.items())]
        parts += [f"chart {release.chart}@{release.version or 'local'}" for release in concern.releases]
        parts += [f"manifest {manifest.path}" for manifest in concern.manifests]
        parts += [f"Secret {secret.name} (from secret config)" for secret in concern.secrets]
        lines.append(f"{name}: {', '.join(parts) if parts else 'nothing'}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mesh_rollout.show", description=__doc__.splitlines()[0])
    parser.add_argument("stack_file", help="a stack name (dev) or a stack file (stacks/Pulumi.dev.yaml)")
    parser.add_argument("--concern", choices=CONCERNS, help="print only this concern")
    parser.add_argument("--summary", action="store_true", help="print counts per concern instead of objects")
    parser.add_argument("--sbom", action="store_true",
                        help="print a CycloneDX 1.5-shaped JSON bill of materials (charts, images, dashboards)")
    args = parser.parse_args(argv)

    path = stack_path(args.stack_file)
    if not path.exists():
        print(f"{args.stack_file}: no such stack file ({path})", file=sys.stderr)
        return 2
    try:
        config = read_stack_file(path)  # read once: the mesh (inline or meshFile) and the cluster
        data, root = mesh_data(config, project_dir(path))
        spec = parse_mesh(data, root=root)
        cluster = parse_cluster(config.get(CLUSTER_KEY), root=CLUSTER_KEY)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    findings = run_checks(spec)
    for finding in findings:
        print(f"{finding.severity.value}: {finding}", file=sys.stderr)
    if errors(findings):
        return 2

    mesh_plan = plan(spec, nodeless=cluster.nodeless)
    if args.sbom:
        print(json.dumps(sbom(spec, mesh_plan, path.name.removeprefix("Pulumi.").rsplit(".", 1)[0]), indent=2))
        return 0
    if args.summary:
        print(_summary(mesh_plan))
        return 0
    document = mesh_plan.to_dict()
    if args.concern:
        document = {args.concern: document[args.concern]}
    print(yaml.safe_dump(document, sort_keys=False), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
