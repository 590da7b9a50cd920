#!/usr/bin/env python3
"""`pulumi preview` / `pulumi up` of the synthetic mesh against a real local API server, against two baselines
measured in the same run on the same server.

For each size (services; each has two versions, a 90/10 split, retries, a circuit breaker and an allow-list, see
benchmarks/plan_pipeline.py) it times, on a fresh local control plane (scripts/cluster.sh, Istio's CRDs applied):

- **ours**: the project's own program (`__main__.py` through the language host, the `Mesh` component tree) via the
  Automation API: preview of the creation, up, a no-op up, an up after one canary weight change;
- **bare**: a Pulumi program registering the very same objects (taken from the plan) as plain `Namespace` and
  `CustomResource` resources, no components, same engine, provider and settings;
- **kubectl**: `kubectl apply --server-side` of the same objects as one file (create, no-op, one change).

It also samples the peak RSS of the whole process tree (engine, language host, program, provider plugin), and
writes the table to docs/benchmarks.md unless --no-write. Engine settings are passed as environment variables
(`--engine-env PULUMI_SKIP_CHECKPOINTS=true`) and recorded with the results.

    .venv/bin/python benchmarks/cluster_apply.py [--sizes 100 1000] [--engine-env K=V ...] [--no-write]

Needs the tools of scripts/install-tools.sh on PATH (`. scripts/bootstrap.sh`). Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import yaml

from mesh_rollout.plan import plan
from mesh_rollout.spec import parse_mesh
from mesh_rollout.versions import DEFAULT_ISTIO_VERSION

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from plan_pipeline import mesh_config  # noqa: E402  (the script beside this one)

BARE_PROGRAM = '''
import json, pathlib
import pulumi, pulumi_kubernetes as k8s

objects = json.loads(pathlib.Path(__file__).with_name("objects.json").read_text())
provider = k8s.Provider("k8s", kubeconfig=pulumi.Config().require("kubeconfig"))
namespaces = {}
for o in objects:
    if o["kind"] == "Namespace":
        namespaces[o["metadata"]["name"]] = k8s.core.v1.Namespace(
            o["metadata"]["name"], metadata=o["metadata"], opts=pulumi.ResourceOptions(provider=provider))
for o in objects:
    if o["kind"] != "Namespace":
        meta = o["metadata"]
        after = [namespaces[meta["namespace"]]] if meta.get("namespace") in namespaces else []
        k8s.apiextensions.CustomResource(
            f'{o["kind"]}-{meta.get("namespace", "")}-{meta["name"]}'.lower(), api_version=o["apiVersion"],
            kind=o["kind"], metadata=meta, spec=o.get("spec", {}),
            opts=pulumi.ResourceOptions(provider=provider, depends_on=after))
'''


# ---------------------------------------------------------------------------------------------------------- memory
def tree_rss(pid: int) -> int:
    """Resident memory (bytes) of ``pid`` and all its descendants."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
            rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        total += rss.get(current, 0)
        stack.extend(children.get(current, []))
    return total


@contextmanager
def peak_rss() -> Iterator[list[int]]:
    """Samples this process tree's RSS every 100 ms; yields a one-element list holding the peak."""
    peak, done = [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], tree_rss(os.getpid()))
            done.wait(0.1)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        done.set()
        thread.join()


@dataclass
class Measure:
    seconds: float
    peak: int


def measure(action: Callable[[], object]) -> Measure:
    with peak_rss() as peak:
        start = time.perf_counter()
        action()
        elapsed = time.perf_counter() - start
    return Measure(elapsed, peak[0])


# --------------------------------------------------------------------------------------------------------- cluster
def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


@contextmanager
def local_cluster(work: Path) -> Iterator[Path]:
    api, etcd, peer, kcm = free_ports(4)
    env = {**os.environ, "MESH_ROLLOUT_CLUSTER_DIR": str(work / "cluster"), "MESH_ROLLOUT_CLUSTER_API_PORT": str(api),
           "MESH_ROLLOUT_CLUSTER_ETCD_PORT": str(etcd), "MESH_ROLLOUT_CLUSTER_ETCD_PEER_PORT": str(peer),
           "MESH_ROLLOUT_CLUSTER_KCM_PORT": str(kcm)}
    script = str(ROOT / "scripts" / "cluster.sh")
    out = subprocess.run(["bash", script, "start"], env=env, check=True, capture_output=True, text=True)
    try:
        yield Path(out.stdout.strip().splitlines()[-1])
    finally:
        subprocess.run(["bash", script, "stop"], env=env, capture_output=True)


