"""Configuration of the Istio control plane: charts, revision, HA, mesh config, gateways."""

from __future__ import annotations

import dataclasses
import enum
import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from ..versions import DEFAULT_ISTIO_VERSION
from .base import DNS_LABEL_PATTERN, INT32_MAX, DnsLabel, DnsSubdomain, ImageDigest, Model
from .ingress import CertManagerSpec, GatewayApi, IngressTls


class IstioImage(str, enum.Enum):
    """Istio's images, by the names of their repositories under the hub (``docker.io/istio/<name>``)."""

    PILOT = "pilot"
    PROXYV2 = "proxyv2"
    INSTALL_CNI = "install-cni"
    ZTUNNEL = "ztunnel"


#: The images of one istiod revision (its own istiod and the proxies it injects).
REVISION_IMAGES = (IstioImage.PILOT, IstioImage.PROXYV2)


_SHA256 = re.compile(r"[0-9a-f]{64}")


def _check_sha256(value: str) -> str:
    if not _SHA256.fullmatch(value):
        raise ValueError("must be a SHA-256 digest: 64 lower-case hex digits (no sha256: prefix), e.g. from "
                         "sha256sum, or from the SBOM of the stack (python -m mesh_rollout.show <stack> --sbom)")
    return value


#: A SHA-256 digest as 64 lower-case hex digits.
Sha256Hex = Annotated[str, AfterValidator(_check_sha256)]


class ChartRepository(Model):
    """Where Helm charts come from. One string decides the kind of source.

    - ``https://…`` / ``http://…``: a classic Helm repository (index.yaml).
    - ``oci://…``: an OCI registry; the chart name is appended (``oci://host/istio/charts`` + ``/istiod``).
    - anything else: a local directory holding one unpacked chart directory per chart name (air-gapped mirrors).
    """

    url: str = Field(description="Repository URL (https://, oci://) or local directory holding the charts.")
    plain_http: bool = Field(default=False, description="Use plain HTTP for an OCI registry (mirrors in a lab).")
    verify: bool = Field(
        default=False,
        description="Have Helm verify each chart's provenance (.prov signature and the archive's SHA-256 in it) "
        "when it fetches the chart from an https:// or oci:// source; fails when the source publishes no .prov "
        "file. Not for local directories (use sha256).",
    )
    keyring: str | None = Field(
        default=None,
        description="Public keyring file (GnuPG, e.g. ~/.gnupg/pubring.gpg exported keys) Helm verifies with; "
        "default: Helm's. Needs verify.",
    )
    sha256: dict[str, Sha256Hex] = Field(
        default_factory=dict,
        description="Local directories only: expected SHA-256 of each chart, by chart name (e.g. {istiod: "
        "\"…64 hex…\"}): of the file for a packaged chart (<name> is a .tgz file; what sha256sum prints), of the "
        "tree for an unpacked one (see README \"Chart provenance\"; the SBOM prints the digest it finds). Checked "
        "before anything is registered.",
    )

    @model_validator(mode="after")
    def _provenance_fits_the_source(self) -> ChartRepository:
        if self.kind == "local" and self.verify:
            raise ValueError("verify checks the .prov file Helm fetches next to a chart from a repository or "
                             "registry; a local directory has none: give its digests in sha256 instead")
        if self.keyring is not None and not self.verify:
            raise ValueError("keyring is only read when verify is true: set verify: true or remove keyring")
        if self.sha256 and self.kind != "local":
            raise ValueError(f"sha256 is checked on local charts only; a {self.kind} source is verified by Helm's "
                             "provenance: use verify (and keyring) instead")
        return self

    @property
    def kind(self) -> str:
        """``http``, ``oci`` or ``local``."""
        if self.url.startswith(("http://", "https://")):
            return "http"
        if self.url.startswith("oci://"):
            return "oci"
        return "local"


class Resources(Model):
    """Kubernetes resource requests and limits, e.g. ``{requests: {cpu: 500m, memory: 2Gi}}``."""

    requests: dict[str, str] = Field(default_factory=dict, description="Resource requests (cpu, memory).")
    limits: dict[str, str] = Field(default_factory=dict, description="Resource limits (cpu, memory).")


