"""Response headers for what the browser may do with our pages (the CSP itself is django-csp's,
configured in settings): a Permissions-Policy switching off the device features the desk never
uses, and `Cache-Control: no-store` on every page and API answer.

Every dynamic answer is someone's data (queues, leads, an API token from the token endpoint) or a
form with a CSRF token, so none may be kept by the browser or a shared cache; static files never
reach this middleware (WhiteNoise answers them earlier, with its long-lived caching headers).
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers

PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "autoplay",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "usb",
    )
)


class PrivacyHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        if "Cache-Control" not in response:
            add_never_cache_headers(response)
        return response
