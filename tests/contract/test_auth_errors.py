"""Who is asking, in the answer's status: no credentials or a bad token is a 401 with the
`WWW-Authenticate: Token` challenge on every API operation that needs a login (log in again); a
known user without the right is a 403 (not allowed); pages keep their login redirect."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse


def secured(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            if operation.get("security"):
                yield method, path.replace("{id}", "1")


@pytest.mark.parametrize("token", [None, "not-a-token"])
def test_every_api_operation_answers_401_with_the_token_challenge(api, schema, token):
    client = api(None)
    if token:
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    answers = {}
    for method, path in secured(schema):
        response = getattr(client, method)(path)
        answers[f"{method} {path}"] = (
            response.status_code,
            response.get("WWW-Authenticate"),
            response.json()["code"],
        )
    expected_code = "authentication_failed" if token else "not_authenticated"
    assert len(answers) >= 40
    assert set(answers.values()) == {(401, "Token", expected_code)}, answers


def test_a_known_user_without_the_right_gets_403(api):
    response = api("rep").get("/api/metrics/sla/")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert "WWW-Authenticate" not in response


def test_a_session_still_reads_the_api(world):
    client = Client()
    client.force_login(world.users["manager"])
    assert client.get("/api/handoffs/").status_code == 200


def test_pages_still_redirect_to_the_login_page(db):
    response = Client().get(reverse("handoff:my-queue"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
