"""Canary rollouts without the engine: the policy's validation and checks, the PromQL, the step logic, the
Prometheus client (against a local HTTP server), the surgical stack-file edits, the whole command against a fake
engine and a scripted Prometheus, and the hand-off of route weights to Argo Rollouts / Flagger under Pulumi's mocks.
tests/integration/test_rollout.py runs the command on the real engine with a real Prometheus."""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
import math
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from mesh_rollout.checks import run_checks
from mesh_rollout.rollout import (
    Gate,
    Measurement,
    PrometheusClient,
    QueryResult,
    Start,
    Verdict,
    decide,
    gates_for,
    p99_query,
    plan_start,
    promql_duration,
    remaining_steps,
    success_rate_query,
)
from mesh_rollout.rollout.driver import (
    ENGINE_FAILED,
    INTERRUPTED,
    OK,
    REFUSED,
    ROLLED_BACK,
    USAGE,
    Deployed,
    EngineFailed,
    Options,
    Rollout,
    StackLocked,
)
from mesh_rollout.rollout.stackfile import EditError, StackFiles, set_value
from mesh_rollout.spec import ConfigError, RolloutSpec, engine_yaml, parse_mesh

POLICY = {"canary": "v2", "stable": "v1", "steps": [5, 25, 50, 100], "soak": "2m",
          "gates": {"successRate": 0.99, "p99LatencyMs": 500}}


def mesh_with(rollout=None, **traffic) -> dict:
    """A small mesh: catalog (v1, v2) with a split and, when given, a rollout policy; order without versions."""
    catalog = {"namespace": "shop", "ports": [{"port": 8080, "name": "http"}], "versions": {"v1": {}, "v2": {}},
               "traffic": {"split": {"v1": 100, "v2": 0}, **traffic}}
    if rollout is not None:
        catalog["rollout"] = copy.deepcopy(rollout)
    return {
        "controlPlane": {"install": False},
        "namespaces": {"shop": {}},
        "services": {"catalog": catalog,
                     "order": {"namespace": "shop", "ports": [{"port": 8080, "name": "http"}],
                               "traffic": {"timeout": "5s"}}},
        "observability": {"prometheus": {"url": "http://prometheus.monitoring:9090"},
                          "grafana": {"enabled": False}, "jaeger": {"enabled": False}, "kiali": {"enabled": False}},
    }


def problems(config: dict) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_mesh(config)
    return [str(p) for p in caught.value.problems]


def codes(config: dict) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for item in run_checks(parse_mesh(config)):
        found.setdefault(item.code, []).append(item.path)
    return found


# --------------------------------------------------------------------------------------------- the policy

def test_a_policy_parses_with_its_defaults():
    policy = parse_mesh(mesh_with({"canary": "v2", "stable": "v1"})).services["catalog"].rollout
    assert (policy.steps, policy.soak, policy.max_holds, policy.prometheus) == ([5, 25, 50, 100], "2m", 3, None)
    assert (policy.gates.success_rate, policy.gates.p99_latency_ms, policy.gates.window) == (0.99, None, None)
    assert policy.weights(25) == {"v1": 75, "v2": 25}


@pytest.mark.parametrize("change,expected", [
    ({"steps": [5, 25, 25, 100]}, "mesh.services.catalog.rollout.steps: steps must be strictly increasing: step 3 "
                                  "(25) does not exceed step 2 (25)"),
    ({"steps": [50, 25, 100]}, "mesh.services.catalog.rollout.steps: steps must be strictly increasing"),
    ({"steps": [5, 50]}, "mesh.services.catalog.rollout.steps: the last step must be 100"),
    ({"steps": []}, "mesh.services.catalog.rollout.steps: needs at least one step"),
    ({"steps": [0, 100]}, "mesh.services.catalog.rollout.steps.0: Input should be greater than or equal to 1"),
    ({"steps": [5, 101]}, "mesh.services.catalog.rollout.steps.1: Input should be less than or equal to 100"),
    ({"steps": [5, 2.5, 100]}, "mesh.services.catalog.rollout.steps.1: Input should be a valid integer"),
    ({"canary": "v1"}, "mesh.services.catalog.rollout: canary and stable must be different versions"),
    ({"soak": "2 minutes"}, "mesh.services.catalog.rollout.soak: must be a duration"),
    ({"gates": {"successRate": None}}, "mesh.services.catalog.rollout.gates: a rollout needs at least one gate"),
    ({"gates": {"successRate": 1.5}}, "mesh.services.catalog.rollout.gates.successRate: Input should be less than or "
                                      "equal to 1"),
    ({"gates": {"p99LatencyMs": 0}}, "mesh.services.catalog.rollout.gates.p99LatencyMs: Input should be greater"),
    ({"gates": {"queryMax": 5}}, "mesh.services.catalog.rollout.gates: queryMax bounds the value of `query`"),
    ({"gates": {"window": "0s"}}, "mesh.services.catalog.rollout.gates.window: must be at least 1ms"),
    ({"prometheus": "prometheus:9090"}, "mesh.services.catalog.rollout.prometheus: must be an http:// or https://"),
    ({"maxHolds": -1}, "mesh.services.catalog.rollout.maxHolds: Input should be greater than or equal to 0"),
    ({"canray": "v2"}, "mesh.services.catalog.rollout.canray: unknown key"),
])
def test_a_bad_policy_is_refused_at_its_path(change, expected):
    found = problems(mesh_with({**POLICY, **change}))
    assert any(p.startswith(expected) for p in found), found


