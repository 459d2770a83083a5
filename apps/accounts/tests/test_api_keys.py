"""API keys: creation (secret once, stored encrypted), signed requests, replay, permissions, allowlist."""

import json

import pytest
from rest_framework.test import APIClient

from apps.accounts import signing
from apps.accounts.models import ApiKey
from apps.accounts.tests.conftest import as_meta
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("apps.accounts.tests.keyed_urls")]


def create_key(jwt_client, **body):
    body = {"label": "bot", "permissions": ["read", "trade"], **body}
    response = jwt_client.post("/api/v1/account/api-keys", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def signed(key, secret, method, path, body=None, timestamp=None, remote_addr="127.0.0.1", signature=None):
    raw = json.dumps(body).encode() if body is not None else b""
    headers = signing.signed_headers(key, secret, method, path, raw, timestamp=timestamp)
    if signature is not None:
        headers[signing.SIGNATURE_HEADER] = signature
    meta = as_meta(headers)
    client = APIClient(REMOTE_ADDR=remote_addr)
    call = getattr(client, method.lower())
    if body is None:
        return call(path, **meta)
    return call(path, data=raw, content_type="application/json", **meta)


def error_code(response):
    return response.json()["error"]["code"]


def test_create_shows_the_secret_once_and_stores_it_encrypted(jwt_client):
    created = create_key(jwt_client, ip_allowlist=["10.1.2.3", "192.168.0.0/16"])
    assert set(created) == {"id", "label", "key", "secret", "permissions", "ip_allowlist", "created_at", "last_used_at"}
    assert created["permissions"] == ["read", "trade"]
    assert created["ip_allowlist"] == ["10.1.2.3/32", "192.168.0.0/16"]
    stored = ApiKey.objects.get(pk=created["id"])
    assert created["secret"].encode() not in bytes(stored.secret_encrypted)
    listed = jwt_client.get("/api/v1/account/api-keys").json()
    assert [k["id"] for k in listed] == [created["id"]]
    assert "secret" not in listed[0] and created["secret"] not in json.dumps(listed)


def test_a_signed_request_acts_as_the_owner_and_records_last_use(jwt_client, user):
    created = create_key(jwt_client)
    response = signed(created["key"], created["secret"], "GET", "/api/v1/account")
    assert response.status_code == 200, response.content
    assert response.json()["username"] == user.username
    assert ApiKey.objects.get(pk=created["id"]).last_used_at is not None
    trade = signed(created["key"], created["secret"], "POST", "/api/v1/test/trade?x=1", body={"qty": "1"})
    assert trade.status_code == 200 and trade.json() == {"user": user.username, "body": {"qty": "1"}}


def test_the_same_signed_request_is_accepted_once(jwt_client):
    created = create_key(jwt_client)
    timestamp = signing.now_ms()
    first = signed(created["key"], created["secret"], "GET", "/api/v1/account", timestamp=timestamp)
    again = signed(created["key"], created["secret"], "GET", "/api/v1/account", timestamp=timestamp)
    assert first.status_code == 200
    assert again.status_code == 401 and error_code(again) == "replayed_request"


@pytest.mark.parametrize("skew_ms", [-5_001, 6_000, -60_000])
def test_a_timestamp_outside_five_seconds_is_refused(jwt_client, skew_ms):
    created = create_key(jwt_client)
    response = signed(created["key"], created["secret"], "GET", "/api/v1/account", timestamp=signing.now_ms() + skew_ms)
    assert response.status_code == 401 and error_code(response) == "invalid_timestamp"


def test_a_malformed_timestamp_is_refused(jwt_client):
    created = create_key(jwt_client)
    client = APIClient()
    headers = {"HTTP_X_API_KEY": created["key"], "HTTP_X_API_TIMESTAMP": "soon", "HTTP_X_API_SIGNATURE": "ab" * 32}
    response = client.get("/api/v1/account", **headers)
    assert response.status_code == 401 and error_code(response) == "invalid_timestamp"


def test_bad_signatures_are_refused(jwt_client):
    created = create_key(jwt_client)
    key, secret = created["key"], created["secret"]
    assert error_code(signed(key, "wrong-secret", "GET", "/api/v1/account")) == "invalid_signature"
    assert error_code(signed(key, secret, "GET", "/api/v1/account", signature="00" * 32)) == "invalid_signature"
    # Signed for one body or query, sent with another.
    headers = signing.signed_headers(key, secret, "POST", "/api/v1/test/trade", b'{"qty": "1"}')
    meta = as_meta(headers)
    response = APIClient().post("/api/v1/test/trade", data=b'{"qty": "100"}', content_type="application/json", **meta)
    assert response.status_code == 401 and error_code(response) == "invalid_signature"
    headers = signing.signed_headers(key, secret, "GET", "/api/v1/account?a=1")
    meta = as_meta(headers)
    assert error_code(APIClient().get("/api/v1/account?a=2", **meta)) == "invalid_signature"


def test_unknown_and_revoked_keys_are_refused_at_once(jwt_client):
    created = create_key(jwt_client)
    assert error_code(signed("f" * 32, created["secret"], "GET", "/api/v1/account")) == "invalid_api_key"
    assert jwt_client.delete(f"/api/v1/account/api-keys/{created['id']}").status_code == 204
    response = signed(created["key"], created["secret"], "GET", "/api/v1/account")
    assert response.status_code == 401 and error_code(response) == "invalid_api_key"
    assert jwt_client.get("/api/v1/account/api-keys").json() == []
    assert jwt_client.delete(f"/api/v1/account/api-keys/{created['id']}").status_code == 404


def test_another_users_key_cannot_be_revoked(jwt_client):
    other_key = ApiKey.objects.create(user=UserFactory(), label="x", permissions=["read"], secret_encrypted=b"x")
    response = jwt_client.delete(f"/api/v1/account/api-keys/{other_key.id}")
    assert response.status_code == 404
    other_key.refresh_from_db()
    assert other_key.revoked_at is None


def test_a_key_acts_only_with_its_permissions(jwt_client):
    read_only = create_key(jwt_client, permissions=["read"])
    response = signed(read_only["key"], read_only["secret"], "POST", "/api/v1/test/trade", body={})
    assert response.status_code == 403 and error_code(response) == "permission_denied"
    # Endpoints that do not declare a permission: reads need "read", writes are closed to keys.
    assert signed(read_only["key"], read_only["secret"], "GET", "/api/v1/test/undeclared").status_code == 200
    assert signed(read_only["key"], read_only["secret"], "POST", "/api/v1/test/undeclared", body={}).status_code == 403
    trader = create_key(jwt_client, permissions=["trade"])
    assert signed(trader["key"], trader["secret"], "GET", "/api/v1/account").status_code == 403
    response = signed(trader["key"], trader["secret"], "POST", "/api/v1/test/withdraw", body={})
    assert response.status_code == 403


def test_keys_cannot_manage_keys_or_two_factor(jwt_client):
    created = create_key(jwt_client, permissions=["read", "trade", "withdraw"], ip_allowlist=["127.0.0.1"])
    for method, path in [
        ("GET", "/api/v1/account/api-keys"),
        ("POST", "/api/v1/account/api-keys"),
        ("POST", "/api/v1/account/2fa/setup"),
        ("POST", "/api/v1/account/2fa/disable"),
        ("DELETE", f"/api/v1/account/api-keys/{created['id']}"),
    ]:
        response = signed(created["key"], created["secret"], method, path, body={} if method == "POST" else None)
        assert response.status_code == 403, (method, path)
    assert ApiKey.objects.get(pk=created["id"]).revoked_at is None
    assert ApiKey.objects.count() == 1


def test_the_ip_allowlist_is_enforced(jwt_client):
    created = create_key(jwt_client, ip_allowlist=["10.0.0.0/8"])
    outside = signed(created["key"], created["secret"], "GET", "/api/v1/account", remote_addr="192.0.2.7")
    assert outside.status_code == 403 and error_code(outside) == "ip_not_allowed"
    inside = signed(created["key"], created["secret"], "GET", "/api/v1/account", remote_addr="10.20.30.40")
    assert inside.status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"permissions": []}, "permissions"),
        ({"permissions": ["read", "admin"]}, "permissions"),
        ({"permissions": ["withdraw"]}, "ip_allowlist"),
        ({"ip_allowlist": ["not-an-ip"]}, "ip_allowlist"),
        ({"ip_allowlist": ["10.0.0.0/33"]}, "ip_allowlist"),
        ({"label": ""}, "label"),
        ({"label": "x" * 65}, "label"),
    ],
)
def test_bad_key_requests_are_400_and_create_nothing(jwt_client, body, field):
    response = jwt_client.post(
        "/api/v1/account/api-keys", {"label": "bot", "permissions": ["read"], **body}, format="json"
    )
    assert response.status_code == 400
    assert field in json.dumps(response.json()["error"]["details"])
    assert ApiKey.objects.count() == 0


