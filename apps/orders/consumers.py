"""The private `orders` channel of /ws/v1/ (docs/api.md "WebSocket"): the authenticated user's orders,
fills and balances, as the matcher settles them.

The matcher sends one channel-layer message per user and batch to the group `user.{id}`; only
connections authenticated as that user join it, so one user never receives another's events. An
API key needs the `read` permission.
"""

from __future__ import annotations

import json

from apps.core.consumers import MESSAGE_HANDLERS, SUBSCRIPTION_HANDLERS, Subscription


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


async def orders(consumer, content) -> None:
    key = ("orders", "")
    if content["op"] == "unsubscribe":
        subscription = consumer.subscriptions.pop(key, None)
        if subscription is None:
            await consumer.send_error("not_subscribed", "Not subscribed to orders.")
            return
        await subscription.close()
        await consumer.send_json({"type": "unsubscribed", "channel": "orders"})
        return
    if consumer.user is None:
        await consumer.send_error(
            "authentication_required", 'The orders channel needs authentication: send {"op": "auth", ...} first.'
        )
        return
    if consumer.api_key is not None and "read" not in consumer.api_key.permissions:
        await consumer.send_error("permission_denied", "This API key lacks the read permission.")
        return
    if key not in consumer.subscriptions:
        group = user_group(consumer.user.pk)
        await consumer.channel_layer.group_add(group, consumer.channel_name)

        async def leave():
            await consumer.channel_layer.group_discard(group, consumer.channel_name)

        consumer.subscriptions[key] = Subscription(leave)
    await consumer.send_json({"type": "subscribed", "channel": "orders"})


async def user_events(consumer, message) -> None:
    if ("orders", "") not in consumer.subscriptions or consumer.user is None:
        return
    for event in message["payload"]:
        consumer.push(json.dumps(event))


SUBSCRIPTION_HANDLERS["orders"] = orders
MESSAGE_HANDLERS["user.events"] = user_events
