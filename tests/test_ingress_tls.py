"""Ingress TLS: typed config with precise errors, the Istio Gateway servers it plans (compared with Istio's
"Secure Gateways" task), cert-manager Certificates, and checks MR320-MR325
(tripping and near-miss cases; MR324 is unused: MR110 covers one host with two settings)."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import shop_config
from mesh_rollout.checks import run_checks
from mesh_rollout.plan import plan
from mesh_rollout.spec import ConfigError, parse_mesh


def httpbin(gateway: dict | None = None, expose_tls: dict | None = None, production: bool = False,
            hosts: list[str] | None = None) -> dict:
    """Istio's httpbin sample exposed through gateway ``ingress`` in istio-system, as in the secure ingress task."""
    expose: dict = {"gateway": "ingress", "hosts": hosts or ["httpbin.example.com"]}
    if expose_tls is not None:
        expose["tls"] = expose_tls
    return {
        "environment": "prod" if production else "test", "production": production,
        "controlPlane": {"install": False,
                         "gateways": {"ingress": {"namespace": "istio-system", **(gateway or {})}}},
        "namespaces": {"default": {}},
        "services": {"httpbin": {"namespace": "default", "ports": [{"port": 8000, "name": "http"}],
                                 "traffic": {"matches": [{"name": "status", "uriPrefix": "/status"},
                                                         {"name": "delay", "uriPrefix": "/delay"}]},
                                 "expose": expose}},
    }


def gateway_spec(config: dict) -> dict:
    return plan(parse_mesh(config)).traffic.object("Gateway/istio-system/ingress").manifest["spec"]


def codes(config: dict) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for item in run_checks(parse_mesh(config)):
        found.setdefault(item.code, []).append(item.path)
    return found


# --- Istio's "Secure Gateways" task, written as stack config --------------------------------------------------

# The task's Gateway (https://istio.io/latest/docs/tasks/traffic-management/ingress/secure-ingress/), its servers.
TASK_SIMPLE = yaml.safe_load("""
- port: {number: 443, name: https, protocol: HTTPS}
  tls: {mode: SIMPLE, credentialName: httpbin-credential}
  hosts: [httpbin.example.com]
""")
TASK_MUTUAL = yaml.safe_load("""
- port: {number: 443, name: https, protocol: HTTPS}
  tls: {mode: MUTUAL, credentialName: httpbin-credential}
  hosts: [httpbin.example.com]
""")
TASK_MULTIPLE_HOSTS = yaml.safe_load("""
- port: {number: 443, name: https-helloworld-credential, protocol: HTTPS}
  tls: {mode: SIMPLE, credentialName: helloworld-credential}
  hosts: [helloworld.example.com]
- port: {number: 443, name: https-httpbin-credential, protocol: HTTPS}
  tls: {mode: SIMPLE, credentialName: httpbin-credential}
  hosts: [httpbin.example.com]
""")


def https_servers(spec: dict) -> list[dict]:
    return [server for server in spec["servers"] if server["port"]["number"] == 443]


def test_secure_ingress_task_simple():
    spec = gateway_spec(httpbin({"tls": {"credentialName": "httpbin-credential"}}))
    assert https_servers(spec) == TASK_SIMPLE
    # The task serves HTTPS only; the default redirect answers port 80 with a 301 instead of serving plaintext.
    assert [s for s in spec["servers"] if s["port"]["number"] == 80] == [
        {"port": {"number": 80, "name": "http-redirect", "protocol": "HTTP"}, "hosts": ["httpbin.example.com"],
         "tls": {"httpsRedirect": True}}]
    route = plan(parse_mesh(httpbin({"tls": {"credentialName": "httpbin-credential"}}))).traffic.object(
        "VirtualService/default/httpbin").manifest["spec"]
    assert route["gateways"] == ["istio-system/ingress", "mesh"]
    assert [m["match"] for m in route["http"][:2]] == [[{"uri": {"prefix": "/status"}}],
                                                       [{"uri": {"prefix": "/delay"}}]]


def test_secure_ingress_task_mutual():
    config = httpbin({"tls": {"mode": "MUTUAL", "credentialName": "httpbin-credential",
                              "clientCaSecret": "httpbin-credential"}})
    assert https_servers(gateway_spec(config)) == TASK_MUTUAL
    assert codes(config) == {}


def test_secure_ingress_task_multiple_hosts_one_server_per_credential():
    config = httpbin({}, {"credentialName": "httpbin-credential"})
    config["services"]["helloworld"] = {"namespace": "default", "ports": [{"port": 5000, "name": "http"}],
                                        "expose": {"gateway": "ingress", "hosts": ["helloworld.example.com"],
                                                   "tls": {"credentialName": "helloworld-credential"}}}
    assert https_servers(gateway_spec(config)) == TASK_MULTIPLE_HOSTS


