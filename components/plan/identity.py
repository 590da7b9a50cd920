"""The ``cacerts`` Secret istiod reads its signing CA from (Istio's "Plug in CA Certificates" task), as plan data.

The certificates and key are never in the plan: the Secret names the values the stack produces at deploy time
(:class:`mesh_rollout.CertificateAuthority`'s outputs), which stay Pulumi secrets.
"""

from __future__ import annotations

import dataclasses

from ..spec import CaMode, CertificateAuthoritySpec
from .model import ConcernPlan, PlannedSecret

#: The Secret's name and data keys, exactly as istiod looks for them (its namespace is istiod's own).
CACERTS_SECRET = "cacerts"
CA_CERT = "ca-cert.pem"
CA_KEY = "ca-key.pem"
ROOT_CERT = "root-cert.pem"
CERT_CHAIN = "cert-chain.pem"
CACERTS_KEYS = (CA_CERT, CA_KEY, ROOT_CERT, CERT_CHAIN)

#: Mode ``supplied``: the Pulumi secret config key holding each file of the Secret.
SUPPLIED_CONFIG = {CA_CERT: "meshCaCert", CA_KEY: "meshCaKey", ROOT_CERT: "meshCaRootCert",
                   CERT_CHAIN: "meshCaCertChain"}

#: The value each data key of the Secret comes from: the ``CertificateAuthority`` output of that name (the
#: generated certificates, or the supplied ones once checked).
GENERATED_VALUES = {CA_CERT: "caCert", CA_KEY: "caKey", ROOT_CERT: "rootCert", CERT_CHAIN: "certChain"}


def cacerts_secret(ca: CertificateAuthoritySpec, namespace: str) -> PlannedSecret | None:
    """The ``cacerts`` Secret the stack creates in istiod's namespace; ``None`` when it creates none (Istio's own
    CA, or a Secret made out of band)."""
    if not ca.creates_secret:
        return None
    return PlannedSecret(namespace=namespace, name=CACERTS_SECRET, literal={}, from_config={},
                         from_outputs=dict(GENERATED_VALUES))


def with_cacerts(plan: ConcernPlan, ca: CertificateAuthoritySpec, namespace: str) -> ConcernPlan:
    """The control plane's plan with the ``cacerts`` Secret, which every chart release waits for: istiod reads the
    Secret once, at startup, and falls back to a self-signed root (silently) when it is not there yet. The base
    chart waits too, so the Secret comes right after the namespace, as in Istio's task."""
    secret = cacerts_secret(ca, namespace)
    if secret is None:
        return plan
    releases = [dataclasses.replace(release, depends_on=(*release.depends_on, secret.key))
                if release.namespace == namespace else release for release in plan.releases]
    return dataclasses.replace(plan, releases=releases, secrets=[*plan.secrets, secret])


def required_ca_config(ca: CertificateAuthoritySpec) -> dict[str, str]:
    """Pulumi secret config keys mode ``supplied`` reads, each with the Secret data key it becomes."""
    if ca.mode is not CaMode.SUPPLIED:
        return {}
    return {config: data_key for data_key, config in SUPPLIED_CONFIG.items()}


def create_secret_command(namespace: str) -> str:
    """The command of Istio's task that creates the Secret from the four files (in the current directory)."""
    files = " ".join(f"--from-file={key}" for key in CACERTS_KEYS)
    return f"kubectl create secret generic {CACERTS_SECRET} -n {namespace} {files}"
