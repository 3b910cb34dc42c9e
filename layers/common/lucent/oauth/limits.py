"""Dynamic client registration, rate-limited per source IP (docs/oauth.md).

The shared sliding-window limiter (``lucent.ratelimit``), in its own key space
(``oauth-register#<ip>``) so it never counts against an ingest key. If the counter table fails
the registration is admitted (fail open, as ingest does) and ``on_unavailable`` is told, so that
a metric can alarm: refusing every MCP client during an outage would be worse than a burst.
"""

from __future__ import annotations

from collections.abc import Callable

from lucent.errors import RateLimiterUnavailable
from lucent.ratelimit.limiter import RateLimiter

KEY_PREFIX = "oauth-register#"


class RegistrationRateLimit:
    def __init__(
        self,
        limiter: RateLimiter,
        limit_per_minute: int,
        on_unavailable: Callable[[Exception], None] = lambda exc: None,
    ) -> None:
        self._limiter = limiter
        self._limit = limit_per_minute
        self._on_unavailable = on_unavailable

    def admit(self, source_ip: str) -> int | None:
        try:
            decision = self._limiter.acquire(KEY_PREFIX + source_ip[:64], self._limit)
        except RateLimiterUnavailable as exc:
            self._on_unavailable(exc)
            return None
        return None if decision.admitted else max(1, decision.retry_after_seconds)