def test_a_missing_canary_and_stable_are_reported_together():
    assert problems(mesh_with({"steps": [50, 100]})) == [
        "mesh.services.catalog.rollout.canary: required key is missing",
        "mesh.services.catalog.rollout.stable: required key is missing"]


# --------------------------------------------------------------------------------------------- the checks

def test_a_valid_rollout_passes_every_check():
    assert codes(mesh_with(POLICY)).keys().isdisjoint({"MR300", "MR301", "MR302", "MR303", "MR304", "MR305"})


def test_mr300_rollout_versions_must_exist():
    assert codes(mesh_with({**POLICY, "canary": "v3"}))["MR300"] == ["mesh.services.catalog.rollout.canary"]
    config = mesh_with({**POLICY, "stable": "v0", "canary": "v3"})
    assert codes(config)["MR300"] == ["mesh.services.catalog.rollout.canary", "mesh.services.catalog.rollout.stable"]


def test_mr301_split_may_not_feed_a_third_version():
    config = mesh_with(POLICY)
    catalog = config["services"]["catalog"]
    catalog["versions"]["v3"] = {}
    catalog["traffic"]["split"] = {"v1": 80, "v2": 0, "v3": 20}
    assert codes(config)["MR301"] == ["mesh.services.catalog.traffic.split.v3"]
    catalog["traffic"]["split"] = {"v1": 100, "v2": 0, "v3": 0}
    assert "MR301" not in codes(config)


def test_mr302_rollout_and_an_in_cluster_controller_exclude_each_other():
    assert codes(mesh_with(POLICY, weightsManagedBy="argo-rollouts"))["MR302"] == ["mesh.services.catalog.rollout"]


def test_mr303_warns_when_there_is_no_prometheus_to_query():
    config = mesh_with(POLICY)
    config["observability"] = None
    assert codes(config)["MR303"] == ["mesh.services.catalog.rollout.prometheus"]
    config["services"]["catalog"]["rollout"]["prometheus"] = "http://prometheus.monitoring:9090"
    assert "MR303" not in codes(config)
    config = mesh_with(POLICY)
    config["observability"]["prometheus"] = {"enabled": False}
    config["observability"]["kiali"] = {"enabled": False}
    assert "MR303" in codes(config)


def test_mr304_flagger_services_carry_no_virtual_service_settings():
    config = mesh_with(weightsManagedBy="flagger", timeout="5s")
    config["services"]["catalog"]["traffic"].pop("split")
    assert codes(config)["MR304"] == ["mesh.services.catalog.traffic.timeout"]
    assert codes(mesh_with(weightsManagedBy="flagger"))["MR304"] == ["mesh.services.catalog.traffic.split"]
    config["services"]["catalog"]["traffic"].pop("timeout")
    assert "MR304" not in codes(config)


def test_mr305_argo_rollouts_needs_a_split_between_two_versions():
    config = mesh_with(weightsManagedBy="argo-rollouts")
    assert "MR305" not in codes(config)
    config["services"]["catalog"]["traffic"]["split"] = {"v1": 100}
    assert codes(config)["MR305"] == ["mesh.services.catalog.traffic.split"]


# --------------------------------------------------------------------------------------------- PromQL

def test_the_gates_are_istios_standard_queries():
    assert success_rate_query("catalog", "shop", "v2", "1m") == (
        'sum(rate(istio_requests_total{reporter="destination",destination_service_name="catalog",'
        'destination_service_namespace="shop",destination_version="v2",response_code!~"5.."}[1m])) / '
        'sum(rate(istio_requests_total{reporter="destination",destination_service_name="catalog",'
        'destination_service_namespace="shop",destination_version="v2"}[1m]))')
    assert p99_query("catalog", "shop", "v2", "1m") == (
        'histogram_quantile(0.99, sum by (le) (rate(istio_request_duration_milliseconds_bucket{reporter="destination",'
        'destination_service_name="catalog",destination_service_namespace="shop",destination_version="v2"}[1m])))')


@pytest.mark.parametrize("duration,promql", [("2m", "2m"), ("90s", "90s"), ("1m30s", "90s"), ("1.5s", "1500ms"),
                                             ("2000us", "2ms"), ("1h", "1h"), ("24h", "1d"), ("250ms", "250ms")])
def test_durations_become_promql_ranges(duration, promql):
    assert promql_duration(duration) == promql


def test_the_window_defaults_to_the_soak_and_the_custom_query_is_kept_as_written():
    policy = RolloutSpec.model_validate({**POLICY, "soak": "90s",
                                         "gates": {"p99LatencyMs": 300, "query": "up == bool 1"}})
    gates = gates_for(policy, "catalog", "shop")
    assert [g.name for g in gates] == ["successRate", "p99LatencyMs", "query"]
    assert gates[0].promql.endswith("[90s]))") and gates[1].promql.endswith("[90s])))")
    assert (gates[2].promql, gates[2].kind) == ("up == bool 1", "true")


