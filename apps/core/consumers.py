"""The WebSocket endpoint /ws/v1/ (docs/api.md).

This consumer owns the connection: JSON messages with an `op`, `ping`/`pong`, `auth`, error messages
for anything malformed (the socket stays usable), and the way frames leave. Channels (book, trades,
ticker, orders) register handlers in `SUBSCRIPTION_HANDLERS`; a subscribe to a channel no app
provides is answered with an `unknown_channel` error.

Every frame to the client goes through a bounded outbox drained by one writer task, in order. A
client that does not read fills it (the socket's send blocks once the kernel and server buffers
are full) and is disconnected with close code 4008 and the reason, instead of growing memory.
A heartbeat message goes out after WS_HEARTBEAT_SECONDS without other traffic (protocol pings are
uvicorn's); a connection with no subscription and no client message for WS_IDLE_SECONDS is closed
with code 4000.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any
from urllib.parse import parse_qs

import redis
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.utils import timezone

from apps.core import metrics, parsers
from apps.core.exceptions import StreamAuthenticationFailed
from apps.core.fields import format_time

logger = logging.getLogger(__name__)

# channel name -> async callable(consumer, message) that subscribes or unsubscribes.
SUBSCRIPTION_HANDLERS: dict[str, Any] = {}
# channel-layer message type ("user.events") -> async callable(consumer, message) that forwards it.
MESSAGE_HANDLERS: dict[str, Any] = {}
# How a connection authenticates, registered by the app that owns users (apps.accounts.consumers):
# "authenticate": (content, *, ip) -> (user, api_key or None, token or None), raising
# StreamAuthenticationFailed; "still_authenticated": (user, api_key, token) -> bool.
AUTHENTICATION: dict[str, Any] = {}

MAX_MESSAGE_BYTES = 4096
PRIVATE_CHANNELS = {"orders"}
CLOSE_IDLE, CLOSE_SLOW = 4000, 4008


class Subscription:
    """What a connection holds for one (channel, symbol); `leave` undoes it (unsubscribe, disconnect)."""

    def __init__(self, leave=None, **state):
        self.leave = leave
        self.state = state

    async def close(self) -> None:
        if self.leave is not None:
            await self.leave()


CHANNEL_RECEIVE_ATTEMPTS = 3


async def read_until_cancelled(read):
    """`await read()` in a task of its own that a cancellation of the caller is sure to end.

    redis-py writes each command under `asyncio.wait_for`, which on Python 3.11 swallows a
    cancellation that arrives as the write completes (fixed in 3.12). A channel-layer read cancelled
    then carries on, blocking on Redis again and again, and whatever awaits it (Channels awaits its
    reads when a connection ends, uvicorn awaits the connection on SIGTERM) waits forever. So a
    cancellation here is passed on to the read until the read has really ended.
    """
    task = asyncio.ensure_future(read())
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        while not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):  # cancelled again: we end once the read has
                await asyncio.wait({task}, timeout=0.1)
        if not task.cancelled():
            task.exception()  # retrieved: a read that failed as it ended (Redis gone) is not logged as lost
        raise


class StreamConsumer(AsyncJsonWebsocketConsumer):
    # Channels sets `channel_receive` (this connection's own channel-layer read) before the
    # connection starts; a Redis connection dropped under it (a failover, a killed client) would
    # end the whole WebSocket. The setter wraps it: a dropped connection is read again, on a new one,
    # and a read cancelled when the connection ends is sure to end (`read_until_cancelled`).
    @property
    def channel_receive(self):
        return self._channel_receive

    @channel_receive.setter
    def channel_receive(self, receive):
        async def resilient():
            for attempt in range(1, CHANNEL_RECEIVE_ATTEMPTS + 1):
                try:
                    return await read_until_cancelled(receive)
                except redis.ConnectionError:
                    if attempt == CHANNEL_RECEIVE_ATTEMPTS:
                        raise
                    logger.warning("channel layer read failed, reading again", extra={"attempt": attempt})
                    await asyncio.sleep(0.05 * attempt)

        self._channel_receive = resilient

    async def connect(self):
        loop = asyncio.get_running_loop()
        self.subscriptions: dict[tuple[str, str], Subscription] = {}
        self.user = None
        self.api_key = None
        self.credential = None  # the validated JWT, for the periodic re-check
        self.auth_checked = 0.0
        self.closing = False
        self.outbox: asyncio.Queue[str] = asyncio.Queue(maxsize=settings.WS_OUTBOX_MESSAGES)
        self.last_sent = self.last_received = loop.time()
        await self.accept()
        self.counted = True
        metrics.WEBSOCKET_CONNECTIONS.inc()
        self.writer = asyncio.create_task(self._write())
        self.writer.add_done_callback(self._writer_done)
        self.watchdog = asyncio.create_task(self._watch())
        token = parse_qs(self.scope.get("query_string", b"").decode("latin-1")).get("token")
        if token:
            await self.authenticate({"token": token[0]})

    async def disconnect(self, code):
        self.closing = True
        if getattr(self, "counted", False):
            self.counted = False
            metrics.WEBSOCKET_CONNECTIONS.dec()
            metrics.WEBSOCKET_DISCONNECTS.labels(code=str(code)).inc()
        await self._leave_all()
        for task in (getattr(self, "writer", None), getattr(self, "watchdog", None)):
            if task is not None and task is not asyncio.current_task():
                task.cancel()

    async def _leave_all(self) -> None:
        subscriptions, self.subscriptions = getattr(self, "subscriptions", {}), {}
        for subscription in subscriptions.values():
            try:
                await subscription.close()
            except Exception:
                logger.exception("leaving a subscription failed")

    # -- outgoing ------------------------------------------------------------------------------------

    def push(self, text: str) -> None:
        """Queue one frame for the client; a client this far behind is disconnected."""
        if self.closing:
            return
        try:
            self.outbox.put_nowait(text)
        except asyncio.QueueFull:
            self.closing = True
            asyncio.get_running_loop().create_task(self._drop_slow())

    async def send_json(self, content, close=False):
        self.push(json.dumps(content))

    async def send_error(self, code: str, message: str) -> None:
        self.push(json.dumps({"type": "error", "code": code, "message": message}))

    async def _write(self) -> None:
        loop, outbox, send = asyncio.get_running_loop(), self.outbox, self.base_send
        while True:
            text = await outbox.get()
            await send({"type": "websocket.send", "text": text})
            while not outbox.empty():  # what queued meanwhile, without a wake-up per frame
                await send({"type": "websocket.send", "text": outbox.get_nowait()})
            self.last_sent = loop.time()

    def _writer_done(self, task: asyncio.Task) -> None:
        """The writer only ends by cancellation, or because the socket is gone (a send failed):
        then stop everything this connection holds, whether or not a disconnect follows."""
        if task.cancelled() or self.closing:
            return
        logger.info("WebSocket writer stopped: %r", task.exception())
        self.closing = True
        asyncio.get_running_loop().create_task(self._leave_all())
        self.watchdog.cancel()

    async def _drop_slow(self) -> None:
        behind = self.outbox.qsize()
        logger.info("disconnecting a slow WebSocket client (%d messages behind)", behind)
        self.writer.cancel()
        await self._leave_all()
        try:
            await self.close(code=CLOSE_SLOW, reason=f"slow consumer: {behind} messages behind")
        except Exception:
            logger.debug("closing a slow client failed", exc_info=True)

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        heartbeat, idle, recheck = (
            settings.WS_HEARTBEAT_SECONDS,
            settings.WS_IDLE_SECONDS,
            settings.WS_AUTH_RECHECK_SECONDS,
        )
        while not self.closing:
            now = loop.time()
            if not self.subscriptions and now - self.last_received >= idle:
                self.closing = True
                await self.close(code=CLOSE_IDLE, reason="idle: no subscription")
                return
            if now - self.last_sent >= heartbeat and self.outbox.empty():
                self.push(json.dumps({"type": "heartbeat", "time": format_time(timezone.now())}))
                self.last_sent = now
            if self.user is not None and now - self.auth_checked >= recheck:
                await self._recheck_authentication()
                self.auth_checked = loop.time()
            wait = heartbeat - (now - self.last_sent)
            if self.user is not None:
                wait = min(wait, recheck - (now - self.auth_checked))
            if not self.subscriptions:
                wait = min(wait, idle - (now - self.last_received))
            await asyncio.sleep(max(0.05, wait))

    # -- incoming ------------------------------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        if self.closing:
            return  # being disconnected (slow, idle): nothing more is answered
        self.last_received = asyncio.get_running_loop().time()
        if text_data is None:
            await self.send_error("invalid_message", "Messages must be JSON text frames.")
            return
        if len(text_data) > MAX_MESSAGE_BYTES:
            await self.send_error("invalid_message", f"Messages are limited to {MAX_MESSAGE_BYTES} bytes.")
            return
        try:
            content = parsers.loads(text_data)
        except parsers.JsonTooDeep as exc:
            await self.send_error("invalid_message", str(exc))
            return
        except ValueError:
            await self.send_error("invalid_message", "Messages must be valid JSON.")
            return
        await self.receive_json(content)

    async def receive_json(self, content, **kwargs):
        try:
            await self._handle(content)
        except Exception:
            # A dependency failed (database, Redis): the client hears of it and the socket lives on.
            logger.exception("a WebSocket message could not be handled")
            await self.send_error("internal_error", "The message could not be handled now; try again.")

    async def _handle(self, content) -> None:
        if not isinstance(content, dict) or not isinstance(content.get("op"), str):
            await self.send_error("invalid_message", 'Messages are JSON objects with an "op".')
            return
        op = content["op"]
        if op == "ping":
            await self.send_json({"type": "pong"})
        elif op == "auth":
            await self.authenticate(content)
        elif op in ("subscribe", "unsubscribe"):
            channel = content.get("channel")
            handler = SUBSCRIPTION_HANDLERS.get(channel) if isinstance(channel, str) else None
            if handler is None:
                await self.send_error("unknown_channel", f"Unknown channel: {channel!r}.")
                return
            await handler(self, content)
        else:
            await self.send_error("unknown_op", f"Unknown op: {op!r}.")

    async def dispatch(self, message):
        handler = MESSAGE_HANDLERS.get(message.get("type"))
        if handler is not None:
            try:
                await handler(self, message)
            except Exception:
                logger.exception("a channel-layer message could not be forwarded")
            return
        await super().dispatch(message)

    # -- authentication ------------------------------------------------------------------------------

    async def _recheck_authentication(self) -> None:
        """Every WS_AUTH_RECHECK_SECONDS: a revoked API key, a password change (which revokes its
        tokens) or a deactivated user ends what the connection may see, at once."""
        try:
            still_authenticated = database_sync_to_async(AUTHENTICATION["still_authenticated"])
            valid = await still_authenticated(self.user, self.api_key, self.credential)
        except Exception:
            logger.warning("re-checking a WebSocket's authentication failed; kept until the next check", exc_info=True)
            return
        if valid:
            return
        for key in [k for k in self.subscriptions if k[0] in PRIVATE_CHANNELS]:
            await self.subscriptions.pop(key).close()
        self.user = self.api_key = self.credential = None
        await self.send_error("authentication_revoked", "The credential was revoked: authenticate again.")

    async def authenticate(self, content: dict) -> None:
        """`token` (a JWT access token) or `api_key` + `timestamp` + `signature` (HMAC of timestamp +
        "GET" + "/ws/v1/"). The connection acts as that user until it closes."""
        if self.user is not None:
            await self.send_error("already_authenticated", "This connection is already authenticated.")
            return
        client = self.scope.get("client") or ("", 0)
        try:
            authenticate = database_sync_to_async(AUTHENTICATION["authenticate"])
            user, api_key, token = await authenticate(content, ip=client[0] or "")
        except StreamAuthenticationFailed as exc:
            await self.send_error(exc.code, exc.message)
            return
        self.user, self.api_key, self.credential = user, api_key, token
        self.auth_checked = asyncio.get_running_loop().time()
        await self.send_json({"type": "authenticated", "user_id": user.pk})
