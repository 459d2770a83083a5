"""Database-enforced ledger rules: balanced transactions (deferred to commit) and append-only history."""

from django.db import migrations

BALANCED = """
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

CREATE FUNCTION wallets_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only (% on % refused)', TG_OP, TG_TABLE_NAME;
END $$;
CREATE TRIGGER wallets_entry_append_only BEFORE UPDATE OR DELETE ON wallets_entry
    FOR EACH ROW EXECUTE FUNCTION wallets_append_only();
CREATE TRIGGER wallets_transaction_append_only BEFORE UPDATE OR DELETE ON wallets_transaction
    FOR EACH ROW EXECUTE FUNCTION wallets_append_only();
"""

REVERSE = """
DROP TRIGGER wallets_transaction_append_only ON wallets_transaction;
DROP TRIGGER wallets_entry_append_only ON wallets_entry;
DROP FUNCTION wallets_append_only();
DROP TRIGGER wallets_entry_balanced ON wallets_entry;
DROP FUNCTION wallets_check_transaction_balanced();
"""


class Migration(migrations.Migration):
    dependencies = [("wallets", "0001_initial")]
    operations = [migrations.RunSQL(BALANCED, REVERSE)]
