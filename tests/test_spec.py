"""Typed configuration: defaults, derived values, and errors that name path, expectation and given value."""

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import shop_config
from mesh_rollout.spec import (
    ConfigError,
    DataplaneMode,
    MtlsMode,
    duration_seconds,
    parse_cluster,
    parse_mesh,
    revision_from_version,
)


def problems(data) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_mesh(data)
    return [str(problem) for problem in caught.value.problems]


def test_defaults_fill_a_minimal_mesh():
    spec = parse_mesh({"controlPlane": {"install": False}})
    assert spec.trust_domain == "cluster.local"
    assert spec.mtls.mode is MtlsMode.STRICT
    assert spec.control_plane.version == "1.30.4"
    assert spec.observability is not None and spec.observability.tracing.sampling_percent == 1.0


def test_revision_is_derived_from_version_without_dots():
    spec = parse_mesh({"controlPlane": {"install": False, "version": "1.31.0"}})
    assert spec.control_plane.revision_name == "1-31-0"
    assert revision_from_version("1.30.4") == "1-30-4"
    tagged = parse_mesh({"controlPlane": {"install": False, "revisionTags": ["stable", "canary"]}})
    assert tagged.control_plane.injection_revision == "stable"


def test_every_problem_is_listed_with_its_path_and_given_value():
    data = shop_config()
    data["services"]["payment"]["traffic"] = {"retries": {"attempts": 3, "perTryTimout": "2s"}, "timeout": "fast"}
    data["namespaces"]["shop"]["mode"] = "sidecars"
    found = problems(data)
    assert len(found) == 3
    assert any(p.startswith("mesh.services.payment.traffic.retries.perTryTimout: unknown key") for p in found)
    assert any(p.startswith("mesh.services.payment.traffic.timeout: must be a duration") and "got 'fast'" in p
               for p in found)
    assert any(p.startswith("mesh.namespaces.shop.mode:") and "got 'sidecars'" in p for p in found)


def test_installing_needs_a_chart_source():
    found = problems({"controlPlane": {"install": True}})
    assert len(found) == 1 and found[0].startswith("mesh.controlPlane: charts.url is required")


def test_durations_below_a_millisecond_are_rejected():
    data = shop_config()
    data["services"]["order"]["traffic"] = {"timeout": "0.5ms"}
    assert problems(data) == ["mesh.services.order.traffic.timeout: must be at least 1ms, got '0.5ms'"]
    assert duration_seconds("250ms") == pytest.approx(0.25)
    assert duration_seconds("2m") == 120


def test_caller_shorthand_and_mapping_are_equivalent():
    short = parse_mesh(shop_config()).services["payment"].access.allow_from[0]
    data = shop_config()
    data["services"]["payment"]["access"]["allowFrom"] = [{"namespace": "shop", "serviceAccount": "order"}]
    long = parse_mesh(data).services["payment"].access.allow_from[0]
    assert (short.namespace, short.service_account) == (long.namespace, long.service_account) == ("shop", "order")


def test_malformed_caller_names_its_path():
    data = shop_config()
    data["services"]["payment"]["access"]["allowFrom"] = ["order"]
    found = problems(data)
    assert len(found) == 1 and found[0].startswith("mesh.services.payment.access.allowFrom.0:")
    assert "'<namespace>/<serviceAccount>'" in found[0]


def test_header_match_needs_exactly_one_operator():
    data = shop_config()
    data["services"]["catalog"]["traffic"]["matches"] = [
        {"name": "beta", "headers": {"x-user-segment": {"exact": "beta", "prefix": "b"}}, "version": "v2"}
    ]
    found = problems(data)
    assert found == ["mesh.services.catalog.traffic.matches.0.headers.x-user-segment: set exactly one of exact, "
                     "prefix, regex (given: exact, prefix)"]


def test_mode_enums_parse():
    data = shop_config()
    data["namespaces"]["edge"] = {"mode": "ambient", "waypoint": True}
    spec = parse_mesh(data)
    assert spec.namespaces["edge"].mode is DataplaneMode.AMBIENT


def test_non_mapping_mesh_is_reported_at_the_root():
    assert problems(["not", "a", "mapping"]) == ["mesh: must be a mapping of mesh settings, got 'list'"]


def test_cluster_render_dir_excludes_kubeconfig():
    assert parse_cluster({"renderDir": "out"}).render_dir == "out"
    with pytest.raises(ConfigError) as caught:
        parse_cluster({"renderDir": "out", "context": "prod"})
    assert str(caught.value.problems[0]).startswith("cluster: renderDir cannot be combined")


