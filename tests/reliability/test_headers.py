"""What the browser is told about our answers: a Content-Security-Policy with no inline code, a
Permissions-Policy, `Cache-Control: no-store` on pages and API answers (someone's data, or an API
token), and the API schema and docs pages for signed-in users only."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from core.roles import SALES
from tests.factories import UserFactory

PASSWORD = "pass-1234-word"  # tests.factories.UserFactory's


def directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    parts = [d.strip().split() for d in policy.split(";") if d.strip()]
    return {p[0]: p[1:] for p in parts}


@pytest.fixture
def rep(db):
    return UserFactory(username="ravi.rep", role=SALES)


def test_a_signed_in_page_allows_only_our_own_scripts_and_styles(client, rep):
    client.force_login(rep)
    response = client.get("/queue/")
    assert response.status_code == 200
    policy = directives(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert not any("unsafe" in value for values in policy.values() for value in values)


def test_pages_and_api_answers_say_no_store_and_carry_a_permissions_policy(client, rep):
    client.force_login(rep)
    token = Token.objects.create(user=rep)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    answers = [
        client.get("/queue/"),
        client.get("/login/"),
        api.get("/api/handoffs/"),
        Client().post(
            "/api/auth/token/",
            {"username": rep.username, "password": PASSWORD},
            content_type="application/json",
        ),
    ]
    for response in answers:
        assert response.status_code == 200, response
        assert "no-store" in response["Cache-Control"]
        assert "camera=()" in response["Permissions-Policy"]
        assert "geolocation=()" in response["Permissions-Policy"]
        assert "Content-Security-Policy" in response


def test_static_files_keep_their_caching(client, rep):
    client.force_login(rep)
    response = client.get("/static/css/app.css")
    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")


def test_the_schema_answers_401_to_anonymous_clients(db):
    response = Client().get("/api/schema/")
    assert response.status_code == 401


def test_the_schema_answers_a_session_or_a_token(client, rep):
    token = Token.objects.create(user=rep)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert api.get("/api/schema/", {"format": "json"}).status_code == 200
    client.force_login(rep)
    assert client.get("/api/schema/", {"format": "json"}).status_code == 200


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_the_docs_pages_send_anonymous_visitors_to_the_login_page(db, path):
    response = Client().get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={path}"


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_the_docs_pages_open_for_a_signed_in_user(client, rep, path):
    client.force_login(rep)
    response = client.get(path)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_the_docs_pages_open_with_an_api_token(rep, path):
    token = Token.objects.create(user=rep)
    response = Client().get(path, HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 200
    wrong = Client().get(path, HTTP_AUTHORIZATION="Token not-a-token")
    assert wrong.status_code == 302
