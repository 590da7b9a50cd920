"""Egress (ServiceEntries, TLS origination, egress gateway routing) and end-user authentication (RequestAuthentication,
rules on request principals and claims): config errors at their paths, the planned objects against Istio's CRDs, and
Istio's own egress and JWT tasks written as stack config, compared with the objects those tasks apply."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import PROPERTY_COUNTS
from mesh_rollout.checks import errors, run_checks
from mesh_rollout.plan import plan
from mesh_rollout.plan.access import plan_access
from mesh_rollout.plan.egress import plan_egress
from mesh_rollout.spec import ConfigError, ExternalService, parse_mesh
from test_properties import istio_schemas as property_schemas

JWKS_URI = "https://raw.githubusercontent.com/istio/istio/release-1.30/security/tools/jwt/samples/jwks.json"
JWKS = json.dumps({"keys": [{"kty": "RSA", "kid": "k1", "e": "AQAB", "n": "xAE7eB6qugXyCAG3yhh7pkDkT65pHymX"}]})


def mesh(**extra: Any) -> dict[str, Any]:
    """A mesh with namespace ``shop``, service ``web`` (HTTP) and an egress gateway ``egress``."""
    data: dict[str, Any] = {
        "controlPlane": {"install": False, "gateways": {"egress": {"kind": "egress", "namespace": "istio-egress"},
                                                        "ingress": {"namespace": "istio-ingress"}}},
        "namespaces": {"shop": {}},
        "services": {"web": {"namespace": "shop", "ports": [{"port": 8080, "name": "http"}]}},
    }
    data.update(extra)
    return data


def problems(data: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        parse_mesh(data)
    return [(problem.path, problem.message) for problem in caught.value.problems]


def without_labels(manifest: dict[str, Any]) -> dict[str, Any]:
    """An object as the tasks write it: no managed-by label."""
    result = copy.deepcopy(manifest)
    result["metadata"].pop("labels", None)
    return result


STRIPE = {"hosts": ["api.stripe.com"], "ports": [{"number": 443, "protocol": "HTTPS"}]}


# --- config errors name their path ----------------------------------------------------------------------------------

SPEC_ERRORS = [
    ({"egress": {"all": {**STRIPE, "hosts": ["*"]}}}, "mesh.egress.all.hosts.0", "'*' is refused"),
    ({"egress": {"short": {**STRIPE, "hosts": ["stripe"]}}}, "mesh.egress.short.hosts.0", "short name"),
    ({"egress": {"wild": {**STRIPE, "hosts": ["*.example.com"]}}}, "mesh.egress.wild",
     "resolution DNS cannot resolve a wildcard host"),
    ({"egress": {"s": {**STRIPE, "resolution": "STATIC"}}}, "mesh.egress.s", "resolution STATIC needs endpoints"),
    ({"egress": {"s": {**STRIPE, "endpoints": ["203.0.113.7"]}}}, "mesh.egress.s", "with resolution STATIC only"),
    ({"egress": {"s": {**STRIPE, "resolution": "STATIC", "endpoints": ["db.example.com"]}}},
     "mesh.egress.s.endpoints.0", "not an IP address"),
    ({"egress": {"s": {**STRIPE, "ports": [{"number": 443, "protocol": "HTTPS", "originateTls": True}]}}},
     "mesh.egress.s.ports.0", "wrap TLS in TLS"),
    ({"egress": {"s": {**STRIPE, "ports": [{"number": 443, "protocol": "SMTP"}]}}},
     "mesh.egress.s.ports.0.protocol", "HTTP"),
    ({"egress": {"s": {**STRIPE, "ports": [{"number": 443, "protocol": "TLS"}, {"number": 443, "protocol": "TCP"}]}}},
     "mesh.egress.s.ports", "port 443 is listed twice"),
    ({"egress": {"s": {**STRIPE, "exportTo": ["*", "shop"]}}}, "mesh.egress.s.exportTo", "cannot be combined"),
    ({"egress": {"s": {**STRIPE, "exportTo": ["~"]}}}, "mesh.egress.s.exportTo", "hides the entry"),
    ({"egress": {"s": {**STRIPE, "exportTo": ["Shop"]}}}, "mesh.egress.s.exportTo", "must be *, . or a namespace"),
    ({"egress": {"s": {**STRIPE, "addresses": ["10.0.0.0/8"]}}}, "mesh.egress.s", "CIDR addresses"),
    ({"egress": {"s": {**STRIPE, "addresses": ["10.0.0.1/8"]}}}, "mesh.egress.s.addresses.0", "no host bits"),
    ({"egress": {"db": {"hosts": ["db.example.com"], "ports": [{"number": 5432, "protocol": "TCP"}],
                        "gateway": "egress"}}}, "mesh.egress.db", "TCP port(s) 5432 cannot be routed"),
    ({"egress": {"s": {"hosts": ["a.example.com"], "gateway": "egress",
                       "ports": [{"number": 80, "protocol": "HTTP"}, {"number": 8080, "protocol": "HTTP"}]}}},
     "mesh.egress.s", "expected one HTTP port, got 80, 8080"),
    ({"egress": {"s": {**STRIPE, "caCertificates": "/etc/ssl/certs/ca-certificates.crt"}}}, "mesh.egress.s",
     "no port has originateTls"),
    ({"endUserAuth": {"issuers": {"a": {"issuer": "x", "jwksUri": JWKS_URI, "jwks": JWKS}}}},
     "mesh.endUserAuth.issuers.a", "not both"),
    ({"endUserAuth": {"issuers": {"a": {"issuer": "x", "jwksUri": "ftp://keys.example.com/jwks"}}}},
     "mesh.endUserAuth.issuers.a.jwksUri", "http:// or https://"),
    ({"endUserAuth": {"issuers": {"a": {"issuer": "x", "jwks": "{keys: []}"}}}},
     "mesh.endUserAuth.issuers.a.jwks", "JSON Web Key Set"),
    ({"endUserAuth": {"issuers": {"a": {"issuer": ""}}}}, "mesh.endUserAuth.issuers.a.issuer", "at least 1"),
    ({"endUserAuth": {"issuers": {"a": {"issuer": "x",
                                        "outputClaimToHeaders": [{"header": "x user", "claim": "sub"}]}}}},
     "mesh.endUserAuth.issuers.a.outputClaimToHeaders.0.header", "pattern"),
    ({"endUserAuth": {"issuers": {"a": {"issuer": "x", "fromHeaders": [{"name": "x:jwt"}]}}}},
     "mesh.endUserAuth.issuers.a.fromHeaders.0.name", "not an HTTP header name"),
    ({"endUserAuth": {"namespaces": {"shop": {"issuers": ["a"], "exceptPaths": ["/healthz"]}}}},
     "mesh.endUserAuth.namespaces.shop", "expected requireToken: true"),
    ({"endUserAuth": {"workloads": {"web": {"issuers": []}}}}, "mesh.endUserAuth.workloads.web.issuers", "at least 1"),
    ({"services": {"web": {"namespace": "shop", "access": {"allowUsers": [
        {"issuer": "a", "claims": [{"claim": "groups]", "values": ["g"]}]}]}}}},
     "mesh.services.web.access.allowUsers.0.claims.0.claim", "without brackets"),
    ({"services": {"web": {"namespace": "shop", "access": {"allowUsers": [
        {"issuer": "a", "claims": [{"claim": "groups", "values": []}]}]}}}},
     "mesh.services.web.access.allowUsers.0.claims.0.values", "at least 1"),
    ({"services": {"web": {"namespace": "shop", "egress": ["Stripe"]}}}, "mesh.services.web.egress.0", "DNS label"),
]


@pytest.mark.parametrize("edit,path,expected", SPEC_ERRORS, ids=[p for _, p, _ in SPEC_ERRORS])
def test_config_errors_name_their_path(edit, path, expected):
    found = problems(mesh(**edit))
    assert [p for p, _ in found] == [path], found
    assert expected in found[0][1], found


# --- plan: objects and their order ----------------------------------------------------------------------------------

def test_every_planned_object_validates_strictly_against_the_crds(istio_schemas):
    spec = parse_mesh(mesh(
        services={"web": {"namespace": "shop", "ports": [{"port": 8080, "name": "http"}],
                          "egress": ["stripe", "cnn", "db", "legacy", "wild"],
                          "access": {"allowFrom": ["shop/web"], "allowUsers": [
                              {"issuer": "auth0", "subjects": ["alice"], "methods": ["GET"], "paths": ["/orders/*"],
                               "claims": [{"claim": ["realm_access", "roles"], "values": ["admin"]}]}]}}},
        egress={
            "stripe": {**STRIPE, "exportTo": ["shop", "istio-egress"], "gateway": "egress"},
            "cnn": {"hosts": ["edition.cnn.com", "cnn.com"], "gateway": "egress",
                    "ports": [{"number": 80, "protocol": "HTTP", "originateTls": True}]},
            "db": {"hosts": ["db.example.com"], "addresses": ["203.0.113.0/24"], "resolution": "NONE",
                   "ports": [{"number": 5432, "protocol": "TCP", "name": "tcp-postgres"}], "namespace": "shop",
                   "exportTo": ["."]},
            "legacy": {"hosts": ["legacy.example.com"], "resolution": "STATIC", "endpoints": ["203.0.113.7"],
                       "ports": [{"number": 8443, "protocol": "TLS", "targetPort": 443}]},
            "wild": {"hosts": ["*.googleapis.com"], "resolution": "NONE",
                     "ports": [{"number": 443, "protocol": "HTTPS"}]},
        },
        endUserAuth={
            "issuers": {"auth0": {"issuer": "https://example.eu.auth0.com/", "jwksUri": JWKS_URI,
                                  "audiences": ["shop"], "fromHeaders": [{"name": "x-jwt", "prefix": "Bearer "}],
                                  "fromParams": ["token"], "forwardOriginalToken": True,
                                  "outputClaimToHeaders": [{"header": "x-user", "claim": "sub"}]},
                        "inline": {"issuer": "inline@example.com", "jwks": JWKS}},
            "namespaces": {"shop": {"issuers": ["inline"], "requireToken": True, "exceptPaths": ["/healthz"]}},
            "workloads": {"web": {"issuers": ["auth0"]}},
            "gateways": {"ingress": {"issuers": ["auth0"], "requireToken": True}},
        }))
    assert [str(f) for f in errors(run_checks(spec))] == []
    mesh_plan = plan(spec)
    kinds = {o.kind for o in mesh_plan.egress.objects + mesh_plan.access.objects}
    assert kinds == {"ServiceEntry", "DestinationRule", "Gateway", "VirtualService", "RequestAuthentication",
                     "AuthorizationPolicy"}
    objects = [o.manifest for o in mesh_plan.objects if o.manifest["apiVersion"].endswith("istio.io/v1")]
    assert all(istio_schemas.covers(m) for m in objects)
    assert [p for m in objects for p in istio_schemas.errors(m)] == []
    # Per host: two VirtualServices and two TLS-origination DestinationRules for cnn.
    assert [o.key for o in mesh_plan.egress.objects if o.manifest["metadata"]["name"].startswith("cnn")] == [
        "DestinationRule/istio-system/cnn-0", "DestinationRule/istio-system/cnn-1", "ServiceEntry/istio-system/cnn",
        "Gateway/istio-system/cnn", "VirtualService/istio-system/cnn-0", "VirtualService/istio-system/cnn-1"]
    allow = mesh_plan.access.object("AuthorizationPolicy/shop/web-allow").manifest["spec"]["rules"]
    assert allow[-1] == {"from": [{"source": {"requestPrincipals": ["https://example.eu.auth0.com//alice"]}}],
                         "to": [{"operation": {"methods": ["GET"], "paths": ["/orders/*"]}}],
                         "when": [{"key": "request.auth.claims[realm_access][roles]", "values": ["admin"]}]}


def test_tls_origination_rule_comes_before_the_entry_that_sends_plain_http_to_443():
    entry = ExternalService.model_validate({"hosts": ["edition.cnn.com"],
                                            "ports": [{"number": 80, "protocol": "HTTP", "originateTls": True}]})
    objects = plan_egress({"cnn": entry}).objects
    assert [o.key for o in objects] == ["DestinationRule/istio-system/cnn", "ServiceEntry/istio-system/cnn"]
    assert objects[1].depends_on == ("DestinationRule/istio-system/cnn",)
    assert objects[1].manifest["spec"]["ports"] == [{"number": 80, "protocol": "HTTP", "name": "http-80",
                                                     "targetPort": 443}]


def test_token_validation_comes_before_rules_on_principals_and_the_requirement():
    spec = parse_mesh(mesh(
        services={"web": {"namespace": "shop", "access": {"allowUsers": [{"issuer": "a"}]}}},
        endUserAuth={"issuers": {"a": {"issuer": "a@example.com", "jwks": JWKS}},
                     "namespaces": {"istio-system": {"issuers": ["a"], "requireToken": True}}}))
    access = plan(spec).access
    assert [o.key for o in access.objects] == ["RequestAuthentication/istio-system/jwt",
                                               "AuthorizationPolicy/shop/web-allow",
                                               "AuthorizationPolicy/istio-system/jwt-required"]
    # A mesh-wide RequestAuthentication (root namespace) validates the tokens the rule in `shop` relies on.
    assert access.objects[1].depends_on == ("RequestAuthentication/istio-system/jwt",)
    assert access.objects[2].depends_on == ("RequestAuthentication/istio-system/jwt",)
    assert access.objects[0].manifest["spec"] == {"jwtRules": [{"issuer": "a@example.com", "jwks": JWKS}]}


def test_allow_users_on_an_exposed_service_does_not_let_the_gateway_in_without_a_token():
    base = {"namespace": "shop", "expose": {"gateway": "ingress", "hosts": ["shop.example.com"]}}
    callers = parse_mesh(mesh(services={"web": {**base, "access": {"allowFrom": []}}}))
    users = parse_mesh(mesh(services={"web": {**base, "access": {"allowUsers": [{"issuer": "a"}]}}},
                            endUserAuth={"issuers": {"a": {"issuer": "a@example.com"}},
                                         "workloads": {"web": {"issuers": ["a"]}}}))
    gateway_rule = {"from": [{"source": {"principals": ["cluster.local/ns/istio-ingress/sa/ingress"]}}]}
    assert plan(callers).access.object("AuthorizationPolicy/shop/web-allow").manifest["spec"]["rules"] == [
        gateway_rule]
    assert plan(users).access.object("AuthorizationPolicy/shop/web-allow").manifest["spec"]["rules"] == [
        {"from": [{"source": {"requestPrincipals": ["a@example.com/*"]}}]}]


def test_ambient_waypoint_namespaces_are_targeted_through_the_waypoint():
    spec = parse_mesh(mesh(
        controlPlane={"install": False, "ambient": True},
        namespaces={"shop": {"mode": "ambient", "waypoint": True}},
        services={"web": {"namespace": "shop", "access": {"allowUsers": [{"issuer": "a"}]}}},
        endUserAuth={"issuers": {"a": {"issuer": "a@example.com"}}, "workloads": {"web": {"issuers": ["a"]}},
                     "namespaces": {"shop": {"issuers": ["a"], "requireToken": True}}}))
    access = plan(spec).access
    assert access.object("RequestAuthentication/shop/web-jwt").manifest["spec"]["targetRefs"] == [
        {"kind": "Service", "group": "", "name": "web"}]
    assert access.object("RequestAuthentication/shop/jwt").manifest["spec"]["targetRefs"] == [
        {"kind": "Gateway", "group": "gateway.networking.k8s.io", "name": "waypoint"}]


# --- Istio's tasks, as stack config ---------------------------------------------------------------------------------
# Each task's objects are written out below as Istio's documentation applies them (tasks/traffic-management/egress/…,
# tasks/security/authentication/authn-policy and tasks/security/authorization/authz-jwt), in the namespace the stack
# config names. Differences that change nothing are normalised, and each is explained where it is.

TASK_JWKS = "https://raw.githubusercontent.com/istio/istio/release-1.30/security/tools/jwt/samples/jwks.json"


def istio(kind: str, name: str, namespace: str, spec: dict[str, Any], group: str = "networking") -> dict[str, Any]:
    return {"apiVersion": f"{group}.istio.io/v1", "kind": kind, "metadata": {"name": name, "namespace": namespace},
            "spec": spec}


def test_accessing_external_services_task():
    """Egress control task: httpbin.org over HTTP, www.google.com over HTTPS, from a REGISTRY_ONLY mesh."""
    config = mesh(
        controlPlane={"install": False, "meshConfig": {"outboundTrafficPolicy": "REGISTRY_ONLY"}},
        namespaces={"default": {}},
        services={"curl": {"namespace": "default", "egress": ["httpbin-ext", "google"]}},
        egress={"httpbin-ext": {"namespace": "default", "hosts": ["httpbin.org"],
                                "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}]},
                "google": {"namespace": "default", "hosts": ["www.google.com"],
                           "ports": [{"number": 443, "name": "https", "protocol": "HTTPS"}]}})
    spec = parse_mesh(config)
    assert errors(run_checks(spec)) == []
    task = [
        istio("ServiceEntry", "google", "default", {
            "hosts": ["www.google.com"], "ports": [{"number": 443, "name": "https", "protocol": "HTTPS"}],
            "resolution": "DNS", "location": "MESH_EXTERNAL"}),
        istio("ServiceEntry", "httpbin-ext", "default", {
            "hosts": ["httpbin.org"], "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}],
            "resolution": "DNS", "location": "MESH_EXTERNAL"}),
    ]
    ours = [without_labels(o.manifest) for o in plan(spec).egress.objects]
    # exportTo: ["*"] is what an entry without exportTo gets (meshConfig's default), written out.
    for manifest in ours:
        assert manifest["spec"].pop("exportTo") == ["*"]
    assert ours == task


def test_tls_origination_task():
    """Egress TLS origination task: the application calls http://edition.cnn.com, the sidecar opens TLS to 443."""
    spec = parse_mesh(mesh(egress={"edition-cnn-com": {
        "namespace": "shop", "hosts": ["edition.cnn.com"],
        "ports": [{"number": 80, "name": "http-port", "protocol": "HTTP", "originateTls": True, "targetPort": 443},
                  {"number": 443, "name": "https-port", "protocol": "HTTPS"}]}},
        services={"web": {"namespace": "shop", "egress": ["edition-cnn-com"]}}))
    task = [
        istio("DestinationRule", "edition-cnn-com", "shop", {
            "host": "edition.cnn.com",
            "trafficPolicy": {"portLevelSettings": [{"port": {"number": 80}, "tls": {"mode": "SIMPLE"}}]}}),
        istio("ServiceEntry", "edition-cnn-com", "shop", {
            "hosts": ["edition.cnn.com"],
            "ports": [{"number": 80, "name": "http-port", "protocol": "HTTP", "targetPort": 443},
                      {"number": 443, "name": "https-port", "protocol": "HTTPS"}],
            "resolution": "DNS"}),
    ]
    ours = [without_labels(o.manifest) for o in plan(spec).egress.objects]
    # location: MESH_EXTERNAL is the default the task leaves out; exportTo: ["*"] likewise.
    assert ours[1]["spec"].pop("location") == "MESH_EXTERNAL"
    assert ours[1]["spec"].pop("exportTo") == ["*"]
    assert ours == task


