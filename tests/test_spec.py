"""Typed configuration: defaults, derived values, and errors that name path, expectation and given value."""

import pytest

from conftest import shop_config
from components.spec import (
    ConfigError, DataplaneMode, MtlsMode, duration_seconds, parse_cluster, parse_mesh, revision_from_version,
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
