"""The plan's vocabulary: plain Kubernetes objects and Helm releases, grouped by concern, with their ordering."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any


def object_key(manifest: Mapping[str, Any]) -> str:
    """Stable identity of a Kubernetes object in the plan: ``Kind/namespace/name`` (``Kind/name`` if cluster-scoped)."""
    meta = manifest["metadata"]
    namespace = meta.get("namespace")
    return f"{manifest['kind']}/{namespace}/{meta['name']}" if namespace else f"{manifest['kind']}/{meta['name']}"


@dataclass(frozen=True)
class KubeObject:
    """One Kubernetes object the stack manages."""

    #: The object as Kubernetes would see it (apiVersion, kind, metadata, spec…).
    manifest: dict[str, Any]
    #: Keys of objects or releases that must exist first.
    depends_on: tuple[str, ...] = ()
    #: Label an object that already exists (server-side apply patch) instead of creating and owning it.
    patch: bool = False
    #: Identity of the Pulumi resource when it must not follow :attr:`key` (an object that may move to another
    #: namespace, such as the mesh-wide PeerAuthentication: a move is then one replacement, new before old).
    resource_key: str | None = None
    #: Leave the object in the cluster when the stack stops managing it (deletion only forgets it).
    retain_on_delete: bool = False
    #: Property paths whose changes Pulumi ignores after creation (``spec.http[*].route[*].weight``: fields an
    #: in-cluster controller owns).
    ignore_changes: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """See :func:`object_key`."""
        return object_key(self.manifest)

    @property
    def kind(self) -> str:
        """The object's kind."""
        return str(self.manifest["kind"])


@dataclass(frozen=True)
class HelmRelease:
    """One Helm chart installation, as ``helm.v4.Chart`` takes it."""

    #: Stable identity in the plan, also the Helm release name.
    key: str
    #: Chart reference: a chart name (with ``repository``), an ``oci://`` reference, or a local path.
    chart: str
    #: Chart version; ``None`` for local charts (the directory is the version).
    version: str | None
    #: Helm repository URL for chart names; ``None`` for OCI and local charts.
    repository: str | None
    namespace: str
    values: dict[str, Any]
    depends_on: tuple[str, ...] = ()
    #: Use plain HTTP for an OCI registry.
    plain_http: bool = False
    #: Do not wait for the chart's workloads to become ready (a node-less cluster: pods never run).
    skip_await: bool = False
    #: Key the Pulumi names of the chart's objects derive from, when not :attr:`key`. Every istiod release shares
    #: one, so an object that moves from one revision's chart to another's (a revision tag's webhook) keeps its
    #: identity and is updated, never deleted after being created.
    resource_key: str | None = None
    #: Image digests by repository (registry included): every container image of the rendered objects whose
    #: repository is here is registered as ``repository:tag@digest`` (see :func:`~.images.pin_images`).
    image_digests: Mapping[str, str] = field(default_factory=dict)
    #: Refuse (fail the preview on) a rendered container image left without a digest: a production stack that does
    #: not accept mutable tags.
    require_pinned: bool = False
    #: Have Helm verify the chart's provenance file (``.prov``) against :attr:`keyring` when it fetches the chart.
    verify: bool = False
    #: Public keyring file Helm verifies with (default: Helm's own).
    keyring: str | None = None
    #: The SHA-256 the configuration expects of a local chart, checked when the plan was made (see
    #: :func:`~.charts.chart_sha256`).
    sha256: str | None = None


@dataclass(frozen=True)
class ManifestFile:
    """A Kubernetes manifest file applied as it is (e.g. one of Istio's sample add-ons), object by object."""

    #: Stable identity in the plan.
    key: str
    #: Path of the YAML file (``~`` is expanded).
    path: str
    depends_on: tuple[str, ...] = ()
    #: Do not wait for the file's workloads to become ready (a node-less cluster: pods never run).
    skip_await: bool = False
    #: Image digests by repository, applied to the file's objects as they are registered (see
    #: :attr:`HelmRelease.image_digests`).
    image_digests: Mapping[str, str] = field(default_factory=dict)
    #: Refuse an object of the file whose container image has no digest (see :attr:`HelmRelease.require_pinned`).
    require_pinned: bool = False


