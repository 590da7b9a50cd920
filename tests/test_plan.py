"""The pure plan: what each spec creates, with which values and in which order. No Pulumi involved."""

import copy

import pytest

from conftest import shop_config
from mesh_rollout.plan import INJECTION_LABELS, plan
from mesh_rollout.spec import parse_mesh


def build(data=None):
    return plan(parse_mesh(data or shop_config()))


def installing(**control_plane) -> dict:
    data = shop_config()
    data["controlPlane"] = {"install": True, "charts": {"url": "https://charts.example.com/istio"}, **control_plane}
    return data


def manifest(mesh_plan, key):
    return next(item.manifest for item in mesh_plan.objects if item.key == key)


def test_canary_split_routes_90_10_to_subsets_defined_by_the_destination_rule():
    mesh_plan = build()
    rule = manifest(mesh_plan, "DestinationRule/shop/catalog")
    route = manifest(mesh_plan, "VirtualService/shop/catalog")
    assert rule["spec"]["subsets"] == [{"name": "v1", "labels": {"version": "v1"}},
                                       {"name": "v2", "labels": {"version": "v2"}}]
    default = route["spec"]["http"][-1]
    assert [(d["destination"]["subset"], d["weight"]) for d in default["route"]] == [("v1", 90), ("v2", 10)]
    assert {d["destination"]["host"] for d in default["route"]} == {"catalog.shop.svc.cluster.local"}


def test_virtual_service_is_ordered_after_the_destination_rules_it_uses():
    data = shop_config()
    data["services"]["order"]["traffic"] = {"mirror": {"service": "catalog", "version": "v2", "percent": 5}}
    traffic = build(data).traffic
    keys = [item.key for item in traffic.objects]
    assert keys.index("DestinationRule/shop/catalog") < keys.index("VirtualService/shop/catalog")
    assert traffic.object("VirtualService/shop/catalog").depends_on == ("DestinationRule/shop/catalog",)
    # order mirrors to catalog's subset, so it waits for catalog's rule too.
    assert traffic.object("VirtualService/shop/order").depends_on == ("DestinationRule/shop/catalog",)


def test_header_match_sends_a_user_segment_to_one_version_before_the_split():
    data = shop_config()
    data["services"]["catalog"]["traffic"]["matches"] = [
        {"name": "beta-users", "headers": {"x-user-segment": {"exact": "beta"}}, "version": "v2"}]
    http = manifest(build(data), "VirtualService/shop/catalog")["spec"]["http"]
    assert http[0] == {
        "name": "beta-users",
        "match": [{"headers": {"x-user-segment": {"exact": "beta"}}}],
        "route": [{"destination": {"host": "catalog.shop.svc.cluster.local", "subset": "v2"}}],
    }
    assert http[1]["name"] == "default"


def test_timeouts_retries_fault_and_mirror_apply_to_every_route():
    data = shop_config()
    data["services"]["catalog"]["traffic"].update({
        "matches": [{"name": "beta", "headers": {"x-beta": {"exact": "1"}}, "version": "v2"}],
        "timeout": "3s",
        "retries": {"attempts": 2, "perTryTimeout": "1s", "retryOn": "5xx"},
        "fault": {"delay": {"percent": 10, "fixedDelay": "2s"}, "abort": {"percent": 1.5, "httpStatus": 503}},
        "mirror": {"version": "v2", "percent": 20},
    })
    for route in manifest(build(data), "VirtualService/shop/catalog")["spec"]["http"]:
        assert route["timeout"] == "3s"
        assert route["retries"] == {"attempts": 2, "perTryTimeout": "1s", "retryOn": "5xx"}
        assert route["fault"] == {"delay": {"percentage": {"value": 10.0}, "fixedDelay": "2s"},
                                  "abort": {"percentage": {"value": 1.5}, "httpStatus": 503}}
        assert route["mirror"] == {"host": "catalog.shop.svc.cluster.local", "subset": "v2"}
        assert route["mirrorPercentage"] == {"value": 20.0}


