"""``python -m mesh_rollout.rollout <stack> <service> [--dry-run] [--resume]``: a metric-gated canary rollout.

Moves the service's split from the rollout's stable version to its canary in the configured steps (one ``pulumi up``
per step, targeting only that service's VirtualService), soaks, asks Prometheus, and promotes, holds or rolls back.
Progress goes to the stack file (``mesh-rollout:rollout.<service>``) and, with each up, to the stack's outputs.

Exit status: 0 promoted (or nothing to do, or --dry-run); 1 rolled back; 2 bad config or usage; 3 refused (another
rollout runs, or the stack is locked); 4 pulumi up failed; 130 interrupted (rerun to resume).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .driver import Options, Rollout


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mesh_rollout.rollout", description=__doc__.splitlines()[0],
                                     epilog="Exit status: 0 promoted, 1 rolled back, 2 config/usage, 3 refused "
                                            "(concurrent), 4 pulumi up failed, 130 interrupted.")
    parser.add_argument("stack", help="a stack name (dev) or a stack file (stacks/Pulumi.dev.yaml)")
    parser.add_argument("service", help="the service to roll out (a key of mesh.services with a rollout policy)")
    parser.add_argument("--dry-run", action="store_true", help="print the steps and the queries; change nothing")
    parser.add_argument("--resume", action="store_true",
                        help="continue a rollout that stopped (needed when its record names another machine)")
    parser.add_argument("--project", type=Path, help="the Pulumi project directory (default: found from here)")
    args = parser.parse_args(argv)
    options = Options(stack=args.stack, service=args.service, project=args.project, dry_run=args.dry_run,
                      resume=args.resume)
    return Rollout(options).run()


if __name__ == "__main__":
    sys.exit(main())
