"""How plan entries become Pulumi resources. The only module that maps plain objects to pulumi-kubernetes types."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from .plan import ConcernPlan, HelmRelease, KubeObject, ManifestFile, PlannedSecret
from .plan.images import pin_images, unpinned_images


def image_pinning(what: str, digests: Mapping[str, str], require_pinned: bool) -> list[pulumi.ResourceTransform]:
    """The transform that applies a plan entry's image digests to each object a chart or manifest file registers
    (Pulumi runs it on the children of packaged components too, at preview and update) and, with
    ``require_pinned``, refuses an object still running an image by tag only; none when there is nothing to do."""
    if not digests and not require_pinned:
        return []

    def transform(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
        if not args.custom:  # the chart or file component itself
            return None
        props = pin_images(args.props, digests)
        left = unpinned_images(props) if require_pinned else []
        if left:
            raise ValueError(f"{what}: {args.type_} {args.name} would run {', '.join(left)} by tag only in a "
                             "production stack; expected a digest for each in its add-on's imageDigests (repository "
                             "-> sha256:…), or allowMutableTags: true on the add-on to accept tags")
        return pulumi.ResourceTransformResult(props, args.opts)

    return [transform]


def child_name(component: str, key: str) -> str:
    """Pulumi name of a child: the component instance name plus the object's key, e.g. ``mesh-traffic-…``."""
    return f"{component}-" + re.sub(r"[^a-z0-9.-]+", "-", key.lower()).strip("-")


class ConcernComponent(pulumi.ComponentResource):
    """A component that registers one concern of the plan: releases and objects in plan order, each with
    ``parent=self``, the caller's provider and ``depends_on`` resolved from the plan's keys.

    Keys the plan names that belong to another concern are ordered by the parent (``Mesh`` makes each component
    depend on the ones before it), so only keys within this concern are resolved here.
    """

    plan: ConcernPlan
    """What the component registers, as plain objects and releases (:mod:`mesh_rollout.plan`); not an output."""
    resources: dict[str, pulumi.Resource]
    """The registered children by plan key (``Kind/namespace/name`` or release name); not an output."""

    def __init__(
        self,
        type_token: str,
        name: str,
        opts: pulumi.ResourceOptions | None,
    ):
        super().__init__(type_token, name, None, opts)
        self._name = name
        self.resources = {}

    def _opts(self, depends_on: Sequence[str]) -> pulumi.ResourceOptions:
        # No provider here: children inherit the one given to the component through its resource options.
        return pulumi.ResourceOptions(
            parent=self,
            depends_on=[self.resources[key] for key in depends_on if key in self.resources],
        )

    def _register(self, plan: ConcernPlan, secret_values: Mapping[str, pulumi.Input[str]] | None = None) -> None:
        """Register everything in ``plan``: namespaces first, secrets, releases, then the other objects."""
        namespaces = [item for item in plan.objects if item.kind == "Namespace"]
        others = [item for item in plan.objects if item.kind != "Namespace"]
        for item in namespaces:
            self.resources[item.key] = self._object(item)
        for secret in plan.secrets:
            self.resources[secret.key] = self._secret(secret, secret_values or {}, [n.key for n in namespaces])
        for release in plan.releases:
            self.resources[release.key] = self._release(release)
        for manifest in plan.manifests:
            self.resources[manifest.key] = self._manifest(manifest)
        for item in others:
            self.resources[item.key] = self._object(item)

    def _object(self, item: KubeObject) -> pulumi.Resource:
        manifest, name = item.manifest, child_name(self._name, item.resource_key or item.key)
        opts = self._opts(item.depends_on)
        if item.retain_on_delete:
            opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(retain_on_delete=True))
        if item.ignore_changes:
            opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(ignore_changes=list(item.ignore_changes)))
        if item.resource_key:
            # Stacks deployed before the object had a stable identity knew it by its key.
            opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
                aliases=[pulumi.Alias(name=child_name(self._name, item.key))]))
        if item.kind == "Namespace":
            if item.patch:
                return k8s.core.v1.NamespacePatch(name, metadata=manifest["metadata"], opts=opts)
            return k8s.core.v1.Namespace(name, metadata=manifest["metadata"], opts=opts)
        return k8s.apiextensions.CustomResource(
            name,
            api_version=manifest["apiVersion"],
            kind=manifest["kind"],
            metadata=manifest["metadata"],
            spec=manifest.get("spec", {}),
            opts=opts,
        )

    def _secret(
        self, secret: PlannedSecret, values: Mapping[str, pulumi.Input[str]], depends_on: Sequence[str]
    ) -> pulumi.Resource:
        data: dict[str, Any] = dict(secret.literal)
        for data_key, config_key in secret.from_config.items():
            if config_key not in values:
                raise ValueError(
                    f"secret config {config_key!r} is required for Secret {secret.namespace}/{secret.name}: "
                    f"pulumi config set --secret {config_key} <value>"
                )
            data[data_key] = pulumi.Output.secret(values[config_key])
        for data_key, output in secret.from_outputs.items():
            if output not in values:
                raise ValueError(f"{output!r} is required for Secret {secret.namespace}/{secret.name}: the "
                                 "component that produces it (CertificateAuthority) must be given")
            data[data_key] = pulumi.Output.secret(values[output])
        return k8s.core.v1.Secret(
            child_name(self._name, secret.key),
            metadata={"name": secret.name, "namespace": secret.namespace},
            string_data=data,
            opts=self._opts(depends_on),
        )

    def _release(self, release: HelmRelease) -> pulumi.Resource:
        repository = k8s.helm.v4.RepositoryOptsArgs(repo=release.repository) if release.repository else None
        return k8s.helm.v4.Chart(
            child_name(self._name, release.key),
            chart=release.chart,
            version=release.version,
            name=release.key,
            namespace=release.namespace,
            values=release.values,
            repository_opts=repository,
            plain_http=release.plain_http or None,
            skip_await=release.skip_await or None,
            resource_prefix=child_name(self._name, release.resource_key) if release.resource_key else None,
            verify=release.verify or None,
            keyring=pulumi.FileAsset(os.path.expanduser(release.keyring)) if release.keyring else None,
            opts=pulumi.ResourceOptions.merge(self._opts(release.depends_on), pulumi.ResourceOptions(
                transforms=image_pinning(release.key, release.image_digests, release.require_pinned))),
        )

    def _manifest(self, manifest: ManifestFile) -> pulumi.Resource:
        return k8s.yaml.v2.ConfigFile(
            child_name(self._name, manifest.key),
            file=manifest.path,
            skip_await=manifest.skip_await or None,
            opts=pulumi.ResourceOptions.merge(self._opts(manifest.depends_on), pulumi.ResourceOptions(
                transforms=image_pinning(manifest.key, manifest.image_digests, manifest.require_pinned))),
        )
