"""The trading page's server side: the page itself, its security headers and its vendored library.
What it does in a browser is tested in tests/browser."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.django_db
def test_trading_page_is_served_with_a_strict_content_security_policy(client):
    response = client.get("/trade/")
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy and "frame-ancestors 'none'" in policy
    html = response.content.decode()
    assert 'type="module"' in html and "js/trade.js" in html
    assert "<script>" not in html  # no inline script: the policy would block it
    assert 'data-initial=""' in html


@pytest.mark.django_db
def test_trading_page_of_a_market_is_deep_linkable_in_any_case(client, market):
    response = client.get("/trade/btc-usdt")
    assert response.status_code == 200
    assert 'data-initial="BTC-USDT"' in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("symbol", ["NOPE-USDT", "not a symbol", "BTC-USDT%00"])
def test_trading_page_of_an_unknown_market_is_404(client, market, symbol):
    response = client.get(f"/trade/{symbol}", HTTP_ACCEPT="text/html")
    assert response.status_code == 404
    assert "Content-Security-Policy" not in response


@pytest.mark.django_db
def test_home_page_links_to_the_trading_page(client):
    assert 'href="/trade/"' in client.get("/").content.decode()


def test_vendored_chart_library_is_the_pinned_npm_release():
    """static/vendor holds exactly the version package.json and package-lock.json pin (`make vendor`)."""
    pinned = json.loads((ROOT / "package.json").read_text())["devDependencies"]["lightweight-charts"]
    locked = json.loads((ROOT / "package-lock.json").read_text())["packages"]["node_modules/lightweight-charts"]
    assert locked["version"] == pinned
    vendored = ROOT / "static/vendor/lightweight-charts/lightweight-charts.standalone.production.mjs"
    header = vendored.read_text()[:300]
    assert re.search(rf"Lightweight Charts™ v{re.escape(pinned)}\n", header)
    assert "Apache License" in (ROOT / "static/vendor/lightweight-charts/LICENSE").read_text()
