"""The reference client's local book (apps.markets.client), without a server."""

import pytest

from apps.markets.book import checksum
from apps.markets.client import BookError, LocalBook, book_checksum


@pytest.fixture(scope="session", autouse=True)
def _tests_never_touch_the_development_database():
    """No database here: these tests also run alone, without one."""


SYMBOL = "BTC-USDT"


def test_the_client_checksum_is_the_servers():
    bids = [["100.10", "2.5000"], ["100.00", "0.0100"]]
    asks = [["100.30", "1.2000"], ["101.00", "3.0000"]]
    assert book_checksum(bids, asks) == checksum(bids, asks)


def test_local_book_rejects_gaps_and_bad_checksums():
    book = LocalBook(SYMBOL)
    bids, asks = [["100.00", "1.0000"]], [["101.00", "2.0000"]]
    with pytest.raises(BookError, match="before any snapshot"):
        book.apply({"type": "update", "sequence": 1, "bids": [], "asks": [], "checksum": 0})
    book.apply({"type": "snapshot", "sequence": 5, "bids": bids, "asks": asks, "checksum": checksum(bids, asks)})
    with pytest.raises(BookError, match="gap"):
        book.apply({"type": "update", "sequence": 7, "bids": [], "asks": [], "checksum": checksum(bids, asks)})
    book.apply({"type": "update", "sequence": 6, "bids": [["100.00", "0"]], "asks": [], "checksum": checksum([], asks)})
    assert book.best_first() == ([], asks)
    with pytest.raises(BookError, match="checksum"):
        book.apply({"type": "update", "sequence": 7, "bids": [["99.00", "1.0000"]], "asks": [], "checksum": 1})
