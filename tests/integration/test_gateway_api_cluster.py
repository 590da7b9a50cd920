"""Gateway API objects on the real API server: the vendored v1.6.3 CRDs (tests/data/gateway-api) are applied to the
session's kube-apiserver, and every planned Gateway, HTTPRoute and ReferenceGrant goes through a server-side dry run.
The API server evaluates what the schema copy in tests/test_gateway_api.py cannot: the CRDs' CEL rules
(x-kubernetes-validations), defaulting, and strict field validation."""

from __future__ import annotations

import copy
import json

import pytest
import yaml

from integration.conftest import Cluster
from test_gateway_api import CRDS, OBJECT_CASES, gateway_api_objects, httpbin


@pytest.fixture(scope="module")
def gateway_api(cluster: Cluster) -> Cluster:
    cluster.kubectl("apply", "--server-side", "-f", str(CRDS))
    names = [doc["metadata"]["name"] for doc in yaml.safe_load_all(CRDS.read_text()) if doc]
    cluster.kubectl("wait", "--for=condition=Established", "--timeout=120s",
                    *(f"crd/{name}" for name in names))
    for namespace in ("default", "other", "istio-system"):
        if not cluster.exists("namespace", namespace):
            cluster.kubectl("create", "namespace", namespace)
    return cluster


def dry_run(cluster: Cluster, objects: list[dict]):
    # JSON, as the engine sends objects: kubectl reads YAML 1.1, where an unquoted `y` that PyYAML writes for the
    # string "y" would be a boolean.
    return cluster.kubectl("apply", "--dry-run=server", "--validate=strict", "-f", "-", check=False,
                           input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))


@pytest.mark.parametrize("traffic,tls", OBJECT_CASES)
def test_the_api_server_accepts_every_planned_gateway_api_object(gateway_api, traffic, tls):
    planned = gateway_api_objects(httpbin(traffic, tls))
    kinds = {m["kind"] for m in planned}
    assert {"Gateway", "HTTPRoute"} <= kinds
    result = dry_run(gateway_api, planned)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("(server dry run)") == len(planned), result.stdout


def test_the_api_server_refuses_what_its_cel_rules_forbid(gateway_api):
    """The oracle can fail: TLS settings on a plain HTTP listener break a CEL rule of the Gateway CRD (which no
    schema check sees), and a misspelt field is refused by strict field validation."""
    gateway = next(m for m in gateway_api_objects(httpbin(tls={"credentialName": "c"})) if m["kind"] == "Gateway")
    http_with_tls = copy.deepcopy(gateway)
    https = next(listener for listener in http_with_tls["spec"]["listeners"] if listener["protocol"] == "HTTPS")
    for listener in http_with_tls["spec"]["listeners"]:
        if listener["protocol"] == "HTTP":
            listener["tls"] = copy.deepcopy(https["tls"])
    refused = dry_run(gateway_api, [http_with_tls])
    assert refused.returncode != 0 and "tls must not be specified" in refused.stderr, refused.stdout + refused.stderr
    misspelt = copy.deepcopy(gateway)
    misspelt["spec"]["listenerz"] = []
    refused = dry_run(gateway_api, [misspelt])
    assert refused.returncode != 0 and "listenerz" in refused.stderr, refused.stdout + refused.stderr


def test_the_api_server_accepts_the_ambient_waypoint(gateway_api):
    """Ambient namespaces with a waypoint get a Gateway API Gateway of class istio-waypoint (plan/injection.py)."""
    from mesh_rollout.plan import plan
    from mesh_rollout.spec import parse_mesh

    if not gateway_api.exists("namespace", "mesh-ambient"):
        gateway_api.kubectl("create", "namespace", "mesh-ambient")
    spec = parse_mesh({"controlPlane": {"install": False, "ambient": True},
                       "namespaces": {"mesh-ambient": {"mode": "ambient", "waypoint": True, "create": False}}})
    waypoints = [item.manifest for item in plan(spec).injection.objects if item.manifest["kind"] == "Gateway"]
    assert [w["spec"]["gatewayClassName"] for w in waypoints] == ["istio-waypoint"]
    result = dry_run(gateway_api, waypoints)
    assert result.returncode == 0 and "(server dry run)" in result.stdout, result.stdout + result.stderr
