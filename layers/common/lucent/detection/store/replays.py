"""Replay objects in S3, as detection reads them: one batch, and where the next stored one is.

The only detection module that reads the replay bucket. Every botocore error becomes
``DetectionUnavailable`` (the SQS message is retried); a stored object that is no batch is a
``PoisonBatch``. Keys are ingest's ``replays/{org}/{session}/{sequence:010d}.json.gz``
(docs/storage.md).
"""

from __future__ import annotations

import json
import zlib
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from lucent.aws import s3_client
from lucent.errors import DetectionUnavailable, PoisonBatch
from lucent.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

# A replay object is at most ingest's MAX_DECOMPRESSED_BYTES once inflated; refuse more.
MAX_OBJECT_BYTES = 10 * 1024 * 1024


def replay_prefix(org_id: str, session_id: str) -> str:
    return f"replays/{org_id}/{session_id}/"


def replay_key(org_id: str, session_id: str, sequence: int) -> str:
    return f"{replay_prefix(org_id, session_id)}{sequence:010d}.json.gz"


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class ReplayStore:
    def __init__(self, s3: S3Client, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    @classmethod
    def from_settings(cls, settings: Settings) -> ReplayStore:
        return cls(s3_client(settings), settings.require("replay_bucket"))

    def read_batch(self, key: str) -> dict[str, Any] | None:
        """The batch JSON of a replay object; None if there is no such object (yet)."""
        try:
            body = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if error_code(exc) in ("NoSuchKey", "404", "NotFound"):
                return None
            raise DetectionUnavailable(f"S3 get_object failed: {error_code(exc)}") from exc
        except BotoCoreError as exc:
            raise DetectionUnavailable("S3 get_object failed") from exc
        batch = decode_batch_object(body)
        if batch is None:  # stored, but no batch: it will never be one
            raise PoisonBatch("not_a_batch")
        return batch

    def next_stored_sequence(self, org_id: str, session_id: str, sequence: int) -> int | None:
        """The lowest sequence at or after ``sequence`` with a stored object, from one listing
        (keys are zero-padded, so S3's order is sequence order); None if there is none."""
        prefix = replay_prefix(org_id, session_id)
        kwargs: dict[str, Any] = {"Bucket": self._bucket, "Prefix": prefix, "MaxKeys": 1}
        if sequence > 0:
            kwargs["StartAfter"] = replay_key(org_id, session_id, sequence - 1)
        try:
            contents = self._s3.list_objects_v2(**kwargs).get("Contents") or []
        except (ClientError, BotoCoreError) as exc:
            raise DetectionUnavailable("S3 list_objects_v2 failed") from exc
        for entry in contents:
            name = entry["Key"][len(prefix) :]
            if len(name) == 18 and name.endswith(".json.gz") and name[:10].isdigit():
                return int(name[:10])
        return None


def decode_batch_object(body: bytes) -> dict[str, Any] | None:
    """The batch JSON of a stored replay object (gzip of one or more members, capped at
    MAX_OBJECT_BYTES inflated); None if it is not a batch."""
    out = bytearray()
    rest = body
    try:
        while rest:
            inflater = zlib.decompressobj(wbits=31)
            out += inflater.decompress(rest, MAX_OBJECT_BYTES + 1 - len(out))
            if len(out) > MAX_OBJECT_BYTES or not inflater.eof:
                return None
            rest = inflater.unused_data
        batch = json.loads(out)
    except (zlib.error, ValueError):
        return None
    return batch if isinstance(batch, dict) and isinstance(batch.get("events"), list) else None