def test_the_secret_never_reaches_the_logs(jwt_client, caplog):
    caplog.set_level("DEBUG")
    created = create_key(jwt_client)
    signed(created["key"], created["secret"], "GET", "/api/v1/account")
    assert created["secret"] not in caplog.text


def test_the_signing_helper_matches_the_documented_recipe():
    import hashlib
    import hmac

    expected = hmac.new(b"s3cret", b'1700000000000POST/api/v1/orders?x=1{"a":1}', hashlib.sha256).hexdigest()
    assert signing.signature("s3cret", 1700000000000, "post", "/api/v1/orders?x=1", b'{"a":1}') == expected


@pytest.mark.parametrize(
    ("key", "signature", "code"),
    [
        (None, "\u00e9" * 64, "invalid_signature"),
        (None, "zz" * 32, "invalid_signature"),
        (None, "ab" * 33, "invalid_signature"),
        (None, "", "invalid_signature"),
        ("\u00e9" * 32, None, "invalid_api_key"),
        ("ab\x00" * 10 + "ab", None, "invalid_api_key"),
        ("A" * 32, None, "invalid_api_key"),
    ],
)
def test_odd_header_values_are_401_not_500(jwt_client, key, signature, code):
    created = create_key(jwt_client)
    headers = as_meta(signing.signed_headers(created["key"], created["secret"], "GET", "/api/v1/account"))
    if key is not None:
        headers["HTTP_X_API_KEY"] = key
    if signature is not None:
        headers["HTTP_X_API_SIGNATURE"] = signature
    response = APIClient().get("/api/v1/account", **headers)
    assert response.status_code == 401
    assert error_code(response) == code


