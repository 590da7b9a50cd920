"""examples/platform and examples/app-team under Pulumi's mocks: the platform program publishes its facts, the app
team's program reads them through a (mocked) StackReference, and the checks span both stacks."""

from __future__ import annotations

import copy
import json
import runpy
from typing import Any

import pulumi
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import harness
from conftest import ROOT
from harness import EchoMocks, Recorder, RecordingMonitor, wait
from mesh_rollout import Access, AccessArgs, ConfigError, Traffic, TrafficArgs
from mesh_rollout.plan import object_key
from mesh_rollout.platform import (
    PLATFORM_FACTS_VERSION,
    PlatformFacts,
    platform_facts,
    published_data,
    read_platform_facts,
)
from mesh_rollout.spec import parse_mesh
from strategies import dns_labels, unique_names

EXAMPLES = ROOT / "examples"
PLATFORM_STACK = "organization/platform/dev"


def stack_config(project: str) -> dict[str, Any]:
    """An example's dev stack file as the engine hands it to the program (``<project>:<key>`` keys)."""
    return yaml.safe_load((EXAMPLES / project / "Pulumi.dev.yaml").read_text())["config"]


class StackReferenceMocks(EchoMocks):
    """Echo mocks that answer a StackReference to ``stacks`` (name -> outputs) as the engine would."""

    def __init__(self, stacks: dict[str, dict[str, Any]]):
        self.stacks = stacks
        #: The stacks the program referenced, in order.
        self.referenced: list[str] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        if args.typ == "pulumi:pulumi:StackReference":
            name = args.inputs["name"]
            self.referenced.append(name)
            return name, {"name": name, "outputs": self.stacks[name], "secretOutputNames": []}
        return f"{args.name}-id", args.inputs


def run_example(project: str, config: dict[str, Any], stacks: dict[str, dict[str, Any]] | None = None,
                preview: bool = False) -> Recorder:
    """``examples/<project>/__main__.py`` under mocks with ``config`` (``<project>:<key>`` keys), its
    StackReferences answered from ``stacks``."""
    mocks = StackReferenceMocks(stacks or {})
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=project, stack="dev", preview=preview, monitor=monitor)
    pulumi.runtime.set_all_config({key: value if isinstance(value, str) else json.dumps(value)
                                   for key, value in config.items()}, [])
    recorder = Recorder(monitor)
    recorder.mocks = mocks  # type: ignore[attr-defined]
    harness.LAST = recorder
    # Under mocks one root Stack outlives every run: its exports are this run's only once cleared.
    exports = pulumi.runtime.settings.get_root_resource().outputs
    exports.clear()

    @pulumi.runtime.test
    def body() -> pulumi.Output[None]:
        runpy.run_path(str(EXAMPLES / project / "__main__.py"), run_name="__main__")
        return pulumi.Output.from_input(None)

    body()
    return recorder


def stack_outputs() -> dict[str, Any]:
    """What the last program run exported (``pulumi.export``), resolved."""
    exports = pulumi.runtime.settings.get_root_resource().outputs
    return {name: wait(pulumi.Output.from_input(value)) for name, value in exports.items()}


@pytest.fixture(scope="module")
def published() -> dict[str, Any]:
    """The platform example's ``platformFacts`` output, as its program exported it under mocks."""
    run_example("platform", stack_config("platform"))
    return stack_outputs()["platformFacts"]


def app_config(change: Any = None) -> dict[str, Any]:
    config = copy.deepcopy(stack_config("app-team"))
    if change is not None:
        change(config["app-team:services"])
    return config


def run_app(published: dict[str, Any], change: Any = None, preview: bool = False) -> Recorder:
    return run_example("app-team", app_config(change), {PLATFORM_STACK: {"platformFacts": published}}, preview)


def objects_by_key(recorder: Recorder) -> dict[str, dict[str, Any]]:
    return {object_key(manifest): manifest for manifest in recorder.kube_objects()}


# --- the platform program ---------------------------------------------------------------------------------------