# --------------------------------------------------------------------------------------------- the step logic

SUCCESS = Gate("successRate", "sr", "min", 0.99)
P99 = Gate("p99LatencyMs", "p99", "max", 500)
CUSTOM = Gate("query", "q", "max", 0.05)


def test_every_gate_passing_promotes():
    decision = decide([Measurement(SUCCESS, (0.995,)), Measurement(P99, (120.0,))], holds=0, max_holds=3)
    assert decision == decide([Measurement(SUCCESS, (0.995,)), Measurement(P99, (120.0,))], 0, 3)
    assert (decision.verdict, decision.reason) == (Verdict.PROMOTE, "successRate 0.9950 >= 0.99, p99 120ms <= 500ms")


def test_a_failing_gate_rolls_back_naming_the_gate_and_the_value():
    decision = decide([Measurement(SUCCESS, (0.8,)), Measurement(P99, (620.0,))], 0, 3)
    assert (decision.verdict, decision.reason) == (Verdict.ROLLBACK, "successRate 0.8000 < 0.99, p99 620ms > 500ms")
    # A measured failure wins over another gate's missing data.
    assert decide([Measurement(SUCCESS, ()), Measurement(P99, (620.0,))], 0, 3).verdict is Verdict.ROLLBACK


@pytest.mark.parametrize("measurement,why", [
    (Measurement(SUCCESS, ()), "successRate: empty result"),
    (Measurement(SUCCESS, (math.nan,)), "successRate: no requests in the window (NaN)"),
    (Measurement(SUCCESS, (), "Prometheus unreachable at http://p:9090: Connection refused"),
     "successRate: Prometheus unreachable at http://p:9090: Connection refused"),
])
def test_no_data_or_an_unreachable_prometheus_holds_then_rolls_back_never_promotes(measurement, why):
    first = decide([measurement, Measurement(P99, (100.0,))], holds=0, max_holds=2)
    assert (first.verdict, first.reason, first.holds) == (Verdict.HOLD, f"no data: {why}", 1)
    second = decide([measurement], holds=1, max_holds=2)
    assert (second.verdict, second.holds) == (Verdict.HOLD, 2)
    third = decide([measurement], holds=2, max_holds=2)
    assert (third.verdict, third.reason) == (Verdict.ROLLBACK, f"no data after 2 holds: {why}")
    assert decide([measurement], holds=0, max_holds=0).verdict is Verdict.ROLLBACK


def test_a_custom_query_passes_only_when_every_series_does():
    assert decide([Measurement(CUSTOM, (0.01, 0.04))], 0, 1).verdict is Verdict.PROMOTE
    decision = decide([Measurement(CUSTOM, (0.01, 0.2, 0.07))], 0, 1)
    assert (decision.verdict, decision.reason) == (Verdict.ROLLBACK, "query 0.2 > 0.05")
    truthy = Gate("query", "q", "true")
    assert decide([Measurement(truthy, (1.0,))], 0, 1).reason == "query 1 (true)"
    assert decide([Measurement(truthy, (0.0,))], 0, 1).reason == "query 0 (false)"


def test_steps_start_above_the_canarys_current_weight():
    policy = RolloutSpec.model_validate(POLICY)
    assert [s.weights for s in remaining_steps(policy, {"v1": 100, "v2": 0})] == [
        {"v1": 95, "v2": 5}, {"v1": 75, "v2": 25}, {"v1": 50, "v2": 50}, {"v1": 0, "v2": 100}]
    assert [s.label for s in remaining_steps(policy, {"v1": 90, "v2": 10})] == ["2/4", "3/4", "4/4"]
    assert remaining_steps(policy, {"v1": 0, "v2": 100}) == []


def test_where_a_rollout_starts():
    policy = RolloutSpec.model_validate(POLICY)
    split = {"v1": 100, "v2": 0}
    assert plan_start(policy, split, None, resume=False, owner_alive=False).kind is Start.NEW
    assert plan_start(policy, {}, None, False, False).last_good == {"v1": 100, "v2": 0}
    done = plan_start(policy, {"v1": 0, "v2": 100}, {"status": "promoted"}, False, False)
    assert (done.kind, done.reason) == (Start.DONE, "v2 already has 100% of the traffic")
    interrupted = {"status": "interrupted", "lastGood": {"v1": 75.0, "v2": 25.0}, "baseline": {"v1": 100, "v2": 0}}
    resumed = plan_start(policy, {"v1": 50, "v2": 50}, interrupted, False, False)
    assert (resumed.kind, resumed.last_good, [s.label for s in resumed.steps]) == (
        Start.RESUME, {"v1": 75, "v2": 25}, ["3/4", "4/4"])
    running = {**interrupted, "status": "running"}
    assert plan_start(policy, split, running, resume=True, owner_alive=True).kind is Start.REFUSE
    assert plan_start(policy, split, running, resume=False, owner_alive=None).kind is Start.REFUSE
    assert plan_start(policy, split, running, resume=True, owner_alive=None).kind is Start.RESUME
    assert plan_start(policy, split, running, resume=False, owner_alive=False).kind is Start.RESUME
    nothing = plan_start(policy, split, {"status": "rolled-back"}, resume=True, owner_alive=False)
    assert (nothing.kind, nothing.reason) == (Start.REFUSE, "nothing to resume (last rollout: rolled-back)")
    assert plan_start(policy, split, {"status": "rolled-back"}, False, False).kind is Start.NEW


