"""Cursor pagination: {"results", "next"}, limit 1..500, bad input is a 400."""

import pytest
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny
from rest_framework.test import APIRequestFactory

from apps.accounts.models import User
from apps.core.pagination import CursorPagination

pytestmark = pytest.mark.django_db


class UserRow(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username"]


class UserList(ListAPIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    serializer_class = UserRow
    queryset = User.objects.all()

    class pagination_class(CursorPagination):
        ordering = ("-date_joined", "-id")


factory = APIRequestFactory()


def get(url):
    response = UserList.as_view()(factory.get(url))
    response.render()
    return response


@pytest.fixture
def users():
    return [User.objects.create_user(f"user{i:02d}", f"user{i:02d}@example.com") for i in range(7)]


def test_pages_walk_all_rows_newest_first_without_repeats(users):
    seen, url = [], "/users?limit=3"
    while url:
        response = get(url)
        assert response.status_code == 200
        assert set(response.data) == {"results", "next"}
        seen += [row["id"] for row in response.data["results"]]
        url = response.data["next"]
    assert seen == [u.id for u in reversed(users)]


def test_rows_inserted_while_paging_do_not_shift_pages(users):
    first = get("/users?limit=3")
    User.objects.create_user("late", "late@example.com")
    second = get(first.data["next"])
    assert [row["id"] for row in second.data["results"]] == [u.id for u in reversed(users)][3:6]


@pytest.mark.parametrize("limit", ["0", "501", "-1", "abc", "1.5", "", "\u00b2", "9" * 5000, "\u0661"])
def test_bad_limit_is_400(limit):
    response = get(f"/users?limit={limit}")
    assert response.status_code == 400
    assert response.data["error"]["code"] == "invalid_request"
    assert "limit" in response.data["error"]["details"]


def test_limit_500_is_allowed(users):
    assert get("/users?limit=500").status_code == 200


def test_tampered_cursor_is_400(users):
    response = get("/users?cursor=not-a-cursor")
    assert response.status_code == 400
    assert response.data["error"]["details"] == {"cursor": ["Invalid cursor."]}


@pytest.mark.parametrize("position", ["not-a-date", "2020-13-45", "9" * 400])
def test_well_formed_cursor_with_an_impossible_position_is_400(users, position):
    import base64
    from urllib.parse import urlencode

    cursor = base64.b64encode(urlencode({"p": position}).encode()).decode()
    response = get(f"/users?{urlencode({'cursor': cursor})}")
    assert response.status_code == 400
    assert response.data["error"]["details"] == {"cursor": ["Invalid cursor."]}