class HighAvailability(Model):
    """How istiod survives node loss and load: replicas, autoscaling, disruption budget, resources."""

    replicas: int = Field(
        default=1, ge=1, le=INT32_MAX, description="istiod replicas (the autoscaler's minimum when enabled).")
    autoscale_max: int | None = Field(
        default=None, ge=1, le=INT32_MAX,
        description="Enable the HorizontalPodAutoscaler with this maximum; unset = no autoscaling.",
    )
    pod_disruption_budget: bool = Field(
        default=False, description="Create a PodDisruptionBudget (needs replicas >= 2 to allow node drains)."
    )
    resources: Resources | None = Field(default=None, description="istiod container resources.")

    @model_validator(mode="after")
    def _max_covers_min(self) -> HighAvailability:
        if self.autoscale_max is not None and self.autoscale_max < self.replicas:
            raise ValueError(f"autoscaleMax ({self.autoscale_max}) must be >= replicas ({self.replicas})")
        return self


class OutboundTrafficPolicy(str, enum.Enum):
    """What sidecars do with traffic to hosts outside the mesh registry."""

    ALLOW_ANY = "ALLOW_ANY"
    REGISTRY_ONLY = "REGISTRY_ONLY"


class MeshConfig(Model):
    """The parts of istiod's meshConfig this package manages (tracing providers come from observability)."""

    access_log_file: str = Field(
        default="/dev/stdout", description="Envoy access log destination; empty string turns access logs off."
    )
    outbound_traffic_policy: OutboundTrafficPolicy = Field(
        default=OutboundTrafficPolicy.ALLOW_ANY, description="ALLOW_ANY or REGISTRY_ONLY egress from sidecars."
    )


class GatewayKind(str, enum.Enum):
    """Direction of a gateway."""

    INGRESS = "ingress"
    EGRESS = "egress"


class GatewaySpec(Model):
    """An Istio gateway deployment (istio ``gateway`` chart) plus its ``Gateway`` resource for ingress."""

    kind: GatewayKind = Field(default=GatewayKind.INGRESS, description="ingress or egress.")
    namespace: str = Field(
        default="istio-ingress", pattern=DNS_LABEL_PATTERN, description="Namespace of the gateway deployment."
    )
    replicas: int = Field(
        default=1, ge=1, le=INT32_MAX, description="Gateway replicas (autoscaler minimum when autoscaleMax set).")
    autoscale_max: int | None = Field(default=None, ge=1, le=INT32_MAX, description="Autoscaler maximum; unset = off.")
    service_type: str = Field(default="LoadBalancer", description="Kubernetes Service type of the gateway.")
    tls_secret: DnsSubdomain | None = Field(
        default=None, description="Shorthand kept from earlier releases: `tls: {credentialName: <secret>, "
        "httpsRedirect: false}` (HTTPS on 443 and plaintext on 80 for every host); not together with tls."
    )
    tls: IngressTls | None = Field(
        default=None, description="TLS of every host exposed through this gateway, unless the exposure gives its own "
        "(expose.tls): mode, credentialName, minProtocolVersion, httpsRedirect.")
    cert_manager: CertManagerSpec | None = Field(
        default=None, description="cert-manager is installed: plan a Certificate (issuer, kind) for each TLS "
        "credential of this gateway, in its namespace; hosts with TLS and no credentialName get one.")
    api: GatewayApi = Field(
        default=GatewayApi.ISTIO, description="istio: an Istio Gateway and VirtualServices; gateway-api: a Gateway API "
        "Gateway (class istio, bound to this deployment) and HTTPRoutes for the services exposed through it.")
    revision: DnsLabel | None = Field(
        default=None,
        description="Revision or revision tag that injects the gateway's proxies (a tag moves the gateway with it on "
        "its next restart); default: the control plane's revision (with `revisions`: defaultRevision).",
    )
    values: dict[str, Any] = Field(default_factory=dict, description="Extra gateway chart values, deep-merged last.")

    @model_validator(mode="after")
    def _max_covers_min(self) -> GatewaySpec:
        if self.autoscale_max is not None and self.autoscale_max < self.replicas:
            raise ValueError(f"autoscaleMax ({self.autoscale_max}) must be >= replicas ({self.replicas})")
        return self

    @model_validator(mode="after")
    def _one_tls_form(self) -> GatewaySpec:
        if self.tls_secret is not None and self.tls is not None:
            raise ValueError(f"give tlsSecret (shorthand) or tls, not both; expected tls: {{credentialName: "
                             f"{self.tls_secret}, ...}} alone, got tlsSecret {self.tls_secret!r} and tls")
        if self.kind is GatewayKind.EGRESS and (self.tls or self.cert_manager or self.api is not GatewayApi.ISTIO):
            raise ValueError("tls, certManager and api configure ingress; an egress gateway takes none")
        return self

    def default_tls(self) -> IngressTls | None:
        """TLS of the hosts exposed through the gateway without their own: ``tls``, or ``tlsSecret`` read as
        ``{credentialName: <secret>, httpsRedirect: false}`` (what it always planned: HTTPS next to HTTP)."""
        if self.tls_secret is not None:
            return IngressTls(credential_name=self.tls_secret, https_redirect=False)
        return self.tls


