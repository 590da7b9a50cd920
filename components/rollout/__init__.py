"""Metric-gated canary rollouts through Pulumi's Automation API: ``python -m mesh_rollout.rollout <stack> <service>``.

- :mod:`.queries`: the gates as PromQL over Istio's standard metrics (pure);
- :mod:`.steps`: which weights each step sets, where a rollout starts or resumes, promote / hold / roll back (pure);
- :mod:`.prometheus`: the Prometheus HTTP API client (``/api/v1/query``);
- :mod:`.stackfile`: surgical edits of the split (stack file or meshFile) and of the progress record;
- :mod:`.driver`: the command, driving ``pulumi up`` through the Automation API.
"""

from .prometheus import PrometheusClient, QueryResult
from .queries import Gate, gates_for, p99_query, promql_duration, success_rate_query
from .steps import Decision, Measurement, Start, Step, Verdict, baseline, decide, plan_start, remaining_steps

__all__ = ("Decision", "Gate", "Measurement", "PrometheusClient", "QueryResult", "Start", "Step", "Verdict",
           "baseline", "decide", "gates_for", "p99_query", "plan_start", "promql_duration", "remaining_steps",
           "success_rate_query")
