"""Routes: `urlpatterns` are the pages (mounted at /), `api_urlpatterns` the API (at /api/)."""

from django.urls import path  # noqa: F401

app_name = "handoff"

urlpatterns: list = []

api_urlpatterns: list = []
