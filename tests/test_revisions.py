"""Several control-plane revisions in one stack: the config forms, the plan, and what stays stable across the
upgrade steps (the engine walk-through is tests/integration/test_cluster.py)."""

from __future__ import annotations

import pytest

from mesh_rollout.checks import run_checks
from mesh_rollout.plan import plan
from mesh_rollout.spec import ConfigError, parse_mesh

CHARTS = {"url": "https://charts.example.com/istio"}


def mesh(**control_plane) -> dict:
    return {"controlPlane": {"charts": CHARTS, **control_plane}, "namespaces": {"shop": {}}}


TWO = {"revisions": {"1-29-2": {"version": "1.29.2"}, "1-30-4": {"version": "1.30.4"}},
       "revisionTags": {"stable": "1-29-2", "canary": "1-30-4"}, "defaultRevision": "stable"}


def releases(data: dict) -> dict:
    return {r.key: r for r in plan(parse_mesh(data)).control_plane.releases}


def test_the_single_revision_form_plans_exactly_what_it_did():
    single = releases(mesh(version="1.30.4", revisionTags=["stable"]))
    assert list(single) == ["istio-base", "istiod"]
    assert single["istiod"].resource_key is None  # its objects keep the names they always had
    assert single["istiod"].values["revision"] == "1-30-4" and single["istiod"].values["revisionTags"] == ["stable"]
    assert single["istio-base"].values["defaultRevision"] == "1-30-4"


def test_each_revision_gets_its_istiod_with_its_tags_and_one_base_from_the_newest():
    planned = releases(mesh(**TWO))
    assert list(planned) == ["istio-base", "istiod-1-29-2", "istiod-1-30-4"]
    old, new = planned["istiod-1-29-2"], planned["istiod-1-30-4"]
    assert (old.version, old.values["revision"], old.values["revisionTags"]) == ("1.29.2", "1-29-2", ["stable"])
    assert (new.version, new.values["revision"], new.values["revisionTags"]) == ("1.30.4", "1-30-4", ["canary"])
    assert old.values["global"]["tag"] == "1.29.2" and new.values["global"]["tag"] == "1.30.4"
    # CRDs from the newest release; the cluster's default is the revision the default tag points at.
    assert planned["istio-base"].version == "1.30.4"
    assert planned["istio-base"].values["defaultRevision"] == "1-29-2"
    # Every istiod chart names its objects from one key: a tag's webhook moving between charts keeps its identity.
    assert old.resource_key == new.resource_key == "istiod"


def test_namespaces_and_gateways_follow_the_default_tag_unless_they_name_one():
    data = mesh(**TWO, gateways={"ingress": {}, "canary-gw": {"revision": "canary"}})
    data["namespaces"]["beta"] = {"revision": "canary"}
    result = plan(parse_mesh(data))
    labels = {o.manifest["metadata"]["name"]: o.manifest["metadata"]["labels"]["istio.io/rev"]
              for o in result.injection.objects}
    assert labels == {"shop": "stable", "beta": "canary"}
    gateways = {r.key: r.values["revision"] for r in result.control_plane.releases if r.chart.endswith("gateway")}
    assert gateways == {"ingress": "stable", "canary-gw": "canary"}


def test_per_revision_values_and_chart_sources():
    two = {**TWO, "revisions": {"1-29-2": {"version": "1.29.2", "charts": {"url": "/mirror/1.29.2"},
                                           "istiodValues": {"pilot": {"env": {"X": "1"}}}},
                                "1-30-4": {"version": "1.30.4"}}}
    planned = releases(mesh(**two, istiodValues={"pilot": {"env": {"Y": "2"}}}))
    assert planned["istiod-1-29-2"].chart == "/mirror/1.29.2/istiod"
    assert planned["istiod-1-29-2"].values["pilot"]["env"] == {"X": "1", "Y": "2"}
    assert planned["istiod-1-30-4"].values["pilot"]["env"] == {"Y": "2"}


@pytest.mark.parametrize("control_plane, path, fragment", [
    ({**TWO, "version": "1.30.4"}, "mesh.controlPlane", "set either revisions or version"),
    ({**TWO, "defaultRevision": True}, "mesh.controlPlane", "defaultRevision names a revision or tag"),
    ({"version": "1.30.4", "revisionTags": {"stable": "1-29-2"}}, "mesh.controlPlane",
     "the only revision is 1-30-4"),
    ({"revisions": {"Old_Rev": {"version": "1.29.2"}}}, "mesh.controlPlane.revisions.Old_Rev", "DNS label"),
    ({"revisions": {"a": {"version": "1.29"}}}, "mesh.controlPlane.revisions.a.version", "Istio version"),
    # A gateway is a Helm release: it cannot take a revision's istiod release name.
    ({**TWO, "gateways": {"istiod-1-30-4": {}}}, "mesh.controlPlane.gateways", "control plane's own Helm releases"),
])
def test_mixed_or_malformed_forms_are_refused_at_their_path(control_plane, path, fragment):
    with pytest.raises(ConfigError) as caught:
        parse_mesh(mesh(**control_plane))
    assert [p.path for p in caught.value.problems] == [path]
    assert fragment in caught.value.problems[0].message


def test_the_upgrade_steps_are_each_valid_and_change_only_what_they_say():
    """The README's four edits, as plain data: each step passes every check, and the plan differs from the step
    before only where the step says."""
    step0 = mesh(revisions={"1-29-2": {"version": "1.29.2"}}, revisionTags={"stable": "1-29-2"},
                 defaultRevision="stable")
    step1 = mesh(revisions={"1-29-2": {"version": "1.29.2"}, "1-30-4": {"version": "1.30.4"}},
                 revisionTags={"stable": "1-29-2"}, defaultRevision="stable")
    step2 = mesh(revisions=step1["controlPlane"]["revisions"], revisionTags={"stable": "1-29-2", "canary": "1-30-4"},
                 defaultRevision="stable")
    step2["namespaces"]["shop"] = {"revision": "canary"}
    step3 = mesh(revisions=step1["controlPlane"]["revisions"], revisionTags={"stable": "1-30-4", "canary": "1-30-4"},
                 defaultRevision="stable")
    step4 = mesh(revisions={"1-30-4": {"version": "1.30.4"}}, revisionTags={"stable": "1-30-4", "canary": "1-30-4"},
                 defaultRevision="stable")
    plans = []
    for step in (step0, step1, step2, step3, step4):
        spec = parse_mesh(step)
        assert [f for f in run_checks(spec) if f.severity.value == "error"] == []
        plans.append({r.key: r for r in plan(spec).control_plane.releases})
    assert set(plans[1]) - set(plans[0]) == {"istiod-1-30-4"}
    assert plans[1]["istiod-1-29-2"] == plans[0]["istiod-1-29-2"]
    assert plans[2]["istiod-1-30-4"].values["revisionTags"] == ["canary"]
    assert plans[2]["istiod-1-29-2"] == plans[1]["istiod-1-29-2"]
    assert plans[3]["istiod-1-29-2"].values["revisionTags"] == []
    assert plans[3]["istiod-1-30-4"].values["revisionTags"] == ["stable", "canary"]
    assert plans[3]["istio-base"].values["defaultRevision"] == "1-30-4"
    assert set(plans[4]) == {"istio-base", "istiod-1-30-4"}
    # Removing the old revision while a tag still points at it is an error (MR220).
    early = mesh(revisions={"1-30-4": {"version": "1.30.4"}}, revisionTags={"stable": "1-29-2"},
                 defaultRevision="stable")
    assert [f.code for f in run_checks(parse_mesh(early)) if f.severity.value == "error"] == ["MR220"]
