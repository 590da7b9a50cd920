"""Checks of namespace enrollment: injection labels, ambient prerequisites, revisions, unenrolled services."""

from __future__ import annotations

from collections.abc import Iterator

from ..plan.injection import INJECTION_LABELS, enrollment_labels
from ..spec import DataplaneMode, MeshSpec, NamespaceSpec
from .registry import Finding, Severity, check, finding, path

#: Explicit opt-outs that agree with a mode: (mode, label, value).
_CONSISTENT_OPT_OUTS = {
    (DataplaneMode.AMBIENT, "istio-injection", "disabled"),
    (DataplaneMode.SIDECAR, "istio.io/dataplane-mode", "none"),
    (DataplaneMode.NONE, "istio.io/dataplane-mode", "none"),
}


def _effect(mode: DataplaneMode, label: str, value: str) -> str:
    """What a surviving extra injection label does next to the ones the mode sets."""
    if mode is DataplaneMode.SIDECAR and label == "istio-injection":
        return ("istio-injection takes precedence over istio.io/rev, so pods get the default revision's sidecar "
                "(enabled) or none (disabled) instead of this namespace's revision")
    if mode is DataplaneMode.SIDECAR and label == "istio.io/dataplane-mode" and value == "ambient":
        return "pods are captured by ztunnel as well as getting a sidecar"
    if mode is DataplaneMode.AMBIENT and (label == "istio.io/rev" or (label, value) == ("istio-injection", "enabled")):
        return "pods get a sidecar as well, and a sidecar takes precedence over ztunnel"
    if mode is DataplaneMode.NONE and label == "istio.io/rev":
        return "istio-injection=disabled takes precedence, so the label only pretends the namespace is enrolled"
    if mode is DataplaneMode.NONE and label == "istio.io/dataplane-mode" and value == "ambient":
        return "pods join the ambient mesh (ztunnel) although the namespace is meant to stay out of the mesh"
    return "the namespace carries injection labels that disagree"


def _label_conflict(namespace: NamespaceSpec, label: str, value: str, enrollment: dict[str, str]) -> str | None:
    """Why a user label among :data:`INJECTION_LABELS` conflicts with the namespace's mode, or ``None``."""
    mode = namespace.mode.value
    if label in enrollment:
        if value == enrollment[label]:
            return None  # says what the mode says
        return (f"mode {mode} sets {label}={enrollment[label]} itself, so this label is overridden and the "
                f"namespace does not get what it asks for")
    if (namespace.mode, label, value) in _CONSISTENT_OPT_OUTS:
        return None
    enrolled_by = ", ".join(f"{key}={val}" for key, val in enrollment.items() if key in INJECTION_LABELS)
    return f"mode {mode} enrols the namespace with {enrolled_by}; with this label as well, " \
           f"{_effect(namespace.mode, label, value)}"


@check("MR150", "Namespace labels conflict with its dataplane mode (enrolled twice)", Severity.ERROR)
def conflicting_injection_labels(spec: MeshSpec) -> Iterator[Finding]:
    """``labels`` sets ``istio-injection``, ``istio.io/rev`` or ``istio.io/dataplane-mode`` against ``mode``."""
    default_revision = spec.control_plane.injection_revision
    for name, namespace in spec.namespaces.items():
        enrollment = enrollment_labels(namespace, default_revision)
        for label, value in namespace.labels.items():
            if label not in INJECTION_LABELS:
                continue
            reason = _label_conflict(namespace, label, value, enrollment)
            if reason is not None:
                yield finding("MR150", path("namespaces", name, "labels", label),
                              f"{reason}; expected no {label} label (mode and revision set the enrollment labels), "
                              f"got {label}={value}")


@check("MR151", "Ambient namespace but the control plane is installed without ambient", Severity.ERROR)
def ambient_without_ztunnel(spec: MeshSpec) -> Iterator[Finding]:
    """``mode: ambient`` while this stack installs the control plane with ``ambient: false`` (no ztunnel, no CNI)."""
    control_plane = spec.control_plane
    if not control_plane.install or control_plane.ambient:
        return
    for name, namespace in spec.namespaces.items():
        if namespace.mode is DataplaneMode.AMBIENT:
            yield finding("MR151", path("namespaces", name, "mode"),
                          "mode ambient needs ztunnel and the Istio CNI node agent, which are only installed with "
                          "controlPlane.ambient: true, so this namespace's pods would run outside the mesh; "
                          "expected controlPlane.ambient: true (or mode sidecar), got controlPlane.ambient: false")


