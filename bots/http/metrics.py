"""Request counters and latency histograms in the Prometheus text format (no extra dependency)."""

from __future__ import annotations

import threading
from collections import defaultdict

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self._latency: dict[tuple[str, str], list[float]] = {}
        self._sums: dict[tuple[str, str], float] = defaultdict(float)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self._requests[(method, route, status)] += 1
            counts = self._latency.setdefault((method, route), [0] * (len(BUCKETS) + 1))
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    counts[i] += 1
            counts[-1] += 1
            self._sums[(method, route)] += seconds

    def render(self) -> str:
        out = ["# HELP jianxue_http_requests_total HTTP requests by method, route and status.",
               "# TYPE jianxue_http_requests_total counter"]
        with self._lock:
            for (method, route, status), n in sorted(self._requests.items()):
                out.append(f'jianxue_http_requests_total{{method="{method}",route="{route}",status="{status}"}} {n}')
            out += ["# HELP jianxue_http_request_seconds Request latency.",
                    "# TYPE jianxue_http_request_seconds histogram"]
            for (method, route), counts in sorted(self._latency.items()):
                labels = f'method="{method}",route="{route}"'
                for bound, n in zip(BUCKETS, counts, strict=False):
                    out.append(f'jianxue_http_request_seconds_bucket{{{labels},le="{bound}"}} {n}')
                out.append(f'jianxue_http_request_seconds_bucket{{{labels},le="+Inf"}} {counts[-1]}')
                out.append(f"jianxue_http_request_seconds_sum{{{labels}}} {self._sums[(method, route)]:.6f}")
                out.append(f"jianxue_http_request_seconds_count{{{labels}}} {counts[-1]}")
        return "\n".join(out) + "\n"