def test_tls_secret_shorthand_still_plans_https_next_to_plaintext():
    spec = gateway_spec(httpbin({"tlsSecret": "shop-tls"}))
    assert spec["servers"] == [
        {"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["httpbin.example.com"]},
        {"port": {"number": 443, "name": "https", "protocol": "HTTPS"}, "hosts": ["httpbin.example.com"],
         "tls": {"mode": "SIMPLE", "credentialName": "shop-tls"}}]


def test_min_protocol_version_and_plaintext_hosts_share_the_gateway():
    config = httpbin({}, {"credentialName": "httpbin-credential", "minProtocolVersion": "TLSV1_3"})
    config["services"]["docs"] = {"namespace": "default", "expose": {"gateway": "ingress",
                                                                     "hosts": ["docs.example.com"]}}
    spec = gateway_spec(config)
    assert spec["servers"][0] == {"port": {"number": 80, "name": "http", "protocol": "HTTP"},
                                  "hosts": ["docs.example.com"]}
    assert https_servers(spec)[0]["tls"] == {"mode": "SIMPLE", "credentialName": "httpbin-credential",
                                             "minProtocolVersion": "TLSV1_3"}


def test_istio_gateway_validates_against_istio_schema(istio_schemas):
    config = httpbin({"tls": {"mode": "MUTUAL", "credentialName": "c", "minProtocolVersion": "TLSV1_2"}})
    manifest = plan(parse_mesh(config)).traffic.object("Gateway/istio-system/ingress").manifest
    assert istio_schemas.errors(manifest) == []


# --- cert-manager ------------------------------------------------------------------------------------------------

def test_cert_manager_certificate_per_credential_in_the_gateway_namespace():
    config = httpbin({"certManager": {"issuer": "letsencrypt", "kind": "ClusterIssuer"}, "tls": {}},
                     hosts=["httpbin.example.com", "www.httpbin.example.com"])
    traffic = plan(parse_mesh(config)).traffic
    certificate = traffic.object("Certificate/istio-system/ingress-httpbin-tls").manifest
    assert certificate["apiVersion"] == "cert-manager.io/v1"
    assert certificate["spec"] == {"secretName": "ingress-httpbin-tls",
                                   "dnsNames": ["httpbin.example.com", "www.httpbin.example.com"],
                                   "issuerRef": {"name": "letsencrypt", "kind": "ClusterIssuer",
                                                 "group": "cert-manager.io"}}
    gateway = traffic.object("Gateway/istio-system/ingress")
    assert https_servers(gateway.manifest["spec"])[0]["tls"]["credentialName"] == "ingress-httpbin-tls"
    assert "Certificate/istio-system/ingress-httpbin-tls" in gateway.depends_on
    assert codes(config) == {}


def test_certificate_structure():
    """No cert-manager CRD schema is vendored: the Certificate is checked against the fields cert-manager v1
    requires (secretName, issuerRef.name, dnsNames) and nothing else."""
    config = httpbin({"certManager": {"issuer": "internal", "kind": "Issuer"}},
                     {"credentialName": "httpbin-credential"})
    certificate = plan(parse_mesh(config)).traffic.object("Certificate/istio-system/httpbin-credential").manifest
    assert set(certificate["spec"]) == {"secretName", "dnsNames", "issuerRef"}
    assert certificate["spec"]["issuerRef"]["kind"] == "Issuer"
    assert certificate["metadata"]["namespace"] == "istio-system"


def test_no_certificate_without_cert_manager():
    traffic = plan(parse_mesh(httpbin({"tls": {"credentialName": "c"}}))).traffic
    assert not [o for o in traffic.objects if o.kind == "Certificate"]


# --- config errors -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("gateway,where,words", [
    ({"tlsSecret": "a", "tls": {"credentialName": "a"}}, "mesh.controlPlane.gateways.ingress",
     "tlsSecret (shorthand) or tls"),
    ({"tls": {"mode": "PASSTHROUGH"}}, "mesh.controlPlane.gateways.ingress.tls.mode", "SIMPLE"),
    ({"tls": {"credentialName": "Bad_Name"}}, "mesh.controlPlane.gateways.ingress.tls.credentialName", "DNS"),
    ({"tls": {"credentialName": "a/b/c"}}, "mesh.controlPlane.gateways.ingress.tls.credentialName",
     "namespace/name"),
    ({"tls": {"minProtocolVersion": "TLSV1_1"}}, "mesh.controlPlane.gateways.ingress.tls.minProtocolVersion",
     "TLSV1_2"),
    ({"certManager": {"issuer": "x", "kind": "Vault"}}, "mesh.controlPlane.gateways.ingress.certManager.kind",
     "ClusterIssuer"),
    ({"api": "ingress-nginx"}, "mesh.controlPlane.gateways.ingress.api", "gateway-api"),
    ({"kind": "egress", "tls": {"credentialName": "x"}}, "mesh.controlPlane.gateways.ingress",
     "egress gateway takes none"),
])
def test_config_errors_name_the_path(gateway, where, words):
    with pytest.raises(ConfigError) as error:
        parse_mesh(httpbin(gateway))
    text = str(error.value)
    assert where in text and words in text, text


