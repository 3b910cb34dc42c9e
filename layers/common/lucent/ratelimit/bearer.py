"""The per-token limit of bearer tokens, shared by the Data API and MCP (docs/data-api.md).

It is the ingest limiter (``RateLimiter``: one sliding-window counter item per key) under keys of
their own: ``bearer#<credential id>``, so a token's budget never mixes with an ingest key's, and a
token used over both the Data API and MCP spends one budget (an agent cannot double it by
switching surfaces). The limit is the credential's own ``rate_limit_per_minute``: 100 requests a
minute unless the credential says otherwise (``DEFAULT_RATE_LIMIT_PER_MINUTE``).

When the counter table fails the request is admitted (fail open, as ingest does) and the caller is
told so through ``on_unavailable`` (a metric and a warning): reads are cheap and bounded by API
Gateway's stage throttle, and refusing every agent because a counter is down is worse.
"""

from __future__ import annotations

from collections.abc import Callable

from lucent.auth.credentials import Principal
from lucent.errors import RateLimited, RateLimiterUnavailable
from lucent.ratelimit.limiter import RateLimiter
from lucent.ratelimit.window import RateDecision

BEARER_KEY_PREFIX = "bearer#"


def bearer_key(principal: Principal) -> str:
    """The counter key of a bearer token: never equal to an ingest key (those carry no '#')."""
    return BEARER_KEY_PREFIX + principal.credential_id


class BearerRateLimit:
    """Admit one request of a bearer token, raise ``RateLimited``, or fail open."""

    def __init__(
        self,
        limiter: RateLimiter,
        on_unavailable: Callable[[Principal, Exception], None] | None = None,
    ) -> None:
        self._limiter = limiter
        self._on_unavailable = on_unavailable

    def admit(self, principal: Principal) -> RateDecision | None:
        """The decision that admitted the request; None when the limiter failed open."""
        try:
            decision = self._limiter.acquire(bearer_key(principal), principal.rate_limit_per_minute)
        except RateLimiterUnavailable as exc:
            if self._on_unavailable is not None:
                self._on_unavailable(principal, exc)
            return None
        if not decision.admitted:
            raise RateLimited(decision.retry_after_seconds)
        return decision
