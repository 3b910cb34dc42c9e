"""The replay bucket: the only module that writes it (docs/storage.md).

Batches are written once (``If-None-Match: *``, S3 conditional writes): a later request for the
same key can never replace what was acknowledged. Reading the stored object back is only for a
write S3 refused, to tell a retry from a different batch (lucent.ingest.service).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from lucent.contract import UNAVAILABLE_RETRY_AFTER_SECONDS
from lucent.errors import StorageUnavailable

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

# S3's answer to If-None-Match when the key exists. Its other conditional answer,
# ConditionalRequestConflict (409: another write to the key was in flight), is a 503 like any
# failed write: the retry then finds the object and is compared with it.
_EXISTS = "PreconditionFailed"


class ReplayStore:
    def __init__(
        self,
        client: S3Client,
        bucket: str,
        *,
        retry_after_seconds: int = UNAVAILABLE_RETRY_AFTER_SECONDS,
    ) -> None:
        self._client = client
        self._bucket = bucket
        self._retry_after = retry_after_seconds

    @property
    def bucket(self) -> str:
        return self._bucket

    def put_new(self, key: str, gzip_body: bytes) -> bool:
        """Write one gzip object unless the key exists: True once S3 confirmed the write, False
        when an object is stored there already (untouched). Raises StorageUnavailable."""
        try:
            self._client.put_object(
                Bucket=self._bucket,
                Key=key,
                Body=gzip_body,
                ContentType="application/json",
                ContentEncoding="gzip",
                IfNoneMatch="*",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == _EXISTS:
                return False
            raise StorageUnavailable(self._retry_after) from exc
        except BotoCoreError as exc:
            raise StorageUnavailable(self._retry_after) from exc
        return True

    def get(self, key: str, max_bytes: int) -> bytes | None:
        """The stored bytes of ``key``, or None when it holds more than ``max_bytes`` (no batch
        we write is that large). Raises StorageUnavailable, also when the object is gone."""
        try:
            body = self._client.get_object(Bucket=self._bucket, Key=key)["Body"]
            try:
                data = body.read(max_bytes + 1)
            finally:
                body.close()
        except (ClientError, BotoCoreError) as exc:
            raise StorageUnavailable(self._retry_after) from exc
        return data if len(data) <= max_bytes else None