# --------------------------------------------------------------------------------------------- Prometheus client

class _Canned(BaseHTTPRequestHandler):
    answers: ClassVar[dict] = {}

    def do_GET(self):
        from urllib.parse import parse_qs, urlsplit

        query = parse_qs(urlsplit(self.path).query)["query"][0]
        status, body = self.answers[query]
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture()
def canned():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Canned)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Canned.answers
    server.shutdown()
    server.server_close()


def vector(*values):
    return {"status": "success", "data": {"resultType": "vector",
                                          "result": [{"metric": {}, "value": [1.0, v]} for v in values]}}


def test_the_client_reads_vectors_scalars_and_every_kind_of_no_answer(canned):
    url, answers = canned
    answers.update({
        "one": (200, vector("0.995")),
        "several": (200, vector("1", "NaN", "+Inf")),
        "empty": (200, vector()),
        "scalar": (200, {"status": "success", "data": {"resultType": "scalar", "result": [1.0, "42"]}}),
        "bad(": (400, {"status": "error", "errorType": "bad_data", "error": "parse error: unclosed left parenthesis"}),
        "matrix": (200, {"status": "success", "data": {"resultType": "matrix", "result": []}}),
        "html": (200, "<html>a proxy's login page</html>"),
        "down": (503, "Service Unavailable"),
    })
    client = PrometheusClient(url + "/")
    assert client.query("one") == QueryResult((0.995,))
    several = client.query("several").values
    assert several[0] == 1 and math.isnan(several[1]) and several[2] == math.inf
    assert client.query("empty") == QueryResult(())
    assert client.query("scalar") == QueryResult((42.0,))
    assert client.query("bad(").problem == "Prometheus answered HTTP 400: parse error: unclosed left parenthesis"
    assert client.query("matrix").problem == "the query returns a matrix, not an instant vector or scalar"
    assert client.query("html").problem == "Prometheus answered something that is not JSON"
    assert client.query("down").problem == "Prometheus answered HTTP 503"


def test_an_unreachable_prometheus_is_a_problem_not_an_exception():
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    result = PrometheusClient(f"http://127.0.0.1:{port}", timeout=2).query("up")
    assert result.values == () and result.problem.startswith(f"Prometheus unreachable at http://127.0.0.1:{port}")


# --------------------------------------------------------------------------------------------- stack-file edits

STACK = """\
# catalog's canary
config:
  mesh-rollout:cluster: {renderDir: out/t}   # GitOps
  mesh-rollout:mesh:
    controlPlane: {install: false}
    namespaces:
      shop: {}
    observability:
      prometheus: {url: "http://prometheus.monitoring:9090"}
      grafana: {enabled: false}
      jaeger: {enabled: false}
      kiali: {enabled: false}
    services:
      catalog:
        namespace: shop
        versions: {v1: {}, v2: {}}
        traffic:
          split:
            v1: 100   # everyone on v1
            v2: 0
        rollout:
          canary: v2
          stable: v1
          steps: [5, 25, 50, 100]
          soak: 2s
          gates: {successRate: 0.99, p99LatencyMs: 500}
      order:
        namespace: shop
encryptionsalt: v1:abc=
"""


def test_weights_are_edited_in_place_keeping_comments_and_layout(tmp_path):
    text = set_value(STACK, ["config", "mesh-rollout:mesh", "services", "catalog", "traffic", "split"],
                     {"v1": 75, "v2": 25})
    assert text == STACK.replace("v1: 100   # everyone", "v1: 75   # everyone").replace("v2: 0\n", "v2: 25\n")


def test_the_progress_record_is_inserted_as_a_readable_block_then_updated_in_place():
    record = {"status": "running", "step": 0, "weights": {"v1": 95, "v2": 5}, "message": "step 1/4: deploying",
              "updatedAt": "2026-11-26T09:00:00Z"}
    text = set_value(STACK, ["config", "mesh-rollout:rollout", "catalog"], record)
    assert text == STACK.replace("encryptionsalt:", "  mesh-rollout:rollout:\n    catalog:\n      status: running\n"
                                 "      step: 0\n      weights: {v1: 95, v2: 5}\n"
                                 '      message: "step 1/4: deploying"\n      updatedAt: "2026-11-26T09:00:00Z"\n'
                                 "encryptionsalt:")
    again = set_value(text, ["config", "mesh-rollout:rollout", "catalog"], {"status": "promoted", "step": 4})
    assert again == text.replace("status: running", "status: promoted").replace("step: 0", "step: 4")
    # The engine reads the strings back as strings (a timestamp is not turned into a date).
    assert engine_yaml.load(again)["config"]["mesh-rollout:rollout"]["catalog"]["updatedAt"] == "2026-11-26T09:00:00Z"


