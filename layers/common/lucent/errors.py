"""Typed domain errors. ``lucent.http.error_response`` is the one place they become HTTP.

Every message here is part of the public contract (docs/errors.md): the strings that the product
documentation prints are copied from it to the letter.
"""

from __future__ import annotations

from typing import ClassVar

MISSING_API_KEY = "Missing API key"
INVALID_API_KEY = "Invalid or revoked API key"
INVALID_BEARER_TOKEN = "Missing or invalid bearer token"  # noqa: S105 - a message
RATE_LIMIT_EXCEEDED = "Rate limit exceeded"

READ_SCOPE = "read:lucent"
WRITE_ISSUES_SCOPE = "write:issues"


class ConfigurationError(RuntimeError):
    """The deployment is missing a setting. Never shown to clients beyond a generic 500."""


class LucentError(Exception):
    """An error with a client-facing status and message."""

    status: ClassVar[int] = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def headers(self) -> dict[str, str]:
        return {}

    def body(self) -> dict[str, object]:
        return {"error": self.message}


class BadRequest(LucentError):
    status = 400


class NotFound(LucentError):
    status = 404


class MethodNotAllowed(LucentError):
    status = 405

    def __init__(self, allowed: list[str]) -> None:
        super().__init__("Method not allowed")
        self.allowed = sorted(allowed)

    def headers(self) -> dict[str, str]:
        return {"Allow": ", ".join(self.allowed)}


class PayloadTooLarge(LucentError):
    status = 413


class UnsupportedMediaType(LucentError):
    status = 415


class MissingApiKey(LucentError):
    status = 401

    def __init__(self) -> None:
        super().__init__(MISSING_API_KEY)


class InvalidApiKey(LucentError):
    status = 401

    def __init__(self) -> None:
        super().__init__(INVALID_API_KEY)


class InvalidBearerToken(LucentError):
    """No token, another scheme, an unsupported prefix, or an unknown/revoked/expired token."""

    status = 401

    def __init__(self, challenge_scope: str = READ_SCOPE) -> None:
        super().__init__(INVALID_BEARER_TOKEN)
        self.challenge_scope = challenge_scope

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": f'Bearer scope="{self.challenge_scope}"'}


class MissingScope(LucentError):
    status = 403

    def __init__(self, scope: str) -> None:
        super().__init__(f"Missing required scope: {scope}")
        self.scope = scope

    def headers(self) -> dict[str, str]:
        # RFC 6750 section 3.1: insufficient_scope may name the scope needed.
        return {"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{self.scope}"'}


class RateLimited(LucentError):
    status = 429

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(RATE_LIMIT_EXCEEDED)
        self.retry_after_seconds = max(1, int(retry_after_seconds))

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_seconds)}


class ServiceUnavailable(LucentError):
    """A dependency (S3, a DynamoDB table) failed; the client should retry, nothing was kept."""

    status = 503

    def __init__(self, message: str, retry_after_seconds: int = 5) -> None:
        super().__init__(message)
        self.retry_after_seconds = max(1, int(retry_after_seconds))

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_seconds)}


class CredentialStoreUnavailable(ServiceUnavailable):
    def __init__(self, retry_after_seconds: int = 5) -> None:
        super().__init__("Service temporarily unavailable", retry_after_seconds)


class IssueNotFound(NotFound):
    """Unknown here: the same bytes whether or not another organization has that id."""

    def __init__(self) -> None:
        super().__init__("Issue not found")


class InvalidCursor(BadRequest):
    """A ``cursor`` this listing did not produce (tampered, truncated, or from another list)."""

    def __init__(self) -> None:
        super().__init__("Invalid cursor")


# ---------------------------------------------------------------------------------------------
# Ingest (POST /api/sdk/replay, docs/ingest.md). Each carries a machine-readable ``reason`` for
# the ``Rejected`` metric; the message is what the client reads.


class InvalidBatch(BadRequest):
    """The body is empty, not base64/gzip/JSON, or not a valid replay batch."""

    def __init__(self, message: str, reason: str = "invalid_batch") -> None:
        super().__init__(message)
        self.reason = reason


class BatchTooLarge(PayloadTooLarge):
    """The body, its decompressed form or its event count is over a documented limit."""

    def __init__(self, message: str, reason: str = "too_large") -> None:
        super().__init__(message)
        self.reason = reason


class UnsupportedContentType(UnsupportedMediaType):
    reason = "unsupported_content_type"


class StorageUnavailable(ServiceUnavailable):
    """S3 did not confirm the write of a replay batch: nothing was acknowledged."""

    def __init__(self, retry_after_seconds: int = 5) -> None:
        super().__init__("Storage temporarily unavailable", retry_after_seconds)
