"""Fixtures for tests that drive the real Pulumi engine (Automation API), istioctl and a real Kubernetes API server.

The tools come from scripts/install-tools.sh (scripts/test.sh puts them on PATH). A missing tool fails these tests,
it does not skip them; MESH_ROLLOUT_SKIP_INTEGRATION=1 skips them explicitly (e.g. a quick local run).

The cluster: one local control plane (scripts/cluster.sh) per test session, in a temporary state dir on free ports,
so it never touches the cluster `scripts/up-local.sh` leaves running. Stopped at the end of the session.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import ROOT
from mesh_rollout.versions import DEFAULT_ISTIO_VERSION

#: The program and its stacks. Not components/: the program imports `mesh_rollout`, which the venv holds as an
#: editable install of this checkout (pip install --no-deps -e ., scripts/bootstrap.sh), as a user's program would.
COPIED = ("Pulumi.yaml", "__main__.py", "stacks")
#: How the committed local stack names the cluster and Istio's assets (rewritten to the test session's).
LOCAL_KUBECONFIG = "~/.cache/mesh-rollout/cluster/kubeconfig"
LOCAL_ASSETS = f"~/.cache/mesh-rollout/istio-{DEFAULT_ISTIO_VERSION}"


def istio_assets_dir() -> Path:
    """Where scripts/install-tools.sh copied Istio's charts and add-on manifests (same rule as the script)."""
    if os.environ.get("MESH_ROLLOUT_ISTIO_ASSETS_DIR"):
        return Path(os.environ["MESH_ROLLOUT_ISTIO_ASSETS_DIR"])
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    tools = Path(os.environ.get("MESH_ROLLOUT_TOOLS_DIR") or cache / "mesh-rollout" / "tools")
    return tools.parent / f"istio-{DEFAULT_ISTIO_VERSION}"


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass
class Cluster:
    """A running local control plane."""

    kubeconfig: Path
    env: dict[str, str]

    def kubectl(self, *args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
        result = subprocess.run(["kubectl", "--kubeconfig", str(self.kubeconfig), *args], capture_output=True,
                                text=True, input=input, timeout=300)
        if check:
            assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stdout}{result.stderr}"
        return result

    def get(self, *args: str) -> dict[str, Any]:
        """``kubectl get … -o json``: what the API server holds, not what Pulumi's state says."""
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def exists(self, *args: str) -> bool:
        return self.kubectl("get", *args, check=False).returncode == 0


@pytest.fixture(scope="session")
def cluster(tools, tmp_path_factory):
    """A local API server + controller manager + etcd for the whole session (scripts/cluster.sh)."""
    missing = [name for name in ("etcd", "kube-apiserver", "kube-controller-manager", "kubectl")
               if shutil.which(name) is None]
    assert not missing, f"not on PATH: {missing}; run scripts/install-tools.sh cluster (scripts/test.sh does)"
    api, etcd, peer, kcm = free_ports(4)
    env = {**os.environ, "MESH_ROLLOUT_CLUSTER_DIR": str(tmp_path_factory.mktemp("cluster")),
           "MESH_ROLLOUT_CLUSTER_API_PORT": str(api), "MESH_ROLLOUT_CLUSTER_ETCD_PORT": str(etcd),
           "MESH_ROLLOUT_CLUSTER_ETCD_PEER_PORT": str(peer), "MESH_ROLLOUT_CLUSTER_KCM_PORT": str(kcm)}
    script = str(ROOT / "scripts" / "cluster.sh")
    started = subprocess.run(["bash", script, "start"], env=env, capture_output=True, text=True, timeout=300)
    assert started.returncode == 0, started.stderr
    try:
        yield Cluster(Path(started.stdout.strip().splitlines()[-1]), env)
    finally:
        subprocess.run(["bash", script, "stop"], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="session")
def istio_assets(tools) -> Path:
    """Istio's real charts and add-on manifests (scripts/install-tools.sh istio-assets)."""
    assets = istio_assets_dir()
    assert (assets / "charts" / "istiod" / "Chart.yaml").is_file(), \
        f"Istio's charts not found in {assets}: run scripts/install-tools.sh istio-assets (scripts/test.sh does)"
    return assets


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def tools():
    """Paths of the real tools, failing loudly when one is missing."""
    if os.environ.get("MESH_ROLLOUT_SKIP_INTEGRATION") == "1":
        pytest.skip("MESH_ROLLOUT_SKIP_INTEGRATION=1")
    found = {name: shutil.which(name) for name in ("pulumi", "pulumi-language-python", "pulumi-resource-kubernetes",
                                                    "istioctl")}
    missing = [name for name, path in found.items() if path is None]
    assert not missing, f"not on PATH: {missing}; run scripts/install-tools.sh (scripts/test.sh does)"
    return found


