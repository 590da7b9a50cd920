"""What differs between two meshes, in mesh terms: mTLS modes, who may call whom, weights, timeouts, retries,
circuit breakers, faults, mirrors, exposure, telemetry and the control plane's revisions. Not YAML lines.

    python -m mesh_rollout.diff stacks/Pulumi.staging.yaml stacks/Pulumi.prod.yaml
    python -m mesh_rollout.diff --deployed prod stacks/Pulumi.prod.yaml   # the deployed state vs the file

Both sides become Istio objects (a stack file through the same validation, checks and plan as ``pulumi preview``;
a deployed stack from its state, ``pulumi stack export``), and each object is described in mesh terms
(:func:`mesh_view`). Exit status: 0 no difference, 1 differences, 2 a side cannot be read.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from .plan import MeshPlan, plan
from .show import stack_path
from .spec import ConfigError, load_stack_file

ISTIO_GROUPS = ("networking.istio.io", "security.istio.io", "telemetry.istio.io")

#: One fact about the mesh: (section, subject, aspect) -> value, e.g. ("routing", "shop/catalog", "default
#: route") -> "v1 90%, v2 10%".
View = dict[tuple[str, str, str], str]


def _number(value: Any) -> str:
    """A number as people write it: ``5`` and ``5.0`` are the same percentage (a plan says 5.0, the deployed state
    JSON may say 5)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _name(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}".lstrip("/")


def _labels(selector: Mapping[str, Any] | None) -> str:
    labels = (selector or {}).get("matchLabels") or {}
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items())) or "{}"


def _peer_authentication(obj: Mapping[str, Any], root_namespace: str, view: View) -> None:
    spec = obj.get("spec") or {}
    namespace = (obj.get("metadata") or {}).get("namespace", "")
    if spec.get("selector") is not None:
        subject = f"workloads {namespace}/{_labels(spec.get('selector'))}"
    else:
        subject = "mesh-wide" if namespace == root_namespace else f"namespace {namespace}"
    view[("mTLS", subject, "mode")] = (spec.get("mtls") or {}).get("mode", "UNSET")
    for port, setting in sorted((spec.get("portLevelMtls") or {}).items(), key=lambda item: int(item[0])):
        view[("mTLS", subject, f"port {port}")] = (setting or {}).get("mode", "UNSET")


def _source(source: Mapping[str, Any]) -> str:
    parts = []
    for principal in source.get("principals") or []:
        # cluster.local/ns/shop/sa/order -> shop/order
        segments = str(principal).split("/")
        parts.append(f"{segments[2]}/{segments[4]}" if len(segments) == 5 and segments[1] == "ns" else principal)
    parts += [f"namespace {namespace}" for namespace in source.get("namespaces") or []]
    return ", ".join(parts) or "anyone"


def _operation(to: Sequence[Mapping[str, Any]]) -> str:
    details = []
    for item in to:
        operation = item.get("operation") or {}
        details += [*operation.get("methods", []), *operation.get("paths", []), *map(str, operation.get("ports", []))]
    return f" [{' '.join(details)}]" if details else ""


def _authorization_policy(obj: Mapping[str, Any], view: View) -> None:
    spec = obj.get("spec") or {}
    action = spec.get("action", "ALLOW")
    target = _labels(spec.get("selector")) if spec.get("selector") is not None else "whole namespace"
    if spec.get("targetRefs"):
        target = ", ".join(f"{ref.get('kind')} {ref.get('name')}" for ref in spec["targetRefs"])
    subject = f"{_name(obj)} ({target})"
    rules = spec.get("rules")
    if not rules:
        view[("access", subject, action.lower())] = "nobody (deny everything)" if action == "ALLOW" else "everything"
        return
    callers = sorted(
        f"{_source(source.get('source') or {})}{_operation(rule.get('to') or [])}"
        for rule in rules for source in (rule.get("from") or [{}])
    )
    view[("access", subject, action.lower())] = "; ".join(callers)


def _destination(route: Mapping[str, Any]) -> str:
    destination = route.get("destination") or {}
    host = str(destination.get("host", "")).split(".svc.")[0]
    subset = destination.get("subset")
    label = f"{host}:{subset}" if subset else host
    return f"{label} {_number(route['weight'])}%" if "weight" in route else label


def _match(match: Sequence[Mapping[str, Any]]) -> str:
    parts = []
    for clause in match:
        for header, rule in sorted((clause.get("headers") or {}).items()):
            parts += [f"{header} {kind} {value}" for kind, value in rule.items()]
        for kind, value in (clause.get("uri") or {}).items():
            parts.append(f"uri {kind} {value}")
    return " and ".join(parts)