def test_retry_settings_without_attempts_are_rejected():
    data = shop_config()
    data["services"]["order"]["traffic"] = {"retries": {"attempts": 0, "perTryTimeout": "1s"}}
    assert problems(data) == ["mesh.services.order.traffic.retries: perTryTimeout and retryOn need attempts > 0 "
                              "(attempts: 0 turns retries off)"]


def test_empty_fault_is_rejected():
    data = shop_config()
    data["services"]["order"]["traffic"] = {"fault": {}}
    assert problems(data) == ["mesh.services.order.traffic.fault: fault needs delay, abort or both (Istio rejects an "
                              "empty fault)"]


def test_control_plane_must_be_declared():
    assert problems({}) == ["mesh.controlPlane: required key is missing"]


# ---- What Kubernetes and Istio accept (tests/integration/test_cluster.py checks each against the API server and
# istioctl; these pin the wording and run without a cluster).

@pytest.mark.parametrize("duration, nanos", [("1ms", 10**6), ("2000us", 2 * 10**6), ("1m30s", 90 * 10**9),
                                             ("1.5s", 1_500_000_000), ("1h", 3600 * 10**9), (".5s", 5 * 10**8)])
def test_durations_follow_gos_grammar(duration, nanos):
    from mesh_rollout.spec.base import duration_nanos

    assert duration_nanos(duration) == nanos
    data = shop_config()
    data["services"]["order"]["traffic"] = {"timeout": duration}
    parse_mesh(data)


@pytest.mark.parametrize("duration, expected", [
    ("\uff15s", "must be a duration"), ("\u0661s", "must be a duration"), ("1s\n", "must be a duration"),
    ("10", "must be a duration"), ("-1s", "must be a duration"), ("1e3ms", "must be a duration"),
    ("99999999999h", "must be at most 2562047h"), ("1500us", "whole number of milliseconds"),
    ("500us", "at least 1ms"),
])
def test_durations_istio_refuses_are_refused(duration, expected):
    data = shop_config()
    data["services"]["order"]["traffic"] = {"timeout": duration}
    (found,) = problems(data)
    assert found.startswith("mesh.services.order.traffic.timeout: ") and expected in found


@pytest.mark.parametrize("edit, path, expected", [
    (lambda d: d["services"]["order"].setdefault("traffic", {}).update(retries={"attempts": 2**31}),
     "mesh.services.order.traffic.retries.attempts", "less than or equal to 2147483647"),
    (lambda d: d["services"]["order"].setdefault("traffic", {}).update(
        retries={"attempts": 2, "retryOn": "5xx, reset"}),
     "mesh.services.order.traffic.retries.retryOn", "unknown retry condition(s) ' reset'"),
    (lambda d: d["services"]["payment"].setdefault("traffic", {}).update(
        circuitBreaker={"consecutive5xxErrors": 2**32}),
     "mesh.services.payment.traffic.circuitBreaker.consecutive5xxErrors", "less than or equal to 4294967295"),
    (lambda d: d["mtls"].update(workloads={"payment": {"ports": {0: "DISABLE"}}}),
     "mesh.mtls.workloads.payment.ports", "port numbers must be 1-65535, got 0"),
    (lambda d: d["services"]["catalog"]["versions"].update(v2={"labels": {"version": "v 2!"}}),
     "mesh.services.catalog.versions.v2.labels", "label value 'v 2!'"),
    (lambda d: d["services"]["catalog"]["versions"].update(v2={"labels": {"example.com/": "x"}}),
     "mesh.services.catalog.versions.v2.labels", "label key 'example.com/'"),
    (lambda d: d["services"]["catalog"]["traffic"].update(
        matches=[{"name": "beta", "headers": {"x-seg": {"regex": "(?<=a)b"}}, "version": "v2"}]),
     "mesh.services.catalog.traffic.matches.0.headers.x-seg.regex", "not an RE2 regular expression"),
    (lambda d: d["services"]["catalog"]["traffic"].update(
        matches=[{"name": "beta", "headers": {"x-seg": {"prefix": ""}}, "version": "v2"}]),
     "mesh.services.catalog.traffic.matches.0.headers.x-seg.prefix", "at least 1 character"),
    (lambda d: d["services"]["payment"].setdefault("traffic", {}).update(tlsMode="MUTUAL"),
     "mesh.services.payment.traffic.tlsMode", "MUTUAL needs a client certificate"),
    (lambda d: d.update(clusterDomain="bad_domain"), "mesh.clusterDomain", "is not a domain name"),
    (lambda d: d["namespaces"]["shop"].update(labels={"team": "a b"}), "mesh.namespaces.shop.labels",
     "label value 'a b'"),
])
def test_values_kubernetes_or_istio_refuse_are_refused_at_their_path(edit, path, expected):
    data = shop_config()
    edit(data)
    (found,) = problems(data)
    assert found.startswith(path + ": ") and expected in found, found