def test_circuit_breaker_sets_connection_pool_and_outlier_detection():
    data = shop_config()
    data["services"]["payment"]["traffic"] = {"circuitBreaker": {
        "maxConnections": 50, "http1MaxPendingRequests": 10, "consecutive5xxErrors": 3, "interval": "5s"}}
    policy = manifest(build(data), "DestinationRule/shop/payment")["spec"]["trafficPolicy"]
    assert policy["connectionPool"] == {"tcp": {"maxConnections": 50}, "http": {"http1MaxPendingRequests": 10}}
    assert policy["outlierDetection"] == {"consecutive5xxErrors": 3, "interval": "5s", "baseEjectionTime": "30s",
                                          "maxEjectionPercent": 50}


def test_services_without_routing_get_no_istio_objects():
    keys = {item.key for item in build().traffic.objects}
    assert "VirtualService/shop/frontend" not in keys and "DestinationRule/shop/frontend" not in keys


def test_payment_only_from_order_is_one_allow_policy_with_orders_principal():
    policy = manifest(build(), "AuthorizationPolicy/shop/payment-allow")
    assert policy["spec"] == {
        "action": "ALLOW",
        "selector": {"matchLabels": {"app": "payment"}},
        "rules": [{"from": [{"source": {"principals": ["cluster.local/ns/shop/sa/order"]}}]}],
    }


def test_principals_use_the_trust_domain_and_l7_callers_get_their_own_rule():
    data = shop_config(trustDomain="corp.example")
    data["services"]["payment"]["access"]["allowFrom"] = [
        "shop/order", {"namespace": "shop", "serviceAccount": "frontend", "methods": ["GET"], "paths": ["/status"]}]
    rules = manifest(build(data), "AuthorizationPolicy/shop/payment-allow")["spec"]["rules"]
    assert rules[0] == {"from": [{"source": {"principals": ["corp.example/ns/shop/sa/order"]}}]}
    assert rules[1] == {"from": [{"source": {"principals": ["corp.example/ns/shop/sa/frontend"]}}],
                        "to": [{"operation": {"methods": ["GET"], "paths": ["/status"]}}]}


def test_empty_allow_list_denies_everyone_and_default_deny_comes_after_allows():
    data = shop_config()
    data["namespaces"]["shop"]["defaultDeny"] = True
    data["services"]["frontend"]["access"] = {"allowFrom": []}
    access = build(data).access
    assert "rules" not in access.object("AuthorizationPolicy/shop/frontend-allow").manifest["spec"]
    deny = access.object("AuthorizationPolicy/shop/default-deny")
    assert deny.manifest["spec"] == {}
    assert set(deny.depends_on) == {"AuthorizationPolicy/shop/frontend-allow", "AuthorizationPolicy/shop/order-allow",
                                    "AuthorizationPolicy/shop/payment-allow"}
    assert access.objects[-1] is deny


def test_exposed_service_gets_gateway_binding_and_lets_the_gateway_in():
    data = installing(gateways={"ingress": {"namespace": "istio-ingress", "tlsSecret": "shop-tls"}})
    data["services"]["frontend"]["expose"] = {"gateway": "ingress", "hosts": ["shop.example.com"]}
    data["services"]["frontend"]["access"] = {"allowFrom": []}
    mesh_plan = build(data)
    gateway = manifest(mesh_plan, "Gateway/istio-ingress/ingress")
    assert gateway["spec"]["selector"] == {"istio": "ingress"}
    assert [s["port"]["number"] for s in gateway["spec"]["servers"]] == [80, 443]
    assert gateway["spec"]["servers"][1]["tls"] == {"mode": "SIMPLE", "credentialName": "shop-tls"}
    route = manifest(mesh_plan, "VirtualService/shop/frontend")["spec"]
    assert route["gateways"] == ["istio-ingress/ingress", "mesh"]
    assert route["hosts"] == ["frontend.shop.svc.cluster.local", "shop.example.com"]
    allow = manifest(mesh_plan, "AuthorizationPolicy/shop/frontend-allow")["spec"]["rules"]
    assert allow == [{"from": [{"source": {"principals": ["cluster.local/ns/istio-ingress/sa/ingress"]}}]}]


