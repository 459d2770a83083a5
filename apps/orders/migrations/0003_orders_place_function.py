"""Order entry in one round trip (issue 21): `orders_place(user, orders)` writes up to 20 orders,
each with its hold and ledger posting, or refuses each on its own, in one statement.

In order, the whole batch:
1. the orders' markets under KEY SHARE, in id order: a halt (set_status, the kill switch) takes the
   row FOR UPDATE, so it waits for this transaction, or this transaction waits for the halt and then
   reads it below: no order is accepted after a halt commits;
2. the open-orders locks (user and market, the advisory lock of orders_open_count_locked), sorted,
   for the markets whose limit is checked;
3. the user's accounts on both sides created if missing (the matcher credits the receiving one), and
   the paying ones locked FOR UPDATE in id order (the one lock order of the system);
then each order in turn: a repeated client_order_id answers the first order; a halted market, the
open-orders limit and the available balance refuse it (nothing written for it); otherwise the hold
through the ledger's own function (ledger_hold_new_owner, wallets/0013), then the order row naming it.
Requests repeating a client_order_id take an advisory lock on it before they look, so the second sees
the first's order; the unique index stays the last word (a writer that skipped the lock would get an
IntegrityError, which services.place_orders answers with the first order). Every refusal is decided
before anything of its order is written, so refusals need no savepoint.

The order's filters (tick, lot, notional, the stateless pre-trade checks) are checked in Python
before the call (apps/orders/services.py); the hold amount is computed there too, except for a
market buy by quantity, which holds what is available (floored to the market's notional unit).
"""

from django.db import migrations

FORWARD = """
CREATE FUNCTION orders_place(p_user bigint, p_orders jsonb)
RETURNS TABLE (r_order bigint, r_created boolean, r_refusal text, r_available numeric, r_required numeric,
               r_open bigint, r_reason text, r_until timestamptz, r_at timestamptz, r_hold bigint)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    o jsonb;
    v_now timestamptz := now();
    v_status text;
    v_reason text;
    v_until timestamptz;
    v_count bigint;
    v_pays bigint;
    v_available numeric;
    v_amount numeric;
    v_id bigint;
    v_hold bigint;
    v_sequence text := pg_get_serial_sequence('orders_order', 'id');
BEGIN
    PERFORM 1 FROM markets_market
    WHERE id IN (SELECT (e->>'market')::bigint FROM jsonb_array_elements(p_orders) e)
    ORDER BY id FOR KEY SHARE;

    PERFORM pg_advisory_xact_lock(hashtextextended('open-orders:' || p_user || ':' || s.m, 0))
    FROM (SELECT DISTINCT (e->>'market')::bigint AS m FROM jsonb_array_elements(p_orders) e
          WHERE e->>'max_open' IS NOT NULL ORDER BY 1) s;

    PERFORM ledger_user_account(p_user, s.c)
    FROM (SELECT e->>'pays' AS c FROM jsonb_array_elements(p_orders) e
          UNION SELECT e->>'gets' FROM jsonb_array_elements(p_orders) e ORDER BY 1) s;
    PERFORM 1 FROM wallets_account
    WHERE kind = 'user' AND user_id = p_user
      AND currency_id IN (SELECT e->>'pays' FROM jsonb_array_elements(p_orders) e)
    ORDER BY id FOR UPDATE;

    FOR o IN SELECT value FROM jsonb_array_elements(p_orders) LOOP
        r_order := NULL; r_created := false; r_refusal := NULL; r_available := NULL; r_required := NULL;
        r_open := NULL; r_reason := NULL; r_until := NULL; r_at := NULL; r_hold := NULL;

        IF o->>'coid' <> '' THEN
            -- Requests repeating this client_order_id wait here for each other: the one that comes
            -- second sees the first's order (each statement of this function takes a new snapshot).
            PERFORM pg_advisory_xact_lock(hashtextextended('client-order-id:' || p_user || ':' || (o->>'coid'), 0));
            SELECT id INTO v_id FROM orders_order WHERE user_id = p_user AND client_order_id = o->>'coid';
            IF v_id IS NOT NULL THEN
                r_order := v_id; RETURN NEXT; CONTINUE;
            END IF;
        END IF;

        SELECT status, status_reason, halted_until INTO v_status, v_reason, v_until
        FROM markets_market WHERE id = (o->>'market')::bigint;
        IF v_status = 'halted' AND NOT (v_reason = 'circuit_breaker' AND v_until IS NOT NULL AND v_until <= v_now) THEN
            r_refusal := 'market_halted'; r_reason := v_reason; r_until := v_until; RETURN NEXT; CONTINUE;
        END IF;

        IF o->>'max_open' IS NOT NULL THEN
            SELECT count(*) INTO v_count FROM orders_order
            WHERE user_id = p_user AND market_id = (o->>'market')::bigint AND status IN ('new', 'partially_filled');
            IF v_count >= (o->>'max_open')::bigint THEN
                r_refusal := 'too_many_open_orders'; r_open := v_count; RETURN NEXT; CONTINUE;
            END IF;
        END IF;

        SELECT id, available INTO v_pays, v_available FROM wallets_account
        WHERE kind = 'user' AND user_id = p_user AND currency_id = o->>'pays';
        IF o->>'hold' IS NULL THEN  -- a market buy by quantity: what is available, in whole notional units
            v_amount := div(v_available, (o->>'unit')::numeric) * (o->>'unit')::numeric;
        ELSE
            v_amount := (o->>'hold')::numeric;
        END IF;
        IF v_amount <= 0 OR v_amount > v_available THEN
            r_refusal := 'insufficient_funds'; r_available := v_available; r_required := v_amount;
            RETURN NEXT; CONTINUE;
        END IF;

        -- The hold first, then the order row naming it: one INSERT, no UPDATE of a seven-index row.
        v_id := nextval(v_sequence);
        v_hold := ledger_hold_new_owner(v_pays, v_amount, 'order', v_id::text);
        INSERT INTO orders_order (
            id, user_id, market_id, side, type, time_in_force, post_only, self_trade_prevention, price, stop_price,
            quantity, quote_quantity, client_order_id, filled_quantity, filled_quote, fee, status, reason, hold_id,
            applied, triggered, created_at, updated_at)
        VALUES (
            v_id, p_user, (o->>'market')::bigint, o->>'side', o->>'type', o->>'tif', (o->>'post_only')::boolean,
            o->>'stp', (o->>'price')::numeric, (o->>'stop_price')::numeric, (o->>'quantity')::numeric,
            (o->>'quote_quantity')::numeric, o->>'coid', 0, 0, 0, 'new', '', v_hold, false, false, v_now, v_now);
        r_order := v_id; r_created := true; r_at := v_now; r_hold := v_hold; r_required := v_amount;
        RETURN NEXT;
    END LOOP;
END $$;
"""

REVERSE = "DROP FUNCTION orders_place(bigint, jsonb);"


class Migration(migrations.Migration):
    dependencies = [("orders", "0002_pre_trade_checks"), ("wallets", "0013_ledger_sql_functions")]
    operations = [migrations.RunSQL(FORWARD, REVERSE)]
