"""Error pages: the product's own 404, 403 and 500 for people, JSON for API clients.

A URL under /api/ that matches no route (or an id that is not a number) gets the API's error
shape, not the HTML page meant for people. A refusal on a page (another rep's handoff, a page
for another role) is a normal answer, not a fault: it shows our 404/403 page with a way back in
every settings module, DEBUG included. Django renders its technical 404 page (the URLconf's
patterns) for an Http404 whenever DEBUG is on, before handler404 is consulted; RefusalPages
answers first, so DEBUG keeps its tracebacks for real errors only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.views import defaults

# Set on the responses this module renders, so RefusalPages knows a page is ours.
OURS = "_product_error_page"


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def _page(request: HttpRequest, template: str, status: int, exception: Any = None) -> HttpResponse:
    message = str(exception) if exception is not None and str(exception) else ""
    body = loader.render_to_string(template, {"exception": message}, request)
    response = HttpResponse(body, status=status)
    setattr(response, OURS, True)
    return response


def not_found(request: HttpRequest, exception: Any = None) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(
            {"code": "not_found", "detail": "No such API endpoint or object."}, status=404
        )
    return _page(request, "404.html", 404)


def forbidden(request: HttpRequest, exception: Any = None) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(
            {"code": "permission_denied", "detail": "You may not do this."}, status=403
        )
    return _page(request, "403.html", 403, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(
            {"code": "server_error", "detail": "Something went wrong on our side; it was logged."},
            status=500,
        )
    return defaults.server_error(request)


class RefusalPages:
    """Render our 404/403 pages for refusals raised by page views, whatever DEBUG says; with
    DEBUG on, also replace Django's technical 404 for a URL that matches no page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            settings.DEBUG
            and response.status_code == 404
            and not getattr(response, OURS, False)
            and not _is_api(request)
            and response.get("Content-Type", "").startswith("text/html")
            and not request.path.startswith("/" + (settings.STATIC_URL or "static/").lstrip("/"))
        ):
            return not_found(request)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if _is_api(request):
            return None
        if isinstance(exception, Http404):
            return not_found(request, exception)
        if isinstance(exception, PermissionDenied):
            return forbidden(request, exception)
        return None
