"""GDPR access request: everything KYC holds about one user, as JSON (and the files, if asked).

python manage.py export_kyc alice [--files DIR]
"""

import json
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from apps.core import audit
from apps.core.fields import format_time
from apps.kyc.selectors import limits_for, submissions_for


class Command(BaseCommand):
    help = "Export a user's KYC data (submissions, documents, decisions, history) as JSON."

    def add_arguments(self, parser):
        parser.add_argument("user", help="username or email")
        parser.add_argument("--files", type=Path, help="also copy the documents into this directory")

    def handle(self, *args, user, files=None, **options):
        User = get_user_model()
        # An argument with "@" is an email address; anything else a username (never a mix of both).
        lookup = {"email__iexact": user} if "@" in user else {"username__iexact": user}
        account = User.objects.filter(**lookup).first()
        if account is None:
            raise CommandError(f"No user {user!r}.")
        if files:
            files.mkdir(parents=True, exist_ok=True)
        export = {"user": {"id": account.id, "username": account.username, "email": account.email},
                  "level": limits_for(account)["level"], "submissions": []}  # fmt: skip
        for submission in submissions_for(account).prefetch_related("documents"):
            documents = []
            for document in submission.documents.all():
                entry = {"kind": document.kind, "content_type": document.content_type, "size": document.size,
                         "sha256": document.sha256}  # fmt: skip
                if files:
                    target = files / f"submission-{submission.id}-{document.kind}"
                    with document.file.open("rb") as source:
                        target.write_bytes(source.read())
                    entry["file"] = str(target)
                documents.append(entry)
            export["submissions"].append({
                "id": submission.id, "status": submission.status, "full_name": submission.full_name,
                "date_of_birth": submission.date_of_birth.isoformat(), "country": submission.country,
                "document_type": submission.document_type, "document_number": submission.document_number,
                "created_at": format_time(submission.created_at),
                "decided_at": format_time(submission.decided_at) if submission.decided_at else None,
                "rejection_reason": submission.rejection_reason, "decision_note": submission.decision_note,
                "documents": documents,
                "history": [
                    {"time": format_time(e.created_at), "action": e.action, "reason": e.reason}
                    for e in audit.history(submission)
                ],
            })  # fmt: skip
        self.stdout.write(json.dumps(export, indent=2))
