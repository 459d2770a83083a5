"""Order API (docs/api.md "Orders"). Thin: validate the shape, call a service, render."""

import json
import threading

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.errors import error_body, flatten_validation
from apps.core.exceptions import DomainError
from apps.core.fields import parse_time_param
from apps.core.schema import TIME
from apps.orders import selectors, services
from apps.orders.serializers import (
    MAX_BATCH,
    BatchCancelInput,
    BatchPlaceInput,
    BatchPlaceOutput,
    OrderInput,
    OrderOutput,
    order_payload,
    repeats,
)

PLACE_ERRORS = (
    "400 `invalid_request`, `invalid_price_tick`, `invalid_quantity_step`, `below_min_notional`, "
    "`insufficient_funds`; the market's pre-trade checks (GET /markets shows them): `above_max_quantity`, "
    "`above_max_notional`, `price_out_of_band` (a limit price more than `price_band` from the last trade, or "
    "from the book's mid before the first; `details` has the accepted range), `too_many_open_orders`; "
    "403 `market_halted` (`details.reason`: `circuit_breaker` with `resumes_at`, `kill_switch`, or staff's text), "
    "`kyc_required`, `permission_denied`; 404 `unknown_market`. "
    "A market order trades no further than the market's `market_order_collar` from the best price when it starts "
    "matching: the rest expires with reason `collar`. An order the matcher meets after a halt is `rejected` with "
    "reason `market_halted`. "
    "A repeated `client_order_id` answers 200 with the original order. Holds: a buy limit holds price x "
    "quantity, a market buy by `quote_quantity` that amount, a market buy by `quantity` the whole available "
    "quote balance until it settles (the rest comes back at once), a stop-market buy by quantity "
    "quantity x stop price x 1.05; sells hold the quantity. Fees come out of what each side receives."
)

CANCEL_NOTE = (
    "202: the cancel is recorded and sent; the order becomes `cancelled` once the matcher applies it (it may "
    "fill first). 409 `order_closed` if it is already final; 404 `not_found` (also another user's order)."
)


_inputs = threading.local()


def _order_input() -> OrderInput:
    """This thread's OrderInput, reused for every order: a new serializer deep-copies its fields,
    a tenth of an order's CPU in the web process. Validating keeps no state on the instance."""
    found = getattr(_inputs, "serializer", None)
    if found is None:
        found = _inputs.serializer = OrderInput()
    return found


def _trade_or_read(request):
    return "read" if request.method == "GET" else "trade"


class OrderListView(generics.ListAPIView):
    api_key_permission = staticmethod(_trade_or_read)
    ordering = ("-created_at", "-id")

    def get_throttles(self):
        self.throttle_scope = "orders" if self.request.method in ("POST", "DELETE") else None
        return super().get_throttles()

    def get_queryset(self):
        params = self.request.query_params
        times, errors = {}, {}
        for name in ("from", "to"):
            if params.get(name):
                try:
                    times[name] = parse_time_param(params[name])
                except (ValueError, OverflowError):
                    errors[name] = ["Must be an ISO-8601 time or unix milliseconds."]
        if "from" in times and "to" in times and times["from"] >= times["to"]:
            errors["to"] = ["Must be after `from`."]
        if errors:
            raise serializers.ValidationError(errors)
        return selectors.orders_for(self.request.user, status=params.get("status", "all"),
                                    symbol=params.get("symbol") or None, created_from=times.get("from"),
                                    created_to=times.get("to"))  # fmt: skip

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response([order_payload(order) for order in page])

    @extend_schema(
        tags=["orders"], responses={200: OrderOutput(many=True)},
        parameters=[OpenApiParameter("status", enum=["open", "closed", "all"]), OpenApiParameter("symbol", str),
                    OpenApiParameter("from", TIME, description="Orders created at or after this time: ISO-8601 (UTC "
                                     "when no offset; a date is its midnight UTC) or unix milliseconds."),
                    OpenApiParameter("to", TIME, description="Orders created before this time (exclusive), same "
                                     "forms as `from`; after `from`.")],
    )  # fmt: skip
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(tags=["orders"], request=OrderInput, responses={201: OrderOutput, 200: OrderOutput},
                   parameters=[OpenApiParameter(
                       "wait", enum=["ack", "result"], description="`ack` (default): answer once the order is "
                       "accepted (`new`, before the matcher has acted). `result`: answer once the matcher has "
                       "applied it (resting `new`, `filled`, `partially_filled`, `rejected`, `expired`...), or after "
                       "`ORDER_RESULT_WAIT_SECONDS` (2 s) with the order as it then is; as Binance's "
                       "`newOrderRespType=RESULT`.")],
                   description=PLACE_ERRORS)  # fmt: skip
    def post(self, request):
        wait = request.query_params.get("wait", "ack")
        if wait not in ("ack", "result"):
            raise serializers.ValidationError({"wait": ["Must be ack or result."]})
        ((data, errors),) = _order_input().check_each([request.data])
        if errors is not None:
            raise serializers.ValidationError(errors)
        order, created = services.place_order(user=request.user, request=services.OrderRequest(**data))
        if wait == "result" and created:
            order = selectors.applied(order, timeout=settings.ORDER_RESULT_WAIT_SECONDS)
        return Response(order_payload(order), status=201 if created else 200)

    @extend_schema(tags=["orders"], parameters=[OpenApiParameter("symbol", str)], operation_id="orders_cancel_all",
                   responses={202: inline_serializer("CancelAll", {"cancelling": serializers.IntegerField()})},
                   description="Cancel every open order (of one market). They become `cancelled` as the matcher "
                   "applies the requests.")  # fmt: skip
    def delete(self, request):
        count = services.request_cancel_all(user=request.user, symbol=request.query_params.get("symbol") or None)
        return Response({"cancelling": count}, status=202)


