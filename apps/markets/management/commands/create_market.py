"""python manage.py create_market BTC-USDT --tick 0.01 --lot 0.00001 --min-notional 10 [--maker-fee --taker-fee]"""

from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.markets import services
from apps.markets.models import Market
from apps.wallets.models import Currency


def decimal(value: str) -> Decimal:
    try:
        result = Decimal(value)
    except InvalidOperation:
        raise CommandError(f"Not a decimal: {value!r}") from None
    if not result.is_finite():
        raise CommandError(f"Not a finite decimal: {value!r}")
    return result


class Command(BaseCommand):
    help = "List a market (BASE-QUOTE) with its filters and fees. A running matcher picks it up."

    def add_arguments(self, parser):
        parser.add_argument("symbol", help="BASE-QUOTE, for example BTC-USDT")
        parser.add_argument("--tick", required=True, type=decimal, help="price step (quote)")
        parser.add_argument("--lot", required=True, type=decimal, help="quantity step (base)")
        parser.add_argument("--min-notional", default=Decimal(0), type=decimal, help="smallest price x quantity")
        parser.add_argument("--maker-fee", default=Decimal("0.001"), type=decimal, help="rate, 0.001 = 0.1 %%")
        parser.add_argument("--taker-fee", default=Decimal("0.002"), type=decimal, help="rate, 0.002 = 0.2 %%")

    def handle(self, *args, symbol, tick, lot, min_notional, maker_fee, taker_fee, **options):
        base, sep, quote = symbol.upper().partition("-")
        if not sep or not base or not quote:
            raise CommandError("The symbol is BASE-QUOTE, for example BTC-USDT.")
        missing = [code for code in (base, quote) if not Currency.objects.filter(pk=code).exists()]
        if missing:
            raise CommandError(f"Unknown currency: {', '.join(missing)}.")
        if Market.objects.filter(symbol=f"{base}-{quote}").exists():
            raise CommandError(f"{base}-{quote} exists already.")
        try:
            market = services.create_market(
                base=base, quote=quote, tick_size=tick, lot_size=lot, min_notional=min_notional,
                maker_fee=maker_fee, taker_fee=taker_fee,
            )  # fmt: skip
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from None
        self.stdout.write(f"Listed {market.symbol}: tick {tick}, lot {lot}, min notional {min_notional}, "
                          f"fees maker {maker_fee} / taker {taker_fee}.")  # fmt: skip
