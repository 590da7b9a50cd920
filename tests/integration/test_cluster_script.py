"""scripts/cluster.sh itself: idempotent start, status, a taken port, stopping exactly its own processes."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import ROOT
from integration.conftest import free_ports

SCRIPT = str(ROOT / "scripts" / "cluster.sh")


def run(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", SCRIPT, *args], env=env, capture_output=True, text=True, timeout=300)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped) is not running.
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture()
def cluster_env(tools, tmp_path):
    api, etcd, peer, kcm = free_ports(4)
    env = {**os.environ, "MESH_ROLLOUT_CLUSTER_DIR": str(tmp_path / "cluster"),
           "MESH_ROLLOUT_CLUSTER_API_PORT": str(api), "MESH_ROLLOUT_CLUSTER_ETCD_PORT": str(etcd),
           "MESH_ROLLOUT_CLUSTER_ETCD_PEER_PORT": str(peer), "MESH_ROLLOUT_CLUSTER_KCM_PORT": str(kcm)}
    yield env
    run(env, "stop")


def test_start_is_idempotent_status_tells_and_stop_ends_exactly_its_processes(cluster_env):
    first = run(cluster_env, "start")
    assert first.returncode == 0, first.stderr
    kubeconfig = first.stdout.strip()
    assert Path(kubeconfig).is_file() and "127.0.0.1" in Path(kubeconfig).read_text()
    run_dir = Path(cluster_env["MESH_ROLLOUT_CLUSTER_DIR"]) / "run"
    pids = {name: int((run_dir / f"{name}.pid").read_text()) for name in
            ("etcd", "kube-apiserver", "kube-controller-manager")}
    assert all(alive(pid) for pid in pids.values())

    again = run(cluster_env, "start")
    assert again.returncode == 0 and again.stdout.strip() == kubeconfig
    assert "already running" in again.stderr
    assert {name: int((run_dir / f"{name}.pid").read_text()) for name in pids} == pids  # nothing restarted

    status = run(cluster_env, "status")
    assert status.returncode == 0 and "ready" in status.stdout
    # Bound to loopback only.
    assert f"127.0.0.1:{cluster_env['MESH_ROLLOUT_CLUSTER_API_PORT']}" in Path(kubeconfig).read_text()

    # A stale pid file pointing at someone else's process: stop must not touch it.
    bystander = subprocess.Popen(["sleep", "300"])
    try:
        stopped = run(cluster_env, "stop")
        assert stopped.returncode == 0, stopped.stderr
        deadline = time.monotonic() + 30
        while any(alive(pid) for pid in pids.values()) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(alive(pid) for pid in pids.values())
        (run_dir / "etcd.pid").write_text(str(bystander.pid))
        assert run(cluster_env, "stop").returncode == 0
        assert bystander.poll() is None, "stop killed a process it did not start"
    finally:
        bystander.kill()
    assert run(cluster_env, "status").returncode != 0


def test_a_taken_port_is_a_clear_error(cluster_env):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", int(cluster_env["MESH_ROLLOUT_CLUSTER_API_PORT"])))
        sock.listen()
        result = run(cluster_env, "start")
    assert result.returncode != 0
    port = cluster_env["MESH_ROLLOUT_CLUSTER_API_PORT"]
    assert f"port 127.0.0.1:{port} (for kube-apiserver) is already in use" in result.stderr
    assert "MESH_ROLLOUT_CLUSTER_API_PORT" in result.stderr
    assert "Traceback" not in result.stderr