class OrderDetailView(APIView):
    api_key_permission = staticmethod(_trade_or_read)

    def get_throttles(self):
        self.throttle_scope = "orders" if self.request.method == "DELETE" else None
        return super().get_throttles()

    @extend_schema(tags=["orders"], responses={200: OrderOutput}, description="404 `not_found` (also for "
                   "another user's order).")  # fmt: skip
    def get(self, request, order_id: int):
        return Response(order_payload(selectors.order_for(request.user, order_id)))

    @extend_schema(tags=["orders"], responses={202: OrderOutput}, description=CANCEL_NOTE, operation_id="orders_cancel")
    def delete(self, request, order_id: int):
        order = services.request_cancel(user=request.user, order_id=order_id)
        return Response(order_payload(selectors.order_for(request.user, order.pk)), status=202)


def _repeated(index: int, first: int, field: str) -> dict:
    message = f"Repeats item {first} of this batch; only the first is carried out."
    return {"status": 400, **error_body("invalid_request", message, {field: [message]})}


def _refused(error: DomainError) -> dict:
    return {"status": error.status_code, **error_body(error.code, error.message, error.details)}


class OrderBatchView(APIView):
    """Market makers' batches: up to 20 orders placed, or up to 20 cancelled, in one request. Each
    order is accepted or refused on its own; the rate limit counts orders, not requests."""

    api_key_permission = "trade"
    throttle_scope = "orders"

    @staticmethod
    def throttle_weight(request) -> int:
        """Each order (or id) of the batch counts against the `orders` budget; read before the view
        validates the batch, so anything unreadable counts as one."""
        if request.method == "DELETE":
            return min(len(request.GET.get("ids", "").split(",")), MAX_BATCH)
        try:
            orders = json.loads(request.body).get("orders")
        except (ValueError, RecursionError, AttributeError):
            return 1
        return min(len(orders), MAX_BATCH) if isinstance(orders, list) else 1

    @extend_schema(
        tags=["orders"], request=BatchPlaceInput, responses={200: BatchPlaceOutput}, operation_id="orders_batch_place",
        description="Place 1 to 20 orders (each as for POST /orders) in one request and one database round trip. "
        "200 with one result per order, in order: `status` 201 and `order`, 200 and the original `order` for a "
        "repeated `client_order_id`, or the refusal's status and `error` (the codes of POST /orders; 400 "
        "`invalid_request` for a malformed order, and for a `client_order_id` an earlier order of the batch has). 400 "
        "`invalid_request` for the batch itself (not a list, empty, more than 20): then nothing is placed. "
        "Every order counts against the `orders` rate limit.",
    )  # fmt: skip
    def post(self, request):
        batch = BatchPlaceInput(data=request.data)
        batch.is_valid(raise_exception=True)
        orders = batch.validated_data["orders"]
        checked = _order_input().check_each(orders)
        repeated = repeats([order.get("client_order_id") if isinstance(order.get("client_order_id"), str) else None
                            for order in orders])  # fmt: skip
        results: list = [None] * len(checked)
        valid: list[tuple[int, services.OrderRequest]] = []
        for index, (data, errors) in enumerate(checked):
            if index in repeated:
                results[index] = _repeated(index, repeated[index], "client_order_id")
            elif errors is None:
                valid.append((index, services.OrderRequest(**data)))
            else:
                results[index] = {"status": 400, **error_body("invalid_request", "The order is invalid; see details.",
                                                              flatten_validation(errors))}  # fmt: skip
        outcomes = services.place_orders(user=request.user, requests=[r for _, r in valid])
        for (index, _), outcome in zip(valid, outcomes, strict=True):
            if isinstance(outcome, DomainError):
                results[index] = _refused(outcome)
            else:
                order, created = outcome
                results[index] = {"status": 201 if created else 200, "order": order_payload(order)}
        return Response({"results": results})

    @extend_schema(
        tags=["orders"], responses={200: BatchPlaceOutput}, operation_id="orders_batch_cancel",
        parameters=[OpenApiParameter("ids", str, required=True, pattern=r"^[0-9]{1,19}(,[0-9]{1,19}){0,19}$",
                                     description="1 to 20 order ids, comma-separated.")],
        description="Cancel 1 to 20 orders by id (`?ids=1,2,3`: a query parameter, since many HTTP clients drop "
        "the body of a DELETE). 200 with one result per id, in "
        "order: `status` 202 and the `order` (it becomes `cancelled` once the matcher applies it), 404 `not_found` "
        "(also another user's order), 409 `order_closed`, or 400 `invalid_request` for an id the batch named "
        "before. 400 `invalid_request` for the batch itself (not ids, more than 20): then nothing is "
        "cancelled. Every id counts against the `orders` rate limit.",
    )  # fmt: skip
    def delete(self, request):
        batch = BatchCancelInput(data=request.query_params)
        batch.is_valid(raise_exception=True)
        ids = batch.validated_data["ids"]
        repeated = repeats(ids)
        unique = [order_id for index, order_id in enumerate(ids) if index not in repeated]
        outcomes = iter(services.request_cancels(user=request.user, order_ids=unique))
        results = []
        for index in range(len(ids)):
            if index in repeated:
                results.append(_repeated(index, repeated[index], "ids"))
                continue
            outcome = next(outcomes)
            if isinstance(outcome, DomainError):
                results.append(_refused(outcome))
            else:
                results.append({"status": 202, "order": order_payload(outcome)})
        return Response({"results": results})
