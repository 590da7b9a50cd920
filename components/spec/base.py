"""Shared building blocks of the typed configuration: the model base class and value types."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

# Go's time.ParseDuration syntax (what Istio's CEL rules and istioctl parse): one or more decimal numbers, each
# with a unit. ASCII digits only (`\d` would take `５` or `١`), nothing after the last unit (`$` would allow "\n").
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")
_UNIT_NANOS = {"ns": 1, "us": 1_000, "\u00b5s": 1_000, "\u03bcs": 1_000, "ms": 1_000_000, "s": 10**9,
               "m": 60 * 10**9, "h": 3600 * 10**9}
#: Go durations are int64 nanoseconds: anything longer overflows (and the server refuses it).
_MAX_NANOS = 2**63 - 1

#: Kubernetes object names and label values Istio accepts for namespaces, services and versions.
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"

def _check_dns_label(name: str) -> str:
    if not re.fullmatch(DNS_LABEL_PATTERN, name):
        raise ValueError(f"name {name!r} must be a DNS label: 1-63 lowercase letters, digits or '-', starting and "
                         "ending with a letter or digit (it becomes a Kubernetes object name)")
    return name


#: A name that becomes (part of) a Kubernetes object name or label value: namespaces, services, versions, gateways.
DnsLabel = Annotated[str, AfterValidator(_check_dns_label)]

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def _check_digest(value: str) -> str:
    if not _DIGEST.fullmatch(value):
        raise ValueError("must be an image digest: sha256: and 64 lower-case hex digits (e.g. from `crane digest` or "
                         "`docker buildx imagetools inspect`)")
    return value


#: An OCI image digest, ``sha256:`` + 64 lower-case hex digits.
ImageDigest = Annotated[str, AfterValidator(_check_digest)]


def _check_dns_subdomain(name: str) -> str:
    if len(name) > 253 or not _DNS_SUBDOMAIN.fullmatch(name):
        raise ValueError(f"name {name!r} must be a DNS subdomain: lowercase letters, digits, '-' and '.', at most 253 "
                         "characters (a Kubernetes object name such as a service account)")
    return name


#: A Kubernetes object name that may contain dots (service accounts).
DnsSubdomain = Annotated[str, AfterValidator(_check_dns_subdomain)]

#: HTTP/2 pseudo-headers Istio accepts as match keys.
PSEUDO_HEADERS = frozenset({":method", ":scheme", ":authority", ":path", ":status"})


def _check_header_name(name: str) -> str:
    # Istio's rule (pkg/config/validation): an RFC 7230 token, a pseudo-header, or a JWT claim route.
    if name in PSEUDO_HEADERS or re.fullmatch(r"@request\.auth\.claims(\.[^.\s]+)+", name):
        return name
    if not re.fullmatch(r"[!#$%&'*+\-.^_`|~A-Za-z0-9]+", name):
        raise ValueError(f"header name {name!r} is not an HTTP header name (letters, digits and !#$%&'*+-.^_`|~), "
                         "a pseudo-header (:authority, :method, :path, :scheme) or @request.auth.claims.<claim>")
    return name


#: An HTTP header name as Istio accepts it in a match.
HeaderName = Annotated[str, AfterValidator(_check_header_name)]

#: Bounds of the protobuf integer types Istio's APIs use (the API server refuses JSON numbers beyond them).
INT32_MAX = 2**31 - 1
UINT32_MAX = 2**32 - 1

# Kubernetes label syntax (apimachinery's IsQualifiedName / IsValidLabelValue).
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# A domain name as Istio validates hosts: dot-separated DNS labels (letters in either case), optional "*." prefix.
_DOMAIN_LABEL = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?$")


class Model(BaseModel):
    """Base of every config model.

    Config keys are camelCase (as in Istio's own YAML), Python attributes snake_case. Unknown keys are rejected
    rather than ignored, so a typo such as ``perTryTimout`` is an error instead of a silently dropped setting.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        use_enum_values=False,
        validate_default=True,
    )


