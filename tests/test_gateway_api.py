"""Gateway API output (gateway ``api: gateway-api``): objects validated strictly against the Gateway API v1.6.3
standard CRDs (tests/data/gateway-api), compared with Istio's Gateway API task objects, and check MR326."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mesh_rollout.checks import run_checks
from mesh_rollout.plan import plan
from mesh_rollout.plan.gateway_api import gateway_duration
from mesh_rollout.spec import parse_mesh

CRDS = Path(__file__).resolve().parent / "data" / "gateway-api" / "standard-crds-v1.6.3.yaml"


@pytest.fixture(scope="module")
def gateway_api_schemas():
    from schemas import IstioSchemas  # the loader reads any CRD file: same format as Istio's

    return IstioSchemas.load(CRDS)


def httpbin(traffic: dict | None = None, tls: dict | None = None, **service: object) -> dict:
    gateway: dict = {"namespace": "istio-system", "api": "gateway-api"}
    if tls is not None:
        gateway["tls"] = tls
    return {
        "environment": "test",
        "controlPlane": {"install": False, "gateways": {"ingress": gateway}},
        "namespaces": {"default": {}, "other": {}},
        "services": {
            "httpbin": {"namespace": "default", "ports": [{"port": 8000, "name": "http"}],
                        "versions": {"v1": {}, "v2": {}},
                        "traffic": traffic or {"matches": [{"name": "status", "uriPrefix": "/status"},
                                                           {"name": "delay", "uriPrefix": "/delay"}]},
                        "expose": {"gateway": "ingress", "hosts": ["httpbin.example.com"]}, **service},
            "echo": {"namespace": "other", "ports": [{"port": 9000, "name": "http"}], "versions": {"v1": {}}},
        },
    }


def objects(config: dict) -> dict[str, dict]:
    return {item.key: item.manifest for item in plan(parse_mesh(config)).traffic.objects}


def gateway_api_objects(config: dict) -> list[dict]:
    return [m for m in objects(config).values() if m["apiVersion"].startswith("gateway.networking.k8s.io/")]


# Istio's secure ingress task, Gateway API tab (listeners of its Gateway; its HTTPRoute's rules).
TASK_LISTENER = yaml.safe_load("""
name: https
hostname: "httpbin.example.com"
port: 443
protocol: HTTPS
tls:
  mode: Terminate
  certificateRefs:
  - name: httpbin-credential
""")
TASK_ROUTE_MATCHES = yaml.safe_load("""
- path: {type: PathPrefix, value: /status}
- path: {type: PathPrefix, value: /delay}
""")


def test_secure_ingress_task_gateway_api_simple_and_mutual():
    for mode in ("SIMPLE", "MUTUAL"):
        tls = {"credentialName": "httpbin-credential", "mode": mode, "clientCaSecret": "httpbin-credential"}
        found = objects(httpbin(tls=tls))
        gateway = found["Gateway/istio-system/ingress"]["spec"]
        assert gateway["gatewayClassName"] == "istio"
        https = [listener for listener in gateway["listeners"] if listener["port"] == 443]
        assert len(https) == 1
        expected = yaml.safe_load(yaml.safe_dump(TASK_LISTENER))
        if mode == "MUTUAL":
            expected["tls"]["options"] = {"gateway.istio.io/tls-terminate-mode": "MUTUAL"}
        listener = {key: value for key, value in https[0].items() if key != "allowedRoutes"}
        assert listener == {**expected, "name": "https-httpbin-example-com"}
        # Only the service's namespace may attach to its listener (the task selects namespace default).
        assert https[0]["allowedRoutes"] == {"namespaces": {"from": "Selector", "selector": {
            "matchLabels": {"kubernetes.io/metadata.name": "default"}}}}
        route = found["HTTPRoute/default/httpbin"]["spec"]
        assert route["parentRefs"] == [{"name": "ingress", "namespace": "istio-system",
                                        "sectionName": "https-httpbin-example-com"}]
        assert route["hostnames"] == ["httpbin.example.com"]
        assert [rule["matches"][0] for rule in route["rules"][:2]] == TASK_ROUTE_MATCHES
        assert route["rules"][0]["backendRefs"] == [{"name": "httpbin", "port": 8000}]


def test_gateway_binds_to_the_chart_deployment_and_redirects_port_80():
    found = objects(httpbin(tls={"credentialName": "c"}))
    gateway = found["Gateway/istio-system/ingress"]["spec"]
    assert gateway["addresses"] == [{"type": "Hostname", "value": "ingress.istio-system.svc.cluster.local"}]
    redirect = found["HTTPRoute/istio-system/ingress-https-redirect"]["spec"]
    assert redirect["parentRefs"] == [{"name": "ingress", "sectionName": "http-httpbin-example-com"}]
    assert redirect["rules"] == [{"filters": [{"type": "RequestRedirect",
                                               "requestRedirect": {"scheme": "https", "statusCode": 301}}]}]
    assert "VirtualService/default/httpbin" not in found  # one API per host


def test_traffic_shifting_uses_per_version_services():
    """Istio's traffic shifting task (Gateway API tab) routes to per-version Services with weights."""
    found = objects(httpbin({"split": {"v1": 50, "v2": 50}}))
    for version in ("v1", "v2"):
        service = found[f"Service/default/httpbin-{version}"]["spec"]
        assert service == {"selector": {"app": "httpbin", "version": version},
                           "ports": [{"name": "http", "port": 8000}]}
    expected = [{"name": "httpbin-v1", "port": 8000, "weight": 50}, {"name": "httpbin-v2", "port": 8000, "weight": 50}]
    assert found["HTTPRoute/default/httpbin"]["spec"]["rules"][-1]["backendRefs"] == expected
    mesh = found["HTTPRoute/default/httpbin-mesh"]["spec"]
    assert mesh["parentRefs"] == [{"group": "", "kind": "Service", "name": "httpbin"}]
    assert mesh["rules"][-1]["backendRefs"] == expected


