"""The trading operations group (markets' status and halts, the kill switch, orders and trades
read-only), kept in step with those permissions after every migrate (apps.kyc.roles' pattern)."""

from apps.core.roles import ensure_group

TRADING_GROUP = "Trading operations"
TRADING_PERMISSIONS = [
    ("markets", "view_market"),
    ("markets", "change_market"),  # halt and resume
    ("markets", "use_kill_switch"),
    ("orders", "view_order"),
    ("trades", "view_trade"),
]


def ensure_trading_group(**kwargs) -> None:
    ensure_group(TRADING_GROUP, TRADING_PERMISSIONS)
