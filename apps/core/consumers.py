"""The WebSocket endpoint /ws/v1/ (API.md).

This consumer owns the connection protocol: JSON messages with an `op`, `ping`/`pong`, and error
messages for anything malformed. Channels (book, trades, ticker, orders) register handlers in
`SUBSCRIPTION_HANDLERS` as the apps that publish them land; a subscribe to a channel that no app
provides is answered with an `unknown_channel` error rather than silently accepted.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer

logger = logging.getLogger(__name__)

# channel name -> async callable(consumer, message) that subscribes or raises ValueError.
SUBSCRIPTION_HANDLERS: dict[str, Any] = {}
# channel-layer message type ("book.update") -> async callable(consumer, message) that forwards it.
MESSAGE_HANDLERS: dict[str, Any] = {}

MAX_MESSAGE_BYTES = 4096


class StreamConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        self.subscriptions: dict[tuple[str, str], dict] = {}
        await self.accept()

    async def dispatch(self, message):
        handler = MESSAGE_HANDLERS.get(message.get("type"))
        if handler is not None:
            await handler(self, message)
            return
        await super().dispatch(message)

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        if text_data is None:
            await self.send_error("invalid_message", "Messages must be JSON text frames.")
            return
        if len(text_data) > MAX_MESSAGE_BYTES:
            await self.send_error("invalid_message", f"Messages are limited to {MAX_MESSAGE_BYTES} bytes.")
            return
        try:
            content = json.loads(text_data)
        except json.JSONDecodeError:
            await self.send_error("invalid_message", "Messages must be valid JSON.")
            return
        await self.receive_json(content)

    async def receive_json(self, content, **kwargs):
        if not isinstance(content, dict) or not isinstance(content.get("op"), str):
            await self.send_error("invalid_message", 'Messages are JSON objects with an "op".')
            return
        op = content["op"]
        if op == "ping":
            await self.send_json({"type": "pong"})
        elif op in ("subscribe", "unsubscribe"):
            channel = content.get("channel")
            handler = SUBSCRIPTION_HANDLERS.get(channel)
            if handler is None:
                await self.send_error("unknown_channel", f"Unknown channel: {channel!r}.")
                return
            await handler(self, content)
        else:
            await self.send_error("unknown_op", f"Unknown op: {op!r}.")

    async def send_error(self, code: str, message: str) -> None:
        await self.send_json({"type": "error", "code": code, "message": message})
