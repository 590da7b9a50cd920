"""The policy pack's rules (policy/rules.py) on the objects the stacks generate, and on the violations."""

import importlib.util
import sys

import pytest

from conftest import ROOT, STACKS
from mesh_rollout.plan import plan
from mesh_rollout.spec import load_stack_file

spec = importlib.util.spec_from_file_location("policy_rules", ROOT / "policy" / "rules.py")
rules = importlib.util.module_from_spec(spec)
sys.modules["policy_rules"] = rules  # dataclasses look their module up
spec.loader.exec_module(rules)


@pytest.mark.parametrize("stack_file", STACKS, ids=lambda p: p.name)
def test_generated_objects_pass_every_rule(stack_file):
    spec = load_stack_file(stack_file)
    context = rules.MeshContext(spec.root_namespace, spec.production)
    for item in plan(spec).objects:
        obj = item.manifest
        assert not rules.mesh_wide_mtls_disabled(obj, context) and not rules.wildcard_allow(obj), item.key
        assert not rules.wildcard_principals(obj), item.key
        if spec.production:
            assert not rules.weak_mtls(obj, context) and not rules.fault_injection(obj), item.key
        if obj["apiVersion"].split("/")[0] in rules.ISTIO_GROUPS:
            assert not rules.legacy_api_version(obj), item.key


def test_the_mesh_context_follows_the_components_then_the_packs_config():
    mesh = ("mesh-rollout:index:Mesh", {"rootNamespace": "mesh-system", "production": True})
    mtls = ("mesh-rollout:index:MutualTls", {"rootNamespace": "other"})
    assert rules.mesh_context([], {}) == rules.MeshContext("istio-system", False)
    assert rules.mesh_context([mesh, mtls], {}) == rules.MeshContext("mesh-system", True)
    assert rules.mesh_context([mtls], {}) == rules.MeshContext("other", False)
    assert rules.mesh_context([mesh], {"rootNamespace": "x", "production": False}) == rules.MeshContext("x", False)


def pa(namespace, mode, selector=None, ports=None):
    spec = {"mtls": {"mode": mode}}
    if selector:
        spec["selector"] = {"matchLabels": selector}
    if ports:
        spec["portLevelMtls"] = {str(port): {"mode": m} for port, m in ports.items()}
    return {"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
            "metadata": {"name": "default", "namespace": namespace}, "spec": spec}


def test_mesh_wide_plaintext_follows_the_root_namespace():
    custom = rules.MeshContext("mesh-system")
    assert rules.mesh_wide_mtls_disabled(pa("mesh-system", "DISABLE"), custom)
    assert not rules.mesh_wide_mtls_disabled(pa("istio-system", "DISABLE"), custom)
    assert not rules.mesh_wide_mtls_disabled(pa("mesh-system", "DISABLE", selector={"app": "a"}), custom)


def test_production_mtls_is_strict_everywhere():
    prod = rules.MeshContext(production=True)
    assert rules.weak_mtls(pa("istio-system", "STRICT"), prod) == []
    assert rules.weak_mtls(pa("shop", "UNSET", selector={"app": "a"}), prod) == []
    assert rules.weak_mtls(pa("istio-system", "UNSET"), prod)  # the mesh-wide policy must say STRICT
    assert rules.weak_mtls(pa("shop", "PERMISSIVE"), prod) == ["PeerAuthentication shop/default sets mode PERMISSIVE"]
    assert rules.weak_mtls(pa("shop", "STRICT", selector={"app": "a"}, ports={9090: "DISABLE"}), prod) == [
        "PeerAuthentication shop/default sets mode DISABLE on port 9090"]


def test_wildcard_callers_and_faults_are_found():
    policy = {"kind": "AuthorizationPolicy", "spec": {"rules": [{"from": [{"source": {
        "principals": ["cluster.local/ns/shop/sa/order", "cluster.local/ns/shop/*"], "namespaces": ["*"]}}]}]}}
    assert rules.wildcard_principals(policy) == ["principals: cluster.local/ns/shop/*", "namespaces: *"]
    assert rules.wildcard_principals({**policy, "spec": {**policy["spec"], "action": "DENY"}}) == []
    named = {"kind": "AuthorizationPolicy", "spec": {"rules": [{"from": [{"source": {
        "principals": ["cluster.local/ns/shop/sa/order"]}}]}]}}
    assert rules.wildcard_principals(named) == []
    faulty = {"kind": "VirtualService", "spec": {"http": [{"route": []}, {"fault": {"abort": {}}, "route": []}]}}
    assert rules.fault_injection(faulty) and not rules.fault_injection({"kind": "VirtualService", "spec": {}})


def test_rules_flag_violations():
    assert rules.legacy_api_version({"apiVersion": "networking.istio.io/v1beta1"})
    assert rules.mesh_wide_mtls_disabled({"kind": "PeerAuthentication", "metadata": {"namespace": "istio-system"},
                                          "spec": {"mtls": {"mode": "DISABLE"}}})
    assert not rules.mesh_wide_mtls_disabled({"kind": "PeerAuthentication", "metadata": {"namespace": "shop"},
                                              "spec": {"mtls": {"mode": "DISABLE"}}})
    assert rules.wildcard_allow({"kind": "AuthorizationPolicy", "spec": {"rules": [{}]}})
    assert not rules.wildcard_allow({"kind": "AuthorizationPolicy", "spec": {}})
