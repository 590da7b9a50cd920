"""Checks of the silent traps: configurations Istio accepts resource by resource that still break the mesh
(MR106 and later). Each trips on a bad config and stays quiet on a near miss, as in tests/test_checks.py, whose
builders and ``Case`` these tests reuse; where a trap depends on what the plan or Istio's charts make of the spec,
a test holds the check to the plan (or the chart) itself."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import STACKS
from mesh_rollout.checks import CHECKS, Severity, run_checks
from mesh_rollout.checks._facts import port_protocol
from mesh_rollout.checks.control_plane import istiod_minimum_replicas
from mesh_rollout.plan import mesh_tracing, plan
from mesh_rollout.plan.control_plane import istiod_values
from mesh_rollout.plan.observability import telemetry
from mesh_rollout.spec import PortSpec, load_stack_file, parse_mesh
from test_checks import BETA, ERROR, INSTALLED, WARNING, Case, canary, found, mesh, run, svc
from test_checks_routes import ROUTE_CASES

ISTIO_CHARTS = Path.home() / ".cache" / "mesh-rollout" / "istio-1.30.4" / "charts"


def gateways(**specs) -> dict:
    """A control plane brought by the user with these gateways (no charts needed)."""
    return {"install": False, "gateways": specs}


def installed(**fields) -> dict:
    """A control plane installed from charts, with these extra fields."""
    return {**INSTALLED, **fields}


TWO_REVISIONS = {"revisions": {"1-29-2": {"version": "1.29.2"}, "1-30-4": {"version": "1.30.4"}},
                 "revisionTags": {"stable": "1-29-2", "canary": "1-30-4"}, "defaultRevision": "stable"}
FRONTEND = svc(expose={"gateway": "ingress", "hosts": ["shop.example.com"]})
ORDER_GET = {"namespace": "shop", "serviceAccount": "order", "methods": ["GET"]}


TRAP_CASES = [
    # --- MR106: identical version labels -------------------------------------------------------------------------
    # Both routed: the 90/10 split reaches the same pods either way.
    Case("MR106", "MR106",
         mesh({"payment": svc(versions={"v1": {"labels": {"track": "stable"}}, "v2": {"labels": {"track": "stable"}}},
                              traffic={"split": {"v1": 90, "v2": 10}})}),
         [(ERROR, "mesh.services.payment.versions.v2.labels")],
         mesh({"payment": svc(versions={"v1": {"labels": {"track": "stable"}}, "v2": {"labels": {"track": "canary"}}},
                              traffic={"split": {"v1": 90, "v2": 10}})})),
    # v2's explicit labels equal v1's default {version: v1}; only v1 is routed: a warning, at v2 (it wrote them).
    Case("MR106-unrouted", "MR106",
         mesh({"payment": svc(versions={"v1": {}, "v2": {"labels": {"version": "v1"}}},
                              traffic={"split": {"v1": 100}})}),
         [(WARNING, "mesh.services.payment.versions.v2.labels")],
         mesh({"payment": svc(versions={"v1": {}, "v2": {"labels": {"version": "v2"}}},
                              traffic={"split": {"v1": 100}})})),

    # --- MR107: mirror onto the serving pods ---------------------------------------------------------------------
    Case("MR107-only-routed-version", "MR107",
         mesh({"payment": canary(split={"v1": 100, "v2": 0}, mirror={"version": "v1", "percent": 10})}),
         [(WARNING, "mesh.services.payment.traffic.mirror.version")],
         mesh({"payment": canary(split={"v1": 100, "v2": 0}, mirror={"version": "v2", "percent": 10})})),
    # No version, no split: the mirror is the service itself.
    Case("MR107-whole-service", "MR107",
         mesh({"payment": svc(traffic={"mirror": {"percent": 50}})}),
         [(WARNING, "mesh.services.payment.traffic.mirror")],
         mesh({"payment": svc(traffic={"mirror": {"service": "audit", "percent": 50}}), "audit": svc()})),
    # The only version the service has is the whole service.
    Case("MR107-single-version", "MR107",
         mesh({"payment": svc(versions={"v1": {}}, traffic={"mirror": {"version": "v1"}})}),
         [(WARNING, "mesh.services.payment.traffic.mirror.version")],
         mesh({"payment": svc(versions={"v1": {}, "v2": {}}, traffic={"mirror": {"version": "v2"}})})),

    # --- MR112: a match shadowed by an earlier one ---------------------------------------------------------------
    # uriPrefix "/" before "/api": the /api rule never fires; in the right order both are used.
    Case("MR112-uri-prefix", "MR112",
         mesh({"payment": canary(matches=[{"name": "everything", "uriPrefix": "/", "version": "v1"},
                                          {"name": "api", "uriPrefix": "/api", "version": "v2"}])}),
         [(ERROR, "mesh.services.payment.traffic.matches.1")],
         mesh({"payment": canary(matches=[{"name": "api", "uriPrefix": "/api", "version": "v2"},
                                          {"name": "everything", "uriPrefix": "/", "version": "v1"}])})),
    # The same header match, and more: the earlier, less specific rule wins.
    Case("MR112-headers", "MR112",
         mesh({"payment": canary(matches=[
             {"name": "beta", "headers": BETA, "version": "v2"},
             {"name": "beta-mobile", "headers": {"X-User-Segment": {"exact": "beta"}, "x-client": {"exact": "mobile"}},
              "version": "v1"}])}),
         [(ERROR, "mesh.services.payment.traffic.matches.1")],
         mesh({"payment": canary(matches=[
             {"name": "beta", "headers": BETA, "version": "v2"},
             {"name": "gamma-mobile", "headers": {"x-user-segment": {"exact": "gamma"},
                                                  "x-client": {"exact": "mobile"}}, "version": "v1"}])})),
    # Both go to v2: the dead rule changes nothing, a warning.
    Case("MR112-same-destination", "MR112",
         mesh({"payment": canary(matches=[{"name": "beta", "headers": {"x-user-segment": {"prefix": "be"}},
                                           "version": "v2"},
                                          {"name": "beta-exact", "headers": BETA, "version": "v2"}])}),
         [(WARNING, "mesh.services.payment.traffic.matches.1")],
         mesh({"payment": canary(matches=[{"name": "beta", "headers": {"x-user-segment": {"prefix": "bet"}},
                                           "version": "v2"},
                                          {"name": "beta-exact", "headers": {"x-user-segment": {"exact": "be"}},
                                           "version": "v2"}])})),

    # --- MR142: lower-case methods -------------------------------------------------------------------------------
    Case("MR142", "MR142",
         mesh({"order": svc(), "payment": svc(ports=[{"port": 8080, "name": "http"}], access={"allowFrom": [
             {**ORDER_GET, "methods": ["get", "POST"]}]})}),
         [(ERROR, "mesh.services.payment.access.allowFrom.0.methods.0")],
         mesh({"order": svc(), "payment": svc(ports=[{"port": 8080, "name": "http"}], access={"allowFrom": [
             {**ORDER_GET, "methods": ["GET", "POST"]}]})})),
    # Not a standard method: it might really be sent that way, a warning.
    Case("MR142-non-standard", "MR142",
         mesh({"order": svc(), "payment": svc(access={"allowFrom": [{**ORDER_GET, "methods": ["purge"]}]})}),
         [(WARNING, "mesh.services.payment.access.allowFrom.0.methods.0")],
         mesh({"order": svc(), "payment": svc(access={"allowFrom": [{**ORDER_GET, "methods": ["PURGE"]}]})})),

    # --- MR143: an ALLOW policy with an empty selector -----------------------------------------------------------
    # No caller: the policy selects the whole namespace and allows nothing.
    Case("MR143", "MR143",
         mesh({"payment": svc(selector={}, access={"allowFrom": []})}),
         [(ERROR, "mesh.services.payment.selector")],
         mesh({"payment": svc(selector={"app": "payment"}, access={"allowFrom": []})})),
    # With callers: every workload of the namespace accepts only them, a warning.
    Case("MR143-with-callers", "MR143",
         mesh({"order": svc(), "payment": svc(selector={}, access={"allowFrom": ["shop/order"]})}),
         [(WARNING, "mesh.services.payment.selector")],
         mesh({"order": svc(), "payment": svc(access={"allowFrom": ["shop/order"]})})),
    # Ambient with a waypoint: the policy targets the Service, there is no selector to be empty.
    Case("MR143-ambient", "MR143",
         mesh({"payment": svc(selector={}, access={"allowFrom": []})}, namespaces={"shop": {"mode": "ambient"}}),
         [(ERROR, "mesh.services.payment.selector")],
         mesh({"payment": svc(selector={}, access={"allowFrom": []})},
              namespaces={"shop": {"mode": "ambient", "waypoint": True}})),

    # --- MR161: L7 rules on a TCP-only service -------------------------------------------------------------------
    Case("MR161", "MR161",
         mesh({"order": svc(), "payment": svc(ports=[{"port": 5432, "name": "tcp-postgres"}],
                                              access={"allowFrom": [ORDER_GET]})}),
         [(ERROR, "mesh.services.payment.access.allowFrom.0")],
         mesh({"order": svc(), "payment": svc(ports=[{"port": 5432, "name": "tcp-postgres"},
                                                     {"port": 8080, "name": "http-api"}],
                                              access={"allowFrom": [ORDER_GET]})})),
    # appProtocol wins over the name (http named, tcp declared); an L4 entry for the caller makes it a warning.
    Case("MR161-app-protocol", "MR161",
         mesh({"order": svc(), "payment": svc(ports=[{"port": 8080, "name": "http", "appProtocol": "tcp"}],
                                              access={"allowFrom": ["shop/order", ORDER_GET]})}),
         [(WARNING, "mesh.services.payment.access.allowFrom.1")],
         mesh({"order": svc(), "payment": svc(ports=[{"port": 8080, "name": "tcp", "appProtocol": "http"}],
                                              access={"allowFrom": ["shop/order", ORDER_GET]})})),

    # --- MR171: two gateways, one selector -----------------------------------------------------------------------
    # ingress and istio-ingress both select istio: ingress, and both serve shop.example.com.
    Case("MR171", "MR171",
         mesh({"frontend": FRONTEND,
               "web": svc(expose={"gateway": "istio-ingress", "hosts": ["Shop.Example.com"]})},
              controlPlane=gateways(**{"ingress": {}, "istio-ingress": {"namespace": "edge"}})),
         [(ERROR, "mesh.controlPlane.gateways.ingress"), (ERROR, "mesh.controlPlane.gateways.istio-ingress")],
         mesh({"frontend": FRONTEND,
               "web": svc(expose={"gateway": "internal", "hosts": ["Shop.Example.com"]})},
              controlPlane=gateways(**{"ingress": {}, "internal": {"namespace": "edge"}}))),
    # Different hosts: no conflict, but each deployment serves the other's hosts too.
    Case("MR171-other-hosts", "MR171",
         mesh({"frontend": FRONTEND,
               "web": svc(expose={"gateway": "istio-ingress", "hosts": ["www.example.com"]})},
              controlPlane=gateways(**{"ingress": {}, "istio-ingress": {"namespace": "edge"}})),
         [(WARNING, "mesh.controlPlane.gateways.ingress"), (WARNING, "mesh.controlPlane.gateways.istio-ingress")],
         mesh({"frontend": FRONTEND,
               "web": svc(expose={"gateway": "istio-internal", "hosts": ["www.example.com"]})},
              controlPlane=gateways(**{"ingress": {}, "istio-internal": {"namespace": "edge"}}))),

    # --- MR172: values change the pods' istio label --------------------------------------------------------------
    Case("MR172", "MR172",
         mesh({"frontend": FRONTEND},
              controlPlane=installed(gateways={"ingress": {"values": {"labels": {"istio": "public"}}}})),
         [(ERROR, "mesh.controlPlane.gateways.ingress.values.labels.istio")],
         mesh({"frontend": FRONTEND},
              controlPlane=installed(gateways={"ingress": {"values": {"labels": {"istio": "ingress",
                                                                                 "team": "edge"}}}}))),
    # Nothing exposed yet: a warning.
    Case("MR172-unexposed", "MR172",
         mesh(controlPlane=installed(gateways={"ingress": {"values": {"labels": {"istio": "public"}}}})),
         [(WARNING, "mesh.controlPlane.gateways.ingress.values.labels.istio")],
         # A control plane brought by the user: the values are never used, nothing to check.
         mesh({"frontend": FRONTEND},
              controlPlane=gateways(ingress={"values": {"labels": {"istio": "public"}}}))),

    # --- MR173: values change the gateway's service account ------------------------------------------------------
    Case("MR173", "MR173",
         mesh({"frontend": svc(expose={"gateway": "ingress", "hosts": ["shop.example.com"]},
                               access={"allowFrom": []})},
              controlPlane=installed(gateways={"ingress": {"values": {"serviceAccount": {"name": "edge-sa"}}}})),
         [(ERROR, "mesh.controlPlane.gateways.ingress.values.serviceAccount.name")],
         mesh({"frontend": svc(expose={"gateway": "ingress", "hosts": ["shop.example.com"]},
                               access={"allowFrom": []})},
              controlPlane=installed(gateways={"ingress": {"values": {"serviceAccount": {
                  "annotations": {"example.com/role": "edge"}}}}}))),
    # values.name keeps the label (istio- is cut off) but renames the service account; no allow rule: a warning.
    Case("MR173-name", "MR173",
         mesh({"frontend": FRONTEND},
              controlPlane=installed(gateways={"ingress": {"values": {"name": "istio-ingress"}}})),
         [(WARNING, "mesh.controlPlane.gateways.ingress.values.name")],
         mesh({"frontend": FRONTEND}, controlPlane=installed(gateways={"ingress": {"values": {"name": "ingress"}}}))),

    # --- MR181: unknown appProtocol ------------------------------------------------------------------------------
    Case("MR181", "MR181",
         mesh({"payment": svc(ports=[{"port": 8080, "name": "http-web", "appProtocol": "web"},
                                     {"port": 8081, "name": "h2c", "appProtocol": "h2c"}])}),
         [(WARNING, "mesh.services.payment.ports.0.appProtocol"),
          (WARNING, "mesh.services.payment.ports.1.appProtocol")],
         mesh({"payment": svc(ports=[{"port": 8080, "name": "http-web", "appProtocol": "HTTP"},
                                     {"port": 8081, "name": "h2c", "appProtocol": "kubernetes.io/h2c"}])})),

    # --- MR195: default deny where the ingress gateway runs ------------------------------------------------------
    Case("MR195", "MR195",
         mesh(namespaces={"shop": {}, "istio-ingress": {"defaultDeny": True}},
              controlPlane=gateways(ingress={"namespace": "istio-ingress"})),
         [(ERROR, "mesh.namespaces.istio-ingress.defaultDeny")],
         mesh(namespaces={"shop": {"defaultDeny": True}, "istio-ingress": {}},
              controlPlane=gateways(ingress={"namespace": "istio-ingress"}))),
    # The root namespace: its policies apply to the whole mesh, the gateway included.
    Case("MR195-root-namespace", "MR195",
         mesh(namespaces={"shop": {}, "istio-system": {"defaultDeny": True}},
              controlPlane=gateways(ingress={"namespace": "istio-ingress"})),
         [(ERROR, "mesh.namespaces.istio-system.defaultDeny")],
         # Default deny next to an egress gateway only: not reported (denying egress can be the point).
         mesh(namespaces={"shop": {}, "istio-egress": {"defaultDeny": True}},
              controlPlane=gateways(egress={"kind": "egress", "namespace": "istio-egress"}))),

    # --- MR196: policy nothing enforces --------------------------------------------------------------------------
    Case("MR196", "MR196",
         mesh({"batch": svc("legacy", access={"allowFrom": []})},
              namespaces={"shop": {}, "legacy": {"mode": "none", "defaultDeny": True}},
              mtls={"namespaces": {"legacy": "STRICT"}, "workloads": {"batch": {"mode": "STRICT"}}}),
         [(WARNING, "mesh.mtls.namespaces.legacy"), (WARNING, "mesh.mtls.workloads.batch.mode"),
          (WARNING, "mesh.namespaces.legacy.defaultDeny")],
         mesh({"batch": svc("legacy", access={"allowFrom": []})},
              namespaces={"shop": {}, "legacy": {"mode": "sidecar", "defaultDeny": True}},
              mtls={"namespaces": {"legacy": "STRICT"}, "workloads": {"batch": {"mode": "STRICT"}}})),

    # --- MR197: a workload mTLS exception whose selector is empty ------------------------------------------------
    Case("MR197-ports", "MR197",
         mesh({"metrics": svc(selector={}, ports=[{"port": 9090, "name": "http-metrics"}])},
              mtls={"workloads": {"metrics": {"ports": {9090: "DISABLE"}}}}),
         [(ERROR, "mesh.mtls.workloads.metrics.ports")],
         mesh({"metrics": svc(selector={"app": "metrics"}, ports=[{"port": 9090, "name": "http-metrics"}])},
              mtls={"workloads": {"metrics": {"ports": {9090: "DISABLE"}}}})),
    Case("MR197-mode", "MR197",
         mesh({"legacy": svc(selector={})}, mtls={"workloads": {"legacy": {"mode": "PERMISSIVE"}}}),
         [(ERROR, "mesh.mtls.workloads.legacy.mode")],
         mesh({"legacy": svc()}, mtls={"workloads": {"legacy": {"mode": "PERMISSIVE"}}})),

    # --- MR154 with revisions: the stack installs every revision, so an unknown one is an error -------------------
    Case("MR154-revisions", "MR154",
         mesh(namespaces={"shop": {"revision": "1-28-0"}}, controlPlane=installed(**TWO_REVISIONS)),
         [(ERROR, "mesh.namespaces.shop.revision")],
         mesh(namespaces={"shop": {"revision": "canary"}}, controlPlane=installed(**TWO_REVISIONS))),

    # --- MR220-MR223: side-by-side revisions ---------------------------------------------------------------------
    Case("MR220", "MR220",
         mesh(controlPlane=installed(**{**TWO_REVISIONS, "revisionTags": {"stable": "1-29-2", "old": "1-28-0"}})),
         [(ERROR, "mesh.controlPlane.revisionTags.old")],
         mesh(controlPlane=installed(**{**TWO_REVISIONS, "revisionTags": {"stable": "1-29-2", "old": "1-29-2"}}))),
    Case("MR221", "MR221",
         mesh(controlPlane=installed(**TWO_REVISIONS, gateways={"ingress": {"revision": "beta"}})),
         [(ERROR, "mesh.controlPlane.gateways.ingress.revision")],
         mesh(controlPlane=installed(**TWO_REVISIONS, gateways={"ingress": {"revision": "canary"}}))),
    Case("MR222", "MR222",
         mesh(controlPlane=installed(**{**TWO_REVISIONS, "revisions": {"1-29-2": {"version": "1.29.2"},
                                                                        "1-31-0": {"version": "1.31.0"}},
                                        "revisionTags": {"stable": "1-29-2", "canary": "1-31-0"}})),
         [(WARNING, "mesh.controlPlane.revisions.1-31-0.version")],
         mesh(controlPlane=installed(**TWO_REVISIONS))),
    Case("MR223", "MR223",
         mesh(controlPlane=installed(**{**TWO_REVISIONS, "defaultRevision": "prod"})),
         [(ERROR, "mesh.controlPlane.defaultRevision")],
         mesh(controlPlane=installed(**{**TWO_REVISIONS, "defaultRevision": "1-30-4"}))),

    # --- MR200: a disruption budget over one istiod --------------------------------------------------------------
    Case("MR200", "MR200",
         mesh(controlPlane=installed(highAvailability={"replicas": 1, "podDisruptionBudget": True})),
         [(WARNING, "mesh.controlPlane.highAvailability.podDisruptionBudget")],
         mesh(controlPlane=installed(highAvailability={"replicas": 2, "podDisruptionBudget": True}))),
    # Autoscaling from one replica is one replica whenever the load is low.
    Case("MR200-autoscale", "MR200",
         mesh(controlPlane=installed(highAvailability={"replicas": 1, "autoscaleMax": 5,
                                                       "podDisruptionBudget": True})),
         [(WARNING, "mesh.controlPlane.highAvailability.podDisruptionBudget")],
         mesh(controlPlane=installed(highAvailability={"replicas": 2, "autoscaleMax": 5,
                                                       "podDisruptionBudget": True}))),
    # istiodValues win over highAvailability.
    Case("MR200-istiod-values", "MR200",
         mesh(controlPlane=installed(highAvailability={"replicas": 3, "podDisruptionBudget": True},
                                     istiodValues={"pilot": {"replicaCount": 1}})),
         [(WARNING, "mesh.controlPlane.highAvailability.podDisruptionBudget")],
         mesh(controlPlane=installed(highAvailability={"replicas": 1},
                                     istiodValues={"pilot": {"resources": {"requests": {"cpu": "1"}}}}))),

    # --- MR210: the Telemetry's tracing provider is not in meshConfig --------------------------------------------
    Case("MR210", "MR210",
         mesh(controlPlane=installed(istiodValues={"meshConfig": {"extensionProviders": [
             {"name": "otel", "opentelemetry": {"service": "otel-collector.tracing", "port": 4317}}]}})),
         [(ERROR, "mesh.controlPlane.istiodValues.meshConfig.extensionProviders")],
         mesh(controlPlane=installed(istiodValues={"meshConfig": {"extensionProviders": [
             {"name": "otel", "opentelemetry": {"service": "otel-collector.tracing", "port": 4317}},
             {"name": "jaeger", "opentelemetry": {"service": "jaeger-collector.istio-system", "port": 4317}}]}}))),
    # The provider renamed in observability; istiodValues still list only the old name.
    Case("MR210-renamed", "MR210",
         mesh(controlPlane=installed(istiodValues={"meshConfig": {"extensionProviders": [
             {"name": "jaeger", "opentelemetry": {"service": "jaeger-collector.istio-system", "port": 4317}}]}}),
              observability={"tracing": {"provider": "otel"}}),
         [(ERROR, "mesh.controlPlane.istiodValues.meshConfig.extensionProviders")],
         # Without istiodValues the generated provider follows the name.
         mesh(controlPlane=installed(), observability={"tracing": {"provider": "otel"}})),
]
TRAP_CASES += ROUTE_CASES  # per-route settings, match kinds, load balancing, TCP (tests/test_checks_routes.py)


@pytest.mark.parametrize("case", TRAP_CASES, ids=[case.id for case in TRAP_CASES])
def test_failing_config_trips_the_check(case: Case):
    findings = run(case.failing)
    assert found(case.failing, case.code) == case.expected
    # One mistake, one code: no other check reports the same config.
    assert {f.code for f in findings} == {case.code}


@pytest.mark.parametrize("case", TRAP_CASES, ids=[case.id for case in TRAP_CASES])
def test_near_miss_passes(case: Case):
    assert run(case.passing) == []


@pytest.mark.parametrize("case", TRAP_CASES, ids=[case.id for case in TRAP_CASES])
def test_messages_say_what_why_and_the_fix(case: Case):
    for finding in run(case.failing):
        assert finding.path.startswith("mesh.")
        # what is wrong and why, then the fix: "expected …, got …"
        assert re.search(r"; expected .+, got .+", finding.message), finding.message


def test_every_trap_check_has_cases():
    codes = {case.code for case in TRAP_CASES}
    assert codes == {c.code for c in CHECKS if c.code in codes}
    assert {"MR106", "MR107", "MR112", "MR142", "MR143", "MR161", "MR171", "MR172", "MR173", "MR181", "MR195",
            "MR196", "MR200", "MR210"} <= codes


@pytest.mark.parametrize("stack_file", STACKS, ids=lambda p: p.name)
def test_stacks_have_no_trap_findings(stack_file):
    codes = {case.code for case in TRAP_CASES}
    assert [str(f) for f in run_checks(load_stack_file(stack_file)) if f.code in codes] == []


# --- MR106, MR107, MR112: details ------------------------------------------------------------------------------

def test_empty_labels_are_mr105_not_mr106():
    data = mesh({"payment": svc(versions={"v1": {"labels": {}}, "v2": {"labels": {}}},
                                traffic={"split": {"v1": 50, "v2": 50}})})
    assert {f.code for f in run(data)} == {"MR105"}


def test_mirror_to_a_version_with_a_share_of_live_traffic_is_not_reported():
    # The dev stack's canary: v2 gets 10% and a 20% mirror; the mirror reaches v2 for v1's 90% too.
    data = mesh({"payment": canary(split={"v1": 90, "v2": 10}, mirror={"version": "v2", "percent": 20})})
    assert run(data) == []


def test_mirror_message_names_the_duplicate_handling():
    (finding,) = run(mesh({"payment": canary(split={"v1": 100}, mirror={"version": "v1", "percent": 10})}))
    assert "handled twice by the same pods" in finding.message and "got version 'v1'" in finding.message


@pytest.mark.parametrize("earlier,later,shadowed", [
    ({"prefix": "be"}, {"exact": "beta"}, True),
    ({"prefix": "be"}, {"prefix": "bet"}, True),
    ({"prefix": "bet"}, {"prefix": "be"}, False),
    ({"regex": "beta|gamma"}, {"exact": "beta"}, True),
    ({"regex": "beta|gamma"}, {"exact": "delta"}, False),
    ({"regex": "b.*"}, {"regex": "b.*"}, True),
    ({"regex": "b.*"}, {"prefix": "b"}, False),   # regexes are compared as text: not reported when unsure
    ({"exact": "beta"}, {"exact": "Beta"}, False),
], ids=["prefix-exact", "prefix-prefix", "longer-prefix-first", "regex-exact", "regex-other", "same-regex",
        "regex-prefix", "case-sensitive-value"])
def test_header_shadowing(earlier, later, shadowed):
    data = mesh({"payment": canary(matches=[{"name": "first", "headers": {"x-seg": earlier}, "version": "v1"},
                                            {"name": "second", "headers": {"x-seg": later}, "version": "v2"}])})
    assert [f.code for f in run(data)] == (["MR112"] if shadowed else [])


def test_a_match_on_another_header_is_not_shadowed():
    data = mesh({"payment": canary(matches=[{"name": "beta", "headers": BETA, "version": "v2"},
                                            {"name": "api", "uriPrefix": "/api", "version": "v1"}])})
    assert run(data) == []


def test_shadowed_match_is_reported_once_and_names_the_earlier_rule():
    data = mesh({"payment": canary(matches=[{"name": "all", "uriPrefix": "/", "version": "v1"},
                                            {"name": "also-all", "uriPrefix": "/", "version": "v1"},
                                            {"name": "api", "uriPrefix": "/api", "version": "v2"}])})
    findings = run(data)
    assert [(f.path, f.severity) for f in findings] == [
        ("mesh.services.payment.traffic.matches.1", WARNING),
        ("mesh.services.payment.traffic.matches.2", ERROR),
    ]
    assert "'all' (matches.0" in findings[1].message and "move 'api' above 'all'" in findings[1].message


# --- MR142, MR143, MR161: access rules -------------------------------------------------------------------------

def test_wildcard_methods():
    def methods(*values):
        return mesh({"order": svc(), "payment": svc(access={"allowFrom": [{**ORDER_GET, "methods": list(values)}]})})

    assert run(methods("*", "G*")) == []
    assert [(f.code, f.severity) for f in run(methods("g*"))] == [("MR142", ERROR)]


def test_the_empty_selector_check_follows_the_plan():
    """MR143 reads the policy the plan emits: ALLOW, matchLabels {}, no rules, exactly what the check reports."""
    spec = parse_mesh(mesh({"payment": svc(selector={}, access={"allowFrom": []})}))
    policy = plan(spec).access.object("AuthorizationPolicy/shop/payment-allow").manifest
    assert policy["spec"] == {"action": "ALLOW", "selector": {"matchLabels": {}}}
    assert [f.code for f in run_checks(spec)] == ["MR143"]


def test_without_an_explicit_empty_selector_no_allow_policy_selects_the_whole_namespace():
    """Every way the spec makes an ALLOW policy without `selector: {}` selects a workload (or targets a Service)."""
    services = {
        "default": svc(access={"allowFrom": []}),
        "custom": svc(selector={"app.kubernetes.io/name": "custom"}, access={"allowFrom": ["shop/default"]}),
        "exposed": svc(expose={"gateway": "ingress", "hosts": ["shop.example.com"]}, access={"allowFrom": []}),
        "l7": svc(access={"allowFrom": [{"namespace": "shop", "serviceAccount": "default", "paths": ["/x"]}]}),
        "waypoint": svc("edge", access={"allowFrom": []}),
    }
    spec = parse_mesh(mesh(services, namespaces={"shop": {}, "edge": {"mode": "ambient", "waypoint": True}},
                           controlPlane=gateways(ingress={})))
    policies = [o.manifest for o in plan(spec).access.objects if o.manifest["spec"].get("action") == "ALLOW"]
    assert len(policies) == len(services)
    for policy in policies:
        selector = policy["spec"].get("selector")
        assert (selector and selector["matchLabels"]) or policy["spec"]["targetRefs"], policy


def test_l7_rules_on_ports_left_to_detection_are_not_checked():
    data = mesh({"order": svc(), "payment": svc(ports=[{"port": 5432, "name": "tcp"}, {"port": 9000, "name": "api"}],
                                                access={"allowFrom": [ORDER_GET]})})
    assert [f.code for f in run(data)] == ["MR180"]   # port 9000: detection may find HTTP


def test_l7_rule_on_tcp_in_ambient_without_waypoint_is_mr160_only():
    data = mesh({"order": svc(), "payment": svc(ports=[{"port": 5432, "name": "tcp"}],
                                                access={"allowFrom": [ORDER_GET]})},
                namespaces={"shop": {"mode": "ambient"}})
    assert [f.code for f in run(data)] == ["MR160"]


@pytest.mark.parametrize("name,app_protocol,port,expected", [
    ("http", None, 8080, "HTTP"),
    ("http-web", None, 8080, "HTTP"),
    ("HTTP2-api", None, 8080, "HTTP2"),
    ("grpc-web", None, 8080, "GRPC-Web"),
    ("grpc-webfoo", None, 8080, "GRPC-Web"),       # Istio checks the grpc-web prefix before splitting at "-"
    ("grpc-api", None, 8080, "GRPC"),
    ("http2foo", None, 8080, None),
    ("web", None, 8080, None),
    (None, None, 8080, None),
    (None, None, 3306, "TCP"),                       # well-known ports: TCP when undeclared
    ("db", None, 27017, "TCP"),
    ("https", None, 443, "HTTPS"),
    ("tls-db", None, 9000, "TLS"),
    ("http", "tcp", 8080, "TCP"),                    # appProtocol wins, the name is not read
    ("tcp", "http-api", 8080, "HTTP"),               # appProtocol is read like a name
    ("http", "web", 8080, None),                     # unknown appProtocol: the good name is ignored
    ("x", "kubernetes.io/h2c", 8080, "HTTP2"),
    ("x", "kubernetes.io/ws", 8080, "HTTP"),
    ("x", "kubernetes.io/wss", 8080, "HTTPS"),
    ("kubernetes.io/h2c", None, 8080, None),         # Kubernetes names count in appProtocol only
])
def test_port_protocol_follows_istio(name, app_protocol, port, expected):
    assert port_protocol(PortSpec(port=port, name=name, app_protocol=app_protocol)) == expected


def test_unknown_app_protocol_on_a_well_known_port_falls_back_to_tcp():
    """MR181 says what Istio falls back to: plain TCP on a well-known port, protocol detection elsewhere. (The check
    once called MR180's check function, which shadowed the ``port_protocol`` fact, so it never said TCP.)"""
    messages = {f.path.rsplit(".", 2)[-2]: f.message for f in run_checks(parse_mesh(
        mesh({"db": svc(ports=[{"port": 3306, "name": "mysql", "appProtocol": "web"},
                               {"port": 8080, "name": "http", "appProtocol": "web"}])})))
        if f.code == "MR181"}
    assert "falls back to plain TCP (a well-known port)" in messages["0"]
    assert "falls back to protocol detection" in messages["1"]


# --- MR171, MR172, MR173: gateways ------------------------------------------------------------------------------

def test_gateway_label_taken_from_another_gateway_is_named():
    data = mesh({"frontend": FRONTEND, "admin": svc(expose={"gateway": "internal", "hosts": ["admin.example.com"]})},
                controlPlane=installed(gateways={"ingress": {},
                                                 "internal": {"values": {"labels": {"istio": "ingress"}}}}))
    (finding,) = run(data)
    assert (finding.code, finding.path) == ("MR172", "mesh.controlPlane.gateways.internal.values.labels.istio")
    assert "gateway 'ingress''s label" in finding.message and "admin.example.com" in finding.message


def test_gateway_chart_name_changes_label_and_account():
    data = mesh({"frontend": svc(expose={"gateway": "ingress", "hosts": ["shop.example.com"]},
                                 access={"allowFrom": []})},
                controlPlane=installed(gateways={"ingress": {"values": {"name": "edge"}}}))
    assert [(f.code, f.severity, f.path) for f in run(data)] == [
        ("MR172", ERROR, "mesh.controlPlane.gateways.ingress.values.name"),
        ("MR173", ERROR, "mesh.controlPlane.gateways.ingress.values.name"),
    ]


def test_gateway_service_account_not_created():
    data = mesh({"payment": svc(access={"allowFrom": ["istio-ingress/ingress"]})},
                controlPlane=installed(gateways={"ingress": {"values": {"serviceAccount": {"create": False}}}}))
    (finding,) = run(data)
    assert (finding.code, finding.severity) == ("MR173", ERROR)
    assert finding.path == "mesh.controlPlane.gateways.ingress.values.serviceAccount.create"
    assert "service account 'default'" in finding.message


# --- MR195, MR196: default deny and STRICT where they cannot work -----------------------------------------------

def test_default_deny_on_the_gateway_namespace_is_reported_once_per_gateway():
    data = mesh(namespaces={"shop": {}, "edge": {"defaultDeny": True}},
                controlPlane=gateways(public={"namespace": "edge"}, partner={"namespace": "edge"}))
    assert [(f.code, f.path) for f in run(data)] == [("MR195", "mesh.namespaces.edge.defaultDeny")] * 2


def test_policy_on_a_gateway_namespace_outside_the_mesh_is_left_to_mr155():
    data = mesh(namespaces={"shop": {}, "edge": {"mode": "none"}}, mtls={"namespaces": {"edge": "STRICT"}},
                controlPlane=installed(gateways={"ingress": {"namespace": "edge"}}))
    assert [f.code for f in run(data)] == ["MR155"]


def test_default_deny_without_proxies_is_mr196_not_mr193():
    # MR193 would say every request to batch is denied; without a proxy nothing is.
    data = mesh({"batch": svc("legacy")}, namespaces={"shop": {}, "legacy": {"mode": "none", "defaultDeny": True}})
    assert [(f.code, f.path) for f in run(data)] == [("MR196", "mesh.namespaces.legacy.defaultDeny")]


def test_mesh_wide_strict_with_a_namespace_outside_the_mesh_is_not_reported():
    # The usual migration shape: STRICT mesh-wide, one namespace kept out of the mesh on purpose.
    assert run(mesh(namespaces={"shop": {}, "legacy": {"mode": "none"}}, mtls={"mode": "STRICT"})) == []


# --- MR200: what the istiod chart makes of the budget -----------------------------------------------------------

def test_the_plan_itself_never_creates_a_disruption_budget():
    """Only the istiod chart can render a PodDisruptionBudget: the plan passes values, never the object."""
    spec = parse_mesh(mesh(controlPlane=installed(highAvailability={"replicas": 1, "podDisruptionBudget": True})))
    mesh_plan = plan(spec)
    assert not [o for o in mesh_plan.objects if o.manifest["kind"] == "PodDisruptionBudget"]
    values = next(r for r in mesh_plan.releases if r.key == "istiod").values
    assert values["global"]["defaultPodDisruptionBudget"] == {"enabled": True}
    assert istiod_minimum_replicas(values) == 1


@pytest.mark.parametrize("ha,renders", [
    ({"replicas": 1, "podDisruptionBudget": True}, False),
    ({"replicas": 1, "autoscaleMax": 5, "podDisruptionBudget": True}, False),
    ({"replicas": 2, "podDisruptionBudget": True}, True),
    ({"replicas": 2, "autoscaleMax": 5, "podDisruptionBudget": True}, True),
])
def test_pinned_istiod_chart_renders_a_budget_only_over_two_replicas(ha, renders):
    """The istiod chart of the pinned release skips the budget for one replica, so a drain-blocking budget cannot
    come out of this plan with it; MR200 warns that no budget protects istiod then."""
    template = ISTIO_CHARTS / "istiod" / "templates" / "poddisruptionbudget.yaml"
    if not template.exists():
        pytest.skip(f"Istio's charts are not at {template.parent.parent} (scripts/install-tools.sh copies them)")
    guard = ("{{- if or (and .Values.autoscaleEnabled  (gt (int .Values.autoscaleMin) 1)) "
             "(and (not .Values.autoscaleEnabled) (gt (int .Values.replicaCount) 1)) }}")
    assert guard in template.read_text()
    values = istiod_values(parse_mesh(mesh(controlPlane=installed(highAvailability=ha))).control_plane,
                           "cluster.local", None)
    pilot = values["pilot"]
    enabled = values["global"]["defaultPodDisruptionBudget"]["enabled"]
    rendered = enabled and ((pilot["autoscaleEnabled"] and pilot.get("autoscaleMin", 1) > 1)
                            or (not pilot["autoscaleEnabled"] and pilot["replicaCount"] > 1))
    assert rendered is renders
    assert (istiod_minimum_replicas(values) > 1) is renders


# --- MR210: the plan agrees with itself unless istiodValues replace the providers --------------------------------

@pytest.mark.parametrize("stack_file", STACKS, ids=lambda p: p.name)
def test_generated_extension_provider_is_the_telemetrys(stack_file):
    spec = load_stack_file(stack_file)
    tracing = mesh_tracing(spec)
    providers = istiod_values(spec.control_plane, spec.trust_domain, tracing)["meshConfig"]["extensionProviders"]
    body = telemetry(spec.observability, spec.root_namespace, tracing)["spec"]
    assert [p["name"] for p in body["tracing"][0]["providers"]] == [p["name"] for p in providers]


def test_meshconfig_replaced_by_a_non_mapping_is_reported_at_meshconfig():
    data = mesh(controlPlane=installed(istiodValues={"meshConfig": None}))
    (finding,) = run(data)
    assert (finding.code, finding.path) == ("MR210", "mesh.controlPlane.istiodValues.meshConfig")


def test_tracing_provider_is_not_checked_without_tracing_or_without_our_istiod():
    replaced = {"meshConfig": {"extensionProviders": []}}
    assert run(mesh(controlPlane=installed(istiodValues=replaced), observability={"jaeger": {"enabled": False}})) == []
    assert run(mesh(controlPlane=installed(istiodValues=replaced), observability=None)) == []
    assert run(mesh(observability={"tracing": {"provider": "otel"}})) == []   # install: false


@pytest.mark.parametrize("values", [
    {"labels": ["istio", "x"], "serviceAccount": "edge", "name": None},
    {"labels": {"istio": None}, "serviceAccount": {"create": None, "name": ""}, "name": ""},
    {"labels": {"istio": True}, "name": 7},
])
def test_gateway_values_of_any_shape_do_not_break_the_checks(values):
    data = mesh({"frontend": FRONTEND}, controlPlane=installed(gateways={"ingress": {"values": values}}))
    assert {f.code for f in run(data)} <= {"MR172", "MR173"}


@pytest.mark.parametrize("istiod", [
    {"pilot": "big", "global": None},
    {"pilot": {"replicaCount": "many", "autoscaleEnabled": False}, "meshConfig": {"extensionProviders": "jaeger"}},
    {"meshConfig": {"extensionProviders": [None, "jaeger", {"name": "JAEGER"}]}},
])
def test_istiod_values_of_any_shape_do_not_break_the_checks(istiod):
    data = mesh(controlPlane=installed(highAvailability={"replicas": 2, "podDisruptionBudget": True},
                                       istiodValues=istiod))
    assert {f.code for f in run(data)} <= {"MR200", "MR210"}


def test_provider_names_compare_without_case_as_istiod_does():
    data = mesh(controlPlane=installed(istiodValues={"meshConfig": {"extensionProviders": [
        {"name": "Jaeger", "opentelemetry": {"service": "jaeger-collector.istio-system", "port": 4317}}]}}))
    assert run(data) == []


def test_severities_are_what_the_registry_says():
    registry = {c.code: c.severity for c in CHECKS}
    assert registry["MR106"] is Severity.ERROR and registry["MR107"] is Severity.WARNING
    assert registry["MR196"] is Severity.WARNING and registry["MR200"] is Severity.WARNING
    assert registry["MR195"] is Severity.ERROR and registry["MR210"] is Severity.ERROR
