"""Check balance per INSERT statement instead of per row at commit.

The deferred row trigger ran one query per entry at commit: fine for single postings, but the
matcher settles thousands of entries per batch with COPY, and that became the largest cost of a
batch. A statement-level trigger sees all rows of the statement (a transition table) and checks
that, for each ledger transaction they belong to, the new entries sum to zero per currency. Every
writer inserts a transaction's entries in one statement (bulk_create, COPY), so this is at least as
strict: a transaction can never be left unbalanced between statements either.
"""

from django.db import migrations

FORWARD = """
DROP TRIGGER wallets_entry_balanced ON wallets_entry;
DROP FUNCTION wallets_check_transaction_balanced();
CREATE FUNCTION wallets_check_statement_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad bigint;
BEGIN
    SELECT transaction_id INTO bad FROM new_entries
    GROUP BY transaction_id, currency_id HAVING SUM(amount) <> 0 LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'ledger transaction % does not sum to zero per currency', bad;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER wallets_entry_balanced AFTER INSERT ON wallets_entry
    REFERENCING NEW TABLE AS new_entries FOR EACH STATEMENT EXECUTE FUNCTION wallets_check_statement_balanced();
"""

REVERSE = """
DROP TRIGGER wallets_entry_balanced ON wallets_entry;
DROP FUNCTION wallets_check_statement_balanced();
CREATE FUNCTION wallets_check_transaction_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM wallets_entry WHERE transaction_id = NEW.transaction_id
        GROUP BY currency_id HAVING SUM(amount) <> 0
    ) THEN
        RAISE EXCEPTION 'ledger transaction % does not sum to zero per currency', NEW.transaction_id;
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER wallets_entry_balanced AFTER INSERT ON wallets_entry
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION wallets_check_transaction_balanced();
"""


class Migration(migrations.Migration):
    dependencies = [("wallets", "0005_withdrawals_and_custody")]
    operations = [migrations.RunSQL(FORWARD, REVERSE)]