def _drop_empty_subset(task: list[dict[str, Any]], subset: str) -> list[dict[str, Any]]:
    """The egress gateway task's DestinationRule ``egressgateway-for-cnn`` declares subset ``cnn`` with no labels and
    no policy: it selects every gateway pod, so a route to it equals a route to the gateway host without subset. The
    task's objects, without it."""
    result = []
    for manifest in copy.deepcopy(task):
        if manifest["kind"] == "DestinationRule" and manifest["spec"].get("subsets") == [{"name": subset}]:
            continue
        for kind in ("http", "tls"):
            for route in manifest["spec"].get(kind, []):
                for destination in route["route"]:
                    if destination["destination"].get("subset") == subset:
                        del destination["destination"]["subset"]
                    destination.pop("weight", None)  # a single destination takes all traffic: weight 100
        result.append(manifest)
    return result


def test_egress_gateway_task_http_and_https():
    """Egress gateway task: HTTP on 80 and HTTPS (TLS passthrough) on 443 to edition.cnn.com via the egress gateway."""
    spec = parse_mesh(mesh(
        controlPlane={"install": False, "meshConfig": {"outboundTrafficPolicy": "REGISTRY_ONLY"},
                      "gateways": {"istio-egressgateway": {"kind": "egress", "namespace": "istio-system"}}},
        namespaces={"default": {}},
        services={"curl": {"namespace": "default", "egress": ["cnn"]}},
        egress={"cnn": {"namespace": "default", "hosts": ["edition.cnn.com"], "gateway": "istio-egressgateway",
                        "ports": [{"number": 80, "name": "http-port", "protocol": "HTTP"},
                                  {"number": 443, "name": "https", "protocol": "HTTPS"}]}}))
    assert errors(run_checks(spec)) == []
    gateway_host = "istio-egressgateway.istio-system.svc.cluster.local"
    # The task's HTTP section and its HTTPS section, as one set of objects (the task applies them one after the
    # other, each replacing the Gateway and VirtualService of the same name; here both ports are declared at once).
    task = [
        istio("ServiceEntry", "cnn", "default", {
            "hosts": ["edition.cnn.com"],
            "ports": [{"number": 80, "name": "http-port", "protocol": "HTTP"},
                      {"number": 443, "name": "https", "protocol": "HTTPS"}],
            "resolution": "DNS"}),
        istio("Gateway", "istio-egressgateway", "default", {
            "selector": {"istio": "egressgateway"},
            "servers": [{"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["edition.cnn.com"]},
                        {"port": {"number": 443, "name": "tls", "protocol": "TLS"}, "hosts": ["edition.cnn.com"],
                         "tls": {"mode": "PASSTHROUGH"}}]}),
        istio("DestinationRule", "egressgateway-for-cnn", "default", {"host": gateway_host,
                                                                      "subsets": [{"name": "cnn"}]}),
        istio("VirtualService", "direct-cnn-through-egress-gateway", "default", {
            "hosts": ["edition.cnn.com"],
            "gateways": ["istio-egressgateway", "mesh"],
            "http": [
                {"match": [{"gateways": ["mesh"], "port": 80}],
                 "route": [{"destination": {"host": gateway_host, "subset": "cnn", "port": {"number": 80}},
                            "weight": 100}]},
                {"match": [{"gateways": ["istio-egressgateway"], "port": 80}],
                 "route": [{"destination": {"host": "edition.cnn.com", "port": {"number": 80}}, "weight": 100}]}],
            "tls": [
                {"match": [{"gateways": ["mesh"], "port": 443, "sniHosts": ["edition.cnn.com"]}],
                 "route": [{"destination": {"host": gateway_host, "subset": "cnn", "port": {"number": 443}}}]},
                {"match": [{"gateways": ["istio-egressgateway"], "port": 443, "sniHosts": ["edition.cnn.com"]}],
                 "route": [{"destination": {"host": "edition.cnn.com", "port": {"number": 443}},
                            "weight": 100}]}]}),
    ]
    ours = [without_labels(o.manifest) for o in plan(spec).egress.objects]
    for manifest in ours:
        manifest["spec"].pop("location", None)  # MESH_EXTERNAL, the default
        manifest["spec"].pop("exportTo", None)  # ["*"], the default
    # Names: the stack names the Gateway and VirtualService after the external service; references follow.
    expected = json.loads(json.dumps(_drop_empty_subset(task, "cnn"))
                          .replace('"istio-egressgateway", "mesh"', '"cnn", "mesh"')
                          .replace('["istio-egressgateway"]', '["cnn"]')
                          .replace('"name": "istio-egressgateway", "namespace"', '"name": "cnn", "namespace"')
                          .replace('"direct-cnn-through-egress-gateway"', '"cnn"'))
    assert ours == expected


def test_jwt_authorization_task():
    """authz-jwt task: httpbin in foo accepts tokens of testing@secure.istio.io and allows only the principal
    testing@secure.istio.io/testing@secure.istio.io, then only with claim groups = group1."""
    def config(claims: list[dict[str, Any]]) -> dict[str, Any]:
        return mesh(namespaces={"foo": {}},
                    services={"httpbin": {"namespace": "foo", "ports": [{"port": 8000, "name": "http"}],
                                          "access": {"allowUsers": [{"issuer": "testing",
                                                                     "subjects": ["testing@secure.istio.io"],
                                                                     "claims": claims}]}}},
                    endUserAuth={"issuers": {"testing": {"issuer": "testing@secure.istio.io", "jwksUri": TASK_JWKS}},
                                 "workloads": {"httpbin": {"issuers": ["testing"]}}})

    request_authentication = istio("RequestAuthentication", "jwt-example", "foo", {
        "selector": {"matchLabels": {"app": "httpbin"}},
        "jwtRules": [{"issuer": "testing@secure.istio.io", "jwksUri": TASK_JWKS}]}, group="security")
    require_jwt = istio("AuthorizationPolicy", "require-jwt", "foo", {
        "selector": {"matchLabels": {"app": "httpbin"}}, "action": "ALLOW",
        "rules": [{"from": [{"source": {"requestPrincipals": ["testing@secure.istio.io/testing@secure.istio.io"]}}]}]},
        group="security")
    with_groups = copy.deepcopy(require_jwt)
    with_groups["spec"]["rules"][0]["when"] = [{"key": "request.auth.claims[groups]", "values": ["group1"]}]

    for claims, policy in (([], require_jwt), ([{"claim": "groups", "values": ["group1"]}], with_groups)):
        spec = parse_mesh(config(claims))
        assert errors(run_checks(spec)) == []
        ours = [without_labels(o.manifest) for o in plan(spec).access.objects]
        # Names: the stack's are <service>-jwt and <service>-allow.
        ours[0]["metadata"]["name"], ours[1]["metadata"]["name"] = "jwt-example", "require-jwt"
        assert ours == [request_authentication, policy]


def test_end_user_authentication_task_at_the_ingress_gateway():
    """authn-policy task: the ingress gateway validates tokens of testing@secure.istio.io and denies requests
    without a valid one (DENY on notRequestPrincipals: ["*"]); the per-path variant requires it on /headers only —
    written here as "everything but" (exceptPaths), the stack's form of the same requirement."""
    spec = parse_mesh(mesh(
        controlPlane={"install": False, "gateways": {"istio-ingressgateway": {"namespace": "istio-system"}}},
        endUserAuth={"issuers": {"testing": {"issuer": "testing@secure.istio.io", "jwksUri": TASK_JWKS}},
                     "gateways": {"istio-ingressgateway": {"issuers": ["testing"], "requireToken": True}}}))
    assert errors(run_checks(spec)) == []
    task = [
        istio("RequestAuthentication", "jwt-example", "istio-system", {
            "selector": {"matchLabels": {"istio": "ingressgateway"}},
            "jwtRules": [{"issuer": "testing@secure.istio.io", "jwksUri": TASK_JWKS}]}, group="security"),
        istio("AuthorizationPolicy", "frontend-ingress", "istio-system", {
            "selector": {"matchLabels": {"istio": "ingressgateway"}}, "action": "DENY",
            "rules": [{"from": [{"source": {"notRequestPrincipals": ["*"]}}]}]}, group="security"),
    ]
    ours = [without_labels(o.manifest) for o in plan(spec).access.objects]
    ours[0]["metadata"]["name"], ours[1]["metadata"]["name"] = "jwt-example", "frontend-ingress"
    assert ours == task


# --- parsing user input: a property -----------------------------------------------------------------------------------

_labels = st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True)
_hosts = st.builds(lambda a, b, wild: ("*." if wild else "") + f"{a}.{b}.com", _labels, _labels, st.booleans())
_ports = st.lists(st.fixed_dictionaries(
    {"number": st.integers(min_value=-5, max_value=70000),
     "protocol": st.sampled_from(["HTTP", "HTTPS", "TLS", "TCP", "GRPC", "HTTP2", "UDP"])},
    optional={"originateTls": st.booleans(), "targetPort": st.integers(min_value=0, max_value=70000),
              "name": st.sampled_from(["http", "tcp-db", "Bad_Name", "https-443"])}), max_size=3)