def test_platform_composes_the_mesh_with_its_own_resources_through_one_provider(published):
    recorder = run_example("platform", stack_config("platform"))
    provider = recorder.named("cluster")
    assert provider.inputs["renderYamlToDirectory"] == "out/render"
    mesh = recorder.named("mesh")
    quotas = recorder.of_type("kubernetes:core/v1:ResourceQuota")
    assert sorted(q.inputs["metadata"]["namespace"] for q in quotas) == ["payments", "shop"]
    # The platform's own quotas wait for the namespaces the mesh creates (depends_on the component: its children).
    for quota in quotas:
        namespace = recorder.named(f"mesh-injection-namespace-{quota.inputs['metadata']['namespace']}")
        assert namespace.urn in quota.dependencies, quota.name
    assert all(r.provider.startswith(provider.urn) for r in recorder.registrations
               if r.custom and r.type.startswith("kubernetes:") and r.type != "pulumi:providers:kubernetes")
    assert recorder.outputs_of("mesh")["platformFacts"] == published
    assert mesh.type == "mesh-rollout:index:Mesh"


def test_platform_publishes_the_facts_of_its_mesh(published):
    assert published["schemaVersion"] == PLATFORM_FACTS_VERSION
    assert published["trustDomain"] == "cluster.local" and published["rootNamespace"] == "istio-system"
    assert published["injectionRevision"] == "stable" and published["revision"] == "1-30-4"
    assert published["namespaces"] == {"payments": {"mode": "sidecar", "waypoint": False},
                                       "shop": {"mode": "sidecar", "waypoint": False}}
    assert published["gateways"] == {"ingress": {"kind": "ingress", "namespace": "istio-ingress",
                                                 "serviceAccount": "ingress", "api": "istio",
                                                 # tlsSecret, published as the TLS it means
                                                 "tls": {"mode": "SIMPLE", "credentialName": "wildcard-example-com",
                                                         "httpsRedirect": False},
                                                 "hosts": ["shop.example.com"]}}
    assert published["services"]["order"] == {"namespace": "shop", "serviceAccount": "order",
                                              "ports": [{"port": 8080, "name": "http"}]}
    # What is published reads back as the same facts (the app stack's side of the contract).
    assert published_data(read_platform_facts(published)) == published


# --- the app team's program -------------------------------------------------------------------------------------


def test_app_team_routes_and_allows_through_what_the_platform_publishes(published, istio_schemas):
    recorder = run_app(published)
    assert recorder.mocks.referenced == [PLATFORM_STACK]
    objects = objects_by_key(recorder)
    assert set(objects) == {"Gateway/payments/ingress", "DestinationRule/payments/payment",
                            "VirtualService/payments/payment", "AuthorizationPolicy/payments/payment-allow"}
    # Its own Gateway object for its host, selecting the platform's gateway pods, with the platform's certificate.
    gateway = objects["Gateway/payments/ingress"]["spec"]
    assert gateway["selector"] == {"istio": "ingress"}
    assert [(s["port"]["name"], s["hosts"]) for s in gateway["servers"]] == [
        ("http", ["pay.example.com"]), ("https", ["pay.example.com"])]
    assert gateway["servers"][1]["tls"]["credentialName"] == "wildcard-example-com"
    route = objects["VirtualService/payments/payment"]["spec"]
    assert route["gateways"] == ["payments/ingress", "mesh"]
    assert route["hosts"] == ["payment.payments.svc.cluster.local", "pay.example.com"]
    # The platform's workload and the platform's gateway, by their identities in the platform's trust domain.
    allow = objects["AuthorizationPolicy/payments/payment-allow"]["spec"]
    assert allow["rules"] == [{"from": [{"source": {"principals": [
        "cluster.local/ns/istio-ingress/sa/ingress", "cluster.local/ns/shop/sa/order"]}}]}]
    for manifest in objects.values():
        assert istio_schemas.errors(json.loads(json.dumps(manifest), parse_float=_integral)) == []
    traffic = recorder.named("payments-traffic")
    assert recorder.named("payments-traffic-virtualservice-payments-payment").parent == traffic.urn
    assert recorder.outputs_of("payments-traffic")["hosts"] == {"payment": "payment.payments.svc.cluster.local"}


