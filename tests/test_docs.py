"""The README's examples are real configurations, and its generated sections are current."""

import re
import subprocess
import sys

import pytest
import yaml

from conftest import ROOT
from mesh_rollout.checks import errors, run_checks
from mesh_rollout.plan import plan
from mesh_rollout.spec import parse_mesh

README = (ROOT / "README.md").read_text()
EXAMPLES = re.findall(r"```yaml\n# example: ([\w-]+)\n(.*?)```", README, re.S)


def test_readme_has_the_documented_examples():
    names = {name for name, _ in EXAMPLES}
    assert {"canary", "header-routing", "retries-timeouts", "circuit-breaker", "fault-injection",
            "payment-only-from-order", "observability"} <= names


@pytest.mark.parametrize("name,body", EXAMPLES, ids=[name for name, _ in EXAMPLES])
def test_readme_example_parses_passes_checks_and_plans(name, body):
    spec = parse_mesh(yaml.safe_load(body))
    assert [str(f) for f in errors(run_checks(spec))] == []
    assert plan(spec).objects


def test_payment_only_from_order_example_means_what_it_says():
    body = dict(EXAMPLES)["payment-only-from-order"]
    access = plan(parse_mesh(yaml.safe_load(body))).access
    rules = access.object("AuthorizationPolicy/shop/payment-allow").manifest["spec"]["rules"]
    assert rules == [{"from": [{"source": {"principals": ["cluster.local/ns/shop/sa/order"]}}]}]


def test_generated_readme_sections_are_current():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen-docs.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_every_config_key_is_in_the_reference():
    for key in ("mesh.services.<name>.traffic.retries.perTryTimeout", "mesh.controlPlane.charts.url",
                "mesh.observability.jaeger.collectorHost", "cluster.renderDir",
                "mesh.services.<name>.access.allowFrom[].serviceAccount",
                "mesh.services.<name>.traffic.circuitBreaker.consecutive5xxErrors"):
        assert f"`{key}`" in README, key


def test_readme_component_example_runs_under_pulumi_mocks():
    """The "Using the components in your own Pulumi program" snippet is a working program."""
    from harness import run_program

    section = README.split("## Using the components in your own Pulumi program", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    recorder = run_program(lambda: exec(compile(code, "README.md", "exec"), {}))
    types = {r.type for r in recorder.registrations}
    assert {"mesh-rollout:index:Traffic", "mesh-rollout:index:Access", "mesh-rollout:index:Mesh"} <= types
    allow = recorder.named("shop-access-authorizationpolicy-shop-payment-allow")
    assert allow.inputs["spec"]["rules"] == [{"from": [{"source": {"principals": ["cluster.local/ns/shop/sa/order"]}}]}]
    provider = recorder.named("cluster")
    assert allow.provider.startswith(provider.urn)
