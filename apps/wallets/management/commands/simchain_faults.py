"""Show or set the simulated chain's fault modes (apps.wallets.chain_faults), to rehearse incidents.

    manage.py simchain_faults                                  every currency's faults
    manage.py simchain_faults ETH --refuse-sends --reason "drill"
    manage.py simchain_faults ETH --delay 5 --drop-broadcasts --reason "slow, lossy network"
    manage.py simchain_faults ETH --clear
    manage.py simchain_faults ETH --rebroadcast                dropped transactions go into the next block

Setting replaces the currency's faults with exactly those given; each change is audited.
"""

from django.core.management.base import BaseCommand, CommandError

from apps.core.exceptions import DomainError
from apps.wallets import chain_faults
from apps.wallets.models import Currency


class Command(BaseCommand):
    help = "Show or set the simulated chain's fault modes per currency (rehearsing incidents)."

    def add_arguments(self, parser):
        parser.add_argument("currency", nargs="?", help="a currency code; none: show every currency's faults")
        parser.add_argument("--refuse-sends", action="store_true", help="refuse every new send")
        parser.add_argument("--unreachable", action="store_true", help="answer no call at all")
        parser.add_argument("--drop-broadcasts", action="store_true", help="accept sends that never confirm")
        parser.add_argument("--delay", type=float, default=0, metavar="SECONDS", help="answer every call this late")
        parser.add_argument("--clear", action="store_true", help="switch every fault off")
        parser.add_argument("--rebroadcast", action="store_true", help="broadcast dropped transactions again")
        parser.add_argument("--reason", default="", help="why (kept in the audit log; needed to set faults)")

    def handle(self, *args, currency, clear, rebroadcast, reason, **options):
        modes = {name: options[name] for name in ("refuse_sends", "unreachable", "drop_broadcasts")}
        setting = any(modes.values()) or options["delay"]
        if currency is None:
            if setting or clear or rebroadcast:
                raise CommandError("Name the currency to change.")
            for code in Currency.objects.order_by("code").values_list("code", flat=True):
                self.stdout.write(f"{code}: {chain_faults.faults_for(code).describe()}")
            return
        code = currency.upper()
        if clear and setting:
            raise CommandError("--clear switches every fault off: give it alone.")
        try:
            if rebroadcast:
                count = chain_faults.rebroadcast(currency=code, actor=None)
                self.stdout.write(f"{code}: {count} dropped transaction(s) broadcast again (mined in the next block).")
            if setting:
                faults = chain_faults.Faults(**modes, delay_seconds=options["delay"])
                chain_faults.set_faults(currency=code, faults=faults, actor=None, reason=reason)
            elif clear:
                chain_faults.set_faults(currency=code, faults=chain_faults.Faults(), actor=None,
                                        reason=reason or "cleared with manage.py simchain_faults")  # fmt: skip
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"{code}: {chain_faults.faults_for(code).describe()}")
