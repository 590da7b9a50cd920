"""Cross-resource checks (mesh_rollout.checks): every code trips on a bad config and stays quiet on the fixed one.

Configs are plain dicts passed through ``mesh_rollout.spec.parse_mesh``, so the real parsing is exercised too.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from mesh_rollout.checks import (
    CHECKS,
    Check,
    Finding,
    Severity,
    errors,
    markdown_table,
    raise_for_errors,
    run_checks,
    warnings,
)
from mesh_rollout.checks.__main__ import main as checks_main
from mesh_rollout.checks.registry import check as register_check
from mesh_rollout.spec import ConfigError, Problem, parse_mesh

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "checks.md"

ERROR, WARNING = Severity.ERROR, Severity.WARNING
INSTALLED = {"install": True, "charts": {"url": "https://charts.example.com/istio"}}


# --- builders ---------------------------------------------------------------------------------------------------

def mesh(services: dict | None = None, *, namespaces: dict | None = None, **extra) -> dict:
    """A minimal mesh: control plane not installed (no charts needed), namespace ``shop``, the given services."""
    data = {
        "controlPlane": {"install": False},
        "namespaces": {"shop": {}} if namespaces is None else namespaces,
        "services": services or {},
    }
    data.update(extra)
    return data


def svc(namespace: str = "shop", **fields) -> dict:
    """A service in ``namespace`` (camelCase keys, as in a stack file)."""
    return {"namespace": namespace, **fields}


def canary(**traffic) -> dict:
    """payment with versions v1 and v2 and the given traffic settings."""
    return svc(versions={"v1": {}, "v2": {}}, traffic=traffic)


BETA = {"x-user-segment": {"exact": "beta"}}


def run(data: dict) -> list[Finding]:
    return run_checks(parse_mesh(data))


def found(data: dict, code: str) -> list[tuple[Severity, str]]:
    return [(f.severity, f.path) for f in run(data) if f.code == code]


# --- one failing and one passing config per check ---------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    id: str
    code: str
    failing: dict
    #: (severity, path) of every finding with ``code`` the failing config must produce, in order.
    expected: list
    #: The fixed config: no finding at all.
    passing: dict


CASES = [
    # MR101: version references; a service's versions are checked, or the match/mirror target's.
    Case("MR101-split", "MR101",
         mesh({"payment": canary(split={"v1": 90, "v3": 10})}),
         [(ERROR, "mesh.services.payment.traffic.split.v3")],
         mesh({"payment": canary(split={"v1": 90, "v2": 10})})),
    Case("MR101-match", "MR101",
         mesh({"payment": canary(matches=[{"name": "beta", "headers": BETA, "version": "v9"}])}),
         [(ERROR, "mesh.services.payment.traffic.matches.0.version")],
         mesh({"payment": canary(matches=[{"name": "beta", "headers": BETA, "version": "v2"}])})),
    # payment defines v3 but catalog does not: the match's target service decides.
    Case("MR101-match-other-service", "MR101",
         mesh({"payment": svc(versions={"v1": {}, "v3": {}},
                              traffic={"matches": [{"name": "beta", "headers": BETA, "service": "catalog",
                                                    "version": "v3"}]}),
               "catalog": svc(versions={"v1": {}, "v2": {}})}),
         [(ERROR, "mesh.services.payment.traffic.matches.0.version")],
         mesh({"payment": svc(traffic={"matches": [{"name": "beta", "headers": BETA, "service": "catalog",
                                                    "version": "v2"}]}),
               "catalog": svc(versions={"v1": {}, "v2": {}})})),
    Case("MR101-mirror", "MR101",
         mesh({"payment": canary(mirror={"version": "v3", "percent": 10})}),
         [(ERROR, "mesh.services.payment.traffic.mirror.version")],
         mesh({"payment": canary(mirror={"version": "v2", "percent": 10})})),
    Case("MR101-no-versions", "MR101",
         mesh({"payment": svc(traffic={"split": {"v1": 100}})}),
         [(ERROR, "mesh.services.payment.traffic.split.v1")],
         mesh({"payment": svc(versions={"v1": {}}, traffic={"split": {"v1": 100}})})),
    # MR102: the range check lives here, not in the schema; 0 and 100 are fine.
    Case("MR102", "MR102",
         mesh({"payment": canary(split={"v1": -40, "v2": 140})}),
         [(ERROR, "mesh.services.payment.traffic.split.v1"), (ERROR, "mesh.services.payment.traffic.split.v2")],
         mesh({"payment": canary(split={"v1": 0, "v2": 100})})),
    Case("MR103", "MR103",
         mesh({"payment": canary(split={"v1": 0, "v2": 0})}),
         [(ERROR, "mesh.services.payment.traffic.split")],
         mesh({"payment": canary(split={"v1": 0, "v2": 100})})),
    Case("MR104", "MR104",
         mesh({"payment": canary(split={"v1": 45, "v2": 45})}),
         [(WARNING, "mesh.services.payment.traffic.split")],
         mesh({"payment": canary(split={"v1": 50, "v2": 50})})),
    # Used by the split, a match and the mirror: reported once, at the labels.
    Case("MR105", "MR105",
         mesh({"payment": svc(versions={"v1": {}, "v2": {"labels": {}}},
                              traffic={"split": {"v1": 90, "v2": 10}, "mirror": {"version": "v2"},
                                       "matches": [{"name": "beta", "headers": BETA, "version": "v2"}]})}),
         [(ERROR, "mesh.services.payment.versions.v2.labels")],
         mesh({"payment": svc(versions={"v1": {}, "v2": {"labels": {"track": "canary"}}},
                              traffic={"split": {"v1": 90, "v2": 10}, "mirror": {"version": "v2"},
                                       "matches": [{"name": "beta", "headers": BETA, "version": "v2"}]})})),
    # Hosts compare case-insensitively; the same host on another gateway is fine.
    Case("MR110", "MR110",
         mesh({"frontend": svc(expose={"gateway": "ingress", "hosts": ["shop.example.com"]}),
               "web": svc(expose={"gateway": "ingress", "hosts": ["www.example.com", "Shop.Example.com"]})},
              controlPlane={"install": False, "gateways": {"ingress": {}, "internal": {}}}),
         [(ERROR, "mesh.services.frontend.expose.hosts.0"), (ERROR, "mesh.services.web.expose.hosts.1")],
         mesh({"frontend": svc(expose={"gateway": "ingress", "hosts": ["shop.example.com"]}),
               "web": svc(expose={"gateway": "internal", "hosts": ["www.example.com", "Shop.Example.com"]})},
              controlPlane={"install": False, "gateways": {"ingress": {}, "internal": {}}})),
    # An unknown target is MR111 only (its versions cannot be checked: no MR101).
    Case("MR111", "MR111",
         mesh({"payment": svc(traffic={"matches": [{"name": "beta", "headers": BETA, "service": "catalogue",
                                                    "version": "v2"}],
                                       "mirror": {"service": "ghost"}}),
               "catalog": svc(versions={"v1": {}, "v2": {}})}),
         [(ERROR, "mesh.services.payment.traffic.matches.0.service"),
          (ERROR, "mesh.services.payment.traffic.mirror.service")],
         mesh({"payment": svc(traffic={"matches": [{"name": "beta", "headers": BETA, "service": "catalog",
                                                    "version": "v2"}],
                                       "mirror": {"service": "catalog"}}),
               "catalog": svc(versions={"v1": {}, "v2": {}})})),
    # (2 retries + the first try) × 2s = 6s > 5s; exactly the timeout is fine.
    Case("MR120", "MR120",
         mesh({"order": svc(traffic={"timeout": "5s", "retries": {"attempts": 2, "perTryTimeout": "2s"}})}),
         [(WARNING, "mesh.services.order.traffic.retries")],
         mesh({"order": svc(traffic={"timeout": "6s", "retries": {"attempts": 2, "perTryTimeout": "2s"}})})),
    # The mirror goes to another service (mirroring a service onto itself is MR107).
    Case("MR121", "MR121",
         mesh({"payment": svc(traffic={"fault": {"delay": {"percent": 150, "fixedDelay": "2s"},
                                                 "abort": {"percent": -1, "httpStatus": 503}},
                                       "mirror": {"service": "audit", "percent": 100.5}}),
               "audit": svc()}),
         [(ERROR, "mesh.services.payment.traffic.fault.abort.percent"),
          (ERROR, "mesh.services.payment.traffic.fault.delay.percent"),
          (ERROR, "mesh.services.payment.traffic.mirror.percent")],
         mesh({"payment": svc(traffic={"fault": {"delay": {"percent": 100, "fixedDelay": "2s"},
                                                 "abort": {"percent": 0, "httpStatus": 503}},
                                       "mirror": {"service": "audit", "percent": 100}}),
               "audit": svc()})),
    Case("MR122", "MR122",
         mesh({"payment": svc(traffic={"fault": {"abort": {"percent": 5, "httpStatus": 503}}})}, production=True,
              allowMutableTags=True),  # image pinning is MR240/MR241's business
         [(ERROR, "mesh.services.payment.traffic.fault")],
         mesh({"payment": svc(traffic={"fault": {"abort": {"percent": 5, "httpStatus": 503}}})}, production=False)),
    # Effective mode: the namespace's STRICT overrides the mesh's PERMISSIVE.
    Case("MR130-strict", "MR130",
         mesh({"payment": svc(traffic={"tlsMode": "SIMPLE"})},
              mtls={"mode": "PERMISSIVE", "namespaces": {"shop": "STRICT"}}),
         [(ERROR, "mesh.services.payment.traffic.tlsMode")],
         mesh({"payment": svc(traffic={"tlsMode": "SIMPLE"})},
              mtls={"mode": "STRICT", "namespaces": {"shop": "PERMISSIVE"}})),
    # ...and a workload exception overrides both.
    Case("MR130-disable", "MR130",
         mesh({"payment": svc(traffic={"tlsMode": "ISTIO_MUTUAL"})},
              mtls={"mode": "STRICT", "workloads": {"payment": {"mode": "DISABLE"}}}),
         [(ERROR, "mesh.services.payment.traffic.tlsMode")],
         mesh({"payment": svc(traffic={"tlsMode": "DISABLE"})},
              mtls={"mode": "STRICT", "workloads": {"payment": {"mode": "DISABLE"}}})),
    Case("MR131", "MR131",
         mesh({"payment": svc(traffic={"tlsMode": "ISTIO_MUTUAL"})}),
         [(WARNING, "mesh.services.payment.traffic.tlsMode")],
         mesh({"payment": svc(traffic={})})),
    Case("MR140-service-account", "MR140",
         mesh({"order": svc(), "payment": svc(access={"allowFrom": ["shop/order", "shop/ordr"]})}),
         [(ERROR, "mesh.services.payment.access.allowFrom.1")],
         mesh({"order": svc(), "payment": svc(access={"allowFrom": ["shop/order"]})})),
    # serviceAccount overrides the default (the service name).
    Case("MR140-custom-account", "MR140",
         mesh({"order": svc(serviceAccount="order-sa"), "payment": svc(access={"allowFrom": ["shop/order"]})}),
         [(ERROR, "mesh.services.payment.access.allowFrom.0")],
         mesh({"order": svc(serviceAccount="order-sa"), "payment": svc(access={"allowFrom": ["shop/order-sa"]})})),
    Case("MR140-namespace", "MR140",
         mesh({"payment": svc(access={"allowFrom": ["billing/invoicer"]})}),
         [(ERROR, "mesh.services.payment.access.allowFrom.0")],
         mesh({"payment": svc(access={"allowFrom": ["billing/invoicer"]}), "invoicer": svc("billing")},
              namespaces={"shop": {}, "billing": {}})),
    Case("MR140-namespace-outside-mesh", "MR140",
         mesh({"payment": svc(access={"allowFrom": ["billing/invoicer"]}), "invoicer": svc("billing")},
              namespaces={"shop": {}, "billing": {"mode": "none"}}),
         [(ERROR, "mesh.services.payment.access.allowFrom.0")],
         mesh({"payment": svc(access={"allowFrom": ["billing/invoicer"]}), "invoicer": svc("billing")},
              namespaces={"shop": {}, "billing": {"mode": "sidecar"}})),
    # A gateway is a caller too: its namespace and name (the chart's service account).
    Case("MR140-gateway", "MR140",
         mesh({"payment": svc(access={"allowFrom": ["istio-ingress/ingres"]})},
              controlPlane={"install": False, "gateways": {"ingress": {}}}),
         [(ERROR, "mesh.services.payment.access.allowFrom.0")],
         mesh({"payment": svc(access={"allowFrom": ["istio-ingress/ingress"]})},
              controlPlane={"install": False, "gateways": {"ingress": {}}})),
    Case("MR141", "MR141",
         mesh({"payment": svc(access={"allowFrom": [
             {"namespace": "partner", "serviceAccount": "billing", "external": True}]})}),
         [(WARNING, "mesh.services.payment.access.allowFrom.0")],
         mesh({"payment": svc(access={"allowFrom": [
             {"namespace": "partner", "serviceAccount": "billing", "external": True}]}),
             "billing": svc("partner")},
             namespaces={"shop": {}, "partner": {}})),
    Case("MR150-sidecar-injection", "MR150",
         mesh(namespaces={"shop": {"mode": "sidecar", "labels": {"istio-injection": "enabled"}}}),
         [(ERROR, "mesh.namespaces.shop.labels.istio-injection")],
         mesh(namespaces={"shop": {"mode": "sidecar", "labels": {"team": "payments"}}})),
    Case("MR150-sidecar-ambient", "MR150",
         mesh(namespaces={"shop": {"mode": "sidecar", "labels": {"istio.io/dataplane-mode": "ambient"}}}),
         [(ERROR, "mesh.namespaces.shop.labels.istio.io/dataplane-mode")],
         mesh(namespaces={"shop": {"mode": "sidecar", "labels": {"istio.io/dataplane-mode": "none"}}})),
    Case("MR150-sidecar-other-revision", "MR150",
         mesh(namespaces={"shop": {"mode": "sidecar", "labels": {"istio.io/rev": "canary"}}}),
         [(ERROR, "mesh.namespaces.shop.labels.istio.io/rev")],
         mesh(namespaces={"shop": {"mode": "sidecar", "revision": "canary"}})),
    Case("MR150-ambient-rev", "MR150",
         mesh(namespaces={"shop": {"mode": "ambient", "labels": {"istio.io/rev": "1-30-4"}}}),
         [(ERROR, "mesh.namespaces.shop.labels.istio.io/rev")],
         mesh(namespaces={"shop": {"mode": "ambient", "labels": {"istio-injection": "disabled"}}})),
    Case("MR150-none-ambient", "MR150",
         mesh(namespaces={"shop": {"mode": "none", "labels": {"istio.io/dataplane-mode": "ambient"}}}),
         [(ERROR, "mesh.namespaces.shop.labels.istio.io/dataplane-mode")],
         mesh(namespaces={"shop": {"mode": "none", "labels": {"istio-injection": "disabled"}}})),
    Case("MR151", "MR151",
         mesh(namespaces={"shop": {"mode": "ambient"}}, controlPlane={**INSTALLED, "ambient": False}),
         [(ERROR, "mesh.namespaces.shop.mode")],
         mesh(namespaces={"shop": {"mode": "ambient"}}, controlPlane={**INSTALLED, "ambient": True})),
    Case("MR152", "MR152",
         mesh(namespaces={"shop": {"mode": "sidecar", "waypoint": True}}),
         [(ERROR, "mesh.namespaces.shop.waypoint")],
         mesh(namespaces={"shop": {"mode": "ambient", "waypoint": True}})),
    Case("MR153", "MR153",
         mesh({"frontend": svc("web")}),
         [(WARNING, "mesh.services.frontend.namespace")],
         mesh({"frontend": svc("web")}, namespaces={"shop": {}, "web": {}})),
    Case("MR154", "MR154",
         mesh(namespaces={"shop": {"revision": "canary"}}, controlPlane={**INSTALLED, "revisionTags": ["stable"]}),
         [(WARNING, "mesh.namespaces.shop.revision")],
         mesh(namespaces={"shop": {"revision": "stable"}}, controlPlane={**INSTALLED, "revisionTags": ["stable"]})),
    Case("MR155", "MR155",
         mesh(namespaces={"shop": {}, "edge": {"mode": "none"}},
              controlPlane={**INSTALLED, "gateways": {"ingress": {"namespace": "edge"}}}),
         [(ERROR, "mesh.namespaces.edge.mode")],
         mesh(namespaces={"shop": {}, "edge": {"mode": "sidecar"}},
              controlPlane={**INSTALLED, "gateways": {"ingress": {"namespace": "edge"}}})),
    Case("MR160", "MR160",
         mesh({"order": svc(), "payment": svc(access={"allowFrom": [
             "shop/order", {"namespace": "shop", "serviceAccount": "order", "methods": ["GET"]}]})},
             namespaces={"shop": {"mode": "ambient"}}),
         [(ERROR, "mesh.services.payment.access.allowFrom.1")],
         mesh({"order": svc(), "payment": svc(access={"allowFrom": [
             "shop/order", {"namespace": "shop", "serviceAccount": "order", "methods": ["GET"]}]})},
             namespaces={"shop": {"mode": "ambient", "waypoint": True}})),
    Case("MR170-unknown", "MR170",
         mesh({"frontend": svc(expose={"gateway": "public", "hosts": ["shop.example.com"]})},
              controlPlane={"install": False, "gateways": {"ingress": {}}}),
         [(ERROR, "mesh.services.frontend.expose.gateway")],
         mesh({"frontend": svc(expose={"gateway": "ingress", "hosts": ["shop.example.com"]})},
              controlPlane={"install": False, "gateways": {"ingress": {}}})),
    Case("MR170-egress", "MR170",
         mesh({"frontend": svc(expose={"gateway": "egress", "hosts": ["shop.example.com"]})},
              controlPlane={"install": False, "gateways": {
                  "ingress": {}, "egress": {"kind": "egress", "namespace": "istio-egress"}}}),
         [(ERROR, "mesh.services.frontend.expose.gateway")],
         mesh({"frontend": svc(expose={"gateway": "ingress", "hosts": ["shop.example.com"]})},
              controlPlane={"install": False, "gateways": {
                  "ingress": {}, "egress": {"kind": "egress", "namespace": "istio-egress"}}})),
    # No name, no prefix, a prefix without the dash; appProtocol declares it too.
    Case("MR180", "MR180",
         mesh({"payment": svc(ports=[{"port": 8080, "name": "web"}, {"port": 9090},
                                     {"port": 8443, "name": "grpc-api"}, {"port": 80, "name": "http2foo"},
                                     {"port": 5432, "name": "pg", "appProtocol": "tcp"}])}),
         [(WARNING, "mesh.services.payment.ports.0"), (WARNING, "mesh.services.payment.ports.1"),
          (WARNING, "mesh.services.payment.ports.3")],
         mesh({"payment": svc(ports=[{"port": 8080, "name": "http-web"}, {"port": 9090, "name": "tcp"},
                                     {"port": 8443, "name": "grpc-api"}, {"port": 80, "name": "http2-foo"},
                                     {"port": 5432, "name": "pg", "appProtocol": "tcp"}])})),
    Case("MR190", "MR190",
         mesh({"payment": svc()}, mtls={"workloads": {"paymnt": {"mode": "PERMISSIVE"}}}),
         [(ERROR, "mesh.mtls.workloads.paymnt")],
         mesh({"payment": svc()}, mtls={"workloads": {"payment": {"mode": "PERMISSIVE"}}})),
    Case("MR191", "MR191",
         mesh(mtls={"namespaces": {"shopp": "PERMISSIVE"}}),
         [(WARNING, "mesh.mtls.namespaces.shopp")],
         mesh(mtls={"namespaces": {"shop": "PERMISSIVE"}})),
    # Port-level exceptions are narrow and deliberate: not reported.
    Case("MR192", "MR192",
         mesh({"payment": svc(ports=[{"port": 8443, "name": "grpc"}, {"port": 9090, "name": "http-metrics"}])},
              production=True, allowMutableTags=True,
              mtls={"mode": "PERMISSIVE", "namespaces": {"shop": "DISABLE"},
                    "workloads": {"payment": {"mode": "PERMISSIVE", "ports": {9090: "DISABLE"}}}}),
         [(WARNING, "mesh.mtls.mode"), (WARNING, "mesh.mtls.namespaces.shop"),
          (WARNING, "mesh.mtls.workloads.payment.mode")],
         mesh({"payment": svc(ports=[{"port": 8443, "name": "grpc"}, {"port": 9090, "name": "http-metrics"}])},
              production=True, allowMutableTags=True,
              mtls={"mode": "STRICT", "namespaces": {"shop": "STRICT"},
                    "workloads": {"payment": {"ports": {9090: "DISABLE"}}}})),
    # Warning for an internal service, error for an exposed one.
    Case("MR193", "MR193",
         mesh({"frontend": svc(expose={"gateway": "ingress", "hosts": ["shop.example.com"]}), "order": svc()},
              namespaces={"shop": {"defaultDeny": True}},
              controlPlane={"install": False, "gateways": {"ingress": {}}}),
         [(ERROR, "mesh.services.frontend.access.allowFrom"), (WARNING, "mesh.services.order.access.allowFrom")],
         mesh({"frontend": svc(expose={"gateway": "ingress", "hosts": ["shop.example.com"]},
                               access={"allowFrom": []}),
               "order": svc(access={"allowFrom": ["shop/frontend"]})},
              namespaces={"shop": {"defaultDeny": True}},
              controlPlane={"install": False, "gateways": {"ingress": {}}})),
    Case("MR194", "MR194",
         mesh({"payment": svc(ports=[{"port": 8443, "name": "grpc"}])},
              mtls={"workloads": {"payment": {"ports": {9090: "DISABLE"}}}}),
         [(WARNING, "mesh.mtls.workloads.payment.ports.9090")],
         mesh({"payment": svc(ports=[{"port": 8443, "name": "grpc"}, {"port": 9090, "name": "http-metrics"}])},
              mtls={"workloads": {"payment": {"ports": {9090: "DISABLE"}}}})),
]

PROM = "http://prometheus.monitoring:9090"
ROLLOUT_CASES = [
    Case("MR300", "MR300", mesh({"catalog": svc(versions={"v1": {}, "v2": {}}, traffic={"split": {"v1": 100, "v2": 0}},
                                                rollout={"canary": "v3", "stable": "v1", "prometheus": PROM})}),
         [(ERROR, "mesh.services.catalog.rollout.canary")],
         mesh({"catalog": svc(versions={"v1": {}, "v2": {}}, traffic={"split": {"v1": 100, "v2": 0}},
                              rollout={"canary": "v2", "stable": "v1", "prometheus": PROM})})),
    Case("MR301", "MR301", mesh({"catalog": svc(versions={"v0": {}, "v1": {}, "v2": {}},
                                                traffic={"split": {"v0": 20, "v1": 80, "v2": 0}},
                                                rollout={"canary": "v2", "stable": "v1", "prometheus": PROM})}),
         [(ERROR, "mesh.services.catalog.traffic.split.v0")],
         mesh({"catalog": svc(versions={"v0": {}, "v1": {}, "v2": {}}, traffic={"split": {"v0": 0, "v1": 100, "v2": 0}},
                              rollout={"canary": "v2", "stable": "v1", "prometheus": PROM})})),
    Case("MR302", "MR302", mesh({"catalog": svc(versions={"stable": {}, "canary": {}},
                                                traffic={"split": {"stable": 100, "canary": 0},
                                                         "weightsManagedBy": "argo-rollouts"},
                                                rollout={"canary": "canary", "stable": "stable", "prometheus": PROM})}),
         [(ERROR, "mesh.services.catalog.rollout")],
         mesh({"catalog": svc(versions={"stable": {}, "canary": {}},
                              traffic={"split": {"stable": 100, "canary": 0}, "weightsManagedBy": "argo-rollouts"})})),
    Case("MR303", "MR303", mesh({"catalog": svc(versions={"v1": {}, "v2": {}}, traffic={"split": {"v1": 100, "v2": 0}},
                                                rollout={"canary": "v2", "stable": "v1"})}, observability=None),
         [(WARNING, "mesh.services.catalog.rollout.prometheus")],
         mesh({"catalog": svc(versions={"v1": {}, "v2": {}}, traffic={"split": {"v1": 100, "v2": 0}},
                              rollout={"canary": "v2", "stable": "v1", "prometheus": PROM})}, observability=None)),
    Case("MR304", "MR304", mesh({"catalog": svc(traffic={"weightsManagedBy": "flagger", "timeout": "5s"})}),
         [(ERROR, "mesh.services.catalog.traffic.timeout")],
         mesh({"catalog": svc(traffic={"weightsManagedBy": "flagger"})})),
    Case("MR305", "MR305", mesh({"catalog": svc(versions={"stable": {}, "canary": {}},
                                                traffic={"split": {"stable": 100},
                                                         "weightsManagedBy": "argo-rollouts"})}),
         [(ERROR, "mesh.services.catalog.traffic.split")],
         mesh({"catalog": svc(versions={"stable": {}, "canary": {}},
                              traffic={"split": {"stable": 100, "canary": 0}, "weightsManagedBy": "argo-rollouts"})})),
]
#: Syntactically valid placeholder digests: no registry is reachable where these tests run.
DIGEST = "sha256:" + "ab" * 32
PROD = {"production": True, "mtls": {"mode": "STRICT"}}
#: A manifest add-on's file (two images, one an init container) for MR241/MR242, written once per session.
ADDON_MANIFEST = Path(tempfile.mkdtemp(prefix="mesh-rollout-addon-")) / "grafana.yaml"
ADDON_MANIFEST.write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: grafana, namespace: istio-system}\n"
                          "spec:\n  template:\n    spec:\n"
                          "      initContainers: [{name: init, image: 'docker.io/library/busybox:1.36'}]\n"
                          "      containers: [{name: grafana, image: 'docker.io/grafana/grafana:12.0.1'}]\n")
ONLY_GRAFANA = {"prometheus": {"enabled": False}, "jaeger": {"enabled": False}, "kiali": {"enabled": False}}
IMAGE_CASES = [
    Case("MR240", "MR240", mesh(controlPlane=INSTALLED, observability=None, **PROD),
         [(ERROR, "mesh.controlPlane.imageDigests.pilot"), (ERROR, "mesh.controlPlane.imageDigests.proxyv2")],
         mesh(controlPlane={**INSTALLED, "imageDigests": {"pilot": DIGEST, "proxyv2": DIGEST}}, observability=None,
              **PROD)),
    Case("MR240-opt-out", "MR240", mesh(controlPlane=INSTALLED, observability=None, **PROD),
         [(ERROR, "mesh.controlPlane.imageDigests.pilot"), (ERROR, "mesh.controlPlane.imageDigests.proxyv2")],
         mesh(controlPlane=INSTALLED, observability=None, allowMutableTags=True, **PROD)),
    Case("MR241", "MR241",
         mesh(observability={**ONLY_GRAFANA, "grafana": {"manifest": str(ADDON_MANIFEST), "imageDigests": {
             "docker.io/grafana/grafana": DIGEST}}}, **PROD),
         [(ERROR, "mesh.observability.grafana.imageDigests")],
         mesh(observability={**ONLY_GRAFANA, "grafana": {"manifest": str(ADDON_MANIFEST), "imageDigests": {
             "docker.io/grafana/grafana": DIGEST, "docker.io/library/busybox": DIGEST}}}, **PROD)),
    Case("MR241-chart", "MR241", mesh(observability=ONLY_GRAFANA, **PROD),
         [(ERROR, "mesh.observability.grafana.imageDigests")],
         mesh(observability={**ONLY_GRAFANA, "grafana": {"allowMutableTags": True}}, **PROD)),
    Case("MR242", "MR242",
         mesh(observability={**ONLY_GRAFANA, "grafana": {"manifest": str(ADDON_MANIFEST), "imageDigests": {
             "grafana/grafana": DIGEST}}}),
         [(ERROR, "mesh.observability.grafana.imageDigests.grafana/grafana")],
         mesh(observability={**ONLY_GRAFANA, "grafana": {"manifest": str(ADDON_MANIFEST), "imageDigests": {
             "docker.io/grafana/grafana": DIGEST}}})),
]


def _exposed(gateway: dict | None = None, tls: dict | None = None, **extra) -> dict:
    """frontend exposed at shop.example.com through gateway ``ingress`` (istio-ingress); ``tls`` of the exposure."""
    expose: dict = {"gateway": "ingress", "hosts": ["shop.example.com"]}
    if tls is not None:
        expose["tls"] = tls
    data = mesh({"frontend": {"namespace": "shop", "ports": [{"port": 8080, "name": "http"}], "expose": expose}},
                **extra)
    data["controlPlane"]["gateways"] = {"ingress": {"namespace": "istio-ingress", **(gateway or {})}}
    return data


#: Ingress TLS and Gateway API (MR320-MR326); more cases in tests/test_ingress_tls.py and test_gateway_api.py.
INGRESS_CASES = [
    Case("MR320", "MR320", _exposed(environment="prod", production=True, allowMutableTags=True),
         [(ERROR, "mesh.services.frontend.expose.tls")],
         _exposed(tls={"credentialName": "shop"}, environment="prod", production=True, allowMutableTags=True)),
    Case("MR321", "MR321", _exposed(tls={}), [(ERROR, "mesh.services.frontend.expose.tls.credentialName")],
         _exposed({"certManager": {"issuer": "le"}}, tls={})),
    Case("MR322", "MR322", _exposed(tls={"mode": "MUTUAL", "credentialName": "c", "clientCaSecret": "ca"}),
         [(ERROR, "mesh.services.frontend.expose.tls.clientCaSecret")],
         _exposed(tls={"mode": "MUTUAL", "credentialName": "c", "clientCaSecret": "c-cacert"})),
    Case("MR323", "MR323", _exposed(tls={"credentialName": "shop/c"}),
         [(ERROR, "mesh.services.frontend.expose.tls.credentialName")],
         _exposed(tls={"credentialName": "istio-ingress/c"})),
    Case("MR325", "MR325", _exposed({"certManager": {"issuer": "le"}, "tls": {}}) | {"services": {"frontend": {
        "namespace": "shop", "expose": {"gateway": "ingress", "hosts": ["*.example.com"]}}}},
         [(WARNING, "mesh.services.frontend.expose.hosts.0")],
         _exposed({"certManager": {"issuer": "le"}, "tls": {}})),
    Case("MR326", "MR326", _exposed({"api": "gateway-api"}) | {"services": {"frontend": {
        "namespace": "shop", "ports": [{"port": 8080, "name": "http"}], "traffic": {"retries": {"attempts": 3}},
        "expose": {"gateway": "ingress", "hosts": ["shop.example.com"]}}}},
         [(ERROR, "mesh.services.frontend.traffic.retries")],
         _exposed({"api": "gateway-api"})),
]
#: The mesh CA (MR310-MR315); more cases in tests/test_identity.py.
_CA = "mesh.certificateAuthority"
IDENTITY_CASES = [
    Case("MR310", "MR310",
         mesh(controlPlane=INSTALLED,
              certificateAuthority={"mode": "generated", "generated": {"rootValidityDays": 365}}),
         [(ERROR, f"{_CA}.generated.intermediateValidityDays")],
         mesh(controlPlane=INSTALLED,
              certificateAuthority={"mode": "generated", "generated": {"rootValidityDays": 730}})),
    Case("MR311", "MR311", mesh(certificateAuthority={"mode": "existing"}, observability=None, **PROD),
         [(ERROR, f"{_CA}.rotateBy")],
         mesh(certificateAuthority={"mode": "existing", "rotateBy": "2999-01-01"}, observability=None, **PROD)),
    Case("MR312", "MR312", mesh(certificateAuthority={"mode": "existing", "rotateBy": "2020-01-01"}),
         [(ERROR, f"{_CA}.rotateBy")], mesh(certificateAuthority={"mode": "existing", "rotateBy": "2999-01-01"})),
    Case("MR313", "MR313", mesh(controlPlane={**INSTALLED, "meshId": "mesh1", "network": "network1"}),
         [(WARNING, f"{_CA}.mode")],
         mesh(controlPlane={**INSTALLED, "meshId": "mesh1", "network": "network1"},
              certificateAuthority={"mode": "supplied"})),
    Case("MR314", "MR314",
         mesh(controlPlane={**INSTALLED, "meshId": "mesh1"}, certificateAuthority={"mode": "generated"}),
         [(WARNING, f"{_CA}.mode")], mesh(controlPlane=INSTALLED, certificateAuthority={"mode": "generated"})),
    Case("MR315", "MR315", mesh(certificateAuthority={"mode": "generated"}), [(WARNING, f"{_CA}.mode")],
         mesh(controlPlane=INSTALLED, certificateAuthority={"mode": "generated"})),
]
CASES = CASES + ROLLOUT_CASES + IMAGE_CASES + INGRESS_CASES + IDENTITY_CASES


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_failing_config_trips_the_check(case: Case):
    findings = run(case.failing)
    assert found(case.failing, case.code) == case.expected
    # One mistake, one code: no other check reports the same config.
    assert {f.code for f in findings} == {case.code}


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_fixed_config_passes(case: Case):
    assert found(case.passing, case.code) == []
    assert run(case.passing) == []


def test_every_check_has_a_failing_and_a_passing_case():
    from test_checks_edges import EDGE_CASES  # egress and end-user authentication (MR250-MR269)
    from test_checks_traps import TRAP_CASES  # the silent-trap checks (MR106 and later) keep their cases there

    assert {case.code for case in CASES + TRAP_CASES + EDGE_CASES} == {c.code for c in CHECKS}


# --- details of single checks -----------------------------------------------------------------------------------

def test_weight_range_message_names_the_weight():
    findings = run(mesh({"payment": canary(split={"v1": -40, "v2": 140})}))
    assert [(f.path, f.message) for f in findings] == [
        ("mesh.services.payment.traffic.split.v1", "weight must be between 0 and 100, got -40"),
        ("mesh.services.payment.traffic.split.v2", "weight must be between 0 and 100, got 140"),
    ]


def test_messages_say_what_is_expected_and_what_was_given():
    (finding,) = run(mesh({"payment": canary(split={"v1": 90, "v3": 10})}))
    assert "expected one of v1, v2, got 'v3'" in finding.message
    (finding,) = run(mesh({"payment": canary(split={"v1": 9, "v2": 1})}))
    assert "add up to 10" in finding.message and "v1 90%, v2 10%" in finding.message


def test_unused_version_with_empty_labels_is_not_reported():
    data = mesh({"payment": svc(versions={"v1": {}, "v2": {}, "old": {"labels": {}}},
                                traffic={"split": {"v1": 90, "v2": 10}})})
    assert run(data) == []


def test_all_zero_split_is_not_also_a_sum_warning():
    assert [f.code for f in run(mesh({"payment": canary(split={"v1": 0, "v2": 0})}))] == ["MR103"]


def test_retries_without_both_timeouts_are_not_checked():
    for traffic in ({"retries": {"attempts": 5, "perTryTimeout": "10s"}},
                    {"timeout": "1s", "retries": {"attempts": 5}}):
        assert run(mesh({"order": svc(traffic=traffic)})) == []


@pytest.mark.parametrize("namespace", [
    {"mode": "sidecar", "labels": {"istio.io/rev": "1-30-4"}},          # what the mode sets anyway
    {"mode": "sidecar", "revision": "stable", "labels": {"istio.io/rev": "stable"}},
    {"mode": "ambient", "labels": {"istio.io/dataplane-mode": "ambient", "istio-injection": "disabled"}},
    {"mode": "none", "labels": {"istio-injection": "disabled", "istio.io/dataplane-mode": "none"}},
], ids=["sidecar-same-revision", "sidecar-same-tag", "ambient-opt-out", "none-opt-out"])
def test_injection_labels_that_agree_with_the_mode_pass(namespace):
    assert run(mesh(namespaces={"shop": namespace})) == []


def test_namespace_revision_is_not_checked_for_a_control_plane_brought_by_the_user():
    assert run(mesh(namespaces={"shop": {"revision": "anything"}})) == []


def test_port_exception_is_not_checked_when_the_service_declares_no_ports():
    assert run(mesh({"payment": svc()}, mtls={"workloads": {"payment": {"ports": {9090: "DISABLE"}}}})) == []


# --- the clean, realistic mesh ----------------------------------------------------------------------------------

def shop() -> dict:
    """A production shop: frontend (published), order, payment, catalog with a 90/10 canary, default deny."""
    return {
        "environment": "prod",
        "production": True,
        "controlPlane": {**INSTALLED, "revisionTags": ["stable"],
                         "imageDigests": {"pilot": DIGEST, "proxyv2": DIGEST},
                         "gateways": {"ingress": {"namespace": "istio-ingress",
                                                  "tls": {"credentialName": "shop-tls"}}}},
        "namespaces": {"shop": {"mode": "sidecar", "revision": "stable", "defaultDeny": True,
                                "labels": {"team": "shop"}}},
        "mtls": {"mode": "STRICT"},
        "services": {
            "frontend": {"namespace": "shop", "ports": [{"port": 8080, "name": "http"}],
                         "expose": {"gateway": "ingress", "hosts": ["shop.example.com"]},
                         "access": {"allowFrom": []}, "traffic": {"timeout": "10s"}},
            "order": {"namespace": "shop", "ports": [{"port": 8080, "name": "http"}],
                      "access": {"allowFrom": ["shop/frontend"]},
                      "traffic": {"timeout": "5s", "retries": {"attempts": 2, "perTryTimeout": "1s"}}},
            "payment": {"namespace": "shop", "serviceAccount": "payment-sa",
                        "ports": [{"port": 8443, "name": "grpc"}, {"port": 9090, "name": "http-metrics"}],
                        "access": {"allowFrom": ["shop/order"]}, "traffic": {"timeout": "3s"}},
            "catalog": {"namespace": "shop", "ports": [{"port": 8080, "name": "http"}],
                        "versions": {"v1": {}, "v2": {"labels": {"version": "v2", "track": "canary"}}},
                        "access": {"allowFrom": ["shop/frontend", "shop/order",
                                                 {"namespace": "shop", "serviceAccount": "payment-sa",
                                                  "methods": ["GET"]}]},
                        "traffic": {"split": {"v1": 90, "v2": 10},
                                    "matches": [{"name": "beta-users", "headers": BETA, "version": "v2"}],
                                    "mirror": {"version": "v2", "percent": 5}}},
        },
        "observability": {"tracing": {"samplingPercent": 1},
                          **{addon: {"allowMutableTags": True}
                             for addon in ("prometheus", "grafana", "jaeger", "kiali")}},
    }


def test_realistic_shop_has_no_findings():
    assert run(shop()) == []


# --- the API ----------------------------------------------------------------------------------------------------

def test_codes_are_unique_stable_and_ordered():
    codes = [c.code for c in CHECKS]
    assert len(codes) == len(set(codes))
    assert codes == sorted(codes)
    assert all(re.fullmatch(r"MR\d{3}", code) for code in codes)
    assert all(c.title and "|" not in c.title and isinstance(c.severity, Severity) for c in CHECKS)
    assert [c.anchor for c in CHECKS] == [code.lower() for code in codes]


def test_a_code_cannot_be_registered_twice():
    with pytest.raises(ValueError, match="MR101"):
        register_check("MR101", "duplicate", Severity.ERROR)(lambda spec: iter(()))
    assert [c.code for c in CHECKS].count("MR101") == 1


def test_a_check_yielding_another_code_is_a_bug():
    rogue = Check("MR999", "rogue", Severity.ERROR,
                  lambda spec: iter([Finding("MR101", Severity.ERROR, "mesh.x", "wrong code")]))
    with pytest.raises(TypeError, match="MR999"):
        rogue.run(parse_mesh(mesh()))


def test_finding_text_and_problem():
    finding = Finding("MR101", ERROR, "mesh.services.payment.traffic.split.v3", "no version v3")
    assert str(finding) == "mesh.services.payment.traffic.split.v3: no version v3 [MR101]"
    problem = finding.as_problem()
    assert problem == Problem("mesh.services.payment.traffic.split.v3", "no version v3", code="MR101")
    assert str(problem) == str(finding)


def test_errors_and_warnings_split_findings():
    findings = run(mesh({"payment": canary(split={"v1": 45, "v3": 45})}))
    assert [(f.code, f.severity) for f in findings] == [("MR104", WARNING), ("MR101", ERROR)]
    assert errors(findings) == [findings[1]]
    assert warnings(findings) == [findings[0]]


def test_raise_for_errors_lists_every_error_and_ignores_warnings():
    data = mesh({"payment": canary(split={"v1": 90, "v3": 140}, tlsMode="ISTIO_MUTUAL"),
                 "web": svc(traffic={"mirror": {"service": "ghost"}})})
    findings = run(data)
    assert {f.code for f in errors(findings)} == {"MR101", "MR102", "MR111"}
    assert [f.code for f in warnings(findings)] == ["MR131"]
    with pytest.raises(ConfigError) as raised:
        raise_for_errors(findings)
    text = str(raised.value)
    assert [p.code for p in raised.value.problems] == [f.code for f in errors(findings)]
    assert "(3 problems)" in text
    for finding in errors(findings):
        assert f"  - {finding.path}: {finding.message} [{finding.code}]" in text
    assert "MR131" not in text and "tlsMode" not in text


def test_raise_for_errors_passes_warnings_and_nothing():
    raise_for_errors([])
    raise_for_errors(run(mesh({"payment": canary(split={"v1": 45, "v2": 45})})))  # MR104 only


def test_findings_are_sorted_deterministically():
    callers: list = [{"namespace": "shop", "serviceAccount": "order", "paths": [f"/p{i}"]} for i in range(12)]
    callers[2], callers[10] = "shop/ordr", "shop/ordr2"
    services = {
        "zeta": canary(split={"v1": 90, "v3": 140}),                      # MR101 and MR102 at one path
        "alpha": svc(traffic={"mirror": {"service": "ghost"}}),
        "order": svc(),
        "payment": svc(access={"allowFrom": callers}),
    }
    findings = run(mesh(services))
    assert findings == run(mesh(dict(reversed(list(services.items())))))
    assert [(f.path, f.code) for f in findings] == [
        ("mesh.services.alpha.traffic.mirror.service", "MR111"),
        ("mesh.services.payment.access.allowFrom.2", "MR140"),
        ("mesh.services.payment.access.allowFrom.10", "MR140"),   # list indexes sort as numbers
        ("mesh.services.zeta.traffic.split.v3", "MR101"),         # same path: by code
        ("mesh.services.zeta.traffic.split.v3", "MR102"),
    ]


def test_run_checks_wants_the_typed_spec():
    with pytest.raises(TypeError, match="parse_mesh"):
        run_checks(mesh())  # type: ignore[arg-type]


def test_the_pure_layers_import_no_pulumi():
    """The spec, the checks and the plan never import Pulumi: they are pure functions over plain data. (The package's
    ``__init__`` imports the component classes, so ``import mesh_rollout.checks`` does load Pulumi, a dependency
    anyway; this runs the three layers under a bare package module to show they need none of it.)"""
    script = textwrap.dedent("""
        import sys, types
        class NoPulumi:
            def find_spec(self, name, path=None, target=None):
                if name == "pulumi" or name.startswith(("pulumi.", "pulumi_")):
                    raise ImportError("pulumi is blocked in this test")
        sys.meta_path.insert(0, NoPulumi())
        package = types.ModuleType("mesh_rollout")
        package.__path__ = [sys.argv[1]]
        sys.modules["mesh_rollout"] = package  # the package without its __init__ (the component classes)
        import mesh_rollout.plan
        from mesh_rollout.checks import run_checks
        from mesh_rollout.spec import parse_mesh
        spec = parse_mesh({"controlPlane": {"install": False}, "services": {"a": {"namespace": "x"}}})
        print([f.code for f in run_checks(spec)])
    """)
    result = subprocess.run([sys.executable, "-c", script, str(ROOT / "components")], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['MR153']"


# --- command line -----------------------------------------------------------------------------------------------

def write_stack(tmp_path: Path, name: str, data: dict) -> str:
    target = tmp_path / f"Pulumi.{name}.yaml"
    target.write_text(yaml.safe_dump({"config": {"mesh-rollout:mesh": data}}))
    return str(target)


def test_command_line_reports_findings_and_fails_on_errors(tmp_path, capsys):
    bad = write_stack(tmp_path, "bad", mesh({"payment": canary(split={"v1": 90, "v3": 10})}))
    good = write_stack(tmp_path, "good", mesh({"payment": canary(split={"v1": 45, "v2": 45})}))
    assert checks_main([good]) == 0
    assert checks_main([good, "--strict"]) == 1
    assert checks_main([good, bad]) == 1
    out = capsys.readouterr().out
    assert f"{bad}: error: mesh.services.payment.traffic.split.v3: " in out and "[MR101]" in out
    assert f"{good}: warning: mesh.services.payment.traffic.split: " in out


def test_command_line_reports_unparsable_stacks(tmp_path, capsys):
    broken = write_stack(tmp_path, "broken", {"services": {"payment": {"namespace": "Shop!"}}})
    assert checks_main([broken]) == 2
    assert "mesh.services.payment.namespace" in capsys.readouterr().out


def test_command_line_prints_the_table(capsys):
    assert checks_main(["--table", "--link-prefix", "docs/checks.md"]) == 0
    out = capsys.readouterr().out
    assert out.strip() == markdown_table("docs/checks.md")
    assert "| [MR101](docs/checks.md#mr101) | error |" in out


# --- documentation ----------------------------------------------------------------------------------------------

SECTION_PARTS = ("**What it catches.**", "**Why it matters.**", "**Istio analogue.**", "**Failing config**",
                 "**Fix.**")


def doc_sections() -> dict[str, str]:
    """docs/checks.md split at ``<a id="mr…"></a>`` anchors: code → section text."""
    text = DOCS.read_text()
    parts = re.split(r'<a id="(mr\d{3})"></a>', text)
    return {anchor.upper(): body for anchor, body in zip(parts[1::2], parts[2::2], strict=True)}


def test_docs_have_the_table_of_all_checks():
    text = DOCS.read_text()
    assert markdown_table() in text


def test_docs_have_a_section_per_check_and_no_other():
    sections = doc_sections()
    assert sorted(sections) == [c.code for c in CHECKS]
    for c in CHECKS:
        body = sections[c.code]
        assert body.lstrip().startswith(f"## {c.code}: {c.title}\n"), c.code
        assert f"**Severity:** {c.severity.value}" in body, c.code
        for part in SECTION_PARTS:
            assert part in body, f"{c.code}: missing {part}"


@pytest.mark.parametrize("code", [c.code for c in CHECKS])
def test_docs_failing_config_trips_its_check(code):
    """The stack-YAML snippet under "Failing config" is a complete stack file that trips the check."""
    body = doc_sections()[code]
    snippet = re.search(r"\*\*Failing config\*\*.*?```yaml\n(.*?)```", body, re.S)
    assert snippet, f"{code}: no yaml block under Failing config"
    document = yaml.safe_load(snippet.group(1))
    findings = run_checks(parse_mesh(document["config"]["mesh-rollout:mesh"]))
    assert code in {f.code for f in findings}, [str(f) for f in findings]
