"""An entry's account and currency checked by one composite foreign key instead of two.

(account_id, currency_id) -> wallets_account (id, currency_id) says more than the two single keys
did (the entry's currency is its account's currency, which every writer already made it) and costs
one lookup per entry instead of two. The matcher writes thousands of entries per batch and the
deferred foreign-key checks ran at its commit: they were the largest part of settling a batch in
PostgreSQL.

Online, as 0008: the unique index is built CONCURRENTLY, the new key is added NOT VALID (no scan
under a lock that stops writers) and then validated (a lock that lets them write), and only then
are the two old keys dropped, so no entry is ever written unchecked.
"""

import django.db.models.deletion
from django.db import migrations, models

UNIQUE = models.UniqueConstraint(fields=["id", "currency"], name="wallets_account_id_currency")

ADD_KEY = """
ALTER TABLE wallets_entry ADD CONSTRAINT wallets_entry_account_currency
    FOREIGN KEY (account_id, currency_id) REFERENCES wallets_account (id, currency_id)
    DEFERRABLE INITIALLY DEFERRED NOT VALID;
ALTER TABLE wallets_entry VALIDATE CONSTRAINT wallets_entry_account_currency;
"""


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY

    dependencies = [
        ("wallets", "0010_withdrawal_address_book"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddConstraint(model_name="account", constraint=UNIQUE)],
            database_operations=[
                migrations.RunSQL(
                    "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS wallets_account_id_currency "
                    "ON wallets_account (id, currency_id)",
                    "DROP INDEX CONCURRENTLY IF EXISTS wallets_account_id_currency",
                ),
                migrations.RunSQL(
                    "ALTER TABLE wallets_account ADD CONSTRAINT wallets_account_id_currency "
                    "UNIQUE USING INDEX wallets_account_id_currency",
                    "ALTER TABLE wallets_account DROP CONSTRAINT IF EXISTS wallets_account_id_currency",
                ),
            ],
        ),
        migrations.RunSQL(ADD_KEY, "ALTER TABLE wallets_entry DROP CONSTRAINT wallets_entry_account_currency"),
        migrations.AlterField(
            model_name="entry",
            name="account",
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT,
                                    related_name="entries", to="wallets.account"),
        ),
        migrations.AlterField(
            model_name="entry",
            name="currency",
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT,
                                    to="wallets.currency"),
        ),
    ]