def _virtual_service(obj: Mapping[str, Any], view: View) -> None:
    spec = obj.get("spec") or {}
    subject = _name(obj)
    gateways = [gateway for gateway in spec.get("gateways") or [] if gateway != "mesh"]
    if gateways:
        external = [host for host in spec.get("hosts") or [] if ".svc." not in str(host)]
        view[("exposure", subject, "hosts")] = f"{', '.join(external)} via {', '.join(gateways)}"
    for index, route in enumerate(spec.get("http") or []):
        label = route.get("name") or ("default route" if not route.get("match") else f"route {index}")
        if route.get("match"):
            label = f"{label} ({_match(route['match'])})"
        if route.get("redirect"):
            redirect = route["redirect"]
            view[("routing", subject, label)] = "redirect " + " ".join(
                f"{key}={redirect[key]}" for key in sorted(redirect))
        else:
            view[("routing", subject, label)] = ", ".join(_destination(r) for r in route.get("route") or [])
        if "timeout" in route:
            view[("resilience", subject, f"{label}: timeout")] = str(route["timeout"])
        retries = route.get("retries")
        if retries is not None:
            text = f"{retries.get('attempts', 0)} attempts"
            if retries.get("perTryTimeout"):
                text += f" of {retries['perTryTimeout']}"
            if retries.get("retryOn"):
                text += f" on {retries['retryOn']}"
            view[("resilience", subject, f"{label}: retries")] = text
        fault = route.get("fault") or {}
        if "delay" in fault:
            delay = fault["delay"]
            view[("faults", subject, f"{label}: delay")] = (
                f"{delay.get('fixedDelay')} for {_number((delay.get('percentage') or {}).get('value', 100))}%")
        if "abort" in fault:
            abort = fault["abort"]
            view[("faults", subject, f"{label}: abort")] = (
                f"HTTP {abort.get('httpStatus')} for {_number((abort.get('percentage') or {}).get('value', 100))}%")
        if route.get("mirror"):
            percent = _number((route.get("mirrorPercentage") or {}).get("value", 100))
            view[("routing", subject, f"{label}: mirror")] = f"{_destination({'destination': route['mirror']})} " \
                                                             f"{percent}%"
    for index, route in enumerate(spec.get("tcp") or []):
        view[("routing", subject, f"tcp route {index}")] = ", ".join(_destination(r) for r in route.get("route") or [])


def _destination_rule(obj: Mapping[str, Any], view: View) -> None:
    spec = obj.get("spec") or {}
    subject = _name(obj)
    subsets = spec.get("subsets") or []
    if subsets:
        view[("routing", subject, "versions")] = ", ".join(
            f"{s.get('name')} ({','.join(f'{k}={v}' for k, v in sorted((s.get('labels') or {}).items()))})"
            for s in subsets)
    policy = spec.get("trafficPolicy") or {}
    pool = policy.get("connectionPool") or {}
    limits = {**(pool.get("tcp") or {}), **(pool.get("http") or {})}
    if limits:
        view[("resilience", subject, "connection limits")] = ", ".join(f"{k}={v}" for k, v in sorted(limits.items()))
    outlier = policy.get("outlierDetection")
    if outlier:
        view[("resilience", subject, "outlier ejection")] = (
            f"after {outlier.get('consecutive5xxErrors', 5)} 5xx every {outlier.get('interval', '10s')}, "
            f"for {outlier.get('baseEjectionTime', '30s')}, at most {outlier.get('maxEjectionPercent', 10)}%")
    if policy.get("loadBalancer"):
        view[("resilience", subject, "load balancing")] = json.dumps(policy["loadBalancer"], sort_keys=True)
    for setting in policy.get("portLevelSettings") or []:
        port = (setting.get("port") or {}).get("number")
        rest = {key: value for key, value in setting.items() if key != "port"}
        view[("resilience", subject, f"port {port} policy")] = json.dumps(rest, sort_keys=True)
    if policy.get("tls"):
        view[("mTLS", f"client {subject}", "tls mode")] = policy["tls"].get("mode", "")


def _gateway(obj: Mapping[str, Any], view: View) -> None:
    spec = obj.get("spec") or {}
    for server in spec.get("servers") or []:
        port = server.get("port") or {}
        tls = (server.get("tls") or {}).get("mode")
        view[("exposure", f"gateway {_name(obj)}", f"{port.get('protocol')} {port.get('number')}")] = (
            ", ".join(server.get("hosts") or []) + (f" (TLS {tls})" if tls else ""))


def _telemetry(obj: Mapping[str, Any], view: View) -> None:
    spec = obj.get("spec") or {}
    for tracing in spec.get("tracing") or []:
        providers = ", ".join(p.get("name", "") for p in tracing.get("providers") or [])
        sampling = _number(tracing.get("randomSamplingPercentage", 1))
        view[("telemetry", _name(obj), "tracing")] = f"{sampling}% to {providers}"
    if "accessLogging" in spec:
        view[("telemetry", _name(obj), "access logs")] = "on" if spec["accessLogging"] else "off"


_DESCRIBE = {"DestinationRule": _destination_rule, "VirtualService": _virtual_service,
             "AuthorizationPolicy": _authorization_policy, "Gateway": _gateway, "Telemetry": _telemetry}


def mesh_view(objects: Iterable[Mapping[str, Any]], root_namespace: str = "istio-system") -> View:
    """Every Istio object described in mesh terms; other objects are ignored."""
    view: View = {}
    for obj in objects:
        if str(obj.get("apiVersion", "")).split("/")[0] not in ISTIO_GROUPS:
            continue
        kind = obj.get("kind")
        if kind == "PeerAuthentication":
            _peer_authentication(obj, root_namespace, view)
        elif kind in _DESCRIBE:
            _DESCRIBE[str(kind)](obj, view)
    return view


