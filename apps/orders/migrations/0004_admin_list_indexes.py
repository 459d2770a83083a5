"""The admin's order list filters, newest first: (status, -id) and (market, -id).

Built CONCURRENTLY (as 0008 of wallets): writers are not stopped while the indexes of a large table
are built. status already sits in the partial indexes' predicates, so updates that change it were
not HOT before either; market and id never change.
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY

    dependencies = [("orders", "0003_orders_place_function")]

    operations = [
        AddIndexConcurrently(
            model_name="order",
            index=models.Index(fields=["status", "-id"], name="orders_status_recent"),
        ),
        AddIndexConcurrently(
            model_name="order",
            index=models.Index(fields=["market", "-id"], name="orders_market_recent"),
        ),
    ]