def test_mtls_mesh_wide_namespace_and_workload_port_exceptions():
    data = shop_config(mtls={"mode": "STRICT", "namespaces": {"legacy": "PERMISSIVE"},
                             "workloads": {"payment": {"ports": {9090: "DISABLE"}}}})
    data["namespaces"]["legacy"] = {}
    mtls = build(data).mtls
    assert mtls.object("PeerAuthentication/istio-system/default").manifest["spec"] == {"mtls": {"mode": "STRICT"}}
    assert mtls.object("PeerAuthentication/legacy/default").manifest["spec"] == {"mtls": {"mode": "PERMISSIVE"}}
    assert mtls.object("PeerAuthentication/shop/payment").manifest["spec"] == {
        "selector": {"matchLabels": {"app": "payment"}}, "portLevelMtls": {"9090": {"mode": "DISABLE"}}}


@pytest.mark.parametrize("mode,expected", [
    ("sidecar", {"istio.io/rev": "1-30-4"}),
    ("ambient", {"istio.io/dataplane-mode": "ambient"}),
    ("none", {"istio-injection": "disabled"}),
])
def test_each_namespace_gets_exactly_one_injection_label(mode, expected):
    data = shop_config()
    data["namespaces"]["shop"] = {"mode": mode}
    labels = build(data).injection.object("Namespace/shop").manifest["metadata"]["labels"]
    assert {k: v for k, v in labels.items() if k in INJECTION_LABELS} == expected


def test_revision_tag_wins_and_existing_namespaces_are_patched_not_owned():
    data = installing(revisionTags=["stable"])
    data["namespaces"]["shop"] = {"create": False}
    namespace = build(data).injection.object("Namespace/shop")
    assert namespace.patch is True
    assert namespace.manifest["metadata"]["labels"] == {"istio.io/rev": "stable"}


def test_ambient_waypoint_is_created_and_used_by_policies():
    data = installing(ambient=True)
    data["namespaces"]["shop"] = {"mode": "ambient", "waypoint": True}
    mesh_plan = build(data)
    labels = mesh_plan.injection.object("Namespace/shop").manifest["metadata"]["labels"]
    assert labels["istio.io/use-waypoint"] == "waypoint"
    assert mesh_plan.injection.object("Gateway/shop/waypoint").manifest["spec"]["gatewayClassName"] == "istio-waypoint"
    spec = manifest(mesh_plan, "AuthorizationPolicy/shop/payment-allow")["spec"]
    assert spec["targetRefs"] == [{"kind": "Service", "group": "", "name": "payment"}] and "selector" not in spec


def test_control_plane_chart_order_and_values():
    data = installing(ambient=True, revisionTags=["stable"],
                      highAvailability={"replicas": 3, "autoscaleMax": 5, "podDisruptionBudget": True,
                                        "resources": {"requests": {"cpu": "500m"}}},
                      gateways={"ingress": {"namespace": "istio-ingress"}})
    cp = build(data).control_plane
    assert [r.key for r in cp.releases] == ["istio-base", "istiod", "istio-cni", "ztunnel", "ingress"]
    assert [r.depends_on for r in cp.releases] == [
        ("Namespace/istio-system",), ("istio-base",), ("istiod",), ("istio-cni",),
        ("ztunnel", "Namespace/istio-ingress")]
    base, istiod = cp.release("istio-base"), cp.release("istiod")
    assert base.values["base"] == {"validationFailurePolicy": "Fail"}
    assert istiod.values["revision"] == "1-30-4" and istiod.values["revisionTags"] == ["stable"]
    assert istiod.values["profile"] == "ambient"
    assert istiod.values["pilot"] == {"replicaCount": 3, "autoscaleEnabled": True, "autoscaleMin": 3,
                                      "autoscaleMax": 5, "resources": {"requests": {"cpu": "500m"}}}
    assert istiod.values["global"]["defaultPodDisruptionBudget"] == {"enabled": True}
    assert all(r.version == "1.30.4" and r.repository == "https://charts.example.com/istio" for r in cp.releases)


