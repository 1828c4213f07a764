"""POST /api/auth/token/: a username and password for an API token, rate-limited by axes."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response

from config.security import (
    LoginAttemptBusy,
    busy_response,
    lockout_response,
    login_attempt_lock,
)
from core.api.errors import ValidationErrorSerializer
from core.errors import ValidationFailed

# One message whether the user exists or not: the answer must not tell which usernames exist.
BAD_CREDENTIALS = "Unable to log in with the given username and password."


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150, trim_whitespace=False)
    password = serializers.CharField(
        max_length=4096, trim_whitespace=False, style={"input_type": "password"}
    )


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send as `Authorization: Token <token>`.")


class LockoutSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="too_many_attempts")
    detail = serializers.CharField()
    retry_after = serializers.IntegerField(help_text="Seconds; also the Retry-After header.")


class TokenObtainApi(ObtainAuthToken):
    authentication_classes: list[Any] = []
    # JSON only, like the rest of the API (ObtainAuthToken also takes forms).
    parser_classes = [JSONParser]

    @extend_schema(
        tags=["auth"],
        operation_id="auth_token_create",
        auth=[],
        request=TokenRequestSerializer,
        responses={
            200: TokenSerializer,
            400: OpenApiResponse(
                ValidationErrorSerializer,
                description="Missing fields, or `invalid_credentials` (the same answer for an "
                "unknown username and a wrong password).",
            ),
            429: OpenApiResponse(
                LockoutSerializer,
                description="`too_many_attempts`: too many failed attempts from this address "
                "(django-axes); `login_in_progress`: another attempt from this address is being "
                "checked. Wait for the Retry-After header's seconds.",
            ),
        },
        description="Exchange a username and password for the user's API token (created on first "
        "use). Failed attempts are counted per client address: after AXES_FAILURE_LIMIT failures "
        "within the cool-off, every attempt (even with the right password) gets 429.",
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = TokenRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        # axes reads and flags the Django request, not DRF's wrapper around it.
        django_request = request._request
        try:
            with login_attempt_lock(django_request):
                user = authenticate(
                    django_request,
                    username=body.validated_data["username"],
                    password=body.validated_data["password"],
                )
        except LoginAttemptBusy:
            return busy_response(django_request)  # type: ignore[return-value]
        if getattr(django_request, "axes_locked_out", False):
            return lockout_response(django_request)  # type: ignore[return-value]
        if user is None:
            raise ValidationFailed(BAD_CREDENTIALS, code="invalid_credentials")
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})
