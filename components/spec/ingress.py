"""Configuration of ingress TLS (Gateway servers terminating TLS with a Kubernetes secret, HTTP→HTTPS redirect,
cert-manager certificates) and of the API an ingress gateway is configured with (Istio's or Gateway API)."""

from __future__ import annotations

import enum

from pydantic import Field, field_validator

from .base import DnsSubdomain, Model, _check_dns_label, _check_dns_subdomain


class IngressTlsMode(str, enum.Enum):
    """How the gateway terminates TLS for a host (Istio ``ServerTLSSettings.mode``)."""

    SIMPLE = "SIMPLE"
    MUTUAL = "MUTUAL"


class TlsVersion(str, enum.Enum):
    """Lowest TLS version the gateway accepts (Istio ``minProtocolVersion``)."""

    TLSV1_2 = "TLSV1_2"
    TLSV1_3 = "TLSV1_3"


def credential_parts(credential: str) -> tuple[str | None, str]:
    """``(namespace, name)`` of a credential written ``name`` or ``namespace/name`` (namespace ``None`` if absent)."""
    namespace, _, name = credential.rpartition("/")
    return namespace or None, name


class IngressTls(Model):
    """TLS of the hosts an ingress gateway serves: it terminates TLS on port 443 with the certificate in a Kubernetes
    secret (``credentialName``) and, with ``httpsRedirect``, answers port 80 with a redirect to HTTPS."""

    mode: IngressTlsMode = Field(
        default=IngressTlsMode.SIMPLE,
        description="SIMPLE (server certificate only) or MUTUAL (clients must present a certificate signed by the CA "
        "in ca.crt of the credential, or of a secret named <credentialName>-cacert). PASSTHROUGH is not offered: the "
        "gateway would not see HTTP, so none of the service's routes would apply.")
    credential_name: str | None = Field(
        default=None,
        description="Secret (tls.crt, tls.key; type kubernetes.io/tls or generic) in the gateway deployment's "
        "namespace; Istio reads it from there only. `namespace/name` is accepted so that a secret elsewhere is "
        "reported (check MR323) instead of silently not found. Unset: the gateway's certManager issues one named "
        "<gateway>-<service>-tls.")
    min_protocol_version: TlsVersion | None = Field(
        default=None, description="Lowest TLS version accepted, TLSV1_2 or TLSV1_3; unset: Istio's default (1.2).")
    https_redirect: bool = Field(
        default=True,
        description="Port 80 answers every request for the host with a 301 to https (true), instead of serving the "
        "service over plaintext as well (false; refused in production by check MR320).")
    client_ca_secret: DnsSubdomain | None = Field(
        default=None,
        description="MUTUAL only: the secret holding ca.crt, the CA that signs client certificates: the credential "
        "itself, or <credentialName>-cacert (the only two names Istio reads it from).")

    @field_validator("credential_name")
    @classmethod
    def _secret_name(cls, value: str | None) -> str | None:
        if value is None:
            return value
        namespace, name = credential_parts(value)
        if value.count("/") > 1:
            raise ValueError(f"expected a secret name or namespace/name, got {value!r}")
        if namespace is not None:
            _check_dns_label(namespace)
        _check_dns_subdomain(name)
        return value


class CertManagerIssuerKind(str, enum.Enum):
    """cert-manager issuer kinds."""

    ISSUER = "Issuer"
    CLUSTER_ISSUER = "ClusterIssuer"


class CertManagerSpec(Model):
    """cert-manager is installed in the cluster: the stack plans a ``cert-manager.io/v1`` Certificate for each TLS
    credential of the gateway, in the gateway's namespace, whose secret is the credential."""

    issuer: DnsSubdomain = Field(description="Name of the Issuer (in the gateway's namespace) or ClusterIssuer.")
    kind: CertManagerIssuerKind = Field(default=CertManagerIssuerKind.CLUSTER_ISSUER,
                                        description="Issuer or ClusterIssuer.")


class GatewayApi(str, enum.Enum):
    """Which API configures an ingress gateway and the routes of the services exposed through it."""

    ISTIO = "istio"
    GATEWAY_API = "gateway-api"
