"""Each component under Pulumi's mocks: what it registers, with which parent, provider and ordering."""

import ast
import inspect
import textwrap

import pulumi
import pulumi_kubernetes as k8s
import pytest

import harness
from conftest import shop_config
from harness import run_program, wait
from mesh_rollout import (
    Access,
    AccessArgs,
    ControlPlane,
    ControlPlaneArgs,
    Egress,
    Injection,
    InjectionArgs,
    Mesh,
    MeshArgs,
    MutualTls,
    MutualTlsArgs,
    Observability,
    ObservabilityArgs,
    Traffic,
    TrafficArgs,
)
from mesh_rollout.plan import object_key
from mesh_rollout.spec import ConfigError, parse_mesh

CR = "kubernetes:networking.istio.io/v1:"


def spec_of(data=None):
    return parse_mesh(data or shop_config())


def test_traffic_registers_rules_before_routes_under_the_component_with_the_provider():
    spec = spec_of()
    created = {}

    def program():
        provider = k8s.Provider("k8s", render_yaml_to_directory="out")
        created["traffic"] = Traffic("shop", TrafficArgs(services=spec.services),
                                     pulumi.ResourceOptions(provider=provider))

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
        holder["c"] = Access("acl", AccessArgs(services=spec.services, namespaces=spec.namespaces))

    recorder = run_program(program)
    planned = sorted((item.manifest for item in holder["c"].plan.objects), key=object_key)
    # Independent resources register concurrently; order is asserted where depends_on demands it.
    assert planned and sorted(recorder.kube_objects(), key=object_key) == planned


def test_injection_creates_or_patches_namespaces():
    data = shop_config()
    data["namespaces"]["legacy"] = {"create": False, "mode": "none"}

    def program():
        Injection("inj", InjectionArgs(namespaces=spec_of(data).namespaces, default_revision="stable"))

    recorder = run_program(program)
    shop = recorder.named("inj-namespace-shop")
    legacy = recorder.named("inj-namespace-legacy")
    assert shop.type == "kubernetes:core/v1:Namespace"
    assert legacy.type == "kubernetes:core/v1:NamespacePatch"
    assert shop.inputs["metadata"]["labels"]["istio.io/rev"] == "stable"
    assert legacy.inputs["metadata"]["labels"] == {"istio-injection": "disabled"}
    # A namespace the stack created is never deleted by it (its workloads are not the mesh's).
    assert shop.retain_on_delete and not legacy.retain_on_delete


def test_control_plane_charts_are_chained_base_istiod_gateways():
    data = shop_config(controlPlane={"charts": {"url": "https://charts.example.com/istio"},
                                     "gateways": {"ingress": {}}})
    spec = spec_of(data)

    def program():
        ControlPlane("cp", ControlPlaneArgs(spec=spec.control_plane))

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
        ControlPlane("cp", ControlPlaneArgs(spec=spec.control_plane))

    recorder = run_program(program)
    assert [r.type for r in recorder.registrations] == ["mesh-rollout:index:ControlPlane"]


def test_mutual_tls_policies():
    spec = spec_of(shop_config(mtls={"mode": "PERMISSIVE", "workloads": {"payment": {"mode": "STRICT"}}}))

    def program():
        MutualTls("mtls", MutualTlsArgs(mtls=spec.mtls, services=spec.services))

    recorder = run_program(program)
    mesh_wide = recorder.named("mtls-peerauthentication-mesh-wide")
    # Its identity does not follow the root namespace; stacks deployed before knew it by the object's key.
    assert mesh_wide.aliases == ["mtls-peerauthentication-istio-system-default"]
    workload = recorder.named("mtls-peerauthentication-shop-payment")
    assert workload.aliases == [] and not workload.retain_on_delete
    assert mesh_wide.inputs["spec"] == {"mtls": {"mode": "PERMISSIVE"}}
    assert workload.inputs["spec"]["selector"] == {"matchLabels": {"app": "payment"}}


