"""The replay bucket: the only module that writes it (docs/storage.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from lucent.contract import UNAVAILABLE_RETRY_AFTER_SECONDS
from lucent.errors import StorageUnavailable

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client


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
