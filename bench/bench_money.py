"""Money-field validation in process: how much the decimal-string checks cost per value.

Workload: 200,000 MoneyField validations of mixed valid strings ("0.015", "123456.12345678", "7"),
then 200,000 renderings of Decimals back to strings.
"""

from __future__ import annotations

import time
from decimal import Decimal

from bench.common import Figure

N = 200_000


def run() -> list[Figure]:
    from apps.core.fields import MoneyField

    field = MoneyField(max_decimal_places=8)
    values = ["0.015", "123456.12345678", "7"] * (N // 3)
    started = time.perf_counter()
    for value in values:
        field.run_validation(value)
    parse = time.perf_counter() - started
    decimals = [Decimal(v) for v in values]
    started = time.perf_counter()
    for value in decimals:
        field.to_representation(value)
    render = time.perf_counter() - started
    return [
        Figure("MoneyField validate", len(values) / parse, "values/s"),
        Figure("MoneyField render", len(values) / render, "values/s"),
    ]