@pytest.fixture(scope="session")
def prometheus_tool() -> str:
    """The Prometheus binary (scripts/install-tools.sh prometheus), failing loudly when missing. Separate from
    :func:`tools`, so tests that need no Prometheus do not depend on it."""
    if os.environ.get("MESH_ROLLOUT_SKIP_INTEGRATION") == "1":
        pytest.skip("MESH_ROLLOUT_SKIP_INTEGRATION=1")
    path = shutil.which("prometheus")
    assert path, "prometheus not on PATH; run scripts/install-tools.sh prometheus (scripts/test.sh does)"
    return path


@pytest.fixture(scope="session")
def istio_exporter():
    """A test exporter of Istio-shaped series (tests/istio_exporter.py) on 127.0.0.1, for the whole session. Tests
    set the traffic they need (``reset()`` first)."""
    from istio_exporter import IstioExporter

    exporter = IstioExporter().start()
    try:
        yield exporter
    finally:
        exporter.stop()


@dataclass
class Prometheus:
    """A running Prometheus scraping the test exporter."""

    url: str
    process: subprocess.Popen
    log: Path


@pytest.fixture(scope="session")
def prometheus(prometheus_tool, istio_exporter, tmp_path_factory) -> Prometheus:
    """The real Prometheus on 127.0.0.1 (free port, temporary data dir, scrape_interval 1s) scraping
    :func:`istio_exporter`; ready once it has scraped the exporter twice. Stopped at the end of the session."""
    import time
    import urllib.request

    import yaml

    directory = tmp_path_factory.mktemp("prometheus")
    config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
              "scrape_configs": [{"job_name": "istio", "static_configs": [{"targets": [istio_exporter.target]}]}]}
    (directory / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_ports(1)[0]
    log = directory / "prometheus.log"
    with open(log, "w") as output:
        process = subprocess.Popen(
            [prometheus_tool, f"--config.file={directory / 'prometheus.yml'}",
             f"--storage.tsdb.path={directory / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
             "--log.level=warn"],
            stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        scrapes = istio_exporter.scrapes
        while True:
            assert process.poll() is None, f"prometheus exited: {log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, f"prometheus not ready after 60s: {log.read_text()[-2000:]}"
            try:
                ready = urllib.request.urlopen(f"{url}/-/ready", timeout=2).status == 200
            except OSError:
                ready = False
            if ready and istio_exporter.scrapes >= scrapes + 2:
                break
            time.sleep(0.2)
        yield Prometheus(url, process, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def copy_program(work: Path, names: tuple[str, ...] = COPIED) -> None:
    """The Pulumi program's files (by default COPIED) into ``work``."""
    for name in names:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, work / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, work / name)


def edit_mesh(project: Path, change: Callable[[dict[str, Any]], object], stack: str = "local") -> None:
    """Apply ``change`` to the ``mesh-rollout:mesh`` config of a stack file of ``project``, as a user edits it."""
    path = project / "stacks" / f"Pulumi.{stack}.yaml"
    document = yaml.safe_load(path.read_text())
    change(document["config"]["mesh-rollout:mesh"])
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def make_project(root: Path, cluster: Cluster, istio_assets: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A throwaway copy of the Pulumi project under ``root`` with its own file backend, sharing the repo's venv; its
    local stack targets the session's cluster and Istio assets."""
    work = root / "project"
    work.mkdir()
    copy_program(work)
    for stack_file in (work / "stacks").glob("Pulumi.*.yaml"):
        # A committed salt belongs to another passphrase; the throwaway backend makes its own.
        text = stack_file.read_text()
        text = text.replace(LOCAL_KUBECONFIG, str(cluster.kubeconfig)).replace(LOCAL_ASSETS, str(istio_assets))
        stack_file.write_text("\n".join(line for line in text.splitlines() if not line.startswith("encryptionsalt:")))
    (work / ".venv").symlink_to(ROOT / ".venv")
    state = root / "state"
    state.mkdir()
    # Render mode refuses a KUBECONFIG from the environment (pulumi-kubernetes #4399).
    monkeypatch.delenv("KUBECONFIG", raising=False)
    env = {
        "PULUMI_BACKEND_URL": f"file://{state}",
        "PULUMI_CONFIG_PASSPHRASE": "integration-tests",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    # The language host built here predates Pulumi.yaml's `virtualenv` option in some versions: also put the venv
    # first on PATH, as scripts/bootstrap.sh does.
    monkeypatch.setenv("PATH", f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("VIRTUAL_ENV", str(ROOT / ".venv"))
    return work


@pytest.fixture()
def project(tmp_path, tools, cluster, istio_assets, monkeypatch):
    """See :func:`make_project` (one per test)."""
    return make_project(tmp_path, cluster, istio_assets, monkeypatch)


def rendered_objects(directory: Path) -> list[dict]:
    """Every object pulumi-kubernetes' render mode wrote under ``directory``."""
    import yaml

    objects = []
    for path in sorted(directory.rglob("*.yaml")):
        objects.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return objects
