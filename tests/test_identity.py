"""The mesh CA (``certificateAuthority``): config, generated certificates, the supplied-bundle checks, the plan's
``cacerts`` Secret, the checks, and the components under Pulumi's mocks."""

from __future__ import annotations

import datetime as dt
import re

import pulumi
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given, settings
from hypothesis import strategies as st
from pulumi.runtime import rpc

from harness import EchoMocks, run_program, wait
from mesh_rollout import CertificateAuthority, CertificateAuthorityArgs, Mesh, MeshArgs
from mesh_rollout._ca_provider import (
    INTERMEDIATE_INPUTS,
    IntermediateCaProvider,
    IssuedCa,
    RootCaProvider,
    check_bundle,
    generate_intermediate,
    generate_root,
)
from mesh_rollout.checks import run_checks
from mesh_rollout.plan import plan
from mesh_rollout.spec import ConfigError, KeyAlgorithm, parse_mesh

CHARTS = {"url": "/opt/charts/istio"}


def mesh(ca: dict | None = None, **control_plane) -> dict:
    data = {"controlPlane": {"charts": CHARTS, **control_plane}, "namespaces": {"shop": {}}, "observability": None}
    if ca is not None:
        data["certificateAuthority"] = ca
    return data


def problems(data: dict) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_mesh(data)
    return [str(p) for p in caught.value.problems]


# --- config -----------------------------------------------------------------------------------------------------

def test_default_is_istiods_own_ca_and_plans_no_secret():
    spec = parse_mesh(mesh())
    assert spec.certificate_authority.mode.value == "istiod"
    assert plan(spec).control_plane.secrets == []


def test_errors_name_the_path_what_was_expected_and_what_was_given():
    found = problems(mesh({"mode": "generated", "generated": {"keyAlgorithm": "rsa-1024", "rotation": -1}}))
    assert any(p.startswith("mesh.certificateAuthority.generated.keyAlgorithm:") and "rsa-4096" in p
               and "'rsa-1024'" in p for p in found), found
    assert any(p.startswith("mesh.certificateAuthority.generated.rotation:") and "-1" in p for p in found), found
    found = problems(mesh({"mode": "istiod", "generated": {}}))
    assert found == ["mesh.certificateAuthority: generated applies to mode: generated only, got mode: istiod; "
                     "remove generated or set mode: generated"]
    assert problems(mesh({"mode": "supplied", "rotateBy": "2027-02-30"}))[0].startswith(
        "mesh.certificateAuthority.rotateBy: must be a calendar date like 2027-06-01")
    assert problems(mesh({"mode": "generated", "rotateBy": "2027-02-03"}))[0].startswith(
        "mesh.certificateAuthority: rotateBy documents certificates made outside the stack")


@pytest.mark.parametrize("written", ["2027-06-01", "2027-06-01 00:00:00 +0000 UTC", dt.date(2027, 6, 1)])
def test_rotate_by_reads_a_date_however_the_stack_file_reached_the_program(written):
    spec = parse_mesh(mesh({"mode": "existing", "rotateBy": written}))
    assert spec.certificate_authority.rotate_by == dt.date(2027, 6, 1)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=40), st.integers(), st.none(), st.booleans(),
                 st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2)))
def test_any_rotate_by_value_is_a_date_or_a_path_precise_error(value):
    try:
        spec = parse_mesh(mesh({"mode": "supplied", "rotateBy": value}))
    except ConfigError as error:
        assert all(p.path.startswith("mesh.certificateAuthority") for p in error.problems)
    else:
        assert spec.certificate_authority.rotate_by is None or isinstance(spec.certificate_authority.rotate_by,
                                                                           dt.date)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["organization", "keyAlgorithm", "rootValidityDays",
                                        "intermediateValidityDays", "rotation", "rootRotation", "other"]),
                       st.one_of(st.text(max_size=70), st.integers(-5, 40000), st.none()), max_size=4))