def duration_nanos(value: str) -> int:
    """Nanoseconds in a duration string as Go (and so Istio) parses it: ``250ms``, ``2s``, ``1m30s``, ``2000us``."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"not a duration like 250ms, 2s, 1m30s or 1h: {value!r}")
    position, total = 0, Decimal(0)
    for match in _DURATION_PART.finditer(value):
        if match.start() != position:
            break
        total += Decimal(match.group(1)) * _UNIT_NANOS[match.group(2)]
        position = match.end()
    if position != len(value):
        raise ValueError(f"not a duration like 250ms, 2s, 1m30s or 1h: {value!r}")
    if total > _MAX_NANOS:
        raise ValueError(f"duration overflows (Go durations are at most about 2562047h): {value!r}")
    return int(total)


def duration_seconds(value: str) -> float:
    """Seconds in an Istio duration string such as ``250ms``, ``2s``, ``1m30s`` or ``1h``."""
    return duration_nanos(value) / 1e9


def _check_duration(value: str) -> str:
    try:
        nanos = duration_nanos(value)
    except ValueError as error:
        if "overflows" in str(error):
            raise ValueError("must be at most 2562047h (Go's largest duration)") from None
        raise ValueError("must be a duration such as 250ms, 2s, 1m30s or 1h (units ns, us, ms, s, m, h)") from None
    if nanos < 1_000_000:
        # Istio's CRDs reject durations under a millisecond (x-kubernetes-validations).
        raise ValueError("must be at least 1ms")
    if nanos % 1_000_000:
        # Envoy takes milliseconds: istioctl validate refuses a fraction of one.
        raise ValueError("must be a whole number of milliseconds (e.g. 1500us is refused, 2000us is 2ms)")
    return value


#: An Istio duration (``250ms``, ``2s``, ``1m``, ``1h``), at least 1ms.
Duration = Annotated[str, AfterValidator(_check_duration)]


def label_key_problem(key: str) -> str | None:
    """Why ``key`` is not a Kubernetes label key (``[prefix/]name``), or ``None``."""
    prefix, _, name = key.rpartition("/")
    if "/" in key and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)):
        return f"label key {key!r}: the prefix must be a DNS subdomain (lowercase, dots), e.g. example.com/tier"
    if not _LABEL_NAME.fullmatch(name):
        return (f"label key {key!r}: the name must be 1-63 characters, letters, digits, '-', '_' or '.', starting and "
                "ending with a letter or digit")
    return None


def label_value_problem(value: str) -> str | None:
    """Why ``value`` is not a Kubernetes label value, or ``None``."""
    if value and not _LABEL_NAME.fullmatch(value):
        return (f"label value {value!r} must be empty or 1-63 characters, letters, digits, '-', '_' or '.', "
                "starting and ending with a letter or digit")
    return None


def _check_labels(labels: dict[str, str] | None) -> dict[str, str] | None:
    problems = [problem for key, value in (labels or {}).items()
                for problem in (label_key_problem(key), label_value_problem(value)) if problem]
    if problems:
        raise ValueError("; ".join(problems))
    return labels


#: Kubernetes labels (key and value syntax checked as the API server does).
Labels = Annotated[dict[str, str], AfterValidator(_check_labels)]


def domain_problem(value: str, wildcard: bool = False) -> str | None:
    """Why ``value`` is not a domain name (``*.`` allowed first when ``wildcard``), or ``None``."""
    name = value[2:] if wildcard and value.startswith("*.") else value
    if not name or len(value) > 253 or not all(_DOMAIN_LABEL.fullmatch(label) for label in name.split(".")):
        return (f"{value!r} is not a domain name (dot-separated labels of letters, digits and '-'"
                f"{', optionally starting with *.' if wildcard else ''})")
    if name.rsplit(".", 1)[-1].isdigit():
        # Istio refuses an all-numeric top-level label (it would read like an IP address).
        return f"{value!r} is not a domain name: the last label cannot be all digits"
    return None


def _check_domain(value: str) -> str:
    problem = domain_problem(value)
    if problem:
        raise ValueError(problem)
    return value


#: Longest cluster domain with which every service host (<63>.<63>.svc.<domain>) stays a valid DNS name (253).
MAX_CLUSTER_DOMAIN = 253 - (63 + 1 + 63 + 1 + 3 + 1)


def _check_cluster_domain(value: str) -> str:
    _check_domain(value)
    if len(value) > MAX_CLUSTER_DOMAIN:
        raise ValueError(f"is {len(value)} characters; at most {MAX_CLUSTER_DOMAIN}, so that service hosts "
                         "(<service>.<namespace>.svc.<domain>) stay within DNS's 253")
    return value


#: The Kubernetes cluster DNS domain (``cluster.local``).
ClusterDomain = Annotated[str, AfterValidator(_check_cluster_domain)]


#: A DNS domain name such as ``cluster.local`` or ``shop.example.com``.
DomainName = Annotated[str, AfterValidator(_check_domain)]


#: Longest regular expression istioctl accepts in a match, in bytes.
MAX_REGEX_LENGTH = 1024


def _check_re2(pattern: str) -> str:
    import re2  # google-re2: the RE2 engine itself (Envoy's); Python's `re` accepts what RE2 refuses

    if not pattern:
        raise ValueError("an empty regex matches everything and Istio refuses it: leave the match out instead")
    size = len(pattern.encode("utf-8"))
    if size > MAX_REGEX_LENGTH:
        # Istio counts bytes: an "é" takes two.
        raise ValueError(f"regex is {size} bytes (UTF-8); Istio accepts at most {MAX_REGEX_LENGTH}")
    bad_group = re.search(r"\(\?P?<(?![=!])([^>]*)>", pattern)
    if bad_group and not re.fullmatch(r"[A-Za-z0-9_]+", bad_group.group(1)):
        # Go's regexp (istioctl, istiod) takes only ASCII letters, digits and _ in group names; C++ RE2 takes more.
        raise ValueError(f"group name {bad_group.group(1)!r}: Istio's regex validation (Go's RE2) takes only ASCII "
                         "letters, digits and _")
    if re.search(r"(?<!\\)(\\\\)*\\C", pattern):
        # C++ RE2 takes \C (any byte); Go's regexp, which istioctl and istiod validate with, refuses it.
        raise ValueError("\\C (any byte) is not supported by Istio's regex validation (Go's RE2)")

    options = re2.Options()
    options.log_errors = False
    try:
        re2.compile(pattern, options)
    except re2.error as error:
        message = error.args[0].decode() if error.args and isinstance(error.args[0], bytes) else str(error)
        raise ValueError(f"not an RE2 regular expression ({message}); Envoy matches with RE2: no lookaround, "
                         "no backreferences") from None
    return pattern


#: A regular expression in RE2 syntax (what Envoy and Istio use).
Re2Pattern = Annotated[str, AfterValidator(_check_re2)]