def test_grafana_password_stays_secret():
    data = shop_config(observability={})
    spec = spec_of(data)
    holder = {}

    def program():
        holder["obs"] = Observability("obs", ObservabilityArgs(
            spec=spec.observability, secrets={"grafanaAdminPassword": pulumi.Output.secret("s3cret")}))

    recorder = run_program(program)
    secret = recorder.named("obs-secret-istio-system-grafana-admin")
    grafana = next(c for c in recorder.of_type("kubernetes:helm.sh/v4:Chart") if c.inputs["name"] == "grafana")
    assert secret.urn in grafana.dependencies
    assert secret.inputs["stringData"] == {"admin-user": "admin", "admin-password": "s3cret"}
    assert secret.is_secret("stringData", "admin-password")
    assert not grafana.is_secret("values")


def test_omitted_secrets_are_not_registered_and_each_is_named_in_a_warning(caplog):
    spec = spec_of(shop_config(observability={}))

    def program():
        Observability("obs", ObservabilityArgs(spec=spec.observability, omit_secrets=True))

    recorder = run_program(program)
    assert not recorder.of_type("kubernetes:core/v1:Secret")
    # Under the mocks pulumi.log writes to Python's logging.
    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert any("Secret istio-system/grafana-admin is not rendered" in message
               and "kubectl create secret generic grafana-admin -n istio-system" in message
               and "--from-literal=admin-password=<grafanaAdminPassword>" in message for message in warnings), warnings


def test_missing_secret_value_is_a_clear_error():
    spec = spec_of(shop_config(observability={}))

    def program():
        Observability("obs", ObservabilityArgs(spec=spec.observability))

    with pytest.raises(Exception) as caught:
        run_program(program)
    assert "pulumi config set --secret grafanaAdminPassword" in str(caught.value)


# --- each component used on its own, as a user's program would: plain data in, Mesh's errors and checks ---------



def refused(program) -> list[str]:
    """The problems a program's component raised (as 'path: message [code]'), checking nothing was registered."""
    with pytest.raises(ConfigError) as caught:
        run_program(program)
    assert harness.LAST.registrations == [], "registered before refusing"
    return [str(problem) for problem in caught.value.problems]


def plain_services(**overrides) -> dict:
    services = shop_config()["services"]
    services.update(overrides)
    return services


def test_traffic_alone_reports_schema_errors_at_its_argument_paths():
    services = plain_services(order={"namespace": "shop", "traffic": {"timeout": "5 s"}})
    problems = refused(lambda: Traffic("t", TrafficArgs(services=services)))
    assert len(problems) == 1 and problems[0].startswith("services.order.traffic.timeout: must be a duration")


def test_traffic_alone_runs_the_traffic_checks():
    services = plain_services(catalog={"namespace": "shop", "versions": {"v1": {}, "v2": {}},
                                       "traffic": {"split": {"v1": 90, "v3": 10}}})
    problems = refused(lambda: Traffic("t", TrafficArgs(services=services)))
    assert [p.split(":")[0] for p in problems] == ["services.catalog.traffic.split.v3"]
    assert problems[0].endswith("[MR101]")


def test_traffic_alone_checks_exposure_against_the_gateways_it_is_given():
    services = plain_services(frontend={"namespace": "shop", "expose": {"gateway": "public",
                                                                       "hosts": ["shop.example.com"]}})
    problems = refused(lambda: Traffic("t", TrafficArgs(services=services, gateways={"ingress": {}})))
    assert [p.split(":")[0] for p in problems] == ["services.frontend.expose.gateway"]
    assert problems[0].endswith("[MR170]")


def test_access_alone_runs_the_caller_checks():
    services = plain_services(payment={"namespace": "shop", "access": {"allowFrom": [
        {"namespace": "shop", "serviceAccount": "order", "methods": ["get"]}]}})
    problems = refused(lambda: Access("a", AccessArgs(services=services)))
    assert [p.split(":")[0] for p in problems] == ["services.payment.access.allowFrom.0.methods.0"]
    assert problems[0].endswith("[MR142]")


