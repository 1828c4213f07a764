"""Deployment: production settings pass Django's deploy check and refuse a missing or weak key.

Each case runs in a subprocess with DJANGO_SETTINGS_MODULE=config.settings.production, as a
gunicorn or manage.py started by an operator would.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REFUSAL = "DJANGO_SECRET_KEY must be set to a random value of at least 50 characters"


def production(*args: str, secret_key: str | None, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DJANGO_SECRET_KEY", "DJANGO_SETTINGS_MODULE", "DJANGO_DEBUG")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DATABASE_URL=f"sqlite:///{tmp_path / 'prod.sqlite3'}",
        DJANGO_ALLOWED_HOSTS="desk.example.com",
        PYTHONWARNINGS="ignore",  # WhiteNoise: no collectstatic in a test
    )
    if secret_key is not None:
        env["DJANGO_SECRET_KEY"] = secret_key
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_the_deploy_check_passes_with_production_settings_and_a_real_secret_key(tmp_path, figure):
    result = production(
        "manage.py", "check", "--deploy", "--fail-level", "WARNING",
        secret_key=secrets.token_urlsafe(60), tmp_path=tmp_path,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    figure("8 deployment", "check --deploy --fail-level WARNING", "0 issues", "0 issues")


@pytest.mark.parametrize(
    "secret_key",
    [None, "", "too-short-0123456789", "local-demo-key-not-for-production" * 3, "a" * 60],
    ids=["missing", "empty", "short", "a-local-settings-key", "not-random"],
)
def test_production_refuses_to_start_without_a_real_secret_key(secret_key, tmp_path):
    check = production("manage.py", "check", secret_key=secret_key, tmp_path=tmp_path)
    # What gunicorn loads: config.wsgi with production settings.
    wsgi = production("-c", "import config.wsgi", secret_key=secret_key, tmp_path=tmp_path)

    for result in (check, wsgi):
        assert result.returncode != 0
        assert "ImproperlyConfigured" in result.stderr and REFUSAL in result.stderr


PROBE = """
import json
import django
django.setup()
from django.conf import settings
from django.test import Client
client = Client(HTTP_HOST="desk.example.com")
plain = client.get("/login/")
secure = client.get("/login/", secure=True)
cookie = secure.cookies["csrftoken"]
print(json.dumps({
    "plain": [plain.status_code, plain.get("Location")],
    "secure": secure.status_code,
    "hsts": secure.get("Strict-Transport-Security"),
    "csrf_cookie_secure": bool(cookie["secure"]),
    "session_cookie_secure": settings.SESSION_COOKIE_SECURE,
    "debug": settings.DEBUG,
    "frame": secure.get("X-Frame-Options"),
    "nosniff": secure.get("X-Content-Type-Options"),
}))
"""


def test_production_redirects_to_https_sends_hsts_and_secure_cookies(tmp_path):
    result = production("-c", PROBE, secret_key=secrets.token_urlsafe(60), tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])

    assert seen["plain"] == [301, "https://desk.example.com/login/"]
    assert seen["secure"] == 200
    assert seen["hsts"] == "max-age=31536000; includeSubDomains; preload"
    assert seen["csrf_cookie_secure"] and seen["session_cookie_secure"]
    assert seen["debug"] is False
    assert (seen["frame"], seen["nosniff"]) == ("DENY", "nosniff")