def test_creating_a_key_needs_a_code_when_two_factor_is_on(jwt_client, user):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from apps.accounts.tests.conftest import totp_code

    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    body = {"label": "bot", "permissions": ["read"]}
    missing = jwt_client.post("/api/v1/account/api-keys", body, format="json")
    assert missing.status_code == 403 and error_code(missing) == "otp_required"
    wrong = "000000" if totp_code(device) != "000000" else "111111"
    bad = jwt_client.post("/api/v1/account/api-keys", {**body, "otp_code": wrong}, format="json")
    assert bad.status_code == 400 and error_code(bad) == "invalid_otp"
    assert ApiKey.objects.count() == 0
    device.refresh_from_db()
    device.throttle_reset()
    ok = jwt_client.post("/api/v1/account/api-keys", {**body, "otp_code": totp_code(device)}, format="json")
    assert ok.status_code == 201


@pytest.mark.parametrize("network", ["0.0.0.0/0", "10.0.0.0/8", "::/0", "2001:db8::/32"])
def test_withdraw_keys_cannot_name_wide_networks(jwt_client, network):
    response = jwt_client.post(
        "/api/v1/account/api-keys",
        {"label": "w", "permissions": ["withdraw"], "ip_allowlist": [network]},
        format="json",
    )
    assert response.status_code == 400 and "ip_allowlist" in response.json()["error"]["details"]
    assert ApiKey.objects.count() == 0


def test_a_refused_permission_is_still_counted_and_reported(jwt_client):
    read_only = create_key(jwt_client, permissions=["read"])
    response = signed(read_only["key"], read_only["secret"], "POST", "/api/v1/test/trade", body={})
    assert response.status_code == 403
    assert "X-RateLimit-Limit" in response and "X-RateLimit-Remaining" in response


@pytest.mark.parametrize(
    "network",
    [
        "::ffff:0:0/96",  # IPv4-mapped: every IPv4 address
        "::ffff:10.0.0.0/100",  # an IPv4 /4
        "::ffff:10.1.0.0/119",  # an IPv4 /23
        "::ffff:0:0/95",  # wider than the mapped range, so all of it
        "::/80",  # holds the mapped and the compatible ranges
        "::/96",  # IPv4-compatible (deprecated): every IPv4 address
        "::10.0.0.0/104",  # an IPv4 /8, IPv4-compatible
        "64:ff9b::/96",  # NAT64: every IPv4 address
        "2002::/16",  # 6to4: every IPv4 address
        "2002:a00::/24",  # 6to4: an IPv4 /8
    ],
)
def test_withdraw_keys_cannot_name_wide_ipv4_networks_in_ipv6_forms(jwt_client, network):
    response = jwt_client.post(
        "/api/v1/account/api-keys",
        {"label": "w", "permissions": ["withdraw"], "ip_allowlist": ["192.0.2.0/24", network]},
        format="json",
    )
    assert response.status_code == 400, response.content
    assert error_code(response) == "invalid_request"
    assert "Too wide" in response.json()["error"]["details"]["ip_allowlist"][0]
    assert ApiKey.objects.count() == 0


@pytest.mark.parametrize(
    ("network", "stored"),
    [
        ("::ffff:10.1.2.0/120", "10.1.2.0/24"),  # the IPv4 network it spells
        ("::ffff:10.1.2.3", "10.1.2.3/32"),
        ("::1", "::1/128"),
        ("2001:db8:1::/48", "2001:db8:1::/48"),
        ("2002:a01:203::/48", "2002:a01:203::/48"),  # 6to4: one IPv4 address's site
    ],
)
def test_narrow_networks_in_ipv6_forms_are_accepted_for_withdraw_keys(jwt_client, network, stored):
    created = create_key(jwt_client, permissions=["read", "withdraw"], ip_allowlist=[network])
    assert created["ip_allowlist"] == [stored]


