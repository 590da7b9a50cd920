"""Which host an ingress gateway serves how: plaintext, HTTPS with a credential, HTTP→HTTPS redirect; the
cert-manager Certificates of the credentials. Shared by the Istio and the Gateway API plans and by the checks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..spec import GatewayKind, GatewaySpec, ServiceSpec
from ..spec.ingress import IngressTls, credential_parts
from .model import KubeObject
from .naming import metadata

CERT_MANAGER = "cert-manager.io/v1"


@dataclass(frozen=True)
class ExposedHost:
    """One external host of a service on an ingress gateway, with the TLS it gets there."""

    service: str
    host: str
    #: Index of the host in ``expose.hosts`` (for finding paths).
    index: int
    tls: IngressTls | None
    #: Secret name Istio reads the certificate from (``None``: TLS without a credential, or no TLS).
    credential: str | None
    #: Namespace the credential was written with (``namespace/name``), else ``None``.
    credential_namespace: str | None
    #: Whether the TLS setting comes from the exposure (else from the gateway).
    own_tls: bool


def exposure_tls(service: ServiceSpec, gateway: GatewaySpec | None) -> tuple[IngressTls | None, bool]:
    """The TLS of a service's exposed hosts and whether the exposure gave it (``expose.tls``) rather than the
    gateway (``tls`` or ``tlsSecret``)."""
    assert service.expose is not None
    if service.expose.tls is not None:
        return service.expose.tls, True
    return (gateway.default_tls() if gateway is not None else None), False


def issued_credential(gateway_name: str, service_name: str) -> str:
    """Name of the secret cert-manager issues for a service's hosts on a gateway when no credentialName is given."""
    return f"{gateway_name}-{service_name}-tls"


def exposed_hosts(gateway_name: str, gateway: GatewaySpec | None,
                  services: Mapping[str, ServiceSpec]) -> list[ExposedHost]:
    """Every host exposed through ``gateway_name``, sorted by service then host order."""
    found = []
    for name, service in sorted(services.items()):
        if service.expose is None or service.expose.gateway != gateway_name:
            continue
        tls, own = exposure_tls(service, gateway)
        credential = namespace = None
        if tls is not None:
            if tls.credential_name is not None:
                namespace, credential = credential_parts(tls.credential_name)
            elif gateway is not None and gateway.cert_manager is not None:
                credential = issued_credential(gateway_name, name)
        for index, host in enumerate(service.expose.hosts):
            found.append(ExposedHost(name, host, index, tls, credential, namespace, own))
    return found


def tls_key(host: ExposedHost) -> tuple[str, str, str, str] | None:
    """What makes two hosts' TLS settings the same server: mode, credential, minimum version, client CA."""
    if host.tls is None:
        return None
    return (host.tls.mode.value, host.credential or "", (host.tls.min_protocol_version.value
                                                         if host.tls.min_protocol_version else ""),
            host.tls.client_ca_secret or "")


def serves_https(host: ExposedHost) -> bool:
    """The host gets an HTTPS server: TLS with a credential (a TLS host without one is check MR321's error)."""
    return host.tls is not None and host.credential is not None


def redirects(host: ExposedHost) -> bool:
    """Port 80 answers the host with a redirect to HTTPS instead of serving it."""
    return serves_https(host) and host.tls is not None and host.tls.https_redirect


def certificates(gateway_name: str, gateway: GatewaySpec, hosts: list[ExposedHost]) -> list[KubeObject]:
    """cert-manager Certificates for the gateway's credentials (one per secret, naming every host it serves), in
    the gateway's namespace, where Istio reads the secret. Only with ``certManager``; ``*`` (any host) cannot be
    in a certificate (check MR325) and credentials elsewhere are check MR323's error."""
    issuer = gateway.cert_manager
    if issuer is None or gateway.kind is not GatewayKind.INGRESS:
        return []
    names: dict[str, set[str]] = {}
    for host in hosts:
        if not serves_https(host) or host.host == "*":
            continue
        if host.credential_namespace not in (None, gateway.namespace):
            continue
        assert host.credential is not None
        names.setdefault(host.credential, set()).add(host.host.lower().rstrip("."))
    objects = []
    for credential, dns_names in sorted(names.items()):
        spec: dict[str, Any] = {
            "secretName": credential,
            "dnsNames": sorted(dns_names),
            "issuerRef": {"name": issuer.issuer, "kind": issuer.kind.value, "group": "cert-manager.io"},
        }
        objects.append(KubeObject({"apiVersion": CERT_MANAGER, "kind": "Certificate",
                                   "metadata": metadata(credential, gateway.namespace), "spec": spec}))
    return objects
