"""A trader's first session through ccxt, against `make run`'s exchange:

    python -m clients.ccxt_exchange.example                       # alice, from var/demo-credentials.json
    python -m clients.ccxt_exchange.example --host 127.0.0.1:8000 --username bob --password ...
    python -m clients.ccxt_exchange.example --key KEY_ID --secret=SECRET   (with "=": a secret may start with "-")

Without --key it logs in (POST /auth/login) and creates an API key for itself (permissions read and
trade). Then: the markets, the book and the balance; a limit buy 5 % under the best bid (or the last
price), which rests; the order as the matcher left it; the open orders; the cancel, followed until
the matcher has applied it; the balance again (the hold released).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from decimal import Decimal
from pathlib import Path

import requests

from clients.ccxt_exchange import djex

CREDENTIALS = Path(__file__).resolve().parents[2] / "var" / "demo-credentials.json"


def api_key(host: str, username: str, password: str) -> tuple[str, str]:
    base = f"http://{host}/api/v1"
    login = requests.post(f"{base}/auth/login", json={"username": username, "password": password}, timeout=10)
    if login.status_code != 200:
        sys.exit(f"login as {username} failed: {login.status_code} {login.text}")
    headers = {"Authorization": f"Bearer {login.json()['access']}"}
    created = requests.post(f"{base}/account/api-keys", headers=headers, timeout=10,
                            json={"label": "ccxt example", "permissions": ["read", "trade"]})  # fmt: skip
    if created.status_code != 201:
        sys.exit(f"creating an API key failed: {created.status_code} {created.text}")
    return created.json()["key"], created.json()["secret"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1:8000", help="the web process (make run: 127.0.0.1:8000)")
    parser.add_argument("--username", default="alice")
    parser.add_argument("--password", help="default: the demo user's, from var/demo-credentials.json")
    parser.add_argument("--key", help="an API key id (instead of logging in)")
    parser.add_argument("--secret", help='its secret; write --secret=SECRET (a secret may start with "-")')
    parser.add_argument("--symbol", default="BTC/USDT")
    args = parser.parse_args(argv)

    key, secret = args.key, args.secret
    if key is None:
        password = args.password
        if password is None:
            if not CREDENTIALS.exists():
                sys.exit(f"no --password and no {CREDENTIALS} (make run writes it)")
            password = json.loads(CREDENTIALS.read_text())[args.username]
        key, secret = api_key(args.host, args.username, password)
        print(f"API key {key} created for {args.username}")

    exchange = djex({"hostname": args.host, "apiKey": key, "secret": secret})
    markets = exchange.load_markets()
    print("markets:", ", ".join(markets))
    market = exchange.market(args.symbol)
    book = exchange.fetch_order_book(args.symbol, 5)
    print(f"{args.symbol} book: bids {book['bids'][:3]} asks {book['asks'][:3]} (sequence {book['nonce']})")
    quote = market["quote"]
    print(f"{quote} balance:", exchange.fetch_balance()[quote])

    reference = book["bids"][0][0] if book["bids"] else exchange.fetch_ticker(args.symbol)["last"]
    if reference is None:
        sys.exit(f"{args.symbol} has no bid and no trade yet: nothing to price a resting order from")
    price = float(exchange.price_to_precision(args.symbol, reference * 0.95))
    amount = max(market["limits"]["amount"]["min"], (market["limits"]["cost"]["min"] or 0) * 1.1 / price)
    amount = float(
        exchange.amount_to_precision(args.symbol, Decimal(str(amount)) + Decimal(str(market["precision"]["amount"])))
    )
    order = exchange.create_order(
        args.symbol, "limit", "buy", amount, price, {"clientOrderId": f"example-{int(time.time())}"}
    )
    state = f"{order['status']} ({order['info']['status']})"
    print(f"placed {order['id']}: buy {order['amount']} at {order['price']} -> {state}")
    print(
        "open orders:", [(o["id"], o["side"], o["amount"], o["price"]) for o in exchange.fetch_open_orders(args.symbol)]
    )
    print(f"{quote} balance with the order's hold:", exchange.fetch_balance()[quote])

    exchange.cancel_order(order["id"], args.symbol)
    deadline = time.monotonic() + 10
    while (current := exchange.fetch_order(order["id"]))["status"] == "open" and time.monotonic() < deadline:
        time.sleep(0.1)
    print(f"cancelled {order['id']} -> {current['status']} ({current['info']['status']})")
    print(f"{quote} balance after the cancel:", exchange.fetch_balance()[quote])
    return 0 if current["status"] == "canceled" else 1


if __name__ == "__main__":
    sys.exit(main())
