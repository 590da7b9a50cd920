"""Run the mesh checks on stack files without Pulumi: ``python -m mesh_rollout.checks stacks/Pulumi.prod.yaml``.

Exit status: 0 no errors (warnings allowed unless ``--strict``), 1 check errors (or warnings with ``--strict``),
2 a stack file that does not parse. ``--table`` prints the checks table (Markdown) instead.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TextIO

from ..spec import ConfigError, UnreadableFile, load_stack_file
from . import errors, markdown_table, run_checks, warnings


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out if out is not None else sys.stdout
    parser = argparse.ArgumentParser(prog="python -m mesh_rollout.checks", description=__doc__.splitlines()[0])
    parser.add_argument("stacks", nargs="*", help="Pulumi.<stack>.yaml files (the mesh-rollout:mesh key is checked)")
    parser.add_argument("--strict", action="store_true", help="fail on warnings too")
    parser.add_argument("--table", action="store_true", help="print the Markdown table of all checks and exit")
    parser.add_argument("--link-prefix", default="", help="prefix of the table's links, e.g. docs/checks.md")
    args = parser.parse_args(argv)

    if args.table:
        print(markdown_table(args.link_prefix), file=out)
        return 0
    if not args.stacks:
        parser.error("give at least one stack file (or --table)")

    status = 0
    for stack in args.stacks:
        try:
            spec = load_stack_file(stack)
        except UnreadableFile as error:
            print(error, file=out)  # one line: the file, the line and the reason
            status = max(status, 2)
            continue
        except ConfigError as error:
            print(f"{stack}: {error}", file=out)
            status = max(status, 2)
            continue
        findings = run_checks(spec)
        for item in findings:
            print(f"{stack}: {item.severity.value}: {item}", file=out)
        found_errors, found_warnings = errors(findings), warnings(findings)
        print(f"{stack}: {len(found_errors)} error(s), {len(found_warnings)} warning(s)", file=out)
        if found_errors or (args.strict and found_warnings):
            status = max(status, 1)
    return status


if __name__ == "__main__":
    sys.exit(main())
