"""Configuration of egress: the external services the mesh may call (ServiceEntries), TLS origination and routing
through an egress gateway."""

from __future__ import annotations

import enum
import ipaddress
import re
from typing import Annotated

from pydantic import AfterValidator, Field, field_validator, model_validator

from .base import DNS_LABEL_PATTERN, DnsLabel, Model, domain_problem


class EgressProtocol(str, enum.Enum):
    """Protocol of an external port, as a ServiceEntry declares it."""

    HTTP = "HTTP"
    HTTPS = "HTTPS"
    TLS = "TLS"
    TCP = "TCP"
    GRPC = "GRPC"
    HTTP2 = "HTTP2"

    @property
    def is_http(self) -> bool:
        """The sidecar sees plaintext HTTP requests on the port (routing by host, TLS origination possible)."""
        return self in (EgressProtocol.HTTP, EgressProtocol.GRPC, EgressProtocol.HTTP2)

    @property
    def is_tls(self) -> bool:
        """The application speaks TLS itself: the sidecar only sees the SNI."""
        return self in (EgressProtocol.HTTPS, EgressProtocol.TLS)


class Resolution(str, enum.Enum):
    """How the sidecar finds the addresses behind the hosts (ServiceEntry ``resolution``)."""

    DNS = "DNS"
    NONE = "NONE"
    STATIC = "STATIC"


def _check_host(host: str) -> str:
    if host == "*":
        # Istio refuses a ServiceEntry host "*" (CRD rule "hostname cannot be wildcard").
        raise ValueError("'*' is refused for a ServiceEntry host (it would match every host); name the hosts, or "
                         "use a wildcard domain such as *.example.com")
    problem = domain_problem(host, wildcard=True)
    if problem:
        raise ValueError(problem)
    if "." not in host.removeprefix("*."):
        raise ValueError(f"{host!r} is a short name: an external host must be fully qualified (e.g. api.example.com)")
    return host


#: An external host: a fully qualified domain name, optionally starting with ``*.``.
ExternalHost = Annotated[str, AfterValidator(_check_host)]


