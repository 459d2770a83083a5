from apps.core.exceptions import Conflict, DomainError


class InvalidOrder(DomainError):
    code = "invalid_request"
    status_code = 400
    default_message = "The order is not valid."


class InvalidPriceTick(DomainError):
    code = "invalid_price_tick"
    status_code = 400
    default_message = "The price is not a multiple of the market's tick size."


class InvalidQuantityStep(DomainError):
    code = "invalid_quantity_step"
    status_code = 400
    default_message = "The quantity is not a multiple of the market's lot size."


class BelowMinNotional(DomainError):
    code = "below_min_notional"
    status_code = 400
    default_message = "The order's value is below the market's minimum."


class AboveMaxQuantity(DomainError):
    code = "above_max_quantity"
    status_code = 400
    default_message = "The order's quantity is above the market's maximum."


class AboveMaxNotional(DomainError):
    code = "above_max_notional"
    status_code = 400
    default_message = "The order's value is above the market's maximum."


class PriceOutOfBand(DomainError):
    code = "price_out_of_band"
    status_code = 400
    default_message = "The price is too far from the market's reference price."


class TooManyOpenOrders(DomainError):
    code = "too_many_open_orders"
    status_code = 400
    default_message = "You have the most open orders this market allows."


class TradingNotAllowed(DomainError):
    code = "kyc_required"
    status_code = 403
    # Level 1 (identity details submitted, not yet reviewed) is enough to trade (KYC_LEVELS): the
    # message says the one step that opens trading.
    default_message = (
        "Submit your identity details (POST /api/v1/kyc/submissions) to trade; trading opens as soon as they are "
        "submitted, while the review runs."
    )


class OrderNotFound(DomainError):
    code = "not_found"
    status_code = 404
    default_message = "Not found."


class OrderClosed(Conflict):
    code = "order_closed"
    default_message = "The order is already final."
