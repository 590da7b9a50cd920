"""CertificateAuthority: the mesh's root and this cluster's intermediate CA, generated once and kept as Pulumi
secrets, or supplied from secret config and checked; the values of istiod's ``cacerts`` Secret."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi

from ._ca_provider import IntermediateCa, RootCa, certificate_facts, check_bundle
from ._validation import coerce
from .plan.identity import CA_CERT, CA_KEY, CACERTS_KEYS, CERT_CHAIN, GENERATED_VALUES, ROOT_CERT, SUPPLIED_CONFIG
from .spec import CaMode, CertificateAuthoritySpec, ConfigError, Problem

#: istiod's cluster name when ``global.multiCluster.clusterName`` is not set (the istiod chart's default).
DEFAULT_CLUSTER_NAME = "Kubernetes"


@dataclass(kw_only=True)
class CertificateAuthorityArgs:
    """Inputs of :class:`CertificateAuthority`. Plain dicts (as in a stack file, camelCase keys) or models."""

    #: ``mesh.certificateAuthority``: mode ``generated`` or ``supplied`` (the other two modes create nothing).
    spec: CertificateAuthoritySpec | Mapping[str, Any]
    #: istiod's namespace (the intermediate's DNS SAN is istiod's service there).
    namespace: str = "istio-system"
    #: This cluster's name (``controlPlane.clusterName``), in the generated intermediate's subject.
    cluster_name: str = DEFAULT_CLUSTER_NAME
    #: The mesh's trust domain; supplied certificates whose name constraints exclude it are refused.
    trust_domain: str = "cluster.local"
    #: Mode ``supplied``: the four PEM files by secret config key (``meshCaCert``, ``meshCaKey``,
    #: ``meshCaRootCert``, ``meshCaCertChain``); they stay secret outputs.
    secrets: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)


class CertificateAuthority(pulumi.ComponentResource):
    """Generates (once; again only when a rotation counter, the subject, key or validity changes) or checks the CA
    istiod signs workload certificates with. Creates no Kubernetes object: :class:`ControlPlane` writes the
    ``cacerts`` Secret from :attr:`secret_values`, before istiod starts."""

    ca_cert: pulumi.Output[str]
    """istiod's signing certificate (``ca-cert.pem``): the intermediate; a secret output."""
    ca_key: pulumi.Output[str]
    """Its private key (``ca-key.pem``); a secret output, never in state or output in clear."""
    root_cert: pulumi.Output[str]
    """The root every workload trusts (``root-cert.pem``); a secret output."""
    cert_chain: pulumi.Output[str]
    """``cert-chain.pem``: the intermediate, then the root; a secret output."""
    intermediate_serial: pulumi.Output[str]
    """Serial number of istiod's signing certificate (hex): changes with every rotation."""
    root_fingerprint: pulumi.Output[str]
    """SHA-256 of the root certificate (hex): what other clusters of the mesh must trust."""

    secret_values: dict[str, pulumi.Output[str]]
    """The four values by the names the plan's ``cacerts`` Secret gives them (``GENERATED_VALUES``); not an
    output."""

    def __init__(self, name: str, args: CertificateAuthorityArgs, opts: pulumi.ResourceOptions | None = None):
        spec = coerce(CertificateAuthoritySpec, args.spec, "spec")
        if not spec.creates_secret:
            raise ConfigError([Problem("spec.mode", "CertificateAuthority generates or checks certificates (mode "
                                       "generated or supplied); modes istiod and existing create nothing, so do not "
                                       "build it", spec.mode.value)])
        if spec.mode is CaMode.SUPPLIED:
            missing = sorted(key for key in SUPPLIED_CONFIG.values() if key not in args.secrets)
            if missing:
                raise ConfigError([Problem(f"secrets.{key}", f"secret config is required by mode supplied: pulumi "
                                           f"config set --secret {key} < <file>") for key in missing])
        super().__init__("mesh-rollout:index:CertificateAuthority", name, None, opts)
        files = self._generate(name, spec, args) if spec.mode is CaMode.GENERATED else self._supplied(args)
        self.ca_cert, self.ca_key = files[CA_CERT], files[CA_KEY]
        self.root_cert, self.cert_chain = files[ROOT_CERT], files[CERT_CHAIN]
        self.secret_values = {GENERATED_VALUES[key]: files[key] for key in CACERTS_KEYS}
        self.register_outputs({
            "caCert": self.ca_cert, "caKey": self.ca_key, "rootCert": self.root_cert, "certChain": self.cert_chain,
            "intermediateSerial": self.intermediate_serial, "rootFingerprint": self.root_fingerprint,
        })

    def _generate(self, name: str, spec: CertificateAuthoritySpec,
                  args: CertificateAuthorityArgs) -> dict[str, pulumi.Output[str]]:
        settings = spec.generation
        child = pulumi.ResourceOptions(parent=self)
        root = RootCa(f"{name}-root", organization=settings.organization,
                      key_algorithm=settings.key_algorithm.value, validity_days=settings.root_validity_days,
                      rotation=settings.root_rotation, opts=child)
        intermediate = IntermediateCa(
            f"{name}-intermediate", root=root, organization=settings.organization,
            key_algorithm=settings.key_algorithm.value, validity_days=settings.intermediate_validity_days,
            rotation=settings.rotation, cluster_name=args.cluster_name, istiod_namespace=args.namespace,
            opts=child)
        self.intermediate_serial = intermediate.serial
        self.root_fingerprint = root.fingerprint
        # Certificates are public, but the four files travel together into one Secret: all four stay secret.
        chain = pulumi.Output.all(intermediate.cert_pem, root.cert_pem).apply(lambda pems: pems[0] + pems[1])
        return {CA_CERT: pulumi.Output.secret(intermediate.cert_pem),
                CA_KEY: pulumi.Output.secret(intermediate.key_pem),
                ROOT_CERT: pulumi.Output.secret(root.cert_pem), CERT_CHAIN: pulumi.Output.secret(chain)}

    def _supplied(self, args: CertificateAuthorityArgs) -> dict[str, pulumi.Output[str]]:
        raw = {key: pulumi.Output.secret(args.secrets[config]) for key, config in SUPPLIED_CONFIG.items()}

        def checked(files: list[str]) -> dict[str, str]:
            bundle = dict(zip(CACERTS_KEYS, files, strict=True))
            problems = check_bundle(bundle, args.trust_domain)
            if problems:
                # Each problem names the file; the config key holding it is what the user edits.
                raise ConfigError([Problem(f"secrets.{SUPPLIED_CONFIG[problem.split(':', 1)[0]]}", problem)
                                   for problem in problems])
            return bundle

        bundle = pulumi.Output.all(*(raw[key] for key in CACERTS_KEYS)).apply(checked)
        def file(key: str) -> pulumi.Output[str]:
            return pulumi.Output.secret(bundle.apply(lambda b: b[key]))

        files = {key: file(key) for key in CACERTS_KEYS}
        self.intermediate_serial = pulumi.Output.unsecret(
            bundle.apply(lambda b: certificate_facts(b[CA_CERT])["serial"]))
        self.root_fingerprint = pulumi.Output.unsecret(
            bundle.apply(lambda b: certificate_facts(b[ROOT_CERT])["fingerprint"]))
        return files
