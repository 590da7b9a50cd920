"""Each component under Pulumi's mocks: what it registers, with which parent, provider and ordering."""

import pulumi
import pulumi_kubernetes as k8s
import pytest

from conftest import shop_config
from harness import run_program
from components import (
    Access, AccessArgs, ControlPlane, ControlPlaneArgs, Injection, InjectionArgs, MutualTls, MutualTlsArgs,
    Observability, ObservabilityArgs, Traffic, TrafficArgs,
)
from components.plan import object_key
from components.spec import parse_mesh

CR = "kubernetes:networking.istio.io/v1:"


def spec_of(data=None):
    return parse_mesh(data or shop_config())


def test_traffic_registers_rules_before_routes_under_the_component_with_the_provider():
    spec = spec_of()
    created = {}

    def program():
        provider = k8s.Provider("k8s", render_yaml_to_directory="out")
        created["traffic"] = Traffic("shop", TrafficArgs(spec.services, provider=provider))

    recorder = run_program(program)
    component = recorder.named("shop")
    assert component.type == "mesh-rollout:index:Traffic"
    rule = recorder.named("shop-destinationrule-shop-catalog")
    route = recorder.named("shop-virtualservice-shop-catalog")
    assert rule.type == "kubernetes:networking.istio.io/v1:DestinationRule"
    assert rule.parent == component.urn and route.parent == component.urn
    provider = recorder.named("k8s")
    assert rule.provider.startswith(provider.urn) and route.provider.startswith(provider.urn)
    assert rule.urn in route.dependencies
    assert recorder.registrations.index(rule) < recorder.registrations.index(route)
    weights = [(r["destination"]["subset"], r["weight"]) for r in route.inputs["spec"]["http"][-1]["route"]]
    assert weights == [("v1", 90), ("v2", 10)]
    assert route.inputs["metadata"]["name"] == "catalog" and route.inputs["metadata"]["namespace"] == "shop"


def test_component_registers_exactly_what_its_plan_holds():
    spec = spec_of()
    holder = {}

    def program():
        holder["c"] = Access("acl", AccessArgs(spec.services, spec.namespaces))

    recorder = run_program(program)
    planned = sorted((item.manifest for item in holder["c"].plan.objects), key=object_key)
    # Independent resources register concurrently; order is asserted where depends_on demands it.
    assert planned and sorted(recorder.kube_objects(), key=object_key) == planned


def test_injection_creates_or_patches_namespaces():
    data = shop_config()
    data["namespaces"]["legacy"] = {"create": False, "mode": "none"}

    def program():
        Injection("inj", InjectionArgs(spec_of(data).namespaces, "stable"))

    recorder = run_program(program)
    shop = recorder.named("inj-namespace-shop")
    legacy = recorder.named("inj-namespace-legacy")
    assert shop.type == "kubernetes:core/v1:Namespace"
    assert legacy.type == "kubernetes:core/v1:NamespacePatch"
    assert shop.inputs["metadata"]["labels"]["istio.io/rev"] == "stable"
    assert legacy.inputs["metadata"]["labels"] == {"istio-injection": "disabled"}


def test_control_plane_charts_are_chained_base_istiod_gateways():
    data = shop_config(controlPlane={"charts": {"url": "https://charts.example.com/istio"},
                                     "gateways": {"ingress": {}}})
    spec = spec_of(data)

    def program():
        ControlPlane("cp", ControlPlaneArgs(spec.control_plane))

    recorder = run_program(program)
    charts = recorder.of_type("kubernetes:helm.sh/v4:Chart")
    assert [c.inputs["name"] for c in charts] == ["istio-base", "istiod", "ingress"]
    base, istiod, gateway = charts
    namespace = recorder.named("cp-namespace-istio-system")
    assert namespace.urn in base.dependencies
    assert base.urn in istiod.dependencies and istiod.urn in gateway.dependencies
    assert recorder.named("cp-namespace-istio-ingress").urn in gateway.dependencies
    assert istiod.inputs["repositoryOpts"] == {"repo": "https://charts.example.com/istio"}
    assert istiod.inputs["version"] == "1.30.4" and istiod.inputs["namespace"] == "istio-system"
    assert istiod.inputs["values"]["revision"] == "1-30-4"
    assert all(c.parent == recorder.named("cp").urn for c in charts)


def test_bring_your_own_control_plane_registers_only_the_component():
    spec = spec_of()

    def program():
        ControlPlane("cp", ControlPlaneArgs(spec.control_plane))

    recorder = run_program(program)
    assert [r.type for r in recorder.registrations] == ["mesh-rollout:index:ControlPlane"]


def test_mutual_tls_policies():
    spec = spec_of(shop_config(mtls={"mode": "PERMISSIVE", "workloads": {"payment": {"mode": "STRICT"}}}))

    def program():
        MutualTls("mtls", MutualTlsArgs(spec.mtls, spec.services))

    recorder = run_program(program)
    mesh_wide = recorder.named("mtls-peerauthentication-istio-system-default")
    workload = recorder.named("mtls-peerauthentication-shop-payment")
    assert mesh_wide.inputs["spec"] == {"mtls": {"mode": "PERMISSIVE"}}
    assert workload.inputs["spec"]["selector"] == {"matchLabels": {"app": "payment"}}


def test_grafana_password_stays_secret():
    data = shop_config(observability={})
    spec = spec_of(data)
    holder = {}

    def program():
        holder["obs"] = Observability("obs", ObservabilityArgs(
            spec.observability, secrets={"grafanaAdminPassword": pulumi.Output.secret("s3cret")}))

    recorder = run_program(program)
    secret = recorder.named("obs-secret-istio-system-grafana-admin")
    grafana = next(c for c in recorder.of_type("kubernetes:helm.sh/v4:Chart") if c.inputs["name"] == "grafana")
    assert secret.urn in grafana.dependencies
    assert secret.inputs["stringData"] == {"admin-user": "admin", "admin-password": "s3cret"}
    assert secret.is_secret("stringData", "admin-password")
    assert not grafana.is_secret("values")


def test_missing_secret_value_is_a_clear_error():
    spec = spec_of(shop_config(observability={}))

    def program():
        Observability("obs", ObservabilityArgs(spec.observability))

    with pytest.raises(Exception) as caught:
        run_program(program)
    assert "pulumi config set --secret grafanaAdminPassword" in str(caught.value)
