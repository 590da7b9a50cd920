"""A minimal client of Prometheus's HTTP API (``GET /api/v1/query``): one instant query, its values, or why there
are none. Standard library only. It never raises for what Prometheus (or the network) does: an unreachable server,
an error answer or an empty result all come back as no values with a reason, which the rollout treats as a hold."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class QueryResult:
    #: Every sample value of the result (a vector's series, or the scalar); empty when there is none.
    values: tuple[float, ...] = ()
    #: Why there are no values; ``None`` when Prometheus answered with data or an empty result.
    problem: str | None = None


def _float(text: str) -> float:
    # Prometheus writes sample values as strings: "0.99", "NaN", "+Inf", "-Inf".
    return float(text)


class PrometheusClient:
    """Instant queries against ``base_url`` (e.g. ``http://prometheus.istio-system:9090``)."""

    def __init__(self, base_url: str, timeout: float = 10.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def url(self, promql: str) -> str:
        return f"{self.base_url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"

    def query(self, promql: str) -> QueryResult:
        request = urllib.request.Request(self.url(promql), headers={"Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as error:
            detail = _error_detail(error.read())
            return QueryResult(problem=f"Prometheus answered HTTP {error.code}{': ' + detail if detail else ''}")
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as error:
            reason = getattr(error, "reason", error)
            reason = getattr(reason, "strerror", None) or str(reason)
            return QueryResult(problem=f"Prometheus unreachable at {self.base_url}: {reason}")
        try:
            document = json.loads(body)
        except ValueError:
            return QueryResult(problem="Prometheus answered something that is not JSON")
        if not isinstance(document, dict) or document.get("status") != "success":
            refusal = document.get("error") if isinstance(document, dict) else None
            return QueryResult(problem=f"Prometheus refused the query: {refusal or 'no reason given'}")
        data = document.get("data") or {}
        # JSON of any shape: reading it wrongly raises, and is reported below.
        kind: Any = data.get("resultType")
        result: Any = data.get("result")
        try:
            if kind == "scalar":
                return QueryResult((_float(result[1]),))
            if kind == "vector":
                return QueryResult(tuple(_float(sample["value"][1]) for sample in result))
        except (TypeError, KeyError, IndexError, ValueError):
            return QueryResult(problem="Prometheus answered a result this client cannot read")
        return QueryResult(problem=f"the query returns a {kind}, not an instant vector or scalar")


def _error_detail(body: bytes) -> str:
    try:
        document = json.loads(body)
    except ValueError:
        return ""
    return str(document.get("error") or "") if isinstance(document, dict) else ""

