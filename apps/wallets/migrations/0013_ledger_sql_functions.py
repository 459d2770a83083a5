"""The ledger's writers inside PostgreSQL, for order entry's one round trip (issue 21).

`ledger_user_account` finds or creates a user's account in a currency; `ledger_hold_new_owner` moves
an amount from available to locked for a new owner (an order): one balance UPDATE, the transaction,
its two entries in one INSERT (the statement-level balance trigger sees both), and the hold row.
They are the SQL half of apps/wallets/ledger.py (`hold_new_owner` and `user_account` call them too,
so there is one implementation): the ledger stays the only writer of balances. The CHECK constraints
still refuse a negative balance; the caller holds the account's row lock (order entry takes it in
id order before it decides on the balance).
"""

from django.db import migrations

FORWARD = """
CREATE FUNCTION ledger_user_account(p_user bigint, p_currency text) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_id bigint;
BEGIN
    SELECT id INTO v_id FROM wallets_account WHERE kind = 'user' AND user_id = p_user AND currency_id = p_currency;
    IF v_id IS NULL THEN
        INSERT INTO wallets_account (kind, user_id, currency_id, available, locked)
        VALUES ('user', p_user, p_currency, 0, 0)
        ON CONFLICT (user_id, currency_id) WHERE kind = 'user' DO NOTHING RETURNING id INTO v_id;
        IF v_id IS NULL THEN  -- created by a concurrent transaction, committed before our insert returned
            SELECT id INTO v_id FROM wallets_account WHERE kind = 'user' AND user_id = p_user AND currency_id = p_currency;
        END IF;
    END IF;
    RETURN v_id;
END $$;

CREATE FUNCTION ledger_hold_new_owner(p_account bigint, p_amount numeric, p_owner_type text, p_owner_id text)
RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_currency text;
    v_decimals int;
    v_txn bigint;
    v_hold bigint;
BEGIN
    IF p_amount IS NULL OR p_amount <= 0 THEN
        RAISE EXCEPTION 'a hold is positive, not %', p_amount USING ERRCODE = 'check_violation';
    END IF;
    UPDATE wallets_account a SET available = a.available - p_amount, locked = a.locked + p_amount
    FROM wallets_currency c
    WHERE a.id = p_account AND a.kind = 'user' AND c.code = a.currency_id
    RETURNING a.currency_id, c.decimals INTO v_currency, v_decimals;
    IF v_currency IS NULL THEN
        RAISE EXCEPTION 'no user account %', p_account USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF p_amount <> round(p_amount, v_decimals) THEN
        RAISE EXCEPTION '% has % decimals, not %', v_currency, v_decimals, p_amount USING ERRCODE = 'check_violation';
    END IF;
    INSERT INTO wallets_transaction (kind, idempotency_key, reference_type, reference_id, memo, created_at)
    VALUES ('hold', 'hold:' || p_owner_type || ':' || p_owner_id || ':' || p_account, p_owner_type, p_owner_id, '', now())
    RETURNING id INTO v_txn;
    INSERT INTO wallets_entry (transaction_id, account_id, currency_id, bucket, amount)
    VALUES (v_txn, p_account, v_currency, 'available', -p_amount), (v_txn, p_account, v_currency, 'locked', p_amount);
    INSERT INTO wallets_hold (account_id, owner_type, owner_id, amount, status, created_at, updated_at)
    VALUES (p_account, p_owner_type, p_owner_id, p_amount, 'active', now(), now())
    RETURNING id INTO v_hold;
    RETURN v_hold;
END $$;
"""

REVERSE = """
DROP FUNCTION ledger_hold_new_owner(bigint, numeric, text, text);
DROP FUNCTION ledger_user_account(bigint, text);
"""


class Migration(migrations.Migration):
    dependencies = [("wallets", "0012_hold_fillfactor")]
    operations = [migrations.RunSQL(FORWARD, REVERSE)]