@st.composite
def _valid_entries(draw: st.DrawFn) -> dict[str, Any]:
    """An external service Istio accepts: unique hosts and ports, wildcards only with resolution NONE, TLS origination
    only on HTTP ports, gateway routing with at most one HTTP and one TLS port and no TCP."""
    resolution = draw(st.sampled_from(["DNS", "NONE", "STATIC"]))
    hosts = draw(st.lists(_hosts, min_size=1, max_size=3, unique_by=str.lower))
    if resolution == "DNS":
        hosts = [host.removeprefix("*.") for host in hosts]
        hosts = list(dict.fromkeys(hosts))
    gateway = draw(st.sampled_from([None, "egress"]))
    kinds = draw(st.lists(st.sampled_from(["HTTP", "HTTPS", "TLS", "TCP", "GRPC", "HTTP2"]), min_size=1, max_size=3))
    if gateway is not None:
        http = [k for k in kinds if k in ("HTTP", "GRPC", "HTTP2")][:1]
        tls = [k for k in kinds if k in ("HTTPS", "TLS")][:1]
        kinds = http + tls or ["HTTP"]
    numbers = draw(st.lists(st.integers(min_value=1, max_value=65535), min_size=len(kinds), max_size=len(kinds),
                            unique=True))
    ports = []
    for kind, number in zip(kinds, numbers, strict=True):
        port: dict[str, Any] = {"number": number, "protocol": kind}
        if kind in ("HTTP", "GRPC", "HTTP2") and draw(st.booleans()):
            port["originateTls"] = True
        if draw(st.booleans()):
            port["targetPort"] = draw(st.integers(min_value=1, max_value=65535))
        ports.append(port)
    entry: dict[str, Any] = {"hosts": hosts, "ports": ports, "resolution": resolution}
    if resolution == "STATIC":
        entry["endpoints"] = draw(st.lists(st.sampled_from(["203.0.113.7", "2001:db8::1"]), min_size=1, max_size=2))
    if resolution != "DNS" and draw(st.booleans()):
        entry["addresses"] = ["203.0.113.0/24"]
    if gateway is not None:
        entry["gateway"] = gateway
    entry["exportTo"] = draw(st.sampled_from([["*"], ["."], ["shop", "istio-egress"]]))
    entry["namespace"] = draw(st.sampled_from(["shop", "istio-system"]))
    return entry


