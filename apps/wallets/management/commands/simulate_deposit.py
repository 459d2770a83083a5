"""Inject a deposit on the simulated chain: simulate_deposit <username> <currency> <amount> [--confirmations N]"""

from decimal import Decimal, InvalidOperation

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from apps.core.exceptions import DomainError
from apps.wallets import deposits


class Command(BaseCommand):
    help = "Send a deposit to a user's address on the simulated chain (development and tests)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("currency")
        parser.add_argument("amount")
        parser.add_argument("--confirmations", type=int, default=0, help="blocks to mine after it")

    def handle(self, *args, username, currency, amount, confirmations, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user {username!r}.")
        try:
            value = Decimal(amount)
        except InvalidOperation as exc:
            raise CommandError(f"Not an amount: {amount!r}.") from exc
        try:
            txid = deposits.simulate_deposit(user=user, currency_code=currency, amount=value,
                                             confirmations=confirmations)  # fmt: skip
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"deposit {txid} of {value} {currency.upper()} to {username}; "
                          "it is credited once confirmed (beat runs process_deposits).")  # fmt: skip
