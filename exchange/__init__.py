import decimal

# Amounts are NUMERIC(36, 18)-sized: Python's default 28 significant digits would round them
# silently in arithmetic. New threads copy DefaultContext; this thread's context is set directly.
# Where precision is reduced, code rounds explicitly (quantize with a named rounding mode).
MONEY_PRECISION = 60
decimal.DefaultContext.prec = MONEY_PRECISION
decimal.getcontext().prec = MONEY_PRECISION

from exchange.celery import app as celery_app  # noqa: E402

__all__ = ["celery_app"]