_raw_entries = st.fixed_dictionaries(
    {"hosts": st.lists(_hosts, max_size=3), "ports": _ports},
    optional={"resolution": st.sampled_from(["DNS", "NONE", "STATIC", "DYNAMIC"]),
              "endpoints": st.lists(st.sampled_from(["203.0.113.7", "2001:db8::1", "db.example.com"]), max_size=2),
              "addresses": st.lists(st.sampled_from(["203.0.113.0/24", "203.0.113.1/24", "198.51.100.9"]),
                                    max_size=2),
              "exportTo": st.lists(st.sampled_from(["*", ".", "~", "shop", "istio-egress", "Bad"]), max_size=3),
              "gateway": st.sampled_from(["egress", "ingress", "nope"]),
              "namespace": st.sampled_from(["shop", "istio-system"])})
#: Valid entries, and anything-goes ones (most of which Istio, and so the spec, refuses).
_entries = st.one_of(_valid_entries(), _raw_entries)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries=st.dictionaries(_labels, _entries, max_size=3), uses=st.lists(_labels, max_size=3))
def test_any_egress_config_is_refused_at_its_path_or_plans_schema_valid_objects(entries, uses):
    schemas = property_schemas()  # not the fixture: Hypothesis would print the whole schema with a failing example
    data = mesh(egress=entries, services={"web": {"namespace": "shop", "egress": uses}})
    try:
        spec = parse_mesh(data)
    except ConfigError as error:
        PROPERTY_COUNTS["egress configs refused"] = PROPERTY_COUNTS.get("egress configs refused", 0) + 1
        # Every problem is below what was generated, and says what it is.
        assert all(p.path.startswith(("mesh.egress.", "mesh.services.web.egress")) and p.message
                   for p in error.problems), error.problems
        return
    PROPERTY_COUNTS["egress configs parsed and planned"] = PROPERTY_COUNTS.get("egress configs parsed and planned",
                                                                               0) + bool(entries)
    findings = run_checks(spec)
    assert {f.code for f in errors(findings)} <= {"MR250", "MR252", "MR254", "MR255", "MR257", "MR258"}
    objects = [o.manifest for o in plan(spec).egress.objects]
    assert len({(m["kind"], m["metadata"]["namespace"], m["metadata"]["name"]) for m in objects}) == len(objects)
    assert [p for m in objects for p in schemas.errors(m)] == []
    assert sorted(m["metadata"]["name"] for m in objects if m["kind"] == "ServiceEntry") == sorted(entries)


