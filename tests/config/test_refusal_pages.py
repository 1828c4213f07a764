"""A refused object or page shows the product's own 404/403 page with a way back, in every
settings module, including DEBUG (the demo's settings): never Django's technical page."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings as django_settings

from tests.ui.world import World, logged_in, make_world, text


@pytest.fixture
def world(db) -> World:
    return make_world()


@pytest.mark.parametrize("debug", [False, True])
def test_a_rep_opening_another_reps_handoff_gets_our_not_found_page(world, settings, debug):
    settings.DEBUG = debug
    handoff = world.promote()
    assert handoff.assigned_to == world.rep
    response = logged_in(world.other_rep).get(f"/handoffs/{handoff.pk}/")
    assert response.status_code == 404
    page = text(response)
    assert "Not found" in page and "Go to your home page" in page
    assert "URLconf" not in page and "Page not found at" not in page
    assert 'href="/"' in response.content.decode()


@pytest.mark.parametrize("debug", [False, True])
def test_a_page_for_another_role_gets_our_forbidden_page(world, settings, debug):
    settings.DEBUG = debug
    response = logged_in(world.rep).get("/leads/")
    assert response.status_code == 403
    page = text(response)
    assert "Not for your role" in page and "Go to your home page" in page
    assert "This page is for" in page


@pytest.mark.parametrize("debug", [False, True])
def test_an_unknown_page_gets_our_not_found_page(world, settings, debug):
    settings.DEBUG = debug
    response = logged_in(world.rep).get("/no-such-page/")
    assert response.status_code == 404
    assert "Go to your home page" in text(response)
    assert "URLconf" not in response.content.decode()


def test_the_api_keeps_its_json_errors(world, client_for, settings):
    settings.DEBUG = True
    handoff = world.promote()
    response = client_for(world.other_rep).get(f"/api/handoffs/{handoff.pk}/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("module", ["local", "test", "production"])
def test_every_settings_module_renders_refusals_with_our_pages(module):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": f"config.settings.{module}",
        "DJANGO_SECRET_KEY": "k" + os.urandom(32).hex(),
    }
    probe = (
        "import django; django.setup(); from django.conf import settings; "
        "from django.urls import get_resolver; r = get_resolver(); "
        "print('core.error_pages.RefusalPages' in settings.MIDDLEWARE, "
        "r.resolve_error_handler(404).__name__, r.resolve_error_handler(403).__name__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "not_found", "forbidden"]