def test_values_kubernetes_and_istio_accept_are_accepted():
    data = shop_config(clusterDomain="corp.example")
    data["services"]["order"]["traffic"] = {"retries": {"attempts": 2, "retryOn": "5xx,503,unavailable"}}
    data["services"]["catalog"]["versions"]["v2"] = {"labels": {"example.com/track": "v2_beta.1", "empty": ""}}
    data["services"]["catalog"]["traffic"]["matches"] = [
        {"name": "beta", "headers": {"x-seg": {"regex": "^(beta|gamma)-[0-9]+$"}}, "version": "v2"}]
    data["mtls"]["workloads"] = {"payment": {"ports": {1: "DISABLE", 65535: "DISABLE"}}}
    parse_mesh(data)


# ---- Property-based: whatever a user writes as a duration, the parser answers with a value or a ValueError.

_UNITS = ["ns", "us", "\u00b5s", "ms", "s", "m", "h"]


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text(max_size=12))
def test_any_text_is_a_duration_or_a_value_error(text):
    from mesh_rollout.spec.base import duration_nanos

    with contextlib.suppress(ValueError):
        assert duration_nanos(text) >= 0


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(_UNITS)), min_size=1, max_size=4))
def test_go_style_durations_sum_their_parts(parts):
    from mesh_rollout.spec.base import _UNIT_NANOS, duration_nanos

    text = "".join(f"{value}{unit}" for value, unit in parts)
    total = sum(value * _UNIT_NANOS[unit] for value, unit in parts)
    if total <= 2**63 - 1:
        assert duration_nanos(text) == total
    else:  # beyond Go's int64 nanoseconds: refused, as the API server's CEL refuses it
        with pytest.raises(ValueError, match="overflows"):
            duration_nanos(text)


# ---- The mesh in a file of its own (mesh-rollout:meshFile)

def test_a_mesh_file_is_read_relative_to_the_project_and_errors_name_the_file(tmp_path):
    import yaml

    from mesh_rollout.spec import load_stack_file

    (tmp_path / "Pulumi.yaml").write_text("name: p\nruntime: python\n")
    (tmp_path / "stacks").mkdir()
    (tmp_path / "mesh").mkdir()
    (tmp_path / "mesh" / "big.yaml").write_text(yaml.safe_dump(shop_config()))
    stack = tmp_path / "stacks" / "Pulumi.big.yaml"
    stack.write_text(yaml.safe_dump({"config": {"mesh-rollout:meshFile": "mesh/big.yaml"}}))
    assert set(load_stack_file(stack).services) == {"frontend", "order", "payment", "catalog"}

    bad = shop_config()
    bad["services"]["order"]["traffic"] = {"timeout": "soon"}
    (tmp_path / "mesh" / "big.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(ConfigError) as caught:
        load_stack_file(stack)
    assert str(caught.value.problems[0]).startswith("mesh/big.yaml:mesh.services.order.traffic.timeout: ")


@pytest.mark.parametrize("config, expected", [
    ({"mesh-rollout:meshFile": "missing.yaml"}, "meshFile: cannot read the mesh file"),
    ({"mesh-rollout:meshFile": "mesh.yaml", "mesh-rollout:mesh": {"controlPlane": {"install": False}}},
     "meshFile: set either mesh-rollout:mesh or mesh-rollout:meshFile, not both"),
    ({"mesh-rollout:meshFile": 3}, "meshFile: must be a path to a YAML file"),
])
def test_mesh_file_mistakes_are_config_errors(tmp_path, config, expected):
    import yaml

    from mesh_rollout.spec import load_stack_file

    (tmp_path / "Pulumi.yaml").write_text("name: p\nruntime: python\n")
    (tmp_path / "mesh.yaml").write_text("controlPlane: {install: false}\n")
    stack = tmp_path / "Pulumi.s.yaml"
    stack.write_text(yaml.safe_dump({"config": config}))
    with pytest.raises(ConfigError) as caught:
        load_stack_file(stack)
    assert str(caught.value.problems[0]).startswith(expected)