#: Helm release names the control plane uses itself; a gateway (also a release) cannot take one.
CONTROL_PLANE_RELEASES = ("istio-base", "istiod", "istio-cni", "ztunnel")


def istiod_release(revision: str | None) -> str:
    """The Helm release of a revision's istiod: ``istiod`` in the single-revision form (``None``), else
    ``istiod-<revision>``."""
    return "istiod" if revision is None else f"istiod-{revision}"


def revision_from_version(version: str) -> str:
    """Istio revision names cannot contain dots: ``1.30.4`` becomes ``1-30-4``."""
    return version.replace(".", "-")


_VERSION = re.compile(r"([0-9]+)\.([0-9]+)\.([0-9]+)(-[0-9A-Za-z.-]+)?")


def _check_version(version: str) -> str:
    # ASCII digits only: a pattern's \d would take Arabic-Indic or full-width digits.
    if not _VERSION.fullmatch(version):
        raise ValueError("must be an Istio version like 1.30.4 (ASCII digits; optional suffix such as -beta.1)")
    return version


#: An Istio release version such as ``1.30.4``.
IstioVersion = Annotated[str, AfterValidator(_check_version)]


def version_key(version: str) -> tuple[int, int, int, int, str]:
    """Sort key of an Istio version: 1.30.4 after 1.30.4-beta.1 after 1.29.9."""
    match = _VERSION.fullmatch(version)
    assert match is not None  # IstioVersion
    major, minor, patch, pre = match.groups()
    return (int(major), int(minor), int(patch), 0 if pre else 1, pre or "")


class RevisionSpec(Model):
    """One control-plane revision installed side by side with others (its own istiod, same CRDs)."""

    version: IstioVersion = Field(description="Istio version of this revision's istiod, e.g. 1.30.4.")
    istiod_values: dict[str, Any] = Field(
        default_factory=dict,
        description="Extra istiod chart values for this revision, deep-merged over controlPlane.istiodValues.",
    )
    charts: ChartRepository | None = Field(
        default=None, description="Where this revision's istiod chart comes from; default: controlPlane.charts "
        "(a local directory holds one version: give each version its own).",
    )
    image_digests: dict[IstioImage, ImageDigest] = Field(
        default_factory=dict,
        description="Digests of this revision's images (pilot, proxyv2), e.g. {pilot: \"sha256:…\"}: istiod and "
        "the proxies it injects are then referenced as hub/image:version@sha256:….",
    )

    @field_validator("image_digests")
    @classmethod
    def _revision_images_only(cls, digests: dict[IstioImage, str]) -> dict[IstioImage, str]:
        other = sorted(image.value for image in digests if image not in REVISION_IMAGES)
        if other:
            raise ValueError(f"a revision has the images pilot and proxyv2; {', '.join(other)} belong in "
                             "controlPlane.imageDigests (one cni and one ztunnel for all revisions)")
        return digests


@dataclass(frozen=True)
class InstalledRevision:
    """A revision the plan installs: its name, version, extra values and Helm release name."""

    name: str
    version: str
    istiod_values: dict[str, Any]
    #: Helm release of its istiod chart: ``istiod`` in the single-revision form, ``istiod-<revision>`` otherwise.
    release: str
    #: Its chart source when it is not the control plane's.
    charts: ChartRepository | None = None
    #: Digests of its images (pilot, proxyv2), by image.
    image_digests: dict[IstioImage, str] = dataclasses.field(default_factory=dict)


