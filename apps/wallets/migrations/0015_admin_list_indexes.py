"""The admin's deposit status filter, newest first, and the deposit and withdrawal txid searches.

Built CONCURRENTLY: writers are not stopped while they are built.
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY

    dependencies = [("wallets", "0014_alter_account_options_alter_depositaddress_options_and_more")]

    operations = [
        AddIndexConcurrently(
            model_name="deposit",
            index=models.Index(fields=["status", "-id"], name="wallets_deposit_status_recent"),
        ),
        AddIndexConcurrently(
            model_name="deposit",
            index=models.Index(fields=["txid"], name="wallets_deposit_txid"),
        ),
        AddIndexConcurrently(
            model_name="withdrawal",
            index=models.Index(fields=["txid"], name="wallets_withdrawal_txid"),
        ),
    ]