def test_route_settings_map_to_filters_and_timeouts():
    traffic = {
        "timeout": "1m30s",
        "matches": [
            {"name": "api", "uriPrefix": "/api", "method": {"exact": "POST"},
             "headers": {"x-user": {"prefix": "test-"}}, "queryParams": {"debug": {"exact": "1"}},
             "rewrite": {"uri": "/v2"}, "requestHeaders": {"set": {"x-a": "1"}, "remove": ["x-b"]},
             "mirror": {"version": "v2", "percent": 10}},
            {"name": "old", "uri": {"exact": "/old"}, "redirect": {"uri": "/new", "redirectCode": 308}},
            {"name": "echo", "uriPrefix": "/echo", "service": "echo", "version": "v1"},
        ],
    }
    found = objects(httpbin(traffic))
    rules = found["HTTPRoute/default/httpbin"]["spec"]["rules"]
    assert rules[0]["matches"] == [{"path": {"type": "PathPrefix", "value": "/api"}, "method": "POST",
                                    "headers": [{"name": "x-user", "type": "RegularExpression",
                                                 "value": "test\\-.*"}],
                                    "queryParams": [{"name": "debug", "type": "Exact", "value": "1"}]}]
    assert rules[0]["timeouts"] == {"request": "1m30s"}
    assert {"type": "URLRewrite", "urlRewrite": {"path": {"type": "ReplacePrefixMatch",
                                                          "replacePrefixMatch": "/v2"}}} in rules[0]["filters"]
    assert {"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "httpbin-v2", "port": 8000},
                                                       "percent": 10}} in rules[0]["filters"]
    assert rules[1] == {"name": "old", "matches": [{"path": {"type": "Exact", "value": "/old"}}],
                        "filters": [{"type": "RequestRedirect", "requestRedirect": {
                            "path": {"type": "ReplaceFullPath", "replaceFullPath": "/new"}, "statusCode": 308}}]}
    assert rules[2]["backendRefs"] == [{"name": "echo-v1", "port": 9000, "namespace": "other"}]
    grant = found["ReferenceGrant/other/from-default-httpbin"]["spec"]
    assert grant == {"from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": "default"}],
                     "to": [{"group": "", "kind": "Service", "name": "echo-v1"}]}
    assert [f.code for f in run_checks(parse_mesh(httpbin(traffic))) if f.severity.value == "error"] == []


#: (traffic, tls) of httpbin covering every kind of Gateway API object and filter the plan makes; the real API
#: server dry-runs the same cases (tests/integration/test_gateway_api_cluster.py).
OBJECT_CASES = [
    (None, None),
    (None, {"credentialName": "c", "mode": "MUTUAL", "clientCaSecret": "c-cacert"}),
    ({"split": {"v1": 90, "v2": 10}, "timeout": "250ms"}, {"credentialName": "c", "httpsRedirect": False}),
    ({"matches": [{"name": "m", "uri": {"regex": "/a.*"}, "responseHeaders": {"add": {"x": "y"}},
                   "cors": {"allowOrigins": [{"exact": "https://a.example.com"}], "allowMethods": ["GET"],
                            "maxAge": "24h"}},
                  {"name": "old", "uri": {"exact": "/old"}, "redirect": {"uri": "/new"}},
                  {"name": "other", "uriPrefix": "/echo", "service": "echo", "version": "v1"}],
      "defaultRoute": {"rewrite": {"authority": "internal.example.com", "uri": "/"}},
      "mirror": {"version": "v2", "percent": 10}}, None),
]


@pytest.mark.parametrize("traffic,tls", OBJECT_CASES)
def test_every_object_validates_against_the_gateway_api_crds(gateway_api_schemas, traffic, tls):
    planned = gateway_api_objects(httpbin(traffic, tls))
    assert planned
    for manifest in planned:
        assert gateway_api_schemas.covers(manifest), manifest["kind"]
        assert gateway_api_schemas.errors(manifest) == []


def test_schema_validation_catches_a_misspelt_field(gateway_api_schemas):
    route = objects(httpbin())["HTTPRoute/default/httpbin"]
    route["spec"]["rules"][0]["timeout"] = {"request": "1s"}
    assert gateway_api_schemas.errors(route)


