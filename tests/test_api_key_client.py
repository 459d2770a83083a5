"""The signing client helper against the real web process, over a real socket."""

import uuid

import httpx
import pytest

from apps.accounts.signing import ApiKeyAuth

pytestmark = pytest.mark.integration


@pytest.fixture
def registered_user(web_server, django_db_blocker):
    """(username, access token) of a user who registered and logged in through the web process."""
    name = f"client{uuid.uuid4().hex[:8]}"
    password = "a-long-unusual-passphrase-7"
    with httpx.Client(base_url=web_server.base_url, timeout=10) as http:
        assert (
            http.post(
                "/api/v1/auth/register", json={"email": f"{name}@example.com", "username": name, "password": password}
            ).status_code
            == 201
        )
        access = http.post("/api/v1/auth/login", json={"username": name, "password": password}).json()["access"]
    yield name, access
    with django_db_blocker.unblock():
        from apps.accounts.models import User

        User.objects.filter(username=name).delete()


def test_signed_requests_through_the_web_process(web_server, registered_user):
    name, access = registered_user
    with httpx.Client(base_url=web_server.base_url, timeout=10) as http:
        created = http.post(
            "/api/v1/account/api-keys",
            json={"label": "bot", "permissions": ["read"]},
            headers={"Authorization": f"Bearer {access}"},
        ).json()
        signed = httpx.Client(base_url=web_server.base_url, auth=ApiKeyAuth(created["key"], created["secret"]))
        response = signed.get("/api/v1/account?probe=1")
        assert response.status_code == 200, response.text
        assert response.json()["username"] == name
        assert int(response.headers["x-ratelimit-remaining"]) < int(response.headers["x-ratelimit-limit"])

        # A captured request sent again, byte for byte, is refused.
        replay = http.get(
            "/api/v1/account?probe=1",
            headers={k: v for k, v in response.request.headers.items() if k.lower().startswith("x-api-")},
        )
        assert replay.status_code == 401
        assert replay.json()["error"]["code"] == "replayed_request"
