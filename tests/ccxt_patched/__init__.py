"""ccxt's shipped tests that cannot run as shipped, patched (create_order.py says how)."""
