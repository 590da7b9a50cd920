"""Every Istio object the stacks generate validates against Istio's own CRD schemas, strictly."""

import pytest

from conftest import STACKS, shop_config
from mesh_rollout.plan import plan
from mesh_rollout.spec import load_stack_file, parse_mesh


def istio_objects(mesh_plan):
    return [item.manifest for item in mesh_plan.objects if item.manifest["apiVersion"].split("/")[0].endswith(
        "istio.io")]


@pytest.mark.parametrize("stack_file", STACKS, ids=lambda p: p.name)
def test_stack_objects_validate_against_istio_crds(stack_file, istio_schemas):
    objects = istio_objects(plan(load_stack_file(stack_file)))
    assert objects, "every example stack generates Istio objects"
    problems = [problem for manifest in objects for problem in istio_schemas.errors(manifest)]
    assert problems == []
    assert all(istio_schemas.covers(m) for m in objects)


def test_feature_rich_mesh_validates(istio_schemas):
    """Every routing feature at once, including ones the example stacks leave out."""
    data = shop_config(mtls={"mode": "STRICT", "namespaces": {"shop": "PERMISSIVE"},
                             "workloads": {"payment": {"mode": "STRICT", "ports": {9090: "DISABLE"}}}})
    data["controlPlane"] = {"install": False, "gateways": {"ingress": {"tlsSecret": "tls"}}}
    data["namespaces"]["shop"]["defaultDeny"] = True
    data["namespaces"]["edge"] = {"mode": "ambient", "waypoint": True}
    data["services"]["edge-api"] = {"namespace": "edge", "access": {"allowFrom": [
        {"namespace": "shop", "serviceAccount": "frontend", "methods": ["GET"], "paths": ["/api/*"]}]}}
    data["services"]["catalog"]["traffic"].update({
        "matches": [{"name": "beta", "headers": {"x-user-segment": {"exact": "beta"}, "x-region": {"regex": "eu-.*"}},
                     "uriPrefix": "/v2", "version": "v2"}],
        "timeout": "3s", "retries": {"attempts": 2, "perTryTimeout": "1s", "retryOn": "5xx"},
        "fault": {"delay": {"percent": 10, "fixedDelay": "2s"}, "abort": {"percent": 5, "httpStatus": 503}},
        "mirror": {"version": "v2", "percent": 20},
        "circuitBreaker": {"maxConnections": 1, "http1MaxPendingRequests": 1, "http2MaxRequests": 10,
                           "maxRequestsPerConnection": 1},
        "tlsMode": "ISTIO_MUTUAL",
    })
    data["services"]["frontend"]["expose"] = {"gateway": "ingress", "hosts": ["shop.example.com"]}
    objects = istio_objects(plan(parse_mesh(data)))
    kinds = {m["kind"] for m in objects}
    assert kinds == {"PeerAuthentication", "DestinationRule", "VirtualService", "Gateway", "AuthorizationPolicy",
                     "Telemetry"}
    assert [p for m in objects for p in istio_schemas.errors(m)] == []


def test_strict_validation_catches_a_misspelt_field(istio_schemas):
    """The validator itself must fail on the typo the API server would silently prune."""
    route = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "x"},
             "spec": {"hosts": ["x"], "http": [{"route": [{"destination": {"host": "x"}}],
                                                "retries": {"attempts": 2, "perTryTimout": "1s"}}]}}
    errors = istio_schemas.errors(route)
    assert len(errors) == 1 and "perTryTimout" in errors[0]


def test_strict_validation_catches_a_wrong_type(istio_schemas):
    policy = {"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication", "metadata": {"name": "x"},
              "spec": {"mtls": {"mode": "STRICTER"}}}
    assert istio_schemas.errors(policy)