def test_app_team_cannot_expose_through_a_platform_gateway_api_gateway(published):
    """A platform gateway configured with Gateway API has listeners for the platform's hosts only: an app host there
    is refused at the app's exposure, not planned as a route nothing accepts."""
    facts = copy.deepcopy(published)
    facts["gateways"]["ingress"]["api"] = "gateway-api"
    with pytest.raises(Exception) as caught:  # raised where the StackReference's output resolves
        run_app(facts, preview=True)
    text = str(caught.value)
    assert "services.payment.expose.gateway: gateway 'ingress' is the platform stack's and uses api: gateway-api" \
        in text, text


def _integral(text: str) -> int | float:
    # The mocks carry every number as a float; Istio's schemas want integers where Kubernetes would get them.
    value = float(text)
    return int(value) if value.is_integer() else value


def test_a_caller_the_platform_does_not_publish_fails_the_app_stack(published):
    def unknown_caller(services: dict[str, Any]) -> None:
        services["payment"]["access"]["allowFrom"] = ["shop/reporting"]

    with pytest.raises(Exception) as caught:
        run_app(published, unknown_caller, preview=True)
    text = str(caught.value)
    assert "services.payment.access.allowFrom.0: caller shop/reporting matches no workload" in text
    assert "[MR140]" in text
    assert ("platform: the platform stack publishes namespaces payments (sidecar), shop (sidecar) and identities "
            "istio-ingress/ingress, shop/order, shop/storefront") in text


def test_a_gateway_the_platform_does_not_publish_fails_the_app_stack(published):
    def unknown_gateway(services: dict[str, Any]) -> None:
        services["payment"]["expose"]["gateway"] = "public"

    with pytest.raises(Exception) as caught:
        run_app(published, unknown_gateway, preview=True)
    text = str(caught.value)
    assert "services.payment.expose.gateway: gateway 'public' is not defined" in text and "[MR170]" in text
    assert "platform: the platform stack publishes gateways ingress (ingress, namespace istio-ingress)" in text


def test_a_host_the_platform_already_serves_on_its_gateway_fails_the_app_stack(published):
    def taken_host(services: dict[str, Any]) -> None:
        services["payment"]["expose"]["hosts"] = ["shop.example.com"]

    with pytest.raises(Exception) as caught:
        run_app(published, taken_host)
    assert "services.payment.expose.hosts.0" in str(caught.value) and "[MR110]" in str(caught.value)
    # The platform's side of the conflict is the platform stack's config, not a path of this one.
    assert "services.storefront" not in str(caught.value)


def test_a_platform_stack_without_facts_is_a_clear_error():
    with pytest.raises(Exception) as caught:
        run_example("app-team", app_config(), {PLATFORM_STACK: {"hosts": {}}})
    assert "platformFacts" in str(caught.value)


# --- the API with plain facts: checks before anything is registered ---------------------------------------------


PLATFORM_MESH = {
    "trustDomain": "corp.example",
    "controlPlane": {"install": False, "gateways": {"ingress": {}, "egress": {"kind": "egress",
                                                                         "namespace": "istio-egress"}}},
    "namespaces": {"shop": {}, "legacy": {"mode": "none"}, "mesh-ambient": {"mode": "ambient"}},
    "services": {"order": {"namespace": "shop", "serviceAccount": "orders"}, "batch": {"namespace": "legacy"}},
    "observability": None,
}


def facts(**overrides: Any) -> PlatformFacts:
    return platform_facts(parse_mesh({**PLATFORM_MESH, **overrides}))


