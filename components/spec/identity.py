"""The mesh's certificate authority: Istio's self-signed CA, or a root and per-cluster intermediate plugged into
istiod through the ``cacerts`` Secret (Istio's "Plug in CA Certificates" task)."""

from __future__ import annotations

import datetime as dt
import enum
import re

from pydantic import Field, field_validator, model_validator

from .base import INT32_MAX, Model


class CaMode(str, enum.Enum):
    """Where istiod's signing certificate comes from."""

    #: Istio's default: istiod generates a self-signed root (``istio-ca-secret``); the stack creates nothing.
    ISTIOD = "istiod"
    #: The stack generates a root CA and this cluster's intermediate, and creates ``cacerts`` from them.
    GENERATED = "generated"
    #: A ``cacerts`` Secret created out of band (by your PKI tooling); the stack creates nothing.
    EXISTING = "existing"
    #: The four PEM files from Pulumi secret config; the stack creates ``cacerts`` from them.
    SUPPLIED = "supplied"


class KeyAlgorithm(str, enum.Enum):
    """Key type (and size or curve) of the generated root and intermediate."""

    RSA_2048 = "rsa-2048"
    RSA_3072 = "rsa-3072"
    RSA_4096 = "rsa-4096"
    ECDSA_P256 = "ecdsa-p256"


#: Istio's own tooling (tools/certs/common.mk) makes a 10-year root and 2-year intermediates.
DEFAULT_ROOT_DAYS = 3650
DEFAULT_INTERMEDIATE_DAYS = 730
#: A certificate needs at least a day, and X.509's GeneralizedTime stops at year 9999.
MAX_VALIDITY_DAYS = 36500

_ENGINE_DATE = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})(?: 00:00:00 \+0000 UTC)?")

# Printable characters only: the value becomes an X.509 subject attribute.
_SUBJECT_TEXT = re.compile(r"[^\x00-\x1f\x7f]{1,64}")


class GeneratedCa(Model):
    """The root and intermediate this stack generates (``mode: generated``)."""

    organization: str = Field(default="Istio", description="Subject organization (O) of both certificates.")
    key_algorithm: KeyAlgorithm = Field(
        default=KeyAlgorithm.RSA_4096,
        description="Key of both certificates: rsa-2048, rsa-3072, rsa-4096 (Istio's tooling default) or "
        "ecdsa-p256.")
    root_validity_days: int = Field(
        default=DEFAULT_ROOT_DAYS, ge=1, le=MAX_VALIDITY_DAYS, description="Validity of the root certificate, days.")
    intermediate_validity_days: int = Field(
        default=DEFAULT_INTERMEDIATE_DAYS, ge=1, le=MAX_VALIDITY_DAYS,
        description="Validity of this cluster's intermediate (istiod's signing certificate), days; at most "
        "rootValidityDays (check MR310).")
    rotation: int = Field(
        default=0, ge=0, le=INT32_MAX,
        description="Bump to replace the intermediate (new key, new serial, same root), e.g. before it expires; "
        "istiod reads cacerts at startup, so restart it afterwards (README \"Mesh CA\").")
    root_rotation: int = Field(
        default=0, ge=0, le=INT32_MAX,
        description="Bump to replace the root and the intermediate: workloads holding certificates of the old root "
        "no longer trust new ones until restarted (README \"Mesh CA\": rotating the root).")

    @field_validator("organization")
    @classmethod
    def _printable(cls, value: str) -> str:
        if not _SUBJECT_TEXT.fullmatch(value):
            raise ValueError("must be 1-64 printable characters (it becomes the certificates' subject O)")
        return value


class CertificateAuthoritySpec(Model):
    """``mesh.certificateAuthority``: the CA istiod signs workload certificates with."""

    mode: CaMode = Field(
        default=CaMode.ISTIOD,
        description="istiod (Istio's self-signed CA, nothing created), generated (root + intermediate generated "
        "by this stack), existing (cacerts created out of band) or supplied (PEMs from secret config).")
    generated: GeneratedCa | None = Field(
        default=None, description="Mode generated: the certificates' subject, key, validity and rotation counters "
        "(defaults when omitted).")
    rotate_by: dt.date | None = Field(
        default=None,
        description="Modes existing and supplied: the date by which the plugged-in intermediate must be replaced "
        "(before it expires); required in production (check MR311).")

    @field_validator("rotate_by", mode="before")
    @classmethod
    def _calendar_date(cls, value: object) -> object:
        # An unquoted date in a stack file reaches the program as Go prints a time ("2027-06-01 00:00:00 +0000
        # UTC", see engine_yaml); PyYAML gives a date; a quoted one is a string. All three mean the same day.
        if isinstance(value, dt.datetime):
            raise ValueError("must be a calendar date like 2027-06-01, got a date and time")
        if isinstance(value, str):
            match = _ENGINE_DATE.fullmatch(value)
            if match is None:
                raise ValueError(f"must be a calendar date like 2027-06-01, got {value!r}")
            try:
                return dt.date.fromisoformat(match.group(1))
            except ValueError as error:
                raise ValueError(f"must be a calendar date like 2027-06-01 ({error}), got {value!r}") from None
        return value

    @model_validator(mode="after")
    def _fields_fit_the_mode(self) -> CertificateAuthoritySpec:
        if self.generated is not None and self.mode is not CaMode.GENERATED:
            raise ValueError(f"generated applies to mode: generated only, got mode: {self.mode.value}; remove "
                             "generated or set mode: generated")
        if self.rotate_by is not None and self.mode not in (CaMode.EXISTING, CaMode.SUPPLIED):
            raise ValueError(f"rotateBy documents certificates made outside the stack (mode existing or supplied), "
                             f"got mode: {self.mode.value}; a generated CA's validity and rotation are under "
                             "generated")
        return self

    @property
    def generation(self) -> GeneratedCa:
        """The generation settings (defaults when ``generated`` is omitted)."""
        return self.generated if self.generated is not None else GeneratedCa()

    @property
    def plugged_in(self) -> bool:
        """istiod reads a ``cacerts`` Secret (any mode but ``istiod``)."""
        return self.mode is not CaMode.ISTIOD

    @property
    def creates_secret(self) -> bool:
        """The stack creates the ``cacerts`` Secret (modes ``generated`` and ``supplied``)."""
        return self.mode in (CaMode.GENERATED, CaMode.SUPPLIED)
