"""Checks at the mesh's edges: egress (MR250-MR259) and end-user authentication (MR260-MR266). Each trips on a bad
config and stays quiet on a near miss, as in tests/test_checks.py and tests/test_checks_traps.py, whose builders and
``Case`` these tests reuse."""

from __future__ import annotations

import re
from typing import Any

import pytest

from conftest import STACKS
from mesh_rollout.checks import CHECKS, run_checks
from mesh_rollout.spec import load_stack_file
from test_checks import ERROR, WARNING, Case, found, mesh, run, svc

#: A production stack without add-ons (their image pins are MR241's business).
PROD = {"production": True, "observability": None}
REGISTRY_ONLY = {"install": False, "meshConfig": {"outboundTrafficPolicy": "REGISTRY_ONLY"},
                 "gateways": {"egress": {"kind": "egress", "namespace": "istio-egress"},
                              "ingress": {"namespace": "istio-ingress"}}}
HTTP = [{"port": 8080, "name": "http"}]
STRIPE = {"hosts": ["api.stripe.com"], "ports": [{"number": 443, "protocol": "HTTPS"}]}


def web(**fields: Any) -> dict[str, Any]:
    """Service ``web`` in ``shop`` with an HTTP port."""
    return svc(ports=HTTP, **fields)


def edge(services: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A REGISTRY_ONLY mesh with an egress gateway ``egress`` and an ingress gateway ``ingress``."""
    return mesh(services, controlPlane=REGISTRY_ONLY, **extra)


ISSUER = {"issuer": "https://auth.example.com/", "jwksUri": "https://auth.example.com/jwks.json"}
USERS = {"allowUsers": [{"issuer": "auth"}]}


def auth(**policies: Any) -> dict[str, Any]:
    return {"issuers": {"auth": ISSUER}, **policies}


EDGE_CASES = [
    # --- MR250: a dependency egress does not declare ---------------------------------------------------------------
    Case("MR250", "MR250",
         edge({"web": web(egress=["stripe"])}),
         [(ERROR, "mesh.services.web.egress.0")],
         edge({"web": web(egress=["stripe"])}, egress={"stripe": STRIPE})),
    # ALLOW_ANY: still an error (a typo, and the call leaves unmanaged).
    Case("MR250-allow-any", "MR250",
         mesh({"web": web(egress=["stripe"])}),
         [(ERROR, "mesh.services.web.egress.0")],
         mesh({"web": web(egress=["stripe"])}, egress={"stripe": STRIPE})),
    # --- MR251: an entry nobody lists -------------------------------------------------------------------------------
    Case("MR251", "MR251",
         edge({"web": web(egress=["stripe"])}, egress={"stripe": STRIPE, "cnn": {**STRIPE, "hosts": ["cnn.com"]}}),
         [(WARNING, "mesh.egress.cnn")],
         edge({"web": web(egress=["stripe", "cnn"])},
              egress={"stripe": STRIPE, "cnn": {**STRIPE, "hosts": ["cnn.com"]}})),
    # --- MR252: exportTo hides the entry from the caller's namespace ------------------------------------------------
    Case("MR252", "MR252",
         edge({"web": web(egress=["stripe"])}, egress={"stripe": {**STRIPE, "exportTo": ["."]}}),
         [(ERROR, "mesh.services.web.egress.0")],
         edge({"web": web(egress=["stripe"])}, egress={"stripe": {**STRIPE, "exportTo": ["."],
                                                                   "namespace": "shop"}})),
    # --- MR253: an external host that is an in-mesh host -----------------------------------------------------------
    Case("MR253", "MR253",
         edge({"web": web(egress=["payments"]), "payment": web()},
              egress={"payments": {**STRIPE, "hosts": ["payment.shop.svc.cluster.local"]}}),
         [(ERROR, "mesh.egress.payments.hosts.0")],
         edge({"web": web(egress=["payments"]), "payment": web()},
              egress={"payments": {**STRIPE, "hosts": ["payment.example.com"]}})),
    Case("MR253-wildcard", "MR253",
         edge({"web": web(egress=["all"])},
              egress={"all": {**STRIPE, "hosts": ["*.shop.svc.cluster.local"], "resolution": "NONE"}}),
         [(ERROR, "mesh.egress.all.hosts.0")],
         edge({"web": web(egress=["all"])},
              egress={"all": {**STRIPE, "hosts": ["*.shop.example.com"], "resolution": "NONE"}})),
    # --- MR254: gateway routing through an unknown or ingress gateway -----------------------------------------------
    Case("MR254", "MR254",
         edge({"web": web(egress=["stripe"])}, egress={"stripe": {**STRIPE, "gateway": "ingress"}}),
         [(ERROR, "mesh.egress.stripe.gateway")],
         edge({"web": web(egress=["stripe"])}, egress={"stripe": {**STRIPE, "gateway": "egress"}})),
    # --- MR255: one host in two entries ----------------------------------------------------------------------------
    Case("MR255", "MR255",
         edge({"web": web(egress=["a", "b"])},
              egress={"a": STRIPE, "b": {**STRIPE, "hosts": ["API.stripe.com"],
                                         "ports": [{"number": 80, "protocol": "HTTP"}]}}),
         [(ERROR, "mesh.egress.b.hosts.0")],
         edge({"web": web(egress=["a"])},
              egress={"a": {**STRIPE, "ports": [{"number": 443, "protocol": "HTTPS"},
                                                {"number": 80, "protocol": "HTTP"}]}})),
    # --- MR256: TCP without addresses ------------------------------------------------------------------------------
    Case("MR256", "MR256",
         edge({"web": web(egress=["db"])},
              egress={"db": {"hosts": ["db.example.com"], "ports": [{"number": 5432, "protocol": "TCP"}]}}),
         [(WARNING, "mesh.egress.db.ports.0")],
         edge({"web": web(egress=["db"])},
              egress={"db": {"hosts": ["db.example.com"], "addresses": ["203.0.113.10"],
                             "ports": [{"number": 5432, "protocol": "TCP"}]}})),
    # --- MR257: the egress gateway cannot see the entry ------------------------------------------------------------
    Case("MR257", "MR257",
         edge({"web": web(egress=["stripe"])},
              egress={"stripe": {**STRIPE, "namespace": "shop", "exportTo": ["."], "gateway": "egress"}}),
         [(ERROR, "mesh.egress.stripe.exportTo")],
         edge({"web": web(egress=["stripe"])},
              egress={"stripe": {**STRIPE, "namespace": "shop", "exportTo": [".", "istio-egress"],
                                 "gateway": "egress"}})),
    # --- MR258: wildcard through a gateway -------------------------------------------------------------------------
    Case("MR258", "MR258",
         edge({"web": web(egress=["google"])},
              egress={"google": {**STRIPE, "hosts": ["*.googleapis.com"], "resolution": "NONE",
                                 "gateway": "egress"}}),
         [(ERROR, "mesh.egress.google.hosts.0")],
         edge({"web": web(egress=["google"])},
              egress={"google": {**STRIPE, "hosts": ["*.googleapis.com"], "resolution": "NONE"}})),
    # --- MR259: plaintext exit in production -----------------------------------------------------------------------
    Case("MR259", "MR259",
         edge({"web": web(egress=["cnn"])}, **PROD,
              egress={"cnn": {"hosts": ["edition.cnn.com"], "ports": [{"number": 80, "protocol": "HTTP"}]}}),
         [(WARNING, "mesh.egress.cnn.ports.0")],
         edge({"web": web(egress=["cnn"])}, **PROD,
              egress={"cnn": {"hosts": ["edition.cnn.com"],
                              "ports": [{"number": 80, "protocol": "HTTP", "originateTls": True}]}})),

    # --- MR260: token validation with an undefined issuer ----------------------------------------------------------
    Case("MR260", "MR260",
         edge({"web": web(access=USERS)}, endUserAuth=auth(workloads={"web": {"issuers": ["auth", "okta"]}})),
         [(ERROR, "mesh.endUserAuth.workloads.web.issuers.1")],
         edge({"web": web(access=USERS)}, endUserAuth=auth(workloads={"web": {"issuers": ["auth"]}}))),
    # --- MR261: rule on an issuer the workload does not validate ---------------------------------------------------
    Case("MR261", "MR261",
         edge({"web": web(access=USERS), "api": web(access=USERS)},
              endUserAuth=auth(workloads={"api": {"issuers": ["auth"]}})),
         [(ERROR, "mesh.services.web.access.allowUsers.0.issuer")],
         edge({"web": web(access=USERS), "api": web(access=USERS)},
              endUserAuth=auth(namespaces={"shop": {"issuers": ["auth"]}}))),
    # --- MR262: tokens validated, never required -------------------------------------------------------------------
    Case("MR262", "MR262",
         edge({"web": web()}, endUserAuth=auth(workloads={"web": {"issuers": ["auth"]}})),
         [(WARNING, "mesh.endUserAuth.workloads.web.requireToken")],
         edge({"web": web()}, endUserAuth=auth(workloads={"web": {"issuers": ["auth"], "requireToken": True}}))),
    Case("MR262-gateway", "MR262",
         edge({}, endUserAuth=auth(gateways={"ingress": {"issuers": ["auth"]}})),
         [(WARNING, "mesh.endUserAuth.gateways.ingress.requireToken")],
         edge({}, endUserAuth=auth(gateways={"ingress": {"issuers": ["auth"], "requireToken": True,
                                                         "exceptPaths": ["/healthz"]}}))),
    # --- MR263: validation for an unknown service or a gateway that is not ingress ---------------------------------
    Case("MR263", "MR263",
         edge({}, endUserAuth=auth(gateways={"egress": {"issuers": ["auth"], "requireToken": True}})),
         [(ERROR, "mesh.endUserAuth.gateways.egress")],
         edge({}, endUserAuth=auth(gateways={"ingress": {"issuers": ["auth"], "requireToken": True}}))),
    # --- MR264: namespace the stack does not manage ----------------------------------------------------------------
    Case("MR264", "MR264",
         edge({}, endUserAuth=auth(namespaces={"shp": {"issuers": ["auth"], "requireToken": True}})),
         [(WARNING, "mesh.endUserAuth.namespaces.shp")],
         # The root namespace validates mesh-wide.
         edge({}, endUserAuth=auth(namespaces={"istio-system": {"issuers": ["auth"], "requireToken": True}}))),
    # --- MR265: keys over plain HTTP in production -----------------------------------------------------------------
    Case("MR265", "MR265",
         edge({"web": web(access=USERS)}, **PROD,
              endUserAuth={"issuers": {"auth": {**ISSUER, "jwksUri": "http://keycloak.auth:8080/certs"}},
                           "workloads": {"web": {"issuers": ["auth"]}}}),
         [(WARNING, "mesh.endUserAuth.issuers.auth.jwksUri")],
         edge({"web": web(access=USERS)}, **PROD,
              endUserAuth=auth(workloads={"web": {"issuers": ["auth"]}}))),
    # --- MR266: end users on a service nothing inspects at HTTP level ----------------------------------------------
    Case("MR266", "MR266",
         edge({"web": svc(ports=[{"port": 5432, "name": "tcp-db"}], access=USERS)},
              endUserAuth=auth(workloads={"web": {"issuers": ["auth"]}})),
         [(ERROR, "mesh.endUserAuth.workloads.web"), (ERROR, "mesh.services.web.access.allowUsers")],
         edge({"web": svc(ports=[{"port": 5432, "name": "http-db"}], access=USERS)},
              endUserAuth=auth(workloads={"web": {"issuers": ["auth"]}}))),
    Case("MR266-ambient", "MR266",
         mesh({"web": web(access=USERS)}, namespaces={"shop": {"mode": "ambient"}},
              controlPlane={"install": False, "ambient": True},
              endUserAuth=auth(workloads={"web": {"issuers": ["auth"]}})),
         [(ERROR, "mesh.endUserAuth.workloads.web"), (ERROR, "mesh.services.web.access.allowUsers")],
         mesh({"web": web(access=USERS)}, namespaces={"shop": {"mode": "ambient", "waypoint": True}},
              controlPlane={"install": False, "ambient": True},
              endUserAuth=auth(workloads={"web": {"issuers": ["auth"]}}))),
    # --- MR267: a token requirement over TCP ports --------------------------------------------------------------
    Case("MR267", "MR267",
         edge({"api": web(), "cache": svc(ports=[{"port": 6379, "name": "tcp-redis"}])},
              endUserAuth=auth(namespaces={"shop": {"issuers": ["auth"], "requireToken": True}})),
         [(WARNING, "mesh.endUserAuth.namespaces.shop.requireToken")],
         edge({"api": web(), "cache": svc(ports=[{"port": 6379, "name": "tcp-redis"}])},
              endUserAuth=auth(workloads={"api": {"issuers": ["auth"], "requireToken": True}}))),
]


@pytest.mark.parametrize("case", EDGE_CASES, ids=[case.id for case in EDGE_CASES])
def test_failing_config_trips_the_check(case: Case):
    findings = run(case.failing)
    assert found(case.failing, case.code) == case.expected
    # One mistake, one code: no other check reports the same config.
    assert {f.code for f in findings} == {case.code}, [str(f) for f in findings]


@pytest.mark.parametrize("case", EDGE_CASES, ids=[case.id for case in EDGE_CASES])
def test_near_miss_passes(case: Case):
    assert [str(f) for f in run(case.passing)] == []


@pytest.mark.parametrize("case", EDGE_CASES, ids=[case.id for case in EDGE_CASES])
def test_messages_say_what_why_and_the_fix(case: Case):
    for finding in run(case.failing):
        assert finding.path.startswith("mesh.")
        assert re.search(r"; expected .+, got .+", finding.message), finding.message


def test_every_edge_check_has_cases():
    codes = {case.code for case in EDGE_CASES}
    assert codes == {c.code for c in CHECKS if "MR250" <= c.code <= "MR269"}


@pytest.mark.parametrize("stack_file", STACKS, ids=lambda p: p.name)
def test_stacks_have_no_edge_errors(stack_file):
    codes = {case.code for case in EDGE_CASES}
    assert [str(f) for f in run_checks(load_stack_file(stack_file))
            if f.code in codes and f.severity is ERROR] == []


def test_an_undeclared_dependency_says_what_registry_only_does():
    registry_only = run(edge({"web": web(egress=["stripe"])}))
    allow_any = run(mesh({"web": web(egress=["stripe"])}))
    assert "502" in registry_only[0].message and "REGISTRY_ONLY" in registry_only[0].message
    assert "passthrough" in allow_any[0].message


def test_a_namespace_wide_requirement_covers_the_workloads_below_it():
    data = edge({"web": web()}, endUserAuth=auth(namespaces={"shop": {"issuers": ["auth"], "requireToken": True}},
                                                 workloads={"web": {"issuers": ["auth"]}}))
    assert found(data, "MR262") == []
