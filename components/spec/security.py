"""Configuration of mutual TLS and zero-trust access."""

from __future__ import annotations

import enum
import json
import re
import urllib.parse
from typing import Annotated, Any

from pydantic import AfterValidator, Field, field_validator, model_validator

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


def check_policy_paths(paths: list[str]) -> list[str]:
    """``paths`` when Istio accepts each as an AuthorizationPolicy path (not empty, its template rules); else a
    ValueError naming the first one it refuses."""
    for path in paths:
        problem = "a path cannot be empty" if not path else path_template_problem(path)
        if problem:
            raise ValueError(f"path {path!r}: {problem}")
    return paths


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
        return check_policy_paths(paths)  # empty entries were refused above, with their own message

    @property
    def is_l7(self) -> bool:
        """Whether the rule needs an L7 proxy (sidecar or waypoint) to enforce it."""
        return bool(self.methods or self.paths)


#: An HTTP header name as RFC 7230 defines a token (what Envoy accepts for a header to read a token from).
_HEADER_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~A-Za-z0-9]+")


class JwtHeader(Model):
    """A request header a token is read from, e.g. ``{name: x-jwt-assertion}`` or ``{name: Authorization,
    prefix: "Bearer "}``."""

    name: str = Field(description="Header name.")
    prefix: str | None = Field(default=None, description="Text before the token in the header value, e.g. 'Bearer '.")

    @field_validator("name")
    @classmethod
    def _header_name(cls, name: str) -> str:
        if not _HEADER_TOKEN.fullmatch(name):
            raise ValueError(f"{name!r} is not an HTTP header name (letters, digits and !#$%&'*+-.^_`|~)")
        return name


class ClaimToHeader(Model):
    """Copy a claim of a valid token into a request header for the application."""

    header: str = Field(pattern=r"^[-_A-Za-z0-9]+$", description="Header to set (letters, digits, - and _).")
    claim: str = Field(min_length=1, description="Claim to copy, e.g. sub.")


def _check_jwks(value: str) -> str:
    try:
        document = json.loads(value)
    except ValueError as error:
        raise ValueError(f"jwks must be a JSON Web Key Set as JSON text ({error})") from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list) or not document["keys"]:
        raise ValueError('jwks must be a JSON object with a non-empty "keys" list (a JSON Web Key Set)')
    return value


def _check_url(value: str) -> str:
    parsed = urllib.parse.urlsplit(value)
    if parsed.scheme not in ("http", "https") or not parsed.hostname or len(value) > 2048:
        raise ValueError(f"{value!r} is not an http:// or https:// URL with a host (at most 2048 characters)")
    return value


class JwtIssuer(Model):
    """An issuer of end-user tokens (JWT) and how a proxy validates them: one ``jwtRules`` entry of a
    RequestAuthentication."""

    issuer: str = Field(min_length=1, description="The token's iss claim, e.g. https://accounts.google.com.")
    jwks_uri: Annotated[str, AfterValidator(_check_url)] | None = Field(
        default=None, description="URL of the issuer's public keys (JWKS); https in production. Unset with no jwks: "
        "istiod finds it through the issuer's OpenID discovery document.")
    jwks: Annotated[str, AfterValidator(_check_jwks)] | None = Field(
        default=None, description="The public keys inline, as JSON text (a JSON Web Key Set).")
    audiences: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list, description="Accepted aud values; empty = the token's audience is not checked.")
    from_headers: list[JwtHeader] = Field(
        default_factory=list, description="Headers to read the token from; default Authorization: Bearer <token>.")
    from_params: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list, description="Query parameters to read the token from, e.g. access_token.")
    forward_original_token: bool = Field(
        default=False, description="Keep the token in the request forwarded to the application.")
    output_claim_to_headers: list[ClaimToHeader] = Field(
        default_factory=list, description="Claims copied into request headers, e.g. [{header: x-user, claim: sub}].")

    @model_validator(mode="after")
    def _one_key_source(self) -> JwtIssuer:
        if self.jwks_uri is not None and self.jwks is not None:
            raise ValueError("set jwksUri or jwks, not both (Istio refuses a rule with two key sources)")
        return self


