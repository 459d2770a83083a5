"""Run a reconciliation now; exit status 1 when anything does not match."""

from django.core.management.base import BaseCommand, CommandError

from apps.wallets.reconciliation import reconcile


class Command(BaseCommand):
    help = "Reconcile ledger, custody and chain for every currency, and store the run."

    def handle(self, *args, **options):
        run = reconcile(trigger="command")
        for currency, figures in run.figures.items():
            self.stdout.write(f"{currency}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))
        for mismatch in run.mismatches:
            self.stdout.write(f"MISMATCH {mismatch['check']}: {mismatch['subject']}: {mismatch['detail']}")
        if not run.ok:
            raise CommandError(f"{len(run.mismatches)} mismatch(es); run #{run.pk} stored.")
        self.stdout.write(f"reconciliation #{run.pk}: everything matches.")
