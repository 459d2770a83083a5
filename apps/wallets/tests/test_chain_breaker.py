"""The circuit breaker around the chain adapters: a failing node trips it during a burst, calls then
fail fast without reaching the node, every process sees the state, tasks back off, and it closes
again once the node answers."""

import time

import pytest
from rest_framework.test import APIClient

from apps.accounts import services as account_services
from apps.wallets import breaker, deposits, tasks
from apps.wallets.breaker import ChainUnavailable
from apps.wallets.chain import ChainRejected, adapter_for
from apps.wallets.simchain import SimulatedChain
from tests import factories
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


class FlakyNode(SimulatedChain):
    """The simulated chain behind a node that can be down."""

    down = False
    calls = 0

    def confirmations(self, txid: str) -> int:
        type(self).calls += 1
        if type(self).down:
            raise ConnectionRefusedError("node unreachable")
        return 3

    def validate_address(self, address: str) -> bool:
        raise ChainRejected("not an address")

    def incoming(self, *, addresses):
        if type(self).down:
            raise ConnectionRefusedError("node unreachable")
        return super().incoming(addresses=addresses)


@pytest.fixture
def flaky(settings):
    settings.WALLET_CHAIN_ADAPTERS = {"*": f"{__name__}.FlakyNode"}
    settings.CHAIN_BREAKER_FAIL_MAX = 5
    settings.CHAIN_BREAKER_RESET_SECONDS = 2  # the shared state keeps when it opened to the second
    factories.currency("BTC")
    FlakyNode.down, FlakyNode.calls = True, 0
    yield FlakyNode
    FlakyNode.down = False


def test_a_burst_against_a_dead_node_trips_the_breaker_and_stops_calling_it(flaky):
    errors = []
    for _ in range(12):
        with pytest.raises(ChainUnavailable) as raised:
            adapter_for("BTC").confirmations("tx")
        errors.append(type(raised.value.__cause__).__name__)
    # Four failures reach the node (callers see ChainUnavailable, caused by the node's error: the API
    # answers 503, not 500), the fifth opens the breaker, the other seven never leave.
    assert errors == ["ConnectionRefusedError"] * 4 + ["CircuitBreakerError"] * 8
    assert flaky.calls == 5
    assert breaker.state("BTC") == "open"
    # Another process (a fresh breaker here) sees the same state, from Redis.
    breaker.forget()
    with pytest.raises(ChainUnavailable):
        adapter_for("BTC").confirmations("tx")
    assert flaky.calls == 5
    # After the reset timeout one trial call goes through: the node answers, the breaker closes.
    flaky.down = False
    time.sleep(2.1)
    assert adapter_for("BTC").confirmations("tx") == 3
    assert breaker.state("BTC") == "closed"


def test_a_definitive_refusal_is_the_node_working_not_failing(flaky):
    for _ in range(10):
        with pytest.raises(ChainRejected):
            adapter_for("BTC").validate_address("nope")
    assert breaker.state("BTC") == "closed"


def test_tasks_back_off_while_the_breaker_is_open(flaky):
    flaky.down = False
    deposits.deposit_address(user=UserFactory(), currency_code="BTC")  # something to scan
    flaky.down = True
    for _ in range(5):
        with pytest.raises((ConnectionRefusedError, ChainUnavailable)):
            adapter_for("BTC").confirmations("tx")
    calls = flaky.calls
    # The task retries it with exponential backoff (its autoretry covers OSError)...
    assert issubclass(ChainUnavailable, tasks.process_deposits.autoretry_for)
    # ...and no attempt reaches the dead node. (Run eagerly, the retries follow at once, then the
    # task gives up; a worker would space them out.)
    result = tasks.process_deposits.apply()
    assert isinstance(result.result, ChainUnavailable)
    assert flaky.calls == calls


def test_readiness_metrics_and_the_api_report_an_open_breaker(flaky):
    for _ in range(5):
        with pytest.raises((ConnectionRefusedError, ChainUnavailable)):
            adapter_for("BTC").confirmations("tx")
    client = APIClient()
    ready = client.get("/readyz").json()
    assert ready["chain"] == {"BTC": "open"}
    metrics = client.get("/metrics").content.decode()
    assert 'exchange_chain_breaker_state{currency="BTC"} 2.0' in metrics
    # A deposit address needs the node: 503 service_unavailable, not a 500.
    user = UserFactory()
    access = account_services.login(username=user.username, password=PASSWORD, otp_code=None).access
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    response = client.get("/api/v1/wallets/BTC/deposit-address")
    assert response.status_code == 503 and response.json()["error"]["code"] == "service_unavailable"