def test_any_generated_settings_parse_or_fail_at_their_key(generated):
    try:
        parse_mesh(mesh({"mode": "generated", "generated": generated}))
    except ConfigError as error:
        for problem in error.problems:
            key = problem.path.removeprefix("mesh.certificateAuthority.generated.")
            assert key in generated, problem


# --- generated certificates ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def generated() -> tuple[IssuedCa, IssuedCa]:
    root = generate_root("Example Corp", KeyAlgorithm.RSA_2048, 3650)
    return root, generate_intermediate(root, "Example Corp", KeyAlgorithm.RSA_2048, 730, "cluster1", "istio-system")


def test_generated_intermediate_is_a_ca_signed_by_the_root(generated):
    root_ca, intermediate_ca = generated
    root = x509.load_pem_x509_certificate(root_ca.cert_pem.encode())
    intermediate = x509.load_pem_x509_certificate(intermediate_ca.cert_pem.encode())
    intermediate.verify_directly_issued_by(root)
    root.verify_directly_issued_by(root)
    constraints = intermediate.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    for cert in (root, intermediate):
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
        assert usage.critical and usage.value.key_cert_sign
    subject = intermediate.subject
    assert subject.get_attributes_for_oid(x509.NameOID.LOCALITY_NAME)[0].value == "cluster1"
    assert subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)[0].value == "Example Corp"
    assert intermediate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName) == ["istiod.istio-system.svc"]
    lifetime = intermediate.not_valid_after_utc - intermediate.not_valid_before_utc
    assert dt.timedelta(days=730) <= lifetime <= dt.timedelta(days=730, minutes=10)


def test_each_key_matches_its_certificate(generated):
    for issued in generated:
        key = serialization.load_pem_private_key(issued.key_pem.encode(), password=None)
        assert key.public_key() == x509.load_pem_x509_certificate(issued.cert_pem.encode()).public_key()
        assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048


def test_ecdsa_keys_are_p256():
    root = generate_root("Istio", KeyAlgorithm.ECDSA_P256, 10)
    key = serialization.load_pem_private_key(root.key_pem.encode(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"


def test_an_intermediate_never_outlives_its_root():
    root = generate_root("Istio", KeyAlgorithm.ECDSA_P256, 30)
    intermediate = generate_intermediate(root, "Istio", KeyAlgorithm.ECDSA_P256, 730, "c", "istio-system")
    root_cert = x509.load_pem_x509_certificate(root.cert_pem.encode())
    cert = x509.load_pem_x509_certificate(intermediate.cert_pem.encode())
    assert cert.not_valid_after_utc == root_cert.not_valid_after_utc


def bundle(root: IssuedCa, intermediate: IssuedCa) -> dict[str, str]:
    return {"ca-cert.pem": intermediate.cert_pem, "ca-key.pem": intermediate.key_pem,
            "root-cert.pem": root.cert_pem, "cert-chain.pem": intermediate.cert_pem + root.cert_pem}


def test_a_generated_bundle_is_what_istiod_accepts(generated):
    assert check_bundle(bundle(*generated), "cluster.local") == []


def test_supplied_bundle_mistakes_are_each_named_by_file(generated):
    root, intermediate = generated
    other = generate_root("Other", KeyAlgorithm.ECDSA_P256, 10)
    wrong_key = bundle(root, intermediate) | {"ca-key.pem": other.key_pem}
    assert check_bundle(wrong_key, "cluster.local") == [
        "ca-key.pem: the key does not belong to ca-cert.pem (their public keys differ)"]
    reversed_chain = bundle(root, intermediate) | {"cert-chain.pem": root.cert_pem + intermediate.cert_pem}
    assert any(p.startswith("cert-chain.pem: must start with ca-cert.pem") for p in
               check_bundle(reversed_chain, "cluster.local"))
    foreign_root = bundle(root, intermediate) | {"root-cert.pem": other.cert_pem}
    assert check_bundle(foreign_root, "cluster.local") == [
        "cert-chain.pem: does not end at a root of root-cert.pem (workloads would not trust the certificates istiod "
        "signs)"]
    # Two roots (the multi-root window of a root rotation) are accepted.
    assert check_bundle(bundle(root, intermediate) | {"root-cert.pem": other.cert_pem + root.cert_pem},
                        "cluster.local") == []
    leaf_as_ca = bundle(root, intermediate) | {"ca-cert.pem": "not a pem"}
    assert check_bundle(leaf_as_ca, "cluster.local")[0].startswith("ca-cert.pem: expected PEM certificates")
    expired = check_bundle(bundle(root, intermediate), "cluster.local", now=dt.datetime(2100, 1, 1, tzinfo=dt.UTC))
    assert any(p.startswith("ca-cert.pem: expired on") for p in expired)


def test_supplied_intermediate_whose_name_constraints_exclude_the_trust_domain_is_refused(generated):
    root, _ = generated
    root_cert = x509.load_pem_x509_certificate(root.cert_pem.encode())
    root_key = serialization.load_pem_private_key(root.key_pem.encode(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)

    def constrained(uri: str) -> dict[str, str]:
        cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "i")]))
                .issuer_name(root_cert.subject).public_key(key.public_key()).serial_number(1)
                .not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
                .add_extension(x509.NameConstraints([x509.UniformResourceIdentifier(uri)], None), critical=True)
                .sign(root_key, hashes.SHA256()))
        pem = cert.public_bytes(serialization.Encoding.PEM).decode()
        return {"ca-cert.pem": pem, "ca-key.pem": key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode(),
            "root-cert.pem": root.cert_pem, "cert-chain.pem": pem + root.cert_pem}

    assert check_bundle(constrained("prod.example.com"), "prod.example.com") == []
    assert check_bundle(constrained(".example.com"), "prod.example.com") == []
    refused = check_bundle(constrained("prod.example.com"), "cluster.local")
    assert refused == ["ca-cert.pem: its name constraints permit SPIFFE IDs under prod.example.com only, not the "
                       "mesh's trust domain cluster.local (workload certificates would fail verification)"]


