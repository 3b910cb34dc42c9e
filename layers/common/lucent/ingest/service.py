"""``POST /api/sdk/replay``: rate limit, decode, validate and store one batch (docs/ingest.md).

Order matters:

1. the caller: the authorizer's context gives the organization, credential and limit; without it
   the deployment is broken (a 500), and nothing from the body or headers is trusted instead;
2. the rate limit, before anything is decoded: every authenticated request counts, valid or not;
   a 429 does not count; when the counter table fails the request is admitted (fail open);
3. decoding and validation (``lucent.ingest.batch``): 400/413/415, nothing written;
4. the S3 write, once per key (``If-None-Match: *``): a 200 only once S3 confirmed it, else 503
   with Retry-After. When the key holds an object already, it is read back (the conflict path
   only): the same batch again (a retry) is the same 200, another batch a 409 and nothing changes.
   A 409 counted against the rate limit like any authenticated request (docs/ingest.md).

Steady state: one DynamoDB ``UpdateItem`` and one S3 ``PutObject`` per accepted batch; a retry
of a stored batch adds one ``GetObject``.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from lucent.auth.credentials import Principal
from lucent.errors import (
    BatchConflict,
    ConfigurationError,
    LucentError,
    RateLimited,
    RateLimiterUnavailable,
)
from lucent.http import Request
from lucent.ingest.batch import MAX_BODY_BYTES, DecodedBatch, decode_batch
from lucent.ingest.replays import compress, replay_key, same_batch
from lucent.ingest.store import ReplayStore
from lucent.ratelimit.limiter import RateLimiter
from lucent.ratelimit.store import RateLimitStore
from lucent.ratelimit.window import RateDecision

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_s3.client import S3Client

    from lucent.settings import Settings


# No object ingest writes is larger: a client's gzip is at most the body limit, and gzip of a plain
# body of at most that size stays under it plus gzip's small overhead.
_MAX_STORED = MAX_BODY_BYTES + 64 * 1024


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off while one batch is decoded.

    Parsing allocates a container object per JSON array and object (hundreds of thousands in a
    large batch); each allocation threshold crossed starts a collection that walks all of them,
    for nothing: a parsed batch holds no cycles, and reference counting frees it. On the largest
    batch that was about twice the parse itself (docs/performance.md, section 1). Only the
    collector's scheduling changes: it runs again, as usual, once the batch is decoded.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class Telemetry(Protocol):
    """Where the service reports what happened (Powertools in the function, a list in tests)."""

    def metric(self, name: str, value: float, unit: str) -> None: ...

    def rejected(self, reason: str) -> None: ...

    def warning(self, message: str, fields: Mapping[str, Any]) -> None: ...


class NullTelemetry:
    def metric(self, name: str, value: float, unit: str) -> None:
        return None

    def rejected(self, reason: str) -> None:
        return None

    def warning(self, message: str, fields: Mapping[str, Any]) -> None:
        return None


@dataclass(frozen=True, slots=True)
class IngestRequest:
    """The parts of a proxy event the ingest path reads. Never the query string or key headers."""

    principal: Principal | None
    content_type: str | None
    body: str | None  # as sent: base64 text when ``is_base64``
    is_base64: bool

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> IngestRequest:
        # The body stays as sent: it is decoded after the rate limit, by lucent.ingest.batch,
        # whose size cap comes before base64 decoding. Request.from_event would decode it first.
        request = Request.from_event({**event, "body": None})
        return cls(
            principal=Principal.from_context(request.authorizer),
            content_type=request.header("content-type"),
            body=event.get("body"),
            is_base64=bool(event.get("isBase64Encoded")),
        )


@dataclass(frozen=True, slots=True)
class IngestResult:
    session_id: str
    sequence: int
    events_stored: int
    key: str
    bytes_stored: int
    client_gzip: bool
    rate: RateDecision | None  # None when the limiter was unavailable (fail open)
    retried: bool = False  # the batch was stored already, by an earlier request

    def body(self) -> dict[str, Any]:
        """The 200 response body (docs/ingest.md): this exact shape."""
        return {
            "session_id": self.session_id,
            "sequence": self.sequence,
            "events_stored": self.events_stored,
        }


class IngestService:
    def __init__(
        self,
        limiter: RateLimiter,
        replays: ReplayStore,
        telemetry: Telemetry | None = None,
    ) -> None:
        self._limiter = limiter
        self._replays = replays
        self._telemetry: Telemetry = telemetry or NullTelemetry()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        dynamodb: DynamoDBClient | None = None,
        s3: S3Client | None = None,
        clock: Callable[[], float] = time.time,
        telemetry: Telemetry | None = None,
    ) -> IngestService:
        from lucent.aws import dynamodb_client, s3_client

        limiter = RateLimiter(
            RateLimitStore(
                dynamodb or dynamodb_client(settings), settings.require("rate_limit_table")
            ),
            clock=clock,
        )
        replays = ReplayStore(
            s3 or s3_client(settings),
            settings.require("replay_bucket"),
            retry_after_seconds=settings.unavailable_retry_after_seconds,
        )
        return cls(limiter, replays, telemetry)

    @contextlib.contextmanager
    def _timed(self, metric: str) -> Iterator[None]:
        """Report how long the block took, failed or not, as ``metric`` in milliseconds.

        The function has no X-Ray subsegments (docs/decisions/027-lean-xray-sdk.md): these two
        metrics are how an operator tells a slow S3 from a slow rate-limit table when 503s or
        latency appear.
        """
        started = time.perf_counter()
        try:
            yield
        finally:
            self._telemetry.metric(metric, (time.perf_counter() - started) * 1000, "Milliseconds")

    def handle(self, request: IngestRequest) -> IngestResult:
        """Store one batch, or raise a typed error (LucentError) for the client."""
        principal = request.principal
        if principal is None:
            # API Gateway only invokes the function after the authorizer allowed the request, so
            # a missing context is a deployment error, not something a client can cause.
            raise ConfigurationError("the request carries no valid authorizer context")
        rate = self._admit(principal)
        try:
            with _collector_paused():
                decoded = decode_batch(request.content_type, request.body, request.is_base64)
        except LucentError as exc:
            self._telemetry.rejected(str(getattr(exc, "reason", type(exc).__name__)))
            raise
        return self._store(principal, decoded, rate)

    def _admit(self, principal: Principal) -> RateDecision | None:
        try:
            with self._timed("RateLimiterLatency"):
                decision = self._limiter.acquire(
                    principal.credential_id, principal.rate_limit_per_minute
                )
        except RateLimiterUnavailable as exc:
            # Fail open (docs/rate-limiting.md): losing replay data is worse than a minute of
            # unlimited ingest, which API Gateway's stage throttling still bounds.
            self._telemetry.warning(
                "rate limiter unavailable: request admitted (fail open)",
                {"credential_id": principal.credential_id, "error": str(exc)},
            )
            self._telemetry.metric("RateLimiterUnavailable", 1, "Count")
            return None
        if not decision.admitted:
            self._telemetry.metric("RateLimited", 1, "Count")
            raise RateLimited(decision.retry_after_seconds)
        return decision

    def _store(
        self, principal: Principal, decoded: DecodedBatch, rate: RateDecision | None
    ) -> IngestResult:
        batch = decoded.batch
        try:
            key = replay_key(principal.org_id, batch.session_id, batch.sequence)
        except ValueError as exc:
            # session_id and sequence were validated; an org id unfit for a key is a data error.
            raise ConfigurationError(f"cannot build the object key: {exc}") from exc
        # The client's gzip as it came when it was valid; otherwise gzip of the exact bytes.
        stored = decoded.body if decoded.client_gzip else compress(decoded.body)
        try:
            with self._timed("StorageLatency"):
                written = self._replays.put_new(key, stored)
                existing = None if written else self._replays.get(key, max_bytes=_MAX_STORED)
        except LucentError:
            self._telemetry.metric("StorageUnavailable", 1, "Count")
            raise
        if not written:
            if existing is None or not same_batch(existing, stored):
                self._telemetry.rejected(BatchConflict.reason)
                raise BatchConflict()
            self._telemetry.metric("BatchesRetried", 1, "Count")
        else:
            self._telemetry.metric("BatchesStored", 1, "Count")
            self._telemetry.metric("EventsStored", decoded.event_count, "Count")
            self._telemetry.metric("BytesStored", len(stored), "Bytes")
        return IngestResult(
            session_id=batch.session_id,
            sequence=batch.sequence,
            events_stored=decoded.event_count,
            key=key,
            bytes_stored=len(stored),
            client_gzip=decoded.client_gzip,
            rate=rate,
            retried=not written,
        )