class JwtPolicy(Model):
    """Where tokens are validated (a RequestAuthentication) and whether a request without one is refused."""

    issuers: list[DnsLabel] = Field(min_length=1, description="Names of issuers from endUserAuth.issuers.")
    require_token: bool = Field(
        default=False,
        description="Deny requests that carry no valid token (an AuthorizationPolicy DENY on notRequestPrincipals "
        "['*']). Without it, a request with no token passes: RequestAuthentication only rejects invalid tokens.")
    except_paths: list[str] = Field(
        default_factory=list,
        description="Paths that need no token with requireToken (e.g. /healthz), Istio path syntax.")

    @field_validator("issuers")
    @classmethod
    def _unique_issuers(cls, issuers: list[str]) -> list[str]:
        twice = sorted({name for name in issuers if issuers.count(name) > 1})
        if twice:
            raise ValueError(f"issuer listed twice: {', '.join(twice)}")
        return issuers

    @field_validator("except_paths")
    @classmethod
    def _paths(cls, paths: list[str]) -> list[str]:
        return check_policy_paths(paths)

    @model_validator(mode="after")
    def _paths_need_requirement(self) -> JwtPolicy:
        if self.except_paths and not self.require_token:
            raise ValueError("exceptPaths exempts paths from requireToken, which is not set; expected requireToken: "
                             "true, got false")
        return self


class EndUserAuthSpec(Model):
    """End-user authentication: token issuers, and where their tokens are validated. The ALLOW rules on users
    (``services.<name>.access.allowUsers``) build on it."""

    issuers: dict[DnsLabel, JwtIssuer] = Field(default_factory=dict, description="Token issuers by name.")
    namespaces: dict[DnsLabel, JwtPolicy] = Field(
        default_factory=dict,
        description="Validate tokens for every workload of a namespace (the root namespace: the whole mesh).")
    workloads: dict[DnsLabel, JwtPolicy] = Field(
        default_factory=dict, description="Validate tokens for one service's workloads, by service name.")
    gateways: dict[DnsLabel, JwtPolicy] = Field(
        default_factory=dict, description="Validate tokens at an ingress gateway, by name in controlPlane.gateways.")


#: A claim name: letters, digits and the characters Istio keeps inside ``request.auth.claims[...]`` (no brackets).
_CLAIM = re.compile(r"[^\[\]\s]+")


class ClaimMatch(Model):
    """A condition on a claim of the request's token (list claims match when any element matches)."""

    claim: str | list[str] = Field(
        description="Claim name (groups), or the path to a nested claim ([realm_access, roles]).")
    values: list[Annotated[str, Field(min_length=1)]] = Field(
        min_length=1, description="Accepted values; a * prefix or suffix is a wildcard.")

    @field_validator("claim")
    @classmethod
    def _claim_names(cls, claim: str | list[str]) -> str | list[str]:
        parts = [claim] if isinstance(claim, str) else claim
        if not parts:
            raise ValueError("a nested claim path needs at least one name")
        for part in parts:
            if not _CLAIM.fullmatch(part):
                raise ValueError(f"claim name {part!r} must be non-empty without brackets or spaces (Istio writes "
                                 "request.auth.claims[name])")
        return claim

    @property
    def key(self) -> str:
        """The AuthorizationPolicy condition key: ``request.auth.claims[groups]``."""
        parts = [self.claim] if isinstance(self.claim, str) else self.claim
        return "request.auth.claims" + "".join(f"[{part}]" for part in parts)


class EndUser(Model):
    """End users allowed to call a service: holders of a valid token of one issuer, optionally narrowed to
    subjects, claims, methods and paths."""

    issuer: DnsLabel = Field(description="Issuer name from endUserAuth.issuers.")
    subjects: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list, description="Allowed sub claims; empty = any subject of the issuer.")
    claims: list[ClaimMatch] = Field(default_factory=list, description="Claim conditions (all must hold).")
    methods: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list, description="Allowed HTTP methods; empty = any.")
    paths: list[str] = Field(default_factory=list, description="Allowed paths, Istio path syntax; empty = any.")

    @field_validator("paths")
    @classmethod
    def _path_templates(cls, paths: list[str]) -> list[str]:
        return check_policy_paths(paths)


class AccessSpec(Model):
    """Who may call a service. An empty allow-list with ``allowFrom`` unset leaves access unmanaged."""

    allow_from: list[Caller] | None = Field(
        default=None,
        description="Callers allowed in (e.g. ['shop/order']); everything else is denied for this service. "
        "An empty list denies every caller.",
    )

    allow_users: list[EndUser] | None = Field(
        default=None,
        description="End users allowed in by their token (endUserAuth), next to allowFrom's workload callers: a "
        "request passes when it matches either. Set, the ingress gateway is not let in unconditionally: its requests "
        "need a token like any other.",
    )

    @property
    def restricted(self) -> bool:
        """Whether the service gets an ALLOW policy (an allow-list of callers or of end users is given)."""
        return self.allow_from is not None or self.allow_users is not None

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
