"""The authorization server's rate limits (docs/oauth.md): dynamic client registration per
source IP, and the consent page's sign-in per source IP and per user name.

The shared sliding-window limiter (``lucent.ratelimit``), each limit in its own key space
(``oauth-register#<ip>``, ``oauth-sign-in-ip#<ip>``, ``oauth-sign-in-user#<sha256>``) so that
none counts against an ingest key or another. If the counter table fails the request is
admitted (fail open, as ingest does) and ``on_unavailable`` is told, so that a metric can alarm:
refusing every MCP client or every person during an outage would be worse than a burst, and
Cognito keeps its own lockout of repeated failures meanwhile.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from lucent.errors import RateLimiterUnavailable
from lucent.ratelimit.limiter import RateLimiter

KEY_PREFIX = "oauth-register#"
SIGN_IN_IP_PREFIX = "oauth-sign-in-ip#"
SIGN_IN_USER_PREFIX = "oauth-sign-in-user#"
# Sign-in attempts a minute, successful or not. Per address: an office behind one NAT signing in
# to a few MCP clients at once stays far below it; a guesser is held to one try every 3 s. Per
# user name, from any address: a person who mistypes a few times is not stopped, a spread-out
# guesser gets five tries a minute at an account (docs/decisions/019-oauth-grants.md).
SIGN_IN_PER_IP_PER_MINUTE = 20
SIGN_IN_PER_USERNAME_PER_MINUTE = 5


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


def username_key(username: str) -> str:
    """The counter key of a user name: as Cognito compares them (case-insensitively, trimmed),
    and hashed, so that the counter table holds no user name."""
    folded = username.strip().casefold().encode("utf-8")
    return SIGN_IN_USER_PREFIX + hashlib.sha256(folded).hexdigest()


class SignInRateLimit:
    """Every sign-in attempt counts once against its source IP, then once against its user
    name; an address already refused is not counted against the user name."""

    def __init__(
        self,
        limiter: RateLimiter,
        per_ip: int = SIGN_IN_PER_IP_PER_MINUTE,
        per_username: int = SIGN_IN_PER_USERNAME_PER_MINUTE,
        on_unavailable: Callable[[Exception], None] = lambda exc: None,
    ) -> None:
        self._limiter = limiter
        self._per_ip = per_ip
        self._per_username = per_username
        self._on_unavailable = on_unavailable

    def admit(self, source_ip: str, username: str) -> int | None:
        """None if admitted; else the seconds to wait."""
        try:
            for key, limit in (
                (SIGN_IN_IP_PREFIX + source_ip[:64], self._per_ip),
                (username_key(username), self._per_username),
            ):
                decision = self._limiter.acquire(key, limit)
                if not decision.admitted:
                    return max(1, decision.retry_after_seconds)
        except RateLimiterUnavailable as exc:
            self._on_unavailable(exc)
        return None
