"""What every leads API shares: who may write (permissions), and the documented error
responses and Idempotency-Key headers (the other apps' APIs use them too)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework.permissions import SAFE_METHODS, BasePermission

from core import roles
from core.api.errors import ErrorSerializer, ValidationErrorSerializer


class CanWriteLeads(BasePermission):
    """Reading is for every role (each sees what leads.selectors.leads_visible_to allows);
    writing leads and events is for marketing and sales managers."""

    message = "Only marketing and sales managers can change leads."

    def has_permission(self, request: Any, view: Any) -> bool:
        return request.method in SAFE_METHODS or roles.can_write_leads(request.user)


class CanEditScoring(BasePermission):
    message = "Only marketing and sales managers can change the scoring rules."

    def has_permission(self, request: Any, view: Any) -> bool:
        return request.method in SAFE_METHODS or roles.can_edit_scoring(request.user)


# --- documented error responses -----------------------------------------------------------

E400 = OpenApiResponse(ValidationErrorSerializer, description="Invalid fields; nothing written.")
E400_BODY = OpenApiResponse(
    ValidationErrorSerializer,
    description="Malformed JSON, wrong shape, no rows or more than 1,000 rows; nothing written.",
)
E401 = OpenApiResponse(ErrorSerializer, description="Not authenticated.")
E403 = OpenApiResponse(ErrorSerializer, description="Authenticated, but the role may not.")
E404 = OpenApiResponse(ErrorSerializer, description="No such lead, or not one the user may see.")
E409 = OpenApiResponse(
    ErrorSerializer,
    description="A request with the same Idempotency-Key is still running, or a concurrent "
    "request changed the same rows; retry.",
)
E413 = OpenApiResponse(ErrorSerializer, description="Body over the size limit; nothing written.")
E415 = OpenApiResponse(ErrorSerializer, description="The body must be application/json.")
E422 = OpenApiResponse(
    ErrorSerializer, description="The Idempotency-Key was used before with a different body."
)
AUTH_ERRORS = {401: E401, 403: E403}

IDEMPOTENT_REPLAYED = OpenApiParameter(
    "Idempotent-Replayed",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    enum=["true"],
    response=[200],
    description="`true` when this is the stored answer to an earlier request with the same "
    "Idempotency-Key and body (nothing was written again); absent otherwise.",
)
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description="Any unique string (1-255 characters), e.g. a UUID. Repeating a request with "
    "the same key and body within 24 hours returns the first answer (with the header "
    "Idempotent-Replayed: true) and writes nothing again; the same key with another body gets "
    "422; while the first is still running, 409.",
)
