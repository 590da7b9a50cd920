"""Property-based tests of the whole config pipeline (strategies in tests/strategies.py).

1. Every generated valid mesh parses, passes the checks without an error, and plans Istio objects that validate
   strictly against Istio's CRD schemas; plan keys are unique within each concern (they name Pulumi resources).
   The valid meshes reach the edges of what the spec accepts (1024-byte regexes, header names with ``_`` and
   digits, numeric host labels, ``selector: {}``, int32 replica counts…: see tests/strategies.py).
2. A valid mesh with one targeted corruption is refused with a ConfigError reported at the corrupted path (and
   nowhere else), for every kind of corruption in strategies.CORRUPTIONS: bad durations, out-of-range integers
   (int32 split weights too), names, labels, hosts and domains that are not (trailing newlines, all-numeric
   top-level labels), regexes and header names Istio refuses, empty methods and paths, ``{**}`` twice, reserved
   gateway names, autoscaleMax below replicas, unknown keys and snake_case synonyms of camelCase ones, wrong types,
   refused shapes. An empty selector with an mTLS workload exception parses (each part is valid) and check MR197
   reports it as an error at the exception. Arbitrary junk, alone or grafted into a valid mesh, is refused with a
   ConfigError or accepted, and what is accepted can be checked and planned.

The counts of generated configs and validated objects are printed in the terminal summary (tests/conftest.py).
tests/integration/test_properties_istioctl.py runs a sample of the valid meshes through `istioctl validate`.
"""

from __future__ import annotations

import functools
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import PROPERTY_COUNTS, SCHEMA_FILE
from mesh_rollout.checks import Severity, raise_for_errors, run_checks
from mesh_rollout.plan import plan
from mesh_rollout.spec import ConfigError, parse_mesh
from strategies import (
    CONFIG_KEYS,
    CORRUPTIONS,
    VALID_RANGE_EDGES,
    Corruption,
    corrupted,
    empty_selector_exceptions,
    grafted_junk,
    junk,
    meshes,
    valid_range_edges,
)

#: Corruption kinds refused so far (the summary says how many of all kinds ran).
_KINDS: Counter = Counter()
#: Edges of the valid range the valid meshes reached so far.
_EDGES: Counter = Counter()


def count(name: str, amount: int = 1) -> None:
    PROPERTY_COUNTS[name] = PROPERTY_COUNTS.get(name, 0) + amount


@functools.cache
def _load_schemas(path):
    from schemas import IstioSchemas

    return IstioSchemas.load(path)


def istio_schemas():
    """The strict CRD validators (as the ``istio_schemas`` fixture, which is not passed in: Hypothesis would print
    the whole schema with every failing example)."""
    if not SCHEMA_FILE.exists():
        pytest.skip(f"Istio CRD schemas not found at {SCHEMA_FILE} (../shared exists in CI and dev machines only)")
    return _load_schemas(SCHEMA_FILE)


def istio_objects(mesh_plan) -> list[dict]:
    return [item.manifest for item in mesh_plan.objects
            if item.manifest["apiVersion"].split("/")[0].endswith("istio.io")]


def duplicates(keys) -> list[str]:
    return sorted(key for key, seen in Counter(keys).items() if seen > 1)


# ---- 1. valid meshes

@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=meshes())
def test_a_valid_mesh_parses_passes_the_checks_and_plans_schema_valid_istio_objects(config):
    schemas = istio_schemas()
    spec = parse_mesh(config)
    raise_for_errors(run_checks(spec))
    mesh_plan = plan(spec)

    for name, concern in mesh_plan.concerns():
        keys = [*(o.key for o in concern.objects), *(r.key for r in concern.releases),
                *(s.key for s in concern.secrets), *(m.key for m in concern.manifests)]
        assert duplicates(keys) == [], f"{name}: two entries share a key (a Pulumi resource name)"

    objects = istio_objects(mesh_plan)
    assert all(schemas.covers(m) for m in objects), [m["kind"] for m in objects if not schemas.covers(m)]
    assert [problem for manifest in objects for problem in schemas.errors(manifest)] == []
    # The mesh-wide PeerAuthentication is always planned: every valid mesh has at least one Istio object to check.
    assert any(m["kind"] == "PeerAuthentication" for m in objects)
    count("valid configs parsed, checked (no error) and planned")
    count("Istio objects validated against the CRD schemas", len(objects))
    _EDGES.update(valid_range_edges(config))
    PROPERTY_COUNTS["edges of the valid range reached"] = f"{len(_EDGES)} of {len(VALID_RANGE_EDGES)}"