@pytest.mark.parametrize("text,path,value,expected", [
    ("a: {b: 1}\n", ["a", "c"], 2, "a: {b: 1, c: 2}\n"),
    ("a: {}\n", ["a", "c"], 2, "a: {c: 2}\n"),
    ("a:\n  b: 1\n", ["a", "c"], {"d": 1}, "a:\n  b: 1\n  c: {d: 1}\n"),
    ("a:\n  b: 1", ["a", "c"], 2, "a:\n  b: 1\n  c: 2\n"),
    ("a:\n  b: 'x'  # c\n", ["a", "b"], "on", 'a:\n  b: "on"  # c\n'),
    ("a:\n  b: |\n    long\n  c: 1\n", ["a", "b"], "short", 'a:\n  b: short\n  c: 1\n'),
    ("a:\n  b: 1\n", ["a", "yes"], 1, 'a:\n  b: 1\n  "yes": 1\n'),
])
def test_surgical_edits(text, path, value, expected):
    assert set_value(text, path, value) == expected


def test_an_edit_that_cannot_be_made_safely_is_refused():
    with pytest.raises(EditError, match="will not replace the block"):
        set_value("a:\n  - 1\n  - 2\n", ["a"], 3)
    with pytest.raises(EditError, match="is not a mapping"):
        set_value("a: [1, 2]\n", ["a", "b"], 3)
    # An anchored split that another key aliases: editing it in place would change both, so nothing is written.
    with pytest.raises(EditError, match="would change more than that value"):
        set_value("a: &w {v1: 100, v2: 0}\nb: *w\n", ["a", "v1"], 50)


def test_a_mesh_file_stack_has_its_split_edited_in_the_mesh_file(tmp_path):
    (tmp_path / "Pulumi.yaml").write_text("name: mesh-rollout\nruntime: python\nstackConfigDir: stacks\n")
    (tmp_path / "stacks").mkdir()
    (tmp_path / "mesh").mkdir()
    stack_file = tmp_path / "stacks" / "Pulumi.big.yaml"
    stack_file.write_text("config:\n  mesh-rollout:meshFile: mesh/big.yaml\n")
    body = STACK.split("  mesh-rollout:mesh:\n", 1)[1].split("encryptionsalt")[0]
    mesh_text = "# big mesh\n" + "\n".join(line[4:] for line in body.splitlines()) + "\n"
    (tmp_path / "mesh" / "big.yaml").write_text(mesh_text)
    files = StackFiles(stack_file, tmp_path)
    assert files.write_split("catalog", {"v1": 50, "v2": 50}) == tmp_path / "mesh" / "big.yaml"
    assert (tmp_path / "mesh" / "big.yaml").read_text() == mesh_text.replace("v1: 100", "v1: 50").replace(
        "v2: 0\n", "v2: 50\n")
    files.write_record("catalog", {"status": "running"})
    assert stack_file.read_text() == ("config:\n  mesh-rollout:meshFile: mesh/big.yaml\n"
                                      "  mesh-rollout:rollout:\n    catalog: {status: running}\n")
    assert files.records() == {"catalog": {"status": "running"}}


# --------------------------------------------------------------------------------------------- the command

VS = "urn:pulumi:t::mesh-rollout::mesh-rollout:index:Mesh$mesh-rollout:index:Traffic$" \
     "kubernetes:networking.istio.io/v1:VirtualService::mesh-traffic-virtualservice-shop-catalog"


class FakeEngine:
    """Records each up with the split the stack file held at that moment; can refuse or fail at an up."""

    def __init__(self, stack_file: Path, locked_at=None, fail_at=None, deployed=True, subsets=("v1", "v2")):
        self.stack_file, self.locked_at, self.fail_at = stack_file, locked_at, fail_at
        self.ups: list[tuple[list[str], str, dict]] = []
        self.deployed_split = self.split()
        self.found = Deployed(VS, frozenset(subsets)) if deployed else None

    def split(self) -> dict:
        return engine_yaml.load(self.stack_file.read_text())["config"]["mesh-rollout:mesh"]["services"]["catalog"][
            "traffic"]["split"]

    def locate(self, service, namespace):
        assert (service, namespace) == ("catalog", "shop")
        return self.found

    def up(self, targets, message):
        self.ups.append((targets, message, self.split()))
        if len(self.ups) == self.locked_at:
            raise StackLocked("error: the stack is currently locked by 1 lock(s)")
        if len(self.ups) == self.fail_at:
            raise EngineFailed("error: update failed")
        changed = self.split() != self.deployed_split
        self.deployed_split = self.split()
        return {"update": 1, "same": 6} if changed else {"same": 7}


class ScriptedPrometheus:
    """Answers each soak's gates from a script: one ``{gate: value or None or "down"}`` per soak."""

    def __init__(self, script):
        self.script, self.queries = list(script), []

    def query(self, promql):
        self.queries.append(promql)
        gate = "successRate" if "response_code" in promql else "p99"
        answer = self.script[0][gate]
        if gate == "p99" or len(self.script[0]) == 1:
            self.script.pop(0)
        if answer == "down":
            return QueryResult(problem="Prometheus unreachable at http://prometheus.monitoring:9090: Connection "
                                       "refused")
        return QueryResult(() if answer is None else (answer,))


GOOD = {"successRate": 1.0, "p99": 49.75}
NOW = 1_795_000_000.0


@pytest.fixture()
def stack(tmp_path) -> Path:
    (tmp_path / "Pulumi.yaml").write_text("name: mesh-rollout\nruntime: python\nstackConfigDir: stacks\n")
    (tmp_path / "stacks").mkdir()
    path = tmp_path / "stacks" / "Pulumi.t.yaml"
    path.write_text(STACK)
    return path


