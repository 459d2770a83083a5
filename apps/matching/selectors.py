"""The matcher's reads for the admin: each market's durable cursor and how far its stream is ahead."""

from __future__ import annotations

from apps.markets import streams
from apps.matching.models import MarketState


def matcher_states(symbols: list[str]) -> dict[str, dict]:
    """{symbol: {last_settled, commands_applied, last_stream_id, lag}} for the given markets: one
    query (the cursor rows, one per market) and one Redis round trip (the streams' lengths; lag None
    when Redis is unreachable). `last_settled` is when the matcher last committed a batch of that
    market (the cursor row is written in each batch's transaction); None if it never did."""
    rows = {
        symbol: {"last_settled": updated_at, "commands_applied": applied, "last_stream_id": stream_id}
        for symbol, updated_at, applied, stream_id in MarketState.objects.filter(
            market__symbol__in=symbols
        ).values_list("market__symbol", "updated_at", "commands_applied", "last_stream_id")
    }
    waiting = streams.waiting_commands(symbols)
    return {
        symbol: {
            **rows.get(symbol, {"last_settled": None, "commands_applied": 0, "last_stream_id": None}),
            "lag": None if waiting is None else waiting[symbol],
        }
        for symbol in symbols
    }
