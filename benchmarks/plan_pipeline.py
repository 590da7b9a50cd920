#!/usr/bin/env python3
"""How expensive is config -> spec -> checks -> plan, relative to just reading the equivalent Istio YAML?

For meshes of growing size (N services, each with two versions, a 90/10 split, retries, a circuit breaker and an
allow-list), times the pipeline ``parse_mesh`` + ``run_checks`` + ``plan`` and, in the same run, the baseline
``yaml.safe_load`` of the plan's objects as one multi-document YAML file (what a hand-written-YAML workflow
parses before ``kubectl apply``). Reports the best of ``--repeat`` runs, the ratio pipeline/baseline, and peak
memory (tracemalloc) of each. Results go to docs/benchmarks.md unless --no-write.

    .venv/bin/python benchmarks/plan_pipeline.py [--sizes 10 100 1000] [--repeat 5] [--no-write]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
import tracemalloc
from datetime import datetime, timezone
from pathlib import Path

import yaml

from mesh_rollout.checks import run_checks
from mesh_rollout.plan import plan
from mesh_rollout.spec import parse_mesh

ROOT = Path(__file__).resolve().parent.parent

Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def mesh_config(services: int) -> dict:
    """A synthetic mesh: ``services`` services in ten namespaces, each calling the previous one."""
    namespaces = {f"team-{i}": {"defaultDeny": True} for i in range(10)}
    config = {"controlPlane": {"install": False}, "namespaces": namespaces, "services": {}, "observability": None}
    for i in range(services):
        name, namespace = f"svc-{i}", f"team-{i % 10}"
        caller = f"team-{(i - 1) % 10}/svc-{i - 1}" if i else f"{namespace}/{name}"
        config["services"][name] = {
            "namespace": namespace,
            "ports": [{"port": 8080, "name": "http"}],
            "versions": {"v1": {}, "v2": {}},
            "access": {"allowFrom": [caller]},
            "traffic": {
                "split": {"v1": 90, "v2": 10},
                "timeout": "5s",
                "retries": {"attempts": 2, "perTryTimeout": "1s", "retryOn": "5xx"},
                "circuitBreaker": {"maxConnections": 100, "consecutive5xxErrors": 5},
            },
        }
    return config


def pipeline(config: dict):
    spec = parse_mesh(config)
    findings = run_checks(spec)
    assert not [f for f in findings if f.severity.value == "error"], findings[:3]
    return plan(spec)


def best_time(function, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def peak_memory(function) -> int:
    tracemalloc.start()
    function()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def measure(size: int, repeat: int) -> dict:
    config = mesh_config(size)
    objects = [item.manifest for item in pipeline(config).objects]
    document = yaml.dump_all(objects, Dumper=Dumper, sort_keys=False)

    def baseline():
        return list(yaml.load_all(document, Loader=Loader))

    ours = best_time(lambda: pipeline(config), repeat)
    theirs = best_time(baseline, repeat)
    return {
        "services": size,
        "objects": len(objects),
        "pipeline_s": ours,
        "baseline_s": theirs,
        "ratio": ours / theirs,
        "pipeline_peak_mib": peak_memory(lambda: pipeline(config)) / 2**20,
        "baseline_peak_mib": peak_memory(baseline) / 2**20,
    }


def markdown(rows: list[dict], repeat: int) -> str:
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Benchmarks",
        "",
        "## config → spec → checks → plan, against reading the same objects as YAML",
        "",
        f"`benchmarks/plan_pipeline.py`, {when}, Python {platform.python_version()}, {platform.machine()}, "
        f"best of {repeat}. Baseline (same run): `yaml.load_all` (C loader) of the plan's objects as one YAML "
        "file, i.e. what a hand-written-YAML workflow parses. Ratio = pipeline time / baseline time.",
        "",
        "| services | objects | pipeline | per service | baseline | ratio | pipeline peak | baseline peak |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['services']} | {r['objects']} | {r['pipeline_s'] * 1000:.1f} ms | "
                     f"{r['pipeline_s'] / r['services'] * 1e6:.0f} µs | "
                     f"{r['baseline_s'] * 1000:.1f} ms | {r['ratio']:.2f} | {r['pipeline_peak_mib']:.1f} MiB | "
                     f"{r['baseline_peak_mib']:.1f} MiB |")
    lines += ["", "Reading: the pipeline validates, cross-checks and generates everything it produces; a ratio "
              "below 1 means that costs less than merely parsing the YAML it replaces. The per-service column "
              "shows how it scales: roughly constant means linear in the number of services.", "",
              "History: the first run (2026-11-25) measured 167 ms and a ratio of 0.48 at 1000 services; check "
              "MR140 looked up service accounts per caller by scanning every service (quadratic). It now indexes "
              "them once per run. What still grows past 1000 services is the garbage collector's work over more live "
              "objects: with `gc.disable()` the same run measured 59 ms at 1000 and 193 ms at 3000 services "
              "(about 65 µs per service at both sizes).", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000, 3000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="print only; do not update docs/benchmarks.md")
    args = parser.parse_args(argv)
    rows = [measure(size, args.repeat) for size in args.sizes]
    text = markdown(rows, args.repeat)
    print(text)
    if not args.no_write:
        (ROOT / "docs" / "benchmarks.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