@check("MR152", "Waypoint on a namespace that is not ambient", Severity.ERROR)
def waypoint_without_ambient(spec: MeshSpec) -> Iterator[Finding]:
    """``waypoint: true`` on a namespace whose mode is sidecar or none."""
    for name, namespace in spec.namespaces.items():
        if namespace.waypoint and namespace.mode is not DataplaneMode.AMBIENT:
            yield finding("MR152", path("namespaces", name, "waypoint"),
                          f"a waypoint proxies ambient workloads only; in mode {namespace.mode.value} it is never "
                          f"used, and L7 policy you expect it to enforce is not applied; expected mode ambient, "
                          f"got mode {namespace.mode.value}")


@check("MR153", "Service in a namespace that is not enrolled", Severity.WARNING)
def service_namespace_not_enrolled(spec: MeshSpec) -> Iterator[Finding]:
    """A service whose ``namespace`` is not a key of ``namespaces``."""
    for name, service in spec.services.items():
        if service.namespace not in spec.namespaces:
            known = ", ".join(sorted(spec.namespaces)) or "none"
            yield finding("MR153", path("services", name, "namespace"),
                          f"namespace {service.namespace!r} is not in namespaces, so this stack does not enrol it: "
                          f"its pods get no sidecar unless labelled elsewhere, and mTLS and access policies are not "
                          f"enforced for them; expected a namespace from namespaces ({known}), "
                          f"got {service.namespace!r}")


@check("MR154", "Namespace revision matches no revision or tag of the control plane", Severity.WARNING)
def unknown_revision(spec: MeshSpec) -> Iterator[Finding]:
    """A namespace ``revision`` that is neither an installed revision nor one of the revision tags. A warning in the
    single-revision form (another stack may install a canary revision), an error with ``revisions``: the stack
    installs every revision then, so the name is a leftover of a removed revision or tag."""
    control_plane = spec.control_plane
    if not control_plane.install:
        return  # a control plane brought by the user may have any revisions
    revisions, tags = list(control_plane.installed_revisions), list(control_plane.tag_targets)
    for name, namespace in spec.namespaces.items():
        if namespace.revision is not None and namespace.revision not in (*revisions, *tags):
            yield finding("MR154", path("namespaces", name, "revision"),
                          f"no injector webhook of this stack answers to istio.io/rev={namespace.revision}, so new "
                          f"pods start without a sidecar; expected a revision ({', '.join(revisions)}) or a "
                          f"revision tag ({', '.join(tags) or 'none defined'}), got {namespace.revision!r}",
                          severity=Severity.ERROR if control_plane.revisions else None)


@check("MR155", "Gateway deployed into a namespace that opts out of injection", Severity.ERROR)
def gateway_namespace_without_injection(spec: MeshSpec) -> Iterator[Finding]:
    """A gateway whose namespace this stack labels ``istio-injection=disabled`` (mode ``none``)."""
    control_plane = spec.control_plane
    if not control_plane.install:
        return  # gateways of a control plane brought by the user are deployed by the user
    for name, gateway in control_plane.gateways.items():
        namespace = spec.namespaces.get(gateway.namespace)
        if namespace is not None and namespace.mode is DataplaneMode.NONE:
            yield finding("MR155", path("namespaces", gateway.namespace, "mode"),
                          f"gateway {name!r} runs in namespace {gateway.namespace!r}, which mode none labels "
                          f"istio-injection=disabled; Istio's gateway chart uses image: auto and needs the injector "
                          f"to fill in the proxy, so its pods never start (image 'auto' cannot be pulled); "
                          f"expected mode sidecar (or ambient) for {gateway.namespace!r}, or another gateway "
                          f"namespace, got mode none")