def rollout(stack_file: Path, engine=None, script=(), resume=False, dry_run=False, sleep=None, pid=4242,
            engine_factory=None):
    engine = engine or FakeEngine(stack_file)
    prometheus = ScriptedPrometheus(script)
    sleeps: list[float] = []
    command = Rollout(Options(str(stack_file), "catalog", dry_run=dry_run, resume=resume),
                      engine_factory=engine_factory or (lambda project, name: engine),
                      prometheus_factory=lambda url: prometheus,
                      out=io.StringIO(), err=io.StringIO(), sleep=sleep or sleeps.append,
                      now=lambda: NOW, host="ci-runner", pid=pid)
    status = command.run()
    return status, command.out.getvalue(), command.err.getvalue(), engine, sleeps


def progress(stack_file: Path) -> dict:
    return engine_yaml.load(stack_file.read_text())["config"]["mesh-rollout:rollout"]["catalog"]


def test_a_healthy_canary_is_promoted_step_by_step_targeting_only_its_virtual_service(stack):
    status, out, err, engine, sleeps = rollout(stack, script=[GOOD] * 4)
    assert (status, err) == (OK, "")
    assert [targets for targets, _, _ in engine.ups] == [[VS]] * 5
    assert [split for _, _, split in engine.ups] == [{"v1": 95, "v2": 5}, {"v1": 75, "v2": 25}, {"v1": 50, "v2": 50},
                                                    {"v1": 0, "v2": 100}, {"v1": 0, "v2": 100}]
    assert [message for _, message, _ in engine.ups][:2] == ["rollout catalog: step 1/4: v1=95 v2=5",
                                                             "rollout catalog: step 2/4: v1=75 v2=25"]
    assert sleeps == [2.0] * 4
    assert out.splitlines()[1:5] == [
        f"step {n}/4  {w}: applied, soak 2s: promote (successRate 1.0000 >= 0.99, p99 49.8ms <= 500ms)"
        for n, w in ((1, "v1=95 v2=5"), (2, "v1=75 v2=25"), (3, "v1=50 v2=50"), (4, "v1=0 v2=100"))]
    assert out.splitlines()[5].startswith("promoted: catalog sends 100% to v2 (4 steps, ")
    record = progress(stack)
    assert {k: record[k] for k in ("status", "step", "steps", "weights", "lastGood", "baseline", "owner")} == {
        "status": "promoted", "step": 4, "steps": 4, "weights": {"v1": 0, "v2": 100},
        "lastGood": {"v1": 0, "v2": 100}, "baseline": {"v1": 100, "v2": 0}, "owner": "ci-runner:4242"}
    # The user's file: only the weights changed, and the record was added.
    assert "v1: 0   # everyone on v1\n            v2: 100\n" in stack.read_text()


def test_a_failing_gate_rolls_back_to_the_last_good_weights(stack):
    status, out, _, engine, _ = rollout(stack, script=[GOOD, {"successRate": 0.8, "p99": 49.75}])
    assert status == ROLLED_BACK
    assert [split for _, _, split in engine.ups] == [{"v1": 95, "v2": 5}, {"v1": 75, "v2": 25}, {"v1": 95, "v2": 5}]
    assert "step 2/4  v1=75 v2=25: applied, soak 2s: ROLLBACK (successRate 0.8000 < 0.99)" in out
    assert out.splitlines()[-1] == ("rolled back: catalog is back at v1=95 v2=5 (the last good weights, step 1/4): "
                                    "v2 failed step 2/4: successRate 0.8000 < 0.99")
    record = progress(stack)
    assert (record["status"], record["step"], record["weights"]) == ("rolled-back", 1, {"v1": 95, "v2": 5})
    assert "successRate 0.8000 < 0.99" in record["message"]


def test_a_slow_canary_is_rolled_back_on_its_p99(stack):
    status, out, _, engine, _ = rollout(stack, script=[{"successRate": 1.0, "p99": 620.0}])
    assert status == ROLLED_BACK
    assert "ROLLBACK (p99 620ms > 500ms)" in out
    assert engine.ups[-1][2] == {"v1": 100, "v2": 0}
    assert "(the weights before the rollout)" in out


def test_no_data_holds_without_promoting_and_a_late_answer_promotes(stack):
    script = [{"successRate": None, "p99": None}, {"successRate": "down", "p99": 40.0}, GOOD, GOOD, GOOD, GOOD]
    status, out, _, engine, sleeps = rollout(stack, script=script)
    assert status == OK
    first = out.splitlines()[1]
    assert first == ("step 1/4  v1=95 v2=5: applied, soak 2s: hold 1/3 (no data: successRate: empty result; "
                     "p99LatencyMs: empty result), soak 2s: hold 2/3 (no data: successRate: Prometheus unreachable at "
                     "http://prometheus.monitoring:9090: Connection refused), soak 2s: promote (successRate 1.0000 "
                     ">= 0.99, p99 49.8ms <= 500ms)")
    assert len(sleeps) == 6 and len(engine.ups) == 5


