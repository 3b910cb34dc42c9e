"""Replay batches in S3: the object key and the write (docs/storage.md, docs/ingest.md).

``replays/{org_id}/{session_id}/{sequence:010d}.json.gz``: determined by (organization, session,
sequence), so a retried batch overwrites itself and never duplicates, and a session's objects list
in order. Objects are gzip with ``Content-Type: application/json`` and ``Content-Encoding: gzip``.
"""

from __future__ import annotations

import gzip
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from lucent.batch import MAX_SEQUENCE, SESSION_ID
from lucent.credentials import ORG_ID_PATTERN
from lucent.errors import StorageUnavailable

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

REPLAY_PREFIX = "replays"
# Chosen by measurement on a 200-event batch (docs/limits.md): level 5 keeps ~97% of level 6's
# size gain over level 1 at about 60% of level 6's CPU.
GZIP_LEVEL = 5


def replay_key(org_id: str, session_id: str, sequence: int) -> str:
    """The object key of a batch. Refuses any part that could leave its prefix (ValueError)."""
    # Both were validated upstream (issuance, the batch schema); checked again where it matters.
    if ORG_ID_PATTERN.fullmatch(org_id) is None:
        raise ValueError(f"org_id {org_id!r} is not a safe key segment")
    if SESSION_ID.fullmatch(session_id) is None:
        raise ValueError(f"session_id {session_id!r} is not a safe key segment")
    if not 0 <= sequence <= MAX_SEQUENCE:
        raise ValueError(f"sequence {sequence} does not fit ten digits")
    return f"{REPLAY_PREFIX}/{org_id}/{session_id}/{sequence:010d}.json.gz"


def compress(document: bytes, level: int = GZIP_LEVEL) -> bytes:
    """gzip of exactly these bytes; mtime 0 so the same batch always gives the same object."""
    return gzip.compress(document, compresslevel=level, mtime=0)


class ReplayStore:
    def __init__(self, client: S3Client, bucket: str, *, retry_after_seconds: int = 5) -> None:
        self._client = client
        self._bucket = bucket
        self._retry_after = retry_after_seconds

    @property
    def bucket(self) -> str:
        return self._bucket

    def put(self, key: str, gzip_body: bytes) -> None:
        """Write one gzip object; returns only once S3 confirmed it. Raises StorageUnavailable."""
        try:
            self._client.put_object(
                Bucket=self._bucket,
                Key=key,
                Body=gzip_body,
                ContentType="application/json",
                ContentEncoding="gzip",
            )
        except (ClientError, BotoCoreError) as exc:
            raise StorageUnavailable(self._retry_after) from exc