# ---- 2. invalid meshes: one targeted corruption

def _at(problem_path: str, path: str) -> bool:
    return problem_path == path or problem_path.startswith(path + ".")


@pytest.mark.parametrize("corruption", CORRUPTIONS, ids=lambda c: c.name)
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_a_corrupted_mesh_is_refused_at_the_corrupted_path(corruption: Corruption, data):
    config, path = data.draw(corrupted(corruption), label="corrupted mesh and expected path")
    with pytest.raises(ConfigError) as caught:
        parse_mesh(config)
    problems = caught.value.problems
    paths = [problem.path for problem in problems]
    assert any(_at(p, path) for p in paths), f"{corruption.name}: expected a problem at {path}, got {paths}"
    # The rest of the mesh is valid: nothing else may be reported.
    assert all(_at(p, path) for p in paths), f"{corruption.name}: problems outside {path}: {paths}"
    assert str(caught.value)  # the message renders
    count("invalid configs refused at the corrupted path")
    _KINDS[corruption.name] += 1
    PROPERTY_COUNTS["corruption kinds exercised"] = f"{len(_KINDS)} of {len(CORRUPTIONS)}"


# ---- 2. invalid meshes the checks refuse: selector {} with an mTLS workload exception (MR197)

@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=empty_selector_exceptions())
def test_an_mtls_exception_for_a_service_with_an_empty_selector_is_an_error_of_mr197(data):
    config, path = data
    findings = run_checks(parse_mesh(config))
    mr197 = [(finding.severity, finding.path) for finding in findings if finding.code == "MR197"]
    assert mr197 == [(Severity.ERROR, path)], f"expected one MR197 error at {path}, got {mr197}"
    with pytest.raises(ConfigError):
        raise_for_errors(findings)
    count("empty selectors with an mTLS exception reported by MR197")


# ---- 2. junk

class HugeInt:
    """An integer of more digits than Python turns into text by default (4300, ``sys.get_int_max_str_digits``),
    as YAML reads one from a stack file. Generated as this stand-in, so that Hypothesis can print and shrink the
    example, and made a real int just before parsing."""

    def __init__(self, digits: int, sign: int):
        self.digits, self.sign = digits, sign

    def __repr__(self) -> str:
        return f"{'-' if self.sign < 0 else ''}10**{self.digits - 1}"

    def value(self) -> int:
        return self.sign * 10 ** (self.digits - 1)


HUGE_INTEGERS = st.builds(HugeInt, st.integers(4301, 4400), st.sampled_from([1, -1]))


def materialize(data):
    if isinstance(data, HugeInt):
        return data.value()
    if isinstance(data, dict):
        return {materialize(key): materialize(value) for key, value in data.items()}
    if isinstance(data, list):
        return [materialize(item) for item in data]
    return data


def _refused_or_usable(data) -> None:
    data = materialize(data)
    try:
        spec = parse_mesh(data)
    except ConfigError as error:
        assert error.problems and all(p.path.startswith("mesh") for p in error.problems)
        assert str(error)  # the message renders
        count("junk configs refused with a ConfigError")
        return
    # Accepted junk is a valid mesh: the checks and the plan take it like any other.
    run_checks(spec)
    plan(spec)
    count("junk configs accepted (then checked and planned)")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.one_of(
    junk(),
    st.dictionaries(st.one_of(st.sampled_from(CONFIG_KEYS), st.text(max_size=6)), junk(), max_size=5),
    st.fixed_dictionaries({"controlPlane": st.one_of(st.just({"install": False}), junk())},
                          optional={key: junk() for key in ("namespaces", "services", "mtls", "observability")}),
    st.text(),
))
def test_junk_is_refused_with_a_config_error_or_accepted(data):
    _refused_or_usable(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.one_of(grafted_junk(), grafted_junk(HUGE_INTEGERS, replace_numbers=True)))
def test_a_valid_mesh_with_junk_anywhere_is_refused_with_a_config_error_or_accepted(data):
    _refused_or_usable(data)
