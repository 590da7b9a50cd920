"""The component provider (mesh_rollout.provider) and the schema generated from the models, under Pulumi's mocks.

The engine-side oracle (the real engine loading the plugin, binding the schema, running a Pulumi YAML program) is
tests/integration/test_yaml_program.py.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass

import pulumi
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pulumi.errors import InputPropertiesError

import mesh_rollout
from conftest import shop_config
from harness import run_program
from mesh_rollout import provider as mesh_provider
from mesh_rollout.package_schema import (
    ComponentEntry,
    TypeCollector,
    camel,
    component_resource,
    field_comments,
    markdown,
    python_type,
    type_hints,
)
from mesh_rollout.spec import MeshSpec

SCHEMA = mesh_provider.schema()


def public_components() -> list[type[pulumi.ComponentResource]]:
    return [getattr(mesh_rollout, name) for name in mesh_rollout.__all__
            if isinstance(getattr(mesh_rollout, name), type)
            and issubclass(getattr(mesh_rollout, name), pulumi.ComponentResource)
            and getattr(mesh_rollout, name) is not pulumi.ComponentResource]


def test_every_public_component_is_in_the_schema_with_its_own_type_token():
    components = public_components()
    assert len(components) >= 7
    tokens = {f"mesh-rollout:index:{component.__name__}" for component in components}
    assert tokens <= set(SCHEMA["resources"]), "a public component the provider cannot construct"
    for entry in mesh_provider.COMPONENTS:
        assert SCHEMA["resources"][entry.token]["isComponent"] is True


def test_inputs_are_the_args_fields_and_outputs_the_output_attributes():
    for entry in mesh_provider.COMPONENTS:
        resource = SCHEMA["resources"][entry.token]
        fields = [item for item in dataclasses.fields(entry.args) if item.name not in entry.hidden]
        assert set(resource["inputProperties"]) == {camel(item.name) for item in fields}, entry.token
        required = {camel(item.name) for item in fields
                    if item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING}
        assert set(resource["requiredInputs"]) == required
        outputs = {camel(name) for name, hint in type_hints(entry.component).items()
                   if typing.get_origin(hint) is pulumi.Output}
        assert outputs and set(resource["properties"]) == outputs, entry.token
        for prop in [*resource["inputProperties"].values(), *resource["properties"].values()]:
            assert prop["description"].strip(), "every input and output is documented"
            assert "``" not in prop["description"] and ":class:" not in prop["description"]


def _model_types(model: type) -> dict[str, type]:
    """Every pydantic model reachable from ``model``, by name."""
    found: dict[str, type] = {}

    def walk(hint: object) -> None:
        for arg in typing.get_args(hint):
            walk(arg)
        if isinstance(hint, type) and issubclass(hint, pydantic_base()) and hint.__name__ not in found:
            found[hint.__name__] = hint
            for info in hint.model_fields.values():
                walk(info.annotation)

    walk(model)
    return found


def pydantic_base() -> type:
    import pydantic

    return pydantic.BaseModel


def test_every_model_becomes_an_object_type_with_its_camel_case_keys():
    models = _model_types(MeshSpec)
    assert len(models) > 20
    for name, model in models.items():
        declared = SCHEMA["types"][f"mesh-rollout:index:{name}"]
        keys = {info.alias or field for field, info in model.model_fields.items()}
        assert set(declared["properties"]) == keys, name
        required = {info.alias or field for field, info in model.model_fields.items() if info.is_required()}
        assert set(declared.get("required", [])) == required, name


def test_every_type_reference_resolves():
    def refs(node: object) -> typing.Iterator[str]:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                yield node["$ref"]
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    found = list(refs(SCHEMA))
    assert found
    for ref in found:
        if ref.startswith("pulumi.json#/"):
            assert ref in ("pulumi.json#/Any",)
        else:
            assert ref.removeprefix("#/types/") in SCHEMA["types"], ref


def test_enums_keep_their_values_and_unions_their_variants():
    mode = SCHEMA["types"]["mesh-rollout:index:MtlsMode"]
    assert {value["value"] for value in mode["enum"]} == {"UNSET", "DISABLE", "PERMISSIVE", "STRICT"}
    control_plane = SCHEMA["types"]["mesh-rollout:index:ControlPlaneSpec"]["properties"]
    assert {variant.get("type") for variant in control_plane["revisionTags"]["oneOf"]} == {"array", "object"}
    assert {variant["type"] for variant in control_plane["defaultRevision"]["oneOf"]} == {"boolean", "string"}


def test_a_field_without_a_doc_comment_or_a_schema_type_is_refused_not_dropped():
    @dataclass(kw_only=True)
    class UndocumentedArgs:
        spec: MeshSpec

    class Thing(pulumi.ComponentResource):
        out: pulumi.Output[str]
        """An output."""

    with pytest.raises(TypeError, match=r"UndocumentedArgs\.spec: no #: doc comment"):
        component_resource(ComponentEntry(Thing, UndocumentedArgs), TypeCollector())
    with pytest.raises(TypeError, match="no Pulumi schema type"):
        python_type(complex, TypeCollector(), "X.y")
    with pytest.raises(TypeError, match="mapping keys must be strings"):
        python_type(dict[int, str], TypeCollector(), "X.y")


def test_doc_comments_and_markdown():
    assert field_comments(mesh_rollout.MeshArgs)["nodeless"].startswith("The cluster runs no pods")
    assert markdown("a :class:`MeshSpec` and ``x``") == "a `MeshSpec` and `x`"


# --- construct, as the engine asks for it --------------------------------------------------------------------


def construct(token: str, inputs: dict, name: str = "m") -> dict:
    """Construct ``token`` under the mocks; returns the ConstructResult's state (resolved)."""
    holder: dict = {}

    def program() -> None:
        holder["result"] = mesh_provider.MeshRolloutProvider().construct(name, token, inputs,
                                                                       pulumi.ResourceOptions())

    holder["recorder"] = run_program(program)
    return holder