def refused(program: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        harness.run_program(program)
    assert harness.LAST is not None and harness.LAST.registrations == [], "registered before refusing"
    return [str(problem) for problem in caught.value.problems]


def payment(**access: Any) -> dict[str, Any]:
    return {"payment": {"namespace": "payments", "access": access}}


@pytest.mark.parametrize("platform", [facts(), published_data(facts())], ids=["model", "plain data"])
def test_plain_facts_accept_the_platforms_callers_in_its_trust_domain(platform):
    holder: dict[str, Access] = {}
    recorder = harness.run_program(lambda: holder.setdefault("a", Access("a", AccessArgs(
        services=payment(allowFrom=["shop/orders"]), platform=platform))))
    allow = recorder.named("a-authorizationpolicy-payments-payment-allow")
    assert allow.inputs["spec"]["rules"] == [{"from": [{"source": {"principals": ["corp.example/ns/shop/sa/orders"]}}]}]


def test_without_the_platform_the_same_caller_is_unknown():
    problems = refused(lambda: Access("a", AccessArgs(services=payment(allowFrom=["shop/orders"]))))
    assert [p.split(":")[0] for p in problems] == ["services.payment.access.allowFrom.0"]


@pytest.mark.parametrize("caller,why", [
    ("shop/order", "no service in namespace 'shop' runs as service account 'order'"),
    ("legacy/batch", "namespace 'legacy' is outside the mesh (mode none)"),
    ("ops/reporter", "namespace 'ops' is not in namespaces"),
])
def test_callers_in_neither_stack_are_errors_that_say_what_the_platform_publishes(caller, why):
    problems = refused(lambda: Access("a", AccessArgs(services=payment(allowFrom=[caller]), platform=facts())))
    assert problems[0].startswith(f"services.payment.access.allowFrom.0: caller {caller} matches no workload")
    assert why in problems[0] and problems[0].endswith("[MR140]")
    assert problems[1] == (
        "platform: the platform stack publishes namespaces legacy (none), mesh-ambient (ambient), shop (sidecar) and "
        "identities istio-egress/egress, istio-ingress/ingress, legacy/batch, shop/orders; a caller must be one of "
        "them or a service of this stack (or be marked external: true)")


def test_the_platforms_gateway_is_a_caller_too():
    recorder = harness.run_program(lambda: Access("a", AccessArgs(
        services=payment(allowFrom=["istio-ingress/ingress"]), platform=facts())))
    assert recorder.named("a-authorizationpolicy-payments-payment-allow")


def test_the_platforms_ambient_namespaces_decide_where_l7_rules_can_be_enforced():
    services = {"report": {"namespace": "mesh-ambient",
                           "access": {"allowFrom": [{"namespace": "shop", "serviceAccount": "orders",
                                                     "methods": ["GET"]}]}}}
    problems = refused(lambda: Access("a", AccessArgs(services=services, platform=facts())))
    assert [p.rsplit(" ", 1)[-1] for p in problems] == ["[MR160]"]


def test_an_egress_gateway_of_the_platform_cannot_expose_a_service():
    services = {"payment": {"namespace": "payments", "expose": {"gateway": "egress", "hosts": ["pay.example.com"]}}}
    problems = refused(lambda: Traffic("t", TrafficArgs(services=services, platform=facts())))
    assert problems[0].startswith("services.payment.expose.gateway: gateway 'egress' is an egress gateway")
    assert problems[1].startswith("platform: the platform stack publishes gateways egress (egress, namespace "
                                  "istio-egress), ingress (ingress, namespace istio-ingress)")


def test_routes_to_the_platforms_services_use_their_hosts_in_the_platforms_cluster_domain():
    services = {"checkout": {"namespace": "payments", "versions": {"v1": {}},
                             "traffic": {"mirror": {"service": "order"}}}}
    platform = facts(clusterDomain="corp.internal")
    holder: dict[str, Traffic] = {}
    recorder = harness.run_program(lambda: holder.setdefault("t", Traffic("t", TrafficArgs(
        services=services, platform=platform))))
    route = recorder.named("t-virtualservice-payments-checkout").inputs["spec"]
    assert route["http"][0]["mirror"] == {"host": "order.shop.svc.corp.internal"}
    assert wait(holder["t"].hosts) == {"checkout": "checkout.payments.svc.corp.internal"}


def test_a_trust_domain_other_than_the_platforms_is_an_error():
    problems = refused(lambda: Access("a", AccessArgs(services=payment(allowFrom=["shop/orders"]),
                                                      trust_domain="cluster.local", platform=facts())))
    assert problems == ["trustDomain: the platform stack publishes trust domain 'corp.example' and every workload "
                        "of the mesh uses it; expected 'corp.example' (or leave trustDomain unset), got "
                        "'cluster.local'"]


def test_facts_of_another_version_or_shape_are_refused_with_their_path():
    data = published_data(facts())
    with pytest.raises(ConfigError) as caught:
        read_platform_facts({**data, "schemaVersion": 2})
    assert str(caught.value.problems[0]).startswith(
        "platform.schemaVersion: this mesh-rollout reads platform facts version 1; the platform stack published "
        "version 2")
    broken = copy.deepcopy(data)
    broken["gateways"]["ingress"]["namespace"] = "Istio_Ingress"
    with pytest.raises(ConfigError) as caught:
        read_platform_facts(broken)
    assert [p.path for p in caught.value.problems] == ["platform.gateways.ingress.namespace"]


def test_readme_split_example_runs_against_the_platform_examples_facts(published):
    """README "Splitting a mesh across stacks": its app team's program is a working one."""
    import re

    section = (ROOT / "README.md").read_text().split("## Splitting a mesh across stacks", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    mocks = StackReferenceMocks({PLATFORM_STACK: {"platformFacts": published}})
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="app-team", stack="dev", monitor=monitor)
    recorder = Recorder(monitor)

    @pulumi.runtime.test
    def body() -> pulumi.Output[None]:
        exec(compile(code, "README.md", "exec"), {})
        return pulumi.Output.from_input(None)

    body()
    assert mocks.referenced == [PLATFORM_STACK]
    objects = objects_by_key(recorder)
    assert objects["VirtualService/payments/payment"]["spec"]["gateways"] == ["payments/ingress", "mesh"]
    assert objects["AuthorizationPolicy/payments/payment-allow"]["spec"]["rules"] == [{"from": [{"source": {
        "principals": ["cluster.local/ns/istio-ingress/sa/ingress", "cluster.local/ns/shop/sa/order"]}}]}]


@st.composite
def platform_meshes(draw: st.DrawFn) -> dict[str, Any]:
    """A platform's mesh: a few namespaces in any mode, services in them with or without their own accounts."""
    namespaces = draw(unique_names(min_size=1, max_size=3))
    modes = {name: draw(st.sampled_from(["sidecar", "ambient", "none"])) for name in namespaces}
    services = {name: {"namespace": draw(st.sampled_from(namespaces)),
                       **({"serviceAccount": draw(dns_labels(20))} if draw(st.booleans()) else {})}
                for name in draw(unique_names(min_size=1, max_size=4))}
    return {"controlPlane": {"install": False}, "observability": None,
            "namespaces": {name: {"mode": mode} for name, mode in modes.items()}, "services": services}


@settings(max_examples=40, deadline=None)
@given(platform_meshes())
def test_every_identity_a_platform_publishes_in_the_mesh_is_a_known_caller(mesh):
    published = published_data(platform_facts(parse_mesh(mesh)))
    # What a StackReference hands back (JSON) reads as the same facts.
    assert published_data(read_platform_facts(json.loads(json.dumps(published)))) == published
    in_mesh = sorted({f"{s['namespace']}/{s['serviceAccount']}" for s in published["services"].values()
                      if published["namespaces"][s["namespace"]]["mode"] != "none"})
    if not in_mesh:
        return
    services = {"app": {"namespace": "app-team", "access": {"allowFrom": in_mesh}}}
    recorder = harness.run_program(lambda: Access("a", AccessArgs(services=services, platform=published)))
    principals = recorder.named("a-authorizationpolicy-app-team-app-allow").inputs["spec"]["rules"][0]["from"][0]
    assert principals["source"]["principals"] == [f"cluster.local/ns/{c.replace('/', '/sa/')}" for c in in_mesh]