def test_plan_access_without_end_user_auth_is_unchanged():
    """The existing callers-only plan is what it was: no RequestAuthentication, no dependency on one."""
    spec = parse_mesh(mesh(services={"web": {"namespace": "shop", "access": {"allowFrom": ["shop/web"]}}}))
    access = plan_access(spec.services, spec.namespaces)
    assert [(o.key, o.depends_on) for o in access.objects] == [("AuthorizationPolicy/shop/web-allow", ())]


# --- README examples mean what they say -------------------------------------------------------------------------------

def readme_example(name: str) -> dict[str, Any]:
    import re

    import yaml

    from conftest import ROOT

    examples = dict(re.findall(r"```yaml\n# example: ([\w-]+)\n(.*?)```", (ROOT / "README.md").read_text(), re.S))
    return yaml.safe_load(examples[name])


def test_readme_egress_example_declares_routes_and_encrypts_what_it_says():
    spec = parse_mesh(readme_example("egress"))
    assert run_checks(spec) == []
    egress = plan(spec).egress
    assert egress.object("DestinationRule/istio-system/cnn").manifest["spec"]["trafficPolicy"] == {
        "portLevelSettings": [{"port": {"number": 80}, "tls": {"mode": "SIMPLE"}}]}
    assert egress.object("ServiceEntry/shop/ledger-db").manifest["spec"]["exportTo"] == ["."]
    route = egress.object("VirtualService/istio-system/stripe").manifest["spec"]
    assert route["gateways"] == ["stripe", "mesh"]
    assert route["tls"][0]["route"] == [{"destination": {"host": "egress.istio-egress.svc.cluster.local",
                                                         "port": {"number": 443}}}]


