# replacements for test_shared_methods.fetch_best_bid_ask / fetch_order, which are emitted
# sync-only (no await) and use exchange['fetchOrder'] (Exchange is not subscriptable)
import inspect
import re


def _snake(name):  # fetchOrder -> fetch_order
    return re.sub(r'(?<!^)(?=[A-Z])', '_', name).lower()


def _call(exchange, camel, *args):
    return getattr(exchange, _snake(camel))(*args)


def _has(exchange, m):
    return exchange.has.get(m) not in (None, False)


def fetch_best_bid_ask(exchange, method, symbol):
    if _has(exchange, 'fetchOrderBook'):
        ob = _call(exchange, 'fetchOrderBook', symbol)
        return [ob['bids'][0][0], ob['asks'][0][0]]
    t = _call(exchange, 'fetchTicker', symbol)
    return [t['bid'], t['ask']]


def fetch_order(exchange, symbol, order_id, skipped_properties):
    for m in ['fetchOrder', 'fetchOpenOrder', 'fetchClosedOrder', 'fetchCanceledOrder']:
        if _has(exchange, m):
            o = _call(exchange, m, order_id, symbol)
            if o['id'] == order_id:
                return o
    since = exchange.milliseconds() - 300000
    for m in ['fetchOrders', 'fetchOpenOrders', 'fetchClosedOrders', 'fetchCanceledOrders']:
        if _has(exchange, m):
            for o in _call(exchange, m, symbol, since):
                if o['id'] == order_id:
                    return o
    return None
