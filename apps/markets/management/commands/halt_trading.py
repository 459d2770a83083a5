"""python manage.py halt_trading --reason "..." [--resume] [--operator USERNAME]: the kill switch."""

import getpass
import socket

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from apps.markets import services


class Command(BaseCommand):
    help = (
        "The kill switch: halt every market and every currency's withdrawals at once (or, with --resume, "
        "resume what the kill switch halted). Written to the audit log with who and why."
    )

    def add_arguments(self, parser):
        parser.add_argument("--reason", required=True, help="why: written to the audit log")
        parser.add_argument("--resume", action="store_true", help="release the kill switch")
        parser.add_argument("--operator", help="username of the staff member acting (recorded as the actor)")

    def handle(self, *args, reason, resume, operator, **options):
        if not reason.strip():
            raise CommandError("--reason must say why.")
        actor = None
        if operator:
            actor = get_user_model().objects.filter(username=operator, is_staff=True, is_active=True).first()
            if actor is None:
                raise CommandError(f"No active staff user {operator!r}.")
        via = f"command line ({getpass.getuser()}@{socket.gethostname()})"
        if resume:
            done = services.release_kill_switch(reason=reason, actor=actor, via=via)
            verb = "Resumed"
        else:
            done = services.engage_kill_switch(reason=reason, actor=actor, via=via)
            verb = "Halted"
        markets = ", ".join(done["markets"]) or "no market"
        currencies = ", ".join(done["currencies"]) or "no currency"
        self.stdout.write(f"{verb} trading on {markets}; withdrawals of {currencies} (audit event {done['audit_id']}).")