def test_readme_end_user_example_requires_tokens_at_the_gateway_and_claims_for_deletes():
    spec = parse_mesh(readme_example("end-user-jwt"))
    assert run_checks(spec) == []
    access = plan(spec).access
    rules = access.object("AuthorizationPolicy/shop/orders-allow").manifest["spec"]["rules"]
    assert rules == [
        {"from": [{"source": {"principals": ["cluster.local/ns/shop/sa/frontend"]}}]},
        {"from": [{"source": {"requestPrincipals": ["https://example.eu.auth0.com//*"]}}],
         "to": [{"operation": {"methods": ["DELETE"]}}],
         "when": [{"key": "request.auth.claims[groups]", "values": ["admins"]}]},
        {"from": [{"source": {"requestPrincipals": ["https://example.eu.auth0.com//*"]}}],
         "to": [{"operation": {"methods": ["GET"]}}]}]
    deny = access.object("AuthorizationPolicy/istio-ingress/ingress-require-jwt").manifest["spec"]
    assert deny["action"] == "DENY" and deny["rules"][0]["to"] == [{"operation": {"notPaths": ["/healthz"]}}]


# --- components -------------------------------------------------------------------------------------------------------

def test_egress_alone_runs_the_egress_checks_before_registering_anything():
    from mesh_rollout.egress import Egress, EgressArgs
    from test_components import refused

    problems = refused(lambda: Egress("e", EgressArgs(
        egress={"stripe": {**STRIPE, "gateway": "public"}},
        services={"web": {"namespace": "shop", "egress": ["stripe", "strpe"]}})))
    assert [p.split(":")[0] for p in problems] == ["egress.stripe.gateway", "services.web.egress.1"]
    schema = refused(lambda: Egress("e", EgressArgs(egress={"stripe": {**STRIPE, "hosts": ["*"]}})))
    assert [p.split(":")[0] for p in schema] == ["egress.stripe.hosts.0"]