def test_access_alone_accepts_callers_among_its_services_without_namespaces():
    recorder = run_program(lambda: Access("a", AccessArgs(services=plain_services())))
    assert recorder.named("a-authorizationpolicy-shop-payment-allow")


def test_mutual_tls_alone_runs_the_mtls_checks():
    problems = refused(lambda: MutualTls("m", MutualTlsArgs(
        mtls={"workloads": {"billing": {"mode": "PERMISSIVE"}}}, services=plain_services())))
    assert [p.split(":")[0] for p in problems] == ["mtls.workloads.billing"]
    assert problems[0].endswith("[MR190]")


def test_injection_alone_runs_the_namespace_checks():
    problems = refused(lambda: Injection("i", InjectionArgs(
        namespaces={"shop": {"mode": "ambient", "labels": {"istio.io/rev": "stable"}}}, default_revision="stable")))
    assert problems and all(p.startswith("namespaces.shop") and p.endswith("[MR150]") for p in problems)


def test_control_plane_alone_logs_its_warnings(caplog):
    spec = {"charts": {"url": "https://charts.example.com/istio"},
            "highAvailability": {"replicas": 1, "podDisruptionBudget": True}}
    recorder = run_program(lambda: ControlPlane("cp", ControlPlaneArgs(spec=spec)))
    assert recorder.named("cp")
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(w.startswith("spec.highAvailability.podDisruptionBudget:") and w.endswith("[MR200]")
               for w in warnings), warnings


def test_snake_case_keys_are_not_synonyms_in_plain_data():
    services = plain_services(order={"namespace": "shop", "service_account": "orders"})
    problems = refused(lambda: Traffic("t", TrafficArgs(services=services)))
    assert problems == ["services.order.service_account: unknown key (check its spelling against the config "
                        "reference), got 'orders'"]


def test_mesh_takes_plain_data_too():
    recorder = run_program(lambda: Mesh("mesh", MeshArgs(spec=shop_config())))
    assert recorder.named("mesh-traffic-virtualservice-shop-catalog")
    problems = refused(lambda: Mesh("mesh", MeshArgs(spec=shop_config(environment=["x"]))))
    assert [p.split(":")[0] for p in problems] == ["mesh.environment"]


def test_args_are_keyword_only():
    with pytest.raises(TypeError):
        TrafficArgs(plain_services())  # a new field can never silently shift positional values


def test_traffic_hosts_include_services_with_only_a_virtual_service():
    holder = {}
    services = {"order": {"namespace": "shop", "traffic": {"timeout": "5s"}}}
    run_program(lambda: holder.setdefault("t", Traffic("t", TrafficArgs(services=services))))
    assert wait(holder["t"].hosts) == {"order": "order.shop.svc.cluster.local"}


# --- outputs ---------------------------------------------------------------------------------------------------

def declared_outputs(component: type) -> dict[str, tuple[str, bool]]:
    """The outputs a component class declares (``name: pulumi.Output[...]`` in its body), by the camelCase key it
    registers them under: ``(attribute, has a docstring)``."""
    body = ast.parse(textwrap.dedent(inspect.getsource(component))).body[0].body
    outputs = {}
    for node, after in zip(body, [*body[1:], None], strict=True):
        if isinstance(node, ast.AnnAssign) and ast.unparse(node.annotation).startswith("pulumi.Output["):
            name = ast.unparse(node.target)
            documented = isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant) \
                and isinstance(after.value.value, str) and bool(after.value.value.strip())
            outputs[name.split("_")[0] + "".join(part.title() for part in name.split("_")[1:])] = (name, documented)
    return outputs


COMPONENTS = (Mesh, ControlPlane, Injection, MutualTls, Traffic, Egress, Access, Observability)


