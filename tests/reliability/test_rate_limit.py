"""Abuse: login and token attempts are limited per client address by django-axes, atomically
(concurrent guesses cannot overrun the limit), locked-out clients get 429 with Retry-After, and
neither login nor password reset tells which accounts exist."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import pytest
from django.contrib.auth.backends import ModelBackend
from django.core import mail
from django.db import connection, connections
from django.test import Client, RequestFactory

from config.security import client_key
from core.roles import MARKETING
from tests.factories import UserFactory

PASSWORD = "pass-1234-word"  # tests.factories.UserFactory's
LIMIT = 5

TOKEN_URL = "/api/auth/token/"


@pytest.fixture(autouse=True)
def small_limit(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT
    settings.AXES_COOLOFF_TIME = 0.25  # hours: 15 minutes


@pytest.fixture
def user(db):
    return UserFactory(username="mia.marketer", role=MARKETING, is_staff=True)


def attempt(client: Client, where: str, username: str, password: str) -> Any:
    """One login attempt at `where`: the token endpoint, the login page or the admin's."""
    if where == "token":
        return client.post(
            TOKEN_URL, {"username": username, "password": password}, content_type="application/json"
        )
    url = "/login/" if where == "page" else "/admin/login/"
    return client.post(url, {"username": username, "password": password, "next": "/"})


def error_text(response: Any) -> str:
    if response["Content-Type"].startswith("application/json"):
        return response.json()["detail"]
    form = response.context["form"]
    return " ".join(str(e) for e in form.non_field_errors())


WHERE = ["token", "page", "admin"]


@pytest.mark.parametrize("where", WHERE)
def test_the_right_password_gets_in(user, where):
    response = attempt(Client(), where, user.username, PASSWORD)
    if where == "token":
        assert response.status_code == 200 and len(response.json()["token"]) == 40
    else:
        assert response.status_code == 302


@pytest.mark.parametrize("where", WHERE)
def test_an_unknown_user_and_a_wrong_password_get_the_same_answer(user, where):
    unknown = attempt(Client(), where, "nobody.at.all", "whatever-123")
    wrong = attempt(Client(REMOTE_ADDR="10.0.0.2"), where, user.username, "not-the-password")
    assert unknown.status_code == wrong.status_code == (400 if where == "token" else 200)
    assert error_text(unknown) == error_text(wrong)
    assert "correct" in error_text(unknown) or "Unable to log in" in error_text(unknown)


def test_an_inactive_user_gets_the_same_answer_as_an_unknown_one(user):
    user.is_active = False
    user.save(update_fields=["is_active"])
    inactive = attempt(Client(), "token", user.username, PASSWORD)
    unknown = attempt(Client(REMOTE_ADDR="10.0.0.2"), "token", "nobody.at.all", PASSWORD)
    assert inactive.status_code == unknown.status_code == 400
    assert inactive.json() == unknown.json()


@pytest.mark.parametrize("where", WHERE)
def test_after_the_limit_every_attempt_gets_429_with_retry_after_even_the_right_password(
    user, where
):
    client = Client()
    answers = [attempt(client, where, user.username, f"guess-{i}").status_code for i in range(8)]
    wrong_answer = 400 if where == "token" else 200
    # The attempt that reaches the limit is itself refused with 429.
    assert answers == [wrong_answer] * (LIMIT - 1) + [429] * (8 - LIMIT + 1)
    locked = attempt(client, where, user.username, PASSWORD)
    assert locked.status_code == 429
    assert int(locked["Retry-After"]) == 15 * 60
    if where == "token":
        assert locked.json()["code"] == "too_many_attempts"
        assert locked.json()["retry_after"] == 15 * 60
    else:
        assert b"Too many attempts" in locked.content


def test_the_login_page_and_the_token_endpoint_share_one_count(user):
    client = Client()
    for i in range(LIMIT - 1):
        attempt(client, WHERE[i % 3], user.username, f"guess-{i}")
    assert attempt(client, "page", user.username, "one-more-guess").status_code == 429
    assert attempt(client, "token", user.username, PASSWORD).status_code == 429


def test_the_lockout_is_per_address(user):
    locked_out = Client(REMOTE_ADDR="10.0.0.9")
    for i in range(LIMIT):
        attempt(locked_out, "token", user.username, f"guess-{i}")
    assert attempt(locked_out, "token", user.username, PASSWORD).status_code == 429
    elsewhere = Client(REMOTE_ADDR="10.0.0.10")
    assert attempt(elsewhere, "token", user.username, PASSWORD).status_code == 200