def test_construct_builds_the_same_mesh_a_python_program_does():
    data = shop_config()
    data["observability"] = None
    holder = construct("mesh-rollout:index:Mesh", {"spec": data, "nodeless": True})
    recorder = holder["recorder"]
    mesh = recorder.named("m")
    assert mesh.type == "mesh-rollout:index:Mesh"
    assert set(holder["result"].state) == set(SCHEMA["resources"]["mesh-rollout:index:Mesh"]["properties"])

    expected: dict = {}

    def python_program() -> None:
        expected["mesh"] = mesh_rollout.Mesh("m", mesh_rollout.MeshArgs(spec=data, nodeless=True))

    direct = run_program(python_program)
    assert sorted(r.urn for r in recorder.registrations) == sorted(r.urn for r in direct.registrations)
    assert sorted(recorder.kube_objects(), key=str) == sorted(direct.kube_objects(), key=str)


def test_key_order_of_the_inputs_does_not_change_what_is_registered():
    """The wire format shuffles mapping keys; the same mesh must plan the same objects whatever order arrives."""
    forward, backward = shop_config(), shop_config()
    backward["services"] = dict(reversed(backward["services"].items()))
    backward["services"]["catalog"]["traffic"]["split"] = {"v2": 10, "v1": 90}
    first = construct("mesh-rollout:index:Mesh", {"spec": forward})["recorder"]
    second = construct("mesh-rollout:index:Mesh", {"spec": backward})["recorder"]
    # Independent resources register concurrently: compare by URN.
    assert {r.urn: r.inputs for r in first.registrations} == {r.urn: r.inputs for r in second.registrations}
    route = first.named("m-traffic-virtualservice-shop-catalog").inputs["spec"]["http"][-1]["route"]
    assert [r["destination"]["subset"] for r in route] == ["v1", "v2"]


