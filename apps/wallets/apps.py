from django.apps import AppConfig
from django.db.models.signals import post_migrate


class WalletsConfig(AppConfig):
    name = "apps.wallets"
    label = "wallets"
    verbose_name = "Treasury"  # its section in the admin (apps.site.navigation)

    def ready(self):
        # Here, not at the top: metrics imports the models, which cannot load before the registry is ready.
        from apps.wallets import metrics
        from apps.wallets.roles import ensure_treasury_group

        metrics.register()
        post_migrate.connect(ensure_treasury_group, sender=self)
