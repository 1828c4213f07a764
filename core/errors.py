"""The domain's own errors, mapped once to HTTP (core.api.errors.exception_handler) and to form
errors on pages (core.pages.perform).

Every error carries a stable `code` for API clients, a human message and, where it is about one
input, the `field` it names.
"""

from __future__ import annotations


class DomainError(Exception):
    code = "domain_error"
    http_status = 400

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.field = field


class ValidationFailed(DomainError):
    """Bad input: nothing was written (HTTP 400)."""

    code = "invalid"


class RuleViolation(DomainError):
    """A business rule refuses the request (HTTP 400)."""

    code = "rule_violation"


class Conflict(DomainError):
    """Somebody else changed the thing first, or a duplicate request is in flight (HTTP 409)."""

    code = "conflict"
    http_status = 409


class NotFound(DomainError):
    code = "not_found"
    http_status = 404


class Forbidden(DomainError):
    """The user's role does not allow this (HTTP 403)."""

    code = "permission_denied"
    http_status = 403


class IdempotencyKeyReused(DomainError):
    """The Idempotency-Key was already used with a different request body (HTTP 422)."""

    code = "idempotency_key_reused"
    http_status = 422


class PayloadTooLarge(DomainError):
    """The request body is over the size limit; nothing was read or written (HTTP 413)."""

    code = "payload_too_large"
    http_status = 413
