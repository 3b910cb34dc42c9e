"""Raw HTTP against a running LocalApi, for the adversarial, fault and load suites, and the
one LocalApi the integration suite shares (``LocalApis``, the fixtures in conftest.py).

``http.client`` rather than urllib: requests go out exactly as written (any method, repeated or
oversized headers, bodies that are not what their headers say), and error statuses come back as
responses, not exceptions.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from http.client import HTTPConnection
from typing import Any
from urllib.parse import urlsplit

from lucent.auth.credentials import CredentialKind, issue_credential
from lucent.auth.store import CredentialStore
from lucent_dev.local_api import LocalApi

INGEST = "/api/sdk/replay"


class LocalApis:
    """The integration suite's local APIs, one running at a time (moto's state is per process).

    Modules that need nothing special share one API (``shared``), started once: they keep apart
    by their own organizations, keys and session ids, and none asserts on what another leaves.
    A module that needs its own configuration (a request log it reads, a dev.json, function
    logs) takes ``exclusive``, which stops the shared API first; conftest.py runs the sharing
    modules first, so that the shared API starts once.
    """

    def __init__(self) -> None:
        self._shared: LocalApi | None = None

    def shared(self) -> LocalApi:
        if self._shared is None:
            self._shared = LocalApi(port=0).start()
        return self._shared

    @contextlib.contextmanager
    def exclusive(self, **options: Any) -> Iterator[LocalApi]:
        self.release()
        with LocalApi(port=0, **options) as api:
            yield api

    def release(self) -> None:
        if self._shared is not None:
            self._shared.stop()
            self._shared = None


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


def send(
    api: LocalApi,
    method: str,
    path: str,
    *,
    headers: list[tuple[str, str]] | None = None,
    body: bytes | None = None,
    timeout: float = 30,
) -> Reply:
    parts = urlsplit(api.url)
    connection = HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        for name, value in headers or []:
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return Reply(response.status, dict(response.getheaders()), response.read())
    finally:
        connection.close()


def batch(session_id: str = "s-1", sequence: int = 0, events: int = 3) -> dict[str, Any]:
    return {
        "session_id": session_id,
        "sequence": sequence,
        "events": [
            {"type": 3, "timestamp": 1_767_225_600_000 + i, "data": {"source": 1, "i": i}}
            for i in range(events)
        ],
    }


def ingest(
    api: LocalApi,
    key: str | None,
    document: dict[str, Any] | bytes,
    *,
    compress: bool = False,
    content_type: str = "application/json",
) -> Reply:
    raw = document if isinstance(document, bytes) else json.dumps(document).encode()
    headers = [("Content-Type", content_type)]
    if key is not None:
        headers.append(("X-Lucent-Api-Key", key))
    return send(api, "POST", INGEST, headers=headers, body=gzip.compress(raw) if compress else raw)


@functools.lru_cache(maxsize=8)
def _client(endpoint_url: str, service: str) -> Any:
    """One client per embedded AWS and service: creating a boto3 client is slow."""
    import boto3

    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    ).client(service, endpoint_url=endpoint_url)  # type: ignore[call-overload]


def client(api: LocalApi, service: str) -> Any:
    assert api.aws is not None
    return _client(api.aws.endpoint_url, service)


def public_key(api: LocalApi, org_id: str, **options: Any) -> str:
    issued = issue_credential(CredentialKind.PUBLIC, org_id, **options)
    CredentialStore(client(api, "dynamodb"), api.names["CredentialsTable"]).put(issued)
    return issued.secret


def stored_objects(api: LocalApi, prefix: str = "replays/") -> dict[str, bytes]:
    s3 = client(api, "s3")
    bucket = api.names["ReplayBucket"]
    out: dict[str, bytes] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            out[item["Key"]] = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
    return out


def object_etags(api: LocalApi, prefix: str = "replays/") -> dict[str, str]:
    """Key -> ETag of every object under ``prefix`` (a listing, without reading the objects)."""
    s3 = client(api, "s3")
    out: dict[str, str] = {}
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=api.names["ReplayBucket"], Prefix=prefix
    )
    for page in pages:
        for item in page.get("Contents", []):
            out[item["Key"]] = item["ETag"]
    return out


def read_object(api: LocalApi, key: str) -> bytes:
    s3 = client(api, "s3")
    data: bytes = s3.get_object(Bucket=api.names["ReplayBucket"], Key=key)["Body"].read()
    return data