def test_a_forged_forwarded_for_header_does_not_escape_the_limit(user):
    for i in range(LIMIT):
        attempt(Client(HTTP_X_FORWARDED_FOR=f"192.0.2.{i}"), "token", user.username, "bad")
    forged = Client(HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert attempt(forged, "token", user.username, PASSWORD).status_code == 429


def test_the_token_is_the_same_on_every_successful_attempt_and_works(user):
    first = attempt(Client(), "token", user.username, PASSWORD).json()["token"]
    again = attempt(Client(), "token", user.username, PASSWORD).json()["token"]
    assert first == again
    response = Client().get("/api/leads/", HTTP_AUTHORIZATION=f"Token {first}")
    assert response.status_code == 200


@pytest.mark.parametrize("body", [{}, {"username": "x"}, {"username": 3, "password": []}])
def test_a_malformed_token_request_is_a_400_naming_the_field(db, body):
    response = Client().post(TOKEN_URL, body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert set(response.json()["errors"]) <= {"username", "password"}


def test_password_reset_answers_the_same_whether_or_not_the_address_has_an_account(user):
    known = Client().post("/password-reset/", {"email": user.email})
    unknown = Client().post("/password-reset/", {"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"] == "/password-reset/sent/"
    page = Client().get(known["Location"])
    assert b"If an account has this address" in page.content
    assert [m.to for m in mail.outbox] == [[user.email]]


def test_the_reset_link_sets_a_new_password(user):
    Client().post("/password-reset/", {"email": user.email})
    link = next(line for line in mail.outbox[0].body.splitlines() if "/password-reset/" in line)
    client = Client()
    form = client.get(link.strip(), follow=True)
    assert form.status_code == 200 and form.context["validlink"]
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "a-Brand-new-pass-42", "new_password2": "a-Brand-new-pass-42"},
    )
    assert done.status_code == 302
    assert attempt(Client(), "token", user.username, "a-Brand-new-pass-42").status_code == 200


# --- concurrency: the lock makes the limit exact ---------------------------------------------


class CountingBackend(ModelBackend):
    """Django's ModelBackend, counting the password checks it makes (what a guess buys)."""

    checks = 0
    lock = threading.Lock()

    def authenticate(self, request: Any, username: Any = None, password: Any = None, **kw: Any):
        with CountingBackend.lock:
            CountingBackend.checks += 1
        return super().authenticate(request, username=username, password=password, **kw)


@pytest.fixture
def counted(settings):
    settings.AUTHENTICATION_BACKENDS = [
        "axes.backends.AxesStandaloneBackend",
        f"{__name__}.CountingBackend",
    ]
    CountingBackend.checks = 0
    return CountingBackend


def concurrent_attempts(username: str, n: int) -> Counter[int]:
    """n token attempts with wrong passwords, released at once from n threads."""
    barrier = threading.Barrier(n)
    answers: list[int] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        try:
            client = Client()
            barrier.wait(timeout=30)
            status = attempt(client, "token", username, f"guess-{i}").status_code
            with lock:
                answers.append(status)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return Counter(answers)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_guesses_never_get_more_than_the_limit_of_password_checks(counted):
    user = UserFactory(username="mia.marketer", role=MARKETING)
    n = 40
    answers = concurrent_attempts(user.username, n)
    # An attempt that finds its address's lock held is refused at once (429) without its
    # password being looked at; the ones that got the lock are counted as axes counts them.
    assert 1 <= counted.checks <= LIMIT
    assert set(answers) <= {400, 429}
    assert answers[400] == counted.checks - (1 if counted.checks == LIMIT else 0)
    assert sum(answers.values()) == n
    print(
        f"\n[rate-limit] {n} concurrent guesses, limit {LIMIT}: {counted.checks} password "
        f"checks, answers {dict(answers)}"
    )


@pytest.mark.postgres
def test_an_attempt_while_another_from_the_address_is_checked_gets_429_at_once(user):
    """The lock is tried, not waited for: a queued attempt would hold a web worker."""
    holder = connections.create_connection("default")
    try:
        holder.set_autocommit(False)
        with holder.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                [f"axes-login:{client_key(RequestFactory().get('/'))}"],
            )
        started = time.monotonic()
        answer = attempt(Client(), "token", user.username, PASSWORD)
        elapsed = time.monotonic() - started
        page = attempt(Client(), "page", user.username, PASSWORD)
    finally:
        holder.rollback()
        holder.close()
    assert answer.status_code == 429
    assert answer.json()["code"] == "login_in_progress"
    assert answer["Retry-After"] == "1"
    assert elapsed < 1
    assert page.status_code == 429
    assert "Try again in a moment" in page.content.decode()
    # Once the other attempt is over, the right password gets in.
    assert attempt(Client(), "token", user.username, PASSWORD).status_code == 200


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_without_the_lock_concurrent_guesses_overrun_the_limit(settings, counted):
    """The baseline the lock fixes: axes alone checks before it counts. Reported, not asserted
    beyond "never fewer checks than the limit" (how far it overruns depends on timing)."""
    settings.LOGIN_ATTEMPTS_SERIALIZED = False
    user = UserFactory(username="mia.marketer", role=MARKETING)
    n = 40
    answers = concurrent_attempts(user.username, n)
    assert counted.checks >= LIMIT
    print(
        f"\n[rate-limit] without the per-address lock: {counted.checks} of {n} concurrent "
        f"guesses had their password checked (limit {LIMIT}); answers {dict(answers)}"
    )
    assert connection.vendor == "postgresql"
