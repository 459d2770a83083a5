from django.apps import AppConfig
from django.core.signals import request_started
from prometheus_client import REGISTRY


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = "Audit"  # its section in the admin (apps.site.navigation)

    def ready(self):
        # Imported once the app registry is ready (Django's start-up order): these modules import models.
        from apps.core import piggyback

        request_started.connect(piggyback.forget, dispatch_uid="core.piggyback.forget")

        from apps.core import (
            checks,  # noqa: F401 - registers the system checks
            schema,  # noqa: F401 - registers the pagination parameters' OpenAPI extension
            supervision,
        )

        # Under `make run` every process is supervisord's child; only the web process serves /metrics.
        if supervision.server_url() is not None:
            REGISTRY.register(supervision.SupervisedProcessCollector())