def _check_ip(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address (IPv4 such as 203.0.113.7, or IPv6)") from None
    return value


def _check_address(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address or CIDR block with no host bits set (e.g. 203.0.113.7 or "
                         "203.0.113.0/24)") from None
    return value


class EgressPort(Model):
    """One port of an external service."""

    number: int = Field(ge=1, le=65535, description="Port the application connects to, e.g. 443.")
    protocol: EgressProtocol = Field(description="HTTP, HTTPS, TLS, TCP, GRPC or HTTP2.")
    name: str | None = Field(
        default=None, pattern=DNS_LABEL_PATTERN,
        description="Port name; default <protocol>-<number> in lower case (e.g. https-443).")
    target_port: int | None = Field(
        default=None, ge=1, le=65535,
        description="Port on the external endpoints when it differs from number (e.g. 443 behind a plain-HTTP "
        "port 80 with originateTls).")
    originate_tls: bool = Field(
        default=False,
        description="The application calls plain HTTP on this port and the mesh opens TLS to the external host "
        "(a DestinationRule with tls SIMPLE): the sidecar, or the egress gateway when `gateway` is set, sees and "
        "logs every request. Use with targetPort: 443 (default when originateTls is set).")

    @property
    def port_name(self) -> str:
        """The port's name in the ServiceEntry."""
        return self.name or f"{self.protocol.value.lower()}-{self.number}"

    @property
    def upstream_port(self) -> int:
        """Port on the external endpoints."""
        if self.target_port is not None:
            return self.target_port
        return 443 if self.originate_tls else self.number

    @model_validator(mode="after")
    def _origination_needs_plain_http(self) -> EgressPort:
        if self.originate_tls and not self.protocol.is_http:
            raise ValueError(f"originateTls needs an HTTP port the application calls in plaintext (HTTP, HTTP2 or "
                             f"GRPC); a {self.protocol.value} port is encrypted by the application already, so the "
                             f"mesh would wrap TLS in TLS; expected protocol HTTP, got {self.protocol.value}")
        return self


class ExternalService(Model):
    """A service outside the mesh that workloads may call: one ServiceEntry, plus a DestinationRule for TLS
    origination and a Gateway and VirtualServices when routed through an egress gateway."""

    hosts: list[ExternalHost] = Field(
        min_length=1, description="Fully qualified external host names, e.g. api.stripe.com or *.example.com.")
    ports: list[EgressPort] = Field(min_length=1, description="Ports the workloads call.")
    resolution: Resolution = Field(
        default=Resolution.DNS,
        description="DNS (the sidecar resolves the hosts), NONE (forward to the address the application "
        "connected to; wildcard hosts), STATIC (the addresses in endpoints).")
    addresses: list[Annotated[str, AfterValidator(_check_address)]] = Field(
        default_factory=list,
        description="Virtual IPs or CIDR blocks of the service; how a TCP port is told apart from other TCP "
        "services on the same port. CIDR blocks only with resolution NONE or STATIC.")
    endpoints: list[Annotated[str, AfterValidator(_check_ip)]] = Field(
        default_factory=list, description="IP addresses of the endpoints (resolution STATIC only).")
    namespace: DnsLabel | None = Field(
        default=None, description="Namespace of the ServiceEntry; default: the control plane's (root) namespace.")
    export_to: list[str] = Field(
        default_factory=lambda: ["*"],
        description="Namespaces that see the entry: * (all), . (its own) or namespace names; ~ (none) is refused.")
    ca_certificates: str | None = Field(
        default=None, min_length=1,
        description="With originateTls: CA bundle file in the proxy that verifies the host's certificate, e.g. "
        "/etc/ssl/certs/ca-certificates.crt. Unset, the proxy verifies against its system roots (Istio's default) "
        "and istioctl analyze reports IST0129.")
    gateway: DnsLabel | None = Field(
        default=None,
        description="Route the traffic through this egress gateway (kind egress in controlPlane.gateways): a "
        "Gateway, and VirtualServices sending the mesh's requests to the gateway and the gateway's to the host "
        "(Istio's egress gateway task). HTTP, HTTP2, GRPC (gateway port 80) and HTTPS/TLS (passthrough, gateway "
        "port 443) ports; not TCP.")

    @field_validator("hosts")
    @classmethod
    def _unique_hosts(cls, hosts: list[str]) -> list[str]:
        lowered = [host.lower() for host in hosts]
        twice = sorted({host for host in lowered if lowered.count(host) > 1})
        if twice:
            raise ValueError(f"hosts are compared case-insensitively and must be unique; listed twice: "
                             f"{', '.join(twice)}")
        return hosts

    @field_validator("ports")
    @classmethod
    def _unique_ports(cls, ports: list[EgressPort]) -> list[EgressPort]:
        numbers = [port.number for port in ports]
        names = [port.port_name for port in ports]
        problems = [f"port {number} is listed twice" for number in sorted(set(numbers)) if numbers.count(number) > 1]
        problems += [f"port name {name!r} is used twice" for name in sorted(set(names)) if names.count(name) > 1]
        if problems:
            raise ValueError("; ".join(problems) + " (Istio keys ServiceEntry ports by number and by name)")
        return ports

    @field_validator("export_to")
    @classmethod
    def _export_to(cls, values: list[str]) -> list[str]:
        if not values:
            raise ValueError("exportTo cannot be empty: use [\"*\"] (every namespace), [\".\"] (its own) or "
                             "namespace names")
        for value in values:
            if value == "~":
                raise ValueError("exportTo ~ hides the entry from every namespace, so no workload could use it; "
                                 "remove the entry instead")
            if value not in ("*", ".") and not re.fullmatch(DNS_LABEL_PATTERN, value):
                raise ValueError(f"exportTo entry {value!r} must be *, . or a namespace name (a DNS label)")
        if len(set(values)) != len(values):
            raise ValueError(f"exportTo lists a value twice: {values}")
        if "*" in values and len(values) > 1:
            raise ValueError("exportTo * (every namespace) cannot be combined with other values (Istio refuses it)")
        return values

    @model_validator(mode="after")
    def _resolution_rules(self) -> ExternalService:
        # Istio's ServiceEntry validation, reported here with the config path instead of at apply time.
        if self.resolution is Resolution.STATIC and not self.endpoints:
            raise ValueError("resolution STATIC needs endpoints (the IP addresses to send to); expected endpoints, "
                             "got none")
        if self.resolution is not Resolution.STATIC and self.endpoints:
            raise ValueError(f"endpoints are used with resolution STATIC only; expected resolution STATIC, got "
                             f"{self.resolution.value}")
        if self.resolution is Resolution.DNS:
            wildcards = [host for host in self.hosts if host.startswith("*.")]
            if wildcards:
                raise ValueError(f"resolution DNS cannot resolve a wildcard host ({', '.join(wildcards)}): Istio "
                                 "refuses it; expected resolution NONE for wildcard hosts, got DNS")
            cidrs = [address for address in self.addresses if "/" in address]
            if cidrs:
                raise ValueError(f"CIDR addresses ({', '.join(cidrs)}) are allowed only with resolution NONE or "
                                 "STATIC (Istio refuses them with DNS)")
        if self.gateway is not None:
            self._routable_through_gateway()
        if self.ca_certificates is not None and not any(port.originate_tls for port in self.ports):
            raise ValueError("caCertificates verifies the host when the mesh originates TLS, and no port has "
                             "originateTls; expected originateTls: true on a port, got none")
        if "." in self.export_to and self.namespace is not None and self.namespace in self.export_to:
            raise ValueError(f"exportTo lists both . and {self.namespace!r}, the entry's own namespace")
        return self

    def _routable_through_gateway(self) -> None:
        # The gateway listens on one port per kind (80 HTTP, 443 TLS): what arrives there must lead to one port of
        # the host, and a TCP connection carries no host name the gateway could route by.
        tcp = [port.number for port in self.ports if port.protocol is EgressProtocol.TCP]
        if tcp:
            raise ValueError(f"TCP port(s) {', '.join(map(str, tcp))} cannot be routed through an egress gateway "
                             "(a TCP connection names no host to route by); expected HTTP, HTTP2, GRPC, HTTPS or TLS "
                             "ports with gateway, got TCP")
        for kind in ("HTTP", "TLS"):
            numbers = [port.number for port in self.ports
                       if (port.protocol.is_http if kind == "HTTP" else port.protocol.is_tls)]
            if len(numbers) > 1:
                raise ValueError(f"through an egress gateway, {kind} traffic arrives on one gateway port, which "
                                 f"can lead to one port of the host; expected one {kind} port, got "
                                 f"{', '.join(map(str, numbers))} (declare another external service for the other)")


#: External services by name (the ServiceEntry's name).
EgressSpec = dict[DnsLabel, ExternalService]
