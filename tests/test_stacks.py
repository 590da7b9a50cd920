"""The Pulumi program (__main__.py) on every stack file, under mocks: it parses, checks and registers the plan;
bad configuration fails with the documented error before anything is registered."""

import copy
import runpy
from pathlib import Path

import pytest

import harness
from conftest import ROOT, STACKS
from harness import run_program
from mesh_rollout.plan import object_key, plan
from mesh_rollout.spec import load_stack_file, read_stack_file

PASSWORD = "not-a-real-password"


def dev_mesh():
    """A fresh copy of the dev stack's mesh config, to break in one place."""
    return copy.deepcopy(read_stack_file(ROOT / "stacks" / "Pulumi.dev.yaml")["mesh"])


def stack_config(stack_file, mesh=None):
    raw = read_stack_file(stack_file)
    config = {f"mesh-rollout:{key}": value for key, value in raw.items()}
    if mesh is not None:
        config["mesh-rollout:mesh"] = mesh
    config["mesh-rollout:grafanaAdminPassword"] = PASSWORD
    return config


def run_main(config, secret_keys=("mesh-rollout:grafanaAdminPassword",)):
    return run_program(lambda: runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__"),
                       config=config, secret_keys=list(secret_keys))


@pytest.mark.parametrize("stack_file", STACKS, ids=lambda p: p.name)
def test_every_stack_registers_exactly_its_plan(stack_file):
    recorder = run_main(stack_config(stack_file))
    expected = plan(load_stack_file(stack_file))

    registered = sorted(recorder.kube_objects(), key=object_key)
    planned_objects = [item.manifest for item in expected.objects]
    planned_secrets = [{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": s.name, "namespace": s.namespace}}
                       for _, concern in expected.concerns() for s in concern.secrets]
    assert registered == sorted(planned_objects + planned_secrets, key=object_key)

    charts = [r.inputs["name"] for r in recorder.of_type("kubernetes:helm.sh/v4:Chart")]
    assert sorted(charts) == sorted(release.key for release in expected.releases)

    mesh = recorder.named("mesh")
    assert mesh.type == "mesh-rollout:index:Mesh"
    components = {r.type: r for r in recorder.registrations if r.parent == mesh.urn}
    assert set(components) == {f"mesh-rollout:index:{name}" for name in (
        "ControlPlane", "Injection", "MutualTls", "Traffic", "Egress", "Access", "Observability")}
    provider = recorder.named("k8s")
    for registration in recorder.registrations:
        if registration.type.startswith("kubernetes:") and registration.custom:
            assert registration.provider.startswith(provider.urn), registration.name


def test_local_stack_targets_the_local_cluster_with_istios_real_charts_and_add_on_manifests():
    local = ROOT / "stacks" / "Pulumi.local.yaml"
    recorder = run_main(stack_config(local))
    provider = recorder.named("k8s")
    assert "renderYamlToDirectory" not in provider.inputs
    # `~` is expanded: the provider gets the file scripts/cluster.sh writes.
    assert provider.inputs["kubeconfig"] == str(Path.home() / ".cache/mesh-rollout/cluster/kubeconfig")
    charts = recorder.of_type("kubernetes:helm.sh/v4:Chart")
    assets = Path.home() / ".cache/mesh-rollout/istio-1.30.4"
    assert {c.inputs["chart"] for c in charts} == {str(assets / "charts" / name) for name in ("base", "istiod",
                                                                                              "gateway")}
    # The node-less cluster option: no chart waits for pods that will never run.
    assert {c.inputs.get("skipAwait") for c in charts} == {True}
    files = recorder.of_type("kubernetes:yaml/v2:ConfigFile")
    assert sorted(f.inputs["file"] for f in files) == sorted(
        str(assets / "addons" / f"{name}.yaml") for name in ("prometheus", "jaeger", "grafana", "kiali"))
    assert {f.inputs.get("skipAwait") for f in files} == {True}


def test_a_stack_without_the_nodeless_option_waits_for_its_workloads():
    dev = ROOT / "stacks" / "Pulumi.dev.yaml"
    recorder = run_main(stack_config(dev))
    charts = recorder.of_type("kubernetes:helm.sh/v4:Chart")
    assert charts and all("skipAwait" not in c.inputs for c in charts)


def test_custom_resources_wait_for_control_plane_and_namespaces():
    dev = ROOT / "stacks" / "Pulumi.dev.yaml"
    recorder = run_main(stack_config(dev))
    # Pulumi expands a dependency on a component into its children: every chart and namespace.
    def children(name):
        parent = recorder.named(name).urn
        return {r.urn for r in recorder.registrations if r.parent == parent}

    control_plane, injection = children("mesh-control-plane"), children("mesh-injection")
    assert any("istiod" in urn for urn in control_plane) and any("namespace-shop" in urn for urn in injection)
    for name in ("mesh-traffic", "mesh-access", "mesh-mtls", "mesh-observability"):
        dependencies = set(recorder.named(name).dependencies)
        assert control_plane | injection <= dependencies, name
    assert control_plane <= set(recorder.named("mesh-injection").dependencies)


def test_grafana_password_is_a_secret_end_to_end():
    recorder = run_main(stack_config(ROOT / "stacks" / "Pulumi.dev.yaml"))
    secret = next(r for r in recorder.registrations if r.type == "kubernetes:core/v1:Secret")
    assert secret.inputs["stringData"]["admin-password"] == PASSWORD
    assert secret.is_secret("stringData", "admin-password")


def test_bad_config_fails_with_every_problem_and_registers_nothing(caplog):
    dev = ROOT / "stacks" / "Pulumi.dev.yaml"
    mesh = dev_mesh()
    mesh["services"]["order"]["traffic"]["retries"]["perTryTimout"] = "1s"
    mesh["services"]["payment"]["traffic"]["timeout"] = "soon"
    mesh["namespaces"]["shop"]["mode"] = "sidecars"
    with pytest.raises(SystemExit) as caught:
        run_main(stack_config(dev, mesh))
    assert caught.value.code == 1
    # Nothing at all was registered: not the provider, not the Mesh.
    assert harness.LAST.registrations == []
    text = caplog.text
    assert "invalid mesh configuration (3 problems)" in text
    assert "mesh.services.order.traffic.retries.perTryTimout: unknown key" in text
    assert ("mesh.services.payment.traffic.timeout: must be a duration such as 250ms, 2s, 1m30s or 1h (units ns, us, "
            "ms, s, m, h), got 'soon'") in text
    assert "mesh.namespaces.shop.mode: Input should be 'sidecar', 'ambient' or 'none', got 'sidecars'" in text


def test_out_of_range_weight_is_reported_with_path_expected_and_given(caplog):
    dev = ROOT / "stacks" / "Pulumi.dev.yaml"
    mesh = dev_mesh()
    mesh["services"]["catalog"]["traffic"]["split"] = {"v1": 90, "v2": 140}
    with pytest.raises(SystemExit):
        run_main(stack_config(dev, mesh))
    assert harness.LAST.registrations == []
    assert "mesh.services.catalog.traffic.split.v2: weight must be between 0 and 100, got 140 [MR102]" in caplog.text


def test_cross_resource_error_fails_before_registration(caplog):
    dev = ROOT / "stacks" / "Pulumi.dev.yaml"
    mesh = dev_mesh()
    mesh["services"]["catalog"]["traffic"]["split"] = {"v1": 90, "v3": 10}
    with pytest.raises(SystemExit):
        run_main(stack_config(dev, mesh))
    assert harness.LAST.registrations == []
    assert "mesh.services.catalog.traffic.split.v3" in caplog.text and "[MR101]" in caplog.text


def test_missing_grafana_secret_is_reported_before_registration(caplog):
    dev = ROOT / "stacks" / "Pulumi.dev.yaml"
    config = stack_config(dev)
    del config["mesh-rollout:grafanaAdminPassword"]
    with pytest.raises(SystemExit):
        run_main(config, secret_keys=())
    assert harness.LAST.registrations == []
    assert "grafanaAdminPassword: secret config is required" in caplog.text


def test_a_mesh_file_registers_the_same_mesh_as_inline_config(tmp_path):
    import yaml

    dev = ROOT / "stacks" / "Pulumi.dev.yaml"
    inline = stack_config(dev)
    (tmp_path / "mesh.yaml").write_text(yaml.safe_dump(inline["mesh-rollout:mesh"]))
    from_file = {key: value for key, value in inline.items() if key != "mesh-rollout:mesh"}
    from_file["mesh-rollout:meshFile"] = str(tmp_path / "mesh.yaml")
    expected = sorted(run_main(inline).kube_objects(), key=object_key)
    assert sorted(run_main(from_file).kube_objects(), key=object_key) == expected