# --- the dynamic provider -----------------------------------------------------------------------------------------

def test_provider_replaces_on_any_generating_input_and_never_updates_in_place():
    provider = IntermediateCaProvider()
    olds = {key: "x" for key in INTERMEDIATE_INPUTS} | {"rotation": 0, "cert_pem": "c", "key_pem": "k"}
    same = provider.diff("id", olds, {key: olds[key] for key in INTERMEDIATE_INPUTS})
    assert not same.changes
    bumped = provider.diff("id", olds, {key: olds[key] for key in INTERMEDIATE_INPUTS} | {"rotation": 1})
    assert bumped.changes and bumped.replaces == ["rotation"] and bumped.delete_before_replace is False
    new_root = provider.diff("id", olds, {key: olds[key] for key in INTERMEDIATE_INPUTS} | {"root_cert_pem": "y"})
    assert new_root.replaces == ["root_cert_pem"]
    assert provider.read("id", olds).outs == olds  # a refresh keeps the stored key
    with pytest.raises(RuntimeError):
        provider.update("id", olds, olds)


def test_provider_create_returns_the_key_and_never_keeps_the_roots_key():
    root = RootCaProvider().create({"organization": "O", "key_algorithm": "ecdsa-p256", "validity_days": 5,
                                    "rotation": 0}).outs
    made = IntermediateCaProvider().create({
        "organization": "O", "key_algorithm": "ecdsa-p256", "validity_days": 5, "rotation": 0, "cluster_name": "c",
        "istiod_namespace": "istio-system", "root_cert_pem": root["cert_pem"], "root_key_pem": root["key_pem"]})
    assert "root_key_pem" not in made.outs
    assert made.id == f"intermediate-{made.outs['serial']}"
    assert check_bundle(bundle(IssuedCa(root["cert_pem"], root["key_pem"]),
                               IssuedCa(made.outs["cert_pem"], made.outs["key_pem"])), "cluster.local") == []


