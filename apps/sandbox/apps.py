from django.apps import AppConfig


class SandboxConfig(AppConfig):
    name = "apps.sandbox"
    label = "sandbox"
    verbose_name = "Sandbox mode"

    def ready(self):
        # Imported once the app registry is ready (Django's start-up order): these modules import models.
        from apps.sandbox import checks  # noqa: F401 - registers the system checks
