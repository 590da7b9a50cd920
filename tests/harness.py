"""A small harness over Pulumi's own mocks (``pulumi.runtime.set_mocks``) that records every registration.

Pulumi's ``MockMonitor`` hands ``Mocks.new_resource`` only the type, name and inputs. The assertions these tests
make also need the parent, the provider and the ``depends_on`` of each resource, which the engine receives in the
RegisterResource request; ``RecordingMonitor`` keeps that request's fields.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pulumi
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.sync_await import _sync_await

PROJECT = "mesh-rollout"
#: The recorder of the most recent :func:`run_program`, also when the program failed.
LAST: Recorder | None = None


@dataclass
class Registration:
    """One resource as the engine would have received it."""

    type: str
    name: str
    urn: str
    parent: str
    provider: str
    dependencies: list[str]
    inputs: dict[str, Any]
    custom: bool
    #: The inputs as sent on the wire, secrets still wrapped in Pulumi's secret envelope.
    wire: dict[str, Any] = field(default_factory=dict)
    #: Resource options the engine acts on.
    retain_on_delete: bool = False
    ignore_changes: list[str] = field(default_factory=list)
    #: Old names the resource was known by (``pulumi.Alias(name=...)``) and alias URNs.
    aliases: list[str] = field(default_factory=list)

    def is_secret(self, *path: str) -> bool:
        """Whether the input at ``path`` (or a mapping containing it) travels as a secret."""
        node: Any = self.wire
        for part in path:
            if _is_secret_envelope(node):
                return True
            node = node[part]
        return _is_secret_envelope(node)

    @property
    def kind(self) -> str | None:
        """Kubernetes kind for CustomResources and typed resources."""
        return self.inputs.get("kind") or self.type.rsplit(":", 1)[-1]


def _is_secret_envelope(node: Any) -> bool:
    return isinstance(node, dict) and node.get(rpc._special_sig_key) == rpc._special_secret_sig


class EchoMocks(pulumi.runtime.Mocks):
    """Resources echo their inputs as state; calls return nothing."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        return [f"{args.name}-id", args.inputs]

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """A MockMonitor that records each RegisterResource request."""

    def __init__(self, mocks: pulumi.runtime.Mocks):
        super().__init__(mocks)
        self.registrations: list[Registration] = []
        #: What each component registered with ``register_outputs``, by URN (secrets unwrapped).
        self.outputs: dict[str, dict[str, Any]] = {}

    def RegisterResourceOutputs(self, request):
        self.outputs[request.urn] = rpc.deserialize_properties_unwrap_secrets(request.outputs)[0]
        return super().RegisterResourceOutputs(request)

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.registrations.append(
                Registration(
                    type=request.type,
                    name=request.name,
                    urn=response.urn,
                    parent=request.parent,
                    provider=request.provider,
                    dependencies=list(request.dependencies),
                    inputs=rpc.deserialize_properties_unwrap_secrets(request.object)[0],
                    custom=request.custom,
                    wire=json_format.MessageToDict(request.object),
                    retain_on_delete=request.retainOnDelete,
                    ignore_changes=list(request.ignoreChanges),
                    aliases=[alias.spec.name or alias.urn for alias in request.aliases] + list(request.aliasURNs),
                )
            )
        return response


@dataclass
class Recorder:
    """What a program registered."""

    monitor: RecordingMonitor
    logs: list[tuple[str, str]] = field(default_factory=list)

    @property
    def registrations(self) -> list[Registration]:
        return self.monitor.registrations

    def outputs_of(self, name: str) -> dict[str, Any]:
        """What the component ``name`` registered with ``register_outputs``."""
        return self.monitor.outputs[self.named(name).urn]

    def of_type(self, type_: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == type_]

    def named(self, name: str) -> Registration:
        matches = [r for r in self.registrations if r.name == name]
        assert len(matches) == 1, f"expected one resource named {name!r}, found {len(matches)}"
        return matches[0]

    def by_urn(self, urn: str) -> Registration:
        return next(r for r in self.registrations if r.urn == urn)

    def kube_objects(self) -> list[dict[str, Any]]:
        """Manifests of every Kubernetes object registered (CustomResources, Namespaces, patches, Secrets)."""
        objects = []
        for r in self.registrations:
            if not r.custom or not r.type.startswith("kubernetes:") or r.type.startswith("kubernetes:helm"):
                continue
            if r.type == "pulumi:providers:kubernetes":
                continue
            group_version, kind = r.type.removeprefix("kubernetes:").rsplit(":", 1)
            api_version = group_version.removeprefix("core/")
            manifest = {"apiVersion": r.inputs.get("apiVersion", api_version), "kind": r.inputs.get("kind", kind),
                        "metadata": r.inputs.get("metadata", {})}
            if "spec" in r.inputs:
                manifest["spec"] = r.inputs["spec"]
            objects.append(manifest)
        return objects


def run_program(program: Callable[[], Any], config: dict[str, Any] | None = None,
                secret_keys: list[str] | None = None, preview: bool = False, stack: str = "test",
                mocks: pulumi.runtime.Mocks | None = None) -> Recorder:
    """Run ``program`` under mocks (default :class:`EchoMocks`) with ``config`` (``mesh-rollout:`` keys, values
    JSON-encoded when structured) and wait for every registration to finish."""
    mocks = mocks or EchoMocks()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=preview, monitor=monitor)
    encoded = {key: value if isinstance(value, str) else json.dumps(value) for key, value in (config or {}).items()}
    pulumi.runtime.set_all_config(encoded, secret_keys or [])
    recorder = Recorder(monitor)
    global LAST
    LAST = recorder  # still readable when the program raises

    @pulumi.runtime.test
    def body():
        program()
        return pulumi.Output.from_input(None)

    body()
    return recorder


def wait(output: pulumi.Output) -> Any:
    """The resolved value of an output (under mocks)."""
    return _sync_await(output.future())
