"""Standard Webhooks 1.0 signing: `whsec_` secrets and the three webhook-* headers.

The HMAC itself is the `standardwebhooks` package's (the reference implementation receivers
use), so what we sign is exactly what they verify. During a rotation both secrets sign: the
header carries two space-separated `v1,` signatures, as the specification allows.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from collections.abc import Sequence

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32

__all__ = ["WebhookVerificationError", "headers", "new_secret", "signing_secrets", "verify"]


def new_secret() -> str:
    """`whsec_` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signing_secrets(
    secret: str, previous: str, previous_expires_at: dt.datetime | None, *, now: dt.datetime
) -> list[str]:
    """The secrets in force: the current one, and the previous one until it expires."""
    in_force = [secret]
    if previous and previous_expires_at is not None and now < previous_expires_at:
        in_force.append(previous)
    return in_force


def headers(
    *, msg_id: str, body: bytes, secrets_in_force: Sequence[str], now: dt.datetime
) -> dict[str, str]:
    signatures = " ".join(
        Webhook(secret).sign(msg_id=msg_id, timestamp=now, data=body) for secret in secrets_in_force
    )
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signatures,
    }


def verify(
    *, body: bytes, request_headers: dict[str, str], secrets_in_force: Sequence[str]
) -> None:
    """Raise WebhookVerificationError unless one of the secrets signed this body (and the
    timestamp is within 5 minutes, which the package checks)."""
    error: WebhookVerificationError | None = None
    for secret in secrets_in_force:
        try:
            Webhook(secret).verify(body, request_headers, json_parse=False)
            return
        except WebhookVerificationError as exc:
            error = exc
    raise error or WebhookVerificationError("No secret to verify with")