# --- plan -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["generated", "supplied"])
def test_plan_puts_cacerts_before_every_chart_of_istiods_namespace(mode):
    control_plane = plan(parse_mesh(mesh({"mode": mode}, gateways={"ingress": {}}))).control_plane
    (secret,) = control_plane.secrets
    assert (secret.namespace, secret.name) == ("istio-system", "cacerts")
    assert sorted(secret.from_outputs) == ["ca-cert.pem", "ca-key.pem", "cert-chain.pem", "root-cert.pem"]
    assert secret.literal == {} and secret.from_config == {}
    for release in control_plane.releases:
        assert ("Secret/istio-system/cacerts" in release.depends_on) == (release.namespace == "istio-system")
    assert control_plane.release("istiod").depends_on[-1] == "Secret/istio-system/cacerts"


@pytest.mark.parametrize("mode", ["istiod", "existing"])
def test_modes_without_a_secret_plan_exactly_what_the_default_plans(mode):
    assert plan(parse_mesh(mesh({"mode": mode}))).to_dict() == plan(parse_mesh(mesh())).to_dict()


# --- checks ---------------------------------------------------------------------------------------------------

def codes(data: dict) -> set[str]:
    return {f.code for f in run_checks(parse_mesh(data))}


def test_mr310_intermediate_longer_than_root_and_the_near_miss():
    assert "MR310" in codes(mesh({"mode": "generated", "generated": {"rootValidityDays": 700}}))
    assert "MR310" not in codes(mesh({"mode": "generated", "generated": {"rootValidityDays": 730}}))


def test_mr311_production_needs_a_rotation_date_for_plugged_in_certificates():
    prod = {"production": True, "allowMutableTags": True}
    assert "MR311" in codes(mesh({"mode": "supplied"}) | prod)
    assert "MR311" not in codes(mesh({"mode": "supplied", "rotateBy": "2999-01-01"}) | prod)
    assert "MR311" not in codes(mesh({"mode": "supplied"}))
    assert "MR311" not in codes(mesh({"mode": "generated"}) | prod)


def test_mr312_rotation_date_passed_is_an_error_near_is_a_warning():
    today = dt.date.today()

    def found(days: int):
        spec = parse_mesh(mesh({"mode": "existing", "rotateBy": (today + dt.timedelta(days=days)).isoformat()}))
        return [f for f in run_checks(spec) if f.code == "MR312"]

    assert [f.severity.value for f in found(0)] == ["error"]
    assert [f.severity.value for f in found(30)] == ["warning"]
    assert found(31) == []


def test_mr313_and_mr314_multi_cluster_trust():
    assert "MR313" in codes(mesh(meshId="mesh1", network="net1"))
    assert "MR313" not in codes(mesh({"mode": "supplied"}, meshId="mesh1", network="net1"))
    assert "MR314" in codes(mesh({"mode": "generated"}, meshId="mesh1"))
    assert "MR314" not in codes(mesh({"mode": "generated"}, clusterName="cluster1"))
    assert "MR313" not in codes(mesh())


def test_mr315_cacerts_for_a_control_plane_this_stack_does_not_install():
    data = {"controlPlane": {"install": False}, "certificateAuthority": {"mode": "generated"}}
    assert "MR315" in codes(data)
    assert "MR315" not in codes(mesh({"mode": "generated"}))
    assert "MR315" not in codes({"controlPlane": {"install": False}, "certificateAuthority": {"mode": "existing"}})


# --- components under mocks ---------------------------------------------------------------------------------------