class ControlPlaneSpec(Model):
    """The Istio control plane: installed from Istio's Helm charts, or brought by the user (managed Istio)."""

    install: bool = Field(
        default=True,
        description="Install Istio's charts. false = bring your own control plane: only mesh config is laid down.",
    )
    version: IstioVersion = Field(
        default=DEFAULT_ISTIO_VERSION, description="Istio version (x.y.z, e.g. 1.30.4; a pre-release suffix "
        "such as -beta.1 is allowed). Single-revision form; with `revisions`, each revision has its own."
    )
    revision: DnsLabel | None = Field(
        default=None, description="Revision name; default: version with dots as dashes. Single-revision form."
    )
    revisions: dict[DnsLabel, RevisionSpec] = Field(
        default_factory=dict,
        description="Several revisions side by side, by name (e.g. {1-29-2: {version: 1.29.2}, 1-30-4: {version: "
        "1.30.4}}): the canary upgrade of the control plane (README \"Upgrading the control plane\"). Replaces "
        "version and revision.",
    )
    revision_tags: list[DnsLabel] | dict[DnsLabel, DnsLabel] = Field(
        default_factory=list,
        description="Revision tags: a list of tags pointing at the one revision, or, with `revisions`, a mapping "
        "tag -> revision (e.g. {stable: 1-29-2, canary: 1-30-4}). Namespaces and gateways that name a tag move "
        "when the tag moves.",
    )
    default_revision: bool | DnsLabel = Field(
        default=True,
        description="Which revision is the default (its validation webhook answers for the cluster; namespaces "
        "without a revision get it): true/false in the single-revision form; with `revisions`, a revision or tag "
        "name (default: the first tag, else the newest revision).",
    )
    namespace: str = Field(default="istio-system", pattern=DNS_LABEL_PATTERN, description="Control plane namespace.")
    ambient: bool = Field(default=False,
                          description="Install ambient mode: istiod and cni with profile ambient, ztunnel.")
    charts: ChartRepository | None = Field(
        default=None, description="Where Istio's charts come from. Required when install is true."
    )
    high_availability: HighAvailability = Field(default_factory=HighAvailability, description="istiod HA settings.")
    mesh_config: MeshConfig = Field(default_factory=MeshConfig, description="Managed parts of istiod's meshConfig.")
    mesh_id: str | None = Field(default=None, description="global.meshID (multi-cluster meshes).")
    cluster_name: str | None = Field(default=None, description="global.multiCluster.clusterName.")
    network: str | None = Field(default=None, description="global.network (multi-network meshes).")
    proxy_resources: Resources | None = Field(default=None, description="Sidecar proxy resources (global.proxy).")
    gateways: dict[DnsLabel, GatewaySpec] = Field(default_factory=dict, description="Gateways by name.")
    istiod_values: dict[str, Any] = Field(
        default_factory=dict, description="Extra istiod chart values, deep-merged over the generated ones."
    )
    image_digests: dict[IstioImage, ImageDigest] = Field(
        default_factory=dict,
        description="Image digests by Istio image (pilot, proxyv2, install-cni, ztunnel), e.g. {pilot: "
        "\"sha256:…\", proxyv2: \"sha256:…\"}: each image is then deployed as docker.io/istio/<image>:<version>"
        "@sha256:… (the tag stays readable, the digest decides). With `revisions`, pilot and proxyv2 go in each "
        "revision's imageDigests. Check MR240 requires them in production stacks.",
    )

    @field_validator("gateways")
    @classmethod
    def _gateway_names_are_not_release_names(cls, gateways: dict[str, GatewaySpec],
                                             info: ValidationInfo) -> dict[str, GatewaySpec]:
        # A gateway is a Helm release too: it cannot take the name of one of the control plane's own, including the
        # istiod release of each revision (`revisions` is validated before `gateways`).
        istiods = sorted(istiod_release(name) for name in info.data.get("revisions") or {})
        reserved = (*CONTROL_PLANE_RELEASES, *istiods)
        taken = sorted(set(gateways) & set(reserved))
        if taken:
            raise ValueError(f"gateway name(s) {', '.join(taken)} are the control plane's own Helm releases "
                             f"({', '.join(reserved)}): choose another name, e.g. ingress")
        return gateways

    @model_validator(mode="after")
    def _one_form_of_revisions(self) -> ControlPlaneSpec:
        if self.revisions:
            given = sorted(self.model_fields_set & {"version", "revision"})
            if given:
                raise ValueError(f"set either revisions or {' and '.join(given)} (the single-revision form), not "
                                 "both: with revisions, each revision has its own version")
            if isinstance(self.default_revision, bool) and "default_revision" in self.model_fields_set:
                raise ValueError("with revisions, defaultRevision names a revision or tag (e.g. stable), not "
                                 "true/false")
        else:
            if isinstance(self.revision_tags, dict):
                targets = {target for target in self.revision_tags.values() if target != self.revision_name}
                if targets:
                    raise ValueError(f"revisionTags point at {', '.join(sorted(targets))}, but the only revision "
                                     f"is {self.revision_name}: list the tags, or declare revisions")
            if isinstance(self.default_revision, str) and self.default_revision not in (
                    self.revision_name, *self.tag_targets):
                raise ValueError(f"defaultRevision {self.default_revision!r} is neither the revision "
                                 f"{self.revision_name} nor one of its tags")
        return self

    @model_validator(mode="after")
    def _revision_digests_per_revision(self) -> ControlPlaneSpec:
        if self.revisions:
            misplaced = sorted(image.value for image in self.image_digests if image in REVISION_IMAGES)
            if misplaced:
                raise ValueError(f"with revisions, each revision has its own version and so its own digests: move "
                                 f"{', '.join(misplaced)} into revisions.<name>.imageDigests")
        return self

    @model_validator(mode="after")
    def _charts_when_installing(self) -> ControlPlaneSpec:
        if self.install and self.charts is None:
            raise ValueError(
                "charts.url is required when install is true (an https:// Helm repo, an oci:// registry or a "
                "local chart directory); set install: false to bring your own control plane"
            )
        return self

    @property
    def revision_name(self) -> str:
        """The default revision: the configured (or derived) one in the single-revision form; with `revisions`,
        the revision defaultRevision resolves to (else the newest)."""
        if not self.revisions:
            return self.revision or revision_from_version(self.version)
        chosen = self.default_revision if isinstance(self.default_revision, str) else None
        if chosen is None and self.tag_targets:
            chosen = next(iter(self.tag_targets))
        resolved = self.tag_targets.get(chosen, chosen) if chosen is not None else None
        if resolved in self.revisions:
            return resolved
        return max(self.revisions, key=lambda name: (version_key(self.revisions[name].version), name))

    @property
    def installed_revisions(self) -> dict[str, InstalledRevision]:
        """Every revision the plan installs, by name, oldest version first."""
        if not self.revisions:
            name = self.revision_name
            return {name: InstalledRevision(name, self.version, {}, istiod_release(None), image_digests={
                image: digest for image, digest in self.image_digests.items() if image in REVISION_IMAGES})}
        ordered = sorted(self.revisions.items(), key=lambda item: (version_key(item[1].version), item[0]))
        return {name: InstalledRevision(name, spec.version, dict(spec.istiod_values), istiod_release(name), spec.charts,
                                        dict(spec.image_digests))
                for name, spec in ordered}

    @property
    def tag_targets(self) -> dict[str, str]:
        """Revision tag -> the revision it points at."""
        if isinstance(self.revision_tags, dict):
            return dict(self.revision_tags)
        single = self.revision or revision_from_version(self.version)
        return {tag: single for tag in self.revision_tags}

    @property
    def revision_and_tag_names(self) -> list[str]:
        """Every name an ``istio.io/rev`` label may carry for this control plane: its revisions, then its tags."""
        return [*self.installed_revisions, *self.tag_targets]

    def tags_of(self, revision: str) -> list[str]:
        """The tags pointing at ``revision``, in config order."""
        return [tag for tag, target in self.tag_targets.items() if target == revision]

    @property
    def newest_version(self) -> str:
        """The newest installed version (the base chart, with the CRDs, comes from it)."""
        return max((r.version for r in self.installed_revisions.values()), key=version_key)

    def gateway_revision(self, name: str) -> str:
        """The revision label of a gateway's pods."""
        gateway = self.gateways[name]
        if gateway.revision is not None:
            return gateway.revision
        return self.injection_revision if self.revisions else self.revision_name

    @property
    def injection_revision(self) -> str:
        """What namespaces and gateways without a revision are labelled with: defaultRevision when it names one,
        else the first revision tag, else the default revision."""
        if isinstance(self.default_revision, str):
            return self.default_revision
        tags = list(self.tag_targets)
        return tags[0] if tags else self.revision_name

    @property
    def is_default_installed(self) -> bool:
        """Whether the base chart makes a revision the cluster's default (``defaultRevision: false`` opts out)."""
        return self.default_revision is not False
