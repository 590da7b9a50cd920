"""Istio's own validation of what every example stack generates: `istioctl validate` and offline
`istioctl analyze --use-kube=false`. Any error-level message fails."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import STACKS
from mesh_rollout.plan import plan
from mesh_rollout.plan.naming import version_labels, workload_labels
from mesh_rollout.spec import load_stack_file


def write_manifests(stack_file: Path, directory: Path) -> tuple[Path, Path]:
    """The stack's objects, and a stand-in for what the application and gateways bring: Services and pods."""
    spec = load_stack_file(stack_file)
    mesh_plan = plan(spec)
    generated = directory / "generated.yaml"
    generated.write_text(yaml.safe_dump_all([item.manifest for item in mesh_plan.objects], sort_keys=False))

    app = []
    for name, service in spec.services.items():
        ports = [{"port": p.port, "name": p.name or f"port-{p.port}", **({"appProtocol": p.app_protocol}
                                                                           if p.app_protocol else {})}
                 for p in service.ports] or [{"port": 80, "name": "http"}]
        labels = workload_labels(name, service)
        app.append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": service.namespace},
                    "spec": {"selector": labels, "ports": ports}})
        versions = service.versions.items() or [("v1", None)]
        for version, detail in versions:
            pod_labels = {**labels, **(version_labels(version, detail) if detail else {})}
            app.append({"apiVersion": "v1", "kind": "Pod",
                        "metadata": {"name": f"{name}-{version}", "namespace": service.namespace, "labels": pod_labels,
                                     "annotations": {"sidecar.istio.io/status": "{}"}},
                        "spec": {"serviceAccountName": service.service_account or name,
                                 "containers": [{"name": "app", "image": "app"}, {"name": "istio-proxy",
                                                                                  "image": "proxyv2"}]}})
    for name, gateway in spec.control_plane.gateways.items():
        labels = {"istio": name.removeprefix("istio-"), "app": name}
        app.append({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": f"{name}-0", "namespace": gateway.namespace, "labels": labels},
                    "spec": {"containers": [{"name": "istio-proxy", "image": "proxyv2"}]}})
        app.append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": gateway.namespace},
                    "spec": {"selector": labels, "ports": [{"port": 80, "name": "http"}]}})
    for namespace in {*(g.namespace for g in spec.control_plane.gateways.values()), spec.root_namespace}:
        if not any(item.key == f"Namespace/{namespace}" for item in mesh_plan.objects):
            app.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    workloads = directory / "workloads.yaml"
    workloads.write_text(yaml.safe_dump_all(app, sort_keys=False))
    return generated, workloads


@pytest.mark.parametrize("stack_file", STACKS, ids=lambda p: p.name)
def test_istioctl_validate_accepts_every_object(stack_file, tmp_path, tools):
    generated, _ = write_manifests(stack_file, tmp_path)
    result = subprocess.run([tools["istioctl"], "validate", "-f", str(generated)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Error" not in result.stdout + result.stderr


@pytest.mark.parametrize("stack_file", STACKS, ids=lambda p: p.name)
def test_istioctl_analyze_finds_no_errors(stack_file, tmp_path, tools):
    generated, workloads = write_manifests(stack_file, tmp_path)
    # --all-namespaces: without it, analyze --use-kube=false reads only the `default` namespace (everything here is
    # elsewhere, so it would check nothing).
    result = subprocess.run([tools["istioctl"], "analyze", "--use-kube=false", "--all-namespaces",
                             "--failure-threshold", "Error", "--output-threshold", "Info", str(generated),
                             str(workloads)],
                            capture_output=True, text=True)
    output = result.stdout + result.stderr
    errors = [line for line in output.splitlines() if re.match(r"^Error \[IST\d+\]", line)]
    assert errors == [], output
    assert result.returncode == 0, output


def test_istioctl_analyze_does_catch_a_broken_route_in_a_stack_namespace(tmp_path, tools):
    """The analyze step can fail on what the stacks generate: a VirtualService in `shop` routing to a subset no
    DestinationRule defines (IST0101). Without --all-namespaces, analyze would not even read `shop`."""
    generated, workloads = write_manifests(STACKS[0], tmp_path)
    broken = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
              "metadata": {"name": "broken", "namespace": "shop"},
              "spec": {"hosts": ["broken"], "http": [{"route": [{"destination": {"host": "catalog",
                                                                                 "subset": "nope"}}]}]}}
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(broken))

    def analyze(*flags: str) -> subprocess.CompletedProcess:
        return subprocess.run([tools["istioctl"], "analyze", "--use-kube=false", *flags, str(generated),
                               str(workloads), str(path)], capture_output=True, text=True)

    caught = analyze("--all-namespaces")
    assert caught.returncode != 0
    assert "IST0101" in caught.stdout + caught.stderr and "VirtualService shop/broken" in caught.stdout + caught.stderr
    # The trap this guards against: the same files without --all-namespaces pass, because only `default` is read.
    blind = analyze()
    assert "IST0101" not in blind.stdout + blind.stderr