def test_mesh_registers_egress_objects_under_its_egress_component_in_plan_order():
    from harness import run_program, wait
    from mesh_rollout import Mesh, MeshArgs

    data = mesh(services={"web": {"namespace": "shop", "egress": ["cnn"]}},
                egress={"cnn": {"hosts": ["edition.cnn.com"], "gateway": "egress",
                                "ports": [{"number": 80, "protocol": "HTTP", "originateTls": True}]}})
    data["observability"] = None
    holder: dict[str, Mesh] = {}
    recorder = run_program(lambda: holder.setdefault("m", Mesh("m", MeshArgs(spec=data))))
    component = holder["m"].egress
    assert wait(component.service_entries) == ["istio-system/cnn"]
    names = [r.name for r in recorder.registrations if r.parent == recorder.named("m-egress").urn]
    assert sorted(names) == ["m-egress-destinationrule-istio-system-cnn", "m-egress-gateway-istio-system-cnn",
                             "m-egress-serviceentry-istio-system-cnn", "m-egress-virtualservice-istio-system-cnn"]
    entry = recorder.named("m-egress-serviceentry-istio-system-cnn")
    rule = recorder.named("m-egress-destinationrule-istio-system-cnn")
    gateway = recorder.named("m-egress-gateway-istio-system-cnn")
    route = recorder.named("m-egress-virtualservice-istio-system-cnn")
    # The rule that encrypts port 80 exists before the entry sends it to 443; routes after what they route to.
    assert entry.dependencies == [rule.urn]
    assert {entry.urn, gateway.urn, rule.urn} <= set(route.dependencies)


