from django.apps import AppConfig


class KycConfig(AppConfig):
    name = "apps.kyc"
    label = "kyc"
    verbose_name = "KYC"

    def ready(self):
        from django.db.models.signals import post_migrate

        from apps.kyc import signals
        from apps.kyc.roles import ensure_compliance_group

        post_migrate.connect(ensure_compliance_group, sender=self)
        signals.connect()