@dataclass(frozen=True)
class PlannedSecret:
    """A Secret whose sensitive values come from Pulumi secret config, never from the plan itself."""

    namespace: str
    name: str
    #: Non-sensitive data keys and values.
    literal: dict[str, str]
    #: Data key -> name of the Pulumi secret config key that supplies it.
    from_config: dict[str, str]
    #: Data key -> name of a value the stack itself produces at deploy time and keeps secret (the generated CA's
    #: certificates and key, :data:`~.identity.GENERATED_VALUES`); never in the plan.
    from_outputs: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"Secret/{self.namespace}/{self.name}"


@dataclass
class ConcernPlan:
    """What one component (control plane, injection, …) registers, in dependency order."""

    releases: list[HelmRelease] = field(default_factory=list)
    objects: list[KubeObject] = field(default_factory=list)
    secrets: list[PlannedSecret] = field(default_factory=list)
    manifests: list[ManifestFile] = field(default_factory=list)

    def object(self, key: str) -> KubeObject:
        """The object with this key (KeyError if absent)."""
        for item in self.objects:
            if item.key == key:
                return item
        raise KeyError(key)

    def release(self, key: str) -> HelmRelease:
        """The release with this key (KeyError if absent)."""
        for item in self.releases:
            if item.key == key:
                return item
        raise KeyError(key)


CONCERNS = ("control_plane", "injection", "mtls", "traffic", "egress", "access", "observability")


@dataclass
class MeshPlan:
    """Everything a stack creates, by concern (see :data:`CONCERNS`)."""

    control_plane: ConcernPlan
    injection: ConcernPlan
    mtls: ConcernPlan
    traffic: ConcernPlan
    access: ConcernPlan
    observability: ConcernPlan
    #: External services (ServiceEntries, TLS origination, egress gateway routing); last so that positional
    #: constructions of the other six keep their meaning.
    egress: ConcernPlan = field(default_factory=ConcernPlan)

    def concerns(self) -> Iterator[tuple[str, ConcernPlan]]:
        """``(name, plan)`` for each concern, in installation order."""
        for name in CONCERNS:
            yield name, getattr(self, name)

    @property
    def objects(self) -> list[KubeObject]:
        """Every Kubernetes object of every concern."""
        return [item for _, concern in self.concerns() for item in concern.objects]

    @property
    def releases(self) -> list[HelmRelease]:
        """Every Helm release of every concern."""
        return [item for _, concern in self.concerns() for item in concern.releases]

    @property
    def manifests(self) -> list[ManifestFile]:
        """Every manifest file of every concern."""
        return [item for _, concern in self.concerns() for item in concern.manifests]

    def to_dict(self) -> dict[str, Any]:
        """A JSON/YAML-ready view (what ``python -m mesh_rollout.show`` prints)."""
        result: dict[str, Any] = {}
        for name, concern in self.concerns():
            result[name] = {
                "releases": [
                    {
                        "name": release.key,
                        "chart": release.chart,
                        "version": release.version,
                        "repository": release.repository,
                        "namespace": release.namespace,
                        "dependsOn": list(release.depends_on),
                        "values": copy.deepcopy(release.values),
                        **({"skipAwait": True} if release.skip_await else {}),
                        **({"imageDigests": dict(release.image_digests)} if release.image_digests else {}),
                        **({"verify": True, "keyring": release.keyring} if release.verify else {}),
                        **({"sha256": release.sha256} if release.sha256 else {}),
                    }
                    for release in concern.releases
                ],
                "manifests": [
                    {"name": m.key, "path": m.path, "dependsOn": list(m.depends_on),
                     **({"skipAwait": True} if m.skip_await else {}),
                     **({"imageDigests": dict(m.image_digests)} if m.image_digests else {})}
                    for m in concern.manifests
                ],
                "objects": [copy.deepcopy(item.manifest) for item in concern.objects],
                "secrets": [
                    {"namespace": s.namespace, "name": s.name, "fromSecretConfig": dict(s.from_config),
                     **({"fromOutputs": dict(s.from_outputs)} if s.from_outputs else {})}
                    for s in concern.secrets
                ],
            }
        return result


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` merged into a copy of ``base``; nested mappings merge, everything else is replaced."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def prune(value: Any) -> Any:
    """Drop ``None`` values and empty mappings so generated objects carry only what was set."""
    if isinstance(value, Mapping):
        cleaned = {key: prune(item) for key, item in value.items() if item is not None}
        return {key: item for key, item in cleaned.items() if item != {}}
    if isinstance(value, list):
        return [prune(item) for item in value]
    return value