def test_an_ipv4_mapped_allowlist_entry_is_the_ipv4_network_for_other_keys_too(jwt_client):
    created = create_key(jwt_client, ip_allowlist=["::ffff:0:0/96"])
    assert created["ip_allowlist"] == ["0.0.0.0/0"]


@pytest.mark.parametrize("entry", ["10.1.2.0/24", "::ffff:10.1.2.0/120"])
def test_an_ipv4_client_matches_the_same_entries_as_ipv4_or_ipv4_mapped(jwt_client, user, entry):
    # As stored (created before entries were rewritten to IPv4, or now): the check does not depend
    # on the form of the entry, nor on whether the server sees the client as IPv4 or IPv4-mapped.
    from apps.accounts import services

    new = services.create_api_key(user=user, label="k", permissions=["read"], ip_allowlist=[entry])
    for client, status in [
        ("10.1.2.7", 200), ("::ffff:10.1.2.7", 200), ("::ffff:a01:207", 200),
        ("10.1.3.7", 403), ("::ffff:10.1.3.7", 403), ("::10.1.2.7", 403), ("2001:db8::1", 403),
    ]:  # fmt: skip
        response = signed(new.api_key.key, new.secret, "GET", "/api/v1/account", remote_addr=client)
        assert response.status_code == status, (entry, client, response.content)
        if status == 403:
            assert error_code(response) == "ip_not_allowed"


@pytest.mark.django_db(transaction=True)
def test_the_upgrade_rewrites_mapped_allowlists_and_revokes_withdraw_keys_they_made_too_wide():
    """Migration 0002: keys stored before IPv4-mapped entries were understood. Their entries take the
    IPv4 form; a withdraw key whose allowlist covers more than an IPv4 /24 is revoked rather than
    starting to admit every IPv4 client."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    user = UserFactory()
    executor = MigrationExecutor(connection)
    executor.migrate([("accounts", "0001_initial")])
    try:

        def stored(permissions, allowlist):
            return ApiKey.objects.create(user=user, label="old", secret_encrypted=b"x", permissions=permissions,
                                         ip_allowlist=allowlist).pk  # fmt: skip

        everyone = stored(["read", "withdraw"], ["::ffff:0:0/96"])
        too_wide = stored(["withdraw"], ["::ffff:10.0.0.0/100", "192.0.2.1"])
        narrow = stored(["withdraw"], ["::ffff:10.1.2.0/120", "2001:db8::/48"])
        reader = stored(["read"], ["::ffff:0:0/96"])
        open_key = stored(["read"], [])
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    keys = ApiKey.objects.in_bulk([everyone, too_wide, narrow, reader, open_key])
    assert keys[everyone].revoked_at is not None and keys[everyone].ip_allowlist == ["0.0.0.0/0"]
    assert keys[too_wide].revoked_at is not None and keys[too_wide].ip_allowlist == ["0.0.0.0/4", "192.0.2.1/32"]
    assert keys[narrow].revoked_at is None and keys[narrow].ip_allowlist == ["10.1.2.0/24", "2001:db8::/48"]
    # A key without the withdraw permission may name any network: it keeps what it said, in IPv4 form.
    assert keys[reader].revoked_at is None and keys[reader].ip_allowlist == ["0.0.0.0/0"]
    assert keys[open_key].revoked_at is None and keys[open_key].ip_allowlist == []
    from apps.core.models import AuditEvent

    events = dict(AuditEvent.objects.filter(target_type="accounts.apikey").values_list("target_id", "action"))
    assert events == {str(everyone): "accounts.api_key_revoked", str(too_wide): "accounts.api_key_revoked",
                      str(narrow): "accounts.api_key_allowlist_rewritten",
                      str(reader): "accounts.api_key_allowlist_rewritten"}  # fmt: skip


@pytest.mark.parametrize(
    ("client", "allowlist", "allowed"),
    [
        ("::ffff:192.0.2.7", ["::/0"], True),  # an IPv6 network that contains the mapped range
        ("::ffff:192.0.2.7", ["::ffff:0:0/96"], True),
        ("::ffff:192.0.2.7", ["192.0.2.0/24"], True),
        ("::ffff:192.0.2.7", ["2001:db8::/32"], False),
        ("192.0.2.7", ["::/0"], False),  # a plain IPv4 peer is not in an IPv6 network
        ("2001:db8::1", ["192.0.2.0/24"], False),
    ],
)
def test_a_mapped_client_matches_ipv6_entries_that_contain_it_as_well_as_ipv4_ones(client, allowlist, allowed):
    from apps.accounts.net import ip_allowed

    assert ip_allowed(client, allowlist) is allowed