def test_expose_tls_error_path():
    with pytest.raises(ConfigError) as error:
        parse_mesh(httpbin({}, {"credentialName": "x", "httpsRedirect": "sometimes"}))
    assert "mesh.services.httpbin.expose.tls.httpsRedirect" in str(error.value)


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1, max_size=30))
def test_any_credential_name_is_accepted_or_refused_at_its_path(name):
    try:
        spec = parse_mesh(httpbin({"tls": {"credentialName": name}}))
    except ConfigError as error:
        assert "mesh.controlPlane.gateways.ingress.tls.credentialName" in str(error)
        return
    tls = spec.control_plane.gateways["ingress"].tls
    assert tls is not None and tls.credential_name == name
    # Whatever is accepted plans a Gateway whose credential is the secret's name.
    servers = https_servers(gateway_spec(httpbin({"tls": {"credentialName": name}})))
    assert servers[0]["tls"]["credentialName"] == name.rpartition("/")[2]


# --- checks ------------------------------------------------------------------------------------------------------

def test_mr320_production_plaintext_only_and_no_redirect():
    assert codes(httpbin(production=True)).get("MR320") == ["mesh.services.httpbin.expose.tls"]
    assert codes(httpbin({"tlsSecret": "t"}, production=True)).get("MR320") == [
        "mesh.controlPlane.gateways.ingress.tlsSecret"]
    assert codes(httpbin({}, {"credentialName": "t", "httpsRedirect": False}, production=True)).get("MR320") == [
        "mesh.services.httpbin.expose.tls.httpsRedirect"]
    # near misses: redirected TLS in production, plaintext outside production
    assert "MR320" not in codes(httpbin({"tls": {"credentialName": "t"}}, production=True))
    assert "MR320" not in codes(httpbin())


def test_mr321_tls_without_credential():
    assert codes(httpbin({}, {"mode": "SIMPLE"})).get("MR321") == ["mesh.services.httpbin.expose.tls.credentialName"]
    assert codes(httpbin({"tls": {}})).get("MR321") == ["mesh.controlPlane.gateways.ingress.tls.credentialName"]
    assert "MR321" not in codes(httpbin({"tls": {}, "certManager": {"issuer": "le"}}))
    # the host gets no HTTPS server: nothing to serve it with
    assert https_servers(gateway_spec(httpbin({"tls": {}}))) == []


def test_mr322_mutual_client_ca():
    base = {"mode": "MUTUAL", "credentialName": "cred"}
    found = run_checks(parse_mesh(httpbin({}, base)))
    assert [(f.code, f.severity.value) for f in found] == [("MR322", "warning")]
    assert "-cacert" in found[0].message
    assert codes(httpbin({}, {**base, "clientCaSecret": "other-ca"})).get("MR322") == [
        "mesh.services.httpbin.expose.tls.clientCaSecret"]
    assert errors_of(httpbin({}, {**base, "clientCaSecret": "other-ca"})) == ["MR322"]
    for good in ("cred", "cred-cacert"):
        assert "MR322" not in codes(httpbin({}, {**base, "clientCaSecret": good}))
    assert "MR322" not in codes(httpbin({}, {"credentialName": "cred"}))


def errors_of(config: dict) -> list[str]:
    return [f.code for f in run_checks(parse_mesh(config)) if f.severity.value == "error"]


def test_mr323_credential_in_another_namespace():
    assert codes(httpbin({}, {"credentialName": "default/httpbin-credential"})).get("MR323") == [
        "mesh.services.httpbin.expose.tls.credentialName"]
    assert "MR323" not in codes(httpbin({}, {"credentialName": "istio-system/httpbin-credential"}))


def test_same_host_with_different_tls_is_reported_by_mr110():
    """One host on one gateway can only differ in TLS when two services expose it: MR110 already reports that."""
    config = httpbin({}, {"credentialName": "a"})
    config["services"]["other"] = {"namespace": "default",
                                   "expose": {"gateway": "ingress", "hosts": ["HTTPBIN.example.com"],
                                              "tls": {"credentialName": "b"}}}
    assert sorted(codes(config)["MR110"]) == ["mesh.services.httpbin.expose.hosts.0",
                                              "mesh.services.other.expose.hosts.0"]


def test_mr325_certificate_cannot_cover_host():
    found = run_checks(parse_mesh(httpbin({"tls": {}, "certManager": {"issuer": "le"}}, hosts=["*.example.com"])))
    assert [(f.code, f.severity.value) for f in found] == [("MR325", "warning")]
    assert "DNS-01" in found[0].message
    assert "MR325" not in codes(httpbin({"tls": {"credentialName": "wild"}}, hosts=["*.example.com"]))
    assert "MR325" not in codes(httpbin({"tls": {}, "certManager": {"issuer": "le"}}, hosts=["www.example.com"]))


def test_prod_stack_redirects_to_https():
    from conftest import ROOT
    from mesh_rollout.spec import load_stack_file

    spec = load_stack_file(ROOT / "stacks" / "Pulumi.prod.yaml")
    servers = plan(spec).traffic.object("Gateway/istio-ingress/ingress").manifest["spec"]["servers"]
    assert {"httpsRedirect": True} in [server.get("tls") for server in servers]


def test_shop_config_without_exposure_has_no_ingress_findings():
    assert not [f for f in run_checks(parse_mesh(shop_config())) if f.code.startswith("MR32")]
