"""Browser tests: Playwright driving Debian's Chromium headless against the real web server, matcher,
PostgreSQL and Redis. Without a browser they skip with a message, except in CI (`CI` set), where
`.ci/run` installs Chromium and a missing browser is a failure."""

from __future__ import annotations

import os
import re
import shutil
import time
import warnings
from pathlib import Path

import pytest

from tests.support import ROOT, MatcherProcess

EXPECTED_CONSOLE_ERRORS = re.compile(
    r"status of 4\d\d|WebSocket connection|ERR_CONNECTION|ERR_EMPTY_RESPONSE|Failed to fetch"
)
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS_DIR", ROOT / "test-artifacts"))


def chromium_path() -> str | None:
    for candidate in (os.environ.get("CHROMIUM_PATH"), shutil.which("chromium"), "/usr/bin/chromium"):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@pytest.fixture(autouse=True)
def _fast_password_hasher():
    """Overrides the suite's MD5 hasher: these users log in through the web server's own hashers."""


@pytest.fixture(scope="package")
def browser():
    executable = chromium_path()
    if executable is None:
        message = "Chromium not found (/usr/bin/chromium): install Debian's chromium (`make browser`)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must run the browser tests")
        pytest.skip(f"{message} to run the browser tests")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread between calls, so Django's guard against
    # the ORM inside a coroutine would refuse the tests' own (synchronous) database calls.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
            yield browser
            browser.close()
            # With Playwright's loop running, the ORM used connections of its own: close them while
            # they can still be reached, so the test database can be dropped at the end.
            from django.db import connections

            connections.close_all()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


class Pages:
    """Opens pages in fresh browser contexts (own storage, like separate browsers) and checks, at the
    end of the test, that no page logged a JavaScript error."""

    def __init__(self, browser, base_url: str):
        self.browser, self.base_url = browser, base_url
        self.contexts, self.errors = [], []

    def open(self, path: str = "/trade/BTC-USDT", *, base_url: str | None = None, **context_options):
        context = self.browser.new_context(base_url=base_url or self.base_url, **context_options)
        context.set_default_timeout(15_000)
        self.contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: self.errors.append(f"{page.url}: {error}"))
        page.on("console", lambda m: m.type == "error" and self._console_error(page, m))
        page.goto(path)
        page.wait_for_selector("body[data-ready='true']")
        return page

    def _console_error(self, page, message) -> None:
        # Chromium logs every 4xx answer (the page shows the API's error to the user), and the failed
        # WebSocket and fetches while a test has cut the network: expected, not page errors.
        if EXPECTED_CONSOLE_ERRORS.search(message.text):
            return
        self.errors.append(f"{page.url}: console: {message.text} {message.location.get('url', '')}")

    def close(self) -> None:
        for context in self.contexts:
            context.close()


def wait_for_other_sessions_to_finish(timeout: float = 10.0) -> None:
    """Wait until no other session of the test database is inside a statement or a transaction.

    A closed page's last requests (a login's token rows, the orders and balances it reloads) may
    still be running in the web process when the test ends; the transactional test's flush
    (TRUNCATE of every table) then meets them half-way and PostgreSQL breaks the tie by failing the
    flush as a deadlock, which leaves the next test the previous test's rows."""
    from django.db import connection

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND backend_type = 'client backend' "
                "AND state IN ('active', 'idle in transaction')"
            )
            if cursor.fetchone()[0] == 0:
                return
        time.sleep(0.05)
    warnings.warn(f"other sessions still busy after {timeout}s; the flush may meet them", stacklevel=2)


@pytest.fixture
def pages(browser, web_server):
    opened = Pages(browser, web_server.base_url)
    yield opened
    opened.close()
    wait_for_other_sessions_to_finish()
    assert not opened.errors, "JavaScript errors on the page:\n" + "\n".join(opened.errors)


@pytest.fixture
def matcher(live_env, process_log_dir, market):
    with MatcherProcess(live_env, process_log_dir) as process:
        yield process
