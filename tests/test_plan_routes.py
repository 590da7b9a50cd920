"""Per-route settings, all match kinds, load balancing, port policies and TCP routes in the plan; Istio's traffic
management tasks written as stack config produce the objects those tasks apply. Every object is validated strictly
against Istio's CRD schemas."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mesh_rollout.plan import plan
from mesh_rollout.spec import ConfigError, parse_mesh


def mesh(services: dict) -> dict:
    return {"controlPlane": {"install": False}, "namespaces": {"default": {}}, "services": services}


def objects(services: dict, istio_schemas=None) -> dict[str, dict]:
    mesh_plan = plan(parse_mesh(mesh(services)))
    found = {item.key: item.manifest for item in mesh_plan.traffic.objects}
    if istio_schemas is not None:
        assert [p for m in found.values() for p in istio_schemas.errors(m)] == []
    return found


def host(name: str) -> str:
    return f"{name}.default.svc.cluster.local"


# --- Istio's tasks (istio.io/latest/docs/tasks/traffic-management/...): the objects each task applies, with the
# short host names written out in full (the plan always uses the FQDN) and the route names the plan adds. ---------

def test_request_routing_task_jason_gets_reviews_v2(istio_schemas):
    """Request routing: virtual-service-reviews-test-v2.yaml."""
    found = objects({"reviews": {"namespace": "default", "versions": {"v1": {}, "v2": {}, "v3": {}}, "traffic": {
        "matches": [{"name": "jason", "headers": {"end-user": {"exact": "jason"}}, "version": "v2"}],
        "split": {"v1": 100}}}}, istio_schemas)
    assert found["VirtualService/default/reviews"]["spec"]["http"] == [
        {"name": "jason", "match": [{"headers": {"end-user": {"exact": "jason"}}}],
         "route": [{"destination": {"host": host("reviews"), "subset": "v2"}}]},
        {"name": "default", "route": [{"destination": {"host": host("reviews"), "subset": "v1"}, "weight": 100}]},
    ]


def test_fault_injection_task_delay_only_for_jason(istio_schemas):
    """Fault injection: virtual-service-ratings-test-delay.yaml (7s delay for jason, everyone else untouched)."""
    found = objects({"ratings": {"namespace": "default", "versions": {"v1": {}}, "traffic": {
        "matches": [{"name": "jason", "headers": {"end-user": {"exact": "jason"}}, "version": "v1",
                     "fault": {"delay": {"percent": 100, "fixedDelay": "7s"}}}],
        "split": {"v1": 100}}}}, istio_schemas)
    http = found["VirtualService/default/ratings"]["spec"]["http"]
    assert http[0] == {"name": "jason", "match": [{"headers": {"end-user": {"exact": "jason"}}}],
                       "route": [{"destination": {"host": host("ratings"), "subset": "v1"}}],
                       "fault": {"delay": {"percentage": {"value": 100.0}, "fixedDelay": "7s"}}}
    assert "fault" not in http[1]


def test_fault_injection_task_abort_only_for_jason(istio_schemas):
    """Fault injection: virtual-service-ratings-test-abort.yaml (HTTP 500 for jason)."""
    found = objects({"ratings": {"namespace": "default", "versions": {"v1": {}}, "traffic": {
        "matches": [{"name": "jason", "headers": {"end-user": {"exact": "jason"}}, "version": "v1",
                     "fault": {"abort": {"percent": 100, "httpStatus": 500}}}],
        "split": {"v1": 100}}}}, istio_schemas)
    http = found["VirtualService/default/ratings"]["spec"]["http"]
    assert http[0]["fault"] == {"abort": {"percentage": {"value": 100.0}, "httpStatus": 500}}
    assert http[1] == {"name": "default",
                       "route": [{"destination": {"host": host("ratings"), "subset": "v1"}, "weight": 100}]}


def test_request_timeouts_task(istio_schemas):
    """Request timeouts: reviews v2 with timeout 0.5s, ratings v1 with a 2s delay."""
    found = objects({
        "reviews": {"namespace": "default", "versions": {"v2": {}},
                    "traffic": {"split": {"v2": 100}, "timeout": "500ms"}},
        "ratings": {"namespace": "default", "versions": {"v1": {}},
                    "traffic": {"split": {"v1": 100}, "fault": {"delay": {"percent": 100, "fixedDelay": "2s"}}}},
    }, istio_schemas)
    assert found["VirtualService/default/reviews"]["spec"]["http"] == [
        {"name": "default", "route": [{"destination": {"host": host("reviews"), "subset": "v2"}, "weight": 100}],
         "timeout": "500ms"}]
    assert found["VirtualService/default/ratings"]["spec"]["http"][0]["fault"] == {
        "delay": {"percentage": {"value": 100.0}, "fixedDelay": "2s"}}


def test_retries_concept_example(istio_schemas):
    """Traffic management concepts, retries: ratings v1, 3 attempts of 2s each."""
    found = objects({"ratings": {"namespace": "default", "versions": {"v1": {}}, "traffic": {
        "split": {"v1": 100}, "retries": {"attempts": 3, "perTryTimeout": "2s"}}}}, istio_schemas)
    assert found["VirtualService/default/ratings"]["spec"]["http"][0]["retries"] == {"attempts": 3,
                                                                                     "perTryTimeout": "2s"}


def test_circuit_breaking_task_httpbin(istio_schemas):
    """Circuit breaking: the httpbin DestinationRule."""
    found = objects({"httpbin": {"namespace": "default", "traffic": {"circuitBreaker": {
        "maxConnections": 1, "http1MaxPendingRequests": 1, "maxRequestsPerConnection": 1,
        "consecutive5xxErrors": 1, "interval": "1s", "baseEjectionTime": "3m", "maxEjectionPercent": 100}}}},
        istio_schemas)
    assert found["DestinationRule/default/httpbin"]["spec"] == {"host": host("httpbin"), "trafficPolicy": {
        "connectionPool": {"tcp": {"maxConnections": 1},
                           "http": {"http1MaxPendingRequests": 1, "maxRequestsPerConnection": 1}},
        "outlierDetection": {"consecutive5xxErrors": 1, "interval": "1s", "baseEjectionTime": "3m",
                             "maxEjectionPercent": 100}}}


def test_mirroring_task_httpbin(istio_schemas):
    """Mirroring: all traffic to v1, 100% mirrored to v2."""
    found = objects({"httpbin": {"namespace": "default", "versions": {"v1": {}, "v2": {}}, "traffic": {
        "split": {"v1": 100}, "mirror": {"version": "v2", "percent": 100}}}}, istio_schemas)
    assert found["VirtualService/default/httpbin"]["spec"]["http"] == [
        {"name": "default", "route": [{"destination": {"host": host("httpbin"), "subset": "v1"}, "weight": 100}],
         "mirror": {"host": host("httpbin"), "subset": "v2"}, "mirrorPercentage": {"value": 100.0}}]


def test_tcp_traffic_shifting_task(istio_schemas):
    """TCP traffic shifting: tcp-echo v1 80% / v2 20% (in the mesh: no gateway, so no port match)."""
    found = objects({"tcp-echo": {"namespace": "default", "ports": [{"port": 9000, "name": "tcp"}],
                                  "versions": {"v1": {}, "v2": {}}, "traffic": {"split": {"v1": 80, "v2": 20}}}},
                    istio_schemas)
    spec = found["VirtualService/default/tcp-echo"]["spec"]
    assert spec == {"hosts": [host("tcp-echo")], "tcp": [{"route": [
        {"destination": {"host": host("tcp-echo"), "subset": "v1"}, "weight": 80},
        {"destination": {"host": host("tcp-echo"), "subset": "v2"}, "weight": 20}]}]}


# --- per-route settings and precedence -------------------------------------------------------------------------

def test_route_value_beats_service_default_and_null_turns_it_off(istio_schemas):
    found = objects({"shop": {"namespace": "default", "versions": {"v1": {}, "v2": {}}, "traffic": {
        "timeout": "3s", "retries": {"attempts": 2}, "fault": {"abort": {"percent": 1, "httpStatus": 503}},
        "matches": [
            {"name": "reports", "uri": {"prefix": "/reports"}, "version": "v1", "timeout": "30s",
             "retries": {"attempts": 0}, "fault": None},
        ],
        "defaultRoute": {"timeout": None},
        "split": {"v1": 100}}}}, istio_schemas)
    reports, default = found["VirtualService/default/shop"]["spec"]["http"]
    assert reports["timeout"] == "30s" and reports["retries"] == {"attempts": 0} and "fault" not in reports
    assert "timeout" not in default  # timeout: null: Istio's default (none)
    assert default["retries"] == {"attempts": 2}  # inherited
    assert default["fault"] == {"abort": {"percentage": {"value": 1.0}, "httpStatus": 503}}


def test_all_match_kinds_and_route_features(istio_schemas):
    found = objects({"web": {"namespace": "default", "versions": {"v1": {}}, "traffic": {
        "matches": [
            {"name": "api", "uri": {"regex": "/api/v[0-9]+/.*"}, "method": {"exact": "POST"},
             "queryParams": {"debug": {"exact": "1"}}, "withoutHeaders": {"x-internal": {"exact": "yes"}},
             "headers": {"x-team": {"prefix": "pay"}}, "version": "v1",
             "requestHeaders": {"set": {"x-route": "api"}, "remove": ["cookie"]},
             "responseHeaders": {"add": {"x-served-by": "v1"}},
             "rewrite": {"uri": "/", "authority": "api.internal"},
             "cors": {"allowOrigins": [{"exact": "https://shop.example.com"}], "allowMethods": ["GET", "POST"],
                      "allowHeaders": ["authorization"], "maxAge": "24h", "allowCredentials": True}},
            {"name": "old", "uriPrefix": "/old", "redirect": {"uri": "/new", "redirectCode": 308}},
        ]}}}, istio_schemas)
    api, old, default = found["VirtualService/default/web"]["spec"]["http"]
    assert api["match"] == [{"headers": {"x-team": {"prefix": "pay"}}, "uri": {"regex": "/api/v[0-9]+/.*"},
                             "method": {"exact": "POST"}, "queryParams": {"debug": {"exact": "1"}},
                             "withoutHeaders": {"x-internal": {"exact": "yes"}}}]
    assert api["headers"] == {"request": {"set": {"x-route": "api"}, "remove": ["cookie"]},
                              "response": {"add": {"x-served-by": "v1"}}}
    assert api["rewrite"] == {"uri": "/", "authority": "api.internal"}
    assert api["corsPolicy"] == {"allowOrigins": [{"exact": "https://shop.example.com"}],
                                 "allowMethods": ["GET", "POST"], "allowHeaders": ["authorization"],
                                 "maxAge": "24h", "allowCredentials": True}
    assert old == {"name": "old", "match": [{"uri": {"prefix": "/old"}}],
                   "redirect": {"uri": "/new", "redirectCode": 308}}
    assert default == {"name": "default", "route": [{"destination": {"host": host("web")}}]}


def test_a_redirect_route_inherits_no_service_defaults(istio_schemas):
    # Istio refuses fault next to a redirect; timeout, retries and mirror would never apply to it.
    found = objects({"web": {"namespace": "default", "versions": {"v1": {}}, "traffic": {
        "timeout": "2s", "fault": {"delay": {"percent": 1, "fixedDelay": "1s"}}, "mirror": {"version": "v1"},
        "matches": [{"name": "old", "uriPrefix": "/old", "redirect": {"authority": "new.example.com"}}]}}},
        istio_schemas)
    old = found["VirtualService/default/web"]["spec"]["http"][0]
    assert old == {"name": "old", "match": [{"uri": {"prefix": "/old"}}],
                   "redirect": {"authority": "new.example.com", "redirectCode": 301}}


def test_load_balancing_locality_and_port_policies(istio_schemas):
    found = objects({"cart": {"namespace": "default", "ports": [{"port": 80, "name": "http"},
                                                               {"port": 9090, "name": "grpc-admin"}],
                              "traffic": {
        "circuitBreaker": {"consecutive5xxErrors": 3},
        "loadBalancer": {"consistentHash": {"httpCookie": {"name": "session", "ttl": "1h", "path": "/"}},
                         "localityLbSetting": {"failover": [{"from": "us-east", "to": "us-west"}]}},
        "portPolicies": {9090: {"loadBalancer": {"simple": "LEAST_REQUEST"}}}}}}, istio_schemas)
    policy = found["DestinationRule/default/cart"]["spec"]["trafficPolicy"]
    assert policy["loadBalancer"] == {"consistentHash": {"httpCookie": {"name": "session", "ttl": "1h", "path": "/"}},
                                      "localityLbSetting": {"failover": [{"from": "us-east", "to": "us-west"}]}}
    assert policy["portLevelSettings"] == [{"port": {"number": 9090}, "loadBalancer": {"simple": "LEAST_REQUEST"}}]
    assert policy["outlierDetection"]["consecutive5xxErrors"] == 3


@pytest.mark.parametrize("balancer", [
    {"simple": "ROUND_ROBIN"}, {"simple": "RANDOM"}, {"simple": "PASSTHROUGH"},
    {"consistentHash": {"httpHeaderName": "x-user"}}, {"consistentHash": {"useSourceIp": True}},
    {"consistentHash": {"httpQueryParameterName": "user"}},
    {"localityLbSetting": {"distribute": [{"from": "us-east/*", "to": {"us-east/*": 80, "us-west/*": 20}}]}},
])
def test_every_load_balancer_kind_validates(balancer, istio_schemas):
    found = objects({"cart": {"namespace": "default", "traffic": {"loadBalancer": balancer}}}, istio_schemas)
    assert found["DestinationRule/default/cart"]["spec"]["trafficPolicy"]["loadBalancer"] == balancer


def test_mixed_ports_get_http_and_tcp_routes_and_argo_ignores_both_weights(istio_schemas):
    mesh_plan = plan(parse_mesh(mesh({"db": {
        "namespace": "default", "ports": [{"port": 80, "name": "http"}, {"port": 6379, "name": "redis"}],
        "versions": {"v1": {}, "v2": {}},
        "traffic": {"split": {"v1": 100, "v2": 0}, "weightsManagedBy": "argo-rollouts"}}})))
    route = mesh_plan.traffic.object("VirtualService/default/db")
    assert set(route.manifest["spec"]) == {"hosts", "http", "tcp"}
    assert route.ignore_changes == ("spec.http[*].route[*].weight", "spec.tcp[*].route[*].weight")
    assert istio_schemas.errors(route.manifest) == []


def test_per_route_mirror_to_another_service_orders_after_its_rule():
    mesh_plan = plan(parse_mesh(mesh({
        "web": {"namespace": "default", "traffic": {"matches": [
            {"name": "beta", "headers": {"x-beta": {"exact": "1"}}, "mirror": {"service": "shadow",
                                                                              "version": "v2"}}]}},
        "shadow": {"namespace": "default", "versions": {"v2": {}}}})))
    assert mesh_plan.traffic.object("VirtualService/default/web").depends_on == ("DestinationRule/default/shadow",)


# --- spec errors at exact paths ---------------------------------------------------------------------------------

def problems(services: dict) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_mesh(mesh(services))
    return [problem.path for problem in caught.value.problems]


@pytest.mark.parametrize("traffic,where", [
    ({"matches": [{"name": "a", "uri": {"prefix": "/a"}, "uriPrefix": "/a"}]}, "traffic.matches.0"),
    ({"matches": [{"name": "a", "queryParams": {"q": {"prefix": "x"}}}]}, "traffic.matches.0.queryParams.q.prefix"),
    ({"matches": [{"name": "a", "uriPrefix": "/", "redirect": {"uri": "/b"}, "fault": {
        "abort": {"percent": 1, "httpStatus": 500}}}]}, "traffic.matches.0"),
    ({"matches": [{"name": "a", "uriPrefix": "/", "redirect": {"uri": "/b", "redirectCode": 200}}]},
     "traffic.matches.0.redirect.redirectCode"),
    ({"defaultRoute": {"redirect": {}}}, "traffic.defaultRoute.redirect"),
    ({"defaultRoute": {"rewrite": {}}}, "traffic.defaultRoute.rewrite"),
    ({"defaultRoute": {"cors": {"allowOrigins": []}}}, "traffic.defaultRoute.cors.allowOrigins"),
    ({"defaultRoute": {"cors": {"allowOrigins": [{"exact": "x"}], "allowMethods": ["get"]}}},
     "traffic.defaultRoute.cors.allowMethods"),
    ({"defaultRoute": {"requestHeaders": {"set": {"bad header": "x"}}}}, "traffic.defaultRoute.requestHeaders.set"),
    ({"loadBalancer": {"simple": "LEAST_REQUEST", "consistentHash": {"useSourceIp": True}}}, "traffic.loadBalancer"),
    ({"loadBalancer": {"simple": "LEAST_CONN"}}, "traffic.loadBalancer.simple"),
    ({"loadBalancer": {"consistentHash": {"httpHeaderName": "x", "useSourceIp": True}}},
     "traffic.loadBalancer.consistentHash"),
    ({"loadBalancer": {"consistentHash": {"httpCookie": {"ttl": "1h"}}}},
     "traffic.loadBalancer.consistentHash.httpCookie.name"),
    ({"loadBalancer": {"localityLbSetting": {"failover": [{"from": "a", "to": "a"}]}}},
     "traffic.loadBalancer.localityLbSetting.failover.0"),
    ({"loadBalancer": {"localityLbSetting": {"distribute": [{"from": "a/*", "to": {"a/*": 60}}]}}},
     "traffic.loadBalancer.localityLbSetting.distribute.0"),
    ({"portPolicies": {0: {"loadBalancer": {"simple": "RANDOM"}}}}, "traffic.portPolicies.0"),
    ({"portPolicies": {80: {}}}, "traffic.portPolicies.80"),
])
def test_spec_errors_name_the_exact_path(traffic, where):
    found = problems({"web": {"namespace": "default", "traffic": traffic}})
    assert any(path == f"mesh.services.web.{where}" or path.startswith(f"mesh.services.web.{where}.")
               for path in found), found


@given(st.text(max_size=12), st.sampled_from(["exact", "prefix", "regex", "suffix"]))
def test_any_query_parameter_operator_other_than_exact_or_regex_is_refused(value, operator):
    services = {"web": {"namespace": "default", "traffic": {"matches": [
        {"name": "a", "queryParams": {"q": {operator: value}}}]}}}
    if operator in ("exact", "regex"):
        try:
            parse_mesh(mesh(services))
        except ConfigError as error:  # a regex RE2 or Istio refuses
            assert operator == "regex"
            assert [p.path for p in error.problems] == ["mesh.services.web.traffic.matches.0.queryParams.q.regex"]
    else:
        assert problems(services) and all(p.startswith("mesh.services.web.traffic.matches.0.queryParams.q")
                                          for p in problems(services))


def test_the_mesh_diff_reads_per_route_settings_load_balancing_and_tcp_routes():
    from mesh_rollout.diff import compare, mesh_view

    def view(traffic: dict, ports: list | None = None) -> dict:
        service = {"namespace": "default", "versions": {"v1": {}, "v2": {}}, "traffic": traffic,
                   **({"ports": ports} if ports else {})}
        return mesh_view(item.manifest for item in plan(parse_mesh(mesh({"web": service}))).objects)

    base = {"split": {"v1": 100}, "matches": [{"name": "slow", "uriPrefix": "/r", "version": "v1", "timeout": "9s"}]}
    changed = {**base, "matches": [{**base["matches"][0], "timeout": "20s"}],
               "loadBalancer": {"simple": "LEAST_REQUEST"}}
    aspects = {(c.aspect, c.before, c.after) for c in compare(view(base), view(changed))}
    assert ("slow (uri prefix /r): timeout", "9s", "20s") in aspects
    assert ("load balancing", None, '{"simple": "LEAST_REQUEST"}') in aspects
    tcp = view({"split": {"v1": 80, "v2": 20}}, [{"port": 9000, "name": "tcp"}])
    assert tcp[("routing", "default/web", "tcp route 0")] == "web.default:v1 80%, web.default:v2 20%"
    redirect = view({"matches": [{"name": "old", "uriPrefix": "/old", "redirect": {"uri": "/new"}}]})
    assert redirect[("routing", "default/web", "old (uri prefix /old)")] == "redirect redirectCode=301 uri=/new"
