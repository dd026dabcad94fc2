"""Webhooks signed to the Standard Webhooks spec (the ``standardwebhooks`` library signs and
verifies), delivered with retries and backoff.

Every attempt of one event carries the same ``webhook-id`` (the receiver's idempotency key), a
fresh ``webhook-timestamp`` and ``webhook-signature: v1,<base64 HMAC-SHA256>`` over
``{id}.{timestamp}.{body}``. 2xx is delivered; 410 means the endpoint is gone (stop); other
failures and connection errors are retried with full-jitter backoff, honouring ``retry-after``.
Receivers call :func:`verify` (or ``standardwebhooks.Webhook(secret).verify``) on the raw body.
"""

from __future__ import annotations

import base64
import json
import os
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from standardwebhooks import Webhook, WebhookVerificationError

from llmkit.clock import Clock, system_clock
from llmkit.errors import AuthError

__all__ = ["Delivery", "WebhookSender", "new_secret", "verify"]


def new_secret() -> str:
    """A fresh ``whsec_...`` secret (32 random bytes)."""
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


@dataclass(frozen=True, slots=True)
class Delivery:
    msg_id: str
    status: str
    """``delivered``, ``gone`` (410) or ``gave_up``."""
    attempts: int
    last_status: int | None


class WebhookSender:
    def __init__(
        self,
        url: str,
        secret: str,
        *,
        http: httpx.Client | None = None,
        clock: Clock | None = None,
        max_attempts: int = 5,
        base_delay: float = 0.5,
        max_delay: float = 30.0,
        timeout: float = 15.0,
        rng: random.Random | None = None,
    ) -> None:
        self.url = url
        self._hook = Webhook(secret)
        self.http = http or httpx.Client(timeout=timeout)
        self.clock: Clock = clock or system_clock
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.rng = rng or random.Random()

    def __repr__(self) -> str:
        return f"WebhookSender(url={self.url!r}, secret='****')"

    def send(self, event: str, data: dict[str, Any], *, msg_id: str) -> Delivery:
        ts = datetime.fromtimestamp(self.clock.wall(), tz=UTC)
        body = json.dumps(
            {"type": event, "timestamp": ts.isoformat(), "data": data}, sort_keys=True
        )
        status: int | None = None
        for attempt in range(1, self.max_attempts + 1):
            now = datetime.fromtimestamp(self.clock.wall(), tz=UTC)
            headers = {
                "content-type": "application/json",
                "webhook-id": msg_id,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": self._hook.sign(msg_id, now, body),
            }
            retry_after: float | None = None
            try:
                resp = self.http.post(self.url, content=body.encode(), headers=headers)
                status = resp.status_code
                if 200 <= status < 300:
                    return Delivery(msg_id, "delivered", attempt, status)
                if status == 410:
                    return Delivery(msg_id, "gone", attempt, status)
                ra = resp.headers.get("retry-after")
                retry_after = float(ra) if ra and ra.replace(".", "", 1).isdigit() else None
            except httpx.HTTPError:
                status = None
            if attempt < self.max_attempts:
                cap = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
                self.clock.sleep(max(self.rng.uniform(0, cap), retry_after or 0.0))
        return Delivery(msg_id, "gave_up", self.max_attempts, status)


def verify(secret: str, body: bytes | str, headers: dict[str, str]) -> dict[str, Any]:
    """The parsed payload of a genuine delivery; :class:`~llmkit.errors.AuthError` (kind
    ``auth``) for a bad signature, a stale or missing timestamp, or missing headers."""
    try:
        payload: dict[str, Any] = Webhook(secret).verify(body, headers)
    except WebhookVerificationError as exc:
        raise AuthError(f"webhook rejected: {exc}", provider="webhook") from None
    return payload