def control_plane_view(mesh_plan: MeshPlan) -> View:
    """The control plane's releases in mesh terms: each istiod revision with its version and tags."""
    view: View = {}
    for release in mesh_plan.control_plane.releases:
        if release.chart.endswith("istiod"):
            revision = str(release.values.get("revision", ""))
            tags = ", ".join(release.values.get("revisionTags") or []) or "no tags"
            view[("control plane", f"revision {revision}", "istiod")] = f"{release.version or 'local'} ({tags})"
        elif release.chart.endswith("base"):
            view[("control plane", "base (CRDs)", "version")] = release.version or "local"
            view[("control plane", "default revision", "validation")] = str(
                release.values.get("defaultRevision") or "none")
    return view


@dataclass(frozen=True)
class Change:
    """One difference: ``before`` or ``after`` is ``None`` when the fact exists on one side only."""

    section: str
    subject: str
    aspect: str
    before: str | None
    after: str | None

    def __str__(self) -> str:
        where = f"{self.subject}: {self.aspect}"
        if self.before is None:
            return f"+ {where}: {self.after}"
        if self.after is None:
            return f"- {where}: {self.before}"
        return f"~ {where}: {self.before} -> {self.after}"


SECTIONS = ("control plane", "mTLS", "access", "routing", "resilience", "faults", "exposure", "telemetry")


def compare(before: View, after: View) -> list[Change]:
    """The differences, by section (in :data:`SECTIONS` order), then subject and aspect."""
    keys = set(before) | set(after)
    changes = [Change(*key, before.get(key), after.get(key)) for key in keys if before.get(key) != after.get(key)]
    order = {section: index for index, section in enumerate(SECTIONS)}
    return sorted(changes, key=lambda c: (order.get(c.section, len(order)), c.section, c.subject, c.aspect))


def render(changes: Sequence[Change], before: str, after: str) -> str:
    """Changes as text, one section heading each (Markdown-friendly, for a pull request comment)."""
    if not changes:
        return f"No difference in mesh terms between {before} and {after}."
    lines = [f"Mesh differences, {before} -> {after}:"]
    section = None
    for change in changes:
        if change.section != section:
            section = change.section
            lines += ["", f"{section}:"]
        lines.append(f"  {change}")
    return "\n".join(lines)


def stack_file_view(path: Path) -> View:
    """A stack file through validation, checks' errors aside (a diff still reads), and the plan."""
    spec = load_stack_file(path)
    mesh_plan = plan(spec)
    return {**control_plane_view(mesh_plan),
            **mesh_view((item.manifest for item in mesh_plan.objects), spec.root_namespace)}


def deployed_view(export: Mapping[str, Any]) -> View:
    """The deployed state (``pulumi stack export`` JSON) in mesh terms: every Istio object the stack manages."""
    resources = (export.get("deployment") or {}).get("resources") or []
    root = next((str(r["outputs"]["rootNamespace"]) for r in resources
                 if r.get("type") == "mesh-rollout:index:Mesh" and "rootNamespace" in (r.get("outputs") or {})),
                "istio-system")
    objects = [r.get("outputs") or {} for r in resources if str(r.get("type", "")).startswith("kubernetes:")]
    return mesh_view(objects, root)


def _export(stack: str, cwd: Path) -> Mapping[str, Any]:
    result = subprocess.run(["pulumi", "stack", "export", "--stack", stack], cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"pulumi stack export --stack {stack}: {result.stderr.strip() or result.stdout.strip()}")
    exported: Mapping[str, Any] = json.loads(result.stdout)
    return exported


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out if out is not None else sys.stdout
    parser = argparse.ArgumentParser(prog="python -m mesh_rollout.diff", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("before", nargs="?", help="stack name (prod) or stack file; omit with --deployed")
    parser.add_argument("after", help="stack name or stack file")
    parser.add_argument("--deployed", metavar="STACK",
                        help="compare the deployed state of STACK (pulumi stack export) with AFTER")
    args = parser.parse_args(argv)
    try:
        if args.deployed:
            if args.before is not None:
                parser.error("give one stack file with --deployed")
            after_path = stack_path(args.after)
            before_view, before_name = deployed_view(_export(args.deployed, Path.cwd())), f"deployed {args.deployed}"
        else:
            if args.before is None:
                parser.error("give two stack files (or --deployed STACK and one)")
            before_path = stack_path(args.before)
            before_view, before_name = stack_file_view(before_path), str(before_path)
            after_path = stack_path(args.after)
        after_view = stack_file_view(after_path)
        after_view = {key: value for key, value in after_view.items()
                      if not (args.deployed and key[0] == "control plane")}  # the state holds no chart values
    except (ConfigError, RuntimeError) as error:
        print(error, file=out)
        return 2
    changes = compare(before_view, after_view)
    print(render(changes, before_name, str(after_path)), file=out)
    return 1 if changes else 0


if __name__ == "__main__":
    sys.exit(main())
