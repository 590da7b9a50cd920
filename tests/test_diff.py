"""The semantic diff between stacks: differences in mesh terms, not YAML lines."""

from __future__ import annotations

import copy
import io

import yaml

from conftest import ROOT, shop_config
from mesh_rollout.diff import compare, main, mesh_view
from mesh_rollout.plan import plan
from mesh_rollout.spec import parse_mesh


def view(data: dict) -> dict:
    spec = parse_mesh(data)
    return mesh_view((item.manifest for item in plan(spec).objects), spec.root_namespace)


def lines(before: dict, after: dict) -> list[str]:
    return [str(change) for change in compare(view(before), view(after))]


def test_a_weight_change_is_one_line_naming_both_splits():
    before = shop_config()
    after = copy.deepcopy(before)
    after["services"]["catalog"]["traffic"]["split"] = {"v1": 50, "v2": 50}
    assert lines(before, after) == [
        "~ shop/catalog: default: catalog.shop:v1 90%, catalog.shop:v2 10% -> "
        "catalog.shop:v1 50%, catalog.shop:v2 50%"]


def test_who_may_call_whom_and_mtls_modes():
    before = shop_config()
    after = copy.deepcopy(before)
    after["services"]["payment"]["access"]["allowFrom"].append(
        {"namespace": "shop", "serviceAccount": "frontend", "methods": ["GET"]})
    after["mtls"] = {"mode": "STRICT", "workloads": {"payment": {"ports": {9090: "DISABLE"}}}}
    assert lines(before, after) == [  # sections in a fixed order: mTLS before access
        "+ workloads shop/app=payment: mode: UNSET",
        "+ workloads shop/app=payment: port 9090: DISABLE",
        "~ shop/payment-allow (app=payment): allow: shop/order -> shop/frontend [GET]; shop/order",
    ]


def test_timeouts_retries_faults_and_mirrors_are_named_per_route():
    before = shop_config()
    after = copy.deepcopy(before)
    after["services"]["order"]["traffic"] = {"timeout": "3s", "retries": {"attempts": 2, "perTryTimeout": "1s"},
                                             "fault": {"abort": {"percent": 5, "httpStatus": 503}}}
    changed = lines(before, after)
    assert "+ shop/order: default: timeout: 3s" in changed
    assert "+ shop/order: default: retries: 2 attempts of 1s" in changed
    assert "+ shop/order: default: abort: HTTP 503 for 5%" in changed


def test_identical_stacks_differ_in_nothing_and_exit_0(tmp_path):
    path = tmp_path / "Pulumi.a.yaml"
    path.write_text(yaml.safe_dump({"config": {"mesh-rollout:mesh": shop_config()}}))
    out = io.StringIO()
    assert main([str(path), str(path)], out=out) == 0
    assert out.getvalue().startswith("No difference in mesh terms")


def test_staging_to_prod_reads_as_the_mesh_differences_between_them():
    out = io.StringIO()
    assert main([str(ROOT / "stacks" / "Pulumi.staging.yaml"), str(ROOT / "stacks" / "Pulumi.prod.yaml")],
                out=out) == 1
    text = out.getvalue()
    # Sections in a fixed order, each difference on one line.
    assert text.index("resilience:") < text.index("exposure:") < text.index("telemetry:")
    assert "+ gateway istio-ingress/ingress: HTTPS 443: shop.example.com (TLS SIMPLE)" in text
    assert "~ istio-system/mesh-default: tracing: 10% to jaeger -> 1% to jaeger" in text


def test_an_unreadable_side_is_exit_2_with_its_reason(tmp_path):
    bad = tmp_path / "Pulumi.bad.yaml"
    bad.write_text("config:\n  a: 1\n  a: 2\n")
    out = io.StringIO()
    assert main([str(bad), str(ROOT / "stacks" / "Pulumi.dev.yaml")], out=out) == 2
    assert out.getvalue().strip().endswith("mapping key 'a' already defined at line 2")


def test_numbers_compare_by_value_not_by_spelling():
    """The plan says 5.0 where the deployed state's JSON says 5 (found on the engine): no difference."""
    planned = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
               "metadata": {"name": "p", "namespace": "shop"},
               "spec": {"http": [{"name": "default", "route": [{"destination": {"host": "p"}, "weight": 100.0}],
                                  "fault": {"abort": {"httpStatus": 503, "percentage": {"value": 5.0}}}}]}}
    deployed = copy.deepcopy(planned)
    deployed["spec"]["http"][0]["route"][0]["weight"] = 100
    deployed["spec"]["http"][0]["fault"]["abort"]["percentage"]["value"] = 5
    assert compare(mesh_view([planned]), mesh_view([deployed])) == []