_issuer_names = st.sampled_from(["auth0", "okta", "Bad"])
_issuers = st.fixed_dictionaries(
    {"issuer": st.sampled_from(["https://example.eu.auth0.com/", "testing@secure.istio.io", ""])},
    optional={"jwksUri": st.sampled_from([JWKS_URI, "http://keycloak.auth:8080/certs", "ftp://x/y", "not a url"]),
              "jwks": st.sampled_from([JWKS, "{}", "not json"]),
              "audiences": st.lists(st.sampled_from(["shop", ""]), max_size=2),
              "fromHeaders": st.lists(st.fixed_dictionaries({"name": st.sampled_from(["x-jwt", "Authorization",
                                                                                      "bad header"])},
                                                            optional={"prefix": st.just("Bearer ")}), max_size=2),
              "fromParams": st.lists(st.sampled_from(["token", ""]), max_size=2),
              "forwardOriginalToken": st.booleans(),
              "outputClaimToHeaders": st.lists(st.fixed_dictionaries(
                  {"header": st.sampled_from(["x-user", "x user"]), "claim": st.sampled_from(["sub", ""])}),
                  max_size=2)})
_jwt_policies = st.fixed_dictionaries(
    {"issuers": st.lists(_issuer_names, max_size=2)},
    optional={"requireToken": st.booleans(), "exceptPaths": st.lists(st.sampled_from(["/healthz", "/a/{**}/b", ""]),
                                                                     max_size=2)})
_users = st.lists(st.fixed_dictionaries(
    {"issuer": _issuer_names},
    optional={"subjects": st.lists(st.sampled_from(["alice", ""]), max_size=2),
              "claims": st.lists(st.fixed_dictionaries({"claim": st.sampled_from(["groups", ["a", "b"], "x]", []]),
                                                        "values": st.lists(st.sampled_from(["g1", ""]),
                                                                           max_size=2)}), max_size=2),
              "methods": st.lists(st.sampled_from(["GET", "DELETE"]), max_size=2),
              "paths": st.lists(st.sampled_from(["/orders/*", "/{*}/x", "/{a}"]), max_size=2)}), max_size=2)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(issuers=st.dictionaries(st.sampled_from(["auth0", "okta"]), _issuers, max_size=2),
       workloads=st.dictionaries(st.sampled_from(["web", "ghost"]), _jwt_policies, max_size=2),
       gateways=st.dictionaries(st.sampled_from(["ingress", "egress"]), _jwt_policies, max_size=1),
       users=st.one_of(st.none(), _users))
def test_any_end_user_config_is_refused_at_its_path_or_plans_schema_valid_objects(issuers, workloads, gateways,
                                                                                  users):
    schemas = property_schemas()
    access = {} if users is None else {"allowUsers": users}
    data = mesh(services={"web": {"namespace": "shop", "ports": [{"port": 8080, "name": "http"}], "access": access}},
                endUserAuth={"issuers": issuers, "workloads": workloads, "gateways": gateways})
    try:
        spec = parse_mesh(data)
    except ConfigError as error:
        assert all(p.path.startswith(("mesh.endUserAuth.", "mesh.services.web.access.allowUsers")) and p.message
                   for p in error.problems), error.problems
        PROPERTY_COUNTS["end-user configs refused"] = PROPERTY_COUNTS.get("end-user configs refused", 0) + 1
        return
    PROPERTY_COUNTS["end-user configs planned"] = PROPERTY_COUNTS.get("end-user configs planned", 0) + 1
    objects = [o.manifest for o in plan(spec).access.objects]
    assert [p for m in objects for p in schemas.errors(m)] == []
    # Every workload and ingress gateway that validates tokens gets its RequestAuthentication, nothing else does.
    expected = {f"{name}-jwt" for name in workloads if name == "web"} | {
        f"{name}-jwt" for name in gateways if name == "ingress"}
    assert {m["metadata"]["name"] for m in objects if m["kind"] == "RequestAuthentication"} == expected
