"""The Celery app: configured from Django settings (CELERY_* names), tasks found in each app."""

import os

from celery import Celery
from celery.signals import beat_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exchange.settings")

app = Celery("exchange")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

STARTUP_TASKS = [
    # One reconciliation as the stack starts: staff see where the books stand at once, not after
    # the first RECONCILIATION_SECONDS (docs/wallets.md "Reconciliation").
    ("apps.wallets.tasks.reconcile", {"trigger": "startup"}),
]


@beat_init.connect
def send_startup_tasks(sender, **kwargs) -> None:
    """Beat is the one scheduler of the stack: when it starts, it sends these once."""
    for name, task_kwargs in STARTUP_TASKS:
        sender.app.send_task(name, kwargs=task_kwargs)