def istio_crds() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    tools = Path(os.environ.get("MESH_ROLLOUT_TOOLS_DIR") or cache / "mesh-rollout" / "tools")
    assets = Path(os.environ.get("MESH_ROLLOUT_ISTIO_ASSETS_DIR") or tools.parent / f"istio-{DEFAULT_ISTIO_VERSION}")
    path = assets / "charts" / "base" / "files" / "crd-all.gen.yaml"
    if not path.is_file():
        sys.exit(f"{path} not found: run scripts/install-tools.sh istio-assets")
    return path


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> None:
    result = subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), *args], capture_output=True, text=True,
                            input=stdin)
    if result.returncode:
        sys.exit(f"kubectl {' '.join(args)} failed: {result.stderr.strip()[-2000:]}")


# ---------------------------------------------------------------------------------------------------------- runs
def change_one_weight(config: dict) -> dict:
    changed = json.loads(json.dumps(config))
    changed["services"]["svc-0"]["traffic"]["split"] = {"v1": 80, "v2": 20}
    return changed


def planned_objects(config: dict) -> list[dict]:
    return [item.manifest for item in plan(parse_mesh(config)).objects]


def pulumi_project(directory: Path, program: str | None) -> Path:
    directory.mkdir(parents=True)
    if program is None:  # ours: the repository's own program
        for name in ("Pulumi.yaml", "__main__.py"):  # mesh_rollout comes from the venv (editable install)
            source = ROOT / name
            (shutil.copytree if source.is_dir() else shutil.copy)(source, directory / name)
        (directory / "stacks").mkdir()
    else:
        (directory / "Pulumi.yaml").write_text("name: bare\nruntime: python\n")
        (directory / "__main__.py").write_text(program)
    (directory / ".venv").symlink_to(ROOT / ".venv")
    return directory


def write_ours_stack(project: Path, config: dict, kubeconfig: Path) -> None:
    # The mesh goes into a meshFile, as a large mesh must: the language host passes the whole stack config to the
    # program in one environment variable, and Linux refuses one over 128 KiB (1000 services: ~350 KB).
    (project / "mesh.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    document = {"config": {"mesh-rollout:cluster": {"kubeconfig": str(kubeconfig)},
                           "mesh-rollout:meshFile": "mesh.yaml"}}
    (project / "stacks" / "Pulumi.bench.yaml").write_text(yaml.safe_dump(document, sort_keys=False))


@dataclass
class Row:
    tool: str
    services: int
    objects: int
    results: dict[str, Measure] = field(default_factory=dict)


def run_pulumi(tool: str, config: dict, kubeconfig: Path, work: Path, env: dict[str, str]) -> Row:
    from pulumi import automation as auto

    objects = planned_objects(config)
    project = pulumi_project(work / tool, None if tool == "ours" else BARE_PROGRAM)
    state = work / f"state-{tool}"
    state.mkdir()
    os.environ.update({"PULUMI_BACKEND_URL": f"file://{state}", "PULUMI_CONFIG_PASSPHRASE": "bench", **env})

    def write(config_now: dict) -> None:
        if tool == "ours":
            write_ours_stack(project, config_now, kubeconfig)
        else:
            (project / "objects.json").write_text(json.dumps(planned_objects(config_now)))

    write(config)
    stack = auto.create_or_select_stack(stack_name="bench", work_dir=str(project))
    if tool == "bare":
        stack.set_config("kubeconfig", auto.ConfigValue(str(kubeconfig)))
    row = Row(tool, len(config["services"]), len(objects))
    row.results["preview"] = measure(lambda: stack.preview())
    row.results["up"] = measure(lambda: stack.up())
    row.results["no-op up"] = measure(lambda: stack.up())
    write(change_one_weight(config))
    row.results["1 change"] = measure(lambda: stack.up())
    stack.destroy()
    return row


