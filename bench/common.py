from __future__ import annotations

import statistics
from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    unit: str


def percentile(samples: list[float], q: float) -> float:
    """The q-th percentile (0..100) by the inclusive method."""
    return statistics.quantiles(samples, n=100, method="inclusive")[int(q) - 1] if q < 100 else max(samples)
