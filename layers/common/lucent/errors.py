"""Typed domain errors. ``lucent.http.Reply.error`` is the one place they become HTTP.

Messages come from ``lucent.contract``, where every client-facing string is defined once
(docs/errors.md). Stores raise these too: each translates its botocore errors into one of the
``...Unavailable`` or ``...Conflict`` types here, so no other module sees botocore.
"""

from __future__ import annotations

from typing import ClassVar

from lucent.contract import (
    BATCH_CONFLICT,
    INVALID_API_KEY,
    INVALID_BEARER_TOKEN,
    METHOD_NOT_ALLOWED,
    MISSING_API_KEY,
    RATE_LIMIT_EXCEEDED,
    READ_SCOPE,
    SERVICE_UNAVAILABLE,
    STORAGE_UNAVAILABLE,
    UNAVAILABLE_RETRY_AFTER_SECONDS,
    bearer_challenge,
    insufficient_scope_challenge,
)


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
        super().__init__(METHOD_NOT_ALLOWED)
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
        return {"WWW-Authenticate": bearer_challenge(self.challenge_scope)}


class MissingScope(LucentError):
    status = 403

    def __init__(self, scope: str) -> None:
        super().__init__(f"Missing required scope: {scope}")
        self.scope = scope

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": insufficient_scope_challenge(self.scope)}


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

    def __init__(
        self,
        message: str = SERVICE_UNAVAILABLE,
        retry_after_seconds: int = UNAVAILABLE_RETRY_AFTER_SECONDS,
    ) -> None:
        super().__init__(message)
        self.retry_after_seconds = max(1, int(retry_after_seconds))

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_seconds)}


class CredentialStoreUnavailable(ServiceUnavailable):
    def __init__(self, retry_after_seconds: int = UNAVAILABLE_RETRY_AFTER_SECONDS) -> None:
        super().__init__(SERVICE_UNAVAILABLE, retry_after_seconds)


class Conflict(LucentError):
    """A conditional write found the item in another state (it exists already, or is gone)."""

    status = 409


class CredentialExists(Conflict):
    """A credential with that hash is stored already (issuing the same secret twice)."""

    def __init__(self) -> None:
        super().__init__("Credential already exists")


class RateLimiterUnavailable(Exception):
    """The counter table could not answer (throttling, outage, misconfiguration).

    Not a client error: ingest admits the request (fail open, docs/rate-limiting.md).
    """


class IssueNotFound(NotFound):
    """Unknown here: the same bytes whether or not another organization has that id."""

    def __init__(self) -> None:
        super().__init__("Issue not found")


class SessionNotFound(NotFound):
    """Unknown here: the same bytes whether or not another organization has that session."""

    def __init__(self) -> None:
        super().__init__("Session not found")


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


class BatchConflict(Conflict):
    """Another batch is stored under this (organization, session_id, sequence): batches are
    written once, and only the same JSON again is answered as a retry (docs/ingest.md)."""

    reason = "conflict"

    def __init__(self) -> None:
        super().__init__(BATCH_CONFLICT)


class StorageUnavailable(ServiceUnavailable):
    """S3 did not confirm the write of a replay batch: nothing was acknowledged."""

    def __init__(self, retry_after_seconds: int = UNAVAILABLE_RETRY_AFTER_SECONDS) -> None:
        super().__init__(STORAGE_UNAVAILABLE, retry_after_seconds)


# ---------------------------------------------------------------------------------------------
# Detection (functions/detection, docs/detection.md). Not client errors: each makes the SQS
# message fail, so that SQS delivers it again (and, past maxReceiveCount, moves it to the DLQ).


class DetectionUnavailable(Exception):
    """S3 or the data table failed while detecting: the message is retried."""


class SessionStateConflict(Exception):
    """Another invocation advanced this session's watermark first: reload and go on from it."""


class IssueWriteConflict(Exception):
    """An issue (or user marker) changed between read and write: read again and retry."""


class SequenceGap(Exception):
    """A later batch arrived before an earlier one: wait for the earlier one (retried)."""


class PoisonBatch(Exception):
    """A batch whose processing fails the same way every time (content DynamoDB refuses, or the
    detector raising on it): recorded, skipped, and the watermark moved past it."""


class OutOfTime(Exception):
    """The invocation's remaining time ran low between batches: the message is retried."""