def run_kubectl(config: dict, kubeconfig: Path, work: Path) -> Row:
    objects = planned_objects(config)
    row = Row("kubectl", len(config["services"]), len(objects))
    path = work / "objects.yaml"

    def apply(objs: list[dict]) -> None:
        path.write_text(yaml.safe_dump_all(objs, sort_keys=False))
        kubectl(kubeconfig, "apply", "--server-side", "--field-manager", "bench", "-f", str(path))

    # No "preview" for kubectl: a server-side dry run of objects in namespaces that do not exist yet is refused
    # (the dry run does not create the namespaces), so there is nothing comparable to measure.
    row.results["up"] = measure(lambda: apply(objects))
    row.results["no-op up"] = measure(lambda: apply(objects))
    row.results["1 change"] = measure(lambda: apply(planned_objects(change_one_weight(config))))
    namespaces = [o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"]
    kubectl(kubeconfig, "delete", "namespace", *namespaces, "--wait=true")
    return row


# --------------------------------------------------------------------------------------------------------- report
STEPS = ("preview", "up", "no-op up", "1 change")


def table(rows: list[Row]) -> list[str]:
    lines = ["| services | objects | tool | " + " | ".join(STEPS) + " | peak RSS | ours / bare (up) |",
             "|---:|---:|---|" + "---:|" * len(STEPS) + "---:|---:|"]
    bare_up = {row.services: row.results["up"].seconds for row in rows if row.tool == "bare"}
    for row in rows:
        peak = max(m.peak for m in row.results.values())
        ratio = ""
        if row.tool == "ours" and row.services in bare_up:
            ratio = f"{row.results['up'].seconds / bare_up[row.services]:.2f}"
        cells = " | ".join(f"{row.results[step].seconds:.1f} s" if step in row.results else "n/a" for step in STEPS)
        lines.append(f"| {row.services} | {row.objects} | {row.tool} | {cells} | {peak / 2**20:.0f} MiB | {ratio} |")
    return lines


def write_docs(lines: list[str], env: dict[str, str]) -> None:
    docs = ROOT / "docs" / "benchmarks.md"
    text = docs.read_text()
    # One block per engine setting, so runs with different settings sit side by side.
    key = " ".join(f"{k}={v}" for k, v in sorted(env.items())) or "defaults"
    begin, end = f"<!-- BEGIN CLUSTER BENCHMARK {key} -->", f"<!-- END CLUSTER BENCHMARK {key} -->"
    settings = ", ".join(f"`{k}={v}`" for k, v in sorted(env.items())) or "engine defaults"
    block = "\n".join([
        begin,
        f"`benchmarks/cluster_apply.py`, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, Python "
        f"{platform.python_version()}, {platform.machine()}, {os.cpu_count()} cores; engine settings: {settings}. "
        "Local API server (scripts/cluster.sh), Istio's CRDs applied; each tool on a fresh set of namespaces.",
        "", *lines, "", end])
    if begin in text:
        text = text[:text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        heading = "## On a real API server: pulumi preview/up against a bare program and kubectl"
        if heading not in text:
            text = text.rstrip() + f"\n\n{heading}\n"
        text = text.rstrip() + "\n\n" + block + "\n"
    docs.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--tools", nargs="+", default=["kubectl", "bare", "ours"], choices=["kubectl", "bare", "ours"])
    parser.add_argument("--engine-env", nargs="*", default=[], metavar="K=V",
                        help="environment for the Pulumi runs, e.g. PULUMI_SKIP_CHECKPOINTS=true")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    env = dict(item.split("=", 1) for item in args.engine_env)
    os.environ.pop("KUBECONFIG", None)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="mesh-rollout-bench-") as tmp, local_cluster(Path(tmp)) as kubeconfig:
        # What a bring-your-own control plane provides: Istio's CRDs and its root namespace.
        kubectl(kubeconfig, "apply", "--server-side", "-f", str(istio_crds()))
        kubectl(kubeconfig, "create", "namespace", "istio-system")
        for size in args.sizes:
            config = mesh_config(size)
            for tool in args.tools:
                work = Path(tmp) / f"{tool}-{size}"
                work.mkdir()
                row = run_kubectl(config, kubeconfig, work) if tool == "kubectl" else \
                    run_pulumi(tool, config, kubeconfig, work, env)
                rows.append(row)
                print(table(rows)[-1], flush=True)
    lines = table(rows)
    print("\n".join(lines))
    if not args.no_write:
        write_docs(lines, env)
    return 0


if __name__ == "__main__":
    sys.exit(main())