class GeneratingMocks(EchoMocks):
    """Runs the real dynamic providers' ``create`` (keys and certificates made with ``cryptography``)."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        if args.typ == "pulumi-python:dynamic:Resource":
            # The engine hands a dynamic provider plain values (it accepts no secrets); the mocks see envelopes.
            inputs = {k: rpc.unwrap_rpc_secret(v) for k, v in args.inputs.items() if k != "__provider"}
            provider = IntermediateCaProvider() if "root_cert_pem" in inputs else RootCaProvider()
            made = provider.create(inputs)
            return [made.id, made.outs]
        return super().new_resource(args)


def test_mesh_creates_cacerts_from_the_generated_ca_as_secrets_before_istiod():
    holder = {}

    def program():
        holder["mesh"] = Mesh("mesh", MeshArgs(spec=mesh({"mode": "generated", "generated": {
            "keyAlgorithm": "ecdsa-p256"}}, clusterName="cluster1")))

    recorder = run_program(program, mocks=GeneratingMocks())
    secret = recorder.named("mesh-control-plane-secret-istio-system-cacerts")
    assert secret.inputs["metadata"] == {"name": "cacerts", "namespace": "istio-system"}
    data = secret.inputs["stringData"]
    for key in ("ca-cert.pem", "ca-key.pem", "root-cert.pem", "cert-chain.pem"):
        assert secret.is_secret("stringData", key), key
    assert data["cert-chain.pem"] == data["ca-cert.pem"] + data["root-cert.pem"]
    assert check_bundle(data, "cluster.local") == []
    istiod = next(c for c in recorder.of_type("kubernetes:helm.sh/v4:Chart") if c.inputs["name"] == "istiod")
    assert secret.urn in istiod.dependencies
    control_plane = recorder.named("mesh-control-plane")
    ca = recorder.named("mesh-ca")
    assert ca.type == "mesh-rollout:index:CertificateAuthority"
    root, intermediate = (recorder.named("mesh-ca-root"), recorder.named("mesh-ca-intermediate"))
    assert root.parent == ca.urn and intermediate.parent == ca.urn
    # Depending on the component is depending on its children: the ControlPlane waits for the CA.
    assert {root.urn, intermediate.urn} <= set(control_plane.dependencies)
    assert intermediate.is_secret("root_key_pem")
    cert = x509.load_pem_x509_certificate(data["ca-cert.pem"].encode())
    assert wait(holder["mesh"].certificate_authority.intermediate_serial) == format(cert.serial_number, "x")


def test_render_without_render_secrets_leaves_cacerts_out_and_says_how_to_create_it(caplog):
    def program():
        Mesh("mesh", MeshArgs(spec=mesh({"mode": "generated", "generated": {"keyAlgorithm": "ecdsa-p256"}}),
                              omit_secrets=True))

    recorder = run_program(program, mocks=GeneratingMocks())
    assert not recorder.of_type("kubernetes:core/v1:Secret")
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("Secret istio-system/cacerts (the mesh CA, key included) is not rendered" in w and
               "kubectl create secret generic cacerts -n istio-system --from-file=ca-cert.pem --from-file=ca-key.pem "
               "--from-file=root-cert.pem --from-file=cert-chain.pem" in w for w in warnings), warnings


def test_supplied_certificates_are_checked_and_named_by_their_config_key(generated):
    root, intermediate = generated
    files = bundle(root, intermediate)
    keys = {"ca-cert.pem": "meshCaCert", "ca-key.pem": "meshCaKey", "root-cert.pem": "meshCaRootCert",
            "cert-chain.pem": "meshCaCertChain"}
    good = {keys[k]: pulumi.Output.secret(v) for k, v in files.items()}
    holder = {}

    def program():
        holder["ca"] = CertificateAuthority("ca", CertificateAuthorityArgs(spec={"mode": "supplied"}, secrets=good))

    run_program(program)
    assert wait(holder["ca"].ca_key) == intermediate.key_pem
    # Found when the values are known (at preview: config is), before anything is applied.
    with pytest.raises(ValueError, match=re.escape(
            "- secrets.meshCaKey: ca-key.pem: the key does not belong to ca-cert.pem")):
        run_program(lambda: CertificateAuthority("ca", CertificateAuthorityArgs(
            spec={"mode": "supplied"}, secrets=good | {"meshCaKey": root.key_pem})))
    with pytest.raises(ConfigError) as caught:
        CertificateAuthority("ca", CertificateAuthorityArgs(spec={"mode": "supplied"}, secrets={}))
    assert [p.path for p in caught.value.problems] == [
        "secrets.meshCaCert", "secrets.meshCaCertChain", "secrets.meshCaKey", "secrets.meshCaRootCert"]