def test_too_many_holds_roll_back(stack):
    status, out, _, engine, _ = rollout(stack, script=[GOOD] + [{"successRate": None, "p99": None}] * 4)
    assert status == ROLLED_BACK
    assert "hold 3/3" in out and "hold 4/3" not in out and out.count("promote") == 1
    assert "ROLLBACK (no data after 3 holds: successRate: empty result; p99LatencyMs: empty result)" in out
    assert engine.ups[-1][2] == {"v1": 95, "v2": 5}


def test_a_locked_stack_refuses_with_the_split_restored(stack):
    status, out, err, engine, _ = rollout(stack, engine=FakeEngine(stack, locked_at=1))
    assert status == REFUSED
    assert "step 1/4  v1=95 v2=5: not deployed (stack locked)" in out
    assert err.startswith("refused: stack t is locked by another update (another rollout, or a pulumi up, refresh or "
                          "destroy). Step 1/4 was not deployed and the split is back at v1=100 v2=0.")
    assert "`pulumi cancel --stack t`" in err
    assert engine.split() == {"v1": 100, "v2": 0}
    record = progress(stack)
    assert (record["status"], record["step"]) == ("interrupted", 0)
    # The next run picks up where this one stopped.
    status, out, _, engine, _ = rollout(stack, script=[GOOD] * 4)
    assert status == OK and "resuming at step 1/4 from v1=100 v2=0" in out


def test_an_engine_failure_stops_with_the_split_restored(stack):
    status, out, err, engine, _ = rollout(stack, engine=FakeEngine(stack, fail_at=2), script=[GOOD])
    assert status == ENGINE_FAILED
    assert "step 2/4  v1=75 v2=25: FAILED" in out and "error: update failed" in err
    assert engine.split() == {"v1": 95, "v2": 5}
    assert progress(stack)["status"] == "failed"


def test_a_failed_rollback_is_loud(stack):
    status, _, err, _, _ = rollout(stack, engine=FakeEngine(stack, fail_at=3),
                                        script=[GOOD, {"successRate": 0.5, "p99": 40.0}])
    assert status == ENGINE_FAILED
    assert err.startswith("ROLLBACK NOT DEPLOYED: catalog still runs v1=75 v2=25; the split in the stack file says "
                          "v1=95 v2=5: run `pulumi up --stack t` to deploy it.")
    assert progress(stack)["status"] == "rollback-failed"


