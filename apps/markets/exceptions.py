from apps.core.exceptions import DomainError


class UnknownMarket(DomainError):
    code = "unknown_market"
    status_code = 404
    default_message = "No such market."


class MarketHalted(DomainError):
    code = "market_halted"
    status_code = 403
    default_message = "Trading is halted on this market."