@pytest.mark.parametrize("component", COMPONENTS, ids=lambda c: c.__name__)
def test_every_output_is_declared_typed_documented_and_registered(component):
    """Each declared output has a docstring, is an Output on the instance and is exactly what the component
    registers (register_outputs), with the same value; nothing is registered that the class does not declare."""
    declared = declared_outputs(component)
    assert declared, f"{component.__name__} declares no outputs"
    assert [attribute for attribute, documented in declared.values() if not documented] == []
    holder: dict[str, Mesh] = {}
    recorder = run_program(lambda: holder.setdefault("mesh", Mesh("mesh", MeshArgs(spec=spec_of()))))
    mesh = holder["mesh"]
    instance = {Mesh: mesh, ControlPlane: mesh.control_plane, Injection: mesh.injection,
                MutualTls: mesh.mutual_tls, Traffic: mesh.traffic, Egress: mesh.egress, Access: mesh.access,
                Observability: mesh.observability}[component]
    registered = recorder.outputs_of(instance._name if component is not Mesh else "mesh")
    assert set(registered) == set(declared)
    for key, (attribute, _) in declared.items():
        value = getattr(instance, attribute)
        assert isinstance(value, pulumi.Output), f"{component.__name__}.{attribute}"
        assert wait(value) == registered[key], key


def test_access_outputs_its_policy_names():
    data = shop_config(namespaces={"shop": {"defaultDeny": True}})
    holder = {}
    run_program(lambda: holder.setdefault("a", Access("acl", AccessArgs(services=data["services"],
                                                                         namespaces=data["namespaces"]))))
    assert wait(holder["a"].policies) == ["shop/order-allow", "shop/payment-allow", "shop/default-deny"]


def test_injection_outputs_the_namespaces_and_their_injection_labels():
    namespaces = {"shop": {}, "mesh-ambient": {"mode": "ambient", "waypoint": True}, "legacy": {"mode": "none"},
                  "canary": {"revision": "canary"}}
    holder = {}
    run_program(lambda: holder.setdefault("i", Injection("inj", InjectionArgs(namespaces=namespaces,
                                                                              default_revision="stable"))))
    assert wait(holder["i"].namespaces) == ["canary", "legacy", "mesh-ambient", "shop"]
    assert wait(holder["i"].injection_labels) == {
        "canary": {"istio.io/rev": "canary"},
        "legacy": {"istio-injection": "disabled"},
        "mesh-ambient": {"istio.io/dataplane-mode": "ambient", "istio.io/use-waypoint": "waypoint"},
        "shop": {"istio.io/rev": "stable"},
    }


def test_mesh_nested_in_a_programs_own_config_reports_at_that_path(caplog):
    """``config_root``: a program that keeps the mesh under its own key (``platform.mesh``) gets schema errors, check
    errors and warnings there, not at a ``mesh`` key it does not have."""
    bad_schema = shop_config()
    bad_schema["services"]["order"]["traffic"] = {"timeout": "5 s"}
    problems = refused(lambda: Mesh("m", MeshArgs(spec=bad_schema, config_root="platform.mesh")))
    assert problems[0].startswith("platform.mesh.services.order.traffic.timeout: must be a duration")
    bad_check = shop_config()
    bad_check["services"]["catalog"]["traffic"]["split"] = {"v1": 50, "v9": 50}
    problems = refused(lambda: Mesh("m", MeshArgs(spec=bad_check, config_root="platform.mesh")))
    assert any(p.startswith("platform.mesh.services.catalog.traffic.split.v9:") for p in problems), problems
    warned = shop_config()
    warned["namespaces"]["shop"]["defaultDeny"] = True
    run_program(lambda: Mesh("m", MeshArgs(spec=warned, config_root="platform.mesh")))
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings and all(w.startswith("platform.mesh.") for w in warnings if "[MR" in w), warnings
