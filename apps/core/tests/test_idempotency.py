"""Idempotency-Key on POSTs that create something (here: API keys; withdrawals and KYC submissions
have their own tests beside them)."""

import datetime as dt
import threading

import pytest
from django.db import connection

from apps.accounts.models import ApiKey
from apps.core import tasks
from apps.core.models import IdempotencyKey
from tests.factories import UserFactory, client_for


def create(client, key=None, **body):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post("/api/v1/account/api-keys", {"label": "bot", "permissions": ["read"], **body}, format="json",
                       **headers)  # fmt: skip


@pytest.mark.django_db
def test_a_repeat_returns_the_first_answer_and_creates_nothing():
    user = UserFactory()
    client = client_for(user)
    first = create(client, "key-1")
    assert first.status_code == 201 and "Idempotent-Replayed" not in first
    again = create(client, "key-1")
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()  # the secret too: shown again to the one who asked
    assert ApiKey.objects.filter(user=user).count() == 1
    # The stored answer is encrypted: the secret is not in the table in clear.
    stored = bytes(IdempotencyKey.objects.get(user=user).response)
    assert first.json()["secret"].encode() not in stored
    # Without a key every request creates; another key is another request.
    create(client)
    create(client, "key-2")
    assert ApiKey.objects.filter(user=user).count() == 3


@pytest.mark.django_db
def test_the_same_key_with_another_request_is_a_conflict():
    user = UserFactory()
    client = client_for(user)
    create(client, "key-1")
    response = create(client, "key-1", label="another")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_conflict"
    assert ApiKey.objects.filter(user=user).count() == 1
    # Keys belong to a user: another user's same key is free.
    other = UserFactory()
    assert create(client_for(other), "key-1", label="another").status_code == 201


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "ключ", "tab\there"])
def test_a_malformed_key_is_refused_and_nothing_is_created(key):
    user = UserFactory()
    response = create(client_for(user), key)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["error"]["details"]
    assert not ApiKey.objects.filter(user=user).exists() and not IdempotencyKey.objects.exists()


@pytest.mark.django_db
def test_an_error_is_not_stored_so_a_corrected_retry_goes_through():
    user = UserFactory()
    client = client_for(user)
    bad = create(client, "key-1", permissions=["fly"])
    assert bad.status_code == 400 and not IdempotencyKey.objects.exists()
    assert create(client, "key-1").status_code == 201


@pytest.mark.django_db
def test_keys_expire_after_their_lifetime(settings):
    user = UserFactory()
    client = client_for(user)
    create(client, "key-1")
    IdempotencyKey.objects.update(created_at=IdempotencyKey.objects.get().created_at - dt.timedelta(hours=24))
    # Expired: the key is free again, for another request too.
    assert create(client, "key-1", label="later").status_code == 201
    assert ApiKey.objects.filter(user=user).count() == 2
    create(client, "key-2")
    IdempotencyKey.objects.filter(key="key-2").update(created_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    assert tasks.purge_idempotency_keys.apply().get() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["key-1"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_repeats_create_once_and_answer_alike():
    user = UserFactory()
    answers = []

    def send():
        try:
            response = create(client_for(user), "same")
            answers.append((response.status_code, response.json()["id"]))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert ApiKey.objects.filter(user=user).count() == 1
    assert len(set(answers)) == 1 and answers[0][0] == 201 and len(answers) == 6


@pytest.mark.django_db
def test_a_refusal_keeps_what_it_recorded_wrong_2fa_codes_still_count():
    from django_otp.plugins.otp_totp.models import TOTPDevice

    user = UserFactory()
    client = client_for(user)  # logged in, then 2FA turned on: creating a key now needs a code
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    for key in ("guess-1", "guess-2"):
        response = create(client, key, otp_code="000000")
        assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_otp"
        device.refresh_from_db()
        # As without a key: the wrong code counted, so the next guess falls in the throttle's wait
        # (and is refused without being tried).
        assert device.throttling_failure_count == 1
    assert not IdempotencyKey.objects.exists() and not ApiKey.objects.filter(user=user).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("body", ["[]", "[1, 2]", '"x"', "5", "null"])
def test_a_body_that_is_not_an_object_is_a_400_with_a_key_too(body):
    client = client_for(UserFactory())
    response = client.post("/api/v1/account/api-keys", body, content_type="application/json",
                           HTTP_IDEMPOTENCY_KEY="k")  # fmt: skip
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid_request"
