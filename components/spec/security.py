"""Configuration of mutual TLS and zero-trust access."""

from __future__ import annotations

import enum
import re
from typing import Any

from pydantic import Field, field_validator, model_validator

from .base import DNS_LABEL_PATTERN, DnsLabel, DnsSubdomain, Model


class MtlsMode(str, enum.Enum):
    """PeerAuthentication modes."""

    STRICT = "STRICT"
    PERMISSIVE = "PERMISSIVE"
    DISABLE = "DISABLE"
    UNSET = "UNSET"


class WorkloadMtls(Model):
    """An mTLS exception for one service's workloads, optionally per port."""

    mode: MtlsMode = Field(default=MtlsMode.UNSET, description="Mode for the whole workload (UNSET = inherit).")
    ports: dict[int, MtlsMode] = Field(
        default_factory=dict, description="Port-level modes, e.g. {9090: DISABLE} for a plaintext metrics scrape."
    )

    @field_validator("ports")
    @classmethod
    def _port_numbers(cls, ports: dict[int, MtlsMode]) -> dict[int, MtlsMode]:
        bad = [port for port in ports if not 1 <= port <= 65535]
        if bad:
            raise ValueError(f"port numbers must be 1-65535, got {', '.join(map(str, bad))}")
        return ports


class MtlsSpec(Model):
    """Mutual TLS: one mesh-wide mode with namespace and workload exceptions.

    Safe migration: start PERMISSIVE (plaintext and mTLS both accepted), check Kiali/metrics show only mTLS traffic,
    then switch the mesh to STRICT, keeping PERMISSIVE exceptions only where plaintext clients remain.
    """

    mode: MtlsMode = Field(default=MtlsMode.STRICT, description="Mesh-wide mode (PeerAuthentication in the root ns).")
    namespaces: dict[DnsLabel, MtlsMode] = Field(default_factory=dict, description="Per-namespace modes.")
    workloads: dict[DnsLabel, WorkloadMtls] = Field(
        default_factory=dict, description="Per-service exceptions, keyed by service name from `services`."
    )


#: A literal path segment next to a template: RFC 3986 pchar (Istio's rule).
_PATH_LITERAL = re.compile(r"[a-zA-Z0-9\-._~%!$&'()+,;:@=]+")


def path_template_problem(path: str) -> str | None:
    """Why Istio refuses ``path`` as an AuthorizationPolicy path (its template rules), or ``None``: ``{*}`` is one
    segment, ``{**}`` any number and only last among the operators; no other braces; with a template, the other
    segments are plain literals."""
    templated = "{*}" in path or "{**}" in path
    seen_any = False
    for segment in path.strip("/").split("/"):
        if segment in ("{*}", "{**}"):
            if seen_any:
                return "{**} must be the last operator"
            seen_any = segment == "{**}"
            continue
        if "{" in segment or "}" in segment:
            return "'{' or '}' only as whole segments {*} or {**}"
        if templated and not _PATH_LITERAL.fullmatch(segment):
            return (f"segment {segment!r} is not a plain literal (letters, digits and -._~%!$&'()+,;:@=), which a path "
                    "with {*} or {**} requires")
    return None


_IDENTITY = re.compile(r"^(?P<namespace>[a-z0-9-]+)/(?P<service_account>[a-z0-9.-]+)$")


class Caller(Model):
    """A workload identity allowed to call a service: namespace + service account."""

    namespace: str = Field(pattern=DNS_LABEL_PATTERN, description="Caller's namespace.")
    service_account: DnsSubdomain = Field(description="Caller's Kubernetes service account.")
    external: bool = Field(
        default=False, description="The caller is not managed by this stack (known-unknown: warn, don't fail)."
    )
    methods: list[str] = Field(default_factory=list, description="Allowed HTTP methods (L7); empty = any.")
    paths: list[str] = Field(default_factory=list, description="Allowed paths, Istio path syntax (L7); empty = any.")

    @model_validator(mode="before")
    @classmethod
    def _from_shorthand(cls, value: str | dict[str, Any]) -> dict[str, Any]:
        # "shop/order" is shorthand for {namespace: shop, serviceAccount: order}.
        if isinstance(value, str):
            match = _IDENTITY.fullmatch(value)
            if not match:
                raise ValueError(f"caller must be '<namespace>/<serviceAccount>' or a mapping, got {value!r}")
            return {"namespace": match["namespace"], "serviceAccount": match["service_account"]}
        return value

    @field_validator("methods", "paths")
    @classmethod
    def _no_empty_entries(cls, values: list[str]) -> list[str]:
        if any(not value for value in values):
            raise ValueError("entries cannot be empty (Istio refuses an empty method or path)")
        return values

    @field_validator("paths")
    @classmethod
    def _path_templates(cls, paths: list[str]) -> list[str]:
        for path in paths:
            problem = path_template_problem(path)
            if problem:
                raise ValueError(f"path {path!r}: {problem}")
        return paths

    @property
    def is_l7(self) -> bool:
        """Whether the rule needs an L7 proxy (sidecar or waypoint) to enforce it."""
        return bool(self.methods or self.paths)


class AccessSpec(Model):
    """Who may call a service. An empty allow-list with ``allowFrom`` unset leaves access unmanaged."""

    allow_from: list[Caller] | None = Field(
        default=None,
        description="Callers allowed in (e.g. ['shop/order']); everything else is denied for this service. "
        "An empty list denies every caller.",
    )

    @field_validator("allow_from")
    @classmethod
    def _unique(cls, callers: list[Caller] | None) -> list[Caller] | None:
        if callers is None:
            return callers
        seen = set()
        for caller in callers:
            key = (caller.namespace, caller.service_account, tuple(caller.methods), tuple(caller.paths))
            if key in seen:
                raise ValueError(f"caller {caller.namespace}/{caller.service_account} is listed twice")
            seen.add(key)
        return callers
