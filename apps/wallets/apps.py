from django.apps import AppConfig


class WalletsConfig(AppConfig):
    name = "apps.wallets"
    label = "wallets"
    verbose_name = "Wallets and ledger"

    def ready(self):
        # Here, not at the top: metrics imports the models, which cannot load before the registry is ready.
        from apps.wallets import metrics

        metrics.register()
