"""Metric-gated canary rollouts on the real engine (file backend, render mode) with a real Prometheus scraping a test
exporter of Istio-shaped series: ``python -m mesh_rollout.rollout`` run as users run it, in a subprocess.

Each test deploys its own stack (render mode: the VirtualService lands in a YAML file the test reads), sets the
canary's traffic on the exporter, and runs the command. Soaks are 1-2 s; gates read a 3 s rate() window.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from pulumi import automation as auto

from conftest import ROOT
from integration.conftest import copy_program
from mesh_rollout.spec import engine_yaml

#: The program; `mesh_rollout` (the program's and the rollout command's) comes from the venv's editable install.
COPIED = ("Pulumi.yaml", "__main__.py")
#: Where each run's command output goes (the README's examples are pasted from it).
TRANSCRIPTS = os.environ.get("MESH_ROLLOUT_TRANSCRIPTS")


@dataclass
class Project:
    root: Path
    state: Path
    env: dict[str, str]


@pytest.fixture(scope="module")
def project(tmp_path_factory, tools, prometheus) -> Project:
    """A throwaway copy of the Pulumi program with its own file backend; every test adds its own stack."""
    root = tmp_path_factory.mktemp("rollout") / "project"
    root.mkdir()
    copy_program(root, COPIED)
    (root / "stacks").mkdir()
    (root / "mesh").mkdir()
    (root / ".venv").symlink_to(ROOT / ".venv")
    state = root.parent / "state"
    state.mkdir()
    env = {key: value for key, value in os.environ.items() if key != "KUBECONFIG"}  # render mode refuses it
    env.update(PULUMI_BACKEND_URL=f"file://{state}", PULUMI_CONFIG_PASSPHRASE="rollout-tests",
               PULUMI_SKIP_UPDATE_CHECK="true", PATH=f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}",
               VIRTUAL_ENV=str(ROOT / ".venv"))
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("KUBECONFIG", raising=False)
        for key in ("PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "PULUMI_SKIP_UPDATE_CHECK", "PATH",
                    "VIRTUAL_ENV"):
            patch.setenv(key, env[key])
        yield Project(root, state, env)


def mesh(prometheus_url: str, rollout: dict) -> dict:
    """Two services in render mode: catalog (v1 stable, v2 canary) with the rollout policy, and order."""
    return {
        "controlPlane": {"install": False},
        "namespaces": {"shop": {}},
        "observability": {"prometheus": {"url": prometheus_url}, "grafana": {"enabled": False},
                          "jaeger": {"enabled": False}, "kiali": {"enabled": False}},
        "services": {
            "order": {"namespace": "shop", "traffic": {"timeout": "5s"}},
            "catalog": {"namespace": "shop", "versions": {"v1": {}, "v2": {}},
                        "traffic": {"split": {"v1": 100, "v2": 0}}, "rollout": rollout},
        },
    }


def deploy(project: Project, name: str, rollout: dict, prometheus_url: str, mesh_file: bool = False) -> auto.Stack:
    """Write stacks/Pulumi.<name>.yaml (the mesh inline, or in mesh/<name>.yaml), create the stack, up."""
    data = mesh(prometheus_url, rollout)
    config = {"mesh-rollout:cluster": {"renderDir": f"out/{name}"}}
    if mesh_file:
        (project.root / "mesh" / f"{name}.yaml").write_text(
            "# the mesh of a large stack lives in its own file\n" + yaml.safe_dump(data, sort_keys=False))
        config["mesh-rollout:meshFile"] = f"mesh/{name}.yaml"
    else:
        config["mesh-rollout:mesh"] = data
    (project.root / "stacks" / f"Pulumi.{name}.yaml").write_text(
        f"# rollout test stack {name}\n" + yaml.safe_dump({"config": config}, sort_keys=False))
    stack = auto.create_stack(stack_name=name, work_dir=str(project.root))
    assert stack.up().summary.result == "succeeded"
    return stack


def rendered_weights(project: Project, name: str, service: str = "catalog") -> dict[str, int]:
    path = project.root / "out" / name / "1-manifest" / f"networking.istio.io_v1-virtualservice-shop-{service}.yaml"
    route = yaml.safe_load(path.read_text())["spec"]["http"][-1]["route"]
    return {r["destination"]["subset"]: r["weight"] for r in route}


def rendered_files(project: Project, name: str) -> dict[str, str]:
    base = project.root / "out" / name
    return {str(p.relative_to(base)): p.read_text() for p in sorted(base.rglob("*.yaml"))}


def stack_config(project: Project, name: str) -> dict:
    return engine_yaml.load((project.root / "stacks" / f"Pulumi.{name}.yaml").read_text())["config"]


def record(project: Project, name: str, service: str = "catalog") -> dict:
    return stack_config(project, name)["mesh-rollout:rollout"][service]


class Run:
    """``python -m mesh_rollout.rollout`` in a subprocess, its stdout read as it comes (partial lines included:
    each step is one line, completed when the step is decided)."""

    def __init__(self, project: Project, *args: str):
        self.args = args
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mesh_rollout.rollout", *args], cwd=project.root, env=project.env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        self.out = ""

    def read(self, timeout: float = 0.2) -> bool:
        """Read what is available; ``False`` at the end of the output."""
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            return True
        chunk = os.read(self.process.stdout.fileno(), 65536)
        self.out += chunk.decode()
        return bool(chunk)

    def wait_for(self, pattern: str, timeout: float = 90) -> re.Match:
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(pattern, self.out)
            if found:
                return found
            assert time.monotonic() < deadline, f"no {pattern!r} in:\n{self.out}"
            if not self.read() and self.process.poll() is not None:
                raise AssertionError(f"exited {self.process.returncode} before {pattern!r}:\n{self.out}\n"
                                     f"{self.process.stderr.read().decode()}")

    def finish(self, timeout: float = 120) -> tuple[int, str, str]:
        deadline = time.monotonic() + timeout
        while self.read():
            assert time.monotonic() < deadline, f"still running after {timeout}s:\n{self.out}"
        status = self.process.wait(timeout=30)
        err = self.process.stderr.read().decode()
        if TRANSCRIPTS:
            with open(TRANSCRIPTS, "a") as transcript:
                transcript.write(f"$ python -m mesh_rollout.rollout {' '.join(self.args)}\n{self.out}{err}"
                                 f"# exit status {status}\n\n")
        return status, self.out, err


def healthy(exporter) -> None:
    """Both versions answer fast and well; decoys a wrong query would pick up: the canary's traffic as its callers
    report it (reporter="source", all 5xx) and a catalog v2 in another namespace (all 5xx, slow)."""
    exporter.reset()
    exporter.set("catalog", "shop", "v1", rps=50)
    exporter.set("catalog", "shop", "v2", rps=20, errors=0.0, latency_ms=40)
    exporter.set("catalog", "shop", "v2", reporter="source", rps=20, errors=1.0, latency_ms=4000)
    exporter.set("catalog", "other", "v2", rps=20, errors=1.0, latency_ms=4000)


def rollout_updates(stack: auto.Stack) -> list[auto.UpdateSummary]:
    return [u for u in stack.history() if (u.message or "").startswith("rollout catalog")]


def changes(updates: list[auto.UpdateSummary]) -> list[dict[str, int]]:
    """What each update changed (oldest first), leaving out the unchanged resources."""
    return [{k: v for k, v in (u.resource_changes or {}).items() if k != "same"} for u in reversed(updates)]


def test_a_healthy_canary_is_promoted_step_by_step_and_only_its_virtual_service_changes(project, prometheus,
                                                                                        istio_exporter):
    healthy(istio_exporter)
    policy = {"canary": "v2", "stable": "v1", "steps": [5, 25, 50, 100], "soak": "2s",
              "gates": {"successRate": 0.99, "p99LatencyMs": 500, "window": "3s"}}
    stack = deploy(project, "promote", policy, prometheus.url)
    before = rendered_files(project, "promote")
    # An edit of another service that is not deployed yet: a rollout's up must not deploy it.
    stack_file = project.root / "stacks" / "Pulumi.promote.yaml"
    stack_file.write_text(stack_file.read_text().replace("timeout: 5s", "timeout: 7s"))

    run = Run(project, "promote", "catalog")
    seen = {}
    for number, weights in enumerate(({"v1": 95, "v2": 5}, {"v1": 75, "v2": 25}, {"v1": 50, "v2": 50},
                                      {"v1": 0, "v2": 100}), start=1):
        run.wait_for(rf"step {number}/4  v1={weights['v1']} v2={weights['v2']}: applied, soak 2s")
        seen[number] = rendered_weights(project, "promote")  # read during the soak
        assert seen[number] == weights
    status, out, err = run.finish()
    assert status == 0, out + err
    assert out.count(": promote (successRate 1.0000 >= 0.99, p99 49.8ms <= 500ms)") == 4, out
    assert "promoted: catalog sends 100% to v2" in out

    assert rendered_weights(project, "promote") == {"v1": 0, "v2": 100}
    config = stack_config(project, "promote")
    assert config["mesh-rollout:mesh"]["services"]["catalog"]["traffic"]["split"] == {"v1": 0, "v2": 100}
    progress = record(project, "promote")
    assert (progress["status"], progress["step"], progress["weights"]) == ("promoted", 4, {"v1": 0, "v2": 100})
    assert stack.outputs()["rollout"].value["catalog"]["status"] == "promoted"
    # Only the catalog VirtualService changed: one update per step, nothing else rendered again, and the pending
    # edit of order (timeout 7s) was not deployed.
    updates = rollout_updates(stack)
    assert changes(updates) == [{"update": 1}] * 4 + [{}]
    after = rendered_files(project, "promote")
    changed = {name for name in before if before[name] != after.get(name)}
    assert changed == {"1-manifest/networking.istio.io_v1-virtualservice-shop-catalog.yaml"}
    assert "timeout: 5s" in after["1-manifest/networking.istio.io_v1-virtualservice-shop-order.yaml"]
    if TRANSCRIPTS:  # what the README shows after a promotion
        record_text = "  mesh-rollout:rollout:" + stack_file.read_text().split("  mesh-rollout:rollout:")[1]
        history = "\n".join(f"{u.message!r} {u.resource_changes}" for u in stack.history())
        with open(TRANSCRIPTS, "a") as transcript:
            transcript.write(f"$ tail stacks/Pulumi.promote.yaml\n{record_text}\n# stack.history(), newest first\n"
                             f"{history}\n\n")


def test_a_failing_canary_is_rolled_back_at_the_step_where_its_gate_fails(project, prometheus, istio_exporter):
    healthy(istio_exporter)
    policy = {"canary": "v2", "stable": "v1", "steps": [5, 25, 50, 100], "soak": "2s",
              "gates": {"successRate": 0.99, "p99LatencyMs": 500, "window": "3s"}}
    stack = deploy(project, "rollback", policy, prometheus.url, mesh_file=True)

    run = Run(project, "rollback", "catalog")
    run.wait_for(r"step 1/4  v1=95 v2=5: applied, soak 2s: promote")
    istio_exporter.set("catalog", "shop", "v2", rps=20, errors=0.2, latency_ms=40)  # 20% 5xx from now on
    status, out, err = run.finish()

    assert status == 1, out + err
    failed = re.search(r"step 2/4  v1=75 v2=25: applied, soak 2s: ROLLBACK \(successRate (0\.\d+) < 0\.99\)", out)
    assert failed and float(failed.group(1)) <= 0.85, out  # 20% 5xx over the window, measured by Prometheus
    measured = failed.group(1)
    assert "step 3/4" not in out
    assert (f"rolled back: catalog is back at v1=95 v2=5 (the last good weights, step 1/4): v2 failed step 2/4: "
            f"successRate {measured} < 0.99") in out, out
    assert rendered_weights(project, "rollback") == {"v1": 95, "v2": 5}
    # meshFile stack: the split was edited in the mesh file, the progress went to the stack file.
    mesh_text = (project.root / "mesh" / "rollback.yaml").read_text()
    assert mesh_text.startswith("# the mesh of a large stack lives in its own file\n")
    assert engine_yaml.load(mesh_text)["services"]["catalog"]["traffic"]["split"] == {"v1": 95, "v2": 5}
    progress = record(project, "rollback")
    assert (progress["status"], progress["step"], progress["weights"]) == ("rolled-back", 1, {"v1": 95, "v2": 5})
    assert f"successRate {measured} < 0.99" in progress["message"]
    assert changes(rollout_updates(stack)) == [{"update": 1}] * 3


def test_no_data_holds_and_after_max_holds_rolls_back_never_promotes(project, prometheus, istio_exporter):
    healthy(istio_exporter)
    istio_exporter.remove("catalog", "shop", "v2")  # the canary's own sidecars report nothing
    policy = {"canary": "v2", "stable": "v1", "steps": [50, 100], "soak": "1s", "maxHolds": 2,
              "gates": {"successRate": 0.99, "window": "3s"}}
    deploy(project, "nodata", policy, prometheus.url)

    status, out, err = Run(project, "nodata", "catalog").finish()
    assert status == 1, out + err
    assert "promote" not in out
    assert ": hold 1/2 (no data: successRate: empty result), soak 1s: hold 2/2 (no data: successRate: empty result)" \
           ", soak 1s: ROLLBACK (no data after 2 holds: successRate: empty result)" in out, out
    assert rendered_weights(project, "nodata") == {"v1": 100, "v2": 0}
    assert record(project, "nodata")["status"] == "rolled-back"


def test_an_interrupted_rollout_resumes_from_its_last_completed_step_and_a_second_one_is_refused(
        project, prometheus, istio_exporter):
    healthy(istio_exporter)
    policy = {"canary": "v2", "stable": "v1", "steps": [25, 50, 100], "soak": "2s",
              "gates": {"successRate": 0.99, "window": "3s"}}
    deploy(project, "resume", policy, prometheus.url)

    first = Run(project, "resume", "catalog")
    first.wait_for(r"step 2/3  v1=50 v2=50: applied, soak 2s")
    os.killpg(first.process.pid, signal.SIGSTOP)  # frozen in step 2's soak: still running, going nowhere
    # A second rollout on the same stack while the first one runs: refused, nothing changed.
    stack_file = project.root / "stacks" / "Pulumi.resume.yaml"
    text = stack_file.read_text()
    status, out, err = Run(project, "resume", "catalog").finish()
    assert status == 3, out + err
    assert "refused: a rollout of catalog on stack resume is already running" in err
    assert stack_file.read_text() == text
    # The first one dies (kill -9, no chance to clean up) during step 2's soak.
    os.killpg(first.process.pid, signal.SIGKILL)
    first.process.wait()
    assert record(project, "resume")["status"] == "running" and record(project, "resume")["step"] == 1

    status, out, err = Run(project, "resume", "catalog").finish()
    assert status == 0, out + err
    assert "resuming at step 2/3 from v1=75 v2=25" in out
    assert "step 1/3" not in out
    assert re.search(r"step 2/3  v1=50 v2=50: unchanged, soak 2s: promote", out), out
    assert re.search(r"step 3/3  v1=0 v2=100: applied, soak 2s: promote", out), out
    assert rendered_weights(project, "resume") == {"v1": 0, "v2": 100}
    assert record(project, "resume")["status"] == "promoted"


def test_a_rollout_is_refused_while_another_update_holds_the_stack_lock(project, prometheus, istio_exporter):
    healthy(istio_exporter)
    policy = {"canary": "v2", "stable": "v1", "steps": [50, 100], "soak": "1s",
              "gates": {"successRate": 0.99, "window": "3s"}}
    deploy(project, "locked", policy, prometheus.url)
    stack_file = project.root / "stacks" / "Pulumi.locked.yaml"
    text = stack_file.read_text()
    # Another checkout of the project (same backend, same stack) runs a slow `pulumi up`: it holds the stack lock.
    other = project.root.parent / "other-checkout"
    shutil.copytree(project.root, other, symlinks=True, ignore=shutil.ignore_patterns("out", "__pycache__"))
    (other / "__main__.py").write_text("import time\ntime.sleep(8)\n" + (project.root / "__main__.py").read_text())
    holder = subprocess.Popen(["pulumi", "up", "--yes", "--skip-preview", "--stack", "locked"], cwd=other,
                              env=project.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not list((project.state / ".pulumi" / "locks").rglob("*.json")):
            assert holder.poll() is None and time.monotonic() < deadline, holder.stdout.read().decode()
            time.sleep(0.2)
        status, out, err = Run(project, "locked", "catalog").finish()
    finally:
        holder.wait(timeout=60)
    assert status == 3, out + err
    assert "refused: stack locked is locked by another update (another rollout, or a pulumi up, refresh or " \
           "destroy). Step 1/2 was not deployed and the split is back at v1=100 v2=0." in err
    assert "`pulumi cancel --stack locked`" in err
    # The split is as before; the record says where to resume.
    assert stack_config(project, "locked")["mesh-rollout:mesh"]["services"]["catalog"]["traffic"]["split"] == \
        engine_yaml.load(text)["config"]["mesh-rollout:mesh"]["services"]["catalog"]["traffic"]["split"]
    progress = record(project, "locked")
    assert (progress["status"], progress["step"]) == ("interrupted", 0)
    assert rendered_weights(project, "locked") == {"v1": 100, "v2": 0}
