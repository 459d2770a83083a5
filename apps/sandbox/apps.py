from django.apps import AppConfig


class SandboxConfig(AppConfig):
    name = "apps.sandbox"
    label = "sandbox"
    verbose_name = "Sandbox mode"

    def ready(self):
        from apps.sandbox import checks  # noqa: F401 - registers the system checks
