"""A test exporter of Istio-shaped metrics, whose traffic the test controls (pure Python ``http.server``).

It serves what Istio's sidecars expose for Prometheus, for made-up workloads: the counter ``istio_requests_total``
and the histogram ``istio_request_duration_milliseconds`` (buckets, sum, count), labelled as Istio labels them
(``reporter``, ``source_workload``, ``destination_service_name``, ``destination_service_namespace``,
``destination_version``, ``response_code``). Each workload has a request rate, a share of 5xx answers and a latency;
the counters grow with real time at that rate, so ``rate()`` over any window sees exactly what the test set.

    exporter = IstioExporter().start()            # 127.0.0.1, a free port
    exporter.set("catalog", "shop", "v2", rps=20, errors=0.2, latency_ms=40)
    exporter.remove("catalog", "shop", "v2")      # the series disappear (no data)
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

#: Istio's default buckets of istio_request_duration_milliseconds (ms).
BUCKETS = (0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000,
           3600000)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass
class _Workload:
    rps: float
    errors: float
    latency_ms: float
    #: Requests so far by response code ("200", "503").
    counts: dict[str, float] = field(default_factory=lambda: {"200": 0.0, "503": 0.0})
    updated: float = 0.0

    def advance(self, now: float) -> None:
        requests = self.rps * max(0.0, now - self.updated)
        self.counts["503"] += requests * self.errors
        self.counts["200"] += requests * (1 - self.errors)
        self.updated = now


class IstioExporter:
    """Serves ``/metrics`` on 127.0.0.1; :meth:`set` and :meth:`remove` change the traffic while it runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._workloads: dict[tuple[str, str, str, str], _Workload] = {}
        self._server: ThreadingHTTPServer | None = None
        self.scrapes = 0

    # --- traffic

    def set(self, service: str, namespace: str, version: str, *, rps: float = 20.0, errors: float = 0.0,
            latency_ms: float = 40.0, reporter: str = "destination") -> None:
        """Requests to ``version`` of ``service`` from now on: ``rps`` per second, ``errors`` of them 5xx (a share,
        0..1), each taking ``latency_ms``. Counters keep what they counted so far (they are counters)."""
        now = time.monotonic()
        key = (reporter, service, namespace, version)
        with self._lock:
            workload = self._workloads.get(key)
            if workload is None:
                self._workloads[key] = _Workload(rps, errors, latency_ms, updated=now)
                return
            workload.advance(now)
            workload.rps, workload.errors, workload.latency_ms = rps, errors, latency_ms

    def remove(self, service: str, namespace: str, version: str, reporter: str = "destination") -> None:
        with self._lock:
            self._workloads.pop((reporter, service, namespace, version), None)

    def reset(self) -> None:
        with self._lock:
            self._workloads.clear()

    # --- exposition

    def metrics(self) -> str:
        now = time.monotonic()
        requests = ["# HELP istio_requests_total Requests seen by Istio's proxies.",
                    "# TYPE istio_requests_total counter"]
        durations = ["# HELP istio_request_duration_milliseconds Request duration seen by Istio's proxies.",
                     "# TYPE istio_request_duration_milliseconds histogram"]
        with self._lock:
            for (reporter, service, namespace, version), workload in sorted(self._workloads.items()):
                workload.advance(now)
                for code, count in sorted(workload.counts.items()):
                    labels = (f'reporter="{reporter}",source_workload="loadgen",'
                              f'source_workload_namespace="{namespace}",'
                              f'destination_service_name="{service}",destination_service_namespace="{namespace}",'
                              f'destination_version="{version}",response_code="{code}"')
                    requests.append(f"istio_requests_total{{{labels}}} {count!r}")
                    for bound in BUCKETS:
                        observed = count if workload.latency_ms <= bound else 0.0
                        durations.append(f'istio_request_duration_milliseconds_bucket{{{labels},le="{bound:g}"}} '
                                         f"{observed!r}")
                    durations.append(f'istio_request_duration_milliseconds_bucket{{{labels},le="+Inf"}} {count!r}')
                    durations.append(f"istio_request_duration_milliseconds_sum{{{labels}}} "
                                     f"{count * workload.latency_ms!r}")
                    durations.append(f"istio_request_duration_milliseconds_count{{{labels}}} {count!r}")
            self.scrapes += 1
        return "\n".join(requests + durations) + "\n"

    # --- server

    def start(self) -> IstioExporter:
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?", 1)[0] != "/metrics":
                    self.send_error(404)
                    return
                body = exporter.metrics().encode()
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args) -> None:  # quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="istio-exporter", daemon=True).start()
        return self

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return self._server.server_address[1]

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
