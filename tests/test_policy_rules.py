"""The policy pack's rules (policy/rules.py) on the objects the stacks generate, and on the violations."""

import importlib.util

import pytest

from conftest import ROOT, STACKS
from components.plan import plan
from components.spec import load_stack_file

spec = importlib.util.spec_from_file_location("policy_rules", ROOT / "policy" / "rules.py")
rules = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rules)


@pytest.mark.parametrize("stack_file", STACKS, ids=lambda p: p.name)
def test_generated_objects_pass_every_rule(stack_file):
    for item in plan(load_stack_file(stack_file)).objects:
        obj = item.manifest
        assert not rules.mesh_wide_mtls_disabled(obj) and not rules.wildcard_allow(obj), item.key
        if obj["apiVersion"].split("/")[0] in rules.ISTIO_GROUPS:
            assert not rules.legacy_api_version(obj), item.key


def test_rules_flag_violations():
    assert rules.legacy_api_version({"apiVersion": "networking.istio.io/v1beta1"})
    assert rules.mesh_wide_mtls_disabled({"kind": "PeerAuthentication", "metadata": {"namespace": "istio-system"},
                                          "spec": {"mtls": {"mode": "DISABLE"}}})
    assert not rules.mesh_wide_mtls_disabled({"kind": "PeerAuthentication", "metadata": {"namespace": "shop"},
                                              "spec": {"mtls": {"mode": "DISABLE"}}})
    assert rules.wildcard_allow({"kind": "AuthorizationPolicy", "spec": {"rules": [{}]}})
    assert not rules.wildcard_allow({"kind": "AuthorizationPolicy", "spec": {}})