@pytest.mark.parametrize("url,chart,repository,version", [
    ("https://mirror.example.com/istio/", "istiod", "https://mirror.example.com/istio", "1.30.4"),
    ("oci://registry.example.com/istio", "oci://registry.example.com/istio/istiod", None, "1.30.4"),
    ("/srv/charts", "/srv/charts/istiod", None, None),
])
def test_chart_source_kinds(url, chart, repository, version):
    istiod = build(installing(charts={"url": url})).control_plane.release("istiod")
    assert (istiod.chart, istiod.repository, istiod.version) == (chart, repository, version)


def test_bring_your_own_control_plane_installs_no_charts_but_keeps_mesh_config():
    mesh_plan = build()
    assert mesh_plan.control_plane.releases == [] and mesh_plan.control_plane.objects == []
    assert mesh_plan.mtls.objects and mesh_plan.traffic.objects


def test_user_istiod_values_are_deep_merged_last():
    data = installing(istiodValues={"pilot": {"env": {"PILOT_ENABLE_X": "true"}, "replicaCount": 7}})
    pilot = build(data).control_plane.release("istiod").values["pilot"]
    assert pilot["env"] == {"PILOT_ENABLE_X": "true"} and pilot["replicaCount"] == 7
    assert pilot["autoscaleEnabled"] is False


def test_observability_charts_are_wired_to_each_other_and_to_istiod():
    data = installing()
    data["observability"] = {"tracing": {"samplingPercent": 5}}
    mesh_plan = build(data)
    obs = mesh_plan.observability
    assert [r.key for r in obs.releases] == ["prometheus", "jaeger", "grafana", "kiali"]
    kiali = obs.release("kiali").values["external_services"]
    assert kiali["prometheus"]["url"] == "http://prometheus.istio-system.svc.cluster.local:9090"
    assert kiali["tracing"]["internal_url"] == "http://jaeger-query.istio-system.svc.cluster.local:16686"
    assert kiali["grafana"]["internal_url"] == "http://grafana.istio-system.svc.cluster.local:80"
    assert set(obs.release("kiali").depends_on) == {"prometheus", "jaeger", "grafana"}
    grafana = obs.release("grafana").values
    assert grafana["admin"]["existingSecret"] == "grafana-admin"
    assert grafana["dashboards"]["istio"]["istio-mesh"]["json"].lstrip().startswith("{")  # shipped, not downloaded
    assert not any("gnetId" in item for item in grafana["dashboards"]["istio"].values())
    assert [d["type"] for d in grafana["datasources"]["datasources.yaml"]["datasources"]] == ["prometheus", "jaeger"]
    provider = mesh_plan.control_plane.release("istiod").values["meshConfig"]["extensionProviders"]
    assert provider == [{"name": "jaeger", "opentelemetry": {
        "service": "jaeger-collector.istio-system.svc.cluster.local", "port": 4317}}]
    telemetry = obs.object("Telemetry/istio-system/mesh-default").manifest["spec"]
    assert telemetry["tracing"] == [{"providers": [{"name": "jaeger"}], "randomSamplingPercentage": 5.0}]
    assert [s.from_config for s in obs.secrets] == [{"admin-password": "grafanaAdminPassword"}]


def test_existing_endpoints_replace_charts():
    obs = build().observability
    assert obs.releases == [] and obs.secrets == []
    provider = build().control_plane  # BYO control plane: no istiod values to carry the provider
    assert provider.releases == []
    telemetry = obs.object("Telemetry/istio-system/mesh-default").manifest["spec"]
    assert telemetry["tracing"][0]["providers"] == [{"name": "jaeger"}]


def test_plan_does_not_mutate_the_spec_and_is_deterministic():
    data = shop_config()
    before = copy.deepcopy(data)
    first, second = build(data).to_dict(), build(data).to_dict()
    assert first == second
    assert data == before