def test_a_second_rollout_on_the_stack_is_refused_while_one_runs(stack):
    live = f"ci-runner:{os.getpid()}"  # this test's process: alive
    files = StackFiles(stack, stack.parent.parent)
    ten_seconds_ago = dt.datetime.fromtimestamp(NOW - 10, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    files.write_record("catalog", {"status": "running", "step": 1, "owner": live, "message": "step 2/4: soaking",
                                   "updatedAt": ten_seconds_ago})
    before = stack.read_text()

    def not_even_the_state(project, name):
        raise AssertionError("a second rollout is refused before it reads the stack's state")

    status, out, err, engine, _ = rollout(stack, engine_factory=not_even_the_state)
    assert (status, out, engine.ups) == (REFUSED, "", [])
    assert err.startswith(f"refused: a rollout of catalog on stack t is already running (owner {live}, step 2/4: "
                          "soaking, updated 10s ago). One rollout per stack at a time")
    assert stack.read_text() == before
    # Also a rollout of another service on the same stack.
    text = stack.read_text().replace("rollout:\n    catalog:", "rollout:\n    order:")
    stack.write_text(text)
    status, _, err, _, _ = rollout(stack)
    assert status == REFUSED and err.startswith("refused: a rollout of order on stack t is running")


def test_a_rollout_whose_process_died_resumes_after_its_last_completed_step(stack):
    files = StackFiles(stack, stack.parent.parent)
    files.write_split("catalog", {"v1": 50, "v2": 50})  # step 3 was deployed when the process died
    files.write_record("catalog", {"status": "running", "step": 2, "steps": 4, "weights": {"v1": 50, "v2": 50},
                                   "lastGood": {"v1": 75, "v2": 25}, "baseline": {"v1": 100, "v2": 0},
                                   "owner": "ci-runner:999999999", "message": "step 3/4: soaking"})
    status, out, _, _, _ = rollout(stack, script=[GOOD] * 2)
    assert status == OK
    assert "resuming at step 3/4 from v1=75 v2=25 (previous run: step 3/4: soaking)" in out
    assert "step 1/4" not in out and "step 2/4" not in out
    assert "step 3/4  v1=50 v2=50: unchanged, soak 2s: promote" in out  # deployed before the process died
    assert progress(stack)["baseline"] == {"v1": 100, "v2": 0}


def test_a_rollout_running_on_another_machine_needs_resume(stack):
    files = StackFiles(stack, stack.parent.parent)
    files.write_record("catalog", {"status": "running", "step": 1, "lastGood": {"v1": 95, "v2": 5},
                                   "owner": "other-runner:77", "message": "step 2/4: soaking"})
    status, _, err, _, _ = rollout(stack)
    assert status == REFUSED and "on another machine" in err and "rerun with --resume" in err
    status, out, _, _, _ = rollout(stack, script=[GOOD] * 3, resume=True)
    assert status == OK and "resuming at step 2/4 from v1=95 v2=5" in out


def test_resume_with_nothing_to_resume_is_a_usage_error(stack):
    status, _, err, engine, _ = rollout(stack, resume=True)
    assert (status, engine.ups) == (USAGE, [])
    assert err.startswith("nothing to resume (last rollout: none)")


def test_an_interrupted_rollout_records_where_it_stopped(stack):
    calls = []

    def sleep(seconds):
        calls.append(seconds)
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C, or SIGTERM (turned into the same) during step 2's soak

    status, out, _, _, _ = rollout(stack, script=[GOOD] * 4, sleep=sleep)
    assert status == INTERRUPTED
    assert out.splitlines()[-1] == "interrupted at step 2/4 (v1=75 v2=25 deployed): rerun to resume from step 2/4"
    record = progress(stack)
    assert (record["status"], record["step"], record["lastGood"]) == ("interrupted", 1, {"v1": 95, "v2": 5})


def test_dry_run_prints_the_steps_and_queries_and_changes_nothing(stack):
    before = stack.read_text()

    def no_engine(project, name):
        raise AssertionError("--dry-run must not touch the engine")

    command = Rollout(Options(str(stack), "catalog", dry_run=True), engine_factory=no_engine,
                      prometheus_factory=lambda url: pytest.fail("no queries in a dry run"), out=io.StringIO(),
                      err=io.StringIO())
    assert command.run() == OK
    out = command.out.getvalue()
    assert stack.read_text() == before
    assert "  step 1/4  v1=95 v2=5: set the split, up targeting only the catalog VirtualService, soak 2s" in out
    assert "  step 4/4  v1=0 v2=100:" in out
    assert f"    successRate >= 0.99:  {success_rate_query('catalog', 'shop', 'v2', '2s')}" in out
    assert f"    p99 <= 500ms:  {p99_query('catalog', 'shop', 'v2', '2s')}" in out
    assert "GET http://prometheus.monitoring:9090/api/v1/query" in out


@pytest.mark.parametrize("engine_args,message", [
    ({"deployed": False}, "stack 't' has no VirtualService for shop/catalog in its state: deploy the service"),
    ({"subsets": ("v1",)}, "the DestinationRule of shop/catalog deployed on stack 't' has no subset v2: run pulumi "
                           "up first"),
])
def test_nothing_is_changed_when_the_service_is_not_deployed_as_configured(stack, engine_args, message):
    before = stack.read_text()
    status, _, err, engine, _ = rollout(stack, engine=FakeEngine(stack, **engine_args))
    assert (status, engine.ups) == (USAGE, [])
    assert err.startswith(message)
    assert stack.read_text() == before


def test_config_problems_stop_before_the_engine(stack):
    stack.write_text(STACK.replace("canary: v2", "canary: v3"))
    status, _, err, engine, _ = rollout(stack)
    assert (status, engine.ups) == (USAGE, [])
    assert "mesh.services.catalog.rollout.canary" in err and "[MR300]" in err
    status, _, err, _, _ = rollout(stack.parent / "Pulumi.nope.yaml", engine=FakeEngine(stack))
    assert status == USAGE and "no such stack file" in err


def test_nothing_to_do_when_the_canary_has_everything(stack):
    StackFiles(stack, stack.parent.parent).write_split("catalog", {"v1": 0, "v2": 100})
    status, out, _, engine, _ = rollout(stack)
    assert (status, engine.ups) == (OK, [])
    assert out == "nothing to do: v2 already has 100% of the traffic (v1=0 v2=100)\n"


# --------------------------------------------------------------------------------------------- hand-off, mocks

def _registered(config):
    from harness import run_program
    from mesh_rollout import Traffic, TrafficArgs

    spec = parse_mesh(config)
    return run_program(lambda: Traffic("shop", TrafficArgs(services=spec.services)))


def test_argo_rollouts_weights_are_ignored_after_creation():
    recorder = _registered(mesh_with(weightsManagedBy="argo-rollouts"))
    route = recorder.named("shop-virtualservice-shop-catalog")
    rule = recorder.named("shop-destinationrule-shop-catalog")
    assert route.ignore_changes == ["spec.http[*].route[*].weight"]
    assert rule.ignore_changes == ["spec.subsets[*].labels"]
    # The weights are still set on creation (Argo Rollouts needs the route with both destinations).
    assert [r["weight"] for r in route.inputs["spec"]["http"][-1]["route"]] == [100, 0]
    assert recorder.named("shop-virtualservice-shop-order").ignore_changes == []


def test_without_a_controller_nothing_is_ignored():
    recorder = _registered(mesh_with())
    assert all(r.ignore_changes == [] for r in recorder.registrations)


def test_flagger_services_get_no_virtual_service_even_from_a_program_that_skips_the_checks():
    from mesh_rollout.plan import plan_traffic
    from mesh_rollout.spec import ServiceSpec

    service = ServiceSpec.model_validate({"namespace": "shop", "versions": {"v1": {}, "v2": {}},
                                          "traffic": {"split": {"v1": 90, "v2": 10}, "timeout": "5s",
                                                      "weightsManagedBy": "flagger"}})
    assert [item.kind for item in plan_traffic({"catalog": service}).objects] == ["DestinationRule"]