def test_construct_reports_config_problems_at_property_paths():
    data = shop_config()
    data["services"]["catalog"]["traffic"]["split"] = {"v1": 50, "v9": 50}
    with pytest.raises(InputPropertiesError) as caught:
        construct("mesh-rollout:index:Mesh", {"spec": data})
    paths = {error["property_path"] for error in caught.value.errors or []}
    assert "spec.services.catalog.traffic.split.v9" in paths, caught.value.errors
    assert caught.value.message.startswith("invalid Mesh inputs")


def test_construct_logs_warnings_at_property_paths(caplog):
    data = shop_config()
    data["namespaces"]["shop"]["defaultDeny"] = True  # frontend then allows no caller: MR193 warns
    construct("mesh-rollout:index:Mesh", {"spec": data})
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and "[MR" in r.getMessage()]
    assert warnings and all(w.startswith("spec.services.") for w in warnings), warnings


def test_construct_reports_a_missing_secret_under_secrets():
    data = shop_config(observability={})  # installs Grafana, which needs its admin password
    with pytest.raises(InputPropertiesError) as caught:
        construct("mesh-rollout:index:Mesh", {"spec": data})
    assert [error["property_path"] for error in caught.value.errors or []] == ["secrets.grafanaAdminPassword"]


def test_construct_of_a_component_alone_uses_its_argument_names():
    services = shop_config()["services"]
    services["order"]["traffic"] = {"timeout": "5 s"}
    with pytest.raises(InputPropertiesError) as caught:
        construct("mesh-rollout:index:Traffic", {"services": services, "clusterDomain": "cluster.local"})
    assert [error["property_path"] for error in caught.value.errors or []] == ["services.order.traffic.timeout"]


def test_unknown_properties_and_outputs_where_plain_data_is_needed_are_refused():
    with pytest.raises(InputPropertiesError) as caught:
        construct("mesh-rollout:index:Traffic", {"services": {}, "servicez": {}})
    assert [error["property_path"] for error in caught.value.errors or []] == ["servicez"]
    takes = ", ".join(sorted(SCHEMA["resources"]["mesh-rollout:index:Traffic"]["inputProperties"]))
    assert f"unknown property; Traffic takes {takes}" == (caught.value.errors or [])[0]["reason"]
    with pytest.raises(InputPropertiesError) as caught:
        construct("mesh-rollout:index:Mesh", {"spec": pulumi.Output.from_input(shop_config())})
    assert [error["property_path"] for error in caught.value.errors or []] == ["spec"]
    assert "must be known when the program runs" in (caught.value.errors or [])[0]["reason"]


def test_secrets_may_be_outputs_and_stay_secret():
    data = shop_config(observability={})
    holder = construct("mesh-rollout:index:Mesh",
                       {"spec": data, "secrets": {"grafanaAdminPassword": pulumi.Output.secret("pw")}})
    secret = holder["recorder"].named("m-observability-secret-istio-system-grafana-admin")
    assert secret.inputs["stringData"]["admin-password"] == "pw"
    assert secret.is_secret("stringData", "admin-password")


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(["services", "gateways", "clusterDomain", "checked", "bogus", "spec"]),
                       st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                                    lambda inner: st.lists(inner, max_size=3)
                                    | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8),
                       max_size=4))
def test_any_inputs_give_args_or_a_property_error(inputs):
    """Whatever a program sends, the provider answers with args or property errors naming the property, never
    with another exception (which the engine would show as a provider crash)."""
    entry = mesh_provider.BY_TOKEN["mesh-rollout:index:Traffic"]
    try:
        args = mesh_provider.args_from_inputs(entry, inputs)
    except InputPropertiesError as error:
        paths = {e["property_path"] for e in error.errors or []}
        expected = {"checked", "bogus", "spec"} & set(inputs) | ({"services"} - set(inputs))
        assert paths == expected
    else:
        assert isinstance(args, mesh_rollout.TrafficArgs)
