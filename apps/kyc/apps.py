from django.apps import AppConfig
from django.db.models.signals import post_migrate


class KycConfig(AppConfig):
    name = "apps.kyc"
    label = "kyc"
    verbose_name = "Compliance"  # its section in the admin (apps.site.navigation)

    def ready(self):
        # Imported once the app registry is ready (Django's start-up order): these modules import models.
        from apps.accounts import identity
        from apps.kyc import selectors, signals
        from apps.kyc.roles import ensure_compliance_group

        post_migrate.connect(ensure_compliance_group, sender=self)
        signals.connect()
        identity.read_kyc_level_with(selectors.level_for)
