"""Check the ledger invariants; exit status 1 and every violation listed when any fails."""

from django.core.management.base import BaseCommand, CommandError

from apps.wallets.verification import verify_ledger


class Command(BaseCommand):
    help = "Verify ledger invariants 1-4 (balanced transactions, balances, solvency, holds)."

    def handle(self, *args, **options):
        violations = verify_ledger()
        for v in violations:
            self.stdout.write(f"invariant {v.invariant}: {v.subject}: {v.detail}")
        if violations:
            raise CommandError(f"{len(violations)} ledger violation(s).")
        self.stdout.write("ledger OK: transactions balanced, balances match entries, solvent, holds match.")
