"""Checks of ingress exposure: which gateway publishes a service, and which service owns an external host."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import Any

from ..plan.control_plane import gateway_values
from ..plan.naming import gateway_selector_label
from ..spec import GatewayKind, MeshSpec
from ._facts import one_of
from .registry import Finding, Severity, check, finding, path


def _host(host: str) -> str:
    return host.lower().rstrip(".")


@check("MR110", "Two services claim the same external host on one gateway", Severity.ERROR)
def conflicting_exposure(spec: MeshSpec) -> Iterator[Finding]:
    """Two services expose the same external host (case-insensitive) on the same gateway: two VirtualServices claim
    every request for it and Istio merges them in no guaranteed order."""
    claims: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    for name, service in spec.services.items():
        if service.expose is None:
            continue
        for index, host in enumerate(service.expose.hosts):
            claims[(service.expose.gateway, _host(host))].setdefault(name, index)
    for (gateway, host), claimants in claims.items():
        if len(claimants) < 2:
            continue
        for name, index in claimants.items():
            rivals = ", ".join(sorted(other for other in claimants if other != name))
            yield finding("MR110", path("services", name, "expose", "hosts", index),
                          f"host {host} on gateway {gateway!r} is also exposed by {rivals}; both VirtualServices "
                          f"route every path of it and Istio merges them in no guaranteed order, so one service "
                          f"silently gets the other's requests; expected each host on a gateway to belong to one "
                          f"service, got {len(claimants)} services")


@check("MR170", "Exposure through an undefined or egress gateway", Severity.ERROR)
def exposure_gateway(spec: MeshSpec) -> Iterator[Finding]:
    """``expose.gateway`` names no gateway in ``controlPlane.gateways``, or an egress gateway."""
    gateways = spec.control_plane.gateways
    ingress = [name for name, gateway in gateways.items() if gateway.kind is GatewayKind.INGRESS]
    expected = f"an ingress gateway from controlPlane.gateways ({one_of(ingress)})" if ingress else \
        "an ingress gateway defined in controlPlane.gateways (none is defined)"
    for name, service in spec.services.items():
        if service.expose is None:
            continue
        wanted = service.expose.gateway
        gateway = gateways.get(wanted)
        if gateway is None:
            yield finding("MR170", path("services", name, "expose", "gateway"),
                          f"gateway {wanted!r} is not defined in controlPlane.gateways, so no Gateway serves "
                          f"{', '.join(service.expose.hosts)}; expected {expected}, got {wanted!r}")
        elif gateway.kind is GatewayKind.EGRESS:
            yield finding("MR170", path("services", name, "expose", "gateway"),
                          f"gateway {wanted!r} is an egress gateway, which never receives traffic from outside the "
                          f"cluster, so {', '.join(service.expose.hosts)} is unreachable; expected {expected}, "
                          f"got {wanted!r} (kind egress)")


def _exposed_hosts(spec: MeshSpec) -> dict[str, set[str]]:
    """Ingress gateway → the hosts its Gateway object serves (only gateways that get one: something is exposed)."""
    hosts: dict[str, set[str]] = defaultdict(set)
    gateways = spec.control_plane.gateways
    for service in spec.services.values():
        expose = service.expose
        if expose is not None and expose.gateway in gateways and gateways[expose.gateway].kind is GatewayKind.INGRESS:
            hosts[expose.gateway] |= {_host(host) for host in expose.hosts}
    return hosts


@check("MR171", "Two gateways select the same pods (error when they serve the same host)", Severity.ERROR)
def gateways_select_same_pods(spec: MeshSpec) -> Iterator[Finding]:
    """Two ingress gateways whose Gateway objects have the same selector. The selector is ``istio: <name without an
    istio- prefix>``, so ``ingress`` and ``istio-ingress`` share ``istio: ingress``; a Gateway selector matches pods
    in every namespace, so both Gateways configure the same pods. An error when they serve a common host (Istio's
    IST0145 ConflictingGateways), a warning otherwise (each deployment also serves the other's hosts)."""
    hosts = _exposed_hosts(spec)
    by_selector: dict[str, list[str]] = defaultdict(list)
    for name in sorted(hosts):
        by_selector[gateway_selector_label(name)].append(name)
    gateways = spec.control_plane.gateways
    for label, names in sorted(by_selector.items()):
        if len(names) < 2:
            continue
        for name in names:
            rivals = [other for other in names if other != name]
            shared = sorted(host for other in rivals for host in hosts[name] & hosts[other])
            pods = (f"gateways {' and '.join(repr(n) for n in names)} get the same Gateway selector istio: {label} "
                    f"(the gateway name without its istio- prefix), and a Gateway selector matches pods in every "
                    f"namespace, so both Gateways configure the same pods (those of "
                    f"{' and '.join(f'{gateways[n].namespace}/{n}' for n in names)})")
            fix = (f"expected gateway names that differ after the istio- prefix is removed (e.g. {name!r} and "
                   f"'{label}-internal'), got {', '.join(names)}")
            if shared:
                yield finding("MR171", path("controlPlane", "gateways", name),
                              f"{pods}, and both serve {', '.join(shared)} on port 80: Istio merges the two servers "
                              f"for the same host in no guaranteed order (or drops one HTTPS server as a duplicate), "
                              f"so requests for it reach whichever gateway's VirtualServices win (IST0145); {fix}")
            else:
                yield finding("MR171", path("controlPlane", "gateways", name),
                              f"{pods}: every one of them also serves the others' hosts "
                              f"({', '.join(sorted(h for other in rivals for h in hosts[other]))}), on its own load "
                              f"balancer; {fix}", severity=Severity.WARNING)


def _helm_text(value: Any) -> str:
    """How Helm's ``quote`` writes a scalar value into a label."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def gateway_chart_name(name: str, values: Mapping[str, Any]) -> str:
    """The gateway chart's ``gateway.name``: ``values.name``, else the release name (the gateway's name)."""
    return _helm_text(values.get("name")) if values.get("name") else name


def gateway_pod_label(name: str, values: Mapping[str, Any]) -> tuple[str, str | None]:
    """The ``istio`` label Istio's gateway chart puts on the pods, and the values key that decided it (``None`` for
    the chart default). ``labels.istio`` when given (even empty), else ``gateway.name`` without an ``istio-``
    prefix."""
    labels = _mapping(values.get("labels"))
    if labels.get("istio") is not None:
        return _helm_text(labels["istio"]), "labels.istio"
    return gateway_chart_name(name, values).removeprefix("istio-"), "name" if values.get("name") else None


def gateway_service_account(name: str, values: Mapping[str, Any]) -> tuple[str, str | None]:
    """The service account the gateway chart runs its pods as, and the values key that decided it."""
    account = _mapping(values.get("serviceAccount"))
    if account.get("name"):
        return _helm_text(account["name"]), "serviceAccount.name"
    if "create" in account and not account["create"]:
        return "default", "serviceAccount.create"
    return gateway_chart_name(name, values), "name" if values.get("name") else None


@check("MR172", "Gateway chart values change the pod label the Gateway selects (error when exposed)", Severity.ERROR)
def gateway_selects_nothing(spec: MeshSpec) -> Iterator[Finding]:
    """An ingress gateway whose ``values`` give its pods another ``istio`` label than the Gateway object selects
    (``labels.istio``, or ``name`` when it changes the part after ``istio-``). The Gateway then selects no pod of
    its deployment, so its hosts are not served there. Only when this stack installs the gateways. An error when a
    service is exposed through the gateway, a warning otherwise (the first exposure will not be served)."""
    control_plane = spec.control_plane
    if not control_plane.install:
        return  # the gateway deployments (and their labels) are the user's
    exposed = _exposed_hosts(spec)
    selectors = {gateway_selector_label(name): name for name, gateway in control_plane.gateways.items()
                 if gateway.kind is GatewayKind.INGRESS}
    for name, gateway in sorted(control_plane.gateways.items()):
        if gateway.kind is not GatewayKind.INGRESS:
            continue
        values = gateway_values(name, control_plane)
        label, key = gateway_pod_label(name, values)
        selector = gateway_selector_label(name)
        if key is None or label == selector:
            continue
        hosts = sorted(exposed.get(name, ()))
        effect = (f"nothing serves {', '.join(hosts)} there: the pods get no listener for port 80, so connections "
                  f"through its load balancer are refused" if hosts else
                  "no host exposed through it would be served (none is exposed yet)")
        other = selectors.get(label)
        leak = (f"; its pods carry gateway {other!r}'s label instead, so they serve {other!r}'s hosts"
                if other is not None and other != name else "")
        yield finding("MR172", path("controlPlane", "gateways", name, "values", *key.split(".")),
                      f"the gateway chart labels the pods of {gateway.namespace}/{name} istio: {label!r} (from "
                      f"values.{key}), but the Gateway object {name} selects istio: {selector!r}, so it selects none "
                      f"of them and {effect}{leak}; expected no {key} in values (or {selector!r}), got {label!r}",
                      severity=None if hosts else Severity.WARNING)


@check("MR173", "Gateway chart values change the gateway's service account (its allow rules name the default one)",
       Severity.ERROR)
def gateway_identity_changed(spec: MeshSpec) -> Iterator[Finding]:
    """A gateway whose ``values`` run its pods as another service account than its name (``name``,
    ``serviceAccount.name`` or ``serviceAccount.create: false``). The ALLOW policy of every service exposed through
    it, and every ``allowFrom`` naming ``<namespace>/<gateway>``, allow ``…/sa/<gateway>``, an identity the gateway
    no longer has. Only when this stack installs the gateways. An error when such a rule exists, else a warning."""
    control_plane = spec.control_plane
    if not control_plane.install:
        return
    for name, gateway in sorted(control_plane.gateways.items()):
        account, key = gateway_service_account(name, gateway_values(name, control_plane))
        if key is None or account == name:
            continue
        users = sorted(
            {service_name for service_name, service in spec.services.items() if service.access.allow_from is not None
             and ((service.expose is not None and service.expose.gateway == name)
                  or any((c.namespace, c.service_account) == (gateway.namespace, name)
                         for c in service.access.allow_from))})
        effect = (f"the ALLOW policies of {', '.join(users)} allow {spec.trust_domain}/ns/{gateway.namespace}/sa/"
                  f"{name}, an identity the gateway no longer has, so they deny it (403)" if users else
                  "any allow rule for this gateway (allowFrom, or the one added for an exposed service) would name "
                  "an identity it does not have")
        yield finding("MR173", path("controlPlane", "gateways", name, "values", *key.split(".")),
                      f"the gateway chart runs {gateway.namespace}/{name} as service account {account!r} (from "
                      f"values.{key}), not {name!r}; {effect}; expected no {key} in values (the service account "
                      f"{name!r}), got {account!r}", severity=None if users else Severity.WARNING)