@pytest.mark.parametrize("value,expected", [("5s", "5s"), ("1.5s", "1s500ms"), ("90m", "1h30m"), ("250ms", "250ms"),
                                            ("100000h", None), ("2000us", "2ms")])
def test_gateway_duration(value, expected):
    assert gateway_duration(value) == expected


@pytest.mark.parametrize("traffic,where", [
    ({"fault": {"abort": {"percent": 10, "httpStatus": 503}}}, "mesh.services.httpbin.traffic.fault"),
    ({"retries": {"attempts": 3}}, "mesh.services.httpbin.traffic.retries"),
    ({"matches": [{"name": "m", "withoutHeaders": {"x": {"exact": "1"}}}]},
     "mesh.services.httpbin.traffic.matches.0.withoutHeaders"),
    ({"matches": [{"name": "m", "method": {"prefix": "P"}}]}, "mesh.services.httpbin.traffic.matches.0.method"),
    ({"matches": [{"name": "m", "headers": {":authority": {"exact": "a"}}}]},
     "mesh.services.httpbin.traffic.matches.0.headers.:authority"),
    ({"mirror": {"version": "v2", "percent": 0.5}}, "mesh.services.httpbin.traffic.mirror.percent"),
    ({"timeout": "1000000h"}, "mesh.services.httpbin.traffic.timeout"),
])
def test_mr326_what_gateway_api_cannot_express(traffic, where):
    found = [f for f in run_checks(parse_mesh(httpbin(traffic))) if f.code == "MR326"]
    assert [f.path for f in found] == [where]
    assert "api: istio" in found[0].message
    # near miss: the same settings through an Istio gateway are fine
    istio = httpbin(traffic)
    istio["controlPlane"]["gateways"]["ingress"]["api"] = "istio"
    assert "MR326" not in {f.code for f in run_checks(parse_mesh(istio))}


def test_mr326_needs_a_port_and_min_version():
    found = {f.path for f in run_checks(parse_mesh(httpbin(ports=[]))) if f.code == "MR326"}
    assert found == {"mesh.services.httpbin.ports"}
    config = httpbin(tls={"credentialName": "c", "minProtocolVersion": "TLSV1_3"})
    found = {f.path for f in run_checks(parse_mesh(config)) if f.code == "MR326"}
    assert found == {"mesh.services.httpbin.expose.tls.minProtocolVersion"}


def test_readme_examples_mean_what_they_say(gateway_api_schemas):
    import re

    from conftest import ROOT

    examples = dict(re.findall(r"```yaml\n# example: ([\w-]+)\n(.*?)```", (ROOT / "README.md").read_text(), re.S))
    tls = plan(parse_mesh(yaml.safe_load(examples["ingress-tls"]))).traffic
    certificate = tls.object("Certificate/istio-ingress/shop-example-com").manifest["spec"]
    assert certificate["dnsNames"] == ["shop.example.com", "www.example.com"]
    servers = tls.object("Gateway/istio-ingress/ingress").manifest["spec"]["servers"]
    assert {"mode": "MUTUAL", "credentialName": "partners", "minProtocolVersion": "TLSV1_3"} in [
        server.get("tls") for server in servers]
    assert all(server.get("tls", {}).get("httpsRedirect") for server in servers if server["port"]["number"] == 80)
    api = objects(yaml.safe_load(examples["gateway-api"]))
    route = api["HTTPRoute/shop/catalog"]["spec"]
    assert route["rules"][0]["backendRefs"] == [{"name": "catalog-v2", "port": 8080}]
    assert route["rules"][0]["timeouts"] == {"request": "5s"}
    assert [ref["weight"] for ref in route["rules"][1]["backendRefs"]] == [90, 10]
    for manifest in api.values():
        if manifest["apiVersion"].startswith("gateway.networking.k8s.io/"):
            assert gateway_api_schemas.errors(manifest) == []


def test_the_services_traffic_policy_reaches_its_per_version_services(istio_schemas):
    """HTTPRoutes send a split to <svc>-<version> Services, and Istio applies a DestinationRule by host: the
    service's circuit breaker and load balancing must be planned for those hosts too, or they silently stop
    applying to every request the split sends."""
    traffic = {"split": {"v1": 90, "v2": 10}, "circuitBreaker": {"maxConnections": 10},
               "loadBalancer": {"simple": "LEAST_REQUEST"}}
    found = objects(httpbin(traffic))
    policy = found["DestinationRule/default/httpbin"]["spec"]["trafficPolicy"]
    assert policy["connectionPool"] == {"tcp": {"maxConnections": 10}}
    for version in ("v1", "v2"):
        rule = found[f"DestinationRule/default/httpbin-{version}"]
        assert rule["spec"] == {"host": f"httpbin-{version}.default.svc.cluster.local", "trafficPolicy": policy}
        assert istio_schemas.errors(rule) == []
    # Without a policy there is nothing to carry over: no extra DestinationRules.
    plain = objects(httpbin({"split": {"v1": 90, "v2": 10}}))
    assert not [key for key in plain if key.startswith("DestinationRule/default/httpbin-")]
