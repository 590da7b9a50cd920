#!/usr/bin/env python3
"""Regenerates the README sections derived from code: the configuration reference and the checks table.

    .venv/bin/python scripts/gen-docs.py          # rewrite README.md in place
    .venv/bin/python scripts/gen-docs.py --check  # exit 1 if README.md is stale (tests/test_docs.py does this)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from mesh_rollout.checks import markdown_table
from mesh_rollout.spec import reference

ROOT = Path(__file__).resolve().parent.parent

CHECKS_BEGIN, CHECKS_END = "<!-- BEGIN CHECKS TABLE -->", "<!-- END CHECKS TABLE -->"


def checks_table() -> str:
    return "\n".join([CHECKS_BEGIN, markdown_table(link_prefix="docs/checks.md"), CHECKS_END])


def replace_section(text: str, begin: str, end: str, body: str) -> str:
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise SystemExit(f"README.md lacks the markers {begin} … {end}")
    return pattern.sub(lambda _: body, text)


def render(text: str) -> str:
    text = replace_section(text, reference.BEGIN, reference.END, reference.markdown())
    return replace_section(text, CHECKS_BEGIN, CHECKS_END, checks_table())


def main() -> int:
    readme = ROOT / "README.md"
    current = readme.read_text()
    fresh = render(current)
    if "--check" in sys.argv:
        if fresh != current:
            print("README.md is stale: run .venv/bin/python scripts/gen-docs.py", file=sys.stderr)
            return 1
        return 0
    readme.write_text(fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
