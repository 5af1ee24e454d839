"""How long routing decisions take, counted into the buckets /metrics publishes (Prometheus' histogram)."""

from __future__ import annotations

LATENCY_BUCKETS_MS = (0.25, 0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500)


class Histogram:
    """Decision latency for /metrics, in Prometheus' cumulative-bucket form."""

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS_MS) + 1)
        self.sum = 0.0

    def observe(self, ms: float) -> None:
        self.sum += ms
        for i, bound in enumerate(LATENCY_BUCKETS_MS):
            if ms <= bound:
                self.counts[i] += 1
                return
        self.counts[-1] += 1
